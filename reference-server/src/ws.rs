//! One WebSocket connection: requests in, replies and events out.
//!
//! One task per connection. Replies are written by the task in request order (SPEC §4.3.2);
//! events arrive through the connection's queue, bounded in frames and bytes. Before a
//! request is handled a batch of queued events is written. An `unsubscribe_instance` removes
//! the events still queued for the cancelled subscriptions before its reply is written: no
//! event of them can follow the reply, however long the backlog (SPEC §5.4.2).

use std::sync::Arc;
use std::time::Duration;

use dcrf_protocol::{Action, Multiplexed, Operation, Reply, ReplyAction, Request, RequestId};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::config::Endpoints;
use crate::fast_path::{self, CommonRequest, Data, LookupAction};
use crate::model::{Instance, ModelRef};
use crate::registry::{ConnId, ConnSink, Subscribed, SubscriptionLimits};
use crate::serializer::{Mode, python_str};
use crate::server::{MutateError, Server};
use crate::store::{Applied, Mutation};
use crate::{Profile, pyjson};

/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How long a slow consumer has to take its close frame (1008) once its backlog is dropped:
/// the frame waits behind what the kernel already holds, for a peer that may read late.
const SLOW_CLOSE_DEADLINE: Duration = Duration::from_secs(30);

/// Most queued events written in one batch before a flush.
const BATCH: usize = 256;

/// The three WebSocket endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/ws/`: the seed consumer (`ObserverModelInstanceMixin` + `GenericAsyncAPIConsumer`).
    Observer,
    /// `/ws/full/`: the seed consumer plus the model mixins (list, create, update, patch, delete).
    Full,
    /// `/ws/multiplexed/`: the full consumer behind channelsmultiplexer, stream `users`.
    Multiplexed,
}

impl Endpoint {
    pub(crate) fn from_path(path: &str, endpoints: &Endpoints) -> Option<Endpoint> {
        if path == endpoints.observer {
            Some(Endpoint::Observer)
        } else if path == endpoints.crud {
            Some(Endpoint::Full)
        } else if path == endpoints.multiplexed {
            Some(Endpoint::Multiplexed)
        } else {
            None
        }
    }

    fn offers(self, action: &Action) -> bool {
        match action {
            Action::Retrieve | Action::SubscribeInstance | Action::UnsubscribeInstance => true,
            Action::List | Action::Create | Action::Update | Action::Patch | Action::Delete => {
                self != Endpoint::Observer
            }
            Action::Other(_) => false,
        }
    }
}

/// What the serve loop does after a message.
enum Step {
    /// Read the next message.
    Next,
    /// A write was attempted (see [`Connection::guarded`]).
    Wrote(Option<bool>),
    /// The connection is over (closed, failed, or the peer left).
    End,
}

/// What a request produced.
#[derive(Default)]
struct Handled {
    frames: Vec<String>,
    /// Write a batch of queued events before the frames (an unsubscribe under
    /// `Fault::EventsAfterUnsubscribeBacklog`: the old behaviour).
    drain_first: bool,
    /// Close the socket with 1011 after the frames, answering nothing more: where DCRF
    /// 1.3.0's consumer raises (`dcrf-1.3.0` profile, SPEC §2.3, §10).
    crash: bool,
}

impl Handled {
    fn frame(frame: String) -> Handled {
        Handled {
            frames: vec![frame],
            drain_first: false,
            crash: false,
        }
    }

    /// No reply; the socket closes with 1011.
    fn crash() -> Handled {
        Handled {
            crash: true,
            ..Handled::default()
        }
    }
}

/// The result of an action: status, errors, data.
struct Outcome {
    status: u16,
    errors: Vec<Value>,
    data: OutcomeData,
    /// No reply: close with 1011 where DCRF's action raises (`dcrf-1.3.0` only).
    crash: bool,
}

/// The data of an outcome.
enum OutcomeData {
    /// A value, printed as the profile prints JSON.
    Value(Value),
    /// A value's compact JSON text: an instance printed at once on a fast-path connection
    /// ([`Connection::instance_outcome`]).
    Json(String),
}

impl Outcome {
    fn ok(status: u16, data: Value) -> Outcome {
        Outcome {
            status,
            errors: Vec::new(),
            data: OutcomeData::Value(data),
            crash: false,
        }
    }

    fn error(status: u16, message: impl Into<String>) -> Outcome {
        Outcome {
            status,
            errors: vec![Value::String(message.into())],
            data: OutcomeData::Value(Value::Null),
            crash: false,
        }
    }

