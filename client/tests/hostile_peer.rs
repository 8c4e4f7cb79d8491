//! The client against a scripted peer: handshake headers, garbage frames, malformed replies
//! and events, silence. Nothing the peer sends makes the client panic or hang.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{User, next, within};
use dcrf_client::{Client, Error, Event};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

type Peer = WebSocketStream<tokio::net::TcpStream>;

#[allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's
fn keep_headers(
    keep: &Mutex<Vec<(String, String)>>,
    request: &Request,
    response: Response,
) -> Result<Response, tokio_tungstenite::tungstenite::handshake::server::ErrorResponse> {
    let mut keep = keep.lock().unwrap();
    for (name, value) in request.headers() {
        keep.push((
            name.as_str().to_owned(),
            value.to_str().unwrap_or("").to_owned(),
        ));
    }
    Ok(response)
}

/// Accepts one WebSocket; returns its URL and a receiver of (headers seen, socket).
async fn one_peer() -> (
    String,
    tokio::sync::oneshot::Receiver<(Vec<(String, String)>, Peer)>,
) {
    let listener = within("bind", TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind");
    let url = format!("ws://{}/ws/", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&seen);
        #[allow(clippy::result_large_err)] // tungstenite's callback signature
        let callback =
            move |request: &Request, response: Response| keep_headers(&keep, request, response);
        let socket = tokio_tungstenite::accept_hdr_async(stream, callback)
            .await
            .expect("handshake");
        let headers = seen.lock().unwrap().clone();
        let _ = tx.send((headers, socket));
    });
    (url, rx)
}

async fn recv(peer: &mut Peer) -> Value {
    loop {
        match within("peer receives", peer.next()).await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).expect("JSON");
            }
            Some(Ok(_)) => continue,
            other => panic!("peer: connection ended: {other:?}"),
        }
    }
}

async fn send(peer: &mut Peer, frame: impl Into<String>) {
    within("peer sends", peer.send(Message::text(frame.into())))
        .await
        .expect("send");
}

#[tokio::test]
async fn handshake_headers_are_sent() {
    let (url, peer) = one_peer().await;
    let client = within(
        "connect",
        Client::builder(url)
            .header("Authorization", "Token abc")
            .header("Cookie", "sessionid=xyz")
            .header("Origin", "http://localhost:8000")
            .connect(),
    )
    .await
    .expect("connect");
    let (headers, _peer) = within("peer", peer).await.expect("peer");
    for (name, value) in [
        ("authorization", "Token abc"),
        ("cookie", "sessionid=xyz"),
        ("origin", "http://localhost:8000"),
    ] {
        assert!(
            headers.iter().any(|(n, v)| n == name && v == value),
            "{name} missing from {headers:?}"
        );
    }
    drop(client);

    let bad = Client::builder("ws://127.0.0.1:1/ws/")
        .header("Bad Name", "x")
        .connect()
        .await;
    assert!(matches!(bad, Err(Error::InvalidHeader { name }) if name == "Bad Name"));
    let bad = Client::builder("http://127.0.0.1:1/ws/").connect().await;
    assert!(matches!(bad, Err(Error::InvalidUrl { .. })));
}

