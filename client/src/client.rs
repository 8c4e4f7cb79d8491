//! The client handle, its builder and its calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dcrf_protocol::{Action, DEFAULT_LOOKUP_FIELD, Reply, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::connection::{Command, Connection, Control, Endpoint, Settings};
use crate::subscription::{DEFAULT_SUBSCRIPTION_BUFFER, DEFAULT_SUBSCRIPTION_BUFFER_BYTES, Inbox};
use crate::{Error, Subscription, ValidationErrors};

/// How long a call waits for its reply unless the builder says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest message (and frame) the client accepts from the server unless the builder
/// says otherwise: 16 MiB. A larger one fails the connection (tungstenite's capacity error).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Requests that may wait for the connection task before callers wait to enqueue.
const COMMAND_QUEUE: usize = 256;

/// When and how often to reconnect after the socket drops.
///
/// The delay before attempt `n` (from 0) is `initial_delay * 2^n`, capped at `max_delay`.
/// After a reconnect every live subscription is renewed with a new request_id and its
/// stream yields [`Event::Gap`](crate::Event::Gap). Calls in flight when the socket drops
/// fail with [`Error::Closed`] (they are not retried: a `create` may have been applied);
/// calls made while reconnecting wait for the new connection, within their timeout.
///
/// ```
/// use std::time::Duration;
/// use dcrf_client::ReconnectPolicy;
///
/// let policy = ReconnectPolicy::default()
///     .initial_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(Some(20));
/// assert_eq!(policy.delay(0), Duration::from_millis(50));
/// assert_eq!(policy.delay(10), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub(crate) initial_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    /// 100 ms, doubling up to 10 s, attempting forever.
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// Sets the delay before the first attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use dcrf_client::ReconnectPolicy;
    ///
    /// let policy = ReconnectPolicy::default().initial_delay(Duration::from_millis(250));
    /// assert_eq!(policy.delay(0), Duration::from_millis(250));
    /// assert_eq!(policy.delay(1), Duration::from_millis(500));
    /// ```
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the cap of the doubling delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use dcrf_client::ReconnectPolicy;
    ///
    /// let policy = ReconnectPolicy::default().max_delay(Duration::from_secs(1));
    /// // 100 ms, 200 ms, 400 ms, 800 ms, then 1 s for every later attempt.
    /// assert_eq!(policy.delay(3), Duration::from_millis(800));
    /// assert_eq!(policy.delay(4), Duration::from_secs(1));
    /// assert_eq!(policy.delay(u32::MAX), Duration::from_secs(1));
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets how many attempts are made in a row before the client gives up and closes for
    /// good (`None`: never give up). The count restarts after each successful reconnect.
    ///
    /// ```
    /// use dcrf_client::ReconnectPolicy;
    ///
    /// // Give up after five failed attempts in a row: calls then fail with `Error::Closed`
    /// // and every subscription stream ends.
    /// let policy = ReconnectPolicy::default().max_attempts(Some(5));
    /// assert_ne!(policy, ReconnectPolicy::default());
    /// ```
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The delay before attempt `attempt` (counted from 0).
    ///
    /// ```
    /// use std::time::Duration;
    /// use dcrf_client::ReconnectPolicy;
    ///
    /// let policy = ReconnectPolicy::default(); // 100 ms, doubling up to 10 s
    /// let delays: Vec<Duration> = (0..9).map(|attempt| policy.delay(attempt)).collect();
    /// assert_eq!(delays[..3], [Duration::from_millis(100), Duration::from_millis(200), Duration::from_millis(400)]);
    /// assert_eq!(delays[8], Duration::from_secs(10));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// Configures and opens a [`Client`]. Made by [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// use dcrf_client::{Client, ReconnectPolicy};
