//! Several processes as one server (`Config::redis`, SPEC §5.10): two nodes in this process
//! on one redis-server of the test's own. Changes through either node reach subscribers on
//! both, exactly once; data, pks and unique usernames are shared; an unreachable Redis stops
//! the start; a Redis restart is survived.

mod common;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{Admin, Client, Transcript, start, within};
use dcrf_reference_server::{Config, Error, RedisConfig, ServerHandle, UserRecord, serve};
use redis_server::RedisServer;
use serde_json::json;

/// A key prefix of its own for each test, so tests can share nothing by accident.
fn prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "test{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(redis: &RedisServer, prefix: &str) -> Config {
    Config {
        redis: Some(RedisConfig {
            url: redis.url(),
            prefix: prefix.to_owned(),
        }),
        ..Config::strict()
    }
}

/// Two nodes of one app on `redis`.
async fn two_nodes(redis: &RedisServer) -> (ServerHandle, ServerHandle) {
    let prefix = prefix();
    let a = start(config(redis, &prefix)).await;
    let b = start(config(redis, &prefix)).await;
    (a, b)
}

async fn subscribe(client: &mut Client, pk: i64, request_id: i64) {
    client
        .send_json(json!({"action": "subscribe_instance", "request_id": request_id, "pk": pk}))
        .await;
    let reply = client.recv().await;
    assert_eq!(reply["response_status"], 201, "{reply}");
}

