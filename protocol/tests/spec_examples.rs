//! The examples in SPEC.md and in every schema are valid frames of their kind.

use dcrf_protocol::schema::{Draft, MessageKind};
use dcrf_protocol::{FrameValidator, Reply, Request};
use serde_json::Value;

const SPEC: &str = include_str!("../SPEC.md");

fn spec_json_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in SPEC.lines() {
        match (&mut current, line.trim()) {
            (None, "```json") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_json_example_in_the_spec_is_a_valid_frame() {
    let validator = FrameValidator::shared();
    let blocks = spec_json_blocks();
    assert!(blocks.len() >= 10, "only {} examples found", blocks.len());
    for block in blocks {
        let value: Value = serde_json::from_str(&block).unwrap_or_else(|e| panic!("{e}: {block}"));
        let payload = value.get("payload").unwrap_or(&value);
        if payload.get("response_status").is_some() {
            validator
                .validate_server_frame(&block)
                .unwrap_or_else(|e| panic!("{e}: {block}"));
            Reply::from_value(payload.clone()).unwrap_or_else(|e| panic!("{e}: {block}"));
        } else {
            validator
                .validate_client_frame(&block)
                .unwrap_or_else(|e| panic!("{e}: {block}"));
            Request::from_value(payload.clone()).unwrap_or_else(|e| panic!("{e}: {block}"));
        }
    }
}

#[test]
fn every_schema_example_is_checked_as_its_own_kind() {
    let validator = FrameValidator::shared();
    for &kind in MessageKind::ALL {
        let schema = kind.schema(Draft::Draft2020_12);
        let examples = schema["examples"].as_array().cloned().unwrap_or_default();
        assert!(!examples.is_empty(), "{} has no example", kind.file_stem());
        for example in examples {
            validator
                .check(kind, &example)
                .unwrap_or_else(|e| panic!("{}: {e}: {example}", kind.file_stem()));
            // Dispatch agrees: the example is routed to its own kind (or, for the generic
            // envelopes, to whatever kind its action names).
            let text = example.to_string();
            let routed = match kind.direction() {
                dcrf_protocol::Direction::Client => validator.validate_client_frame(&text),
                dcrf_protocol::Direction::Server => validator.validate_server_frame(&text),
                dcrf_protocol::Direction::Both => validator
                    .validate_server_frame(&text)
                    .or_else(|_| validator.validate_client_frame(&text)),
            };
            let routed = routed.unwrap_or_else(|e| panic!("{}: {e}: {example}", kind.file_stem()));
            if !matches!(
                kind,
                MessageKind::Request | MessageKind::Reply | MessageKind::Multiplexed
            ) {
                assert_eq!(routed, kind, "{text}");
            }
        }
    }
}
