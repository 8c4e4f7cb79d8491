//! dcrf-protocol is a light dependency (issue 12): with its default features it pulls only
//! serde and serde_json, and importing it changes nothing in the importer's own code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("protocol/ has a parent")
        .to_path_buf()
}

/// Runs cargo in the workspace root; fails with cargo's own output.
fn cargo(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace_root())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// (depth, crate name) of every line of `cargo tree --prefix depth`.
fn tree(features: &[&str]) -> Vec<(usize, String)> {
    let mut args = vec![
        "tree",
        "-p",
        "dcrf-protocol",
        "-e",
        "normal",
        "--prefix",
        "depth",
    ];
    args.extend_from_slice(features);
    args.push("--offline");
    cargo(&args)
        .lines()
        .filter_map(|line| {
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            let depth = line[..digits].parse().ok()?;
            let name = line[digits..].split_whitespace().next()?.to_owned();
            Some((depth, name))
        })
        .collect()
}

fn assert_only_serde(features: &[&str]) {
    let tree = tree(features);
    let direct: BTreeSet<&str> = tree
        .iter()
        .filter(|(depth, _)| *depth == 1)
        .map(|(_, name)| name.as_str())
        .collect();
    assert_eq!(
        direct,
        BTreeSet::from(["serde", "serde_json"]),
        "direct dependencies with {features:?}: {tree:?}"
    );
    for heavy in ["schemars", "jsonschema", "thiserror", "indexmap"] {
        assert!(
            tree.iter().all(|(_, name)| name != heavy),
            "{heavy} is in the tree with {features:?}: {tree:?}"
        );
    }
}

#[test]
fn without_default_features_only_serde_and_serde_json_are_pulled() {
    assert_only_serde(&["--no-default-features"]);
}

#[test]
fn the_default_features_pull_only_serde_and_serde_json() {
    assert_only_serde(&[]);
}

/// protocol/tests/importer is a crate of its own (its own workspace and Cargo.lock) that
/// depends on dcrf-protocol with default features; its tests check that its untagged and
/// flattened `f64` types, its `Value` key order and big request_ids all work.
#[test]
fn an_importer_keeps_its_own_serde_behaviour() {
    let manifest = workspace_root().join("protocol/tests/importer/Cargo.toml");
    let target = workspace_root().join("target/importer");
    let manifest = manifest.to_str().expect("UTF-8 path");
    let target = target.to_str().expect("UTF-8 path");
    let output = cargo(&[
        "test",
        "--manifest-path",
        manifest,
        "--target-dir",
        target,
        "--offline",
        "--locked",
    ]);
    assert!(output.contains("test result: ok. 6 passed"), "{output}");
}

/// The importer runs `--offline`: every crate its lock file pins must be one the workspace
/// lock file pins too, so a clone that fetched the workspace has it.
#[test]
fn the_importers_lock_pins_only_crates_the_workspace_pins() {
    let packages = |path: PathBuf| -> BTreeSet<(String, String)> {
        let text = std::fs::read_to_string(&path).expect("read a Cargo.lock");
        let mut packages = BTreeSet::new();
        let mut name = None;
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("name = ") {
                name = Some(value.trim_matches('"').to_owned());
            } else if let (Some(value), Some(name)) = (line.strip_prefix("version = "), name.take())
            {
                packages.insert((name, value.trim_matches('"').to_owned()));
            }
        }
        packages
    };
    let workspace = packages(workspace_root().join("Cargo.lock"));
    let importer = packages(workspace_root().join("protocol/tests/importer/Cargo.lock"));
    let missing: Vec<_> = importer
        .iter()
        .filter(|(name, _)| name != "dcrf-protocol-importer")
        .filter(|package| !workspace.contains(*package))
        .collect();
    assert!(importer.len() > 5, "{importer:?}");
    assert!(
        missing.is_empty(),
        "protocol/tests/importer/Cargo.lock pins crates the workspace does not: {missing:?}"
    );
}
