//! `AdminClient` against hostile or broken servers (issue 8, "HTTP on the field's
//! libraries"): a body cut short, a hostile chunk size, a non-JSON answer and a non-2xx
//! status are errors; a 1xx before the answer and an IPv6 literal work; a primary key
//! that would split the request line is refused before anything is sent.

mod common;

use common::within;
use dcrf_reference_server::{AdminClient, Config, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-shot server that reads a request head and writes `response` verbatim, then
/// closes. Returns its base URL and the request it received.
async fn canned(response: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream.write_all(response.as_bytes()).await.expect("write");
        let _ = stream.shutdown().await;
        String::from_utf8_lossy(&request).into_owned()
    });
    (url, task)
}

#[tokio::test]
async fn a_body_cut_short_is_an_error() {
    let (url, server) = canned(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\": 1",
    )
    .await;
    let client = AdminClient::new(&url).expect("url");
    let result = within("get", client.get(1)).await;
    assert!(matches!(result, Err(Error::Http { .. })), "{result:?}");
    let _ = within("server", server).await;
}

#[tokio::test]
async fn a_hostile_chunk_size_is_an_error_not_a_panic() {
    let (url, server) = canned(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n",
    )
    .await;
    let client = AdminClient::new(&url).expect("url");
    let result = within("request", client.request("GET", "/admin/users/1", None)).await;
    assert!(matches!(result, Err(Error::Http { .. })), "{result:?}");
    let _ = within("server", server).await;
}

#[tokio::test]
async fn a_non_json_answer_is_an_error() {
    let (url, server) = canned(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 15\r\n\r\n<html>hi</html>",
    )
    .await;
    let client = AdminClient::new(&url).expect("url");
    match within("get", client.get(1)).await {
        Err(Error::BadResponse {
            status: Some(200),
            reason,
            ..
        }) => assert!(reason.contains("<html>"), "{reason}"),
        other => panic!("expected a bad response, got {other:?}"),
    }
    let _ = within("server", server).await;
}

#[tokio::test]
async fn a_non_2xx_status_is_an_error_with_the_body() {
    let (url, server) = canned(
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{\"error\": \"user 9 not found\"}\n",
    )
    .await;
    let client = AdminClient::new(&url).expect("url");
    match within("delete", client.delete(9)).await {
        Err(Error::BadResponse {
            status: Some(404),
            reason,
            ..
        }) => assert!(reason.contains("user 9 not found"), "{reason}"),
        other => panic!("expected a 404 error, got {other:?}"),
    }
    let _ = within("server", server).await;
}

#[tokio::test]
async fn an_informational_response_is_skipped() {
    let (url, server) = canned(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 51\r\n\r\n{\"id\": 1, \"username\": \"test 1\", \"email\": \"1@x.io\"}\n",
    )
    .await;
    let client = AdminClient::new(&url).expect("url");
    let user = within("get", client.get(1)).await.expect("get");
    assert_eq!(user["username"], "test 1");
    let request = within("server", server).await.expect("join");
    assert!(
        request.starts_with("GET /admin/users/1 HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn requests_carry_json_and_the_token() {
    let (url, server) = canned(
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 45\r\n\r\n{\"id\": 4, \"username\": \"a\", \"email\": \"b@x.io\"}",
    )
    .await;
    let client = AdminClient::new(&url).expect("url").with_token("t0k");
    within("create", client.create("a", "b@x.io", None))
        .await
        .expect("create");
    let request = within("server", server)
        .await
        .expect("join")
        .to_ascii_lowercase();
    assert!(
        request.starts_with("post /admin/users http/1.1"),
        "{request}"
    );
    assert!(
        request.contains("content-type: application/json"),
        "{request}"
    );
    assert!(request.contains("authorization: bearer t0k"), "{request}");
}

#[tokio::test]
async fn a_primary_key_cannot_split_the_request() {
    let client = AdminClient::new("http://127.0.0.1:9").expect("url");
    for pk in ["1\r\nX-Injected: yes", "1/../../healthz", "1\n"] {
        let result = within("get", client.get(pk)).await;
        assert!(
            matches!(result, Err(Error::BadPath { .. })),
            "{pk:?}: {result:?}"
        );
    }
    let result = within(
        "request",
        client.request("GET", "/admin/users/1 HTTP/1.1\r\nX: y", None),
    )
    .await;
    assert!(matches!(result, Err(Error::BadPath { .. })), "{result:?}");
}

#[tokio::test]
async fn an_ipv6_literal_reaches_the_server() {
    let Ok(listener) = TcpListener::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback on this machine; nothing to check");
        return;
    };
    let server = within(
        "serve",
        dcrf_reference_server::serve(listener, Config::strict()),
    )
    .await
    .expect("serve");
    let url = format!("http://[::1]:{}", server.local_addr().port());
    let client = AdminClient::new(&url).expect("url");
    assert_eq!(client.base_url(), url);
    let user = within("get", client.get(1)).await.expect("get over IPv6");
    assert_eq!(user["id"], 1);
    within("health", client.health()).await.expect("health");
    // The server's Host check accepted the bracketed literal `[::1]:PORT`.
    server.shutdown().await;
}
