//! A small, fast reference server of the DCRF WebSocket protocol (SPEC, `dcrf_protocol::spec`).
//!
//! It serves the seed's `User` model the way DCRF 1.3.0 does, on one port:
//!
//! - `/ws/`: the seed consumer, `ObserverModelInstanceMixin` + `GenericAsyncAPIConsumer`:
//!   `retrieve`, `subscribe_instance`, `unsubscribe_instance`, and the pushed `update` and
//!   `delete` events (SPEC §5);
//! - `/ws/full/`: the same plus the model mixins `list`, `create`, `update`, `patch`,
//!   `delete` (SPEC §6);
//! - `/ws/multiplexed/`: the full consumer behind channelsmultiplexer's envelope, stream
//!   `users` (SPEC §8);
//! - HTTP `GET /healthz` and the admin API of [`admin`], which makes out-of-band changes.
//!
//! With [`Config::model`] it serves a user's own model instead of `User`: a
//! [`SchemaModel`] read from the serializer's schema (a drf-spectacular OpenAPI component or
//! a JSON Schema, through `dcrf-model`), with DRF's validation messages, a UUID, integer or
//! slug pk, generated `auto_now` date-times and write-only fields; [`Config::endpoints`]
//! moves the paths and names the stream. [`SchemaModel`] lists what a schema cannot say and
//! must be given.
//!
//! With [`Config::redis`] several processes are one server (SPEC §5.10): the users live in
//! Redis and every change is fanned out through a Redis channel to the subscribers of every
//! process ([`RedisConfig`], [`ServerHandle::redis_state`]; the crate README says what lives
//! where and what happens when Redis goes away).
//!
//! Two profiles ([`Profile`], `Config::profile`). `dcrf-1.3.0`, the default, imitates DCRF
//! 1.3.0's observable behaviour, quirks included (Python's JSON text, close 1011 where DCRF's
//! consumer raises, DCRF's subscription bookkeeping), except where DCRF drops the TCP
//! connection or sends text that is not JSON (SPEC §10.16). `strict` follows every SHOULD of
//! the SPEC: where DCRF closes the socket with 1011 on malformed input it replies with a 400
//! error frame and keeps the socket open (SPEC §2.3.2, §10.3).
//!
//! ```no_run
//! # async fn run() -> Result<(), dcrf_reference_server::Error> {
//! use dcrf_reference_server::{Config, serve};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
//! let handle = serve(listener, Config::default()).await?;
//! println!("listening on {}", handle.ws_url());
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Fan-out is built for load: one task per connection, a subscription registry keyed by
//! primary key, one serialization of the instance per change with each
//! subscriber's `request_id` spliced into the pre-rendered frame, and an outbound queue per
//! connection bounded in frames and in bytes. A connection whose queue is full is a slow
//! consumer: its backlog is dropped and it is closed with code 1008 "slow consumer"; the
//! broadcaster never waits for it. [`Limits`] gives the worst-case memory per connection.

mod access;
pub mod admin;
mod config;
mod error;
mod fast_path;
mod fd;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod model;
mod pyjson;
mod pyset;
mod registry;
mod serializer;
mod server;
mod service;
mod shared_store;
mod steps;
mod store;
mod ws;

pub use admin::{AdminClient, AdminResponse};
pub use config::{
    Access, Config, DCRF_MAX_MESSAGE_BYTES, DEFAULT_HEAD_TIMEOUT, Endpoints, Fault, Faults, Limits,
    Profile, UserRecord,
};
pub use error::Error;
pub use fd::{FD_RESERVE, OVERFLOW_CONNECTIONS};
pub use model::{ModelError, Pk, SchemaModel, ServeOptions};
pub use registry::MemoryStats;
pub use server::{ServerHandle, serve};
pub use shared_store::{REQUEST_TIMEOUT as REDIS_REQUEST_TIMEOUT, RedisConfig, RedisState};

/// Reads a fixture file: a JSON array of `{"id", "username", "email", "password"?}`.
pub fn read_fixture(path: &std::path::Path) -> Result<Vec<UserRecord>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    store::parse_fixture(&text, path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<crate::Error>() <= 64);
    }
}
