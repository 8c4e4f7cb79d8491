//! The shared state of a running server, the accept loop and the handle.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{RwLock, RwLockReadGuard, watch};
use tokio::task::JoinSet;

use crate::registry::SubscriptionRegistry;
use crate::store::{Applied, Mutation, Table, persist};
use crate::{Config, Error};

/// How long `shutdown` waits for connections to finish their close handshake.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) config: Config,
    table: RwLock<Table>,
    registry: Mutex<SubscriptionRegistry>,
    pub(crate) connections: AtomicUsize,
    next_conn_id: AtomicU64,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Why a mutation was not applied.
#[derive(Debug)]
pub(crate) enum MutateError<E> {
    /// The validator refused it.
    Rejected(E),
    /// The data file could not be written; nothing changed.
    Persist(Error),
}

impl Server {
    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Read access to the user table.
    pub(crate) async fn table(&self) -> RwLockReadGuard<'_, Table> {
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
    /// only after the change is durable (SPEC §5.9.1).
    pub(crate) async fn mutate<E>(
        &self,
        decide: impl FnOnce(&Table) -> Result<Mutation, E>,
    ) -> Result<Applied, MutateError<E>> {
        let mut table = self.table.write().await;
        let mutation = decide(&table).map_err(MutateError::Rejected)?;
        let Some((applied, undo)) = table.apply(mutation) else {
            return Err(MutateError::Persist(Error::WriteFile {
                path: Default::default(),
                source: std::io::Error::other("primary key space exhausted"),
            }));
        };
        if let Some(path) = &self.config.data_file
            && let Err(error) = persist(&table, path).await
        {
            table.undo(undo);
            return Err(MutateError::Persist(error));
        }
        self.registry().publish(&applied, &self.config.faults);
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
        format!("ws://{}/ws/", self.local_addr)
    }

    /// The base URL of the HTTP side (`/healthz`, `/admin/users`), `http://ADDR`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Number of WebSocket connections open right now.
    pub fn connection_count(&self) -> usize {
        self.server.connections.load(Ordering::Relaxed)
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

    /// Stops gracefully: stops accepting, sends close code 1001 to every WebSocket, waits
    /// (up to 5 s) for the close handshakes, and returns once every change is on disk.
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
    let table = load_table(&config)?;
    if let Some(path) = &config.data_file {
        persist(&table, path).await?;
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let server = Arc::new(Server {
        config,
        table: RwLock::new(table),
        registry: Mutex::new(SubscriptionRegistry::default()),
        connections: AtomicUsize::new(0),
        next_conn_id: AtomicU64::new(1),
        shutdown: shutdown_rx,
    });
    let accept_loop = tokio::spawn(accept_loop(listener, Arc::clone(&server)));
    tracing::info!(%local_addr, faults = ?server.config.faults.enabled(), "serving");
    Ok(ServerHandle {
        local_addr,
        shutdown: shutdown_tx,
        accept_loop,
        server,
    })
}

fn load_table(config: &Config) -> Result<Table, Error> {
    if let Some(path) = &config.data_file
        && path.exists()
    {
        return Table::read_file(path);
    }
    Table::from_users(config.fixture.clone(), std::path::Path::new("<fixture>"))
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    let mut shutdown = server.shutdown.clone();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tasks.spawn(crate::http::handle_connection(Arc::clone(&server), stream, peer));
                }
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
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
