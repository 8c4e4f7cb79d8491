//! The client against the real DCRF 1.3.0 server of `interop/dcrf` (Daphne on loopback,
//! started here; the virtualenv is created on first use, see interop/dcrf/setup.sh).
//!
//! Besides the typed calls, this shows on the real server what the client's design buys:
//! two subscriptions to one instance, one of them dropped after an event was delivered, and
//! the other keeps receiving events (DCRF would stop both if they were two server
//! subscriptions, SPEC 10.5); a cut connection renews the subscription.
//!
//! If the server cannot be started, the test fails.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Proxy, User, next, rename, within};
use dcrf_client::{Client, Error, Event, ReconnectPolicy};
use dcrf_interop::DcrfServer;
use dcrf_reference_server::AdminClient;
use serde_json::json;

#[test]
fn the_client_against_dcrf() {
    let server = DcrfServer::start(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let ws_url = server.ws_url().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), scenario(&ws_url)).await
    });
    if outcome.is_err() {
        panic!(
            "the scenario did not end in time; server log:\n{}",
            server.log_text()
        );
    }
}

async fn scenario(ws_url: &str) {
    let base = ws_url.trim_end_matches('/');
    let authority = base
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let admin = AdminClient::new(&format!("http://{authority}")).expect("admin url");
    let connect = |url: String| async move {
        within(
            "connect",
            Client::builder(url)
                .request_timeout(common::TIMEOUT)
                .connect(),
        )
        .await
        .expect("connect")
    };

    // Typed model actions on the full consumer.
    let full = connect(format!("{base}/full/")).await;
    let user: User = full.retrieve(1).await.expect("retrieve");
    assert_eq!(user.username, "test 1");
    let users: Vec<User> = full.list().await.expect("list");
    assert!(users.iter().any(|u| u.id == 2), "{users:?}");
    let created: User = full
        .create(&json!({"username": "client", "email": "c@example.com", "password": "pw"}))
        .await
        .expect("create");
    let patched: User = full
        .patch(created.id, &json!({"email": "p@example.com"}))
        .await
        .expect("patch");
    assert_eq!(patched.email, "p@example.com");
    let updated: User = full
        .update(
            created.id,
            &json!({"username": "client2", "email": "u@example.com", "password": "pw"}),
        )
        .await
        .expect("update");
    assert_eq!(updated.username, "client2");
    full.delete(created.id).await.expect("delete");
    assert!(matches!(
        full.retrieve::<User>(created.id).await,
        Err(Error::NotFound { .. })
    ));
    match full
        .create::<User>(&json!({"email": "x@example.com"}))
        .await
    {
        Err(Error::Validation(errors)) => {
            assert_eq!(errors.field("username"), ["This field is required."]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }

    // Two subscriptions to one instance; one is dropped after an event was delivered.
    let client = connect(ws_url.to_owned()).await;
    let mut first = client.subscribe::<User>(1).await.expect("subscribe");
    let second = client.subscribe::<User>(1).await.expect("subscribe");
    rename(&admin, 1, "seen by both").await;
    assert!(
        matches!(next(&mut first).await, Event::Updated(user) if user.username == "seen by both")
    );
    drop(second);
    client.retrieve::<User>(1).await.expect("retrieve");
    rename(&admin, 1, "still seen").await;
    assert!(
        matches!(next(&mut first).await, Event::Updated(user) if user.username == "still seen")
    );

    // The multiplexed envelope (stream "users").
    let multiplexed = within(
        "connect",
        Client::builder(format!("{base}/multiplexed/"))
            .stream("users")
            .connect(),
    )
    .await
    .expect("connect");
    let mut changes = multiplexed.subscribe::<User>(2).await.expect("subscribe");
    rename(&admin, 2, "multiplexed").await;
    assert!(
        matches!(next(&mut changes).await, Event::Updated(user) if user.username == "multiplexed")
    );

    // Reconnect through a proxy that cuts the connection.
    let upstream = authority.parse().expect("socket address");
    let proxy = Proxy::start(upstream).await;
    let reconnecting = within(
        "connect",
        Client::builder(format!("ws://{}/ws/", proxy.addr))
            .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(20)))
            .connect(),
    )
    .await
    .expect("connect");
    let mut renewed = reconnecting.subscribe::<User>(3).await.expect("subscribe");
    proxy.cut();
    assert_eq!(next(&mut renewed).await, Event::Gap);
    rename(&admin, 3, "after the cut").await;
    assert!(
        matches!(next(&mut renewed).await, Event::Updated(user) if user.username == "after the cut")
    );

    // Delete: the subscription says so.
    within("admin delete", admin.delete(3))
        .await
        .expect("admin delete answers 2xx");
    assert_eq!(next(&mut renewed).await, Event::Deleted { pk: json!(3) });
}
