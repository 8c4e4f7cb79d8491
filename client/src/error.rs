//! The client's error type.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// Everything a call, a subscription or a connection attempt can fail with.
///
/// Error replies of the server (SPEC section 7) become [`Error::NotFound`],
/// [`Error::Validation`], [`Error::PermissionDenied`] or [`Error::Server`]; the connection's
/// own failures are [`Error::Connect`], [`Error::Closed`] and [`Error::Timeout`]; a frame
/// that is not a valid reply is [`Error::Protocol`], and a valid reply whose `data` does not
/// fit the caller's type is [`Error::Decode`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
/// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
/// # let url = format!("{}full/", server.ws_url());
/// use dcrf_client::{Client, Error};
/// use serde_json::{Value, json};
///
/// let client = Client::connect(url).await?;
/// // Error replies are typed by their status.
/// let missing = client.retrieve::<Value>(999).await.unwrap_err();
/// assert!(matches!(missing, Error::NotFound { .. }));
/// assert_eq!(missing.to_string(), r#"not found: [String("Not found")]"#);
///
/// let invalid = client.create::<Value>(&json!({"username": "", "password": "s3cret"})).await.unwrap_err();
/// match &invalid {
///     Error::Validation(errors) => assert_eq!(errors.field("username"), ["This field may not be blank."]),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(invalid.to_string(), "validation failed: username: This field may not be blank.");
///
/// // A reply whose data does not fit the type: the cause is kept as the source.
/// let decode = client.retrieve::<Vec<String>>(1).await.unwrap_err();
/// assert!(matches!(decode, Error::Decode(_)));
/// assert!(std::error::Error::source(&decode).is_some());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).await?
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a `ws://` or `wss://` URL the client can connect to.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given to the builder.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A handshake header given to [`ClientBuilder::header`](crate::ClientBuilder::header)
    /// is not a valid HTTP header name or value.
    #[error("invalid handshake header {name:?}")]
    InvalidHeader {
        /// The header's name, as given.
        name: String,
    },
    /// The TLS configuration for `wss://` could not be built (no usable root certificates).
    #[error("cannot configure TLS")]
    Tls(#[source] rustls::Error),
    /// The TCP connection, the TLS session or the WebSocket handshake failed (for example
    /// a 403 or 404 answer to the upgrade request).
    #[error("cannot connect")]
    Connect(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The connection is closed: it dropped while the request was in flight, it dropped and
    /// the reconnect policy gave up (or there is none), or every handle was dropped.
    #[error("connection closed")]
    Closed,
    /// No reply arrived within the request timeout
    /// ([`ClientBuilder::request_timeout`](crate::ClientBuilder::request_timeout)).
    #[error("no reply within the request timeout")]
    Timeout,
    /// The server answered 404: no instance matches the lookup (SPEC section 7.3).
    #[error("not found: {errors:?}")]
    NotFound {
        /// The `errors` of the reply, DCRF sends `["Not found"]`.
        errors: Vec<Value>,
    },
    /// The server answered 400: the `data` was invalid (SPEC section 6.6), or the request
    /// was malformed (SPEC section 2.3).
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// The server answered 403: a DRF permission class denied the action (SPEC section 7.4).
    #[error("permission denied: {errors:?}")]
    PermissionDenied {
        /// The `errors` of the reply, DRF's `detail` message.
        errors: Vec<Value>,
    },
    /// The server answered another error status (405 for an action the consumer does not
    /// offer, 429, 5xx).
    #[error("server error {status}: {errors:?}")]
    Server {
        /// The reply's `response_status`.
        status: u16,
        /// The reply's `errors`.
        errors: Vec<Value>,
    },
    /// The frame correlated with the request is not a valid reply (SPEC section 4.1): not
    /// JSON, not an object, a key missing or of the wrong type.
    #[error("malformed reply: {reason}")]
    Protocol {
        /// What is wrong with the frame.
        reason: String,
    },
    /// The reply is valid, but its `data` does not deserialize into the requested type.
    #[error("reply data does not fit the requested type")]
    Decode(#[source] serde_json::Error),
    /// The request's `data` or arguments could not be serialized to a JSON object.
    #[error("cannot serialize the request")]
    Encode(#[source] serde_json::Error),
}

impl Error {
    /// A copy of an error made from a reply, for every subscriber waiting on it; the
    /// connection's own errors (not `Clone`) become `Closed`.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::NotFound { errors } => Error::NotFound {
                errors: errors.clone(),
            },
            Error::Validation(errors) => Error::Validation(errors.clone()),
            Error::PermissionDenied { errors } => Error::PermissionDenied {
                errors: errors.clone(),
            },
            Error::Server { status, errors } => Error::Server {
                status: *status,
                errors: errors.clone(),
            },
            Error::Protocol { reason } => Error::Protocol {
                reason: reason.clone(),
            },
            Error::Timeout => Error::Timeout,
            _ => Error::Closed,
        }
    }
}

