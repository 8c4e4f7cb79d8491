//! The shared state of a running server, the accept loop and the handle.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, RwLock, RwLockReadGuard, Semaphore, watch};
use tokio::task::JoinSet;

use crate::fd::OVERFLOW_CONNECTIONS;
use crate::model::ModelRef;
use crate::registry::SubscriptionRegistry;
use crate::service::{ConnContext, PendingUpgrade};
use crate::shared_store::SharedStore;
use crate::store::{Applied, Mutation, Table, persist};
use crate::ws::Endpoint;
use crate::{Config, Error};

/// How long `shutdown` waits for connections to finish their close handshake.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest request head accepted (hyper answers 431 past it).
const MAX_HEAD: usize = 16 * 1024;
/// Most header lines in a request head.
const MAX_HEADERS: usize = 64;
/// The first pause after a failed `accept` (EMFILE...); it doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest pause after a failed `accept`.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) config: Config,
    /// Where the table is persisted: the data file, or its symlink's target.
    data_path: Option<PathBuf>,
    /// The users; with Redis, this node's copy, changed only by the shared store's listener.
    pub(crate) table: RwLock<Table>,
    /// The shared store of several processes (`Config::redis`).
    shared: Option<Arc<SharedStore>>,
    registry: Mutex<SubscriptionRegistry>,
    /// Open WebSocket connections.
    pub(crate) connections: AtomicUsize,
    /// `max_connections`, at least 1.
    connection_limit: usize,
    /// One permit per TCP connection, up to `connection_limit`.
    slots: Arc<Semaphore>,
    /// One permit per connection accepted past `max_connections` (the reserve).
    overflow: Arc<Semaphore>,
    next_conn_id: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Server {
    /// A server with no listener, for the fuzz entry point: the fixture's table, no data
    /// file, no Redis. The sender stops its connections when set to true (or dropped).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn in_memory(config: Config) -> Result<(Arc<Server>, watch::Sender<bool>), Error> {
        let table = fixture_table(&config)?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let server = Server::assemble(config, table, None, None, shutdown_rx);
        Ok((server, shutdown_tx))
    }

    /// The shared state of a server over its loaded table.
    fn assemble(
        config: Config,
        table: Table,
        data_path: Option<PathBuf>,
        shared: Option<Arc<SharedStore>>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Server> {
        let limit = config
            .limits
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS);
        let registry = SubscriptionRegistry::new(config.profile);
        Arc::new(Server {
            config,
            data_path,
            table: RwLock::new(table),
            shared,
            registry: Mutex::new(registry),
            connections: AtomicUsize::new(0),
            connection_limit: limit,
            slots: Arc::new(Semaphore::new(limit)),
            overflow: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
            next_conn_id: AtomicU64::new(1),
            shutdown,
        })
    }

    /// The model this server serves.
    pub(crate) fn model(&self) -> ModelRef<'_> {
        ModelRef::of(self.config.model.as_ref())
    }

    /// Where the table is persisted, if anywhere.
    pub(crate) fn data_path(&self) -> Option<&std::path::Path> {
        self.data_path.as_deref()
    }

    /// Whether the table is shared with other processes through Redis.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.is_some()
    }
}

/// Why a mutation was not applied.
#[derive(Debug)]
pub(crate) enum MutateError<E> {
    /// The validator refused it.
    Rejected(E),
    /// The data file could not be written; nothing changed.
    Persist(Error),
}

/// The right of one TCP connection to be open; released when the connection ends.
enum Slot {
    /// Within `max_connections`.
    Regular(#[allow(dead_code)] OwnedSemaphorePermit),
    /// Past it, out of the reserve: health and admin only, WebSocket upgrades get 503.
    Overflow(#[allow(dead_code)] OwnedSemaphorePermit),
}

impl Server {
    /// A slot for a new connection, or `None` when even the reserve is used up.
    fn take_slot(&self) -> Option<Slot> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Some(Slot::Regular(permit));
        }
        Arc::clone(&self.overflow)
            .try_acquire_owned()
            .ok()
            .map(Slot::Overflow)
    }

