//! The wire log of a case and the client connection that writes it.
//!
//! Every frame sent or received, every close and every out-of-band change is logged with its
//! connection name and the milliseconds since the case started. Every received text frame is
//! validated with `dcrf_protocol::FrameValidator`; a violation is kept with the log and fails
//! the case.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dcrf_protocol::{Classification, Correlator, FrameValidator, Multiplexed, Reply, Request};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::verdict::Finding;

/// One line of a wire log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireEntry {
    /// The connection's name in the case (`a`, `b`, ...), or `hook` for mutations.
    pub conn: String,
    /// Milliseconds since the case started.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: WireEvent,
}

/// What a wire log line records.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "direction", rename_all = "snake_case")]
pub enum WireEvent {
    /// The client opened a WebSocket.
    Open {
        /// The endpoint URL.
        url: String,
    },
    /// The client sent a text frame.
    Sent {
        /// The exact text.
        text: String,
    },
    /// The server sent a text frame.
    Received {
        /// The exact text.
        text: String,
    },
    /// The server sent a binary frame (SPEC §2.2.2 forbids it).
    ReceivedBinary {
        /// Its length.
        bytes: usize,
    },
    /// The connection ended: a close frame from the server, or the transport failed.
    Closed {
        /// The close code, when the server sent a close frame with one.
        code: Option<u16>,
        /// The close reason, or the transport error.
        reason: String,
    },
    /// The client waited and nothing arrived.
    Quiet {
        /// How long it waited.
        ms: u64,
    },
    /// The client closed the connection (close code 1000).
    ClientClose,
    /// A note from the harness (a fuzz transition, say).
    Note {
        /// The note.
        text: String,
    },
    /// An out-of-band change made through the mutation hook.
    Mutation {
        /// `create`, `update` or `delete`.
        operation: String,
        /// The instance's primary key (assigned by the server for `create`).
        pk: Value,
        /// The fields set (create, update).
        fields: Value,
    },
}

/// A frame that broke the schema of its kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaViolation {
    /// The connection that received it.
    pub conn: String,
    /// The frame.
    pub text: String,
    /// The validator's message, with the instance path.
    pub message: String,
}

#[derive(Debug, Default)]
struct RecorderState {
    entries: Vec<WireEntry>,
    violations: Vec<SchemaViolation>,
    created: Vec<Value>,
    harness_error: Option<String>,
}

/// The shared, append-only log of one case.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    start: Instant,
    state: Arc<Mutex<RecorderState>>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            start: Instant::now(),
            state: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RecorderState> {
        // A panic while holding the lock cannot leave the log inconsistent: entries are pushed whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn log(&self, conn: &str, event: WireEvent) {
        let at_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.lock().entries.push(WireEntry {
            conn: conn.to_owned(),
            at_ms,
            event,
        });
    }

    fn violation(&self, violation: SchemaViolation) {
        self.lock().violations.push(violation);
    }

    /// Remembers the primary key of an instance the case created (for redaction).
    pub(crate) fn created(&self, pk: Value) {
        self.lock().created.push(pk);
    }

    /// Marks the case as not judgeable (the mutation hook failed).
    pub(crate) fn harness_error(&self, why: String) {
        self.lock().harness_error.get_or_insert(why);
    }

    pub(crate) fn snapshot(&self) -> RecorderSnapshot {
        let state = self.lock();
        RecorderSnapshot {
            entries: state.entries.clone(),
            violations: state.violations.clone(),
            created: state.created.clone(),
            harness_error: state.harness_error.clone(),
        }
    }
}

/// A copy of a recorder's contents.
pub(crate) struct RecorderSnapshot {
    pub(crate) entries: Vec<WireEntry>,
    pub(crate) violations: Vec<SchemaViolation>,
    pub(crate) created: Vec<Value>,
    pub(crate) harness_error: Option<String>,
}

/// A frame received on a connection, with what the client made of it.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    /// The exact text.
    pub(crate) raw: String,
    /// The reply or event: the frame itself, or the payload of a multiplexed frame. Null
    /// when the text is not JSON.
    pub(crate) value: Value,
    /// The `stream` of a multiplexed frame.
    pub(crate) stream: Option<String>,
    /// What the correlator made of it; None when the frame is not a valid reply.
    pub(crate) class: Option<Classification>,
    consumed: bool,
}

impl Inbound {
    /// The frame's `request_id` (null when absent).
    pub(crate) fn request_id(&self) -> &Value {
        self.value.get("request_id").unwrap_or(&Value::Null)
    }

    /// The frame's `action` (null when absent).
    pub(crate) fn action(&self) -> &Value {
        self.value.get("action").unwrap_or(&Value::Null)
    }

