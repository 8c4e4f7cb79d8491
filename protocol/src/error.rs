//! The crate's error type.

use std::fmt;

use crate::Action;

/// Why a frame could not be read as a message of this protocol.
///
/// ```
/// use dcrf_protocol::{Action, Error, Reply, Request};
///
/// assert!(matches!(Reply::from_frame("not json"), Err(Error::Json(_))));
/// assert!(matches!(Reply::from_frame("[1]"), Err(Error::NotAnObject { found: "array" })));
/// let missing = Reply::from_frame(r#"{"errors": [], "data": null, "action": "list", "response_status": 200}"#).unwrap_err();
/// assert_eq!(missing.to_string(), "missing key `request_id`");
/// let wrong = Request::from_frame(r#"{"action": 5}"#).unwrap_err();
/// assert_eq!(wrong.to_string(), "`action` must be a string, found number");
/// let argument = Request::new(Action::Retrieve).operation("pk").unwrap_err();
/// assert_eq!(argument.to_string(), "action `retrieve` requires the argument `pk`");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The text is not JSON.
    Json(serde_json::Error),
    /// The frame is JSON, but not an object (SPEC §2.2).
    NotAnObject {
        /// JSON type of the frame.
        found: &'static str,
    },
    /// A key the message kind requires is absent.
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A key holds a value of the wrong JSON type.
    WrongType {
        /// The key.
        key: &'static str,
        /// What the key must hold.
        expected: &'static str,
        /// JSON type found.
        found: &'static str,
    },
    /// An action is missing an argument it requires, such as the lookup argument.
    MissingArgument {
        /// The action.
        action: Action,
        /// The argument.
        key: String,
    },
    /// The frame is well-formed JSON but not a valid message (field types, values).
    Invalid(serde_json::Error),
    /// The frame is a valid reply, but its `data` does not fit the type asked for
    /// ([`ServerFrame`](crate::ServerFrame)).
    Data {
        /// What `data` was read as.
        expected: &'static str,
        /// serde's report, with the path inside `data`.
        source: serde_json::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json(_) => f.write_str("frame is not valid JSON"),
            Error::NotAnObject { found } => write!(f, "frame is a JSON {found}, not an object"),
            Error::MissingKey { key } => write!(f, "missing key `{key}`"),
            Error::WrongType {
                key,
                expected,
                found,
            } => write!(f, "`{key}` must be {expected}, found {found}"),
            Error::MissingArgument { action, key } => {
                write!(f, "action `{action}` requires the argument `{key}`")
            }
            Error::Invalid(_) => f.write_str("invalid message"),
            Error::Data { expected, .. } => {
                write!(f, "`data` is not {expected} of the expected type")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Json(error) | Error::Invalid(error) | Error::Data { source: error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }
}