    fn crash() -> Outcome {
        Outcome {
            crash: true,
            ..Outcome::error(500, "")
        }
    }

    fn not_found() -> Outcome {
        Outcome::error(404, "Not found")
    }
}

struct Connection {
    server: Arc<Server>,
    id: ConnId,
    endpoint: Endpoint,
    sink: Arc<ConnSink>,
    /// Whether requests of the common shape take the fast path ([`crate::fast_path`]):
    /// the strict profile, no fault injected, no multiplexer envelope.
    fast_path: bool,
}

/// Which decode path a connection uses: the fast path where it applies, or the general
/// path always (tests compare the two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decode {
    /// The fast path for requests of the common shape, where the connection allows it.
    Fast,
    /// Every frame through the general path.
    #[cfg_attr(not(test), allow(dead_code))]
    General,
}

/// The upgraded byte stream of a connection, whatever carries it.
pub(crate) trait UpgradedIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> UpgradedIo for S {}

type Ws = WebSocketStream<Box<dyn UpgradedIo>>;

/// Runs one upgraded connection to its end; `stream` is past the HTTP handshake.
pub(crate) async fn run<S>(server: Arc<Server>, stream: S, endpoint: Endpoint)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    run_with(server, stream, endpoint, Decode::Fast).await;
}

/// [`run`], choosing the decode path.
pub(crate) async fn run_with<S>(server: Arc<Server>, stream: S, endpoint: Endpoint, decode: Decode)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = server.config.limits;
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes));
    let stream: Box<dyn UpgradedIo> = Box::new(stream);
    let mut ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
    let sink = ConnSink::new(
        limits.outbound_queue_frames,
        limits.outbound_queue_bytes,
        server.registry().meter(),
    );
    let fast_path = decode == Decode::Fast
        && server.config.profile == Profile::Strict
        && server.config.endpoints.lookup_field == dcrf_protocol::DEFAULT_LOOKUP_FIELD
        && server.config.faults == crate::Faults::none()
        && endpoint != Endpoint::Multiplexed;
    let connection = Connection {
        id: server.next_conn_id(),
        server: Arc::clone(&server),
        endpoint,
        sink,
        fast_path,
    };
    tracing::debug!(conn = connection.id, ?endpoint, "open");
    if server.config.faults.greeting {
        let hello = r#"{"errors": [], "data": "hello", "action": "greeting", "response_status": 200, "request_id": null}"#;
        let _ = futures_util::SinkExt::send(&mut ws, Message::text(hello)).await;
    }
    connection.serve(&mut ws).await;
    server.registry().remove_connection(connection.id);
    tracing::debug!(conn = connection.id, "closed");
}

