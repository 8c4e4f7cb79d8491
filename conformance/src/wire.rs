//! The wire log of a case and the client connection that writes it.
//!
//! Every frame sent or received, every close and every out-of-band change is logged with its
//! connection name and the milliseconds since the case started. Every received text frame is
//! validated with `dcrf_protocol::FrameValidator`; a violation is kept with the log and fails
//! the case.
//!
//! Everything a server sends is hostile, so everything kept from it is bounded ([`Limits`]):
//! the size of one message, the harness's write buffer, the frames waiting to be matched (the
//! inbox), and the wire log per connection and per run. A received frame is stored once
//! ([`FrameText`]) and shared by the inbox, the wire log and the violations. A bound that is
//! reached fails the case with a message that says which; the log ends with a marker such as
//! `… 12,345 more frames (87.1 MiB) not kept`.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dcrf_protocol::{Classification, Correlator, FrameValidator, Multiplexed, Reply, Request};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::{Serialize, Serializer};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::data_schema::DataSchema;
use crate::transport::Transport;
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
        /// The exact text (cut at [`Limits::kept_frame_bytes`], with a note saying so).
        text: String,
    },
    /// The server sent a text frame.
    Received {
        /// The exact text (cut at [`Limits::kept_frame_bytes`], with a note saying so).
        text: FrameText,
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

/// The bounds on what the harness keeps from a server (README, "Bounds").
///
/// Every one of them is reached only by a server that floods or sends huge frames; the
/// reference server and DCRF stay far below each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message (and frame) the harness reads; a longer one fails the case and the
    /// harness closes the connection with 1009 (`--max-message-bytes`, default 4 MiB).
    pub max_message_bytes: usize,
    /// Bytes the harness buffers for sending (its requests and the pongs it owes); a server
    /// that does not read fills it and the connection fails (default 2 MiB: room for the
    /// 1 MiB message of SPEC 2.2.6 and its frame header).
    pub max_write_buffer_bytes: usize,
    /// Frames waiting to be matched on one connection; more are dropped unread and the case
    /// fails with "server flooded" (default 10,000).
    pub inbox_frames: usize,
    /// Bytes waiting to be matched on one connection: each frame counts twice its length
    /// (its text, and the strings of its parsed JSON) plus [`JSON_VALUE_COST`] bytes per
    /// value (default 4 MiB).
    pub inbox_bytes: usize,
    /// JSON values (arrays, objects, keys, scalars) in one frame beyond which the harness does
    /// not parse it, and fails the case (default 100,000).
    pub max_json_values: usize,
    /// Received frames kept in the wire log of one connection (default 2,000).
    pub log_frames_per_conn: usize,
    /// Bytes of received frames kept in the wire log of one connection (default 1 MiB).
    pub log_bytes_per_conn: usize,
    /// Bytes of received frames kept in the wire logs of the whole run (default 4 MiB; the
    /// JSON report of a whole honest run is about 0.1 MB).
    pub log_bytes_per_run: usize,
    /// Longest frame text kept whole in a log line, violation or message; longer text is cut
    /// with a note giving its length (default 64 KiB).
    pub kept_frame_bytes: usize,
}

/// Bytes a parsed JSON value is counted for in the inbox bound (a `serde_json::Value` and its
/// allocation, with `arbitrary_precision` numbers and `preserve_order` maps).
pub const JSON_VALUE_COST: usize = 80;

/// Frames a connection reads past its deadline (only those already buffered) before the
/// read gives up: a flood cannot keep a case running past its deadline.
const LATE_READS: usize = 64;

/// Stray frames quoted in a failure message; the rest are counted.
const QUOTED_FRAMES: usize = 5;

/// Longest quote of one frame in a failure message.
const QUOTED_BYTES: usize = 1_024;

/// Violations kept per case; the rest are counted.
pub(crate) const KEPT_VIOLATIONS: usize = 16;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 << 20,
            max_write_buffer_bytes: 2 << 20,
            inbox_frames: 10_000,
            inbox_bytes: 4 << 20,
            max_json_values: 100_000,
            log_frames_per_conn: 2_000,
            log_bytes_per_conn: 1 << 20,
            log_bytes_per_run: 4 << 20,
            kept_frame_bytes: 64 << 10,
        }
    }
}

impl Limits {
    fn websocket_config(&self) -> WebSocketConfig {
        // tungstenite requires the write buffer's bound to exceed its flush threshold.
        let write_buffer = (128 << 10).min(self.max_write_buffer_bytes / 2).max(1);
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes))
            .write_buffer_size(write_buffer)
            .max_write_buffer_size(self.max_write_buffer_bytes.max(write_buffer + 1))
    }
}

/// The text of a received frame, stored once and shared by the inbox, the wire log and the
/// schema violations.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct FrameText(Arc<str>);

