//! The connection task: it owns the socket, allocates request_ids, correlates replies and
//! routes events to subscriptions, and reconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dcrf_protocol::{Action, Multiplexed, Reply, Request};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::subscription::{Inbox, RawEvent};
use crate::{Error, ReconnectPolicy};

/// How long closing a socket may take before it is dropped anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a connection needs to be opened (again).
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_message_size: usize,
}

impl Endpoint {
    /// Opens the socket: TCP, TLS for `wss://`, the WebSocket handshake with the headers.
    pub(crate) async fn connect(&self) -> Result<Socket, Error> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|error| Error::Connect(Box::new(error)))?;
        for (name, value) in &self.headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        let connector = self.tls.clone().map(Connector::Rustls);
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size));
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            connector,
        );
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok((socket, _response))) => Ok(socket),
            Ok(Err(error)) => Err(Error::Connect(Box::new(error))),
            Err(_) => Err(Error::Timeout),
        }
    }
}

/// Settings of the connection task.
pub(crate) struct Settings {
    pub(crate) endpoint: Endpoint,
    pub(crate) stream: Option<String>,
    pub(crate) lookup_field: String,
    pub(crate) reconnect: Option<ReconnectPolicy>,
}

/// A request from a [`Client`](crate::Client) handle.
pub(crate) enum Command {
    /// Send `request` with a fresh request_id; answer with its reply.
    Call {
        request: Request,
        reply: oneshot::Sender<Result<Reply, Error>>,
    },
    /// Attach `inbox` to the subscription of `pk` (subscribing when there is none).
    Subscribe {
        pk: Value,
        key: String,
        local_id: u64,
        inbox: Arc<Inbox>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// Sent without waiting, from `Drop`.
pub(crate) enum Control {
    /// A [`Subscription`](crate::Subscription) was dropped.
    Unsubscribe { key: String, local_id: u64 },
}

/// What a request_id in flight is waiting for.
enum Pending {
    Call(oneshot::Sender<Result<Reply, Error>>),
    /// The `subscribe_instance` of the subscription under this key.
    Subscribe(String),
    /// An `unsubscribe_instance`; its reply is only logged.
    Unsubscribe,
}

/// One server-side subscription, shared by every local subscriber to the instance.
struct ServerSubscription {
    pk: Value,
    /// The request_id of its current `subscribe_instance`; never reused.
    request_id: u64,
    /// The server confirmed it (201).
    live: bool,
    /// Deliver a `Gap` when it becomes live (it is a renewal after a reconnect).
    gap_when_live: bool,
    locals: Vec<(u64, Arc<Inbox>)>,
    /// Subscribers waiting for the confirmation.
    waiters: Vec<oneshot::Sender<Result<(), Error>>>,
}

/// Why the connected phase ended.
enum Ended {
    /// The socket dropped or failed.
    Lost,
    /// Every handle was dropped.
    Shutdown,
}

/// The state owned by the connection task.
pub(crate) struct Connection {
    settings: Settings,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    controls: mpsc::UnboundedReceiver<Control>,
    next_request_id: u64,
    pending: HashMap<u64, Pending>,
    /// Sweep abandoned calls when `pending` grows past this.
    sweep_at: usize,
    subscriptions: HashMap<String, ServerSubscription>,
    /// The current request_id of each server subscription, to its key.
    by_request_id: HashMap<u64, String>,
}

impl Connection {
    pub(crate) fn new(
        settings: Settings,
        commands: mpsc::Receiver<Command>,
        controls: mpsc::UnboundedReceiver<Control>,
    ) -> Self {
        Connection {
            settings,
            commands,
            commands_open: true,
            controls,
            next_request_id: 1,
            pending: HashMap::new(),
            sweep_at: 64,
            subscriptions: HashMap::new(),
            by_request_id: HashMap::new(),
        }
    }

    /// Runs until every handle is dropped or the connection is lost for good.
    pub(crate) async fn run(mut self, mut socket: Socket) {
        loop {
            let ended = self.connected(&mut socket).await;
            // Finish the close handshake (answering the server's close frame, or sending
            // ours), bounded: a dead peer must not hold up the reconnect.
            let _ = tokio::time::timeout(CLOSE_GRACE, socket.close(None)).await;
            drop(socket);
            if let Ended::Shutdown = ended {
                self.finish();
                return;
            }
            self.lost();
            match self.reconnect().await {
                Some(new_socket) => socket = new_socket,
                None => {
                    self.finish();
                    return;
                }
            }
        }
    }

    fn allocate(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }

    /// The connected phase: frames in, commands and drops out.
    async fn connected(&mut self, socket: &mut Socket) -> Ended {
        loop {
            let mut outgoing = Vec::new();
            // Biased: a dropped subscription's unsubscribe goes out before any request made
            // after the drop; incoming frames are read before new requests are taken.
            tokio::select! {
                biased;
                control = self.controls.recv() => match control {
                    Some(Control::Unsubscribe { key, local_id }) => {
                        self.on_unsubscribe(&key, local_id, Some(&mut outgoing));
                    }
                    None => return Ended::Shutdown,
                },
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => self.on_frame(text.as_str(), &mut outgoing),
                    Some(Ok(Message::Binary(bytes))) => {
                        tracing::warn!(len = bytes.len(), "binary frame dropped (SPEC 2.2.2)");
                    }
                    Some(Ok(Message::Close(frame))) => {
                        tracing::info!(?frame, "server closed the connection");
                        return Ended::Lost;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::info!(%error, "connection failed");
                        return Ended::Lost;
                    }
                    None => return Ended::Lost,
                },
                command = self.commands.recv(), if self.commands_open => match command {
                    Some(command) => self.on_command(command, &mut outgoing),
                    None => self.commands_open = false,
                },
            }
            if outgoing.is_empty() {
                continue;
            }
            for frame in outgoing {
                if let Err(error) = socket.feed(Message::text(frame)).await {
                    tracing::info!(%error, "send failed");
                    return Ended::Lost;
                }
            }
            if let Err(error) = socket.flush().await {
                tracing::info!(%error, "send failed");
                return Ended::Lost;
            }
        }
    }

    /// The text of a request, wrapped in the stream envelope when there is one.
    fn frame(&self, request: &Request) -> String {
        match &self.settings.stream {
            None => request.to_frame(),
            Some(stream) => {
                let envelope = Multiplexed::new(stream.clone(), request.to_value());
                serde_json::to_string(&envelope).unwrap_or_default()
            }
        }
    }

    fn on_command(&mut self, command: Command, outgoing: &mut Vec<String>) {
        match command {
            Command::Call { request, reply } => {
                if reply.is_closed() {
                    return;
                }
                let id = self.allocate();
                let request = request.with_request_id(id);
                outgoing.push(self.frame(&request));
                self.pending.insert(id, Pending::Call(reply));
                self.sweep();
            }
            Command::Subscribe {
                pk,
                key,
                local_id,
                inbox,
                reply,
            } => {
                if reply.is_closed() {
                    return;
                }
                if let Some(subscription) = self.subscriptions.get_mut(&key) {
                    subscription.locals.push((local_id, inbox));
                    if subscription.live {
                        let _ = reply.send(Ok(()));
                    } else {
                        subscription.waiters.push(reply);
                    }
                    return;
                }
                let mut subscription = ServerSubscription {
                    pk,
                    request_id: 0,
                    live: false,
                    gap_when_live: false,
                    locals: vec![(local_id, inbox)],
                    waiters: vec![reply],
                };
                outgoing.push(self.subscribe_frame(&key, &mut subscription));
                self.subscriptions.insert(key, subscription);
            }
        }
    }

    /// A `subscribe_instance` with a fresh request_id for `subscription`, registered as pending.
    fn subscribe_frame(&mut self, key: &str, subscription: &mut ServerSubscription) -> String {
        let id = self.allocate();
        subscription.request_id = id;
        self.pending.insert(id, Pending::Subscribe(key.to_owned()));
        self.by_request_id.insert(id, key.to_owned());
        let request = Request::new(Action::SubscribeInstance)
            .with_request_id(id)
            .with_arg(self.settings.lookup_field.clone(), subscription.pk.clone());
        self.frame(&request)
    }

    /// Drops the pending calls whose caller gave up (timed out), amortized over inserts.
    fn sweep(&mut self) {
        if self.pending.len() < self.sweep_at {
            return;
        }
        // An unsubscribe's reply is only logged: forgetting it costs a debug line.
        self.pending.retain(|_, pending| match pending {
            Pending::Call(reply) => !reply.is_closed(),
            Pending::Subscribe(_) => true,
            Pending::Unsubscribe => false,
        });
        self.sweep_at = (self.pending.len() * 2).max(64);
    }

    /// A local subscriber left; cancel the server subscription when it was the last one.
    /// `outgoing` is `None` while disconnected: the server already forgot it.
    fn on_unsubscribe(&mut self, key: &str, local_id: u64, outgoing: Option<&mut Vec<String>>) {
        if let Some(subscription) = self.subscriptions.get_mut(key) {
            subscription.locals.retain(|(id, _)| *id != local_id);
            self.cancel_if_unused(key, outgoing);
        }
    }

    /// Cancels the server subscription under `key` if no local subscriber is left.
    fn cancel_if_unused(&mut self, key: &str, outgoing: Option<&mut Vec<String>>) {
        let Some(subscription) = self.subscriptions.get(key) else {
            return;
        };
        if !subscription.locals.is_empty() {
            return;
        }
        let id = subscription.request_id;
        match outgoing {
            Some(outgoing) if subscription.live => {
                // Cancel exactly this subscription: its own request_id names it (SPEC 5.4.3),
                // and no other subscription of this client ever used it (SPEC 10.5).
                let request = Request::new(Action::UnsubscribeInstance)
                    .with_request_id(id)
                    .with_arg(self.settings.lookup_field.clone(), subscription.pk.clone());
                outgoing.push(self.frame(&request));
                self.pending.insert(id, Pending::Unsubscribe);
            }
            // The confirmation is still in flight: cancel when it comes.
            Some(_) => return,
            // Disconnected: the server already dropped it (SPEC 2.4.2).
            None => {}
        }
        self.by_request_id.remove(&id);
        self.subscriptions.remove(key);
    }

    /// One text frame from the server. Never panics: what cannot be used is logged.
    fn on_frame(&mut self, text: &str, outgoing: &mut Vec<String>) {
        let mut value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, frame = %truncate(text), "frame is not JSON; dropped");
                return;
            }
        };
        if let Some(stream) = &self.settings.stream {
            match serde_json::from_value::<Multiplexed>(value) {
                Ok(envelope) if &envelope.stream == stream => value = envelope.payload,
                Ok(envelope) => {
                    tracing::warn!(stream = %envelope.stream, "frame of another stream; dropped");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, frame = %truncate(text), "frame is not a stream envelope; dropped");
                    return;
                }
            }
        }
        let request_id = value.get("request_id").and_then(request_id_u64);
        let Some(request_id) = request_id else {
            tracing::warn!(frame = %truncate(text), "frame without a request_id of this client; dropped");
            return;
        };
        if let Some(pending) = self.pending.remove(&request_id) {
            let reply = Reply::from_value(value).map_err(|error| Error::Protocol {
                reason: error_chain(&error),
            });
            self.on_reply(request_id, pending, reply, outgoing);
        } else if let Some(key) = self.by_request_id.get(&request_id).cloned() {
            match Reply::from_value(value) {
                Ok(reply) => self.on_event(&key, reply, text.len()),
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), frame = %truncate(text), "malformed event; dropped");
                }
            }
        } else {
            tracing::debug!(request_id, frame = %truncate(text), "frame for no request in flight; dropped");
        }
    }

    fn on_reply(
        &mut self,
        request_id: u64,
        pending: Pending,
        reply: Result<Reply, Error>,
        outgoing: &mut Vec<String>,
    ) {
        match pending {
            Pending::Call(sender) => {
                let _ = sender.send(reply);
            }
            Pending::Unsubscribe => match reply {
                Ok(reply) if reply.is_success() => {}
                Ok(reply) => {
                    tracing::debug!(status = reply.response_status, errors = ?reply.errors, "unsubscribe_instance refused");
                }
                Err(error) => tracing::warn!(%error, "malformed unsubscribe_instance reply"),
            },
            Pending::Subscribe(key) => {
                let Some(subscription) = self.subscriptions.get_mut(&key) else {
                    return;
                };
                let result = reply.and_then(crate::client::check);
                match result {
                    Ok(_) => {
                        subscription.live = true;
                        if std::mem::take(&mut subscription.gap_when_live) {
                            for (_, inbox) in &subscription.locals {
                                inbox.push(RawEvent::Gap);
                            }
                        }
                        for waiter in subscription.waiters.drain(..) {
                            let _ = waiter.send(Ok(()));
                        }
                        // Every subscriber may have left while the confirmation was in flight.
                        self.cancel_if_unused(&key, Some(outgoing));
                    }
                    Err(error) => {
                        self.by_request_id.remove(&request_id);
                        let Some(subscription) = self.subscriptions.remove(&key) else {
                            return;
                        };
                        let renewal = subscription.gap_when_live;
                        if renewal {
                            tracing::warn!(pk = %subscription.pk, %error, "could not renew the subscription after a reconnect");
                        }
                        for (_, inbox) in &subscription.locals {
                            if renewal {
                                inbox.push(RawEvent::Gap);
                                if matches!(error, Error::NotFound { .. }) {
                                    inbox.push(RawEvent::Deleted(subscription.pk.clone()));
                                }
                            }
                            inbox.close();
                        }
                        for waiter in subscription.waiters {
                            let _ = waiter.send(Err(error.duplicate()));
                        }
                    }
                }
            }
        }
    }

    /// An event of the subscription under `key` (SPEC 5.5, 5.6).
    fn on_event(&mut self, key: &str, reply: Reply, size: usize) {
        let Some(subscription) = self.subscriptions.get(key) else {
            return;
        };
        let action = reply.action_name().map(Action::as_str).unwrap_or_default();
        let event = match (action, reply.is_success()) {
            ("update", true) => RawEvent::Updated(reply.data),
            ("create", true) => RawEvent::Created(reply.data),
            ("delete", true) => {
                let pk = reply
                    .data
                    .get("pk")
                    .cloned()
                    .unwrap_or_else(|| subscription.pk.clone());
                RawEvent::Deleted(pk)
            }
            ("update", false) if reply.response_status == 404 => {
                // DCRF re-reads the instance at delivery; a delete event follows (SPEC 5.8.3).
                tracing::debug!(pk = %subscription.pk, "404 update event superseded by the delete");
                return;
            }
            _ => {
                tracing::warn!(
                    action,
                    status = reply.response_status,
                    "unexpected event; dropped"
                );
                return;
            }
        };
        for (_, inbox) in &subscription.locals {
            inbox.push_sized(event.clone(), size);
        }
    }

    /// The socket dropped: fail what was in flight; subscriptions wait for a reconnect.
    fn lost(&mut self) {
        for (_, pending) in self.pending.drain() {
            if let Pending::Call(reply) = pending {
                let _ = reply.send(Err(Error::Closed));
            }
        }
        self.by_request_id.clear();
        for subscription in self.subscriptions.values_mut() {
            subscription.gap_when_live |= subscription.live;
            subscription.live = false;
        }
    }

    /// Reconnects under the policy; renews every subscription. `None` when it gives up.
    async fn reconnect(&mut self) -> Option<Socket> {
        let policy = self.settings.reconnect.clone()?;
        let mut attempt: u32 = 0;
        loop {
            if policy.max_attempts.is_some_and(|max| attempt >= max) {
                tracing::warn!(attempts = attempt, "reconnect policy gave up");
                return None;
            }
            let delay = policy.delay(attempt);
            attempt += 1;
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    control = self.controls.recv() => match control {
                        Some(Control::Unsubscribe { key, local_id }) => {
                            self.on_unsubscribe(&key, local_id, None);
                        }
                        None => return None,
                    },
                }
            }
            tracing::info!(attempt, "reconnecting");
            match self.settings.endpoint.connect().await {
                Ok(mut socket) => {
                    let mut outgoing = Vec::new();
                    let keys: Vec<String> = self.subscriptions.keys().cloned().collect();
                    for key in keys {
                        let Some(mut subscription) = self.subscriptions.remove(&key) else {
                            continue;
                        };
                        outgoing.push(self.subscribe_frame(&key, &mut subscription));
                        self.subscriptions.insert(key, subscription);
                    }
                    let mut sent = true;
                    for frame in outgoing {
                        sent &= socket.feed(Message::text(frame)).await.is_ok();
                    }
                    if sent && socket.flush().await.is_ok() {
                        tracing::info!(attempt, "reconnected");
                        return Some(socket);
                    }
                    self.lost();
                }
                Err(error) => tracing::info!(attempt, %error, "reconnect failed"),
            }
        }
    }

    /// Closed for good: end every stream and fail every waiter and queued command.
    fn finish(&mut self) {
        self.lost();
        for (_, subscription) in self.subscriptions.drain() {
            for (_, inbox) in &subscription.locals {
                inbox.close();
            }
            for waiter in subscription.waiters {
                let _ = waiter.send(Err(Error::Closed));
            }
        }
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Call { reply, .. } => {
                    let _ = reply.send(Err(Error::Closed));
                }
                Command::Subscribe { reply, .. } => {
                    let _ = reply.send(Err(Error::Closed));
                }
            }
        }
    }
}