///
/// // Everything is optional; `connect` opens the socket.
/// let builder = Client::builder("wss://shop.example/ws/")
///     .header("Authorization", "Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")
///     .lookup_field("uuid")
///     .request_timeout(Duration::from_secs(5))
///     .reconnect(ReconnectPolicy::default().max_attempts(Some(10)));
/// # drop(builder);
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    url: String,
    headers: Vec<(String, String)>,
    stream: Option<String>,
    lookup_field: String,
    request_timeout: Duration,
    subscription_buffer: usize,
    subscription_buffer_bytes: usize,
    max_message_size: usize,
    reconnect: Option<ReconnectPolicy>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl ClientBuilder {
    /// Adds a header to the WebSocket handshake request, such as `Authorization`, `Cookie`
    /// or `Origin` (Django Channels' `AllowedHostsOriginValidator` checks `Origin`). It is
    /// sent again on every reconnect. An invalid name or value fails
    /// [`connect`](Self::connect) with [`Error::InvalidHeader`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::Client;
    ///
    /// // Django Channels' AllowedHostsOriginValidator checks Origin; AuthMiddlewareStack reads
    /// // the session cookie.
    /// let client = Client::builder(url)
    ///     .header("Origin", "http://localhost:8000")
    ///     .header("Cookie", "sessionid=q8dkz1x7l5n0")
    ///     .connect()
    ///     .await?;
    /// # drop(client);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Speaks the multiplexed envelope (SPEC section 8): every request is sent as
    /// `{"stream": STREAM, "payload": ...}` and only frames of that stream are read.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::Client;
    ///
    /// # let url = format!("{}multiplexed/", server.ws_url());
    /// // A consumer behind channelsmultiplexer's AsyncJsonWebsocketDemultiplexer, as stream "users".
    /// let client = Client::builder(url).stream("users").connect().await?;
    /// let reply = client.call("retrieve", serde_json::json!({"pk": 1})).await?;
    /// assert_eq!(reply.data["username"], "test 1");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = Some(stream.into());
        self
    }

    /// Sets the request key naming an instance, the consumer's `lookup_field` (SPEC section
    /// 3.3; dcrf-client's `pkField`). Default `pk`.
    ///
    /// ```
    /// use dcrf_client::Client;
    ///
    /// // A consumer with `lookup_field = "uuid"`: retrieve(pk) sends {"uuid": pk}.
    /// let builder = Client::builder("ws://127.0.0.1:8000/ws/products/").lookup_field("uuid");
    /// # drop(builder);
    /// ```
    pub fn lookup_field(mut self, field: impl Into<String>) -> Self {
        self.lookup_field = field.into();
        self
    }

    /// Sets how long a call (and a connection attempt) waits before failing with
    /// [`Error::Timeout`]. Default [`DEFAULT_REQUEST_TIMEOUT`] (30 s).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use std::time::Duration;
    /// use dcrf_client::Client;
    ///
    /// let client = Client::builder(url)
    ///     .request_timeout(Duration::from_secs(2))
    ///     .connect()
    ///     .await?;
    /// let user: serde_json::Value = client.retrieve(1).await?; // or Err(Error::Timeout) after 2 s
    /// assert_eq!(user["id"], 1);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how many events each subscription buffers for a consumer that does not keep up
    /// (at least 1). Default [`DEFAULT_SUBSCRIPTION_BUFFER`] (64). When the buffer is full the
    /// oldest event is dropped and the stream yields [`Event::Gap`](crate::Event::Gap) before
    /// the remaining ones; the connection never waits for a consumer.
    ///
    /// ```
    /// use dcrf_client::Client;
    ///
    /// // A consumer that may fall far behind a busy instance keeps more events before it sees a Gap.
    /// let builder = Client::builder("ws://127.0.0.1:8000/ws/").subscription_buffer(1024);
    /// # drop(builder);
    /// ```
    pub fn subscription_buffer(mut self, events: usize) -> Self {
        self.subscription_buffer = events.max(1);
        self
    }

    /// Sets how many bytes of event frames each subscription buffers (the newest event is
    /// always kept). Default [`DEFAULT_SUBSCRIPTION_BUFFER_BYTES`] (1 MiB). Past it, the oldest
    /// events are dropped and the stream yields [`Event::Gap`](crate::Event::Gap), as for
    /// [`subscription_buffer`](Self::subscription_buffer).
    ///
    /// ```
    /// use dcrf_client::Client;
    ///
    /// // Large instances: up to 8 MiB of queued events per subscription.
    /// let builder = Client::builder("ws://127.0.0.1:8000/ws/").subscription_buffer_bytes(8 << 20);
    /// # drop(builder);
    /// ```
    pub fn subscription_buffer_bytes(mut self, bytes: usize) -> Self {
        self.subscription_buffer_bytes = bytes;
        self
    }

    /// Sets the largest message the client accepts from the server. Default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`] (16 MiB); a larger message drops the connection (and
    /// the reconnect policy, if any, reconnects).
    ///
    /// ```
    /// use dcrf_client::Client;
    ///
    /// // A `list` of a large table arrives as one message.
    /// let builder = Client::builder("ws://127.0.0.1:8000/ws/").max_message_size(64 << 20);
    /// # drop(builder);
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Reconnects after the socket drops, under `policy`. Without it (the default) a
    /// dropped socket closes the client for good: calls fail with [`Error::Closed`] and
    /// subscription streams end.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use std::time::Duration;
    /// use dcrf_client::{Client, ReconnectPolicy};
    ///
    /// let client = Client::builder(url)
    ///     .reconnect(ReconnectPolicy::default().max_delay(Duration::from_secs(30)))
    ///     .connect()
    ///     .await?;
    /// # drop(client);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Uses this rustls configuration for `wss://` instead of the default one (the
    /// platform's root certificates, ring as the crypto provider). For a private CA or a
    /// client certificate.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dcrf_client::{Client, rustls};
    ///
    /// // Trust only a private CA (add its DER certificate to `roots`).
    /// let roots = rustls::RootCertStore::empty();
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let builder = Client::builder("wss://internal.example/ws/").tls_config(Arc::new(config));
    /// # drop(builder);
    /// # Ok::<(), rustls::Error>(())
    /// ```
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Connects, and starts the task that owns the socket on the current Tokio runtime.
    ///
    /// Fails with [`Error::InvalidUrl`], [`Error::InvalidHeader`], [`Error::Tls`],
    /// [`Error::Connect`] or [`Error::Timeout`]. The first connection is not retried.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::{Client, Error};
    ///
    /// let client = Client::builder(url).connect().await?;
    /// # drop(client);
    ///
    /// // A URL that is not ws:// or wss:// fails before anything is sent.
    /// let error = Client::builder("http://127.0.0.1:8000/ws/").connect().await.unwrap_err();
    /// assert!(matches!(error, Error::InvalidUrl { .. }));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn connect(self) -> Result<Client, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: self.url.clone(),
            reason: reason.to_owned(),
        };
        let secure = if self.url.starts_with("wss://") {
            true
        } else if self.url.starts_with("ws://") {
            false
        } else {
            return Err(invalid("the scheme must be ws:// or wss://"));
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let invalid = || Error::InvalidHeader { name: name.clone() };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.push((name, value));
        }
        let tls = match (secure, self.tls) {
            (false, _) => None,
            (true, Some(config)) => Some(config),
            (true, None) => Some(default_tls_config()?),
        };
        let endpoint = Endpoint {
            url: self.url,
            headers,
            tls,
            connect_timeout: self.request_timeout,
            max_message_size: self.max_message_size,
        };
        let socket = endpoint.connect().await?;
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (controls_tx, controls_rx) = mpsc::unbounded_channel();
        let settings = Settings {
            endpoint,
            stream: self.stream,
            lookup_field: self.lookup_field.clone(),
            reconnect: self.reconnect,
        };
        tokio::spawn(Connection::new(settings, commands_rx, controls_rx).run(socket));
        Ok(Client {
            inner: Arc::new(Inner {
                commands: commands_tx,
                controls: controls_tx,
                request_timeout: self.request_timeout,
                subscription_buffer: self.subscription_buffer,
                subscription_buffer_bytes: self.subscription_buffer_bytes,
                lookup_field: self.lookup_field,
                next_local_id: AtomicU64::new(1),
            }),
        })
    }
}