impl Connection {
    async fn serve(&self, ws: &mut Ws) {
        // Shutdown and the kill of a slow consumer are awaited by futures that live as long
        // as the loop, so that each wake-up polls them instead of registering and removing
        // a waiter on each; `shutdown` is read directly where a message is already at hand.
        let shutdown = self.server.shutdown.clone();
        let mut stopping = self.server.shutdown.clone();
        let mut stopping = std::pin::pin!(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        });
        let mut killed = std::pin::pin!(self.sink.killed());
        // Replies written since the last flush. They are flushed once no further request is
        // already readable (or after BATCH of them): pipelined requests cost one flush per
        // batch, not one per reply, and a reply never waits for a request still to come.
        let mut unflushed = 0usize;
        loop {
            let ready = match unflushed {
                0 => None,
                n if n >= BATCH => None,
                _ => ws.next().now_or_never(),
            };
            if unflushed > 0 && ready.is_none() {
                match self.guarded(ws.flush()).await {
                    Some(false) => unflushed = 0,
                    Some(true) => return self.close_slow(ws).await,
                    None => return,
                }
            }
            let step = match ready {
                // A message already read: shutdown and a slow consumer still come first, as
                // in the select below, checked without registering a waiter for each.
                Some(incoming) => {
                    if *shutdown.borrow() || shutdown.has_changed().is_err() {
                        return close(ws, CloseCode::Away, "server shutting down").await;
                    }
                    if self.sink.is_slow() {
                        return self.close_slow(ws).await;
                    }
                    self.on_message(ws, incoming, &mut unflushed).await
                }
                None => tokio::select! {
                    biased;
                    () = &mut stopping => {
                        return close(ws, CloseCode::Away, "server shutting down").await;
                    }
                    () = &mut killed => return self.close_slow(ws).await,
                    incoming = ws.next() => self.on_message(ws, incoming, &mut unflushed).await,
                    () = self.sink.wait_ready() => {
                        Step::Wrote(self.guarded(write_queued(ws, &self.sink)).await)
                    }
                },
            };
            match step {
                Step::Next | Step::Wrote(Some(false)) => {}
                Step::Wrote(Some(true)) => return self.close_slow(ws).await,
                Step::Wrote(None) | Step::End => return,
            }
        }
    }

    /// Handles one message read from the socket: a request is answered (its reply fed, not
    /// flushed; `unflushed` counts it), anything else as the protocol says.
    async fn on_message(
        &self,
        ws: &mut Ws,
        incoming: Option<Result<Message, WsError>>,
        unflushed: &mut usize,
    ) -> Step {
        let handled = match incoming {
            None => return Step::End,
            Some(Ok(Message::Text(text))) => {
                // Events queued before this request leave before its reply.
                if !self.sink.is_empty() {
                    match self.guarded(write_queued(ws, &self.sink)).await {
                        Some(false) => {}
                        Some(true) => {
                            self.close_slow(ws).await;
                            return Step::End;
                        }
                        None => return Step::End,
                    }
                }
                self.handle_text(text.as_str()).await
            }
            Some(Ok(Message::Binary(_))) => self.malformed(
                &Value::Null,
                &Value::Null,
                Outcome::error(
                    400,
                    "Binary frames are not supported: send each request as a JSON object in a text frame.",
                ),
                None,
            ),
            Some(Ok(_)) => return Step::Next,
            Some(Err(error)) => {
                self.read_failed(ws, error).await;
                return Step::End;
            }
        };
        if self.server.config.faults.silent {
            return Step::Next;
        }
        if handled.crash {
            tracing::debug!(
                conn = self.id,
                "closing with 1011 where DCRF's consumer raises"
            );
            close(ws, CloseCode::Error, "").await;
            return Step::End;
        }
        Step::Wrote(
            self.guarded(async {
                if handled.drain_first {
                    write_queued(ws, &self.sink).await?;
                }
                for frame in handled.frames {
                    if self.server.config.faults.binary_replies {
                        ws.feed(Message::binary(frame.into_bytes())).await?;
                    } else {
                        ws.feed(Message::text(frame)).await?;
                    }
                }
                *unflushed += 1;
                Ok(())
            })
            .await,
        )
    }

    /// Runs a write, unless the connection turns out to be a slow consumer first: a peer
    /// that does not read must not pin the task in a write forever. `Some(true)`: slow
    /// consumer; `Some(false)`: written; `None`: the connection failed.
    async fn guarded(
        &self,
        write: impl std::future::Future<Output = Result<(), WsError>>,
    ) -> Option<bool> {
        // A slow consumer is told by its flag (set before the kill is notified), and a write
        // that completes at once needs no waiter on the kill: most replies go into
        // tungstenite's buffer without waiting.
        if self.sink.is_slow() {
            return Some(true);
        }
        let mut write = std::pin::pin!(write);
        if let Some(result) = write.as_mut().now_or_never() {
            return result.ok().map(|()| false);
        }
        tokio::select! {
            biased;
            () = self.sink.killed() => Some(true),
            result = write => result.ok().map(|()| false),
        }
    }

    /// Closes a slow consumer with 1008: its backlog is dropped first, so that the close
    /// frame follows only what tungstenite and the kernel already hold, and it gets
    /// [`SLOW_CLOSE_DEADLINE`] to reach a peer that reads late (or until shutdown).
    async fn close_slow(&self, ws: &mut Ws) {
        let dropped = self.sink.discard_all();
        self.server.registry().remove_connection(self.id);
        tracing::info!(
            conn = self.id,
            dropped_bytes = dropped,
            "closing a slow consumer"
        );
        let mut shutdown = self.server.shutdown.clone();
        tokio::select! {
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {}
            () = close_within(ws, CloseCode::Policy, "slow consumer", SLOW_CLOSE_DEADLINE) => {}
        }
    }

    async fn read_failed(&self, ws: &mut Ws, error: WsError) {
        match error {
            WsError::Capacity(cause) => {
                tracing::info!(conn = self.id, %cause, "closing: message too big");
                let limit = self.server.config.limits.max_frame_bytes;
                close(
                    ws,
                    CloseCode::Size,
                    &format!("message too big: the limit is {limit} bytes"),
                )
                .await;
            }
            WsError::Utf8(_) => {
                close(ws, CloseCode::Invalid, "text frame is not valid UTF-8").await
            }
            WsError::Protocol(cause) => {
                close(ws, CloseCode::Protocol, &format!("protocol error: {cause}")).await;
            }
            _ => {}
        }
    }

    /// Handles one text frame; the reply frames are returned, not written.
    async fn handle_text(&self, text: &str) -> Handled {
        if self.server.config.faults.silent {
            return Handled::default();
        }
        if self.fast_path
            && let Some(request) = CommonRequest::parse(text)
            && let Some(handled) = self.handle_common(&request).await
        {
            return handled;
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => {
                return self.malformed(
                    &Value::Null,
                    &Value::Null,
                    Outcome::error(400, format!("Invalid JSON: {error}.")),
                    None,
                );
            }
        };
        // Python's json.loads refuses an integer of more than 4,300 digits (SPEC §10.15).
        if self.profile().is_dcrf() && !pyjson::parses_in_python(&value) {
            return Handled::crash();
        }
        if self.endpoint != Endpoint::Multiplexed {
            return self.handle_request(value, None).await;
        }
        // SPEC §8: {"stream": NAME, "payload": REQUEST}.
        let Value::Object(mut envelope) = value else {
            return self.malformed(
                &Value::Null,
                &Value::Null,
                Outcome::error(
                    400,
                    format!(
                        "A multiplexed frame must be a JSON object {{\"stream\": NAME, \"payload\": REQUEST}}, found {}.",
                        json_type(&value)
                    ),
                ),
                None,
            );
        };
        let stream = match envelope.get("stream") {
            Some(Value::String(stream)) => stream.clone(),
            _ => {
                let (action, request_id) = echo_of(&envelope);
                return self.malformed(
                    &action,
                    &request_id,
                    Outcome::error(
                        400,
                        "A multiplexed frame needs \"stream\", a string: send {\"stream\": \"users\", \"payload\": REQUEST}.",
                    ),
                    None,
                );
            }
        };
        let stream: Arc<str> = Arc::from(stream);
        let payload = envelope.shift_remove("payload");
        let (action, request_id) = match &payload {
            Some(Value::Object(payload)) => echo_of(payload),
            _ => (Value::Null, Value::Null),
        };
        let offered = &self.server.config.endpoints.stream;
        if *stream != **offered {
            if self.server.config.faults.ignore_unknown_stream {
                return Handled::default();
            }
            // channelsmultiplexer raises on a stream it does not know (SPEC §8.3, §10.8).
            if self.profile().is_dcrf() {
                return Handled::crash();
            }
            return self.reply(
                &action,
                &request_id,
                Outcome::error(
                    404,
                    format!(
                        "Unknown stream \"{stream}\": this server offers the stream \"{offered}\"."
                    ),
                ),
                Some(&stream),
            );
        }
        match payload {
            Some(payload @ Value::Object(_)) => self.handle_request(payload, Some(stream)).await,
            other => {
                let found = other.as_ref().map_or("nothing", json_type);
                self.malformed(
                    &Value::Null,
                    &Value::Null,
                    Outcome::error(400, format!("The payload of a multiplexed frame must be a JSON object (a request), found {found}.")),
                    Some(&stream),
                )
            }
        }
    }

    /// Handles a request of the common shape the way [`handle_request`](Self::handle_request)
    /// does, without its `Value`s (see [`crate::fast_path`]). `None`, before anything was
    /// done, sends the frame down the general path: an action this endpoint does not offer,
    /// a subscribe whose request_id is no subscription key.
    async fn handle_common(&self, request: &CommonRequest<'_>) -> Option<Handled> {
        let action = request.action;
        if !self.endpoint.offers(&action.action()) {
            return None;
        }
        let lookup = request.lookup();
        let subscription_id;
        let operation = match action {
            LookupAction::Retrieve => Operation::Retrieve { lookup: &lookup },
            LookupAction::SubscribeInstance => {
                subscription_id = request
                    .request_id()
                    .filter(RequestId::is_subscription_key)?;
                Operation::SubscribeInstance {
                    lookup: &lookup,
                    request_id: &subscription_id,
                }
            }
            LookupAction::UnsubscribeInstance => Operation::UnsubscribeInstance { lookup: &lookup },
            LookupAction::Delete => Operation::Delete { lookup: &lookup },
        };
        let request_id = request.request_id_value();
        let outcome = self.perform(operation, request_id.as_ref(), None).await;
        if outcome.crash {
            return Some(Handled::crash());
        }
        let data = match &outcome.data {
            OutcomeData::Json(text) => Data::Json(text),
            OutcomeData::Value(value) => Data::Value(value),
        };
        Some(Handled::frame(fast_path::reply_frame(
            &outcome.errors,
            data,
            action.name(),
            outcome.status,
            request.request_id_text(),
        )))
    }

    /// Handles one request (SPEC §3), unwrapped.
    async fn handle_request(&self, value: Value, stream: Option<Arc<str>>) -> Handled {
        let stream_ref = stream.as_deref();
        let Value::Object(object) = value else {
            let message = format!(
                "A request must be a JSON object, found {}.",
                json_type(&value)
            );
            return self.malformed(
                &Value::Null,
                &Value::Null,
                Outcome::error(400, message),
                stream_ref,
            );
        };
        let request_id = object.get("request_id").cloned().unwrap_or(Value::Null);
        let action_value = match object.get("action") {
            // SPEC §7.2
            None => {
                let outcome = Outcome::error(405, "Unable to find action in message body.");
                return self.reply(&Value::Null, &request_id, outcome, stream_ref);
            }
            Some(action) => action.clone(),
        };
        // DCRF's permission check gets every argument as a keyword argument: these names
        // clash with its own parameters and raise, whatever the action (PROFILE-NOTES 4.7).
        if self.profile().is_dcrf()
            && ["self", "scope", "consumer"]
                .iter()
                .any(|name| object.contains_key(*name))
        {
            return Handled::crash();
        }
        let action = match &action_value {
            Value::String(name) => Action::from_name(name),
            Value::Array(_) | Value::Object(_) => {
                let message = format!(
                    "\"action\" must be a string, found {}.",
                    json_type(&action_value)
                );
                return self.malformed(
                    &action_value,
                    &request_id,
                    Outcome::error(400, message),
                    stream_ref,
                );
            }
            // DCRF answers a scalar action it cannot dispatch like any unknown one (SPEC §4.2.2).
            other => {
                let outcome = Outcome::error(
                    405,
                    format!("Method \"{}\" not allowed.", python_str(other)),
                );
                return self.reply(&action_value, &request_id, outcome, stream_ref);
            }
        };
        if !self.endpoint.offers(&action) {
            // SPEC §7.1
            let outcome = Outcome::error(405, format!("Method \"{action}\" not allowed."));
            return self.reply(&action_value, &request_id, outcome, stream_ref);
        }
        let request = match Request::from_value(Value::Object(object)) {
            Ok(request) => request,
            Err(error) => {
                let outcome = Outcome::error(400, format!("Malformed request: {error}."));
                return self.malformed(&action_value, &request_id, outcome, stream_ref);
            }
        };
        if self.profile().is_dcrf() && clashes_with_dcrf_parameter(&action, &request) {
            return Handled::crash();
        }
        let operation = match self.operation(&request) {
            Ok(operation) => operation,
            Err(error) => {
                let outcome = Outcome::error(400, malformed_message(&action, &error));
                return self.malformed(&action_value, &request_id, outcome, stream_ref);
            }
        };
        let is_unsubscribe = matches!(operation, Operation::UnsubscribeInstance { .. });
        let mut outcome = self
            .perform(
                operation,
                request.request_id.as_ref().map(RequestId::as_value),
                stream.as_ref(),
            )
            .await;
        if outcome.crash {
            return Handled::crash();
        }
        let mut reply_action = action_value;
        let faults = &self.server.config.faults;
        if action == Action::Retrieve && faults.retrieve_action_list {
            reply_action = Value::from("list");
        }
        if action == Action::SubscribeInstance
            && faults.subscribe_status_200
            && outcome.status == 201
        {
            outcome.status = 200;
        }
        let mut handled = self.reply(&reply_action, &request_id, outcome, stream_ref);
        handled.drain_first = is_unsubscribe && faults.events_after_unsubscribe_backlog;
        handled
    }

    /// The request's operation. Under `dcrf-1.3.0` a subscribe_instance takes any
    /// request_id but null (booleans are set members, SPEC §5.3.6; an array or an object
    /// is refused by the action itself, after the lookup).
    fn operation<'r>(&self, request: &'r Request) -> Result<Operation<'r>, dcrf_protocol::Error> {
        if self.profile().is_dcrf()
            && request.action == Action::SubscribeInstance
            && let Some(request_id) = &request.request_id
            && !request_id.as_value().is_null()
            && let Some(lookup) = request.args.get(&self.server.config.endpoints.lookup_field)
        {
            return Ok(Operation::SubscribeInstance { lookup, request_id });
        }
        request.operation(&self.server.config.endpoints.lookup_field)
    }

    async fn perform(
        &self,
        operation: Operation<'_>,
        request_id: Option<&Value>,
        stream: Option<&Arc<str>>,
    ) -> Outcome {
        let server = &self.server;
        match operation {
            // SPEC §5.1, §5.2
            Operation::Retrieve { lookup } => {
                let table = server.table().await;
                let model = server.model();
                match model.lookup(lookup).and_then(|pk| table.get(&pk)) {
                    Some(instance) => self.instance_outcome(200, model, instance),
                    None => Outcome::not_found(),
                }
            }
            // SPEC §5.3
            Operation::SubscribeInstance { lookup, request_id } => {
                let table = server.table().await;
                let Some(pk) = server
                    .model()
                    .lookup(lookup)
                    .filter(|pk| table.get(pk).is_some())
                else {
                    if server.config.faults.subscribe_missing_replaces {
                        server.registry().remove_connection(self.id);
                    }
                    return Outcome::not_found();
                };
                // DCRF adds the request_id to a Python set: an array or an object raises.
                if matches!(request_id.as_value(), Value::Array(_) | Value::Object(_)) {
                    return Outcome::crash();
                }
                let limits = &server.config.limits;
                // The request_id is kept for the life of the subscription: bound its size.
                let id_bytes = json_len(request_id.as_value());
                if id_bytes > limits.max_request_id_bytes {
                    return Outcome::error(
                        400,
                        format!(
                            "The request_id of subscribe_instance is {id_bytes} bytes of JSON; the limit is {} bytes.",
                            limits.max_request_id_bytes
                        ),
                    );
                }
                // Registered while the table is read-locked: every later change sees it.
                let subscribed = server.registry().subscribe(
                    self.id,
                    &self.sink,
                    stream,
                    pk,
                    request_id.as_value(),
                    SubscriptionLimits {
                        count: limits.max_subscriptions_per_connection,
                        bytes: limits.max_subscription_bytes_per_connection,
                    },
                );
                drop(table);
                match subscribed {
                    Subscribed::Ok => Outcome::ok(201, Value::Null),
                    Subscribed::LimitReached(limit) => Outcome::error(
                        429,
                        format!(
                            "Too many subscriptions on this connection: the limit is {limit}; unsubscribe first."
                        ),
                    ),
                    Subscribed::BytesLimitReached(limit) => Outcome::error(
                        429,
                        format!(
                            "Too many subscription bytes on this connection: the limit is {limit} bytes of request_ids and bookkeeping; unsubscribe first or use shorter request_ids."
                        ),
                    ),
                }
            }
            // SPEC §5.4
            Operation::UnsubscribeInstance { lookup } => {
                let table = server.table().await;
                let Some(pk) = server
                    .model()
                    .lookup(lookup)
                    .filter(|pk| table.get(pk).is_some())
                else {
                    if server.config.faults.unsubscribe_missing_cancels {
                        server.registry().remove_connection(self.id);
                    }
                    return Outcome::not_found();
                };
                let faults = &server.config.faults;
                if !faults.event_after_unsubscribe {
                    // A null request_id is Python's None: the same as none at all.
                    let request_id = request_id.filter(|id| !id.is_null());
                    let mut registry = server.registry();
                    let cancelled = match self.profile() {
                        Profile::Strict => registry.unsubscribe(self.id, pk, request_id),
                        Profile::Dcrf130 => {
                            // Removing an unhashable request_id from a non-empty set raises.
                            let unhashable = request_id
                                .is_some_and(|id| matches!(id, Value::Array(_) | Value::Object(_)));
                            if unhashable && registry.holds_any(self.id) {
                                return Outcome::crash();
                            }
                            registry.unsubscribe_dcrf(self.id, pk, request_id)
                        }
                    };
                    drop(registry);
                    drop(table);
                    if cancelled.is_empty() && faults.unsubscribe_unknown_404 {
                        return Outcome::not_found();
                    }
                    // No event of them is queued from now on; drop the ones already waiting,
                    // so none is written after the reply (SPEC §5.4.2).
                    if !faults.events_after_unsubscribe_backlog {
                        let dropped = self.sink.discard(&cancelled);
                        if dropped > 0 {
                            tracing::debug!(
                                conn = self.id,
                                dropped,
                                "dropped the queued events of cancelled subscriptions"
                            );
                        }
                    }
                }
                Outcome::ok(204, Value::Null)
            }
            // SPEC §6.1
            Operation::List => {
                let table = server.table().await;
                let model = server.model();
                let list = model.list(&table).into_iter().map(|i| model.render(i));
                Outcome::ok(200, Value::Array(list.collect()))
            }
            // SPEC §6.2
            Operation::Create { data } => {
                // The seed serializer's create() reads validated_data['email'] (SPEC §10.7).
                let model = server.model();
                let raises_without_email = self.profile().is_dcrf()
                    && matches!(model, ModelRef::User)
                    && data
                        .as_object()
                        .is_some_and(|data| !data.contains_key("email"));
                let result = server
                    .mutate(|table| {
                        let mutation = model
                            .validate(table, Mode::Create, None, data)
                            .map_err(validation_error)?;
                        if raises_without_email {
                            return Err(Outcome::crash());
                        }
                        Ok(mutation)
                    })
                    .await;
                applied(model, result, 201)
            }
            // SPEC §6.3, §6.4
            Operation::Update { lookup, data } | Operation::Patch { lookup, data } => {
                let mode = if matches!(operation, Operation::Update { .. }) {
                    Mode::Update
                } else {
                    Mode::Patch
                };
                let model = server.model();
                let pk = model.lookup(lookup);
                let result = server
                    .mutate(|table| {
                        let instance = pk
                            .as_ref()
                            .and_then(|pk| table.get(pk))
                            .ok_or_else(Outcome::not_found)?;
                        model
                            .validate(table, mode, Some(instance), data)
                            .map_err(validation_error)
                    })
                    .await;
                applied(model, result, 200)
            }
            // SPEC §6.5
            Operation::Delete { lookup } => {
                let model = server.model();
                let pk = model.lookup(lookup);
                let result = server
                    .mutate(
                        |table| match pk.as_ref().filter(|pk| table.get(pk).is_some()) {
                            Some(pk) => Ok(Mutation::Delete(pk.clone())),
                            None => Err(Outcome::not_found()),
                        },
                    )
                    .await;
                applied(model, result, 204)
            }
            Operation::Custom { action } => {
                Outcome::error(405, format!("Method \"{action}\" not allowed."))
            }
        }
    }

    /// The answer to malformed input (SPEC §2.3): a 400 error reply under `strict`, close
    /// 1011 (no reply) under `dcrf-1.3.0`, where DCRF's consumer raises.
    fn malformed(
        &self,
        action: &Value,
        request_id: &Value,
        outcome: Outcome,
        stream: Option<&str>,
    ) -> Handled {
        if self.profile().is_dcrf() {
            return Handled::crash();
        }
        self.reply(action, request_id, outcome, stream)
    }

    /// The outcome of an action whose data is the instance `user`. A fast-path connection
    /// prints it to text at once (its replies splice the text in); any other keeps the
    /// `Value`, which its profile prints.
    fn instance_outcome(&self, status: u16, model: ModelRef<'_>, instance: &Instance) -> Outcome {
        if self.fast_path {
            Outcome {
                data: OutcomeData::Json(model.render_text(instance)),
                ..Outcome::ok(status, Value::Null)
            }
        } else {
            Outcome::ok(status, model.render(instance))
        }
    }

    fn profile(&self) -> Profile {
        self.server.config.profile
    }

    /// One reply frame; under `dcrf-1.3.0` a reply Python could not print (a number that
    /// overflows a double) closes with 1011 instead.
    fn reply(
        &self,
        action: &Value,
        request_id: &Value,
        outcome: Outcome,
        stream: Option<&str>,
    ) -> Handled {
        match self.render(action, request_id, outcome, stream) {
            Some(frame) => Handled::frame(frame),
            None => Handled::crash(),
        }
    }

    /// Renders a reply in DCRF's key order (errors, data, action, response_status,
    /// request_id), wrapped for its stream when multiplexed; `None` when the profile's JSON
    /// cannot print it.
    fn render(
        &self,
        action: &Value,
        request_id: &Value,
        outcome: Outcome,
        stream: Option<&str>,
    ) -> Option<String> {
        let data = match outcome.data {
            // The instance printed as text: read back into the `Value` it was printed from.
            OutcomeData::Json(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            OutcomeData::Value(value) => value,
        };
        let reply = Reply {
            errors: outcome.errors,
            data,
            action: ReplyAction::from_value(action.clone()),
            response_status: outcome.status,
            request_id: RequestId::from(request_id.clone()),
            extra: Map::new(),
        };
        // The strict profile's common case prints the reply straight to text, without a
        // `Value` in between (the same keys, in the same order); dcrf-1.3.0 prints Python's
        // JSON text below.
        if stream.is_none()
            && !self.server.config.faults.missing_errors_key
            && matches!(self.profile(), Profile::Strict)
        {
            return Some(reply.to_frame());
        }
        let mut value = reply.to_value();
        if self.server.config.faults.missing_errors_key
            && let Value::Object(object) = &mut value
        {
            object.shift_remove("errors");
        }
        let value = match stream {
            None => value,
            Some(stream) => serde_json::to_value(Multiplexed::new(stream, value)).ok()?,
        };
        match self.profile() {
            Profile::Strict => Some(value.to_string()),
            Profile::Dcrf130 => pyjson::to_string(&value).ok(),
        }
    }
}

