//! A run that cannot be judged ends with exit 2 and ONE line saying what to check, never a
//! list of failed cases: a refused handshake (401, 403 for a foreign or missing Origin, 500),
//! a refused connection, a preflight `retrieve` answered 403 (permissions) or 404 (a wrong
//! `existing_pk`), a bad config (unknown key, a template without `{pk}`, an environment
//! variable that is not set), a server that never answers the handshake (the global
//! deadline). What the handshake carries (headers, Origin, subprotocols, a query-string
//! token) is checked on the wire. A `pk_pointer` that finds nothing is a hook ERROR naming
//! the pointer and quoting the answer.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcrf-conformance"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs the binary with `args` off the runtime's threads, within 60 s.
async fn run_bin(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    let child = tokio::task::spawn_blocking(move || {
        let mut command = bin();
        command
            .args(&args)
            .env("NO_COLOR", "1")
            .env_remove("SHOP_TOKEN");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().expect("runs")
    });
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("the binary ends within 60 s")
        .expect("the task")
}

/// Asserts exit 2, an empty stdout report and one stderr line containing every `needle`.
fn assert_refused(output: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "stderr: {stderr}\nstdout: {stdout}"
    );
    assert!(
        !stdout.contains("FAIL"),
        "no list of failed cases: {stdout}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    stderr
}

/// A server that reads one request head per connection, records it and answers `response`.
async fn http_answering(response: &'static str) -> (String, tokio::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    let (heads, received) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let heads = heads.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = heads.try_send(String::from_utf8_lossy(&head).into_owned());
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("127.0.0.1:{}", address.port()), received)
}