#[tokio::test]
async fn garbage_is_dropped_and_malformed_replies_are_errors() {
    let (url, peer) = one_peer().await;
    let client = within("connect", Client::connect(url))
        .await
        .expect("connect");
    let (_, mut peer) = within("peer", peer).await.expect("peer");

    let script = tokio::spawn(async move {
        let mut ids = Vec::new();
        // 1: a retrieve answered by garbage, then a reply missing keys.
        let request = recv(&mut peer).await;
        assert_eq!(request["action"], "retrieve");
        assert_eq!(request["pk"], 1);
        let id = request["request_id"].clone();
        ids.push(id.clone());
        for frame in [
            "not json".to_owned(),
            "[1, 2]".to_owned(),
            "null".to_owned(),
            r#"{"stream": "users", "payload": {}}"#.to_owned(),
            json!({"errors": [], "data": null, "action": "update", "response_status": 200, "request_id": 999}).to_string(),
            json!({"errors": [], "data": null, "action": "retrieve", "response_status": 200, "request_id": "1"}).to_string(),
        ] {
            send(&mut peer, frame).await;
        }
        within("binary", peer.send(Message::binary(vec![0xff, 0x00])))
            .await
            .expect("send");
        send(&mut peer, json!({"data": 1, "request_id": id}).to_string()).await;

        // 2: a well-formed reply.
        let request = recv(&mut peer).await;
        let id = request["request_id"].clone();
        ids.push(id.clone());
        send(
            &mut peer,
            json!({"errors": [], "data": {"id": 1, "username": "u", "email": "e"}, "action": "retrieve", "response_status": 200, "request_id": id}).to_string(),
        )
        .await;

        // 3: a subscription, then events good and bad.
        let request = recv(&mut peer).await;
        assert_eq!(request["action"], "subscribe_instance");
        let sid = request["request_id"].clone();
        ids.push(sid.clone());
        let event = |action: &str, status: u16, data: Value, errors: Value| {
            json!({"errors": errors, "data": data, "action": action, "response_status": status, "request_id": sid}).to_string()
        };
        send(
            &mut peer,
            event("subscribe_instance", 201, Value::Null, json!([])),
        )
        .await;
        send(
            &mut peer,
            event("update", 200, json!("not a user"), json!([])),
        )
        .await;
        send(
            &mut peer,
            event(
                "update",
                200,
                json!({"id": 1, "username": "v", "email": "e"}),
                json!([]),
            ),
        )
        .await;
        send(&mut peer, event("surprise", 200, Value::Null, json!([]))).await;
        send(
            &mut peer,
            event("update", 404, Value::Null, json!(["Not found"])),
        )
        .await;
        send(
            &mut peer,
            json!({"action": "update", "request_id": sid}).to_string(),
        )
        .await;
        send(&mut peer, event("delete", 204, json!({"pk": 1}), json!([]))).await;
        send(
            &mut peer,
            event(
                "create",
                200,
                json!({"id": 1, "username": "w", "email": "e"}),
                json!([]),
            ),
        )
        .await;

        // 4: silence: the next request is never answered.
        let request = recv(&mut peer).await;
        ids.push(request["request_id"].clone());
        (ids, peer)
    });

    match client.retrieve::<User>(1).await {
        Err(Error::Protocol { reason }) => assert!(reason.contains("missing key"), "{reason}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    let user: User = client.retrieve(1).await.expect("retrieve");
    assert_eq!(user.username, "u");

    let mut changes = client.subscribe::<User>(1).await.expect("subscribe");
    assert_eq!(next(&mut changes).await, Event::Gap, "undecodable data");
    assert!(matches!(next(&mut changes).await, Event::Updated(user) if user.username == "v"));
    // The unknown action, the 404 update event (SPEC 5.8.3) and the malformed event are
    // dropped.
    assert_eq!(next(&mut changes).await, Event::Deleted { pk: json!(1) });
    assert!(matches!(next(&mut changes).await, Event::Created(user) if user.username == "w"));

    let silent = Client::clone(&client);
    let timed_out = within("timeout", async {
        // A client with a short timeout on the same connection is not possible; use
        // tokio's timeout around the call to show it does not hang the connection either.
        tokio::time::timeout(Duration::from_millis(200), silent.retrieve::<User>(2)).await
    })
    .await;
    assert!(timed_out.is_err(), "the silent peer answered");

    let (ids, _peer) = within("script", script).await.expect("script");
    let mut unique: Vec<u64> = ids.iter().filter_map(Value::as_u64).collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "request_ids are unique integers: {ids:?}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (url, peer) = one_peer().await;
    let client = within(
        "connect",
        Client::builder(url)
            .request_timeout(Duration::from_millis(100))
            .connect(),
    )
    .await
    .expect("connect");
    let (_, mut peer) = within("peer", peer).await.expect("peer");
    let result = within("call", client.retrieve::<User>(1)).await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    // The request did reach the peer; its late reply is dropped without harm.
    let request = recv(&mut peer).await;
    send(
        &mut peer,
        json!({"errors": [], "data": null, "action": "retrieve", "response_status": 200, "request_id": request["request_id"]}).to_string(),
    )
    .await;
    let second = within("call", client.retrieve::<User>(1)).await;
    assert!(matches!(second, Err(Error::Timeout)), "{second:?}");
    let request2 = recv(&mut peer).await;
    assert_ne!(request["request_id"], request2["request_id"]);
}

#[tokio::test]
async fn the_lookup_field_names_the_instance() {
    let (url, peer) = one_peer().await;
    let client = within(
        "connect",
        Client::builder(url).lookup_field("username").connect(),
    )
    .await
    .expect("connect");
    let (_, mut peer) = within("peer", peer).await.expect("peer");
    let script = tokio::spawn(async move {
        let mut requests = Vec::new();
        for status in [200, 201, 204] {
            let request = recv(&mut peer).await;
            let action = request["action"].clone();
            let data = if status == 200 {
                json!({"id": 7, "username": "alice", "email": ""})
            } else {
                Value::Null
            };
            send(
                &mut peer,
                json!({"errors": [], "data": data, "action": action, "response_status": status, "request_id": request["request_id"]}).to_string(),
            )
            .await;
            requests.push(request);
        }
        requests
    });
    let user: User = client.retrieve("alice").await.expect("retrieve");
    assert_eq!(user.id, 7);
    let subscription = client.subscribe::<User>("alice").await.expect("subscribe");
    drop(subscription);
    let requests = within("script", script).await.expect("script");
    for (request, action) in
        requests
            .iter()
            .zip(["retrieve", "subscribe_instance", "unsubscribe_instance"])
    {
        assert_eq!(request["action"], action);
        assert_eq!(request["username"], "alice", "{request}");
        assert!(request.get("pk").is_none(), "{request}");
    }
    // The unsubscribe names the subscription by its own request_id (SPEC 5.4.3).
    assert_eq!(requests[1]["request_id"], requests[2]["request_id"]);
}

#[tokio::test]
async fn an_oversized_message_drops_the_connection() {
    let (url, peer) = one_peer().await;
    let client = within(
        "connect",
        Client::builder(url).max_message_size(1024).connect(),
    )
    .await
    .expect("connect");
    let (_, mut peer) = within("peer", peer).await.expect("peer");
    let script = tokio::spawn(async move {
        let request = recv(&mut peer).await;
        let big = "x".repeat(4096);
        send(
            &mut peer,
            json!({"errors": [], "data": big, "action": "retrieve", "response_status": 200, "request_id": request["request_id"]}).to_string(),
        )
        .await;
        peer
    });
    let result = within("call", client.retrieve::<String>(1)).await;
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    let _peer = within("script", script).await.expect("script");
    // Without a reconnect policy the client stays closed.
    assert!(matches!(
        client.retrieve::<String>(1).await,
        Err(Error::Closed)
    ));
}
