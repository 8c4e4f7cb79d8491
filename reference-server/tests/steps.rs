//! `POST /admin/steps` (interop/dcrf/users/views.py `steps()`, PROFILE-NOTES 7 and 9):
//! its answers, the transaction (events at the commit, none after a rollback or a failing
//! step) and the re-creation of a deleted pk under both profiles.

mod common;

use common::{Admin, Client, Transcript, start, within};
use dcrf_reference_server::{AdminClient, AdminResponse, Config, Profile, ServerHandle};
use serde_json::{Value, json};

fn dcrf() -> Config {
    Config {
        profile: Profile::Dcrf130,
        ..Config::default()
    }
}

async fn steps(server: &ServerHandle, body: Value) -> AdminResponse {
    let client = AdminClient::new(&server.http_url()).expect("admin url");
    within(
        "POST /admin/steps",
        client.request("POST", "/admin/steps", Some(&body)),
    )
    .await
    .expect("admin request")
}

async fn subscribe(client: &mut Client, pk: i64, request_id: i64) {
    client
        .send_json(json!({"action": "subscribe_instance", "request_id": request_id, "pk": pk}))
        .await;
    assert_eq!(client.recv().await["response_status"], 201);
}

fn user(pk: i64, username: &str, email: &str) -> Value {
    json!({"id": pk, "username": username, "email": email})
}

