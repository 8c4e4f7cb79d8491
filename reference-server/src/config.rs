//! Server configuration: fixture users, persistence, limits and injected faults.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::access::Access;

use serde::{Deserialize, Serialize};

/// One user of the fixture or the data file: the seed's Django `User`.
///
/// `password` is write-only: it is stored (so a data file keeps it) but never appears in
/// a frame or an admin API response (SPEC §5.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Primary key.
    pub id: i64,
    /// Unique user name.
    pub username: String,
    /// E-mail address; may be empty.
    #[serde(default)]
    pub email: String,
    /// Write-only password; absent for users created without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl UserRecord {
    /// A user without a password.
    pub fn new(id: i64, username: impl Into<String>, email: impl Into<String>) -> Self {
        UserRecord {
            id,
            username: username.into(),
            email: email.into(),
            password: None,
        }
    }

    /// The seed's default fixture: pk 1..3, `("test N", "N@example.com")`.
    pub fn default_fixture() -> Vec<UserRecord> {
        (1..=3)
            .map(|n| UserRecord::new(n, format!("test {n}"), format!("{n}@example.com")))
            .collect()
    }
}

/// The largest text message DCRF 1.3.0 accepts (Daphne's `websocket_max_message_size`
/// and its frame size, 1 MiB), and this server's default `max_frame_bytes` (SPEC §2.2.6).
pub const DCRF_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Resource limits. Every limit is enforced with a clear error or close reason.
///
/// Memory is bounded per connection in bytes, not only in items: what a peer makes the
/// server keep (queued events, subscriptions and their request_ids, frame buffers) has a
/// ceiling. With the defaults, the worst case for one WebSocket connection is about
/// **97.5 MiB** of server memory, and about **93.5 MiB** while instances are small, most
/// of it the parsed JSON of one largest message (lower `max_frame_bytes` to lower it):
///
/// | what | bound | default |
/// | --- | --- | --- |
/// | outbound queue: event frames waiting, 32 bytes of slot each included | `outbound_queue_bytes` | 4 MiB |
/// | subscriptions: request_ids (twice) and 128 bytes of bookkeeping each | `max_subscription_bytes_per_connection` | 512 KiB |
/// | write side: tungstenite's buffer, the frame being written, held twice while it is copied | 16 KiB + 2 × largest event | 4.02 MiB (16 KiB with small instances) |
/// | read side: read buffer, one message, its parsed JSON while the request is handled | 4 KiB + 89 × `max_frame_bytes` | 89 MiB |
///
/// Parsed JSON takes up to 88 times its text: an array of one-digit numbers holds a 72-byte
/// value per 2 bytes of text, each number a heap string (serde_json's
/// `arbitrary_precision`), in a vector up to twice as long as needed.
///
/// The largest event is the largest instance the admin API can build: two fields of up to
/// 1 MiB each (its request body limit), about 2 MiB of JSON; the protocol's own `create`,
/// `update` and `patch` keep username to 150 and email to 254 characters. An event larger
/// than `outbound_queue_bytes` is queued only into an empty queue, so the queue holds at
/// most `max(outbound_queue_bytes, largest event)`. Kernel socket buffers come on top and
/// are bounded by the kernel (`net.ipv4.tcp_wmem`: 4 MiB by default on Linux; a loopback
/// peer that does not read took 4.3 MB). `ServerHandle::memory_stats` reports what the
/// server accounts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest incoming WebSocket message (and frame), in bytes; a larger one closes the
    /// connection with code 1009. Default 1 MiB, as DCRF (its limit is exactly 1,048,576
    /// bytes of payload, message and frame alike).
    pub max_frame_bytes: usize,
    /// Most (instance, request_id) subscriptions one connection may hold; one more is
    /// answered with a 429 error reply. Default 1000.
    pub max_subscriptions_per_connection: usize,
    /// Most bytes of subscription state one connection may hold: per subscription, its
    /// request_id twice (as sent and as a set key) and 128 bytes of bookkeeping. A
    /// subscribe_instance beyond it is answered with a 429 error reply. Default 512 KiB.
    pub max_subscription_bytes_per_connection: usize,
    /// Longest request_id (its JSON text, in bytes) a subscribe_instance may carry: the
    /// server keeps it for the life of the subscription. A longer one is answered with a
    /// 400 error reply. Default 1 KiB.
    pub max_request_id_bytes: usize,
    /// Most TCP connections open at once, WebSocket and plain HTTP alike. Past it, a few
    /// more (the reserve) are still served `/healthz` and the admin API, and a WebSocket
    /// upgrade on them gets HTTP 503; past the reserve a connection is closed at once.
    /// Default: the `RLIMIT_NOFILE` soft limit minus [`FD_RESERVE`](crate::FD_RESERVE).
    pub max_connections: usize,
    /// Frames (events) that may wait in one connection's outbound queue. When the queue is
    /// full the connection is a slow consumer and is closed with code 1008 "slow consumer";
    /// the broadcaster never waits for it. Default 1024.
    pub outbound_queue_frames: usize,
    /// Bytes of event frames that may wait in one connection's outbound queue. An event
    /// that would take the queue past it makes the connection a slow consumer, closed with
    /// code 1008 "slow consumer" as for `outbound_queue_frames` (an event larger than the
    /// bound is queued only into an empty queue). Default 4 MiB.
    pub outbound_queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: DCRF_MAX_MESSAGE_BYTES,
            max_subscriptions_per_connection: 1000,
            max_subscription_bytes_per_connection: 512 * 1024,
            max_request_id_bytes: 1024,
            max_connections: crate::fd::default_max_connections(),
            outbound_queue_frames: 1024,
            outbound_queue_bytes: 4 * 1024 * 1024,
        }
    }
}

