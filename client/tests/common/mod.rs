//! Test helpers: the reference server in process on 127.0.0.1:0, its admin API, a TCP
//! proxy whose connections can be cut, and a deadline on every await.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dcrf_client::{Event, Subscription};
use dcrf_reference_server::{AdminClient, Config, ServerHandle, serve};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Upper bound of every await in the tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The seed's `User` as the server serializes it (the password is write-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
}

/// Awaits `future`, failing the test after [`TIMEOUT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TIMEOUT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out: {what}"),
    }
}

pub async fn start() -> ServerHandle {
    start_with(Config::default()).await
}

pub async fn start_with(config: Config) -> ServerHandle {
    let listener = within("bind", TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind 127.0.0.1:0");
    within("serve", serve(listener, config))
        .await
        .expect("serve")
}

pub fn admin(handle: &ServerHandle) -> AdminClient {
    AdminClient::new(&handle.http_url()).expect("admin url")
}

/// Renames `pk` out of band through the admin API.
pub async fn rename(admin: &AdminClient, pk: i64, username: &str) {
    within("admin update", admin.update(pk, Some(username), None))
        .await
        .expect("admin update answers 200 with the user");
}

/// The next event of `subscription`, within the deadline.
pub async fn next<T: serde::de::DeserializeOwned>(subscription: &mut Subscription<T>) -> Event<T> {
    within("next event", subscription.next())
        .await
        .expect("the stream ended")
}

/// Waits until `condition` holds, checking after each scheduler turn and every few
/// milliseconds, failing after [`TIMEOUT`]. For state only observable by polling (the
/// server's subscription count).
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A TCP proxy to `upstream` whose open connections can be cut at once.
pub struct Proxy {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    refusing: Arc<AtomicBool>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = within("bind", TcpListener::bind("127.0.0.1:0"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let kept = Arc::clone(&connections);
        let refusing: Arc<AtomicBool> = Arc::default();
        let refuse = Arc::clone(&refusing);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                kept.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            connections,
            refusing,
            accept,
        }
    }

    /// Drops every open connection (both sides see the TCP connection end); new
    /// connections are still accepted.
    pub fn cut(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

impl Proxy {
    /// While refusing, new connections are closed as soon as they are accepted.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
