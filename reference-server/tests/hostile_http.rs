//! Hostile HTTP clients and foreign web pages (issue 8, defects 4, 5 and 7): malformed
//! heads and handshakes written byte by byte, cross-origin requests, DNS rebinding, the
//! connection limit with its reserve, slowloris, and shutdown with idle connections.

mod common;

use std::time::Duration;

use common::{Client, Transcript, start, start_default, within};
use dcrf_reference_server::{Access, AdminClient, Config, Error, Limits, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A valid Sec-WebSocket-Key (base64 of 16 bytes, RFC 6455 §1.3).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Writes `request` on a fresh connection and reads until the server closes it.
async fn exchange(server: &ServerHandle, request: &str) -> String {
    let mut stream = within("connect", TcpStream::connect(server.local_addr()))
        .await
        .expect("connect");
    within("write", stream.write_all(request.as_bytes()))
        .await
        .expect("write");
    let mut raw = Vec::new();
    // A reset after the response still leaves the response in `raw`.
    let _ = within("read to the end", stream.read_to_end(&mut raw)).await;
    String::from_utf8_lossy(&raw).into_owned()
}

fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

fn head(response: &str) -> String {
    response
        .split_once("\r\n\r\n")
        .map_or(response, |(head, _)| head)
        .to_ascii_lowercase()
}

fn host(server: &ServerHandle) -> String {
    server.local_addr().to_string()
}

fn upgrade_request(server: &ServerHandle, extra: &str) -> String {
    format!(
        "GET /ws/ HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n",
        host(server)
    )
}

/// Opens a WebSocket with an extra header; the HTTP status when it is refused.
async fn ws_with(server: &ServerHandle, name: &str, value: &str) -> Result<(), u16> {
    let mut request = format!("ws://{}/ws/", server.local_addr())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        name.parse::<http::HeaderName>().unwrap(),
        value.parse().unwrap(),
    );
    match within("connect", tokio_tungstenite::connect_async(request)).await {
        Ok((mut ws, _)) => {
            let _ = ws.close(None).await;
            Ok(())
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("unexpected handshake error {other:?}"),
    }
}

async fn user_exists(server: &ServerHandle, pk: i64) -> bool {
    let response = exchange(
        server,
        &format!(
            "GET /admin/users/{pk} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            host(server)
        ),
    )
    .await;
    status(&response) == 200
}

#[tokio::test]
async fn a_text_plain_post_is_a_415_and_creates_nothing() {
    let server = start_default().await;
    let body = r#"{"username":"csrf","email":"csrf@evil.example"}"#;
    // What a cross-site <form enctype="text/plain"> sends, from a loopback page and from
    // no page at all: refused for its content type.
    for origin in ["", "Origin: http://localhost:5173\r\n"] {
        let response = exchange(
            &server,
            &format!(
                "POST /admin/users HTTP/1.1\r\nHost: {}\r\n{origin}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                host(&server),
                body.len()
            ),
        )
        .await;
        assert_eq!(status(&response), 415, "{response}");
        assert!(response.contains("application/json"), "{response}");
    }
    // No content type at all is refused too.
    let response = exchange(
        &server,
        &format!(
            "PATCH /admin/users/1 HTTP/1.1\r\nHost: {}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            host(&server)
        ),
    )
    .await;
    assert_eq!(status(&response), 415, "{response}");
    // From a foreign page: refused for its origin, whatever the content type.
    for content_type in ["text/plain", "application/json"] {
        let response = exchange(
            &server,
            &format!(
                "POST /admin/users HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                host(&server),
                body.len()
            ),
        )
        .await;
        assert_eq!(status(&response), 403, "{response}");
        assert!(response.contains("evil.example"), "{response}");
    }
    assert!(
        !user_exists(&server, 4).await,
        "a refused POST created a user"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_websocket_from_a_foreign_origin_is_a_403() {
    let server = start_default().await;
    assert_eq!(
        ws_with(&server, "origin", "http://evil.example").await,
        Err(403)
    );
    assert_eq!(ws_with(&server, "origin", "null").await, Err(403));
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:8000",
        "https://[::1]:3000",
    ] {
        assert_eq!(ws_with(&server, "origin", origin).await, Ok(()), "{origin}");
    }
    // No Origin: a non-browser client.
    let t = Transcript::default();
    Client::connect(&server, "/ws/", "A", &t)
        .await
        .close()
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_foreign_host_is_refused_against_dns_rebinding() {
    let server = start_default().await;
    let upgrade = format!(
        "GET /ws/ HTTP/1.1\r\nHost: rebind.evil.example:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n",
        server.local_addr().port()
    );
    let response = exchange(&server, &upgrade).await;
    assert_eq!(status(&response), 421, "{response}");
    let admin = exchange(
        &server,
        "GET /admin/users/1 HTTP/1.1\r\nHost: rebind.evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&admin), 421, "{admin}");
    assert!(admin.contains("--allow-host"), "{admin}");
    // Loopback names pass.
    assert_eq!(ws_with(&server, "host", "localhost").await, Ok(()));
    // /healthz stays open.
    let health = exchange(
        &server,
        "GET /healthz HTTP/1.1\r\nHost: rebind.evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&health), 200, "{health}");
    server.shutdown().await;
}

#[tokio::test]
async fn allow_origin_and_allow_host_extend_the_lists() {
    let server = start(Config {
        access: Access {
            allowed_origins: vec!["https://app.example:8443".into()],
            allowed_hosts: vec!["dcrf.test".into()],
            admin_token: None,
        },
        ..Config::strict()
    })
    .await;
    assert_eq!(
        ws_with(&server, "origin", "https://app.example:8443").await,
        Ok(())
    );
    assert_eq!(
        ws_with(&server, "origin", "https://app.example:8444").await,
        Err(403)
    );
    assert_eq!(ws_with(&server, "host", "dcrf.test:80").await, Ok(()));
    assert_eq!(ws_with(&server, "host", "other.test").await, Err(421));
    server.shutdown().await;

    let open = start(Config {
        access: Access {
            allowed_origins: vec!["*".into()],
            ..Access::default()
        },
        ..Config::strict()
    })
    .await;
    assert_eq!(
        ws_with(&open, "origin", "http://evil.example").await,
        Ok(())
    );
    open.shutdown().await;
}

#[tokio::test]
async fn the_admin_token_is_required_when_set() {
    let server = start(Config {
        access: Access {
            admin_token: Some("s3cret".into()),
            ..Access::default()
        },
        ..Config::strict()
    })
    .await;
    let anonymous = AdminClient::new(&server.http_url()).expect("url");
    match within("get", anonymous.get(1)).await {
        Err(Error::BadResponse {
            status: Some(401), ..
        }) => {}
        other => panic!("expected a 401, got {other:?}"),
    }
    match within("create", anonymous.create("x", "x@example.com", None)).await {
        Err(Error::BadResponse {
            status: Some(401), ..
        }) => {}
        other => panic!("expected a 401, got {other:?}"),
    }
    let wrong = anonymous.clone().with_token("guess");
    assert!(within("get", wrong.get(1)).await.is_err());
    let admin = anonymous.clone().with_token("s3cret");
    let user = within("get", admin.get(1)).await.expect("authorized get");
    assert_eq!(user["id"], 1);
    // Nothing was created by the refused calls: the next pk is still 4.
    let created = within("create", admin.create("y", "y@example.com", None))
        .await
        .expect("authorized create");
    assert_eq!(created["id"], 4);
    // /healthz stays open.
    within("health", anonymous.health())
        .await
        .expect("health needs no token");
    server.shutdown().await;
}

#[tokio::test]
async fn ambiguous_content_lengths_are_a_400() {
    let server = start_default().await;
    let body = r#"{"username":"smuggled","email":"s@x"}"#;
    for lengths in [
        format!(
            "Content-Length: {}\r\nContent-Length: {}\r\n",
            body.len(),
            body.len() + 1
        ),
        format!("Content-Length: +{}\r\n", body.len()),
        format!("Content-Length: {}, {}\r\n", body.len(), body.len() - 1),
        format!("Content-Length: -{}\r\n", body.len()),
    ] {
        let response = exchange(
            &server,
            &format!(
                "POST /admin/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{lengths}Connection: close\r\n\r\n{body}",
                host(&server)
            ),
        )
        .await;
        assert_eq!(status(&response), 400, "{lengths:?}: {response}");
    }
    assert!(
        !user_exists(&server, 4).await,
        "a smuggled POST created a user"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_websocket_handshakes_are_refused() {
    let server = start_default().await;
    let h = host(&server);
    let cases: [(&str, String, u16); 8] = [
        (
            "no Connection: Upgrade",
            format!(
                "GET /ws/ HTTP/1.1\r\nHost: {h}\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
            ),
            400,
        ),
        (
            "HTTP/1.0",
            format!(
                "GET /ws/ HTTP/1.0\r\nHost: {h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
            ),
            400,
        ),
        (
            "empty key",
            format!(
                "GET /ws/ HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \r\n\r\n"
            ),
            400,
        ),
        (
            "non-base64 key",
            format!(
                "GET /ws/ HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: not base64 at all!!!!!!\r\n\r\n"
            ),
            400,
        ),
        (
            "key of 15 bytes",
            format!(
                "GET /ws/ HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n\r\n"
            ),
            400,
        ),
        (
            "no key",
            format!(
                "GET /ws/ HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        (
            "no Upgrade: websocket",
            format!(
                "GET /ws/ HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
            ),
            400,
        ),
        (
            "version 8",
            format!(
                "GET /ws/ HTTP/1.1\r\nHost: {h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {KEY}\r\nConnection: close\r\n\r\n"
            ),
            426,
        ),
    ];
    for (what, request, expected) in cases {
        // Refused handshakes stay HTTP: ask the server to close after the answer.
        let request = request.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
        let response = exchange(&server, &request).await;
        assert_eq!(status(&response), expected, "{what}: {response}");
    }
    // The same handshake, well formed, is accepted with the RFC 6455 accept key.
    let mut stream = within("connect", TcpStream::connect(server.local_addr()))
        .await
        .expect("connect");
    within(
        "write",
        stream.write_all(upgrade_request(&server, "").as_bytes()),
    )
    .await
    .expect("write");
    let mut buf = vec![0u8; 1024];
    let n = within("read", stream.read(&mut buf)).await.expect("read");
    let response = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(status(&response), 101, "{response}");
    assert!(
        head(&response).contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{response}"
    );
    server.shutdown().await;
}

/// A masked client frame (RFC 6455 §5.2) with a payload under 126 bytes.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
    assert!(payload.len() < 126);
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// Frames sent in the same write as the handshake, before the 101 arrives, are read after
/// it: the server answers them in order, then the close.
#[tokio::test]
async fn frames_sent_with_the_handshake_are_answered() {
    let server = start_default().await;
    let mut bytes = upgrade_request(&server, "").into_bytes();
    bytes.extend(client_frame(
        0x1,
        br#"{"action":"retrieve","request_id":7,"pk":1}"#,
    ));
    bytes.extend(client_frame(
        0x1,
        br#"{"action":"retrieve","request_id":8,"pk":2}"#,
    ));
    bytes.extend(client_frame(0x8, &1000u16.to_be_bytes()));
    let mut stream = within("connect", TcpStream::connect(server.local_addr()))
        .await
        .expect("connect");
    within("write", stream.write_all(&bytes))
        .await
        .expect("write");
    let mut raw = Vec::new();
    let _ = within("read to the end", stream.read_to_end(&mut raw)).await;
    let response = String::from_utf8_lossy(&raw);
    assert_eq!(status(&response), 101, "{response}");
    // Whatever the profile's separators.
    let compact = response.replace(' ', "");
    let first = compact
        .find(r#""request_id":7}"#)
        .unwrap_or_else(|| panic!("no reply to the first frame: {response:?}"));
    let second = compact
        .find(r#""request_id":8}"#)
        .unwrap_or_else(|| panic!("no reply to the second frame: {response:?}"));
    assert!(first < second, "{response:?}");
    assert!(compact.contains(r#""username":"test2""#), "{response:?}");
    // The close frame, code 1000, comes last.
    assert!(raw.ends_with(&[0x88, 0x02, 0x03, 0xE8]), "{raw:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_204_has_no_content_length() {
    let server = start_default().await;
    let response = exchange(
        &server,
        &format!(
            "DELETE /admin/users/3 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            host(&server)
        ),
    )
    .await;
    assert_eq!(status(&response), 204, "{response}");
    assert!(!head(&response).contains("content-length"), "{response}");
    assert!(
        response.ends_with("\r\n\r\n"),
        "a 204 has no body: {response:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn past_the_connection_limit_health_and_admin_stay_reachable() {
    const N: usize = 3;
    let server = start(Config {
        limits: Limits {
            max_connections: N,
            ..Limits::default()
        },
        ..Config::strict()
    })
    .await;
    let t = Transcript::default();
    let mut sockets = Vec::new();
    for i in 0..N {
        sockets.push(Client::connect(&server, "/ws/", &format!("S{i}"), &t).await);
    }
    assert_eq!(server.tcp_connection_count(), N);
    let health = exchange(
        &server,
        &format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", host(&server)),
    )
    .await;
    assert_eq!(status(&health), 200, "{health}");
    assert!(head(&health).contains("connection: close"), "{health}");
    let admin = AdminClient::new(&server.http_url()).expect("url");
    let user = within("admin get", admin.get(1)).await.expect("admin get");
    assert_eq!(user["id"], 1);
    let refused = exchange(&server, &upgrade_request(&server, "")).await;
    assert_eq!(status(&refused), 503, "{refused}");
    assert!(refused.contains("too many connections"), "{refused}");
    // A slot freed is a slot reusable.
    sockets.pop().expect("socket").close().await;
    within("slot freed", async {
        while server.tcp_connection_count() >= N {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    Client::connect(&server, "/ws/", "again", &t).await;
    server.shutdown().await;
}

#[tokio::test]
async fn slowloris_is_closed_after_the_head_timeout() {
    let server = start(Config {
        head_timeout: Duration::from_millis(300),
        ..Config::strict()
    })
    .await;
    // Half a head, then nothing; and a connection that never sends a byte.
    let mut half = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    half.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n", host(&server)).as_bytes())
        .await
        .expect("write");
    let mut silent = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    // Generous deadline: well under the 10 s the old server granted.
    for stream in [&mut half, &mut silent] {
        let mut sink = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink))
            .await
            .expect("the server must close a slow head within the deadline");
        let _ = closed;
    }
    within("slots freed", async {
        while server.tcp_connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_idle_connections() {
    let server = start(Config {
        // Long enough that the head timeout is not what closes them.
        head_timeout: Duration::from_secs(60),
        ..Config::strict()
    })
    .await;
    // An idle connection that never sent a byte, and a kept-alive one after a request.
    let _idle = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let mut kept = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    kept.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", host(&server)).as_bytes())
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = within("response", kept.read(&mut buf)).await.expect("read");
    assert_eq!(status(&String::from_utf8_lossy(&buf[..n])), 200);
    within("accepted", async {
        while server.tcp_connection_count() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // The old server waited out its 5 s grace period for these.
    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("shutdown must not wait for idle connections");
}

#[tokio::test]
async fn oversized_heads_are_a_431_and_oversized_admin_bodies_a_413() {
    let server = start_default().await;
    // A 20 KiB header line: past the 16 KiB head limit.
    let response = exchange(
        &server,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
            host(&server),
            "a".repeat(20 * 1024)
        ),
    )
    .await;
    assert_eq!(status(&response), 431, "{}", head(&response));
    // 70 header lines: past the 64 allowed.
    let lines: String = (0..70).map(|n| format!("X-Line-{n}: {n}\r\n")).collect();
    let response = exchange(
        &server,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\n{lines}Connection: close\r\n\r\n",
            host(&server)
        ),
    )
    .await;
    assert_eq!(status(&response), 431, "{}", head(&response));
    // An admin body of 1 MiB + 1 byte: 413, and no user is created.
    let body = format!(
        r#"{{"username": "big", "email": "{}"}}"#,
        "e".repeat(1024 * 1024)
    );
    let response = exchange(
        &server,
        &format!(
            "POST /admin/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            host(&server),
            body.len()
        ),
    )
    .await;
    assert_eq!(status(&response), 413, "{}", head(&response));
    assert!(!user_exists(&server, 4).await, "nothing was created");
    // Health is still served.
    let response = exchange(
        &server,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            host(&server)
        ),
    )
    .await;
    assert_eq!(status(&response), 200);
}