/// One injected fault, by its command-line name (`--fault NAME`).
///
/// Faults make the server deliberately non-conforming, so that the conformance harness can
/// prove that its cases catch each kind of mistake. Never enable them otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Fault {
    /// Events carry `"request_id": null` instead of the subscribing request's (breaks SPEC §5.5.1).
    #[value(name = "event-without-request-id")]
    EventWithoutRequestId,
    /// unsubscribe_instance is acknowledged (204) but the subscription is kept, so events
    /// keep coming (breaks SPEC §5.4.2).
    #[value(name = "event-after-unsubscribe")]
    EventAfterUnsubscribe,
    /// Every event is sent twice (breaks SPEC §5.7.1).
    #[value(name = "duplicate-event")]
    DuplicateEvent,
    /// subscribe_instance is answered with status 200 instead of 201 (breaks SPEC §5.3.1).
    #[value(name = "subscribe-status-200")]
    SubscribeStatus200,
    /// retrieve replies carry `"action": "list"`, as the DCRF docs page shows (breaks SPEC §4.2.2).
    #[value(name = "retrieve-action-list")]
    RetrieveActionList,
    /// Replies and events omit the `errors` key (breaks SPEC §4.1.1).
    #[value(name = "missing-errors-key")]
    MissingErrorsKey,
    /// delete events are not sent (breaks SPEC §5.6).
    #[value(name = "drop-delete-event")]
    DropDeleteEvent,
    /// The server never sends any frame, for any request, and keeps the socket open (breaks SPEC §4.3.1).
    #[value(name = "silent")]
    Silent,
    /// Replies are sent as binary frames (breaks SPEC §2.2.2).
    #[value(name = "binary-replies")]
    BinaryReplies,
    /// unsubscribe_instance that cancels nothing (a fresh socket, a pk never subscribed) is
    /// answered 404 (breaks SPEC §5.4.1).
    #[value(name = "unsubscribe-unknown-404")]
    UnsubscribeUnknown404,
    /// unsubscribe_instance of a missing instance answers 404 but cancels every subscription
    /// of the socket (breaks SPEC §5.4.5).
    #[value(name = "unsubscribe-missing-cancels")]
    UnsubscribeMissingCancels,
    /// subscribe_instance of a missing instance answers 404 but replaces the socket's
    /// subscriptions, as a server keyed by request_id that registers before it looks up
    /// (breaks SPEC §5.3.2).
    #[value(name = "subscribe-missing-replaces")]
    SubscribeMissingReplaces,
    /// A multiplexed frame naming an unknown stream gets no answer, and the socket stays open
    /// (breaks SPEC §2.3.1, §8.3.1).
    #[value(name = "ignore-unknown-stream")]
    IgnoreUnknownStream,
    /// unsubscribe_instance cancels the subscription but leaves the events already queued
    /// for it, and the reply follows at most two batches of 256 of them: with a backlog,
    /// events of the cancelled subscription arrive after the 204 (breaks SPEC §5.4.2).
    #[value(name = "events-after-unsubscribe-backlog")]
    EventsAfterUnsubscribeBacklog,
    /// A frame is sent as soon as the socket opens, before any request (breaks SPEC §2.2.8).
    #[value(name = "greeting")]
    Greeting,
    /// A row inserted again with the key of a deleted instance reaches the subscriptions
    /// that survived the delete (`dcrf-1.3.0`) as an `update` event instead of a `create`
    /// event (breaks SPEC §5.6.3).
    #[value(name = "recreate-as-update")]
    RecreateAsUpdate,
}