    /// TCP connections open right now, counted ones and reserve ones.
    fn open_connections(&self) -> usize {
        let limit = self.connection_limit;
        (limit - self.slots.available_permits().min(limit))
            + (OVERFLOW_CONNECTIONS - self.overflow.available_permits().min(OVERFLOW_CONNECTIONS))
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Read access to the user table.
    pub(crate) async fn table(&self) -> RwLockReadGuard<'_, Table> {
        if let Some(shared) = &self.shared {
            shared.read_barrier().await;
        }
        self.table.read().await
    }

    /// The subscription registry. Held only for short, non-blocking sections.
    pub(crate) fn registry(&self) -> MutexGuard<'_, SubscriptionRegistry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Validates and applies one change, persists it, then queues its events, all under
    /// the table's write lock: events leave in the order of the changes (SPEC §5.8.1), and
    /// only after the change is durable (SPEC §5.9.1). With Redis, the shared store does
    /// it (and may decide more than once).
    pub(crate) async fn mutate<E>(
        &self,
        decide: impl Fn(&Table) -> Result<Mutation, E>,
    ) -> Result<Applied, MutateError<E>> {
        if let Some(shared) = &self.shared {
            return shared.mutate(self, decide).await;
        }
        let mut table = self.table.write().await;
        let mutation = decide(&table).map_err(MutateError::Rejected)?;
        let Some((applied, undo)) = table.apply(mutation) else {
            return Err(MutateError::Persist(Error::WriteFile {
                path: Default::default(),
                source: std::io::Error::other("primary key space exhausted"),
            }));
        };
        if let Some(path) = &self.data_path
            && let Err(error) = persist(&table, path).await
        {
            table.undo(undo);
            return Err(MutateError::Persist(error));
        }
        self.registry()
            .publish(&applied, self.model(), &self.config.faults);
        Ok(applied)
    }
}

/// A running server: its address, and the way to stop it.
///
/// Dropping the handle leaves the server running until the runtime stops; call
/// [`ServerHandle::shutdown`] to stop it gracefully.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept_loop: tokio::task::JoinHandle<()>,
    server: Arc<Server>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL of the seed consumer, `ws://ADDR/ws/`. `/ws/full/` and `/ws/multiplexed/`
    /// are beside it.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.local_addr, self.server.config.endpoints.observer
        )
    }

    /// The base URL of the HTTP side (`/healthz`, `/admin/users`), `http://ADDR`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Number of WebSocket connections open right now.
    pub fn connection_count(&self) -> usize {
        self.server.connections.load(Ordering::Relaxed)
    }

    /// Number of TCP connections open right now, WebSocket and plain HTTP, including the
    /// ones served out of the reserve past `max_connections`.
    pub fn tcp_connection_count(&self) -> usize {
        self.server.open_connections()
    }

    /// Number of live subscriptions, (connection, instance, request_id) triples.
    pub fn subscription_count(&self) -> usize {
        self.server.registry().len()
    }

    /// What the server accounts for in memory: queued event bytes and subscription bytes,
    /// now and at their per-connection peaks (the bounds are in [`crate::Limits`]).
    pub fn memory_stats(&self) -> crate::MemoryStats {
        self.server.registry().memory_stats()
    }

    /// The link to the shared store, when the server runs with Redis (`Config::redis`).
    pub fn redis_state(&self) -> Option<crate::RedisState> {
        self.server.shared.as_ref().map(|shared| shared.state())
    }

    /// Stops gracefully: stops accepting, closes idle HTTP connections at once, lets a
    /// request in progress finish, sends close code 1001 to every WebSocket, waits (up to
    /// 5 s) for the close handshakes, and returns once every change is on disk.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept_loop.await;
        // Every change is written before it is acknowledged; taking the write lock waits
        // for one still in flight.
        drop(self.server.table.write().await);
    }
}

