//! Benchmark baseline: a minimal tokio-tungstenite server that answers the same `retrieve`
//! and `subscribe_instance` as `dcrf-reference-server` on `/ws/`, and pushes the same
//! `update` event to the subscribers of a user when `PATCH /admin/users/<pk>` changes it.
//!
//! It is what "a WebSocket server on the field's libraries" costs with nothing else: no
//! validation beyond what the benchmark sends, no limits, no persistence, no Origin or Host
//! checks. Written the idiomatic way for throughput: one task per connection, replies
//! buffered (`feed`) while more requests are already readable and flushed once, events
//! from an unbounded channel written in the same way. `bench/side-by-side.sh` measures it
//! beside the reference server with the same load tool.
//!
//! ```text
//! dcrf-bench-baseline [--listen 127.0.0.1:0] [--admin-listen 127.0.0.1:0]
//! # prints "listening on ws://ADDR/ws/" and "admin on http://ADDR2"
//! ```
//!
//! The admin API is on a port of its own (a hand-written HTTP/1.1 handler, `Connection:
//! close`), so that the WebSocket port is pure tokio-tungstenite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Requests read and answered before one flush, at most.
const BATCH: usize = 256;

/// One subscriber of a user: its request_id (as JSON text) and its connection's queue.
struct Subscriber {
    request_id: String,
    queue: mpsc::UnboundedSender<String>,
}

/// The users and the subscribers of each.
#[derive(Default)]
struct State {
    users: HashMap<i64, Value>,
    subscribers: HashMap<i64, Vec<Subscriber>>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut admin_listen = "127.0.0.1:0".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap_or(listen),
            "--admin-listen" => admin_listen = args.next().unwrap_or(admin_listen),
            other => {
                eprintln!("unknown argument {other}; usage: [--listen ADDR] [--admin-listen ADDR]");
                std::process::exit(2);
            }
        }
    }
    let mut state = State::default();
    // The reference server's default fixture.
    for n in 1..=3i64 {
        state.users.insert(
            n,
            json!({"id": n, "username": format!("test {n}"), "email": format!("{n}@example.com")}),
        );
    }
    let state: Shared = Arc::new(Mutex::new(state));
    let ws_listener = TcpListener::bind(&listen).await?;
    let admin_listener = TcpListener::bind(&admin_listen).await?;
    println!("listening on ws://{}/ws/", ws_listener.local_addr()?);
    println!("admin on http://{}", admin_listener.local_addr()?);
    let admin_state = Arc::clone(&state);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = admin_listener.accept().await else {
                continue;
            };
            tokio::spawn(admin(stream, Arc::clone(&admin_state)));
        }
    });
    loop {
        let Ok((stream, _)) = ws_listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, Arc::clone(&state)));
    }
}

/// A reply or event in DCRF's key order.
fn frame(data: &str, action: &str, status: u16, request_id: &str) -> String {
    format!(
        r#"{{"errors":[],"data":{data},"action":"{action}","response_status":{status},"request_id":{request_id}}}"#
    )
}

fn answer(text: &str, state: &Shared, queue: &mpsc::UnboundedSender<String>) -> String {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return r#"{"errors":["Malformed JSON"],"data":null,"action":null,"response_status":400,"request_id":null}"#.to_owned();
    };
    let request_id = request
        .get("request_id")
        .unwrap_or(&Value::Null)
        .to_string();
    let pk = request.get("pk").and_then(Value::as_i64).unwrap_or(0);
    match request.get("action").and_then(Value::as_str) {
        Some("retrieve") => match lock(state).users.get(&pk) {
            Some(user) => frame(&user.to_string(), "retrieve", 200, &request_id),
            None => frame("null", "retrieve", 404, &request_id),
        },
        Some("subscribe_instance") => {
            let mut state = lock(state);
            if !state.users.contains_key(&pk) {
                return frame("null", "subscribe_instance", 404, &request_id);
            }
            state.subscribers.entry(pk).or_default().push(Subscriber {
                request_id: request_id.clone(),
                queue: queue.clone(),
            });
            frame("null", "subscribe_instance", 201, &request_id)
        }
        _ => frame("null", "unknown", 405, &request_id),
    }
}

async fn connection(stream: TcpStream, state: Shared) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (queue, mut events) = mpsc::unbounded_channel::<String>();
    loop {
        tokio::select! {
            incoming = ws.next() => {
                let mut incoming = incoming;
                let mut answered = 0;
                // Answer what is already readable, then flush once.
                loop {
                    match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let reply = answer(text.as_str(), &state, &queue);
                            if ws.feed(Message::text(reply)).await.is_err() {
                                return;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        Some(Ok(_)) => {}
                    }
                    answered += 1;
                    if answered >= BATCH {
                        break;
                    }
                    match ws.next().now_or_never() {
                        Some(next) => incoming = next,
                        None => break,
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
            event = events.recv() => {
                let Some(mut event) = event else { return };
                for _ in 0..BATCH {
                    if ws.feed(Message::text(event)).await.is_err() {
                        return;
                    }
                    match events.try_recv() {
                        Ok(next) => event = next,
                        Err(_) => break,
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `PATCH /admin/users/<pk>` with a JSON object of fields: changes the user, queues the
/// `update` event for each subscriber, answers 200 with the user. Anything else: 404.
async fn admin(mut stream: TcpStream, state: Shared) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if buffer.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(1 << 20);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buffer[head_end..head_end + length];
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let pk = path
        .strip_prefix("/admin/users/")
        .and_then(|pk| pk.trim_end_matches('/').parse::<i64>().ok());
    let fields = serde_json::from_slice::<Value>(body).ok();
    let response = match (method, pk, fields) {
        ("PATCH", Some(pk), Some(Value::Object(fields))) => {
            let mut state = lock(&state);
            match state.users.get_mut(&pk) {
                Some(user) => {
                    for (key, value) in fields {
                        if key == "username" || key == "email" {
                            user[key] = value;
                        }
                    }
                    let data = user.to_string();
                    if let Some(subscribers) = state.subscribers.get_mut(&pk) {
                        subscribers.retain(|subscriber| {
                            subscriber
                                .queue
                                .send(frame(&data, "update", 200, &subscriber.request_id))
                                .is_ok()
                        });
                    }
                    Some(data)
                }
                None => None,
            }
        }
        _ => None,
    };
    let reply = match response {
        Some(data) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{data}",
            data.len()
        ),
        None => {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        }
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}
