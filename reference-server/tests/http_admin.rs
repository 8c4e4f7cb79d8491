//! HTTP on the WebSocket port: /healthz and the admin API (interop/dcrf/users/views.py).

mod common;

use common::{Admin, Transcript, start_default};
use serde_json::json;

#[tokio::test]
async fn admin_api_matches_the_django_one() {
    let server = start_default().await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let health = admin.raw("GET", "/healthz", None).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    let created = admin.create("probe noop 1", "u1@probe.example").await;
    assert_eq!(
        created,
        json!({"id": 4, "username": "probe noop 1", "email": "u1@probe.example"})
    );
    let response = admin
        .raw(
            "POST",
            "/admin/users",
            Some(r#"{"username":"pw","email":"pw@x.io","password":"secret"}"#),
        )
        .await;
    assert_eq!(response.status, 201);
    assert!(!response.body.contains("secret") && !response.body.contains("password"));

    let got = admin.raw("GET", "/admin/users/1", None).await;
    assert_eq!(
        (got.status, got.json()),
        (
            200,
            json!({"id": 1, "username": "test 1", "email": "1@example.com"})
        )
    );
    let patched = admin.update(1, None, Some("new@example.com")).await;
    assert_eq!(
        (patched.status, patched.json()["email"].clone()),
        (200, json!("new@example.com"))
    );
    assert_eq!(admin.update(1, None, None).await.status, 200);

    let cases: [(&str, &str, Option<&str>, u16, &str); 17] = [
        (
            "POST",
            "/admin/users",
            Some("{nope"),
            400,
            "invalid JSON body",
        ),
        (
            "POST",
            "/admin/users",
            Some("[]"),
            400,
            "body must be a JSON object",
        ),
        (
            "POST",
            "/admin/users",
            Some(r#"{"username":"a","email":"b","id":3}"#),
            400,
            "unknown field: id",
        ),
        (
            "POST",
            "/admin/users",
            Some(r#"{"username":1,"email":"b"}"#),
            400,
            "username must be a string",
        ),
        (
            "POST",
            "/admin/users",
            Some(r#"{"username":"","email":"b"}"#),
            400,
            "username must not be empty",
        ),
        (
            "POST",
            "/admin/users",
            Some(r#"{"email":"b"}"#),
            400,
            "username is required",
        ),
        (
            "POST",
            "/admin/users",
            Some(r#"{"username":"b"}"#),
            400,
            "email is required",
        ),
        (
            "POST",
            "/admin/users",
            Some(r#"{"username":"test 2","email":"b"}"#),
            400,
            "username already exists",
        ),
        ("GET", "/admin/users", None, 405, "method not allowed"),
        (
            "PUT",
            "/admin/users/1",
            Some("{}"),
            405,
            "method not allowed",
        ),
        ("GET", "/admin/users/9999", None, 404, "user 9999 not found"),
        ("GET", "/admin/users/01", None, 404, "user 01 not found"),
        ("GET", "/admin/users/abc", None, 404, "user abc not found"),
        (
            "PATCH",
            "/admin/users/9999",
            Some("{nope"),
            404,
            "user 9999 not found",
        ),
        (
            "PATCH",
            "/admin/users/1",
            Some(r#"{"password":"x"}"#),
            400,
            "unknown field: password",
        ),
        (
            "PATCH",
            "/admin/users/1",
            Some(r#"{"username":"test 2"}"#),
            400,
            "username already exists",
        ),
        ("GET", "/nowhere", None, 404, "not found"),
    ];
    for (method, path, body, status, error) in cases {
        let response = admin.raw(method, path, body).await;
        assert_eq!(
            response.status, status,
            "{method} {path} {body:?}: {}",
            response.body
        );
        assert_eq!(
            response.json(),
            json!({"error": error}),
            "{method} {path} {body:?}"
        );
    }
    let deleted = admin.delete(4).await;
    assert_eq!((deleted.status, deleted.body.as_str()), (204, ""));
    assert_eq!(admin.delete(4).await.status, 404);
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_upgrade_to_an_unknown_path_is_refused() {
    let server = start_default().await;
    let result = common::within(
        "connect",
        tokio_tungstenite::connect_async(format!("ws://{}/ws/nope/", server.local_addr())),
    )
    .await;
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("expected HTTP 404, got {other:?}"),
    }
    server.shutdown().await;
}
