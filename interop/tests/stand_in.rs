//! Issue 11: the stand-in serves the shop app's own model from its drf-spectacular schema
//! (`interop/shop/stand-in.sh`: `dcrf-reference-server --model interop/shop/openapi.json
//! --component Product ...`), and needs no Python:
//!
//! - the shop app's committed harness config (`interop/shop/conformance.toml`) judges it
//!   unchanged apart from URLs, token and hook routes: every MUST passes, in both profiles,
//!   and every instance it sends validates against `product.json`, which `dcrf-schema`
//!   writes from the same component (one schema: the client's types, the stand-in, the
//!   harness's `--data-schema`);
//! - every `create`/`update`/`patch` frame recorded from the real app
//!   (`interop/shop/observed/validation.jsonl`, DRF 3.18.3) gets the same status and the
//!   same `errors`, and the same `data` but for the generated `id` and `updated_at`;
//! - a schema or fixture it cannot serve stops it with exit 2 and a message naming the
//!   field (never a half-working server).
//!
//! `tests/shop.rs` compares the transcripts of the real app and of the stand-in.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use dcrf_conformance::data_schema::DataSchema;
use dcrf_conformance::{RunOptions, Verdict, run};
use dcrf_interop::{StandIn, repo_root};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn log_dir() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

fn stand_in_target(stand_in: &StandIn) -> dcrf_conformance::Target {
    let addr = stand_in.addr();
    let observer = format!("ws://{addr}/api/live/products/");
    common::shop_target(
        "any token: the stand-in does not check it",
        &format!("http://{addr}"),
        &observer,
        &format!("ws://{addr}/api/live/products/crud/"),
        &observer,
        true,
    )
}

/// `product.json`, the instance schema `dcrf-schema` writes from the same component the
/// stand-in serves: the harness checks every instance the stand-in sends against it.
fn product_schema() -> Arc<DataSchema> {
    let out = std::env::temp_dir().join(format!("dcrf-stand-in-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "run",
            "-q",
            "-p",
            "dcrf-model",
            "--bin",
            "dcrf-schema",
            "--",
        ])
        .args([
            "--openapi",
            "interop/shop/openapi.json",
            "--component",
            "Product",
        ])
        .args([
            "--path",
            "/api/live/products/",
            "--lookup-field",
            "pk",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run dcrf-schema");
    assert!(
        output.status.success(),
        "dcrf-schema: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let schema = DataSchema::from_file(&out.join("2020-12/product.json")).expect("product.json");
    let _ = std::fs::remove_dir_all(&out);
    Arc::new(schema)
}

#[test]
fn the_shop_config_judges_the_stand_in_in_both_profiles() {
    let runtime = runtime();
    let options = RunOptions {
        data_schema: Some(product_schema()),
        ..RunOptions::default()
    };
    for profile in ["dcrf-1.3.0", "strict"] {
        let stand_in = StandIn::start(log_dir(), &["--profile", profile]);
        let target = stand_in_target(&stand_in);
        let report = runtime
            .block_on(run(&target, &options, |_, _, _| {}))
            .expect("the run can be made");
        let failed: Vec<String> = report
            .cases
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error))
            .map(|r| format!("{} {}: {}", r.id, r.slug, r.message))
            .collect();
        assert!(
            failed.is_empty() && report.exit_code() == 0,
            "{profile}: exit {}; failing cases:\n{}\nserver log:\n{}",
            report.exit_code(),
            failed.join("\n"),
            stand_in.log_text()
        );
        if profile == "strict" {
            let non_strict: Vec<&str> = report
                .cases
                .iter()
                .filter(|r| r.verdict == Verdict::NonStrict)
                .map(|r| r.id.as_str())
                .collect();
            assert!(
                non_strict.is_empty(),
                "strict: NON-STRICT cases {non_strict:?}"
            );
        }
    }
}

/// The generated parts of an instance, which no two servers share.
fn without_generated(data: &Value) -> Value {
    let mut data = data.clone();
    if let Value::Object(object) = &mut data {
        for key in ["id", "updated_at"] {
            if let Some(value) = object.get_mut(key) {
                *value = json!("[generated]");
            }
        }
    }
    data
}

/// Sends `frame` and returns the next frame, parsed (no subscription is open, so it is the
/// reply).
async fn request<S>(ws: &mut S, frame: &Value) -> Value
where
    S: futures_util::Sink<Message>
        + futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
    S::Error: std::fmt::Debug,
{
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
    let reply = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("a reply within 20 s")
        .expect("the socket is open")
        .expect("a frame");
    serde_json::from_str(reply.to_text().expect("text")).expect("JSON")
}

#[test]
fn validation_replies_match_the_recorded_drf_ones() {
    let recorded =
        std::fs::read_to_string(repo_root().join("interop/shop/observed/validation.jsonl"))
            .expect("the recording");
    let cases: Vec<Value> = recorded
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .filter(|case| case["source"] == "ws")
        .collect();
    assert!(cases.len() >= 50, "{} recorded ws cases", cases.len());
    let stand_in = StandIn::start(log_dir(), &[]);
    let url = format!("ws://{}/api/live/products/crud/", stand_in.addr());
    eprintln!("| action | data | DRF 3.18.3 (recorded) | stand-in |\n|---|---|---|---|");
    let mismatches = runtime().block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect to the stand-in");
        let mut mismatches = Vec::new();
        // As record_validation.py sent them: in order, request_id from 1, the seeded pk 3
        // for patch and update.
        for (n, case) in cases.iter().enumerate() {
            let request_id = n + 1;
            let action = case["action"].as_str().expect("an action");
            let mut frame =
                json!({"action": action, "request_id": request_id, "data": case["input"]});
            if action == "patch" || action == "update" {
                frame["pk"] = json!("00000000-0000-4000-8000-000000000003");
            }
            let reply = request(&mut ws, &frame).await;
            let got = json!({
                "status": reply["response_status"],
                "errors": reply["errors"],
                "data": without_generated(&reply["data"]),
            });
            let want = json!({
                "status": case["status"],
                "errors": case["errors"],
                "data": without_generated(&case["data"]),
            });
            // Side by side, for the record (`-- --nocapture`).
            eprintln!(
                "| `{action}` | `{}` | {} `{}` | {} `{}` |",
                case["input"],
                case["status"],
                case["errors"],
                reply["response_status"],
                reply["errors"]
            );
            if got != want {
                mismatches.push(format!(
                    "{action} {}:\n  DRF        {want}\n  stand-in   {got}",
                    case["input"]
                ));
            }
        }
        // A unique name, recorded in interop/shop/OBSERVATIONS.md section 5 (not in the
        // JSON lines): "Hand grinder" is a seeded product.
        let frame = json!({"action": "create", "request_id": "unique",
            "data": {"name": "Hand grinder", "price": "1.00"}});
        let reply = request(&mut ws, &frame).await;
        let want = json!([{"name": ["product with this name already exists."]}]);
        if (reply["response_status"].clone(), reply["errors"].clone()) != (json!(400), want.clone())
        {
            mismatches.push(format!(
                "create Hand grinder:\n  DRF        400 {want}\n  stand-in   {reply}"
            ));
        }
        mismatches
    });
    assert!(
        mismatches.is_empty(),
        "{} of {} replies differ from DRF's:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

/// Runs `command` (the stand-in or the server) with `--listen 127.0.0.1:0`; it must exit 2
/// before listening. Returns its stderr.
fn refused(mut command: Command) -> String {
    let output = command
        .args(["--listen", "127.0.0.1:0"])
        .env("CARGO", env!("CARGO"))
        .output()
        .expect("run the server");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "it must not listen");
    stderr
}