fn validation_error(errors: Value) -> Outcome {
    Outcome {
        status: 400,
        errors: vec![errors],
        data: OutcomeData::Value(Value::Null),
        crash: false,
    }
}

fn applied(
    model: ModelRef<'_>,
    result: Result<Applied, MutateError<Outcome>>,
    status: u16,
) -> Outcome {
    match result {
        Ok(Applied::Saved(instance)) => Outcome::ok(status, model.render(&instance)),
        Ok(Applied::Deleted(_)) => Outcome::ok(status, Value::Null),
        Err(MutateError::Rejected(outcome)) => outcome,
        Err(MutateError::Persist(error)) => {
            tracing::error!(%error, "change not persisted");
            Outcome::error(500, "Internal server error: the change could not be saved.")
        }
    }
}

/// Whether an argument name clashes with a parameter of the DCRF method that runs `action`
/// (`queryset` of the lookup actions and list, `instance` of delete, `serializer` of create,
/// update and patch): DCRF raises (PROFILE-NOTES 4.7).
fn clashes_with_dcrf_parameter(action: &Action, request: &Request) -> bool {
    let names: &[&str] = match action {
        Action::Retrieve
        | Action::SubscribeInstance
        | Action::UnsubscribeInstance
        | Action::List => &["queryset"],
        Action::Update | Action::Patch => &["queryset", "serializer"],
        Action::Delete => &["queryset", "instance"],
        Action::Create => &["serializer"],
        Action::Other(_) => &[],
    };
    names.iter().any(|name| request.args.contains_key(*name))
}

