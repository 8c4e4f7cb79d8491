// The client's tests against the in-process reference server, included by
// `tests/reference_server.rs` (profile dcrf-1.3.0) and `tests/reference_server_strict.rs`
// (profile strict), each of which defines `PROFILE`: a client author gets the same
// behaviour from both profiles for everything the client does.

/// A server configuration of the including test's profile.
fn config() -> Config {
    Config {
        profile: PROFILE,
        ..Config::default()
    }
}

use std::time::Duration;

use common::{Proxy, User, admin, next, rename, start_with, within};
use dcrf_client::{Client, Error, Event, ReconnectPolicy};
use dcrf_reference_server::{Config, Fault, Profile};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
struct NewUser<'a> {
    username: &'a str,
    email: &'a str,
    password: &'a str,
}

async fn connect(url: String) -> Client {
    within(
        "connect",
        Client::builder(url)
            .request_timeout(common::TIMEOUT)
            .connect(),
    )
    .await
    .expect("connect")
}

#[tokio::test]
async fn model_actions_are_typed() {
    let server = start_with(config()).await;
    let client = connect(format!("ws://{}/ws/full/", server.local_addr())).await;

    let user: User = client.retrieve(1).await.expect("retrieve");
    assert_eq!(
        user,
        User {
            id: 1,
            username: "test 1".into(),
            email: "1@example.com".into()
        }
    );

    let users: Vec<User> = client.list().await.expect("list");
    assert_eq!(users.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2, 3]);

    let created: User = client
        .create(&NewUser {
            username: "new",
            email: "new@example.com",
            password: "secret",
        })
        .await
        .expect("create");
    assert_eq!(created.username, "new");
    assert!(created.id > 3);

    let patched: User = client
        .patch(created.id, &json!({"email": "patched@example.com"}))
        .await
        .expect("patch");
    assert_eq!(patched.email, "patched@example.com");
    assert_eq!(patched.username, "new");

    let updated: User = client
        .update(
            created.id,
            &NewUser {
                username: "replaced",
                email: "r@example.com",
                password: "secret",
            },
        )
        .await
        .expect("update");
    assert_eq!(
        (updated.username.as_str(), updated.email.as_str()),
        ("replaced", "r@example.com")
    );
    assert_eq!(
        client.retrieve::<User>(created.id).await.expect("retrieve"),
        updated
    );

    client.delete(created.id).await.expect("delete");
    match client.retrieve::<User>(created.id).await {
        Err(Error::NotFound { errors }) => assert_eq!(errors, [json!("Not found")]),
        other => panic!("expected NotFound, got {other:?}"),
    }
    match client.delete(created.id).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_typed() {
    let server = start_with(config()).await;
    let client = connect(format!("ws://{}/ws/full/", server.local_addr())).await;

    match client
        .create::<User>(&json!({"email": "x@example.com"}))
        .await
    {
        Err(Error::Validation(errors)) => {
            assert_eq!(errors.field("username"), ["This field is required."]);
            assert!(errors.messages.is_empty());
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    match client.create::<User>(&json!({"username": "test 1"})).await {
        Err(Error::Validation(errors)) => {
            let messages = errors.field("username");
            assert!(
                messages.contains(&"A user with that username already exists.".to_owned()),
                "{messages:?}"
            );
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    // A custom action the consumer does not offer: 405 (SPEC 7.1).
    match client.call("send_welcome_email", json!({"pk": 1})).await {
        Err(Error::Server {
            status: 405,
            errors,
        }) => {
            assert_eq!(
                errors,
                [json!("Method \"send_welcome_email\" not allowed.")]
            );
        }
        other => panic!("expected 405, got {other:?}"),
    }
    // call() with a known action returns the raw reply.
    let reply = client
        .call("retrieve", json!({"pk": 2}))
        .await
        .expect("call");
    assert_eq!(reply.response_status, 200);
    assert_eq!(reply.data["username"], "test 2");
    // Data that does not fit the type.
    match client.retrieve::<Vec<String>>(1).await {
        Err(Error::Decode(_)) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
    // Arguments that are not an object.
    assert!(matches!(
        client.call("retrieve", 5).await,
        Err(Error::Encode(_))
    ));
    // The connection is still usable after all of that.
    assert_eq!(client.retrieve::<User>(3).await.expect("retrieve").id, 3);
    server.shutdown().await;
}

#[tokio::test]
async fn a_malformed_reply_is_a_protocol_error() {
    let mut config = config();
    config.faults.enable(Fault::MissingErrorsKey);
    let server = start_with(config).await;
    let client = connect(server.ws_url()).await;
    match client.retrieve::<User>(1).await {
        Err(Error::Protocol { reason }) => assert!(reason.contains("errors"), "{reason}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn subscription_yields_updates_and_deletes() {
    let server = start_with(config()).await;
    let admin = admin(&server);
    let client = connect(server.ws_url()).await;

    match client.subscribe::<User>(99).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    let mut changes = client.subscribe::<User>(1).await.expect("subscribe");
    assert_eq!(server.subscription_count(), 1);

    rename(&admin, 1, "edited user name").await;
    match next(&mut changes).await {
        Event::Updated(user) => assert_eq!(user.username, "edited user name"),
        other => panic!("expected Updated, got {other:?}"),
    }
    within("admin delete", admin.delete(1))
        .await
        .expect("admin delete answers 204");
    assert_eq!(next(&mut changes).await, Event::Deleted { pk: json!(1) });
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    let server = start_with(config()).await;
    let admin = admin(&server);
    let client = connect(server.ws_url()).await;

    let first = client.subscribe::<User>(1).await.expect("subscribe");
    let mut second = client.subscribe::<User>(1).await.expect("subscribe");
    let other = client.subscribe::<User>(2).await.expect("subscribe");
    // Two local subscriptions to pk 1 share one server subscription.
    assert_eq!(server.subscription_count(), 2);

    // An unsubscribe is sent before any later request, and the server answers in order:
    // once the retrieve's reply is here, the server has handled the unsubscribe.
    drop(first);
    client.retrieve::<User>(1).await.expect("retrieve");
    assert_eq!(
        server.subscription_count(),
        2,
        "pk 1 still has a subscriber"
    );
    rename(&admin, 1, "still watched").await;
    match next(&mut second).await {
        Event::Updated(user) => assert_eq!(user.username, "still watched"),
        event => panic!("expected Updated, got {event:?}"),
    }

    drop(second);
    client.retrieve::<User>(1).await.expect("retrieve");
    assert_eq!(server.subscription_count(), 1);
    drop(other);
    client.retrieve::<User>(1).await.expect("retrieve");
    assert_eq!(server.subscription_count(), 0);

    // Subscribing again works like the first time, with a fresh request_id.
    let mut again = client.subscribe::<User>(1).await.expect("subscribe");
    assert_eq!(server.subscription_count(), 1);
    rename(&admin, 1, "again").await;
    assert!(matches!(next(&mut again).await, Event::Updated(user) if user.username == "again"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_consumer_does_not_block_the_others() {
    let server = start_with(config()).await;
    let admin = admin(&server);
    let client = within(
        "connect",
        Client::builder(server.ws_url())
            .subscription_buffer(4)
            .connect(),
    )
    .await
    .expect("connect");
    let mut slow = client.subscribe::<User>(1).await.expect("subscribe");
    let mut fast = client.subscribe::<User>(2).await.expect("subscribe");

    for n in 0..20 {
        rename(&admin, 1, &format!("v{n}")).await;
    }
    rename(&admin, 2, "fast").await;
    // The fast consumer gets its event although nobody reads the slow one.
    assert!(matches!(next(&mut fast).await, Event::Updated(user) if user.username == "fast"));

    // Events of one socket arrive in order: all 20 of pk 1 came before pk 2's. The slow
    // inbox kept the newest 4 and says that older ones were dropped.
    assert_eq!(next(&mut slow).await, Event::Gap);
    for n in 16..20 {
        match next(&mut slow).await {
            Event::Updated(user) => assert_eq!(user.username, format!("v{n}")),
            event => panic!("expected Updated, got {event:?}"),
        }
    }
    // Nothing more is buffered: the next event is the next change.
    rename(&admin, 1, "later").await;
    assert!(matches!(next(&mut slow).await, Event::Updated(user) if user.username == "later"));
    server.shutdown().await;
}

#[tokio::test]
async fn reconnects_resubscribes_and_reports_a_gap() {
    let server = start_with(config()).await;
    let admin = admin(&server);
    let proxy = Proxy::start(server.local_addr()).await;
    let policy = ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(200));
    let client = within(
        "connect",
        Client::builder(format!("ws://{}/ws/", proxy.addr))
            .reconnect(policy)
            .connect(),
    )
    .await
    .expect("connect");
    let mut changes = client.subscribe::<User>(1).await.expect("subscribe");
    rename(&admin, 1, "before").await;
    assert!(matches!(next(&mut changes).await, Event::Updated(user) if user.username == "before"));

    proxy.cut();
    // The Gap comes once the subscription is renewed on the new connection.
    assert_eq!(next(&mut changes).await, Event::Gap);
    rename(&admin, 1, "after").await;
    assert!(matches!(next(&mut changes).await, Event::Updated(user) if user.username == "after"));
    // Calls work on the new connection.
    assert_eq!(
        client.retrieve::<User>(1).await.expect("retrieve").username,
        "after"
    );

    // Twice, to show the renewal does not depend on the first connection's ids.
    proxy.cut();
    assert_eq!(next(&mut changes).await, Event::Gap);
    rename(&admin, 1, "after again").await;
    assert!(
        matches!(next(&mut changes).await, Event::Updated(user) if user.username == "after again")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn reconnects_to_a_restarted_server() {
    let server = start_with(config()).await;
    let addr = server.local_addr();
    let client = within(
        "connect",
        Client::builder(server.ws_url())
            .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(10)))
            .connect(),
    )
    .await
    .expect("connect");
    let mut changes = client.subscribe::<User>(1).await.expect("subscribe");
    // A graceful shutdown sends close 1001 (SPEC 2.4.1); the same port is served again.
    server.shutdown().await;
    let listener = within("rebind", tokio::net::TcpListener::bind(addr))
        .await
        .expect("rebind the same port");
    let server = within(
        "serve",
        dcrf_reference_server::serve(listener, config()),
    )
    .await
    .expect("serve");
    assert_eq!(next(&mut changes).await, Event::Gap);
    assert_eq!(server.subscription_count(), 1);
    rename(&admin(&server), 1, "new server").await;
    assert!(
        matches!(next(&mut changes).await, Event::Updated(user) if user.username == "new server")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_policy_a_drop_closes_the_client() {
    let server = start_with(config()).await;
    let client = connect(server.ws_url()).await;
    let mut changes = client.subscribe::<User>(1).await.expect("subscribe");
    server.shutdown().await;
    assert_eq!(within("stream end", changes.next()).await, None);
    assert!(matches!(
        client.retrieve::<User>(1).await,
        Err(Error::Closed)
    ));
}

#[tokio::test]
async fn a_renewal_of_a_deleted_instance_ends_the_stream() {
    let server = start_with(config()).await;
    let admin = admin(&server);
    let proxy = Proxy::start(server.local_addr()).await;
    let client = within(
        "connect",
        Client::builder(format!("ws://{}/ws/", proxy.addr))
            .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(10)))
            .connect(),
    )
    .await
    .expect("connect");
    let mut changes = client.subscribe::<User>(3).await.expect("subscribe");
    // The instance is deleted while the client cannot reconnect: its delete event is lost
    // with the connection, and the renewal finds nothing.
    proxy.refuse(true);
    proxy.cut();
    within("admin delete", admin.delete(3))
        .await
        .expect("admin delete answers 204");
    proxy.refuse(false);
    assert_eq!(next(&mut changes).await, Event::Gap);
    assert_eq!(next(&mut changes).await, Event::Deleted { pk: json!(3) });
    assert_eq!(within("stream end", changes.next()).await, None);
    // The client itself is connected again.
    assert_eq!(client.retrieve::<User>(1).await.expect("retrieve").id, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn multiplexed_envelope() {
    let server = start_with(config()).await;
    let admin = admin(&server);
    let client = within(
        "connect",
        Client::builder(format!("ws://{}/ws/multiplexed/", server.local_addr()))
            .stream("users")
            .connect(),
    )
    .await
    .expect("connect");
    let user: User = client.retrieve(2).await.expect("retrieve");
    assert_eq!(user.username, "test 2");
    assert!(matches!(
        client.retrieve::<User>(42).await,
        Err(Error::NotFound { .. })
    ));
    let mut changes = client.subscribe::<User>(2).await.expect("subscribe");
    rename(&admin, 2, "through the envelope").await;
    assert!(matches!(
        next(&mut changes).await,
        Event::Updated(user) if user.username == "through the envelope"
    ));
    let patched: User = client
        .patch(2, &json!({"email": "m@example.com"}))
        .await
        .expect("patch");
    assert_eq!(patched.email, "m@example.com");
    server.shutdown().await;
}