/// Starts serving on `listener`: WebSockets at `/ws/`, `/ws/full/` and `/ws/multiplexed/`,
/// and HTTP (`/healthz`, the admin API) on the same port.
///
/// Returns once the store is loaded; the server runs on the current Tokio runtime.
pub async fn serve(listener: TcpListener, config: Config) -> Result<ServerHandle, Error> {
    let local_addr = listener.local_addr().map_err(Error::LocalAddr)?;
    if config.model.is_some() && (config.redis.is_some() || config.data_file.is_some()) {
        return Err(Error::ModelUnsupported(
            "a model from a schema is served from memory only: drop --redis and --data",
        ));
    }
    config.endpoints.check().map_err(Error::Endpoints)?;
    let lookup = &config.endpoints.lookup_field;
    let pk_name = config
        .model
        .as_ref()
        .map_or("id", |model| model.schema().pk().name.as_str());
    if lookup != dcrf_protocol::DEFAULT_LOOKUP_FIELD && lookup != pk_name {
        return Err(Error::Endpoints(format!(
            "the lookup field must be pk or the pk field {pk_name}, not {lookup}"
        )));
    }
    let (table, data_path, shared) = match &config.redis {
        Some(_) if config.data_file.is_some() => return Err(Error::DataFileWithRedis),
        Some(redis) => {
            let (shared, table) = SharedStore::start(redis, &config.fixture).await?;
            (table, None, Some(shared))
        }
        None => {
            let (table, data_path) = load_table(&config)?;
            if let Some(path) = &data_path {
                persist(&table, path).await?;
            }
            (table, data_path, None)
        }
    };
    let limit = config
        .limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS);
    if let Some(soft) = crate::fd::nofile_soft_limit()
        && limit as u64 + crate::fd::FD_RESERVE as u64 > soft
    {
        tracing::warn!(
            max_connections = limit,
            nofile = soft,
            reserve = crate::fd::FD_RESERVE,
            "max_connections leaves less than the fd reserve under RLIMIT_NOFILE: accept may fail with EMFILE before the limit is reached"
        );
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let server = Server::assemble(config, table, data_path, shared, shutdown_rx);
    if let Some(shared) = &server.shared {
        shared.spawn_listener(Arc::clone(&server));
    }
    let accept_loop = tokio::spawn(accept_loop(listener, Arc::clone(&server)));
    tracing::info!(
        %local_addr,
        profile = %server.config.profile,
        max_connections = limit,
        faults = ?server.config.faults.enabled(),
        "serving"
    );
    Ok(ServerHandle {
        local_addr,
        shutdown: shutdown_tx,
        accept_loop,
        server,
    })
}

/// The table of the fixture: the schema model's, or the seed's users.
fn fixture_table(config: &Config) -> Result<Table, Error> {
    match &config.model {
        Some(model) => Ok(Table::from_instances(model.fixture().iter().cloned(), 1)),
        None => Table::from_users(config.fixture.clone(), std::path::Path::new("<fixture>")),
    }
}