impl Fault {
    /// Every fault, in documentation order.
    pub const ALL: [Fault; 16] = [
        Fault::EventWithoutRequestId,
        Fault::EventAfterUnsubscribe,
        Fault::DuplicateEvent,
        Fault::SubscribeStatus200,
        Fault::RetrieveActionList,
        Fault::MissingErrorsKey,
        Fault::DropDeleteEvent,
        Fault::Silent,
        Fault::BinaryReplies,
        Fault::UnsubscribeUnknown404,
        Fault::UnsubscribeMissingCancels,
        Fault::SubscribeMissingReplaces,
        Fault::IgnoreUnknownStream,
        Fault::EventsAfterUnsubscribeBacklog,
        Fault::Greeting,
        Fault::RecreateAsUpdate,
    ];

    /// The command-line name, such as `event-without-request-id`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::EventWithoutRequestId => "event-without-request-id",
            Fault::EventAfterUnsubscribe => "event-after-unsubscribe",
            Fault::DuplicateEvent => "duplicate-event",
            Fault::SubscribeStatus200 => "subscribe-status-200",
            Fault::RetrieveActionList => "retrieve-action-list",
            Fault::MissingErrorsKey => "missing-errors-key",
            Fault::DropDeleteEvent => "drop-delete-event",
            Fault::Silent => "silent",
            Fault::BinaryReplies => "binary-replies",
            Fault::UnsubscribeUnknown404 => "unsubscribe-unknown-404",
            Fault::UnsubscribeMissingCancels => "unsubscribe-missing-cancels",
            Fault::SubscribeMissingReplaces => "subscribe-missing-replaces",
            Fault::IgnoreUnknownStream => "ignore-unknown-stream",
            Fault::EventsAfterUnsubscribeBacklog => "events-after-unsubscribe-backlog",
            Fault::Greeting => "greeting",
            Fault::RecreateAsUpdate => "recreate-as-update",
        }
    }
}

/// The set of injected faults; all off by default. See [`Fault`] for what each one breaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// [`Fault::EventWithoutRequestId`].
    pub event_without_request_id: bool,
    /// [`Fault::EventAfterUnsubscribe`].
    pub event_after_unsubscribe: bool,
    /// [`Fault::DuplicateEvent`].
    pub duplicate_event: bool,
    /// [`Fault::SubscribeStatus200`].
    pub subscribe_status_200: bool,
    /// [`Fault::RetrieveActionList`].
    pub retrieve_action_list: bool,
    /// [`Fault::MissingErrorsKey`].
    pub missing_errors_key: bool,
    /// [`Fault::DropDeleteEvent`].
    pub drop_delete_event: bool,
    /// [`Fault::Silent`].
    pub silent: bool,
    /// [`Fault::BinaryReplies`].
    pub binary_replies: bool,
    /// [`Fault::UnsubscribeUnknown404`].
    pub unsubscribe_unknown_404: bool,
    /// [`Fault::UnsubscribeMissingCancels`].
    pub unsubscribe_missing_cancels: bool,
    /// [`Fault::SubscribeMissingReplaces`].
    pub subscribe_missing_replaces: bool,
    /// [`Fault::IgnoreUnknownStream`].
    pub ignore_unknown_stream: bool,
    /// [`Fault::EventsAfterUnsubscribeBacklog`].
    pub events_after_unsubscribe_backlog: bool,
    /// [`Fault::Greeting`].
    pub greeting: bool,
    /// [`Fault::RecreateAsUpdate`].
    pub recreate_as_update: bool,
}

impl Faults {
    /// No fault: a conforming server.
    pub fn none() -> Self {
        Faults::default()
    }