/// rustls with ring and the platform's root certificates.
fn default_tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "could not load a platform root certificate");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "platform root certificates");
    if roots.is_empty() {
        return Err(Error::Tls(rustls::Error::General(
            "no platform root certificates found; pass a config to ClientBuilder::tls_config"
                .to_owned(),
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connection to one DCRF consumer: typed calls and subscriptions over one WebSocket.
///
/// Cheap to clone; every clone uses the same connection. The connection closes when every
/// clone and every [`Subscription`] is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
/// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
/// # let url = format!("{}full/", server.ws_url());
/// use dcrf_client::Client;
///
/// let client = Client::connect(url).await?;
/// // Clones share the connection: each task gets its own handle.
/// let tasks: Vec<_> = (1..=3)
///     .map(|pk| {
///         let client = client.clone();
///         tokio::spawn(async move { client.retrieve::<serde_json::Value>(pk).await })
///     })
///     .collect();
/// for (task, pk) in tasks.into_iter().zip(1..) {
///     assert_eq!(task.await??["id"], pk);
/// }
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).await?
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::Sender<Command>,
    controls: mpsc::UnboundedSender<Control>,
    request_timeout: Duration,
    subscription_buffer: usize,
    subscription_buffer_bytes: usize,
    lookup_field: String,
    next_local_id: AtomicU64,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Client {
    /// Starts configuring a client of the consumer at `url` (`ws://HOST/PATH` or
    /// `wss://HOST/PATH`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::{Client, ReconnectPolicy};
    ///
    /// let client = Client::builder(url)
    ///     .reconnect(ReconnectPolicy::default())
    ///     .connect()
    ///     .await?;
    /// # drop(client);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            headers: Vec::new(),
            stream: None,
            lookup_field: DEFAULT_LOOKUP_FIELD.to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            subscription_buffer: DEFAULT_SUBSCRIPTION_BUFFER,
            subscription_buffer_bytes: DEFAULT_SUBSCRIPTION_BUFFER_BYTES,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            reconnect: None,
            tls: None,
        }
    }

    /// Connects to `url` with the default settings: the plain envelope, lookup field `pk`,
    /// no handshake headers, no reconnect.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::Client;
    ///
    /// let client = Client::connect(url).await?; // e.g. "ws://127.0.0.1:8000/ws/"
    /// let user: serde_json::Value = client.retrieve(1).await?;
    /// assert_eq!(user["username"], "test 1");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn connect(url: impl Into<String>) -> Result<Client, Error> {
        Client::builder(url).connect().await
    }

    /// `retrieve` (SPEC section 5.1): the instance named by `pk`.
    ///
    /// Fails with [`Error::NotFound`] when there is none.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::{Client, Error};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct User {
    ///     id: i64,
    ///     username: String,
    ///     email: String,
    /// }
    ///
    /// let client = Client::connect(url).await?;
    /// let user: User = client.retrieve(1).await?;
    /// assert_eq!((user.id, user.username.as_str(), user.email.as_str()), (1, "test 1", "1@example.com"));
    ///
    /// match client.retrieve::<User>(999).await {
    ///     Err(Error::NotFound { errors }) => assert_eq!(errors, ["Not found"]),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn retrieve<T: DeserializeOwned>(&self, pk: impl Into<Value>) -> Result<T, Error> {
        let request = Request::new(Action::Retrieve).with_arg(self.lookup_field(), pk);
        decode(self.send(request).await?.data)
    }

    /// `list` (SPEC section 6.1): every instance.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::Client;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct User {
    ///     id: i64,
    ///     username: String,
    ///     email: String,
    /// }
    ///
    /// let client = Client::connect(url).await?;
    /// let users: Vec<User> = client.list().await?;
    /// assert_eq!(users.iter().map(|user| user.id).collect::<Vec<_>>(), [1, 2, 3]);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn list<T: DeserializeOwned>(&self) -> Result<Vec<T>, Error> {
        decode(self.send(Request::new(Action::List)).await?.data)
    }

    /// `create` (SPEC section 6.2): creates an instance from `data`, returns it as the
    /// server serialized it.
    ///
    /// Fails with [`Error::Validation`] when the serializer rejects `data`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::{Client, Error};
    /// use serde::Serialize;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct User {
    ///     id: i64,
    ///     username: String,
    ///     email: String,
    /// }
    ///
    /// #[derive(Serialize)]
    /// struct NewUser<'a> {
    ///     username: &'a str,
    ///     email: &'a str,
    ///     password: &'a str,
    /// }
    ///
    /// let client = Client::connect(url).await?;
    /// let user: User = client
    ///     .create(&NewUser { username: "ada", email: "ada@example.com", password: "s3cret" })
    ///     .await?;
    /// assert_eq!(user.username, "ada");
    ///
    /// // The serializer's field messages.
    /// match client.create::<User>(&serde_json::json!({"email": "x@example.com"})).await {
    ///     Err(Error::Validation(errors)) => assert_eq!(errors.field("username"), ["This field is required."]),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn create<T: DeserializeOwned>(&self, data: &impl Serialize) -> Result<T, Error> {
        let request = Request::new(Action::Create).with_arg("data", encode(data)?);
        decode(self.send(request).await?.data)
    }

    /// `update` (SPEC section 6.3): replaces every writable field of `pk` with `data`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::Client;
    /// use serde_json::json;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct User {
    ///     id: i64,
    ///     username: String,
    ///     email: String,
    /// }
    ///
    /// let client = Client::connect(url).await?;
    /// let user: User = client
    ///     .update(2, &json!({"username": "grace", "email": "grace@example.com", "password": "s3cret"}))
    ///     .await?;
    /// assert_eq!((user.id, user.username.as_str()), (2, "grace"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn update<T: DeserializeOwned>(
        &self,
        pk: impl Into<Value>,
        data: &impl Serialize,
    ) -> Result<T, Error> {
        let request = Request::new(Action::Update)
            .with_arg(self.lookup_field(), pk)
            .with_arg("data", encode(data)?);
        decode(self.send(request).await?.data)
    }

    /// `patch` (SPEC section 6.4): changes the fields of `pk` given in `data`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::Client;
    /// use serde_json::json;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct User {
    ///     id: i64,
    ///     username: String,
    ///     email: String,
    /// }
    ///
    /// let client = Client::connect(url).await?;
    /// let user: User = client.patch(3, &json!({"email": "new@example.com"})).await?;
    /// assert_eq!((user.username.as_str(), user.email.as_str()), ("test 3", "new@example.com"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn patch<T: DeserializeOwned>(
        &self,
        pk: impl Into<Value>,
        data: &impl Serialize,
    ) -> Result<T, Error> {
        let request = Request::new(Action::Patch)
            .with_arg(self.lookup_field(), pk)
            .with_arg("data", encode(data)?);
        decode(self.send(request).await?.data)
    }

    /// `delete` (SPEC section 6.5): deletes `pk`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::{Client, Error};
    ///
    /// let client = Client::connect(url).await?;
    /// client.delete(3).await?;
    /// assert!(matches!(client.delete(3).await, Err(Error::NotFound { .. })));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn delete(&self, pk: impl Into<Value>) -> Result<(), Error> {
        let request = Request::new(Action::Delete).with_arg(self.lookup_field(), pk);
        self.send(request).await.map(drop)
    }

    /// Runs any action, such as a consumer's own `@action()` method: `args` (an object, or
    /// null for none) become the request's arguments. Returns the successful reply; error
    /// replies become the same typed errors as the other calls.
    ///
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::{Client, Error};
    /// use serde_json::json;
    ///
    /// let client = Client::connect(url).await?;
    /// let reply = client.call("retrieve", json!({"pk": 2})).await?;
    /// assert_eq!((reply.response_status, &reply.data["username"]), (200, &json!("test 2")));
    ///
    /// // An action the consumer does not offer is a 405 (SPEC section 7.1).
    /// match client.call("send_welcome_email", json!({"pk": 1})).await {
    ///     Err(Error::Server { status: 405, .. }) => {}
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn call(&self, action: &str, args: impl Serialize) -> Result<Reply, Error> {
        let mut request = Request::new(Action::from_name(action));
        match serde_json::to_value(args).map_err(Error::Encode)? {
            Value::Null => {}
            Value::Object(args) => {
                for (key, value) in args {
                    request = request.with_arg(key, value);
                }
            }
            _ => {
                return Err(Error::Encode(serde::ser::Error::custom(
                    "the arguments of a call must serialize to a JSON object",
                )));
            }
        }
        self.send(request).await
    }

    /// `subscribe_instance` (SPEC section 5.3): a stream of the changes of `pk`.
    ///
    /// Returns once the server confirmed the subscription (201): every change after that is
    /// delivered. Fails with [`Error::NotFound`] when there is no such instance. Several
    /// subscriptions of one client to one instance share one server subscription.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::{Client, Event};
    /// use futures_util::StreamExt;
    /// use serde_json::json;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct User {
    ///     id: i64,
    ///     username: String,
    ///     email: String,
    /// }
    ///
    /// let client = Client::connect(url).await?;
    /// let mut changes = client.subscribe::<User>(1).await?;
    ///
    /// // Any change of user 1, by this client or anyone else, is an event.
    /// client.patch::<User>(1, &json!({"username": "renamed"})).await?;
    /// match changes.next().await {
    ///     Some(Event::Updated(user)) => assert_eq!(user.username, "renamed"),
    ///     other => panic!("{other:?}"),
    /// }
    /// client.delete(1).await?;
    /// assert!(matches!(changes.next().await, Some(Event::Deleted { pk }) if pk == json!(1)));
    ///
    /// drop(changes); // sends unsubscribe_instance
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub async fn subscribe<T: DeserializeOwned>(
        &self,
        pk: impl Into<Value>,
    ) -> Result<Subscription<T>, Error> {
        let pk = pk.into();
        let key = pk.to_string();
        let local_id = self.inner.next_local_id.fetch_add(1, Ordering::Relaxed);
        let inbox = Arc::new(Inbox::new(
            self.inner.subscription_buffer,
            self.inner.subscription_buffer_bytes,
        ));
        // Made before anything is sent: if this future is dropped or fails, its Drop
        // detaches the inbox again.
        let subscription = Subscription::new(
            pk.clone(),
            key.clone(),
            local_id,
            Arc::clone(&inbox),
            self.inner.controls.clone(),
        );
        let (reply, confirmed) = oneshot::channel();
        let command = Command::Subscribe {
            pk,
            key,
            local_id,
            inbox,
            reply,
        };
        self.round_trip(command, confirmed).await??;
        Ok(subscription)
    }

    fn lookup_field(&self) -> String {
        self.inner.lookup_field.clone()
    }

    /// Sends one request, waits for its reply, turns error statuses into typed errors.
    async fn send(&self, request: Request) -> Result<Reply, Error> {
        let (reply, replied) = oneshot::channel();
        let reply = self
            .round_trip(Command::Call { request, reply }, replied)
            .await??;
        check(reply)
    }

    /// Enqueues `command` and waits for its answer, within the request timeout.
    async fn round_trip<R>(
        &self,
        command: Command,
        answer: oneshot::Receiver<R>,
    ) -> Result<R, Error> {
        let exchange = async {
            self.inner
                .commands
                .send(command)
                .await
                .map_err(|_| Error::Closed)?;
            answer.await.map_err(|_| Error::Closed)
        };
        tokio::time::timeout(self.inner.request_timeout, exchange)
            .await
            .map_err(|_| Error::Timeout)?
    }
}

/// Turns an error reply into its typed error (SPEC section 7).
pub(crate) fn check(reply: Reply) -> Result<Reply, Error> {
    if reply.is_success() {
        return Ok(reply);
    }
    let errors = reply.errors;
    Err(match reply.response_status {
        400 => Error::Validation(ValidationErrors::from_errors(errors)),
        403 => Error::PermissionDenied { errors },
        404 => Error::NotFound { errors },
        status => Error::Server { status, errors },
    })
}

fn decode<T: DeserializeOwned>(data: Value) -> Result<T, Error> {
    serde_json::from_value(data).map_err(Error::Decode)
}

fn encode(data: &impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(data).map_err(Error::Encode)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Client>();
    is::<Subscription<Map<String, Value>>>();
}
