//! A typed async client of the djangochannelsrestframework (DCRF) WebSocket protocol.
//!
//! The Rust counterpart of the JavaScript `dcrf-client`: one WebSocket to a DCRF consumer,
//! typed calls (`retrieve`, `list`, `create`, `update`, `patch`, `delete`, and any custom
//! `@action()`), and instance subscriptions as [`Stream`](futures_core::Stream)s of
//! [`Event`]s. The protocol is specified in `dcrf_protocol::spec` (SPEC.md); this crate
//! builds and reads its frames with [`dcrf_protocol`].
//!
//! ```
//! use dcrf_client::{Client, Event, ReconnectPolicy};
//! use futures_util::StreamExt;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Deserialize)]
//! struct User {
//!     id: i64,
//!     username: String,
//!     email: String,
//! }
//!
//! #[derive(Serialize)]
//! struct Rename<'a> {
//!     username: &'a str,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::time::timeout(std::time::Duration::from_secs(20), async {
//! # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
//! # let url = format!("{}full/", server.ws_url());
//! // url: "ws://127.0.0.1:8000/ws/full/", say
//! let client = Client::builder(url)
//!     .header("Origin", "http://127.0.0.1:8000")
//!     .reconnect(ReconnectPolicy::default())
//!     .connect()
//!     .await?;
//!
//! let user: User = client.retrieve(1).await?;
//! let mut changes = client.subscribe::<User>(user.id).await?;
//! let renamed: User = client.patch(1, &Rename { username: "renamed" }).await?;
//! assert_eq!(renamed.username, "renamed");
//!
//! while let Some(event) = changes.next().await {
//!     match event {
//!         Event::Updated(user) | Event::Created(user) => println!("now {user:?}"),
//!         Event::Deleted { pk } => println!("{pk} deleted"),
//!         Event::Gap => println!("events may have been missed: retrieve again"),
//!         _ => {}
//!     }
//!     # break;
//! }
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).await?
//! # }
//! ```
//!
//! The examples of this crate's items run as doc tests against `dcrf-reference-server`,
//! started in-process on a free port (in hidden lines); `url` is its `/ws/full/` consumer,
//! which offers every model action on a table of users 1, 2 and 3.
//!
//! # How it works
//!
//! [`ClientBuilder::connect`] opens the socket (`ws://`, or `wss://` through rustls) with
//! the handshake headers you gave, and spawns one task that owns it. Calls go to that task
//! through a bounded queue, each with a oneshot channel for its answer; the task gives each
//! request a fresh request_id (a counter from 1, never reused on the connection's lifetime,
//! across reconnects) and routes each reply back by its `request_id` (SPEC section 4.3),
//! never by order. Every call has a deadline ([`ClientBuilder::request_timeout`]).
//!
//! Error replies become typed errors: 404 [`Error::NotFound`], 400 [`Error::Validation`]
//! with DRF's field messages, 403 [`Error::PermissionDenied`], anything else
//! [`Error::Server`]. A frame correlated with a request that is not a valid reply is
//! [`Error::Protocol`] for that request; `data` that does not fit your type is
//! [`Error::Decode`]. A frame that matches nothing (another stream, an unknown request_id,
//! not JSON, binary) is logged with `tracing` and dropped; no frame makes the client panic.
//!
//! # Subscriptions and DCRF's unsubscribe quirk
//!
//! DCRF keys a subscription on the socket and the subscribing `request_id`, and its
//! bookkeeping has two quirks (SPEC section 10.5): unsubscribing a request_id removes it
//! from *every* instance it subscribed to, and once an event of an instance has reached the
//! socket, any `unsubscribe_instance` of that instance stops *every* request_id of the
//! socket for it. The client is built so that neither can bite:
//!
//! - each server subscription gets its own fresh request_id, used for nothing else and never
//!   reused, so an unsubscribe names exactly one (instance, request_id) pair;
//! - all [`Subscription`]s of one client to one instance share one server subscription and
//!   fan its events out locally, so `unsubscribe_instance` is sent only when the last of them
//!   is dropped, and never cancels another live subscription to the same instance;
//! - after a reconnect, subscriptions are renewed with new request_ids (the server forgot
//!   the old ones with the old socket, SPEC section 2.4.2); frames still carrying an old
//!   request_id are dropped.
//!
//! Instances are told apart by the lookup value as given, compared as JSON: `1` and `"1"`
//! are two server subscriptions, which DCRF casts to one instance (SPEC section 3.3), so
//! the second quirk can reach them. Always pass the key as the server serializes it.
//!
//! # Backpressure
//!
//! Each subscription has its own bounded buffer: [`DEFAULT_SUBSCRIPTION_BUFFER`] events and
//! [`DEFAULT_SUBSCRIPTION_BUFFER_BYTES`] bytes of frames ([`ClientBuilder::subscription_buffer`],
//! [`ClientBuilder::subscription_buffer_bytes`]); a message from the server is at most
//! [`DEFAULT_MAX_MESSAGE_SIZE`] ([`ClientBuilder::max_message_size`]). The connection task
//! never waits for a consumer:
//! when a buffer is full the oldest event is dropped and the stream yields [`Event::Gap`]
//! before the newer events that were kept, so a slow consumer of one subscription neither
//! blocks the others nor grows memory. The latest state survives, which is what a consumer
//! of `update` events usually needs (SPEC section 5.8.1).
//!
//! # Reconnecting
//!
//! With a [`ReconnectPolicy`] the task reconnects after the socket drops (exponential
//! backoff with a cap, optionally a maximum number of attempts), renews every subscription
//! and, once the server confirmed the renewal, puts an [`Event::Gap`] on each stream:
//! changes made while disconnected were not seen, changes after the `Gap` are. Calls in
//! flight when the socket dropped fail with [`Error::Closed`] and are not retried.

mod client;
mod connection;
mod error;
mod subscription;

pub use client::{
    Client, ClientBuilder, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_REQUEST_TIMEOUT, ReconnectPolicy,
};
pub use dcrf_protocol::Reply;
pub use error::{Error, ValidationErrors};
pub use subscription::{
    DEFAULT_SUBSCRIPTION_BUFFER, DEFAULT_SUBSCRIPTION_BUFFER_BYTES, Event, Subscription,
};

/// The rustls version used for `wss://`, for [`ClientBuilder::tls_config`].
pub use rustls;
