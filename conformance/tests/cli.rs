//! The binary: `list` without a server, exit code 2 when the run cannot be made, and `run`
//! against the built-in reference server (JSON and JUnit reports).

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcrf-conformance"))
}

#[test]
fn list_prints_every_case_without_connecting() {
    let output = bin().arg("list").output().expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for id in [
        "2.3.1", "4.2.3", "5.1.1", "5.5.1", "5.6.1", "6.2.1", "7.2.1", "8.1.1",
    ] {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }
    let output = bin()
        .args(["list", "--format", "json"])
        .output()
        .expect("runs");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(dcrf_conformance::cases::all().len())
    );
}

#[test]
fn an_unreachable_endpoint_exits_2() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let output = bin()
        .args(["run", "--url", &format!("ws://127.0.0.1:{port}/ws/")])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_bad_config_exits_2() {
    let dir = std::env::temp_dir().join(format!("dcrf-conformance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "url = \"http://not-a-websocket/\"\n").expect("write");
    let output = bin()
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    std::fs::write(&path, "urll = \"ws://x/\"\n").expect("write");
    let output = bin()
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_against_the_embedded_server_writes_json_and_junit() {
    let dir = std::env::temp_dir().join(format!("dcrf-conformance-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let junit = dir.join("report.xml");
    let output = bin()
        .args([
            "run",
            "--format",
            "json",
            "--case",
            "5.1",
            "--case",
            "5.5.1",
            "--case",
            "2.3.1",
            "--case-timeout-ms",
            "20000",
            "--junit",
        ])
        .arg(&junit)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
    let cases = report["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 4);
    let first = &cases[0];
    for key in ["id", "level", "verdict", "message", "duration_ms", "wire"] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.starts_with("<?xml"));
    assert!(
        xml.contains("<testcase classname=\"dcrf.5.1\" name=\"5.1.1 retrieve-existing [MUST]\"")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutation_kind_none_skips_instead_of_failing() {
    let output = bin()
        .args([
            "run",
            "--mutation-kind",
            "none",
            "--case",
            "5.5.1",
            "--case",
            "5.1.1",
            "--case-timeout-ms",
            "20000",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("SKIPPED    5.5.1"), "{text}");
    assert!(text.contains("needs a mutation hook"), "{text}");
}
