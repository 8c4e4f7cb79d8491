//! The crate's error type.

use crate::Action;

/// Why a frame could not be read as a message of this protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not JSON.
    #[error("frame is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// The frame is JSON, but not an object (SPEC §2.2).
    #[error("frame is a JSON {found}, not an object")]
    NotAnObject {
        /// JSON type of the frame.
        found: &'static str,
    },
    /// A key the message kind requires is absent.
    #[error("missing key `{key}`")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A key holds a value of the wrong JSON type.
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What the key must hold.
        expected: &'static str,
        /// JSON type found.
        found: &'static str,
    },
    /// An action is missing an argument it requires, such as the lookup argument.
    #[error("action `{action}` requires the argument `{key}`")]
    MissingArgument {
        /// The action.
        action: Action,
        /// The argument.
        key: String,
    },
    /// The frame is well-formed JSON but not a valid message (field types, values).
    #[error("invalid message")]
    Invalid(#[source] serde_json::Error),
}