/// Loads the table, and says where to persist it: the data file, or the target of a
/// data file that is a symlink.
fn load_table(config: &Config) -> Result<(Table, Option<PathBuf>), Error> {
    let fixture = || fixture_table(config);
    let Some(path) = &config.data_file else {
        return Ok((fixture()?, None));
    };
    let (target, exists) = crate::store::prepare_data_file(path)?;
    let table = if exists {
        Table::read_file(&target)?
    } else {
        fixture()?
    };
    Ok((table, Some(target)))
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    let mut shutdown = server.shutdown.clone();
    let mut tasks = JoinSet::new();
    // Accept failures in a row (EMFILE...), and the pause after the last one.
    let mut failing: Option<(u64, Duration)> = None;
    // Connections closed at once since the reserve ran out.
    let mut turned_away: u64 = 0;
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Some((failures, _)) = failing.take() {
                        tracing::info!(failures, "accepting connections again");
                    }
                    let Some(slot) = server.take_slot() else {
                        // Past the reserve: closing at once keeps the descriptors free.
                        if turned_away == 0 {
                            tracing::warn!(
                                limit = server.config.limits.max_connections,
                                reserve = OVERFLOW_CONNECTIONS,
                                "connection limit and reserve used up: closing new connections"
                            );
                        }
                        turned_away += 1;
                        drop(stream);
                        continue;
                    };
                    if turned_away > 0 {
                        tracing::info!(turned_away, "serving new connections again");
                        turned_away = 0;
                    }
                    let _ = stream.set_nodelay(true);
                    tasks.spawn(serve_connection(Arc::clone(&server), stream, peer, slot));
                }
                Err(error) => {
                    let pause = match &mut failing {
                        None => {
                            tracing::warn!(
                                %error,
                                fd_exhausted = crate::fd::is_fd_exhaustion(&error),
                                "accept failed; backing off (logged once until accept works again)"
                            );
                            failing = Some((1, ACCEPT_BACKOFF_MIN));
                            ACCEPT_BACKOFF_MIN
                        }
                        Some((failures, pause)) => {
                            *failures += 1;
                            *pause = (*pause * 2).min(ACCEPT_BACKOFF_MAX);
                            *pause
                        }
                    };
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = stopped(&mut shutdown) => break,
                    }
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "connections still open after the grace period"
        );
        tasks.abort_all();
    }
    tracing::info!("stopped");
}

/// Serves one TCP connection to its end: HTTP requests (kept alive) until a WebSocket
/// handshake hands it over to [`crate::ws`]. `slot` is held for the connection's life.
async fn serve_connection(server: Arc<Server>, stream: TcpStream, peer: SocketAddr, slot: Slot) {
    let overflow = matches!(slot, Slot::Overflow(_));
    let upgrade = PendingUpgrade::default();
    let ctx = Arc::new(ConnContext {
        server: Arc::clone(&server),
        overflow,
        upgrade: Arc::clone(&upgrade),
    });
    let service = service_fn(move |request| crate::service::handle(Arc::clone(&ctx), request));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(server.config.head_timeout)
        .keep_alive(!overflow)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutdown = server.shutdown.clone();
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut shutdown) => {
            // Closes an idle connection at once; a request in progress finishes first.
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
    let pending = upgrade
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some((on_upgrade, endpoint)) = pending {
        match on_upgrade.await {
            Ok(upgraded) => {
                server.connections.fetch_add(1, Ordering::SeqCst);
                run_upgraded(Arc::clone(&server), upgraded, endpoint).await;
                server.connections.fetch_sub(1, Ordering::SeqCst);
            }
            Err(error) => tracing::debug!(%peer, %error, "WebSocket upgrade failed"),
        }
    }
    drop(slot);
}

/// Runs the WebSocket of an upgraded connection on the TCP stream itself, without hyper's
/// upgrade wrapper and its two layers of indirection on every read and write. Bytes the
/// client sent right after its handshake, which hyper has already read, are read first.
async fn run_upgraded(server: Arc<Server>, upgraded: hyper::upgrade::Upgraded, endpoint: Endpoint) {
    use tokio::io::AsyncReadExt;
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let stream = parts.io.into_inner();
            // `read_buf` is a slice of hyper's read buffer, empty or not: holding it for the
            // life of the connection would keep that whole buffer. Its bytes are copied.
            let early = parts.read_buf.to_vec();
            drop(parts.read_buf);
            if early.is_empty() {
                crate::ws::run(server, stream, endpoint).await;
            } else {
                let (read, write) = stream.into_split();
                let read = std::io::Cursor::new(early).chain(read);
                crate::ws::run(server, tokio::io::join(read, write), endpoint).await;
            }
        }
        Err(upgraded) => crate::ws::run(server, TokioIo::new(upgraded), endpoint).await,
    }
}
