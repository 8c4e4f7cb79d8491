//! `--data-schema`: the app's instance schema judges the `data` of every instance-carrying
//! reply and event. The reference server's users match a schema of them; a schema that says
//! `username` is an integer makes the cases that receive an instance fail with the path.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use dcrf_conformance::data_schema::DataSchema;
use dcrf_conformance::{RunOptions, RunReport, Verdict};
use serde_json::{Value, json};

fn user_schema(username_type: &str) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": username_type},
            "email": {"type": "string"}
        },
        "required": ["id", "username", "email"]
    })
}

fn run_with_schema(schema: Value, filter: &[&str]) -> RunReport {
    let schema = DataSchema::from_value(&schema, Path::new("user.json"))
        .unwrap_or_else(|why| panic!("{why}"));
    let options = RunOptions {
        data_schema: Some(Arc::new(schema)),
        ..common::options(filter)
    };
    common::run_embedded(1, options, |servers| servers[0].target()).0
}

#[test]
fn instances_that_match_the_schema_pass() {
    let report = run_with_schema(user_schema("string"), &["5.1.1", "5.5.1", "6.1", "6.2"]);
    assert!(!report.cases.is_empty());
    for case in &report.cases {
        assert_eq!(case.verdict, Verdict::Pass, "{} {}", case.id, case.message);
    }
}

#[test]
fn a_drifted_field_fails_with_its_path() {
    let report = run_with_schema(user_schema("integer"), &["5.1.1", "5.5.1", "6.1.1"]);
    for id in ["5.1.1", "5.5.1", "6.1.1"] {
        let case = report
            .case(id)
            .unwrap_or_else(|| panic!("{id} did not run"));
        assert_eq!(case.verdict, Verdict::Fail, "{id}: {}", case.message);
        assert!(
            case.message.contains("/data/username") || case.message.contains("/data/0/username"),
            "{id}: the message names the field: {}",
            case.message
        );
    }
}

#[test]
fn the_cli_refuses_a_data_schema_that_is_not_json() {
    let dir = std::env::temp_dir().join(format!("dcrf-data-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("broken.json");
    std::fs::write(&path, "{not json").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_dcrf-conformance"))
        .args(["run", "--url", "ws://127.0.0.1:9/ws/", "--data-schema"])
        .arg(&path)
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.json"), "{stderr}");
}