    /// Turns one fault on.
    pub fn enable(&mut self, fault: Fault) -> &mut Self {
        let flag = match fault {
            Fault::EventWithoutRequestId => &mut self.event_without_request_id,
            Fault::EventAfterUnsubscribe => &mut self.event_after_unsubscribe,
            Fault::DuplicateEvent => &mut self.duplicate_event,
            Fault::SubscribeStatus200 => &mut self.subscribe_status_200,
            Fault::RetrieveActionList => &mut self.retrieve_action_list,
            Fault::MissingErrorsKey => &mut self.missing_errors_key,
            Fault::DropDeleteEvent => &mut self.drop_delete_event,
            Fault::Silent => &mut self.silent,
            Fault::BinaryReplies => &mut self.binary_replies,
            Fault::UnsubscribeUnknown404 => &mut self.unsubscribe_unknown_404,
            Fault::UnsubscribeMissingCancels => &mut self.unsubscribe_missing_cancels,
            Fault::SubscribeMissingReplaces => &mut self.subscribe_missing_replaces,
            Fault::IgnoreUnknownStream => &mut self.ignore_unknown_stream,
            Fault::EventsAfterUnsubscribeBacklog => &mut self.events_after_unsubscribe_backlog,
            Fault::Greeting => &mut self.greeting,
            Fault::RecreateAsUpdate => &mut self.recreate_as_update,
        };
        *flag = true;
        self
    }

    /// Whether `fault` is on.
    pub fn is_enabled(&self, fault: Fault) -> bool {
        match fault {
            Fault::EventWithoutRequestId => self.event_without_request_id,
            Fault::EventAfterUnsubscribe => self.event_after_unsubscribe,
            Fault::DuplicateEvent => self.duplicate_event,
            Fault::SubscribeStatus200 => self.subscribe_status_200,
            Fault::RetrieveActionList => self.retrieve_action_list,
            Fault::MissingErrorsKey => self.missing_errors_key,
            Fault::DropDeleteEvent => self.drop_delete_event,
            Fault::Silent => self.silent,
            Fault::BinaryReplies => self.binary_replies,
            Fault::UnsubscribeUnknown404 => self.unsubscribe_unknown_404,
            Fault::UnsubscribeMissingCancels => self.unsubscribe_missing_cancels,
            Fault::SubscribeMissingReplaces => self.subscribe_missing_replaces,
            Fault::IgnoreUnknownStream => self.ignore_unknown_stream,
            Fault::EventsAfterUnsubscribeBacklog => self.events_after_unsubscribe_backlog,
            Fault::Greeting => self.greeting,
            Fault::RecreateAsUpdate => self.recreate_as_update,
        }
    }

    /// The names of the faults that are on.
    pub fn enabled(&self) -> Vec<Fault> {
        Fault::ALL
            .into_iter()
            .filter(|fault| self.is_enabled(*fault))
            .collect()
    }
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut faults = Faults::none();
        for fault in iter {
            faults.enable(fault);
        }
        faults
    }
}

/// Which behaviour the server follows where DCRF 1.3.0 and the SPEC's recommendations part
/// (SPEC §10; `interop/dcrf/PROFILE-NOTES.md` lists every difference).
///
/// The default is [`Profile::Dcrf130`]: client authors develop against this server instead
/// of Django, so it behaves as the DCRF they will deploy against, quirks included, except
/// where DCRF crashes (there it still closes with a proper code).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Profile {
    /// DCRF 1.3.0's observable behaviour: Python's JSON text (`", "` separators,
    /// `\uXXXX` escapes, `-0` printed `0`, floats as `repr`), boolean subscription
    /// request_ids, the unsubscribe bookkeeping of SPEC §10.5, subscriptions that survive a
    /// delete, and close 1011 where DCRF's consumer raises (SPEC §2.3, §10).
    #[default]
    #[value(name = "dcrf-1.3.0")]
    Dcrf130,
    /// Every SHOULD of the SPEC: malformed input is answered with a 400 error reply and the
    /// socket stays open, an unsubscribe cancels only what it names, a delete ends the
    /// subscription, compact JSON text.
    #[value(name = "strict")]
    Strict,
}

