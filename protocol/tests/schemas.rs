//! `schemas/` is generated from the types: this test fails when the checked-in copy is stale.

use std::path::PathBuf;

use dcrf_protocol::schema::{REGENERATE_COMMAND, schema_files, write_schema_files};

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

#[test]
fn checked_in_schemas_are_fresh() {
    let root = schemas_dir();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() && std::env::var_os("CI").is_none() {
        write_schema_files(&root).expect("write schemas/");
    }
    let mut stale = Vec::new();
    for (relative, expected) in schema_files() {
        let actual = std::fs::read_to_string(root.join(&relative)).unwrap_or_default();
        if actual != expected {
            stale.push(relative);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas/ is stale ({}); regenerate it with:\n\n    {REGENERATE_COMMAND}\n",
        stale.join(", ")
    );
}

#[test]
fn schemas_match_snapshots() {
    // The text, not the value: insta prints a `Value` differently when serde_json's
    // `arbitrary_precision` is on (the harness turns it on for the whole workspace build).
    for (relative, contents) in schema_files() {
        let _: serde_json::Value = serde_json::from_str(&contents).expect("schema is JSON");
        insta::assert_snapshot!(relative.replace('/', "__"), contents);
    }
}