    /// The frame's `response_status`, when it is an integer.
    pub(crate) fn status(&self) -> Option<u64> {
        self.value.get("response_status").and_then(Value::as_u64)
    }

    /// The frame's `data` (null when absent).
    pub(crate) fn data(&self) -> &Value {
        self.value.get("data").unwrap_or(&Value::Null)
    }

    /// The frame's `errors` (null when absent).
    pub(crate) fn errors(&self) -> &Value {
        self.value.get("errors").unwrap_or(&Value::Null)
    }

    fn is_event(&self) -> bool {
        matches!(self.class, Some(Classification::Event { .. }))
    }
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CloseInfo {
    /// The close code of the server's close frame.
    pub(crate) code: Option<u16>,
    /// The reason, or the transport error.
    pub(crate) reason: String,
}

impl std::fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "close code {code}")?,
            None => f.write_str("no close frame")?,
        }
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}

/// What waiting for a reply to a possibly malformed frame produced.
#[derive(Debug, Clone)]
pub(crate) enum ReplyOrClose {
    /// A frame with the expected request_id.
    Reply(Inbound),
    /// The server closed the connection.
    Closed(CloseInfo),
    /// Neither before the deadline.
    Nothing,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

enum Pumped {
    Frame,
    Closed,
    Timeout,
}

/// One client WebSocket of a case.
pub(crate) struct Conn {
    name: String,
    socket: Option<Socket>,
    recorder: Recorder,
    correlator: Correlator,
    stream: Option<String>,
    inbox: Vec<Inbound>,
    closed: Option<CloseInfo>,
}

/// Longest frame the harness accepts from a server.
const MAX_FRAME: usize = 8 << 20;

impl Conn {
    /// Opens a WebSocket to `url` within `timeout`.
    pub(crate) async fn connect(
        name: &str,
        url: &str,
        recorder: Recorder,
        lookup_field: &str,
        stream: Option<String>,
        timeout: Duration,
    ) -> Result<Conn, Box<dyn std::error::Error + Send + Sync>> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
        let (socket, _response) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| format!("no WebSocket handshake within {} ms", timeout.as_millis()))??;
        recorder.log(
            name,
            WireEvent::Open {
                url: url.to_owned(),
            },
        );
        Ok(Conn {
            name: name.to_owned(),
            socket: Some(socket),
            recorder,
            correlator: Correlator::new(lookup_field),
            stream,
            inbox: Vec::new(),
            closed: None,
        })
    }

    /// The connection's name in the wire log.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// How the connection ended, if it did.
    pub(crate) fn closed(&self) -> Option<&CloseInfo> {
        self.closed.as_ref()
    }

    /// Sends a request (wrapped in the stream envelope on a multiplexed connection).
    pub(crate) async fn send(&mut self, request: Request, until: Instant) -> Result<(), Finding> {
        let value = request.to_value();
        self.correlator.sent(request);
        let text = match &self.stream {
            Some(stream) => {
                serde_json::to_string(&Multiplexed::new(stream.clone(), value)).unwrap_or_default()
            }
            None => value.to_string(),
        };
        self.send_text(text, until).await
    }

    /// Sends a JSON value as it is (no envelope, no correlation): malformed requests.
    pub(crate) async fn send_value(
        &mut self,
        value: &Value,
        until: Instant,
    ) -> Result<(), Finding> {
        self.send_text(value.to_string(), until).await
    }

    /// Sends exact text.
    pub(crate) async fn send_text(&mut self, text: String, until: Instant) -> Result<(), Finding> {
        self.recorder
            .log(&self.name, WireEvent::Sent { text: text.clone() });
        let name = self.name.clone();
        let Some(socket) = self.socket.as_mut() else {
            let why = self
                .closed
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            return Err(Finding::fail(format!(
                "connection {name} closed ({why}) before the client could send"
            )));
        };
        match tokio::time::timeout_at(until, socket.send(Message::text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                self.mark_closed(None, format!("send failed: {error}"));
                Err(Finding::fail(format!(
                    "connection {name}: send failed: {error}"
                )))
            }
            Err(_) => Err(Finding::fail(format!(
                "connection {name}: the server did not accept a frame before the deadline"
            ))),
        }
    }

    /// Sends a binary frame (SPEC 2.2.1 allows none: the server must treat it as malformed
    /// input, 2.3). Logged as a note, since the log holds text frames.
    pub(crate) async fn send_binary(
        &mut self,
        bytes: Vec<u8>,
        until: Instant,
    ) -> Result<(), Finding> {
        self.recorder.log(
            &self.name,
            WireEvent::Note {
                text: format!("client sends a binary frame of {} bytes", bytes.len()),
            },
        );
        let name = self.name.clone();
        let Some(socket) = self.socket.as_mut() else {
            return Err(Finding::fail(format!(
                "connection {name} closed before the client could send"
            )));
        };
        match tokio::time::timeout_at(until, socket.send(Message::binary(bytes))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                self.mark_closed(None, format!("send failed: {error}"));
                Err(Finding::fail(format!(
                    "connection {name}: send failed: {error}"
                )))
            }
            Err(_) => Err(Finding::fail(format!(
                "connection {name}: the server did not accept a frame before the deadline"
            ))),
        }
    }

    /// Closes the connection with code 1000 without waiting for the answer.
    pub(crate) async fn close(mut self) {
        if let Some(mut socket) = self.socket.take() {
            self.recorder.log(&self.name, WireEvent::ClientClose);
            let _ = tokio::time::timeout(Duration::from_millis(200), socket.close(None)).await;
        }
    }

    fn mark_closed(&mut self, code: Option<u16>, reason: String) {
        self.socket = None;
        if self.closed.is_none() {
            self.recorder.log(
                &self.name,
                WireEvent::Closed {
                    code,
                    reason: reason.clone(),
                },
            );
            self.closed = Some(CloseInfo { code, reason });
        }
    }

    /// Reads one message, or times out at `until`.
    async fn pump(&mut self, until: Instant) -> Pumped {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Pumped::Closed;
            };
            let message = match tokio::time::timeout_at(until, socket.next()).await {
                Err(_) => return Pumped::Timeout,
                Ok(None) => {
                    self.mark_closed(None, "connection ended without a close frame".into());
                    return Pumped::Closed;
                }
                Ok(Some(Err(error))) => {
                    self.mark_closed(None, format!("transport error: {error}"));
                    return Pumped::Closed;
                }
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    self.receive(text.as_str().to_owned());
                    return Pumped::Frame;
                }
                Message::Binary(bytes) => {
                    self.recorder
                        .log(&self.name, WireEvent::ReceivedBinary { bytes: bytes.len() });
                    self.recorder.violation(SchemaViolation {
                        conn: self.name.clone(),
                        text: format!("<binary frame of {} bytes>", bytes.len()),
                        message: "a server MUST NOT send binary frames (SPEC 2.2.2)".into(),
                    });
                }
                Message::Close(frame) => {
                    let (code, reason) = match frame {
                        Some(frame) => (Some(u16::from(frame.code)), frame.reason.to_string()),
                        None => (None, "close frame without a code".into()),
                    };
                    self.mark_closed(code, reason);
                    return Pumped::Closed;
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    fn receive(&mut self, raw: String) {
        self.recorder
            .log(&self.name, WireEvent::Received { text: raw.clone() });
        // One parse per frame: the validator checks the parsed value; only text that is not
        // JSON goes back to the validator as text, for its message.
        let validator = FrameValidator::shared();
        let (parsed, checked) = match serde_json::from_str::<Value>(&raw) {
            Ok(parsed) => {
                let checked = validator.validate_server_value(&parsed).map(drop);
                (parsed, checked)
            }
            Err(_) => (Value::Null, validator.validate_server_frame(&raw).map(drop)),
        };
        if let Err(error) = checked {
            self.recorder.violation(SchemaViolation {
                conn: self.name.clone(),
                text: raw.clone(),
                message: error.to_string(),
            });
        }
        let (value, stream) = match (&self.stream, parsed) {
            (Some(_), Value::Object(mut object))
                if object.contains_key("stream") && object.contains_key("payload") =>
            {
                let stream = object
                    .get("stream")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                (
                    object.shift_remove("payload").unwrap_or(Value::Null),
                    stream,
                )
            }
            (_, parsed) => (parsed, None),
        };
        let class = Reply::from_value(value.clone())
            .ok()
            .map(|reply| self.correlator.received(&reply));
        self.inbox.push(Inbound {
            raw,
            value,
            stream,
            class,
            consumed: false,
        });
    }

    fn take_matching(&mut self, predicate: &dyn Fn(&Inbound) -> bool) -> Option<Inbound> {
        let frame = self
            .inbox
            .iter_mut()
            .find(|frame| !frame.consumed && predicate(frame))?;
        frame.consumed = true;
        Some(frame.clone())
    }

    fn unconsumed(&self) -> Vec<&Inbound> {
        self.inbox.iter().filter(|frame| !frame.consumed).collect()
    }

    fn describe_unconsumed(&self) -> String {
        let frames = self.unconsumed();
        if frames.is_empty() {
            return "nothing else arrived".into();
        }
        let listed: Vec<&str> = frames.iter().map(|frame| frame.raw.as_str()).collect();
        format!("unmatched frames: {}", listed.join(" | "))
    }

    /// Waits until a frame matching `predicate` arrives; consumes and returns it.
    pub(crate) async fn expect(
        &mut self,
        what: &str,
        until: Instant,
        predicate: impl Fn(&Inbound) -> bool,
    ) -> Result<Inbound, Finding> {
        let started = Instant::now();
        loop {
            if let Some(frame) = self.take_matching(&predicate) {
                return Ok(frame);
            }
            if let Some(close) = &self.closed {
                return Err(Finding::fail(format!(
                    "connection {} ended ({close}) while waiting for {what}; {}",
                    self.name,
                    self.describe_unconsumed()
                )));
            }
            if let Pumped::Timeout = self.pump(until).await {
                return Err(Finding::fail(format!(
                    "no {what} on connection {} within {} ms; {}",
                    self.name,
                    started.elapsed().as_millis(),
                    self.describe_unconsumed()
                )));
            }
        }
    }

    /// Waits for the reply carrying `request_id` (matched by request_id, not arrival order).
    pub(crate) async fn expect_reply(
        &mut self,
        request_id: &Value,
        until: Instant,
    ) -> Result<Inbound, Finding> {
        let what = format!("reply with request_id {request_id}");
        self.expect(&what, until, |frame| {
            !frame.is_event() && frame.request_id() == request_id
        })
        .await
    }

    /// Waits for an event named `action` of the subscription made with `request_id`.
    pub(crate) async fn expect_event(
        &mut self,
        action: &str,
        request_id: &Value,
        until: Instant,
    ) -> Result<Inbound, Finding> {
        let what = format!("\"{action}\" event with request_id {request_id}");
        self.expect(&what, until, |frame| {
            frame.action() == action && frame.request_id() == request_id
        })
        .await
    }

    /// Waits for a frame carrying `request_id`, or for the server to close the connection.
    pub(crate) async fn expect_reply_or_close(
        &mut self,
        request_id: &Value,
        until: Instant,
    ) -> ReplyOrClose {
        loop {
            if let Some(frame) = self.take_matching(&|frame| frame.request_id() == request_id) {
                return ReplyOrClose::Reply(frame);
            }
            if let Some(close) = &self.closed {
                return ReplyOrClose::Closed(close.clone());
            }
            if let Pumped::Timeout = self.pump(until).await {
                return ReplyOrClose::Nothing;
            }
        }
    }

    /// Waits for the first frame of any kind, or for the connection to end.
    pub(crate) async fn next_or_close(&mut self, until: Instant) -> ReplyOrClose {
        loop {
            if let Some(frame) = self.take_matching(&|_| true) {
                return ReplyOrClose::Reply(frame);
            }
            if let Some(close) = &self.closed {
                return ReplyOrClose::Closed(close.clone());
            }
            if let Pumped::Timeout = self.pump(until).await {
                return ReplyOrClose::Nothing;
            }
        }
    }

    /// Reads for `window` and fails if any frame not yet matched by an expectation is there.
    ///
    /// Used where the SPEC says nothing more may arrive (after an unsubscribe, after a
    /// delete event, for exactly-once delivery).
    pub(crate) async fn expect_quiet(
        &mut self,
        window: Duration,
        why: &str,
    ) -> Result<(), Finding> {
        let until = Instant::now() + window;
        while let Pumped::Frame = self.pump(until).await {}
        let stray = self.unconsumed();
        if stray.is_empty() {
            self.recorder.log(
                &self.name,
                WireEvent::Quiet {
                    ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
                },
            );
            return Ok(());
        }
        let listed: Vec<&str> = stray.iter().map(|frame| frame.raw.as_str()).collect();
        Err(Finding::fail(format!(
            "{why}, but connection {} received: {}",
            self.name,
            listed.join(" | ")
        )))
    }

    /// Reads whatever arrives within `window` (zero: what is already buffered), logging
    /// nothing beyond the frames themselves.
    pub(crate) async fn settle(&mut self, window: Duration) {
        let until = Instant::now() + window;
        while let Pumped::Frame = self.pump(until).await {}
    }

    /// Every text frame received so far, matched or not, as it arrived.
    pub(crate) fn received_texts(&self) -> Vec<String> {
        self.inbox.iter().map(|frame| frame.raw.clone()).collect()
    }

    /// Frames received and not matched by any expectation so far.
    pub(crate) fn stray_frames(&self) -> Vec<String> {
        self.unconsumed()
            .iter()
            .map(|frame| frame.raw.clone())
            .collect()
    }
}
