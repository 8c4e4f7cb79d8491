//! Test helpers: an in-process server on 127.0.0.1:0, WebSocket clients that validate
//! every frame they receive and record a transcript, and timeouts on every await.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dcrf_protocol::FrameValidator;
use dcrf_reference_server::{AdminClient, AdminResponse, Config, ServerHandle, serve};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Upper bound of every await in the tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long "nothing more arrives" is watched for.
pub const QUIET: Duration = Duration::from_millis(300);

/// Awaits `future`, failing the test after [`TIMEOUT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TIMEOUT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out: {what}"),
    }
}

pub async fn start(config: Config) -> ServerHandle {
    let listener = within("bind", tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind 127.0.0.1:0");
    within("serve", serve(listener, config))
        .await
        .expect("serve")
}

pub async fn start_default() -> ServerHandle {
    start(Config::strict()).await
}

/// A transcript shared by the clients of one test: what each sent and received, in order.
#[derive(Clone, Default)]
pub struct Transcript(Arc<Mutex<Vec<String>>>);

impl Transcript {
    /// Adds one line, in the format of interop/dcrf/observed/transcripts.md:
    /// `[A] -> frame`, `[A] <- frame`, `admin ...`.
    pub fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    pub fn note(&self, text: &str) {
        self.push(format!("note: {text}"));
    }

    /// The lines so far. Frames stay JSON text, so snapshots keep their exact digits
    /// (serde_json's arbitrary_precision numbers do not survive insta's serializer).
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub struct Client {
    name: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    transcript: Transcript,
    pub stream_path: String,
}

impl Client {
    pub async fn connect(
        handle: &ServerHandle,
        path: &str,
        name: &str,
        transcript: &Transcript,
    ) -> Client {
        let url = format!("ws://{}{path}", handle.local_addr());
        Self::connect_url(&url, name, transcript).await
    }

    pub async fn connect_url(url: &str, name: &str, transcript: &Transcript) -> Client {
        let (ws, _) = within("connect", connect_async(url))
            .await
            .expect("connect");
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or(url);
        transcript.push(format!("[{name}] open {path}"));
        Client {
            name: name.to_owned(),
            ws,
            transcript: transcript.clone(),
            stream_path: url.to_owned(),
        }
    }

    /// Sends a text frame (recorded parsed when it is JSON, as text otherwise).
    pub async fn send(&mut self, frame: &str) {
        self.transcript.push(format!("[{}] -> {frame}", self.name));
        within("send", self.ws.send(Message::text(frame)))
            .await
            .expect("send");
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send(&frame.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.transcript.push(format!(
            "[{}] -> <binary {}>",
            self.name,
            String::from_utf8_lossy(bytes)
        ));
        within("send", self.ws.send(Message::binary(bytes.to_vec())))
            .await
            .expect("send");
    }

    /// The next text frame, validated against the protocol's schemas.
    pub async fn recv_text(&mut self) -> String {
        loop {
            let message = within(&format!("{} receives a frame", self.name), self.ws.next())
                .await
                .expect("connection ended")
                .expect("read failed");
            match message {
                Message::Text(text) => {
                    let text = text.as_str().to_owned();
                    if let Err(error) = FrameValidator::shared().validate_server_frame(&text) {
                        panic!("invalid server frame {text}: {error}");
                    }
                    return text;
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("{}: expected a text frame, got {other:?}", self.name),
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        let text = self.recv_text().await;
        self.transcript.push(format!("[{}] <- {text}", self.name));
        serde_json::from_str(&text).expect("JSON")
    }

    /// Receives a frame without validating it (for fault-injection tests).
    pub async fn recv_unvalidated(&mut self) -> Value {
        loop {
            let message = within("receive", self.ws.next())
                .await
                .expect("ended")
                .expect("read");
            if let Message::Text(text) = message {
                self.transcript
                    .push(format!("[{}] <- {}", self.name, text.as_str()));
                return serde_json::from_str(text.as_str()).expect("JSON");
            }
        }
    }

    /// Asserts that nothing arrives for [`QUIET`].
    pub async fn silence(&mut self) {
        if let Ok(message) = tokio::time::timeout(QUIET, self.ws.next()).await {
            panic!("{}: expected nothing, got {message:?}", self.name);
        }
        self.transcript
            .push(format!("[{}] .. nothing more", self.name));
    }

    /// Expects the server to close: returns (code, reason).
    pub async fn recv_close(&mut self) -> (u16, String) {
        loop {
            match within("close", self.ws.next()).await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    let code = u16::from(frame.code);
                    let reason = frame.reason.as_str().to_owned();
                    self.transcript.push(format!(
                        "[{}] xx closed: code={code} reason={reason:?}",
                        self.name
                    ));
                    return (code, reason);
                }
                Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("expected a close frame, got {other:?}"),
                Some(Err(error)) => panic!("expected a close frame, got error {error}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = within("close", self.ws.close(None)).await;
    }
}

/// Admin API calls, recorded in the transcript.
pub struct Admin {
    client: AdminClient,
    transcript: Transcript,
}

impl Admin {
    pub fn new(handle: &ServerHandle, transcript: &Transcript) -> Admin {
        Admin {
            client: AdminClient::new(&handle.http_url()).expect("admin url"),
            transcript: transcript.clone(),
        }
    }

    fn record(&self, call: String, response: &AdminResponse) {
        self.transcript.push(format!(
            "admin {call} => {} {}",
            response.status, response.body
        ));
    }

    pub async fn create(&self, username: &str, email: &str) -> Value {
        let created = within("admin create", self.client.create(username, email, None))
            .await
            .expect("admin create");
        self.record(
            format!("POST /admin/users {username:?} {email:?}"),
            &AdminResponse {
                status: 201,
                body: created.to_string(),
            },
        );
        created
    }

    pub async fn update(
        &self,
        pk: i64,
        username: Option<&str>,
        email: Option<&str>,
    ) -> AdminResponse {
        let mut body = serde_json::Map::new();
        if let Some(username) = username {
            body.insert("username".into(), username.into());
        }
        if let Some(email) = email {
            body.insert("email".into(), email.into());
        }
        let response = within(
            "admin update",
            self.client.request(
                "PATCH",
                &format!("/admin/users/{pk}"),
                Some(&Value::Object(body)),
            ),
        )
        .await
        .expect("admin");
        self.record(
            format!("PATCH /admin/users/{pk} {username:?} {email:?}"),
            &response,
        );
        response
    }

    pub async fn delete(&self, pk: i64) -> AdminResponse {
        let response = within(
            "admin delete",
            self.client
                .request("DELETE", &format!("/admin/users/{pk}"), None),
        )
        .await
        .expect("admin");
        self.record(format!("DELETE /admin/users/{pk}"), &response);
        response
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<&str>) -> AdminResponse {
        // Raw body: write it by hand to test malformed input.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let authority = self
            .client
            .base_url()
            .trim_start_matches("http://")
            .to_owned();
        let body = body.unwrap_or("");
        let mut stream = within("connect", TcpStream::connect(&authority))
            .await
            .expect("connect");
        // The admin API takes JSON only (a text/plain body is a 415).
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/json\r\n"
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        within("write", stream.write_all(head.as_bytes()))
            .await
            .expect("write");
        let mut raw = Vec::new();
        within("read", stream.read_to_end(&mut raw))
            .await
            .expect("read");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let response = AdminResponse {
            status,
            body: body.to_owned(),
        };
        self.record(format!("{method} {path} {body:?}"), &response);
        response
    }
}
