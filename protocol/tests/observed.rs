//! Every frame the real DCRF 1.3.0 server sent to `interop/dcrf/probe.py` parses, prints back as
//! the same JSON value and validates; the only exceptions are the frames that are not JSON at
//! all, which SPEC §10.6 records.

use dcrf_protocol::{Body, FrameValidator, Multiplexed, Reply, ServerFrame};
use serde_json::Value;

const FRAMES: &str = include_str!("../../interop/dcrf/observed/frames.jsonl");

/// Probes whose reply DCRF printed as non-JSON (`Infinity`, `NaN`), SPEC §10.6.
const NOT_JSON: &[&str] = &[
    "6.1 request_id.float_overflow_1e400",
    "6.1 request_id.nan_nonstandard",
];

/// The lab app's serializer output (interop/dcrf): every instance frame DCRF sent reads into it.
#[derive(Debug, serde::Deserialize)]
struct User {
    id: u64,
    username: String,
    #[allow(dead_code)]
    email: String,
}

/// Every frame also reads as a [`ServerFrame`] of the lab app's `User`, with the body its
/// action and status call for.
#[test]
fn every_observed_dcrf_frame_round_trips_and_validates() {
    let validator = FrameValidator::shared();
    let (mut checked, mut not_json) = (0, Vec::new());
    for line in FRAMES.lines().filter(|line| !line.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).expect("the capture file is JSON");
        let probe = entry["probe"].as_str().expect("every line names its probe");
        let Some(raw) = entry.get("raw").and_then(Value::as_str) else {
            continue; // a close event, not a frame
        };
        if entry.get("frame_error").is_some() {
            assert!(
                serde_json::from_str::<Value>(raw).is_err(),
                "{probe}: {raw}"
            );
            assert!(
                validator.validate_server_frame(raw).is_err(),
                "{probe}: {raw}"
            );
            not_json.push(probe.to_owned());
            continue;
        }
        let context = format!("{probe}: {raw}");
        let value: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{context}: {e}"));
        if value.get("stream").is_some() {
            let envelope: Multiplexed =
                serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{context}: {e}"));
            let reply = Reply::from_value(envelope.payload.clone())
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(reply.to_value(), envelope.payload, "{context}");
            assert_eq!(
                serde_json::to_value(&envelope).expect("print"),
                value,
                "{context}"
            );
        } else {
            let reply = Reply::from_frame(raw).unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(reply.to_value(), value, "{context}");
        }
        validator
            .validate_server_frame(raw)
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let payload = value.get("payload").unwrap_or(&value).to_string();
        let frame = ServerFrame::<User>::from_frame(&payload)
            .unwrap_or_else(|e| panic!("{context}: {e}: {:?}", std::error::Error::source(&e)));
        let status = value.get("payload").unwrap_or(&value)["response_status"].as_u64();
        assert_eq!(frame.is_success(), status < Some(400), "{context}");
        match &frame.body {
            Body::Instance(user) => assert!(user.id > 0 && !user.username.is_empty(), "{context}"),
            Body::List(users) => assert!(users.iter().all(|user| user.id > 0), "{context}"),
            _ => {}
        }
        checked += 1;
    }
    assert!(checked > 200, "only {checked} frames checked");
    not_json.sort();
    assert_eq!(not_json, NOT_JSON, "frames that are not JSON");
}