#[tokio::test]
async fn bad_bodies_and_failing_steps_answer_as_views_py() {
    let server = start(dcrf()).await;
    let t = Transcript::default();
    let admin = Admin::new(&server, &t);
    let get = admin.raw("GET", "/admin/steps", None).await;
    assert_eq!(get.status, 405, "{}", get.body);
    let invalid = admin.raw("POST", "/admin/steps", Some("{")).await;
    assert_eq!(
        (invalid.status, invalid.json()),
        (400, json!({"error": "invalid JSON body"}))
    );
    for (body, error) in [
        (
            json!({"atomic": true}),
            r#"body must be {"atomic": bool, "steps": [...]}"#,
        ),
        (
            json!({"steps": [{"op": "truncate"}]}),
            "bad step: {'op': 'truncate'}",
        ),
        (
            json!({"steps": [{"op": "insert", "pk": 9, "set": {"is_staff": true}}]}),
            "unknown field: is_staff",
        ),
        (
            json!({"steps": [{"op": "fetch", "as": "a", "pk": 99}]}),
            "step 0 failed: DoesNotExist: User matching query does not exist.",
        ),
    ] {
        let response = steps(&server, body.clone()).await;
        assert_eq!(
            (response.status, response.json()),
            (400, json!({"error": error})),
            "{body}"
        );
    }
    // A failing step of a transaction keeps nothing of the steps before it.
    let response = steps(
        &server,
        json!({"atomic": true, "steps": [
            {"op": "fetch", "as": "a", "pk": 1},
            {"op": "save", "obj": "a", "set": {"email": "kept?@example.com"}},
            {"op": "insert", "pk": 2},
        ]}),
    )
    .await;
    assert_eq!(
        response.json(),
        json!({"error": "step 2 failed: IntegrityError: UNIQUE constraint failed: auth_user.id"})
    );
    let client = AdminClient::new(&server.http_url()).expect("admin url");
    let one = within("get", client.get(1)).await.expect("user 1");
    assert_eq!(one, user(1, "test 1", "1@example.com"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_transaction_sends_its_events_at_the_commit_and_a_rollback_none() {
    for (config, strict) in [(dcrf(), false), (Config::strict(), true)] {
        let server = start(config).await;
        let t = Transcript::default();
        let mut a = Client::connect(&server, "/ws/", "A", &t).await;
        subscribe(&mut a, 1, 300).await;
        // Rolled back: nothing, and the row is unchanged.
        let response = steps(
            &server,
            json!({"atomic": true, "rollback": true, "steps": [
                {"op": "fetch", "as": "a", "pk": 1},
                {"op": "save", "obj": "a", "set": {"email": "rolled@back"}},
            ]}),
        )
        .await;
        assert_eq!(
            response.json(),
            json!({"results": [{"op": "fetch", "as": "a"}, {"op": "save", "obj": "a", "pk": 1}], "committed": false})
        );
        a.silence().await;
        // One object saved three times: one event, with the committed state.
        let response = steps(
            &server,
            json!({"atomic": true, "steps": [
                {"op": "fetch", "as": "a", "pk": 1},
                {"op": "save", "obj": "a", "set": {"email": "e1@x"}},
                {"op": "save", "obj": "a", "set": {"email": "e2@x"}},
                {"op": "save", "obj": "a", "set": {"email": "e3@x"}},
            ]}),
        )
        .await;
        assert_eq!(response.json()["committed"], true);
        let event = a.recv().await;
        assert_eq!(event["data"], user(1, "test 1", "e3@x"));
        assert_eq!(event["action"], "update");
        a.silence().await;
        // Two objects of the row: two events, the last with the committed state.
        steps(
            &server,
            json!({"atomic": true, "steps": [
                {"op": "fetch", "as": "a", "pk": 1},
                {"op": "fetch", "as": "b", "pk": 1},
                {"op": "save", "obj": "a", "set": {"email": "a@x"}},
                {"op": "save", "obj": "b", "set": {"email": "b@x"}},
            ]}),
        )
        .await;
        // DCRF re-reads both after the commit; strict sends each row as saved.
        let first = if strict { "a@x" } else { "b@x" };
        assert_eq!(a.recv().await["data"], user(1, "test 1", first));
        assert_eq!(a.recv().await["data"], user(1, "test 1", "b@x"));
        a.silence().await;
        server.shutdown().await;
    }
}

#[tokio::test]
async fn an_update_and_a_delete_in_one_transaction() {
    // F6.7: object a saved, object b of the same row deleted. DCRF renders a's update
    // after the commit: the 404 form; strict sends the state as of the save.
    for (config, strict) in [(dcrf(), false), (Config::strict(), true)] {
        let server = start(config).await;
        let t = Transcript::default();
        let mut a = Client::connect(&server, "/ws/", "A", &t).await;
        subscribe(&mut a, 2, 900).await;
        steps(
            &server,
            json!({"atomic": true, "steps": [
                {"op": "fetch", "as": "a", "pk": 2},
                {"op": "fetch", "as": "b", "pk": 2},
                {"op": "save", "obj": "a", "set": {"email": "f67@x"}},
                {"op": "delete", "obj": "b"},
            ]}),
        )
        .await;
        let update = a.recv_text().await;
        if strict {
            let update: Value = serde_json::from_str(&update).expect("JSON");
            assert_eq!(update["data"], user(2, "test 2", "f67@x"));
            assert_eq!(update["response_status"], 200);
        } else {
            assert_eq!(
                update,
                r#"{"errors": ["Not found"], "data": null, "action": "update", "response_status": 404, "request_id": 900}"#
            );
        }
        let delete = a.recv().await;
        assert_eq!(
            (delete["action"].clone(), delete["data"].clone()),
            (json!("delete"), json!({"pk": 2}))
        );
        a.silence().await;
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_re_created_pk_reaches_the_lingering_subscription_in_dcrf_only() {
    for (config, lingering) in [(dcrf(), true), (Config::strict(), false)] {
        let server = start(config).await;
        let t = Transcript::default();
        let admin = Admin::new(&server, &t);
        let mut a = Client::connect(&server, "/ws/", "A", &t).await;
        subscribe(&mut a, 3, 200).await;
        assert_eq!(admin.delete(3).await.status, 204);
        assert_eq!(a.recv().await["action"], "delete");
        let response = steps(
            &server,
            json!({"atomic": false, "steps": [
                {"op": "insert", "pk": 3, "set": {"username": "reborn", "email": "r@x"}},
            ]}),
        )
        .await;
        assert_eq!(
            response.json(),
            json!({"results": [{"op": "insert", "pk": 3}], "committed": true})
        );
        if lingering {
            assert_eq!(
                a.recv_text().await,
                r#"{"errors": [], "data": {"id": 3, "username": "reborn", "email": "r@x"}, "action": "create", "response_status": 200, "request_id": 200}"#
            );
            admin.update(3, None, Some("later@x")).await;
            assert_eq!(a.recv().await["action"], "update");
        }
        a.silence().await;
        // The counter of new pks passed the explicit one: the next user is 4.
        assert_eq!(admin.create("next", "n@x").await["id"], 4);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_stale_object_saved_after_the_delete_is_a_create() {
    // F1.2, autocommit: the delete's event, then Django's re-INSERT as a create.
    let server = start(dcrf()).await;
    let t = Transcript::default();
    let mut a = Client::connect(&server, "/ws/", "A", &t).await;
    subscribe(&mut a, 2, 201).await;
    steps(
        &server,
        json!({"atomic": false, "steps": [
            {"op": "fetch", "as": "a", "pk": 2},
            {"op": "fetch", "as": "b", "pk": 2},
            {"op": "delete", "obj": "b"},
            {"op": "save", "obj": "a", "set": {"email": "stale@x"}},
        ]}),
    )
    .await;
    assert_eq!(a.recv().await["action"], "delete");
    let create = a.recv().await;
    assert_eq!(
        (create["action"].clone(), create["data"].clone()),
        (json!("create"), user(2, "test 2", "stale@x"))
    );
    a.silence().await;
    server.shutdown().await;
}
