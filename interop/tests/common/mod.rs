//! What several interop tests share: the shop app's committed harness config, pointed at a
//! server.

use dcrf_conformance::{MutationConfig, Target};
use dcrf_interop::repo_root;

/// The committed harness config of the shop app.
pub(crate) const SHOP_CONFIG: &str = "interop/shop/conformance.toml";

/// The committed config of the shop app, unchanged but for what a run against another
/// deployment changes: the URLs (`--url`, `--full-url`, `--node`), the hook's base URL and,
/// for the stand-in, the hook's routes (`admin`: the reference server's `/admin/instances`
/// instead of the app's `/hook/products/`), and the token for `${SHOP_TOKEN}`.
pub(crate) fn shop_target(
    token: &str,
    http_base: &str,
    observer: &str,
    crud: &str,
    node: &str,
    admin: bool,
) -> Target {
    let text = std::fs::read_to_string(repo_root().join(SHOP_CONFIG)).expect("the config");
    let mut target = Target::from_toml(&text, |name| {
        (name == "SHOP_TOKEN").then(|| token.to_owned())
    })
    .unwrap_or_else(|why| panic!("{SHOP_CONFIG}: {why}"));
    target.url = observer.to_owned();
    target.full_url = Some(crud.to_owned());
    target.nodes = vec![node.to_owned()];
    match &mut target.mutation {
        MutationConfig::Http(http) => {
            http.base_url = Some(http_base.to_owned());
            if admin {
                http.create = "POST /admin/instances".into();
                http.update = "PATCH /admin/instances/{pk}".into();
                http.delete = "DELETE /admin/instances/{pk}".into();
                http.pk_pointer = Some("/id".into());
            }
        }
        other => panic!("{SHOP_CONFIG}: expected an http hook, got {other:?}"),
    }
    target
        .validate()
        .unwrap_or_else(|e| panic!("{SHOP_CONFIG}: {e}"));
    target
}
