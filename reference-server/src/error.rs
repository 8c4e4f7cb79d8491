//! The crate's error type.

use std::path::PathBuf;

/// Why the server (or the admin client) could not do what was asked.
///
/// Errors of one request or one connection never surface here: they are answered on the
/// wire (an error reply, an HTTP error, a close frame). These are the failures of the
/// server as a whole and of the admin client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener's local address could not be read.
    #[error("cannot read the listener's address")]
    LocalAddr(#[source] std::io::Error),
    /// A fixture or data file could not be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A fixture or data file is not a JSON array of users (or a data file object). The
    /// cause names the line and column.
    #[error("{} is not a valid user file (expected {expected})", path.display())]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What the file should hold.
        expected: &'static str,
        /// The cause, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The data file is a symlink whose target does not exist.
    #[error("the data file {} is a symlink to {}, which does not exist", path.display(), target.display())]
    DanglingSymlink {
        /// The symlink.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A fixture or data file holds two users with one primary key or one username.
    #[error("{} holds a duplicate {what}: {value}", path.display())]
    DuplicateUser {
        /// The file.
        path: PathBuf,
        /// `"id"` or `"username"`.
        what: &'static str,
        /// The duplicated value.
        value: String,
    },
    /// A model from a schema was combined with what only the seed's `User` supports.
    #[error("{0}")]
    ModelUnsupported(&'static str),
    /// The WebSocket paths or the stream name are not usable.
    #[error("{0}")]
    Endpoints(String),
    /// The data file could not be written; the change was not applied.
    #[error("cannot write the data file {}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `--redis` was given a URL the Redis client cannot use.
    #[error("invalid redis URL {url}")]
    RedisUrl {
        /// The URL, without its password.
        url: String,
        /// The cause.
        #[source]
        source: Box<redis::RedisError>,
    },
    /// The shared store could not be reached at start: the server does not start.
    #[error("cannot connect to redis at {url}")]
    RedisConnect {
        /// The URL, without its password.
        url: String,
        /// The cause.
        #[source]
        source: Box<redis::RedisError>,
    },
    /// A request to the shared store failed; the change it served was not applied.
    #[error("redis {what} failed")]
    Redis {
        /// The request.
        what: &'static str,
        /// The cause.
        #[source]
        source: Box<redis::RedisError>,
    },
    /// A request to the shared store got no answer in time; the change it served was not
    /// applied.
    #[error("redis {what} did not answer in time")]
    RedisTimeout {
        /// The request.
        what: &'static str,
    },
    /// The shared store holds data this server cannot read.
    #[error("unexpected data in redis: {reason}")]
    RedisData {
        /// What was wrong.
        reason: String,
    },
    /// The shared store has no data (Redis came back empty and no node has seeded it yet);
    /// the change was not applied.
    #[error("the shared store is empty until a node reconnects and seeds it")]
    RedisEmpty,
    /// A change conflicted with changes of other nodes this many times in a row; it was not
    /// applied.
    #[error("the change conflicted with other nodes' changes {attempts} times")]
    RedisConflict {
        /// How often it was decided again.
        attempts: usize,
    },
    /// `data_file` and `redis` were both given: with Redis, the users live in Redis.
    #[error("a data file cannot be used with redis: the users live in redis (drop --data)")]
    DataFileWithRedis,
    /// The admin client was given a URL it cannot use (`http(s)://HOST[:PORT]`, IPv6
    /// literals in brackets, no path, query or credentials).
    #[error("unsupported admin URL {url:?}: expected http://HOST:PORT")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// The admin client was asked for a path it will not send: a primary key or path with
    /// a `/`, CR, LF or other control character.
    #[error("refusing to request {path:?}: {reason}")]
    BadPath {
        /// The path or primary key.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The admin client could not talk to the server, or the response ended early.
    #[error("admin request to {url} failed")]
    Http {
        /// The URL.
        url: String,
        /// The cause (hyper's error, the body limit, or the timeout).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The admin client got a response it could not use: a non-2xx status, or a body
    /// that is not the expected JSON.
    #[error("bad response from {url}: {reason}")]
    BadResponse {
        /// The URL.
        url: String,
        /// HTTP status, when one was received.
        status: Option<u16>,
        /// What was wrong, with the start of the body.
        reason: String,
    },
}
