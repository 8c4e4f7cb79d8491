//! The harness's error type: "could not judge", never "the server is wrong".

use std::path::PathBuf;

/// Why a run could not be made: a bad target configuration or an unreachable endpoint.
///
/// A server that answers wrongly is not an error; it gets a failing verdict. These errors
/// mean the harness could not judge, and the CLI exits with code 2 for them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target configuration file could not be read.
    #[error("cannot read target config {path}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The target configuration file is not valid TOML for a target (a syntax error, an
    /// unknown key, a value of the wrong type, an environment variable that is not set).
    #[error("invalid target config {path}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key (one line).
        why: String,
    },
    /// The target configuration is complete TOML but makes no sense (a bad URL, say).
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// A WebSocket endpoint of the target did not accept a connection.
    #[error("cannot connect to {url}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The preflight found that no case can be judged: the handshake was refused (HTTP 401,
    /// 403, 500, a TLS failure, a refused connection) or the consumer refuses the preflight
    /// `retrieve` of `existing_pk` (403: permissions; 404: a wrong `existing_pk`). `reason`
    /// is one line that says what to check.
    #[error("{url}: {reason}")]
    Refused {
        /// The endpoint.
        url: String,
        /// What happened and what to check.
        reason: String,
    },
    /// TLS could not be set up (the `ca_file` cannot be read, the platform has no roots).
    #[error("tls: {0}")]
    Tls(String),
    /// The in-process reference server did not start.
    #[error("cannot start the embedded reference server")]
    Embedded(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The mutation hook failed (the admin API refused a change, a shell command failed).
    #[error("mutation hook failed: {0}")]
    Mutation(String),
    /// An HTTP request of the mutation hook failed at the transport level.
    #[error("http {method} {url} failed")]
    Http {
        /// The request method.
        method: String,
        /// The request URL.
        url: String,
        /// The cause (from the HTTP client, or a response over the size bound).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing a report failed.
    #[error("cannot write report {path}")]
    WriteReport {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
