//! The full consumer at /ws/full/ (SPEC §6) and the multiplexed endpoint (SPEC §8).

mod common;

use common::{Admin, Client, Transcript, start_default};
use serde_json::json;

#[tokio::test]
async fn list_create_update_patch_delete() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/full/", "A", &t).await;
    a.send(r#"{"action":"list","request_id":70}"#).await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":[{"id":1,"username":"test 1","email":"1@example.com"},{"id":2,"username":"test 2","email":"2@example.com"},{"id":3,"username":"test 3","email":"3@example.com"}],"action":"list","response_status":200,"request_id":70}"#
    );
    a.send(r#"{"action":"create","request_id":72,"data":{"username":"ws_created","email":"c@example.com","password":"pw"}}"#).await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":{"id":4,"username":"ws_created","email":"c@example.com"},"action":"create","response_status":201,"request_id":72}"#
    );
    a.send(r#"{"action":"create","request_id":73,"data":{"username":12345,"email":"c8@example.com","password":"pw"}}"#).await;
    assert_eq!(
        a.recv().await["data"],
        json!({"id": 5, "username": "12345", "email": "c8@example.com"})
    );
    a.send(r#"{"action":"update","request_id":75,"pk":4,"data":{"username":"renamed","email":"upd@example.com","password":"pw2"}}"#).await;
    assert_eq!(
        a.recv().await["data"],
        json!({"id": 4, "username": "renamed", "email": "upd@example.com"})
    );
    a.send(r#"{"action":"patch","request_id":80,"pk":4,"data":{"email":"patched@example.com"}}"#)
        .await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":{"id":4,"username":"renamed","email":"patched@example.com"},"action":"patch","response_status":200,"request_id":80}"#
    );
    a.send(r#"{"action":"patch","request_id":84,"pk":4,"data":{}}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 200);
    a.send(r#"{"action":"delete","request_id":86,"pk":4}"#)
        .await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":null,"action":"delete","response_status":204,"request_id":86}"#
    );
    for frame in [
        r#"{"action":"delete","request_id":87,"pk":4}"#,
        r#"{"action":"update","request_id":77,"pk":9999,"data":{"username":"x","email":"x@example.com","password":"pw"}}"#,
        r#"{"action":"patch","request_id":83,"pk":9999,"data":{"email":"x@example.com"}}"#,
    ] {
        a.send(frame).await;
        assert_eq!(a.recv().await["errors"], json!(["Not found"]), "{frame}");
    }
    // New pks are never reused.
    a.send(r#"{"action":"create","request_id":88,"data":{"username":"after","email":"a@example.com","password":"pw"}}"#).await;
    assert_eq!(a.recv().await["data"]["id"], 6);
    a.silence().await;
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn validation_errors_as_drf() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/full/", "A", &t).await;
    let cases = [
        (
            json!({"username": "ws created", "email": "c@example.com", "password": "pw"}),
            json!([{"username": ["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}]),
        ),
        (
            json!({"email": "c2@example.com", "password": "pw"}),
            json!([{"username": ["This field is required."]}]),
        ),
        (
            json!({"username": "test 2", "email": "c3@example.com", "password": "pw"}),
            json!([{"username": ["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.", "A user with that username already exists."]}]),
        ),
        (
            json!({"username": "nopw", "email": "c4@example.com"}),
            json!([{"password": ["This field is required."]}]),
        ),
        (
            json!({"username": "bademail", "email": "not an email", "password": "pw"}),
            json!([{"email": ["Enter a valid email address."]}]),
        ),
        (
            json!({"username": "", "email": "c6@example.com", "password": "pw"}),
            json!([{"username": ["This field may not be blank."]}]),
        ),
        (
            json!({"username": "u".repeat(151), "email": "c7@example.com", "password": "pw"}),
            json!([{"username": ["Ensure this field has no more than 150 characters."]}]),
        ),
        (
            json!({}),
            json!([{"username": ["This field is required."], "password": ["This field is required."]}]),
        ),
        (
            json!("x"),
            json!([{"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}]),
        ),
        (
            json!(null),
            json!([{"non_field_errors": ["No data provided"]}]),
        ),
    ];
    for (data, errors) in cases {
        a.send_json(json!({"action": "create", "request_id": 73, "data": data}))
            .await;
        let reply = a.recv().await;
        assert_eq!(reply["response_status"], 400, "{data}");
        assert_eq!(reply["errors"], errors, "{data}");
        assert!(reply["data"].is_null());
    }
    a.send(r#"{"action":"create","request_id":73,"data":{"username":"taken","email":"t@example.com","password":"pw"}}"#).await;
    assert_eq!(a.recv().await["response_status"], 201);
    a.send(r#"{"action":"create","request_id":73,"data":{"username":"taken","email":"t@example.com","password":"pw"}}"#).await;
    assert_eq!(
        a.recv().await["errors"],
        json!([{"username": ["A user with that username already exists."]}])
    );
    a.send(r#"{"action":"update","request_id":76,"pk":4,"data":{"username":"upd renamed again"}}"#)
        .await;
    assert_eq!(
        a.recv().await["errors"],
        json!([{"username": ["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."], "password": ["This field is required."]}])
    );
    a.send(r#"{"action":"patch","request_id":81,"pk":4,"data":{"email":"nope"}}"#)
        .await;
    assert_eq!(
        a.recv().await["errors"],
        json!([{"email": ["Enter a valid email address."]}])
    );
    // Keeping one's own username is not a duplicate.
    a.send(r#"{"action":"patch","request_id":82,"pk":4,"data":{"username":"taken"}}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 200);
    // DCRF closes with 1011 here (SPEC §10.7); the reference server creates the user with an
    // empty email, the model's default.
    a.send_json(json!({"action": "create", "request_id": 74, "data": {"username": "email_left_out", "password": "pw"}}))
        .await;
    let reply = a.recv().await;
    assert_eq!(reply["response_status"], 201, "{reply}");
    assert_eq!(reply["data"]["email"], "", "{reply}");
    // Missing arguments: 400 (DCRF closes with 1011).
    for frame in [
        r#"{"action":"create","request_id":74}"#,
        r#"{"action":"update","request_id":78,"data":{"username":"x"}}"#,
        r#"{"action":"patch","request_id":85,"pk":4}"#,
    ] {
        a.send(frame).await;
        assert_eq!(a.recv().await["response_status"], 400, "{frame}");
    }
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn changes_on_one_socket_reach_subscribers_on_others() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    let mut b = Client::connect(&server, "/ws/full/", "B", &t).await;
    a.send(r#"{"action":"subscribe_instance","request_id":90,"pk":2}"#)
        .await;
    a.recv().await;
    b.send(r#"{"action":"subscribe_instance","request_id":93,"pk":2}"#)
        .await;
    b.recv().await;
    b.send(r#"{"action":"patch","request_id":94,"pk":2,"data":{"email":"cross@example.com"}}"#)
        .await;
    // Reply then event on B (as DCRF, observed 8.10); the event on A.
    assert_eq!(b.recv().await["request_id"], 94);
    let event = b.recv().await;
    assert_eq!(
        (event["action"].as_str(), event["request_id"].as_i64()),
        (Some("update"), Some(93))
    );
    let event = a.recv().await;
    assert_eq!(event["data"]["email"], "cross@example.com");
    b.send(r#"{"action":"delete","request_id":95,"pk":2}"#)
        .await;
    assert_eq!(b.recv().await["data"], serde_json::Value::Null);
    assert_eq!(b.recv().await["data"], json!({"pk": 2}));
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":{"pk":2},"action":"delete","response_status":204,"request_id":90}"#
    );
    a.silence().await;
    b.silence().await;
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn multiplexed_envelope() {
    let server = start_default().await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let mut a = Client::connect(&server, "/ws/multiplexed/", "A", &t).await;
    a.send(r#"{"stream":"users","payload":{"action":"retrieve","request_id":110,"pk":1}}"#)
        .await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"stream":"users","payload":{"errors":[],"data":{"id":1,"username":"test 1","email":"1@example.com"},"action":"retrieve","response_status":200,"request_id":110}}"#
    );
    a.send(
        r#"{"stream":"users","payload":{"action":"subscribe_instance","request_id":111,"pk":1}}"#,
    )
    .await;
    assert_eq!(a.recv().await["payload"]["response_status"], 201);
    admin.update(1, Some("mux changed"), None).await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"stream":"users","payload":{"errors":[],"data":{"id":1,"username":"mux changed","email":"1@example.com"},"action":"update","response_status":200,"request_id":111}}"#
    );
    admin.delete(1).await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"stream":"users","payload":{"errors":[],"data":{"pk":1},"action":"delete","response_status":204,"request_id":111}}"#
    );
    for (frame, status) in [
        (
            r#"{"stream":"users","payload":{"action":"retrieve","request_id":112,"pk":9999}}"#,
            404,
        ),
        (
            r#"{"stream":"users","payload":{"action":"foo","request_id":113}}"#,
            405,
        ),
        (r#"{"stream":"users","payload":{"request_id":114}}"#, 405),
        (
            r#"{"stream":"users","payload":{"action":"list","request_id":115}}"#,
            200,
        ),
        (
            r#"{"stream":"users","payload":{"action":"retrieve","request_id":124,"pk":2},"extra":1}"#,
            200,
        ),
        (
            r#"{"stream":"nope","payload":{"action":"retrieve","request_id":120,"pk":1}}"#,
            404,
        ),
        (r#"{"stream":"users"}"#, 400),
        (r#"{"stream":"users","payload":"x"}"#, 400),
        (r#"{"stream":"users","payload":null}"#, 400),
        (
            r#"{"stream":"users","payload":{"action":"retrieve","request_id":123}}"#,
            400,
        ),
    ] {
        a.send(frame).await;
        let reply = a.recv().await;
        assert!(reply["stream"].is_string(), "{frame}");
        assert_eq!(reply["payload"]["response_status"], status, "{frame}");
    }
    // Without a usable stream the error cannot be wrapped: a bare error reply.
    for frame in [
        r#"{"payload":{"action":"retrieve","request_id":121,"pk":1}}"#,
        r#"{"action":"retrieve","request_id":122,"pk":1}"#,
        r#"[1,2]"#,
        r#"{nope"#,
    ] {
        a.send(frame).await;
        assert_eq!(a.recv().await["response_status"], 400, "{frame}");
    }
    a.silence().await;
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}
