//! The `--data` file at start (issue 8, defect 7): symlinks are followed, a dangling one
//! is an error, temporaries left by a killed server are removed, and a corrupt file gets a
//! message that says where and what.

mod common;

use std::path::Path;

use common::{start, within};
use dcrf_reference_server::{AdminClient, Config, serve};

fn config(data: &Path) -> Config {
    Config {
        data_file: Some(data.to_owned()),
        ..Config::strict()
    }
}

/// `serve` with `data`, expecting a failure; its message with every cause.
async fn start_error(data: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    match within("serve", serve(listener, config(data))).await {
        Ok(handle) => {
            handle.shutdown().await;
            panic!("the server started with {}", data.display());
        }
        Err(error) => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            message
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_data_file_is_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real.json");
    std::fs::write(
        &real,
        r#"[{"id": 7, "username": "linked", "email": "l@example.com"}]"#,
    )
    .expect("write");
    let link = dir.path().join("users.json");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let server = start(config(&link)).await;
    let admin = AdminClient::new(&server.http_url()).expect("url");
    assert_eq!(
        within("get", admin.get(7))
            .await
            .expect("the target was read")["username"],
        "linked"
    );
    within(
        "create",
        admin.create("through the link", "t@example.com", None),
    )
    .await
    .expect("create");
    server.shutdown().await;
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink(),
        "the symlink was replaced by a regular file"
    );
    let text = std::fs::read_to_string(&real).expect("target");
    assert!(
        text.contains("through the link"),
        "the target holds the change: {text}"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert_eq!(names.len(), 2, "no temporary left behind: {names:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_dangling_symlink_is_an_error_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("users.json");
    std::os::unix::fs::symlink(dir.path().join("gone.json"), &link).expect("symlink");
    let message = start_error(&link).await;
    assert!(
        message.contains("users.json") && message.contains("gone.json"),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink(),
        "the dangling symlink was left alone"
    );
    assert!(!dir.path().join("gone.json").exists());
}

#[tokio::test]
async fn temporaries_of_a_killed_server_are_removed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("users.json");
    for name in ["users.json.tmp4242", "users.json.tmp1"] {
        std::fs::write(dir.path().join(name), "{half a wri").expect("write");
    }
    // Not ours: kept.
    std::fs::write(dir.path().join("users.json.tmpfile"), "keep").expect("write");
    std::fs::write(dir.path().join("other.json.tmp4242"), "keep").expect("write");
    let server = start(config(&data)).await;
    server.shutdown().await;
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["other.json.tmp4242", "users.json", "users.json.tmpfile"]
    );
}

#[tokio::test]
async fn a_corrupt_data_file_names_the_place_and_the_expectation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("users.json");
    let cases = [
        // A user with a string id, on line 3.
        (
            "{\n  \"next_pk\": 4,\n  \"users\": [{\"id\": \"one\", \"username\": \"a\"}]\n}\n",
            "line 3",
        ),
        // A fixture array with a user lacking its username.
        ("[\n  {\"id\": 1}\n]\n", "username"),
        // Truncated by a crash mid-write.
        ("{\n  \"next_pk\": 4,\n  \"us", "line 3"),
        // Not JSON at all.
        ("hello", "line 1"),
    ];
    for (text, detail) in cases {
        std::fs::write(&data, text).expect("write");
        let message = start_error(&data).await;
        assert!(message.contains("users.json"), "{message}");
        assert!(message.contains("expected"), "{message}");
        assert!(message.contains("column"), "{message}");
        assert!(message.contains(detail), "{detail:?} in {message}");
        assert!(!message.contains("untagged"), "{message}");
        // The corrupt file is left for a human to look at.
        assert_eq!(std::fs::read_to_string(&data).expect("read"), text);
    }
}

#[tokio::test]
async fn committed_steps_are_written_and_rolled_back_ones_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("users.json");
    let server = start(config(&data)).await;
    let admin = AdminClient::new(&server.http_url()).expect("url");
    let run = |body: serde_json::Value| {
        let admin = admin.clone();
        async move {
            within("steps", admin.request("POST", "/admin/steps", Some(&body)))
                .await
                .expect("steps")
        }
    };
    let committed = run(serde_json::json!({"atomic": true, "steps": [
        {"op": "insert", "pk": 40, "set": {"username": "forty", "email": "40@x"}},
        {"op": "fetch", "as": "one", "pk": 1},
        {"op": "delete", "obj": "one"},
    ]}))
    .await;
    assert_eq!(committed.status, 200, "{}", committed.body);
    let rolled_back = run(
        serde_json::json!({"atomic": true, "rollback": true, "steps": [
            {"op": "insert", "pk": 41, "set": {"username": "forty-one"}},
        ]}),
    )
    .await;
    assert_eq!(rolled_back.json()["committed"], false);
    server.shutdown().await;
    let text = std::fs::read_to_string(&data).expect("the data file");
    let file: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let ids: Vec<i64> = file["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["id"].as_i64())
        .collect();
    assert_eq!(ids, [2, 3, 40]);
    assert_eq!(file["next_pk"], 41, "the explicit pk moved the counter");
}
