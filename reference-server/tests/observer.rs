//! The seed consumer at /ws/ (SPEC §3 to §5, §7), frame by frame.

mod common;

use common::{Admin, Client, Transcript, start_default};
use serde_json::json;

#[tokio::test]
async fn retrieve_existing_missing_and_cast_pks() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    a.send(r#"{"action":"retrieve","request_id":1550050,"pk":1}"#)
        .await;
    let reply = a.recv().await;
    assert_eq!(
        reply.to_string(),
        r#"{"errors":[],"data":{"id":1,"username":"test 1","email":"1@example.com"},"action":"retrieve","response_status":200,"request_id":1550050}"#,
        "key order and content as DCRF"
    );
    a.send(r#"{"action":"retrieve","request_id":2,"pk":9999}"#)
        .await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":["Not found"],"data":null,"action":"retrieve","response_status":404,"request_id":2}"#
    );
    // Django casts the lookup with int() (observed 1.6).
    for (pk, found) in [
        (json!("1"), true),
        (json!(" 1"), true),
        (json!("01"), true),
        (json!(1.5), true),
        (json!(true), true),
        (json!(false), false),
        (json!("abc"), false),
        (json!(null), false),
        (json!([1]), false),
        (json!(0), false),
    ] {
        a.send_json(json!({"action": "retrieve", "request_id": 6, "pk": pk}))
            .await;
        let reply = a.recv().await;
        assert_eq!(
            reply["response_status"],
            if found { 200 } else { 404 },
            "pk {pk}"
        );
    }
    a.send(r#"{"action":"retrieve","request_id":6,"pk":18446744073709551617}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 404);
    a.send(r#"{"action":"retrieve","pk":1}"#).await;
    assert!(a.recv().await["request_id"].is_null());
    a.silence().await;
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn request_ids_are_echoed_exactly() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    for request_id in [
        "7",
        r#""12345678-1234-5678-1234-567812345678""#,
        "9007199254740993",
        "18446744073709551617",
        "1.5",
        "1.0",
        "1e2",
        "0.1000000000000000055511151231257827",
        "-42",
        "-0",
        "null",
        "true",
        r#""""#,
        r#""h\u00e9llo \ud83d\ude00""#,
        r#"{"b":1,"a":[1,2]}"#,
        r#"[1,"two",null]"#,
    ] {
        a.send(&format!(
            r#"{{"action":"retrieve","request_id":{request_id},"pk":1}}"#
        ))
        .await;
        let text = a.recv_text().await;
        let expected: serde_json::Value = serde_json::from_str(request_id).unwrap();
        assert!(
            text.ends_with(&format!(r#""request_id":{}}}"#, expected)),
            "{request_id} echoed as {text}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn subscribe_update_and_delete_events() {
    let server = start_default().await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    a.send(r#"{"action":"subscribe_instance","request_id":100,"pk":1}"#)
        .await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":null,"action":"subscribe_instance","response_status":201,"request_id":100}"#
    );
    a.silence().await;
    admin.update(1, Some("edited user name"), None).await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":{"id":1,"username":"edited user name","email":"1@example.com"},"action":"update","response_status":200,"request_id":100}"#
    );
    // A save without change still fires (observed 2.2).
    admin.update(1, None, None).await;
    assert_eq!(a.recv().await["action"], "update");
    // Other instances do not concern this socket (observed 2.7).
    admin.update(2, None, Some("x@example.com")).await;
    admin.create("newcomer", "n@example.com").await;
    a.silence().await;
    admin.delete(1).await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":{"pk":1},"action":"delete","response_status":204,"request_id":100}"#
    );
    a.silence().await;
    a.send(r#"{"action":"retrieve","request_id":41,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 404);
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn subscribe_missing_pk_and_string_pk() {
    let server = start_default().await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    a.send(r#"{"action":"subscribe_instance","request_id":102,"pk":9999}"#)
        .await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":["Not found"],"data":null,"action":"subscribe_instance","response_status":404,"request_id":102}"#
    );
    a.send(r#"{"action":"subscribe_instance","request_id":103,"pk":"2"}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 201);
    admin.update(2, None, Some("pkstr@example.com")).await;
    assert_eq!(a.recv().await["request_id"], 103);
    a.silence().await;
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn fan_out_follows_dcrf_sets() {
    let server = start_default().await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    let mut b = Client::connect(&server, "/ws/", "B", &t).await;
    let mut full = Client::connect(&server, "/ws/full/", "C", &t).await;
    // Two request_ids on A, one twice; 1 and 1.0 are one set member, "1" another.
    for request_id in ["11", "12", "11", "1", "1.0", r#""1""#] {
        a.send(&format!(
            r#"{{"action":"subscribe_instance","request_id":{request_id},"pk":3}}"#
        ))
        .await;
        assert_eq!(a.recv().await["response_status"], 201);
    }
    b.send(r#"{"action":"subscribe_instance","request_id":15,"pk":3}"#)
        .await;
    assert_eq!(b.recv().await["response_status"], 201);
    full.send(r#"{"action":"subscribe_instance","request_id":18,"pk":3}"#)
        .await;
    assert_eq!(full.recv().await["response_status"], 201);
    admin.update(3, None, Some("fan@example.com")).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let event = a.recv().await;
        assert_eq!(event["data"]["email"], "fan@example.com");
        ids.push(event["request_id"].to_string());
    }
    assert_eq!(
        ids,
        ["11", "12", "1", "\"1\""],
        "one event per distinct request_id, in subscription order"
    );
    a.silence().await;
    assert_eq!(b.recv().await["request_id"], 15);
    b.silence().await;
    assert_eq!(full.recv().await["request_id"], 18);
    full.silence().await;
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn unsubscribe_cancels_one_request_id_or_all_of_the_instance() {
    let server = start_default().await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    for (request_id, pk) in [(23, 1), (24, 1), (25, 1), (25, 2)] {
        a.send_json(json!({"action": "subscribe_instance", "request_id": request_id, "pk": pk}))
            .await;
        assert_eq!(a.recv().await["response_status"], 201);
    }
    // With a request_id: only (A, 23) on pk 1 is cancelled (SPEC §5.4.3, observed 4.3).
    a.send(r#"{"action":"unsubscribe_instance","request_id":23,"pk":1}"#)
        .await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":null,"action":"unsubscribe_instance","response_status":204,"request_id":23}"#
    );
    admin.update(1, None, Some("one@example.com")).await;
    assert_eq!(a.recv().await["request_id"], 24);
    assert_eq!(a.recv().await["request_id"], 25);
    a.silence().await;
    // Unsubscribing 25 from pk 1 leaves its subscription to pk 2 (SPEC §5.4.4).
    a.send(r#"{"action":"unsubscribe_instance","request_id":25,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 204);
    admin.update(2, None, Some("kept@example.com")).await;
    assert_eq!(a.recv().await["request_id"], 25);
    a.silence().await;
    // Without request_id: every subscription of the socket to the instance (SPEC §5.4.2).
    a.send(r#"{"action":"unsubscribe_instance","pk":1}"#).await;
    assert_eq!(
        a.recv().await.to_string(),
        r#"{"errors":[],"data":null,"action":"unsubscribe_instance","response_status":204,"request_id":null}"#
    );
    admin.update(1, None, Some("gone@example.com")).await;
    a.silence().await;
    // Never subscribed: still 204; missing: 404.
    a.send(r#"{"action":"unsubscribe_instance","request_id":26,"pk":3}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 204);
    a.send(r#"{"action":"unsubscribe_instance","request_id":27,"pk":9999}"#)
        .await;
    assert_eq!(a.recv().await["errors"], json!(["Not found"]));
    // Resubscribe works.
    a.send(r#"{"action":"subscribe_instance","request_id":29,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 201);
    admin.update(1, None, Some("back@example.com")).await;
    assert_eq!(a.recv().await["request_id"], 29);
    a.silence().await;
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_and_missing_actions() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    for frame in [
        r#"{"action":"foo","request_id":50}"#,
        r#"{"action":42,"request_id":51}"#,
        r#"{"action":null,"request_id":52}"#,
        r#"{"action":"","request_id":53}"#,
        r#"{"action":"RETRIEVE","request_id":54,"pk":1}"#,
        r#"{"action":true,"request_id":57}"#,
        r#"{"action":"list","request_id":59}"#,
        r#"{"action":"update","request_id":59,"pk":1,"data":{}}"#,
        r#"{"request_id":60,"pk":1}"#,
        r#"{"pk":1}"#,
        r#"{}"#,
    ] {
        a.send(frame).await;
        let reply = a.recv().await;
        assert_eq!(reply["response_status"], 405, "{frame}");
    }
    a.send(r#"{"action":"retrieve","request_id":99,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 200);
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_input_gets_a_400_and_the_socket_stays_open() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    for frame in [
        r#"{"action":"retrieve","request_id":5}"#,
        r#"{"action":"subscribe_instance","pk":1}"#,
        r#"{"action":"subscribe_instance","pk":1,"request_id":null}"#,
        r#"{"action":"subscribe_instance","pk":1,"request_id":{"a":1}}"#,
        r#"{"action":"subscribe_instance","pk":1,"request_id":[1,2]}"#,
        r#"{"action":"subscribe_instance","request_id":104}"#,
        r#"{"action":"unsubscribe_instance","request_id":28}"#,
        r#"{"action":["retrieve"],"request_id":55}"#,
        r#"{"action":{"a":1},"request_id":56}"#,
        r#"[1,2]"#,
        r#""x""#,
        r#"42"#,
        r#"null"#,
        r#"{"action": "retrieve", "#,
        "",
        r#"{"action":"retrieve","request_id":NaN,"pk":1}"#,
    ] {
        a.send(frame).await;
        let reply = a.recv().await;
        assert_eq!(reply["response_status"], 400, "{frame}");
        assert!(reply["data"].is_null());
    }
    a.send_binary(br#"{"action":"retrieve","request_id":61,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 400);
    // Extra keys, duplicate keys (last wins) and unusual key order are fine.
    a.send(r#"{"action":"retrieve","request_id":130,"pk":1,"extra":1,"errors":"x","self":1,"data":{"x":1}}"#).await;
    assert_eq!(a.recv().await["response_status"], 200);
    a.send(r#"{"action":"foo","action":"retrieve","request_id":62,"pk":1}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 200);
    a.send(r#"{"pk":1,"request_id":131,"action":"retrieve"}"#)
        .await;
    assert_eq!(a.recv().await["response_status"], 200);
    insta::assert_json_snapshot!(t.take());
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    let server = start_default().await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    let big = format!(
        r#"{{"action":"retrieve","request_id":1,"pk":1,"pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    common::within("send", async {
        a.send(&big).await;
    })
    .await;
    let (code, reason) = a.recv_close().await;
    assert_eq!(code, 1009);
    assert!(reason.contains("1048576"), "{reason}");
    server.shutdown().await;
}

#[tokio::test]
async fn closing_drops_the_subscriptions() {
    let server = start_default().await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    a.send(r#"{"action":"subscribe_instance","request_id":1,"pk":1}"#)
        .await;
    a.recv().await;
    assert_eq!(server.subscription_count(), 1);
    a.close().await;
    common::within("subscriptions dropped", async {
        while server.subscription_count() != 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    admin.update(1, None, None).await;
    let mut b = Client::connect(&server, "/ws/", "B", &t).await;
    b.silence().await;
    server.shutdown().await;
}

/// Pipelined requests (more than one flush batch of them, sent without waiting) get every
/// reply, in request order, and the last reply does not wait for a request still to come:
/// the server flushes once no further request is readable (SPEC §4.3.2).
#[tokio::test]
async fn pipelined_retrieves_are_answered_in_order_and_flushed() {
    let server = start_default().await;
    let transcript = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "a", &transcript).await;
    const REQUESTS: u64 = 600;
    for n in 0..REQUESTS {
        a.send(&format!(
            r#"{{"action":"retrieve","request_id":{n},"pk":1}}"#
        ))
        .await;
    }
    for n in 0..REQUESTS {
        let reply = a.recv().await;
        assert_eq!(reply["request_id"], json!(n));
        assert_eq!(reply["response_status"], json!(200));
    }
    a.silence().await;
    a.close().await;
    server.shutdown().await;
}
