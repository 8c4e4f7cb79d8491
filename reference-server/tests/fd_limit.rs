//! File descriptors (issue 8, defect 5), on the binary under a small `RLIMIT_NOFILE`: the
//! connection limit is derived from it with a reserve, so past the limit `/healthz` and
//! the admin API still answer, an upgrade gets 503, and accept never fails with EMFILE.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::within;
use dcrf_reference_server::{AdminClient, FD_RESERVE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_dcrf-reference-server");
/// The server's soft and hard `RLIMIT_NOFILE`.
const NOFILE: usize = 160;

/// A server process, killed if the test fails.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
}

#[tokio::test]
async fn past_the_derived_limit_health_answers_and_upgrades_get_503() {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {NOFILE} && exec \"$0\" --listen 127.0.0.1:0"
        ))
        .arg(BIN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let process = Process(child);
    let line = within(
        "listening line",
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("join")
    .expect("read stdout");
    let addr = line
        .trim()
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.strip_suffix("/ws/"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let limit = NOFILE - FD_RESERVE;

    // Fill every slot with an idle WebSocket, then try more than the reserve holds.
    let mut open = Vec::new();
    let mut refused_503 = 0;
    let mut closed = 0;
    for _ in 0..limit + 40 {
        let attempt = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws/")),
        )
        .await
        .expect("every handshake is answered or closed: none hangs on EMFILE");
        match attempt {
            Ok((ws, _)) => open.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                refused_503 += 1;
            }
            Err(_) => closed += 1,
        }
    }
    assert_eq!(
        open.len(),
        limit,
        "the limit is RLIMIT_NOFILE minus the reserve"
    );
    assert_eq!(refused_503 + closed, 40);
    assert!(refused_503 > 0, "past the limit, upgrades get a 503");

    // With every slot taken, health and the admin API still answer.
    let health = within("health", get(&addr, "/healthz")).await;
    assert_eq!(health, Some(200));
    let admin = AdminClient::new(&format!("http://{addr}")).expect("url");
    let user = within("admin get", admin.get(1)).await.expect("admin get");
    assert_eq!(user["id"], 1);

    drop(open);
    drop(process);
    let mut log = String::new();
    let _ = stderr.read_to_string(&mut log);
    assert!(
        !log.contains("accept failed"),
        "accept never ran out of descriptors:\n{log}"
    );
}

/// Lines of a child's stderr, as they come.
fn stderr_lines(child: &mut Child) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`; returns the lines seen before it.
async fn wait_for_line(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    needle: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    within(&format!("a log line with {needle:?}"), async {
        while let Some(line) = lines.recv().await {
            if line.contains(needle) {
                return;
            }
            seen.push(line);
        }
        panic!("the server exited before logging {needle:?}: {seen:#?}");
    })
    .await;
    seen
}

#[tokio::test]
async fn emfile_backs_off_and_is_logged_once_per_episode() {
    // A limit set above what the descriptors allow: accept runs into EMFILE.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {NOFILE} && exec \"$0\" --listen 127.0.0.1:0 --max-connections 1000"
        ))
        .arg(BIN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = stderr_lines(&mut child);
    let _process = Process(child);
    let line = within(
        "listening line",
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("join")
    .expect("read stdout");
    let addr = line
        .trim()
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.strip_suffix("/ws/"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    // The server warns that the limit exceeds what the descriptors allow.
    wait_for_line(&mut lines, "less than the fd reserve").await;

    // Open sockets until the server stops answering: it is out of descriptors.
    let mut open = Vec::new();
    for _ in 0..NOFILE {
        match tokio::time::timeout(
            Duration::from_secs(1),
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws/")),
        )
        .await
        {
            Ok(Ok((ws, _))) => open.push(ws),
            _ => break,
        }
    }
    assert!(
        open.len() < NOFILE,
        "the server never ran out of descriptors"
    );
    let before = wait_for_line(&mut lines, "accept failed").await;
    assert!(!before.iter().any(|l| l.contains("accept failed")));
    // Stay out of descriptors while the server retries (100 ms doubling to 1 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(open);
    let during = wait_for_line(&mut lines, "accepting connections again").await;
    let repeated: Vec<_> = during
        .iter()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(
        repeated.is_empty(),
        "one warning per episode, not one per retry: {repeated:#?}"
    );
    // And it serves again.
    let health = within("health", get(&addr, "/healthz")).await;
    assert_eq!(health, Some(200));
}