/// The 400 message for a request of a known action without what it needs (SPEC §2.3).
fn malformed_message(action: &Action, error: &dcrf_protocol::Error) -> String {
    match error {
        dcrf_protocol::Error::MissingArgument { key, .. } if key == "request_id" => format!(
            "\"{action}\" needs a \"request_id\" (a string or a number): events of the subscription carry it back."
        ),
        dcrf_protocol::Error::MissingArgument { key, .. } => {
            format!("\"{action}\" needs the argument \"{key}\".")
        }
        dcrf_protocol::Error::WrongType {
            key,
            expected,
            found,
        } => {
            format!("The \"{key}\" of \"{action}\" must be {expected}, found {found}.")
        }
        other => format!("Malformed \"{action}\" request: {other}."),
    }
}

/// The action and request_id to echo from a request-like object.
fn echo_of(object: &Map<String, Value>) -> (Value, Value) {
    (
        object.get("action").cloned().unwrap_or(Value::Null),
        object.get("request_id").cloned().unwrap_or(Value::Null),
    )
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Writes the events waiting in the queue (up to a batch), then flushes.
async fn write_queued(ws: &mut Ws, sink: &ConnSink) -> Result<(), WsError> {
    for _ in 0..BATCH {
        match sink.pop() {
            Some(frame) => ws.feed(Message::text(frame)).await?,
            None => break,
        }
    }
    ws.flush().await
}

/// Length of a value's JSON text, without building it.
fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Sends a close frame and waits briefly for the peer's, so that the connection never
/// ends without one (SPEC §2.3.3, §2.4.1).
async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    close_within(ws, code, reason, CLOSE_GRACE).await;
}

/// As [`close`], giving the close frame `send_deadline` to be written.
async fn close_within(ws: &mut Ws, code: CloseCode, reason: &str, send_deadline: Duration) {
    let mut reason = reason.to_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // A peer may not read at all: sending is bounded too.
    match tokio::time::timeout(send_deadline, ws.send(Message::Close(Some(frame)))).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) | Err(_) => return,
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(_)) = ws.next().await {}
        // After a read error (invalid UTF-8, a protocol error) tungstenite reads no more:
        // drain the socket itself until the peer's close frame and FIN, so that the peer's
        // close reply does not meet a closed socket, whose RST could destroy the close frame
        // before the peer has read it.
        let mut buf = [0u8; 1024];
        while let Ok(n) = tokio::io::AsyncReadExt::read(ws.get_mut(), &mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