impl FrameText {
    /// The text, or its first `max` bytes (at a character boundary) and a note giving the
    /// full length.
    pub fn cut(&self, max: usize) -> FrameText {
        if self.0.len() <= max {
            return self.clone();
        }
        FrameText::from(format!(
            "{}… ({} of {} bytes not kept)",
            prefix(&self.0, max),
            thousands(self.0.len() - prefix(&self.0, max).len()),
            thousands(self.0.len())
        ))
    }
}

impl Deref for FrameText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for FrameText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FrameText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FrameText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<String> for FrameText {
    fn from(text: String) -> Self {
        FrameText(text.into())
    }
}

impl From<&str> for FrameText {
    fn from(text: &str) -> Self {
        FrameText(text.into())
    }
}

impl PartialEq<str> for FrameText {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl Serialize for FrameText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `12345` as `12,345`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A byte count for people: `512 bytes`, `64.0 KiB`, `87.1 MiB`.
pub(crate) fn bytes(n: usize) -> String {
    const KIB: f64 = 1024.0;
    let value = n as f64;
    if value < KIB {
        format!("{n} bytes")
    } else if value < KIB * KIB {
        format!("{:.1} KiB", value / KIB)
    } else if value < KIB * KIB * KIB {
        format!("{:.1} MiB", value / (KIB * KIB))
    } else {
        format!("{:.1} GiB", value / (KIB * KIB * KIB))
    }
}

/// An upper bound of the JSON values in `text` (one per `[`, `{`, `,` and `:` outside
/// strings, plus one), read without parsing or recursing.
fn json_values(text: &str) -> usize {
    let mut count = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' | b',' | b':' => count += 1,
                _ => {}
            }
        }
    }
    count
}

/// A frame that broke the schema of its kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaViolation {
    /// The connection that received it.
    pub conn: String,
    /// The frame (cut at [`Limits::kept_frame_bytes`]).
    pub text: FrameText,
    /// The validator's message, with the instance path.
    pub message: String,
}

/// What one connection of a case sent the log, and what its bounds turned away.
#[derive(Debug, Default)]
struct ConnStats {
    name: String,
    /// Received frames kept in the log, and their bytes.
    log_frames: usize,
    log_bytes: usize,
    /// Received frames not kept in the log, their bytes, and when the last one arrived.
    unlogged_frames: usize,
    unlogged_bytes: usize,
    last_unlogged_ms: u64,
    /// Frames dropped unread because the inbox was full, and their bytes.
    flooded_frames: usize,
    flooded_bytes: usize,
}

#[derive(Debug, Default)]
struct RecorderState {
    entries: Vec<WireEntry>,
    conns: Vec<ConnStats>,
    violations: Vec<SchemaViolation>,
    unkept_violations: usize,
    limits_reached: Vec<String>,
    created: Vec<Value>,
    harness_error: Option<String>,
}

impl RecorderState {
    fn conn(&mut self, name: &str) -> &mut ConnStats {
        let index = match self.conns.iter().position(|conn| conn.name == name) {
            Some(index) => index,
            None => {
                self.conns.push(ConnStats {
                    name: name.to_owned(),
                    ..ConnStats::default()
                });
                self.conns.len() - 1
            }
        };
        &mut self.conns[index]
    }
}

/// The shared, append-only log of one case.
///
/// The recorders of one run share its [`Limits`] and its wire-log budget
/// ([`Recorder::child`]).
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    start: Instant,
    limits: Limits,
    /// Bytes of received frames the run's wire logs may still keep.
    run_budget: Arc<AtomicUsize>,
    state: Arc<Mutex<RecorderState>>,
    /// The app's instance schema, when the run has one (`--data-schema`).
    data_schema: Option<Arc<DataSchema>>,
}

impl Recorder {
    /// A recorder with the default limits and a budget of its own.
    pub(crate) fn new() -> Self {
        Recorder::with_limits(Limits::default())
    }

    /// A recorder with `limits` and a budget of its own.
    pub(crate) fn with_limits(limits: Limits) -> Self {
        Recorder {
            start: Instant::now(),
            limits,
            run_budget: Arc::new(AtomicUsize::new(limits.log_bytes_per_run)),
            state: Arc::default(),
            data_schema: None,
        }
    }

    /// This recorder, checking the `data` of received frames against `schema`.
    pub(crate) fn with_data_schema(mut self, schema: Option<Arc<DataSchema>>) -> Self {
        self.data_schema = schema;
        self
    }

    /// A fresh recorder (its own log and clock) sharing this one's limits and run budget.
    pub(crate) fn child(&self) -> Self {
        Recorder {
            start: Instant::now(),
            limits: self.limits,
            run_budget: self.run_budget.clone(),
            state: Arc::default(),
            data_schema: self.data_schema.clone(),
        }
    }

