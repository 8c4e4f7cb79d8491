//! The channelsmultiplexer envelope (SPEC §8).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A frame of a multiplexed socket: a request or reply wrapped with the name of its stream.
///
/// channelsmultiplexer's demultiplexer routes each frame to the consumer registered under
/// `stream`; replies and events come back wrapped the same way. dcrf-client speaks this
/// envelope by default.
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::{Action, Multiplexed, Request};

let frame = r#"{"stream": "users", "payload": {"action": "retrieve", "request_id": 1, "pk": 1}}"#;
let envelope: Multiplexed = serde_json::from_str(frame)?;
assert_eq!(envelope.stream, "users");
let request = Request::from_value(envelope.payload)?;
assert_eq!(request.action, Action::Retrieve);
# Ok::<(), Box<dyn std::error::Error>>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(
    title = "Multiplexed",
    example = serde_json::json!({"stream": "users", "payload": {"action": "retrieve", "request_id": 1, "pk": 1}}),
    example = serde_json::json!({"stream": "users", "payload": {"errors": [], "data": {"email": "1@example.com", "id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1}})
))]
pub struct Multiplexed {
    /// Name of the stream, the consumer the payload is for or from.
    pub stream: String,
    /// The wrapped request or reply.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::request_id::any_value")
    )]
    pub payload: Value,
}

impl Multiplexed {
    /// Wraps a payload for `stream`.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Multiplexed, Request};
    ///
    /// let request = Request::new(Action::List).with_request_id(7u64);
    /// let envelope = Multiplexed::new("users", request.to_value());
    /// assert_eq!(
    ///     serde_json::to_string(&envelope)?,
    ///     r#"{"stream":"users","payload":{"action":"list","request_id":7}}"#
    /// );
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new(stream: impl Into<String>, payload: Value) -> Self {
        Multiplexed {
            stream: stream.into(),
            payload,
        }
    }
}