/// The client's own request_ids are positive integers below 2^53.
fn request_id_u64(value: &Value) -> Option<u64> {
    value.as_u64()
}

/// The error and its sources, for a log line or a `Protocol` reason.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// At most 200 bytes of a frame, for logs.
fn truncate(text: &str) -> &str {
    if text.len() <= 200 {
        return text;
    }
    let mut end = 200;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A connection with call 1 in flight and a live subscription (request_id 2) to pk 1.
    fn connection(
        stream: Option<&str>,
    ) -> (
        Connection,
        Arc<Inbox>,
        oneshot::Receiver<Result<Reply, Error>>,
    ) {
        let (_commands_tx, commands) = mpsc::channel(1);
        let (_controls_tx, controls) = mpsc::unbounded_channel();
        let settings = Settings {
            endpoint: Endpoint {
                url: "ws://127.0.0.1:1/ws/".into(),
                headers: Vec::new(),
                tls: None,
                connect_timeout: Duration::from_secs(1),
                max_message_size: 1 << 20,
            },
            stream: stream.map(str::to_owned),
            lookup_field: "pk".into(),
            reconnect: None,
        };
        let mut connection = Connection::new(settings, commands, controls);
        let mut outgoing = Vec::new();
        let (reply, replied) = oneshot::channel();
        connection.on_command(
            Command::Call {
                request: Request::new(Action::Retrieve).with_arg("pk", 1),
                reply,
            },
            &mut outgoing,
        );
        let inbox = Arc::new(Inbox::new(4, 1 << 20));
        let (confirm, _confirmed) = oneshot::channel();
        connection.on_command(
            Command::Subscribe {
                pk: json!(1),
                key: "1".into(),
                local_id: 1,
                inbox: Arc::clone(&inbox),
                reply: confirm,
            },
            &mut outgoing,
        );
        let confirmation = json!({"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 2});
        connection.on_frame(&wrap(stream, confirmation), &mut outgoing);
        assert!(connection.subscriptions["1"].live);
        (connection, inbox, replied)
    }

    fn wrap(stream: Option<&str>, payload: Value) -> String {
        match stream {
            Some(stream) => json!({"stream": stream, "payload": payload}).to_string(),
            None => payload.to_string(),
        }
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z ]{0,8}".prop_map(Value::from),
            prop_oneof![Just(1u64), Just(2), Just(3)].prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// A server frame: the five keys (each sometimes missing), plausible or arbitrary values.
    fn frame() -> impl Strategy<Value = Value> {
        let key = |name: &'static str, plausible: BoxedStrategy<Value>| {
            proptest::option::weighted(0.9, prop_oneof![plausible, any_value()])
                .prop_map(move |value| (name, value))
        };
        (
            key(
                "errors",
                prop_oneof![Just(json!([])), Just(json!(["Not found"]))].boxed(),
            ),
            key(
                "data",
                prop_oneof![Just(json!({"pk": 1})), Just(json!({"id": 1}))].boxed(),
            ),
            key(
                "action",
                prop_oneof![
                    Just(json!("update")),
                    Just(json!("delete")),
                    Just(json!("create")),
                    Just(json!("retrieve")),
                    Just(json!("subscribe_instance"))
                ]
                .boxed(),
            ),
            key(
                "response_status",
                prop_oneof![Just(json!(200)), Just(json!(204)), Just(json!(404))].boxed(),
            ),
            key(
                "request_id",
                prop_oneof![Just(json!(1)), Just(json!(2)), Just(json!(99))].boxed(),
            ),
        )
            .prop_map(|keys| {
                let (a, b, c, d, e) = keys;
                let object = [a, b, c, d, e]
                    .into_iter()
                    .filter_map(|(name, value)| value.map(|value| (name.to_owned(), value)))
                    .collect();
                Value::Object(object)
            })
    }

    proptest! {
        // Seeded: the same 512 cases on every run.
        #![proptest_config(ProptestConfig {
            cases: 512,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x00dc_5eed),
            ..ProptestConfig::default()
        })]

        /// No frame makes the client panic or overfill an inbox, plain or multiplexed.
        #[test]
        fn any_frame_is_handled(
            frames in proptest::collection::vec(
                prop_oneof![
                    frame().prop_map(|f| f.to_string()),
                    any_value().prop_map(|v| v.to_string()),
                    ".{0,40}",
                    frame().prop_map(|f| json!({"stream": "users", "payload": f}).to_string()),
                    frame().prop_map(|f| json!({"stream": "other", "payload": f}).to_string()),
                ],
                1..12,
            ),
            multiplexed in any::<bool>(),
        ) {
            let stream = multiplexed.then_some("users");
            let (mut connection, inbox, mut replied) = connection(stream);
            let mut outgoing = Vec::new();
            for frame in &frames {
                connection.on_frame(frame, &mut outgoing);
            }
            prop_assert!(inbox.len() <= 4);
            // The call got at most one answer: a reply or a typed error.
            match replied.try_recv() {
                Ok(Ok(reply)) => prop_assert_eq!(reply.request_id.as_value(), &json!(1)),
                Ok(Err(Error::Protocol { .. })) | Err(_) => {}
                Ok(Err(other)) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }
}