#[test]
fn a_model_it_cannot_serve_is_refused_with_the_field_named() {
    let dir = std::env::temp_dir().join(format!("dcrf-stand-in-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let write = |name: &str, value: Value| {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).expect("write");
        path.to_string_lossy().into_owned()
    };
    // A fixture whose second product has a price with three decimals.
    let fixture = write(
        "fixture.json",
        json!([
            {"id": "00000000-0000-4000-8000-000000000001", "name": "a", "price": "1.00"},
            {"id": "00000000-0000-4000-8000-000000000002", "name": "b", "price": "1.001"}
        ]),
    );
    let stand_in = |fixture: &str| {
        let mut command = Command::new("bash");
        command
            .arg(repo_root().join("interop/shop/stand-in.sh"))
            .env("SHOP_FIXTURE", fixture);
        command
    };
    let message = refused(stand_in(&fixture));
    assert!(
        message.contains(
            "fixture instance 1: /price: Ensure that there are no more than 2 decimal places."
        ),
        "{message}"
    );
    // A fixture with two products of one unique name.
    let fixture = write(
        "duplicate.json",
        json!([{"name": "a", "price": "1.00"}, {"name": "a", "price": "2.00"}]),
    );
    let message = refused(stand_in(&fixture));
    assert!(
        message.contains("fixture instance 1: /name: product with this name already exists."),
        "{message}"
    );
    // A $ref that does not resolve.
    let broken = write(
        "broken.json",
        json!({"openapi": "3.0.3", "components": {"schemas": {"Product": {"type": "object",
            "properties": {"id": {"type": "integer", "readOnly": true},
                           "kind": {"$ref": "#/components/schemas/Nope"}}}}}}),
    );
    let mut server = Command::new(env!("CARGO"));
    server.current_dir(repo_root()).args([
        "run",
        "-q",
        "-p",
        "dcrf-reference-server",
        "--bin",
        "dcrf-reference-server",
        "--",
        "--model",
        &broken,
        "--component",
        "Product",
    ]);
    let message = refused(server);
    assert!(message.contains("Nope"), "{message}");
    // An option naming a field the model does not have.
    let mut command = stand_in(
        &repo_root()
            .join("interop/shop/fixture.json")
            .to_string_lossy(),
    );
    command.args(["--default", "colour=\"red\""]);
    let message = refused(command);
    assert!(message.contains("unknown field \"colour\""), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}
