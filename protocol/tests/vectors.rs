//! Exact vectors: frames from DCRF's own tests, the seed page (as corrected by SPEC §10) and
//! the real server parse, print back as the same JSON value, and validate.

use std::path::Path;

use dcrf_protocol::{FrameValidator, MessageKind, Reply, Request};
use serde_json::Value;

struct Vector {
    source: String,
    direction: String,
    frame: Value,
}

fn load(path: &Path) -> Vec<Vector> {
    let text = std::fs::read_to_string(path).expect("read vectors");
    let list: Vec<Value> = serde_json::from_str(&text).expect("vectors are JSON");
    list.into_iter()
        .map(|entry| Vector {
            source: entry["source"].as_str().expect("source").to_owned(),
            direction: entry["direction"].as_str().expect("direction").to_owned(),
            frame: entry["frame"].clone(),
        })
        .collect()
}

fn check(vectors: &[Vector]) {
    let validator = FrameValidator::shared();
    for vector in vectors {
        let text = vector.frame.to_string();
        let context = format!("{} ({}): {text}", vector.source, vector.direction);
        match vector.direction.as_str() {
            "client" => {
                let request =
                    Request::from_frame(&text).unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(request.to_value(), vector.frame, "{context}");
                let reparsed: Request = serde_json::from_str(&request.to_frame()).expect("serde");
                assert_eq!(reparsed, request, "{context}");
                validator
                    .validate_client_frame(&text)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
            }
            "server" => {
                let reply = Reply::from_frame(&text).unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(reply.to_value(), vector.frame, "{context}");
                validator
                    .validate_server_frame(&text)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
            }
            other => panic!("unknown direction {other}"),
        }
    }
}

#[test]
fn dcrf_test_suite_and_seed_frames() {
    let vectors =
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/dcrf-observer.json"));
    assert!(vectors.len() >= 25);
    check(&vectors);
}

#[test]
fn the_seed_pages_uncorrected_retrieve_reply_is_not_a_retrieve_reply() {
    // The seed page claims a retrieve reply carries action "list" (SPEC §10.1): such a frame is
    // a valid envelope, but it is checked as a list reply and fails, because data is an object.
    let frame = r#"{"action":"list","errors":[],"response_status":200,"request_id":1550050,"data":{"email":"1@example.com","id":1,"username":"test 1"}}"#;
    let error = FrameValidator::shared()
        .validate_server_frame(frame)
        .unwrap_err();
    assert_eq!(error.kind, Some(MessageKind::ListReply));
    assert_eq!(error.violations[0].instance_path, "/data");
}