/// Waits (up to the test timeout) until `condition` holds, checking every 20 ms.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_either_node_reaches_subscribers_on_both_exactly_once() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(&redis).await;
    let t = Transcript::default();
    let mut on_a = Client::connect(&a, "/ws/", "A", &t).await;
    let mut on_b = Client::connect(&b, "/ws/", "B", &t).await;
    subscribe(&mut on_a, 1, 10).await;
    subscribe(&mut on_b, 1, 20).await;

    // Through node A's admin API.
    let response = Admin::new(&a, &t).update(1, Some("from-a"), None).await;
    assert_eq!(response.status, 200, "{}", response.body);
    for (client, request_id) in [(&mut on_a, 10), (&mut on_b, 20)] {
        let event = client.recv().await;
        assert_eq!(event["action"], "update", "{event}");
        assert_eq!(event["request_id"], request_id, "{event}");
        assert_eq!(event["data"]["username"], "from-a", "{event}");
    }
    on_a.silence().await;
    on_b.silence().await;

    // Through node B's CRUD endpoint: the reply on B's socket, one event on each node.
    let mut crud = Client::connect(&b, "/ws/full/", "C", &t).await;
    crud.send_json(
        json!({"action": "patch", "request_id": 1, "pk": 1, "data": {"email": "b@example.com"}}),
    )
    .await;
    let reply = crud.recv().await;
    assert_eq!(reply["response_status"], 200, "{reply}");
    assert_eq!(
        reply["data"]["username"], "from-a",
        "B saw A's change: {reply}"
    );
    for client in [&mut on_a, &mut on_b] {
        let event = client.recv().await;
        assert_eq!(event["data"]["email"], "b@example.com", "{event}");
    }
    // Delete through A: the delete event on both, and nothing after.
    assert_eq!(Admin::new(&a, &t).delete(1).await.status, 204);
    for client in [&mut on_a, &mut on_b] {
        let event = client.recv().await;
        assert_eq!(event["action"], "delete", "{event}");
        assert_eq!(event["data"], json!({"pk": 1}), "{event}");
    }
    on_a.silence().await;
    on_b.silence().await;
    crud.silence().await;
    // Closed first: shutdown waits for the close handshake of open sockets.
    drop((on_a, on_b, crud));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_pks_and_unique_usernames_are_shared() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(&redis).await;
    let t = Transcript::default();
    let mut on_a = Client::connect(&a, "/ws/full/", "A", &t).await;
    let mut on_b = Client::connect(&b, "/ws/full/", "B", &t).await;

    // A create on B is visible to the very next retrieve on A.
    on_b.send_json(json!({"action": "create", "request_id": 1,
        "data": {"username": "made-on-b", "email": "b@example.com", "password": "pw"}}))
        .await;
    let created = on_b.recv().await;
    assert_eq!(created["response_status"], 201, "{created}");
    let pk = created["data"]["id"].as_i64().expect("pk");
    assert_eq!(pk, 4, "the fixture holds 1..3");
    on_a.send_json(json!({"action": "retrieve", "request_id": 2, "pk": pk}))
        .await;
    let retrieved = on_a.recv().await;
    assert_eq!(retrieved["response_status"], 200, "{retrieved}");
    assert_eq!(retrieved["data"], created["data"]);

    // The username is taken on every node.
    on_a.send_json(json!({"action": "create", "request_id": 3,
        "data": {"username": "made-on-b", "email": "", "password": "pw"}}))
        .await;
    let refused = on_a.recv().await;
    assert_eq!(refused["response_status"], 400, "{refused}");
    assert_eq!(
        refused["errors"][0]["username"][0],
        "A user with that username already exists."
    );

    // Concurrent creates through both admin APIs: every pk distinct, none reused.
    let admin_a = Arc::new(Admin::new(&a, &t));
    let admin_b = Arc::new(Admin::new(&b, &t));
    let mut tasks = Vec::new();
    for n in 0..20 {
        let admin = Arc::clone(if n % 2 == 0 { &admin_a } else { &admin_b });
        tasks.push(tokio::spawn(async move {
            admin.create(&format!("user-{n}"), "x@example.com").await["id"]
                .as_i64()
                .expect("pk")
        }));
    }
    let mut pks = Vec::new();
    for task in tasks {
        pks.push(within("create", task).await.expect("join"));
    }
    pks.sort_unstable();
    pks.dedup();
    assert_eq!(pks.len(), 20, "distinct pks: {pks:?}");
    assert!(pks.iter().all(|p| *p > pk), "never reused: {pks:?}");

    // The same new username on both nodes at once: exactly one wins.
    let mut racers = Vec::new();
    for (n, admin) in [&admin_a, &admin_b, &admin_a, &admin_b]
        .into_iter()
        .enumerate()
    {
        let admin = Arc::clone(admin);
        racers.push(tokio::spawn(async move {
            let body = json!({"username": "contested", "email": format!("{n}@example.com")});
            admin
                .raw("POST", "/admin/users", Some(&body.to_string()))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(within("race", racer).await.expect("join"));
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 400, 400, 400],
        "one create of a username wins"
    );

    // Both nodes list the same users.
    on_a.send_json(json!({"action": "list", "request_id": 5}))
        .await;
    on_b.send_json(json!({"action": "list", "request_id": 5}))
        .await;
    let (list_a, list_b) = (on_a.recv().await, on_b.recv().await);
    assert_eq!(list_a["data"], list_b["data"]);
    assert_eq!(
        list_a["data"].as_array().map(Vec::len),
        Some(3 + 1 + 20 + 1)
    );
    // Closed first: shutdown waits for the close handshake of open sockets.
    drop((on_a, on_b));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_seeds_only_an_empty_store_and_prefixes_keep_servers_apart() {
    let redis = RedisServer::start();
    let prefix = prefix();
    let first = start(Config {
        fixture: vec![UserRecord::new(7, "seven", "7@example.com")],
        ..config(&redis, &prefix)
    })
    .await;
    let second = start(Config {
        fixture: vec![UserRecord::new(9, "nine", "9@example.com")],
        ..config(&redis, &prefix)
    })
    .await;
    let other = start(config(&redis, &self::prefix())).await;
    let t = Transcript::default();
    let get = |handle: &ServerHandle, pk: i64| {
        let admin = Admin::new(handle, &t);
        async move {
            admin
                .raw("GET", &format!("/admin/users/{pk}"), None)
                .await
                .status
        }
    };
    assert_eq!(
        get(&second, 7).await,
        200,
        "the first node seeded the store"
    );
    assert_eq!(
        get(&second, 9).await,
        404,
        "the second fixture was not used"
    );
    assert_eq!(get(&other, 7).await, 404, "another prefix is another store");
    assert_eq!(get(&other, 1).await, 200, "seeded with the default fixture");
    // The next pk follows the fixture's largest.
    let created = Admin::new(&second, &t).create("eight", "").await;
    assert_eq!(created["id"], 8);
    for server in [first, second, other] {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn an_unreachable_redis_or_a_data_file_refuses_to_start() {
    let port = redis_server::free_port();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = Config {
        redis: Some(RedisConfig::new(format!("redis://127.0.0.1:{port}"))),
        ..Config::strict()
    };
    let error = within("serve", serve(listener, config.clone()))
        .await
        .expect_err("no redis there");
    assert!(matches!(error, Error::RedisConnect { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("cannot connect to redis at redis://127.0.0.1:{port}")
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let error = within(
        "serve",
        serve(
            listener,
            Config {
                data_file: Some("users.json".into()),
                ..config
            },
        ),
    )
    .await
    .expect_err("data file and redis");
    assert!(matches!(error, Error::DataFileWithRedis), "{error:?}");
}

#[test]
fn the_binary_exits_2_with_one_line_when_redis_is_unreachable() {
    let port = redis_server::free_port();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dcrf-reference-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--redis",
            &format!("redis://:secret@127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "off")
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "never listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot connect to redis at redis://***@127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
    assert_eq!(
        stderr.matches("refused").count(),
        1,
        "the cause once: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_binary_refuses_a_data_file_with_redis() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dcrf-reference-server"))
        .args(["--redis", "redis://127.0.0.1:1", "--data", "users.json"])
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .starts_with("error: the argument '--redis <URL>' cannot be used with '--data <FILE>'"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_the_channel_is_down_arrive_as_one_event_with_the_latest_state() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(&redis).await;
    let t = Transcript::default();
    let mut on_a = Client::connect(&a, "/ws/", "A", &t).await;
    let mut on_b = Client::connect(&b, "/ws/", "B", &t).await;
    subscribe(&mut on_a, 2, 1).await;
    subscribe(&mut on_b, 2, 2).await;
    // Drop the channel connections of both nodes; their command connections stay.
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed, ":2", "one channel connection per node");
    eventually("both nodes notice", || {
        [&a, &b]
            .iter()
            .all(|node| node.redis_state().is_some_and(|state| !state.connected))
    })
    .await;
    // Two changes, most likely before the nodes resubscribe (100 ms later): their messages
    // reach nobody, and the reload on reconnection sends the net effect.
    let admin = Admin::new(&b, &t);
    assert_eq!(admin.update(2, Some("first"), None).await.status, 200);
    assert_eq!(admin.update(2, Some("second"), None).await.status, 200);
    eventually("both nodes reconnect", || {
        [&a, &b].iter().all(|node| {
            node.redis_state()
                .is_some_and(|state| state.connected && state.reconnects >= 1)
        })
    })
    .await;
    for client in [&mut on_a, &mut on_b] {
        let mut last = client.recv().await;
        // Were a node back before a change, it got that change's own event too.
        if last["data"]["username"] == "first" {
            last = client.recv().await;
        }
        assert_eq!(last["action"], "update", "{last}");
        assert_eq!(last["data"]["username"], "second", "{last}");
    }
    on_a.silence().await;
    on_b.silence().await;
    drop((on_a, on_b));
    a.shutdown().await;
    b.shutdown().await;
}

/// Log lines of this test binary, for the restart test.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter("dcrf_reference_server=info")
            .with_writer(move || LogWriter(Arc::clone(&sink)))
            .try_init();
        logs
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_count(needle: &str) -> usize {
    String::from_utf8_lossy(&logs().lock().unwrap())
        .matches(needle)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_logged_survived_and_caught_up() {
    logs();
    let mut redis = RedisServer::start();
    let (a, b) = two_nodes(&redis).await;
    let t = Transcript::default();
    let admin_a = Admin::new(&a, &t);
    let admin_b = Admin::new(&b, &t);
    let created = admin_a.create("before-restart", "r@example.com").await;
    let pk = created["id"].as_i64().expect("pk");
    let mut on_a = Client::connect(&a, "/ws/", "A", &t).await;
    let mut on_b = Client::connect(&b, "/ws/", "B", &t).await;
    subscribe(&mut on_a, pk, 1).await;
    subscribe(&mut on_b, pk, 2).await;

    redis.kill();
    eventually("both nodes notice that redis is gone", || {
        [&a, &b]
            .iter()
            .all(|node| node.redis_state().is_some_and(|state| !state.connected))
    })
    .await;
    assert!(log_count("lost the change channel of the shared store") >= 2);

    // The nodes keep serving their sockets: reads from the local copy, changes fail fast.
    on_b.send_json(json!({"action": "retrieve", "request_id": 3, "pk": pk}))
        .await;
    let reply = on_b.recv().await;
    assert_eq!(reply["response_status"], 200, "{reply}");
    assert_eq!(reply["data"]["username"], "before-restart");
    let failed = admin_a.update(pk, Some("while-down"), None).await;
    assert_eq!(failed.status, 500, "{}", failed.body);
    let mut crud = Client::connect(&b, "/ws/full/", "C", &t).await;
    crud.send_json(json!({"action": "patch", "request_id": 4, "pk": pk, "data": {"email": "down@example.com"}}))
        .await;
    let reply = crud.recv().await;
    assert_eq!(reply["response_status"], 500, "{reply}");
    on_a.silence().await;
    on_b.silence().await;

    // A new, empty redis-server on the same port: the nodes reconnect, the first one seeds
    // it from its copy, and changes cross the nodes again.
    redis.restart();
    eventually("both nodes reconnect", || {
        [&a, &b].iter().all(|node| {
            node.redis_state()
                .is_some_and(|state| state.connected && state.reconnects >= 1)
        })
    })
    .await;
    assert!(log_count("reconnected to the shared store and caught up") >= 2);
    assert_eq!(
        log_count("the shared store came back empty"),
        1,
        "seeded once"
    );

    let response = admin_b.update(pk, Some("after-restart"), None).await;
    assert_eq!(response.status, 200, "{}", response.body);
    for (client, request_id) in [(&mut on_a, 1), (&mut on_b, 2)] {
        let event = client.recv().await;
        assert_eq!(event["request_id"], request_id, "{event}");
        assert_eq!(event["data"]["username"], "after-restart", "{event}");
    }
    on_a.silence().await;
    on_b.silence().await;
    // Data made before the restart survived it (reseeded), and pks go on.
    let next = admin_a.create("after-restart-2", "").await;
    assert!(next["id"].as_i64().expect("pk") > pk, "{next}");
    // Shown with --nocapture: what the nodes logged through the restart.
    eprintln!("{}", String::from_utf8_lossy(&logs().lock().unwrap()));
    // Closed first: shutdown waits for the close handshake of open sockets.
    drop((on_a, on_b, crud));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_are_not_supported_with_redis() {
    let redis = RedisServer::start();
    let node = start(config(&redis, &prefix())).await;
    let t = Transcript::default();
    let admin = Admin::new(&node, &t);
    let body = r#"{"atomic": true, "steps": [{"op": "fetch", "as": "a", "pk": 1}]}"#;
    let response = admin.raw("POST", "/admin/steps", Some(body)).await;
    assert_eq!(response.status, 501, "{}", response.body);
    assert_eq!(
        response.json(),
        json!({"error": "POST /admin/steps is not supported with --redis"})
    );
    node.shutdown().await;
}
