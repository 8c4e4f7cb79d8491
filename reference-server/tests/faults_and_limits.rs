//! Injected faults (each breaks exactly what it says) and resource limits.

mod common;

use common::{Admin, Client, QUIET, Transcript, start, within};
use dcrf_protocol::FrameValidator;
use dcrf_reference_server::{Config, Fault, Limits};
use serde_json::{Value, json};

async fn with_fault(fault: Fault) -> dcrf_reference_server::ServerHandle {
    start(Config {
        faults: [fault].into_iter().collect(),
        ..Config::strict()
    })
    .await
}

/// Subscribes rid 7 to pk 1 on a fresh socket.
async fn subscribed(server: &dcrf_reference_server::ServerHandle, t: &Transcript) -> Client {
    let mut a = Client::connect(server, "/ws/", "A", t).await;
    a.send(r#"{"action":"subscribe_instance","request_id":7,"pk":1}"#)
        .await;
    a.recv_unvalidated().await;
    a
}

#[tokio::test]
async fn each_fault_breaks_what_it_names() {
    let t = Transcript::default();

    let server = with_fault(Fault::EventWithoutRequestId).await;
    let admin = Admin::new(&server, &t);
    let mut a = subscribed(&server, &t).await;
    admin.update(1, None, None).await;
    assert_eq!(a.recv().await["request_id"], Value::Null);
    server.shutdown().await;

    let server = with_fault(Fault::EventAfterUnsubscribe).await;
    let admin = Admin::new(&server, &t);
    let mut a = subscribed(&server, &t).await;
    a.send(r#"{"action":"unsubscribe_instance","request_id":8,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 204);
    admin.update(1, None, None).await;
    assert_eq!(a.recv().await["request_id"], 7);
    server.shutdown().await;

    let server = with_fault(Fault::DuplicateEvent).await;
    let admin = Admin::new(&server, &t);
    let mut a = subscribed(&server, &t).await;
    admin.update(1, None, None).await;
    assert_eq!(a.recv().await, a.recv().await);
    a.silence().await;
    server.shutdown().await;

    let server = with_fault(Fault::SubscribeStatus200).await;
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    a.send(r#"{"action":"subscribe_instance","request_id":7,"pk":1}"#)
        .await;
    let reply = a.recv_unvalidated().await;
    assert_eq!(reply["response_status"], 200);
    assert!(
        FrameValidator::shared()
            .validate_server_value(&reply)
            .is_err()
    );
    server.shutdown().await;

    let server = with_fault(Fault::RetrieveActionList).await;
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    a.send(r#"{"action":"retrieve","request_id":1,"pk":1}"#)
        .await;
    assert_eq!(a.recv_unvalidated().await["action"], "list");
    server.shutdown().await;

    let server = with_fault(Fault::MissingErrorsKey).await;
    let admin = Admin::new(&server, &t);
    let mut a = subscribed(&server, &t).await;
    a.send(r#"{"action":"retrieve","request_id":1,"pk":1}"#)
        .await;
    let reply = a.recv_unvalidated().await;
    assert!(reply.get("errors").is_none());
    assert!(
        FrameValidator::shared()
            .validate_server_value(&reply)
            .is_err()
    );
    admin.update(1, None, None).await;
    assert!(a.recv_unvalidated().await.get("errors").is_none());
    server.shutdown().await;

    let server = with_fault(Fault::DropDeleteEvent).await;
    let admin = Admin::new(&server, &t);
    let mut a = subscribed(&server, &t).await;
    admin.delete(1).await;
    a.silence().await;
    server.shutdown().await;

    let server = with_fault(Fault::Silent).await;
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    a.send(r#"{"action":"retrieve","request_id":1,"pk":1}"#)
        .await;
    a.send("not json").await;
    a.silence().await;
    server.shutdown().await;

    insta::assert_json_snapshot!(t.take());
}

#[tokio::test]
async fn fault_names_round_trip() {
    use clap::ValueEnum;
    for fault in Fault::ALL {
        assert_eq!(Fault::from_str(fault.name(), false), Ok(fault));
    }
}

#[tokio::test]
async fn subscription_limit_is_a_429() {
    let server = start(Config {
        limits: Limits {
            max_subscriptions_per_connection: 2,
            ..Limits::default()
        },
        ..Config::strict()
    })
    .await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    for (request_id, status) in [(1, 201), (2, 201), (1, 201), (3, 429)] {
        a.send_json(json!({"action": "subscribe_instance", "request_id": request_id, "pk": 1}))
            .await;
        assert_eq!(a.recv().await["response_status"], status, "{request_id}");
    }
    a.send(r#"{"action":"unsubscribe_instance","pk":1}"#).await;
    a.recv().await;
    a.send(r#"{"action":"subscribe_instance","request_id":3,"pk":2}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 201);
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn connection_limit_is_an_http_503() {
    let server = start(Config {
        limits: Limits {
            max_connections: 1,
            ..Limits::default()
        },
        ..Config::strict()
    })
    .await;
    let t = Transcript::default();
    let _a = Client::connect(&server, "/ws/", "A", &t).await;
    let second = within("connect", tokio_tungstenite::connect_async(server.ws_url())).await;
    match second {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn slow_consumer_is_closed_with_1008() {
    let server = start(Config {
        limits: Limits {
            outbound_queue_frames: 4,
            ..Limits::default()
        },
        ..Config::strict()
    })
    .await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    // A raw TCP client that upgrades, subscribes, then never reads: its queue fills up.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = within(
        "connect",
        tokio::net::TcpStream::connect(server.local_addr()),
    )
    .await
    .unwrap();
    let handshake = format!(
        "GET /ws/ HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.local_addr()
    );
    within("write", raw.write_all(handshake.as_bytes()))
        .await
        .unwrap();
    // A masked text frame with the subscribe request.
    let payload = br#"{"action":"subscribe_instance","request_id":1,"pk":1}"#;
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    within("write", raw.write_all(&frame)).await.unwrap();
    within("subscribed", async {
        while server.subscription_count() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    // Big events and a small socket buffer: the writer blocks, then the queue overflows.
    let long = "x".repeat(32 * 1024);
    let mut closed = false;
    for i in 0..2_000 {
        admin_quiet(&admin, &format!("{long}{i}@example.com")).await;
        if server.subscription_count() == 0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow consumer was not dropped");
    // The close frame is at the end of what the server managed to write.
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(QUIET * 10, raw.read_to_end(&mut bytes)).await;
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("101 response")
        + 4;
    let close = find_close(&bytes[head_end..]).expect("a close frame");
    assert_eq!(close.0, 1008);
    assert_eq!(close.1, "slow consumer");
    server.shutdown().await;
}

async fn admin_quiet(admin: &Admin, email: &str) {
    let response = admin
        .raw(
            "PATCH",
            "/admin/users/1",
            Some(&json!({"email": email}).to_string()),
        )
        .await;
    assert_eq!(response.status, 200);
}

/// Finds the last server close frame in raw (unmasked) WebSocket bytes.
fn find_close(bytes: &[u8]) -> Option<(u16, String)> {
    let mut i = 0;
    let mut last = None;
    while i + 2 <= bytes.len() {
        let opcode = bytes[i] & 0x0f;
        let mut len = (bytes[i + 1] & 0x7f) as usize;
        let mut header = 2;
        if len == 126 {
            len = u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]) as usize;
            header = 4;
        } else if len == 127 {
            let mut n = [0u8; 8];
            n.copy_from_slice(bytes.get(i + 2..i + 10)?);
            len = u64::from_be_bytes(n) as usize;
            header = 10;
        }
        let body = bytes.get(i + header..i + header + len)?;
        if opcode == 0x8 && body.len() >= 2 {
            last = Some((
                u16::from_be_bytes([body[0], body[1]]),
                String::from_utf8_lossy(&body[2..]).into_owned(),
            ));
        }
        i += header + len;
    }
    last
}