/// The messages of a validation error, as DRF sends them (SPEC section 6.6).
///
/// DRF sends `errors` as a one-element array holding an object that maps each invalid field
/// to a list of messages (`[{"username": ["This field is required."]}]`); errors of the
/// data as a whole arrive under `non_field_errors`, and some servers send plain strings.
/// Nested serializers nest the object; their fields are flattened with dots
/// (`address.city`), list items with their index (`tags.0`).
///
/// ```
/// use dcrf_client::ValidationErrors;
/// use serde_json::json;
///
/// // The `errors` of a 400 reply of a serializer with a nested `address`.
/// let errors = ValidationErrors::from_errors(vec![json!({
///     "email": ["Enter a valid email address."],
///     "address": {"city": ["This field is required."]},
///     "non_field_errors": ["The passwords do not match."],
/// })]);
/// assert_eq!(errors.field("email"), ["Enter a valid email address."]);
/// assert_eq!(errors.field("address.city"), ["This field is required."]);
/// assert_eq!(errors.field("non_field_errors"), ["The passwords do not match."]);
/// assert_eq!(
///     errors.to_string(),
///     "address.city: This field is required.; email: Enter a valid email address.; \
///      non_field_errors: The passwords do not match."
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationErrors {
    /// Messages per field, in field-name order.
    pub fields: BTreeMap<String, Vec<String>>,
    /// Messages that name no field: plain strings in `errors`.
    pub messages: Vec<String>,
    /// The `errors` array exactly as received.
    pub raw: Vec<Value>,
}

impl ValidationErrors {
    /// Reads the `errors` array of a 400 reply.
    ///
    /// ```
    /// use dcrf_client::ValidationErrors;
    /// use serde_json::json;
    ///
    /// let errors = ValidationErrors::from_errors(vec![json!({"username": ["This field is required."]})]);
    /// assert_eq!(errors.fields["username"], ["This field is required."]);
    /// assert!(errors.messages.is_empty());
    /// ```
    pub fn from_errors(errors: Vec<Value>) -> Self {
        let mut fields = BTreeMap::new();
        let mut messages = Vec::new();
        for error in &errors {
            match error {
                Value::Object(map) => {
                    for (field, value) in map {
                        collect(field.clone(), value, &mut fields);
                    }
                }
                Value::String(message) => messages.push(message.clone()),
                other => messages.push(other.to_string()),
            }
        }
        ValidationErrors {
            fields,
            messages,
            raw: errors,
        }
    }

    /// The messages of one field (empty when the field is valid).
    ///
    /// ```
    /// use dcrf_client::ValidationErrors;
    /// use serde_json::json;
    ///
    /// let errors = ValidationErrors::from_errors(vec![json!({"tags": [[], ["Not a valid string."]]})]);
    /// assert_eq!(errors.field("tags.1"), ["Not a valid string."]);
    /// assert!(errors.field("tags.0").is_empty()); // valid fields have no messages
    /// assert!(errors.field("username").is_empty());
    /// ```
    pub fn field(&self, name: &str) -> &[String] {
        self.fields.get(name).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Adds the messages under `value` to `fields`, at `path`.
fn collect(path: String, value: &Value, fields: &mut BTreeMap<String, Vec<String>>) {
    match value {
        Value::String(message) => fields.entry(path).or_default().push(message.clone()),
        Value::Array(items) if items.is_empty() => {}
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let entry = fields.entry(path).or_default();
            entry.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect(format!("{path}.{index}"), item, fields);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect(format!("{path}.{key}"), item, fields);
            }
        }
        other => fields.entry(path).or_default().push(other.to_string()),
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let text = if first { "" } else { "; " };
            first = false;
            f.write_str(text)
        };
        for message in &self.messages {
            sep(f)?;
            f.write_str(message)?;
        }
        for (field, messages) in &self.fields {
            sep(f)?;
            write!(f, "{field}: {}", messages.join(" "))?;
        }
        if first {
            f.write_str("no messages")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_plain_messages() {
        let errors = ValidationErrors::from_errors(vec![
            json!({"address": {"city": ["Required."]}, "tags": [[], ["Bad."]], "non_field_errors": ["Invalid data."]}),
            json!("Bad request"),
        ]);
        assert_eq!(errors.field("address.city"), ["Required."]);
        assert_eq!(errors.field("tags.1"), ["Bad."]);
        assert_eq!(errors.field("non_field_errors"), ["Invalid data."]);
        assert_eq!(errors.messages, ["Bad request"]);
        assert_eq!(
            errors.to_string(),
            "Bad request; address.city: Required.; non_field_errors: Invalid data.; tags.1: Bad."
        );
    }

    #[test]
    fn error_stays_small() {
        // Results of every call carry it; keep it a few words.
        assert!(
            std::mem::size_of::<Error>() <= 96,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