    /// The bounds connections of this recorder keep to.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    fn lock(&self) -> MutexGuard<'_, RecorderState> {
        // A panic while holding the lock cannot leave the log inconsistent: entries are pushed whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn log(&self, conn: &str, event: WireEvent) {
        let at_ms = self.now_ms();
        self.lock().entries.push(WireEntry {
            conn: conn.to_owned(),
            at_ms,
            event,
        });
    }

    /// Logs a frame from the server if the connection's and the run's log bounds allow;
    /// otherwise counts it for the "not kept" marker.
    fn log_received(&self, conn: &str, event: WireEvent, size: usize) {
        let at_ms = self.now_ms();
        let mut state = self.lock();
        let stats = state.conn(conn);
        let fits_conn = stats.log_frames < self.limits.log_frames_per_conn
            && stats.log_bytes.saturating_add(size) <= self.limits.log_bytes_per_conn;
        let fits_run = fits_conn
            && self
                .run_budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(size)
                })
                .is_ok();
        if fits_run {
            stats.log_frames += 1;
            stats.log_bytes += size;
            state.entries.push(WireEntry {
                conn: conn.to_owned(),
                at_ms,
                event,
            });
        } else {
            stats.unlogged_frames += 1;
            stats.unlogged_bytes = stats.unlogged_bytes.saturating_add(size);
            stats.last_unlogged_ms = at_ms;
        }
    }

    fn violation(&self, violation: SchemaViolation) {
        let mut state = self.lock();
        if state.violations.len() < KEPT_VIOLATIONS {
            state.violations.push(violation);
        } else {
            state.unkept_violations += 1;
        }
    }

    /// Records that a bound was reached: the case fails with `why`.
    fn limit_reached(&self, why: String) {
        let mut state = self.lock();
        if state.limits_reached.len() < KEPT_VIOLATIONS {
            state.limits_reached.push(why);
        }
    }

    fn flooded(&self, conn: &str, size: usize) {
        let mut state = self.lock();
        let stats = state.conn(conn);
        stats.flooded_frames += 1;
        stats.flooded_bytes = stats.flooded_bytes.saturating_add(size);
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
        let mut entries = state.entries.clone();
        let mut limits_reached = Vec::new();
        for stats in &state.conns {
            if stats.flooded_frames > 0 {
                limits_reached.push(format!(
                    "server flooded: connection {} dropped {} frames ({}) unread beyond its inbox bound of {} frames or {}",
                    stats.name,
                    thousands(stats.flooded_frames),
                    bytes(stats.flooded_bytes),
                    thousands(self.limits.inbox_frames),
                    bytes(self.limits.inbox_bytes),
                ));
            }
            if stats.unlogged_frames > 0 {
                entries.push(WireEntry {
                    conn: stats.name.clone(),
                    at_ms: stats.last_unlogged_ms,
                    event: WireEvent::Note {
                        text: format!(
                            "… {} more frames ({}) not kept",
                            thousands(stats.unlogged_frames),
                            bytes(stats.unlogged_bytes)
                        ),
                    },
                });
            }
        }
        limits_reached.extend(state.limits_reached.iter().cloned());
        let mut violations = state.violations.clone();
        if state.unkept_violations > 0
            && let Some(last) = violations.last().cloned()
        {
            violations.push(SchemaViolation {
                message: format!(
                    "… {} more schema violations not kept",
                    thousands(state.unkept_violations)
                ),
                ..last
            });
        }
        RecorderSnapshot {
            entries,
            violations,
            limits_reached,
            created: state.created.clone(),
            harness_error: state.harness_error.clone(),
        }
    }
}

/// A copy of a recorder's contents.
pub(crate) struct RecorderSnapshot {
    pub(crate) entries: Vec<WireEntry>,
    pub(crate) violations: Vec<SchemaViolation>,
    /// Bounds the server made the harness reach (each fails the case).
    pub(crate) limits_reached: Vec<String>,
    pub(crate) created: Vec<Value>,
    pub(crate) harness_error: Option<String>,
}

/// A frame received on a connection, with what the client made of it.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    /// The exact text.
    pub(crate) raw: FrameText,
    /// The reply or event: the frame itself, or the payload of a multiplexed frame. Null
    /// when the text is not JSON (or too big to parse).
    pub(crate) value: Value,
    /// The `stream` of a multiplexed frame.
    pub(crate) stream: Option<String>,
    /// What the correlator made of it; None when the frame is not a valid reply.
    pub(crate) class: Option<Classification>,
    /// What it is counted for in the inbox bound.
    cost: usize,
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

/// A client WebSocket, over TCP (plain or TLS) or, for the fuzz entry point, any stream.
trait WsSocket:
    futures_util::Sink<Message, Error = WsError>
    + futures_util::Stream<Item = Result<Message, WsError>>
    + Unpin
    + Send
{
}
impl<T> WsSocket for T where
    T: futures_util::Sink<Message, Error = WsError>
        + futures_util::Stream<Item = Result<Message, WsError>>
        + Unpin
        + Send
{
}

