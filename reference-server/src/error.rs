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
    /// A fixture or data file is not a JSON array of users (or a data file object).
    #[error("{} is not a valid user file", path.display())]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
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
    /// The data file could not be written; the change was not applied.
    #[error("cannot write the data file {}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The admin client was given a URL it cannot use (only `http://HOST:PORT` is supported).
    #[error("unsupported admin URL {url:?}: expected http://HOST:PORT")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// The admin client could not talk to the server.
    #[error("admin request to {url} failed")]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The admin client got a response it could not parse.
    #[error("malformed HTTP response from {url}: {reason}")]
    BadResponse {
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
}