impl Profile {
    /// The command-line name: `dcrf-1.3.0` or `strict`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Dcrf130 => "dcrf-1.3.0",
            Profile::Strict => "strict",
        }
    }

    /// Whether this is the DCRF 1.3.0 profile.
    pub fn is_dcrf(self) -> bool {
        self == Profile::Dcrf130
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything `serve` needs besides the listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// DCRF 1.3.0's behaviour, or the SPEC's recommendations. Default
    /// [`Profile::Dcrf130`].
    pub profile: Profile,
    /// Users the store starts with when there is no data file (or it does not exist yet).
    pub fixture: Vec<UserRecord>,
    /// A JSON file that holds the store: loaded at start when it exists, rewritten
    /// atomically (temporary file, then rename) after every change, before the change is
    /// acknowledged.
    pub data_file: Option<PathBuf>,
    /// Resource limits.
    pub limits: Limits,
    /// Injected faults (all off by default).
    pub faults: Faults,
    /// Which browsers and names may reach the server: the Origin and Host allow-lists
    /// and the admin API token.
    pub access: Access,
    /// Time a client has to send a complete request head (also how long an idle
    /// keep-alive connection is kept). Default 3 s.
    pub head_timeout: Duration,
    /// The model served instead of the seed's `User`, read from its serializer's schema
    /// ([`SchemaModel`](crate::SchemaModel), `--model`), with its own fixture (`fixture`
    /// is then unused). Default `None`: the seed's `User`. Not with `redis` or `data_file`.
    pub model: Option<std::sync::Arc<crate::SchemaModel>>,
    /// The WebSocket paths and the multiplexer's stream name.
    pub endpoints: Endpoints,
    /// Several processes as one server: the users and the change channel in Redis
    /// ([`RedisConfig`](crate::RedisConfig)). `fixture` then seeds Redis only when it holds
    /// no data under the prefix; `data_file` must be `None`. Default `None`: one process.
    pub redis: Option<crate::RedisConfig>,
}

impl Config {
    /// The default configuration with the [`Profile::Strict`] profile: the SPEC's
    /// recommended behaviour, as the conformance harness's embedded server runs.
    pub fn strict() -> Self {
        Config {
            profile: Profile::Strict,
            ..Config::default()
        }
    }
}

/// The default [`Config::head_timeout`].
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(3);

impl Default for Config {
    fn default() -> Self {
        Config {
            profile: Profile::default(),
            fixture: UserRecord::default_fixture(),
            data_file: None,
            limits: Limits::default(),
            faults: Faults::none(),
            access: Access::default(),
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            model: None,
            endpoints: Endpoints::default(),
            redis: None,
        }
    }
}

/// The WebSocket paths of the three consumers and the stream name of the multiplexed one
/// (SPEC §8). Each path starts and ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The observer consumer: `retrieve`, `subscribe_instance`, `unsubscribe_instance`.
    /// Default `/ws/`.
    pub observer: String,
    /// The same plus `list`, `create`, `update`, `patch`, `delete`. Default `/ws/full/`.
    pub crud: String,
    /// The CRUD consumer behind channelsmultiplexer's envelope. Default `/ws/multiplexed/`.
    pub multiplexed: String,
    /// The multiplexer's stream name. Default `users`.
    pub stream: String,
    /// The request key that names the instance (DCRF's `lookup_field`): `pk` (the
    /// default) or the name of the model's pk field. The value is cast as the pk's Django
    /// field casts it.
    pub lookup_field: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            observer: "/ws/".into(),
            crud: "/ws/full/".into(),
            multiplexed: "/ws/multiplexed/".into(),
            stream: "users".into(),
            lookup_field: dcrf_protocol::DEFAULT_LOOKUP_FIELD.into(),
        }
    }
}

impl Endpoints {
    /// The three paths, each `/...`-rooted and `/`-terminated, pairwise distinct; else
    /// what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let paths = [&self.observer, &self.crud, &self.multiplexed];
        for path in paths {
            if !path.starts_with('/') || !path.ends_with('/') || path.contains(['?', '#']) {
                return Err(format!(
                    "WebSocket path {path:?} must start and end with / and hold no ? or #"
                ));
            }
        }
        if self.observer == self.crud
            || self.observer == self.multiplexed
            || self.crud == self.multiplexed
        {
            return Err("the three WebSocket paths must differ".into());
        }
        if self.stream.is_empty() {
            return Err("the stream name must not be empty".into());
        }
        if self.lookup_field.is_empty() {
            return Err("the lookup field must not be empty".into());
        }
        Ok(())
    }
}
