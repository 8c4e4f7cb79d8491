//! The binary (listening line, admin subcommand, SIGTERM) and graceful shutdown with a data file.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{Client, Transcript, start, within};
use dcrf_reference_server::Config;

const BIN: &str = env!("CARGO_BIN_EXE_dcrf-reference-server");

/// A server process, killed if the test fails.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the address from its listening line.
async fn spawn(args: &[&str]) -> (Process, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("stdout");
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
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.strip_suffix("/ws/"))
        .unwrap_or_else(|| panic!("unexpected URL {url:?}"))
        .to_owned();
    (Process(child), addr)
}

async fn run_admin(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    within(
        "admin subcommand",
        tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output()),
    )
    .await
    .expect("join")
    .expect("run admin")
}

async fn sigterm_and_wait(process: &mut Process) -> std::process::ExitStatus {
    let pid = process.0.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut child = std::mem::replace(&mut process.0, Command::new("true").spawn().expect("true"));
    within(
        "server exits",
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("join")
    .expect("wait")
}

#[tokio::test]
async fn binary_admin_update_reaches_a_subscriber_and_sigterm_is_graceful() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("users.json");
    let data_arg = data.to_str().expect("utf-8 path");
    let (mut process, addr) = spawn(&["--listen", "127.0.0.1:0", "--data", data_arg]).await;
    let t = Transcript::default();
    let mut a = Client::connect_url(&format!("ws://{addr}/ws/"), "A", &t).await;
    a.send(r#"{"action":"subscribe_instance","request_id":100,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 201);

    let url = format!("http://{addr}");
    let output = run_admin(&[
        "admin",
        "--url",
        &url,
        "update",
        "1",
        "--username",
        "edited user name",
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        r#"{"id":1,"username":"edited user name","email":"1@example.com"}"#
    );
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":{"id":1,"username":"edited user name","email":"1@example.com"},"action":"update","response_status":200,"request_id":100}"#
    );
    let output = run_admin(&["admin", "--url", &url, "get", "9999"]).await;
    assert_eq!(output.status.code(), Some(1));

    let status = sigterm_and_wait(&mut process).await;
    let (code, _) = a.recv_close().await;
    assert_eq!(code, 1001);
    assert!(status.success(), "exit status {status}");

    // The change survives a restart.
    let (_process, addr) = spawn(&["serve", "--listen", "127.0.0.1:0", "--data", data_arg]).await;
    let mut b = Client::connect_url(&format!("ws://{addr}/ws/"), "B", &t).await;
    b.send(r#"{"action":"retrieve","request_id":1,"pk":1}"#)
        .await;
    assert_eq!(b.recv().await["data"]["username"], "edited user name");
}

#[tokio::test]
async fn help_teaches() {
    let output = run_admin(&["--help"]).await;
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "listening on ws://ADDR/ws/",
        "--listen",
        "--fault",
        "--data",
        "admin",
        "/ws/full/",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let output = run_admin(&["serve", "--help"]).await;
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in ["event-without-request-id", "silent", "slow consumer"] {
        assert!(
            help.contains(needle),
            "serve --help lacks {needle}:\n{help}"
        );
    }
}

#[tokio::test]
async fn library_shutdown_sends_1001_and_keeps_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("users.json");
    let config = Config {
        data_file: Some(data.clone()),
        ..Config::strict()
    };
    let server = start(config.clone()).await;
    let t = Transcript::default();
    let mut full = Client::connect(&server, "/ws/full/", "A", &t).await;
    full.send(r#"{"action":"create","request_id":1,"data":{"username":"durable","email":"d@example.com","password":"pw"}}"#).await;
    assert_eq!(full.recv().await["data"]["id"], 4);
    full.send(r#"{"action":"delete","request_id":2,"pk":3}"#)
        .await;
    assert_eq!(full.recv().await["response_status"], 204);
    let mut other = Client::connect(&server, "/ws/", "B", &t).await;
    within("shutdown", server.shutdown()).await;
    assert_eq!(full.recv_close().await.0, 1001);
    assert_eq!(other.recv_close().await.0, 1001);
    let text = std::fs::read_to_string(&data).expect("data file");
    assert!(text.contains("durable"), "the create is on disk: {text}");

    let server = start(config).await;
    let mut again = Client::connect(&server, "/ws/full/", "C", &t).await;
    again.send(r#"{"action":"list","request_id":3}"#).await;
    let ids: Vec<i64> = again.recv().await["data"]
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [1, 2, 4]);
    // pk 3 was deleted and 4 taken: the next one is 5, never a reused one.
    again.send(r#"{"action":"create","request_id":4,"data":{"username":"next","email":"n@example.com","password":"pw"}}"#).await;
    assert_eq!(again.recv().await["data"]["id"], 5);
    server.shutdown().await;
}
