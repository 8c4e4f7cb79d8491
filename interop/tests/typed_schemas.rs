//! Issue 12, section 3: typed schemas for a user's own app, proven on the shop app
//! (`interop/shop`). Checks that its committed drf-spectacular document
//! (`interop/shop/openapi.json`) is current, runs `dcrf-schema` on it (component `Product`)
//! into a temp dir, then
//! `interop/js/typed/run.sh`: json-schema-to-typescript + `tsc --strict` on a typed
//! client file with `@ts-expect-error` lines, Ajv (2020-12 and draft-07) on the shop's
//! recorded frames and on the same frames with wrong-typed `data`, and
//! `@asyncapi/parser` on the AsyncAPI document. A bad input must exit 2 and name the
//! file, the pointer and the components that are there, writing nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dcrf_interop::repo_root;

const ACTIONS: &str =
    "retrieve,subscribe_instance,unsubscribe_instance,list,create,update,patch,delete";

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dcrf-typed-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn dcrf_schema(args: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "run",
            "-q",
            "-p",
            "dcrf-model",
            "--bin",
            "dcrf-schema",
            "--",
        ])
        .args(args)
        .output()
        .expect("run cargo")
}

fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        count_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn shop_product_schemas_type_the_client_and_judge_the_recorded_frames() {
    let out = temp_dir("shop");
    let out_str = out.to_str().expect("utf-8 temp path");
    let generated = dcrf_schema(&[
        "--openapi",
        "interop/shop/openapi.json",
        "--component",
        "Product",
        "--path",
        "/api/live/products/",
        "--lookup-field",
        "pk",
        "--actions",
        ACTIONS,
        "--unique",
        "name",
        "--out",
        out_str,
    ]);
    assert!(
        generated.status.success(),
        "dcrf-schema failed:\n{}",
        text(&generated)
    );
    for file in [
        "2020-12/retrieve-reply.json",
        "draft-07/update-event.json",
        "draft-07/product.json",
        "asyncapi.json",
    ] {
        assert!(
            out.join(file).is_file(),
            "{file} was not written:\n{}",
            text(&generated)
        );
    }
    let js = Command::new("bash")
        .arg(repo_root().join("interop/js/typed/run.sh"))
        .env("DCRF_TYPED_DIR", &out)
        .output()
        .expect("run interop/js/typed/run.sh");
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        js.status.success(),
        "interop/js/typed/run.sh failed:\n{}",
        text(&js)
    );
    println!("{}", String::from_utf8_lossy(&js.stdout));
}

#[test]
fn a_missing_component_or_a_malformed_document_exits_2_and_writes_nothing() {
    let out = temp_dir("bad");
    let out_str = out.to_str().expect("utf-8 temp path");
    let missing = dcrf_schema(&[
        "--openapi",
        "interop/shop/openapi.json",
        "--component",
        "Produkt",
        "--path",
        "/api/live/products/",
        "--out",
        out_str,
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    for needle in [
        "interop/shop/openapi.json",
        "/components/schemas/Produkt",
        "CategoryEnum, PatchedProduct, Product",
    ] {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
    assert_eq!(
        count_files(&out),
        0,
        "files were written for a missing component"
    );

    // The shop document used as a plain JSON Schema has no properties at its root.
    let not_a_model = dcrf_schema(&[
        "--json-schema",
        "interop/shop/openapi.json",
        "--path",
        "/x/",
        "--out",
        out_str,
    ]);
    assert_eq!(not_a_model.status.code(), Some(2), "{}", text(&not_a_model));
    let stderr = String::from_utf8_lossy(&not_a_model.stderr);
    assert!(stderr.contains("has no properties"), "{stderr}");
    assert_eq!(
        count_files(&out),
        0,
        "files were written for a schema with no properties"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// The pipeline starts with drf-spectacular: the committed `interop/shop/openapi.json` the
/// tests above read must be what `manage.py spectacular` writes for the shop app today
/// (`interop/shop/setup.sh`, then `interop/shop/schema.sh --check`).
#[test]
fn the_shop_openapi_document_is_what_drf_spectacular_writes() {
    let root = repo_root();
    for args in [
        vec!["interop/shop/setup.sh"],
        vec!["interop/shop/schema.sh", "--check"],
    ] {
        let output = Command::new("bash")
            .current_dir(&root)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
        assert!(
            output.status.success(),
            "{} failed (regenerate with `bash interop/shop/schema.sh`):\n{}",
            args.join(" "),
            text(&output)
        );
    }
}

/// `--json-schema` reads the same serializer schema written as a plain JSON Schema (the
/// component with its enum under `$defs`) and writes the same typed schemas as `--openapi`.
#[test]
fn a_json_schema_input_gives_the_same_typed_schemas_as_the_openapi_component() {
    let root = repo_root();
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("interop/shop/openapi.json")).expect("openapi.json"),
    )
    .expect("openapi.json is JSON");
    let mut product = doc["components"]["schemas"]["Product"].clone();
    product["title"] = "Product".into();
    product["$defs"] =
        serde_json::json!({"CategoryEnum": doc["components"]["schemas"]["CategoryEnum"]});
    let schema_text = serde_json::to_string(&product)
        .expect("serialize")
        .replace("#/components/schemas/", "#/$defs/");
    let base = temp_dir("json-schema");
    std::fs::create_dir_all(&base).expect("temp dir");
    let schema_file = base.join("product.schema.json");
    std::fs::write(&schema_file, schema_text).expect("write the schema");
    let (from_schema, from_openapi) = (base.join("a"), base.join("b"));
    for (out, input) in [
        (
            &from_schema,
            vec!["--json-schema", schema_file.to_str().expect("utf-8")],
        ),
        (
            &from_openapi,
            vec![
                "--openapi",
                "interop/shop/openapi.json",
                "--component",
                "Product",
            ],
        ),
    ] {
        let mut args = input.clone();
        args.extend([
            "--path",
            "/api/live/products/",
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        let output = dcrf_schema(&args);
        assert!(
            output.status.success(),
            "dcrf-schema {args:?}:\n{}",
            text(&output)
        );
    }
    for file in [
        "draft-07/product.json",
        "2020-12/update-event.json",
        "2020-12/create-request.json",
    ] {
        let read = |dir: &Path| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).expect(file)).expect(file)
        };
        assert_eq!(
            read(&from_schema),
            read(&from_openapi),
            "{file} differs between the two inputs"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