#[test]
fn refused_handshakes_end_the_run_with_one_line_saying_what_to_check() {
    runtime().block_on(async {
        let (unauthorized, _) =
            http_answering("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        let output = run_bin(
            vec!["run".into(), "--url".into(), format!("ws://{unauthorized}/ws/")],
            vec![],
        )
        .await;
        assert_refused(&output, &["HTTP 401", "credentials"]);

        let (failing, _) = http_answering(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let output = run_bin(
            vec!["run".into(), "--url".into(), format!("ws://{failing}/wrong/path/")],
            vec![],
        )
        .await;
        assert_refused(&output, &["HTTP 500", "URL path"]);

        // Channels' AllowedHostsOriginValidator: 403 without an Origin header.
        let (forbidden, _) = http_answering(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 13\r\nConnection: close\r\n\r\nAccess denied",
        )
        .await;
        let output = run_bin(
            vec!["run".into(), "--url".into(), format!("ws://{forbidden}/ws/")],
            vec![],
        )
        .await;
        assert_refused(&output, &["HTTP 403", "Access denied", "Origin: none was sent"]);
    });
}

#[test]
fn a_foreign_origin_is_refused_by_the_reference_server_and_explained() {
    runtime().block_on(async {
        let server = EmbeddedServer::start(ServerConfig::strict())
            .await
            .expect("starts");
        let output = run_bin(
            vec![
                "run".into(),
                "--url".into(),
                server.ws_url(),
                "--origin".into(),
                "http://evil.example".into(),
            ],
            vec![],
        )
        .await;
        assert_refused(&output, &["HTTP 403", "check the Origin"]);
        server.shutdown().await;
    });
}

#[test]
fn the_handshake_carries_headers_origin_subprotocols_and_the_query_string() {
    runtime().block_on(async {
        let (address, mut heads) = http_answering(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let dir = temp_dir("handshake");
        let config = dir.join("target.toml");
        std::fs::write(
            &config,
            format!(
                "url = \"ws://{address}/api/live/?token=${{T0KEN}}&x=1\"\n\
                 origin = \"http://127.0.0.1\"\n\
                 subprotocols = [\"dcrf\", \"json\"]\n\
                 [headers]\n\
                 Authorization = \"Bearer ${{T0KEN}}\"\n\
                 Cookie = \"sessionid=abc\"\n"
            ),
        )
        .expect("write");
        let output = run_bin(
            vec![
                "run".into(),
                "--config".into(),
                config.display().to_string(),
            ],
            vec![("T0KEN".into(), "s3cret".into())],
        )
        .await;
        assert_refused(&output, &["HTTP 403", "check the Origin (origin"]);
        let head = tokio::time::timeout(Duration::from_secs(5), heads.recv())
            .await
            .expect("a request arrived")
            .expect("a head");
        let lower = head.to_ascii_lowercase();
        assert!(
            head.starts_with("GET /api/live/?token=s3cret&x=1 HTTP/1.1\r\n"),
            "{head}"
        );
        for line in [
            "\r\nauthorization: bearer s3cret\r\n",
            "\r\ncookie: sessionid=abc\r\n",
            "\r\norigin: http://127.0.0.1\r\n",
            "\r\nsec-websocket-protocol: dcrf, json\r\n",
        ] {
            assert!(lower.contains(line), "{line:?} missing from {head}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_refused_connection_and_a_silent_server_end_within_the_deadline() {
    runtime().block_on(async {
        // Accepts TCP, never answers the handshake.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr");
        let _hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let started = std::time::Instant::now();
        let output = run_bin(
            vec![
                "run".into(),
                "--url".into(),
                format!("ws://{address}/ws/"),
                "--global-timeout-ms".into(),
                "1500".into(),
            ],
            vec![],
        )
        .await;
        assert_refused(&output, &["within"]);
        assert!(started.elapsed() < Duration::from_secs(30));
    });
}

/// A DCRF consumer with `IsAuthenticated` and an anonymous client: the handshake succeeds,
/// every action answers 403.
async fn permission_denied_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let request: serde_json::Value =
                        serde_json::from_str(&text).unwrap_or_default();
                    let reply = serde_json::json!({
                        "errors": ["You do not have permission to perform this action."],
                        "data": null,
                        "action": request["action"],
                        "response_status": 403,
                        "request_id": request["request_id"],
                    });
                    if ws.send(Message::text(reply.to_string())).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("ws://127.0.0.1:{}/api/live/products/", address.port())
}

#[test]
fn a_preflight_retrieve_refused_by_permissions_or_not_found_is_explained() {
    runtime().block_on(async {
        let url = permission_denied_server().await;
        let output = run_bin(vec!["run".into(), "--url".into(), url], vec![]).await;
        assert_refused(
            &output,
            &["403", "You do not have permission", "check the credentials"],
        );

        let server = EmbeddedServer::start(ServerConfig::strict())
            .await
            .expect("starts");
        let output = run_bin(
            vec![
                "run".into(),
                "--url".into(),
                server.ws_url(),
                "--existing-pk".into(),
                "424242".into(),
            ],
            vec![],
        )
        .await;
        assert_refused(&output, &["404", "check existing_pk"]);
        server.shutdown().await;
    });
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dcrf-conformance-refusals-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn bad_configs_exit_2_with_one_line_naming_the_key() {
    runtime().block_on(async {
        let dir = temp_dir("configs");
        let cases = [
            ("url = \"ws://127.0.0.1:1/ws/\"\nchange_feild = \"name\"\n", "change_feild"),
            (
                "url = \"ws://127.0.0.1:1/ws/\"\n[mutation]\nkind = \"http\"\ndelete = \"DELETE /hook/products/\"\n",
                "mutation.delete",
            ),
            (
                "url = \"ws://127.0.0.1:1/ws/\"\n[headers]\nAuthorization = \"Bearer ${DCRF_TEST_UNSET_TOKEN}\"\n",
                "DCRF_TEST_UNSET_TOKEN",
            ),
            ("url = \"ws://127.0.0.1:1/ws/\"\nca_file = \"/nonexistent/ca.pem\"\n", "ca_file"),
        ];
        for (index, (text, key)) in cases.into_iter().enumerate() {
            let path = dir.join(format!("bad{index}.toml"));
            std::fs::write(&path, text).expect("write");
            let output = run_bin(
                vec!["run".into(), "--config".into(), path.display().to_string()],
                vec![],
            )
            .await;
            assert_refused(&output, &[key]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_pk_pointer_that_finds_nothing_is_a_hook_error_quoting_the_answer() {
    runtime().block_on(async {
        let server = EmbeddedServer::start(ServerConfig::strict())
            .await
            .expect("starts");
        let output = run_bin(
            vec![
                "run".into(),
                "--url".into(),
                server.ws_url(),
                "--case".into(),
                "5.5.1".into(),
                "--case-timeout-ms".into(),
                "20000".into(),
                "--mutation-pk-pointer".into(),
                "/product/id".into(),
            ],
            vec![],
        )
        .await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(2), "{stdout}");
        assert!(stdout.contains("ERROR      5.5.1"), "{stdout}");
        assert!(
            stdout.contains("mutation.pk_pointer \"/product/id\" finds no pk"),
            "{stdout}"
        );
        assert!(
            stdout.contains("\"username\":\"c5.5.1-1-"),
            "the answer quoted: {stdout}"
        );
        server.shutdown().await;
    });
}