type Socket = Box<dyn WsSocket>;

enum Pumped {
    Frame(Box<Inbound>),
    Closed,
    Timeout,
}

/// The frames of a connection not matched by an expectation yet, bounded by
/// [`Limits::inbox_frames`] and [`Limits::inbox_bytes`].
#[derive(Debug, Default)]
struct Inbox {
    frames: VecDeque<Inbound>,
    cost: usize,
}

impl Inbox {
    fn take(&mut self, predicate: impl Fn(&Inbound) -> bool) -> Option<Inbound> {
        let index = self.frames.iter().position(predicate)?;
        let frame = self.frames.remove(index)?;
        self.cost -= frame.cost;
        Some(frame)
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Lists the first few frames, cut, and counts the rest.
    fn describe(&self) -> String {
        let mut listed: Vec<String> = self
            .frames
            .iter()
            .take(QUOTED_FRAMES)
            .map(|frame| frame.raw.cut(QUOTED_BYTES).to_string())
            .collect();
        if self.frames.len() > QUOTED_FRAMES {
            let rest = self.frames.len() - QUOTED_FRAMES;
            let rest_bytes: usize = self
                .frames
                .iter()
                .skip(QUOTED_FRAMES)
                .map(|frame| frame.raw.len())
                .sum();
            listed.push(format!(
                "… {} more frames ({})",
                thousands(rest),
                bytes(rest_bytes)
            ));
        }
        listed.join(" | ")
    }
}

/// One client WebSocket of a case.
pub(crate) struct Conn {
    name: String,
    socket: Option<Socket>,
    recorder: Recorder,
    limits: Limits,
    correlator: Correlator,
    stream: Option<String>,
    inbox: Inbox,
    /// Pings and pongs received (a ping flood is a flood too).
    control_frames: usize,
    /// Frames read past the deadline of the current wait.
    late_reads: usize,
    /// The first text frames that were not JSON objects (SPEC 2.2.1), at most
    /// [`QUOTED_FRAMES`].
    non_object_texts: Vec<FrameText>,
    closed: Option<CloseInfo>,
}

impl Conn {
    /// Opens a WebSocket to `url` within `timeout`, bounded by the recorder's [`Limits`],
    /// with the transport's handshake headers and TLS configuration. A failed handshake is a
    /// `tungstenite::Error` in the box (see [`crate::transport`] for its explanation).
    pub(crate) async fn connect(
        name: &str,
        url: &str,
        recorder: Recorder,
        lookup_field: &str,
        stream: Option<String>,
        timeout: Duration,
        transport: &Transport,
    ) -> Result<Conn, Box<dyn std::error::Error + Send + Sync>> {
        let limits = *recorder.limits();
        let request = transport.request(url)?;
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(limits.websocket_config()),
            true,
            Some(Connector::Rustls(transport.tls())),
        );
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
            socket: Some(Box::new(socket) as Socket),
            recorder,
            limits,
            correlator: Correlator::new(lookup_field),
            stream,
            inbox: Inbox::default(),
            control_frames: 0,
            late_reads: 0,
            non_object_texts: Vec::new(),
            closed: None,
        })
    }

    /// A connection over `stream`, whose WebSocket handshake is done (the fuzz entry
    /// point's in-memory server), bounded by the recorder's [`Limits`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) async fn over_stream<S>(name: &str, stream: S, recorder: Recorder) -> Conn
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let limits = *recorder.limits();
        let socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
            stream,
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            Some(limits.websocket_config()),
        )
        .await;
        Conn {
            name: name.to_owned(),
            socket: Some(Box::new(socket) as Socket),
            recorder,
            limits,
            correlator: Correlator::new("pk"),
            stream: None,
            inbox: Inbox::default(),
            control_frames: 0,
            late_reads: 0,
            non_object_texts: Vec::new(),
            closed: None,
        }
    }

    /// Panics if what the connection keeps from the server is past a bound of [`Limits`]:
    /// the inbox, the quoted frames, the failure message (the fuzz entry point's check).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn assert_bounds(&self) {
        let limits = &self.limits;
        assert!(self.inbox.frames.len() <= limits.inbox_frames);
        assert!(self.inbox.cost <= limits.inbox_bytes);
        assert_eq!(
            self.inbox.cost,
            self.inbox
                .frames
                .iter()
                .map(|frame| frame.cost)
                .sum::<usize>()
        );
        assert!(self.non_object_texts.len() <= QUOTED_FRAMES);
        let quoted = |text: &FrameText| text.len() <= limits.kept_frame_bytes + 64;
        assert!(self.non_object_texts.iter().all(quoted));
        // Five frames quoted at most, each cut, plus a count of the rest.
        let message = self.describe_unconsumed();
        assert!(
            message.len() <= QUOTED_FRAMES * (QUOTED_BYTES + 64) + 256,
            "{}",
            message.len()
        );
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
        let logged = if text.len() > self.limits.kept_frame_bytes {
            FrameText::from(text.clone())
                .cut(self.limits.kept_frame_bytes)
                .to_string()
        } else {
            text.clone()
        };
        self.recorder
            .log(&self.name, WireEvent::Sent { text: logged });
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
            Ok(Err(WsError::WriteBufferFull(_))) => {
                let why = format!(
                    "connection {name}: the server does not read: the harness's write buffer reached its bound of {}",
                    bytes(self.limits.max_write_buffer_bytes)
                );
                self.recorder.limit_reached(why.clone());
                self.mark_closed(None, why.clone());
                Err(Finding::fail(why))
            }
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
        self.send_message(Message::binary(bytes), until).await
    }

    /// Sends `bytes` as the payload of one text frame, whether or not they are UTF-8 (SPEC
    /// 2.2.7). Logged as a note with the bytes' length.
    pub(crate) async fn send_text_bytes(
        &mut self,
        bytes: Vec<u8>,
        until: Instant,
    ) -> Result<(), Finding> {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        self.recorder.log(
            &self.name,
            WireEvent::Note {
                text: format!(
                    "client sends a text frame of {} bytes that are not UTF-8",
                    bytes.len()
                ),
            },
        );
        let frame = Frame::message(bytes, OpCode::Data(Data::Text), true);
        self.send_message(Message::Frame(frame), until).await
    }

    /// Sends one message the log already noted (a binary frame, raw text bytes).
    async fn send_message(&mut self, message: Message, until: Instant) -> Result<(), Finding> {
        let name = self.name.clone();
        let Some(socket) = self.socket.as_mut() else {
            return Err(Finding::fail(format!(
                "connection {name} closed before the client could send"
            )));
        };
        match tokio::time::timeout_at(until, socket.send(message)).await {
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
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                socket.send(Message::Close(None)),
            )
            .await;
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

    /// The server broke a size bound: the case fails, and the harness closes with 1009.
    async fn too_big(&mut self, error: WsError) {
        let why = format!(
            "connection {}: the server sent a message over the harness's bound of {} (--max-message-bytes): {error}; the harness closed with 1009",
            self.name,
            bytes(self.limits.max_message_bytes)
        );
        self.recorder.limit_reached(why.clone());
        if let Some(mut socket) = self.socket.take() {
            let frame = CloseFrame {
                code: CloseCode::Size,
                reason: "message too big".into(),
            };
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                socket.send(Message::Close(Some(frame))),
            )
            .await;
        }
        self.mark_closed(None, why);
    }

    /// Reads one message, or times out at `until`. Past `until` it reads only what is
    /// already buffered, and at most [`LATE_READS`] frames, so a flood cannot hold it.
    async fn pump(&mut self, until: Instant) -> Pumped {
        loop {
            // A flooding server keeps the socket always ready; give the runtime its turn so
            // that deadline timers fire and the other cases run.
            tokio::task::consume_budget().await;
            let late = Instant::now() >= until;
            if late {
                self.late_reads += 1;
                if self.late_reads > LATE_READS {
                    return Pumped::Timeout;
                }
            } else {
                self.late_reads = 0;
            }
            let Some(socket) = self.socket.as_mut() else {
                return Pumped::Closed;
            };
            let next = if late {
                match socket.next().now_or_never() {
                    Some(next) => next,
                    None => return Pumped::Timeout,
                }
            } else {
                match tokio::time::timeout_at(until, socket.next()).await {
                    Ok(next) => next,
                    Err(_) => return Pumped::Timeout,
                }
            };
            let message = match next {
                None => {
                    self.mark_closed(None, "connection ended without a close frame".into());
                    return Pumped::Closed;
                }
                Some(Err(error @ WsError::Capacity(_))) => {
                    self.too_big(error).await;
                    return Pumped::Closed;
                }
                Some(Err(error)) => {
                    self.mark_closed(None, format!("transport error: {error}"));
                    return Pumped::Closed;
                }
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => {
                    let frame = self.receive(FrameText::from(text.as_str()));
                    return Pumped::Frame(Box::new(frame));
                }
                Message::Binary(payload) => {
                    let size = payload.len();
                    drop(payload);
                    self.recorder.log_received(
                        &self.name,
                        WireEvent::ReceivedBinary { bytes: size },
                        size,
                    );
                    self.recorder.violation(SchemaViolation {
                        conn: self.name.clone(),
                        text: FrameText::from(format!("<binary frame of {size} bytes>")),
                        message: "a server MUST NOT send binary frames (SPEC 2.2.2)".into(),
                    });
                    self.count_flood(size);
                }
                Message::Close(frame) => {
                    let (code, reason) = match frame {
                        Some(frame) => (Some(u16::from(frame.code)), frame.reason.to_string()),
                        None => (None, "close frame without a code".into()),
                    };
                    self.mark_closed(code, reason);
                    return Pumped::Closed;
                }
                Message::Ping(_) | Message::Pong(_) => {
                    self.control_frames += 1;
                    if self.control_frames == self.limits.inbox_frames + 1 {
                        self.recorder.limit_reached(format!(
                            "server flooded: connection {} received more than {} ping and pong frames",
                            self.name,
                            thousands(self.limits.inbox_frames)
                        ));
                    }
                }
                Message::Frame(_) => {}
            }
        }
    }

    /// Counts a frame that is kept nowhere (binary) against the inbox's frame bound.
    fn count_flood(&mut self, size: usize) {
        self.control_frames += 1;
        if self.control_frames > self.limits.inbox_frames {
            self.recorder.flooded(&self.name, size);
        }
    }

    fn receive(&mut self, raw: FrameText) -> Inbound {
        self.recorder.log_received(
            &self.name,
            WireEvent::Received {
                text: raw.cut(self.limits.kept_frame_bytes),
            },
            raw.len(),
        );
        let values = json_values(&raw);
        if values > self.limits.max_json_values {
            self.recorder.limit_reached(format!(
                "connection {}: a frame of {} holds more than {} JSON values; the harness did not parse it",
                self.name,
                bytes(raw.len()),
                thousands(self.limits.max_json_values)
            ));
            return Inbound {
                cost: raw.len(),
                raw,
                value: Value::Null,
                stream: None,
                class: None,
            };
        }
        // One parse per frame: the validator checks the parsed value; only text that is not
        // JSON goes back to the validator as text, for its message. serde_json stops at a
        // depth of 128, and nothing below recurses deeper than the parsed value.
        let validator = FrameValidator::shared();
        let (parsed, checked) = match serde_json::from_str::<Value>(&raw) {
            Ok(parsed) => {
                let checked = validator.validate_server_value(&parsed).map(drop);
                (parsed, checked)
            }
            Err(_) => (Value::Null, validator.validate_server_frame(&raw).map(drop)),
        };
        if let Err(error) = checked {
            let message = error.to_string();
            self.recorder.violation(SchemaViolation {
                conn: self.name.clone(),
                text: raw.cut(self.limits.kept_frame_bytes),
                message: prefix(&message, QUOTED_BYTES).to_owned(),
            });
        }
        if !parsed.is_object() && self.non_object_texts.len() < QUOTED_FRAMES {
            self.non_object_texts
                .push(raw.cut(self.limits.kept_frame_bytes));
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
        if let Some(schema) = &self.recorder.data_schema
            && let Err(why) = schema.check_frame(&value)
        {
            self.recorder.violation(SchemaViolation {
                conn: self.name.clone(),
                text: raw.cut(self.limits.kept_frame_bytes),
                message: prefix(&why, QUOTED_BYTES).to_owned(),
            });
        }
        let is_reply = value.as_object().is_some_and(|object| {
            ["errors", "data", "action", "response_status", "request_id"]
                .iter()
                .all(|key| object.contains_key(*key))
        });
        let class = if is_reply {
            Reply::from_value(value.clone())
                .ok()
                .map(|reply| self.correlator.received(&reply))
        } else {
            None
        };
        Inbound {
            cost: raw
                .len()
                .saturating_mul(2)
                .saturating_add(values.saturating_mul(JSON_VALUE_COST)),
            raw,
            value,
            stream,
            class,
        }
    }

    /// Keeps a frame no expectation took, or drops it when the inbox is full.
    fn keep(&mut self, frame: Inbound) {
        let full = self.inbox.frames.len() >= self.limits.inbox_frames
            || self.inbox.cost.saturating_add(frame.cost) > self.limits.inbox_bytes;
        if full {
            self.recorder.flooded(&self.name, frame.raw.len());
        } else {
            self.inbox.cost += frame.cost;
            self.inbox.frames.push_back(frame);
        }
    }

    fn describe_unconsumed(&self) -> String {
        let mut text = if self.inbox.is_empty() {
            "nothing else arrived".to_owned()
        } else {
            format!("unmatched frames: {}", self.inbox.describe())
        };
        if self.control_frames > 0 {
            text.push_str(&format!(
                " (and {} ping, pong or binary frames)",
                thousands(self.control_frames)
            ));
        }
        text
    }

    /// Waits until a frame matching `predicate` arrives; consumes and returns it.
    ///
    /// The frames already waiting are looked at once, then each new frame once.
    pub(crate) async fn expect(
        &mut self,
        what: &str,
        until: Instant,
        predicate: impl Fn(&Inbound) -> bool,
    ) -> Result<Inbound, Finding> {
        let started = Instant::now();
        if let Some(frame) = self.inbox.take(&predicate) {
            return Ok(frame);
        }
        loop {
            if let Some(close) = &self.closed {
                return Err(Finding::fail(format!(
                    "connection {} ended ({close}) while waiting for {what}; {}",
                    self.name,
                    self.describe_unconsumed()
                )));
            }
            match self.pump(until).await {
                Pumped::Frame(frame) if predicate(&frame) => return Ok(*frame),
                Pumped::Frame(frame) => self.keep(*frame),
                Pumped::Closed => {}
                Pumped::Timeout => {
                    return Err(Finding::fail(format!(
                        "no {what} on connection {} within {} ms; {}",
                        self.name,
                        started.elapsed().as_millis(),
                        self.describe_unconsumed()
                    )));
                }
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

    /// Waits for a frame matching `predicate`, or for the server to close the connection.
    async fn frame_or_close(
        &mut self,
        until: Instant,
        predicate: impl Fn(&Inbound) -> bool,
    ) -> ReplyOrClose {
        if let Some(frame) = self.inbox.take(&predicate) {
            return ReplyOrClose::Reply(frame);
        }
        loop {
            if let Some(close) = &self.closed {
                return ReplyOrClose::Closed(close.clone());
            }
            match self.pump(until).await {
                Pumped::Frame(frame) if predicate(&frame) => return ReplyOrClose::Reply(*frame),
                Pumped::Frame(frame) => self.keep(*frame),
                Pumped::Closed => {}
                Pumped::Timeout => return ReplyOrClose::Nothing,
            }
        }
    }

    /// Waits for a frame carrying `request_id`, or for the server to close the connection.
    pub(crate) async fn expect_reply_or_close(
        &mut self,
        request_id: &Value,
        until: Instant,
    ) -> ReplyOrClose {
        self.frame_or_close(until, |frame| frame.request_id() == request_id)
            .await
    }

    /// Waits for the first frame of any kind, or for the connection to end.
    pub(crate) async fn next_or_close(&mut self, until: Instant) -> ReplyOrClose {
        self.frame_or_close(until, |_| true).await
    }

    /// Reads until `until`, keeping every frame in the inbox.
    async fn read_until(&mut self, until: Instant) {
        while let Pumped::Frame(frame) = self.pump(until).await {
            self.keep(*frame);
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
        self.read_until(Instant::now() + window).await;
        if self.inbox.is_empty() {
            self.recorder.log(
                &self.name,
                WireEvent::Quiet {
                    ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
                },
            );
            return Ok(());
        }
        Err(Finding::fail(format!(
            "{why}, but connection {} received: {}",
            self.name,
            self.inbox.describe()
        )))
    }

    /// Reads whatever arrives within `window` (zero: what is already buffered, up to a
    /// bound), logging nothing beyond the frames themselves.
    pub(crate) async fn settle(&mut self, window: Duration) {
        self.read_until(Instant::now() + window).await;
    }

    /// The text frames received so far that do not hold a JSON object (SPEC 2.2.1), matched
    /// or not: the first few, cut at [`Limits::kept_frame_bytes`].
    pub(crate) fn non_object_texts(&self) -> &[FrameText] {
        &self.non_object_texts
    }

    /// Frames received and not matched by any expectation so far (at most
    /// [`Limits::inbox_frames`]; each cut at [`Limits::kept_frame_bytes`]).
    pub(crate) fn stray_frames(&self) -> Vec<String> {
        self.inbox
            .frames
            .iter()
            .map(|frame| frame.raw.cut(self.limits.kept_frame_bytes).to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends `flood` frames no request asked for, then one with request_id
    /// "end", then reads until the client leaves.
    async fn flooding_server(flood: usize, padding: usize) -> String {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binds");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("a client");
            let mut ws = tokio_tungstenite::accept_async(socket)
                .await
                .expect("a handshake");
            let pad = "x".repeat(padding);
            for n in 0..flood {
                let text = format!(
                    r#"{{"action":"update","errors":[],"response_status":200,"request_id":{n},"data":{{"pad":"{pad}"}}}}"#
                );
                if ws.feed(Message::text(text)).await.is_err() {
                    return;
                }
            }
            let end = r#"{"action":"x","errors":[],"response_status":200,"request_id":"end","data":null}"#;
            let _ = ws.send(Message::text(end)).await;
            while let Some(Ok(_)) = ws.next().await {}
        });
        format!("ws://{address}/")
    }

    async fn flooded_by(flood: usize, padding: usize, limits: Limits) -> (Conn, Recorder) {
        let url = flooding_server(flood, padding).await;
        let recorder = Recorder::with_limits(limits);
        let mut conn = Conn::connect(
            "a",
            &url,
            recorder.clone(),
            "pk",
            None,
            Duration::from_secs(10),
            &Transport::default(),
        )
        .await
        .expect("connects");
        let until = Instant::now() + Duration::from_secs(30);
        let end = conn
            .expect("the end", until, |frame| frame.request_id() == "end")
            .await
            .expect("the last frame arrives");
        assert_eq!(end.action(), "x");
        (conn, recorder)
    }

    #[tokio::test]
    async fn an_inbox_past_its_frame_bound_drops_frames_and_fails_the_case() {
        let limits = Limits {
            inbox_frames: 10,
            log_frames_per_conn: 5,
            ..Limits::default()
        };
        let (conn, recorder) = flooded_by(100, 0, limits).await;
        assert_eq!(conn.stray_frames().len(), 10);
        let snapshot = recorder.snapshot();
        assert_eq!(
            snapshot.limits_reached,
            vec![
                "server flooded: connection a dropped 90 frames (7.6 KiB) unread beyond its inbox bound of 10 frames or 4.0 MiB"
                    .to_owned()
            ]
        );
        let marker = snapshot.entries.last().expect("a marker");
        assert_eq!(
            marker.event,
            WireEvent::Note {
                text: "… 96 more frames (8.1 KiB) not kept".into()
            }
        );
    }

    #[tokio::test]
    async fn a_server_that_never_reads_fails_the_send_with_a_bounded_buffer() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binds");
        let address = listener.local_addr().expect("an address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("a client");
            let _ws = tokio_tungstenite::accept_async(socket)
                .await
                .expect("a handshake");
            // Holds the connection open and never reads.
            let _ = stopped.await;
        });
        let limits = Limits {
            max_write_buffer_bytes: 256 << 10,
            ..Limits::default()
        };
        let recorder = Recorder::with_limits(limits);
        let url = format!("ws://{address}/");
        let mut conn = Conn::connect(
            "a",
            &url,
            recorder,
            "pk",
            None,
            Duration::from_secs(10),
            &Transport::default(),
        )
        .await
        .expect("connects");
        let until = Instant::now() + Duration::from_secs(1);
        let chunk = "x".repeat(64 << 10);
        let mut sent = 0usize;
        let error = loop {
            match conn.send_text(chunk.clone(), until).await {
                Ok(()) => sent += 1,
                Err(finding) => break finding.message,
            }
            // Kernel buffers on loopback hold a few MiB at most.
            assert!(sent < 4_096, "64 KiB frames kept being accepted: {sent}");
        };
        assert!(
            error.contains("does not read") || error.contains("did not accept a frame"),
            "{error}"
        );
        let _ = stop.send(());
    }

    #[tokio::test]
    async fn an_inbox_past_its_byte_bound_drops_frames() {
        let limits = Limits {
            inbox_bytes: 1 << 20,
            ..Limits::default()
        };
        // 40 frames of 64 KiB: 7 fit in 1 MiB, each counted twice with its parsed value.
        let (conn, recorder) = flooded_by(40, 64 << 10, limits).await;
        let kept = conn.stray_frames().len();
        assert_eq!(kept, 7);
        let why = recorder.snapshot().limits_reached.join("\n");
        assert!(
            why.starts_with("server flooded: connection a dropped 33 frames"),
            "{why}"
        );
        // The failure message quotes a few frames, cut, and counts the rest.
        let message = conn.describe_unconsumed();
        assert!(message.contains("… 2 more frames (128."), "{message}");
        assert!(message.len() < 8 << 10, "{}", message.len());
    }

    #[test]
    fn counts_json_values_without_parsing() {
        assert_eq!(json_values("1"), 1);
        assert_eq!(json_values(r#"{"a":[1,2]}"#), 5);
        assert_eq!(json_values(r#"["[,{:\"", "x"]"#), 3);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(json_values(&deep), 100_001);
    }

    #[test]
    fn cuts_long_text_at_a_character_boundary() {
        let text = FrameText::from("ééé");
        assert_eq!(&*text.cut(6), "ééé");
        assert_eq!(&*text.cut(3), "é… (4 of 6 bytes not kept)");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(thousands(999), "999");
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(87 << 20), "87.0 MiB");
    }

    #[test]
    fn the_wire_log_keeps_a_bounded_part_and_says_how_much_it_dropped() {
        let limits = Limits {
            log_frames_per_conn: 3,
            log_bytes_per_run: 20,
            ..Limits::default()
        };
        let root = Recorder::with_limits(limits);
        let recorder = root.child();
        for _ in 0..10 {
            let text = FrameText::from("12345");
            recorder.log_received("a", WireEvent::Received { text }, 5);
        }
        let snapshot = recorder.snapshot();
        assert_eq!(snapshot.entries.len(), 4);
        assert_eq!(
            snapshot.entries[3].event,
            WireEvent::Note {
                text: "… 7 more frames (35 bytes) not kept".into()
            }
        );
        // The run's budget is shared: 15 of its 20 bytes are spent, so another case keeps one.
        let other = root.child();
        for _ in 0..3 {
            other.log_received("b", WireEvent::ReceivedBinary { bytes: 5 }, 5);
        }
        assert_eq!(other.snapshot().entries.len(), 2);
    }
}
