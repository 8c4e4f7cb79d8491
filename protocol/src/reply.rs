//! The reply envelope of every server frame (SPEC §4).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{Action, Error, ReplyAction, RequestId};

/// A frame sent by the server: a reply to a request or a pushed event.
///
/// All five keys are always present. `errors` is empty on success; `data` is the action's
/// result or null; `action` echoes the request's action or names the event;
/// `response_status` is an HTTP status code; `request_id` echoes the request's value
/// (or the subscribing request's value for an event), null when the request had none.
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::{Action, Reply};

let frame = r#"{"errors": [], "data": {"id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1550050}"#;
let reply = Reply::from_frame(frame)?;
assert!(reply.is_success());
assert_eq!(reply.action_name(), Some(&Action::Retrieve));
assert_eq!(reply.data["username"], "test 1");
assert_eq!(reply.request_id.raw(), "1550050");
# Ok::<(), dcrf_protocol::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(
    title = "Reply",
    example = serde_json::json!({"errors": [], "data": {"email": "1@example.com", "id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1550050}),
    example = serde_json::json!({"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 1550050})
))]
pub struct Reply {
    /// Error messages: strings, or objects mapping a field name to its messages; empty on success.
    pub errors: Vec<Value>,
    /// The result of the action, or null.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::request_id::any_value")
    )]
    pub data: Value,
    /// The request's action echoed back, or the event name.
    pub action: ReplyAction,
    /// HTTP status code of the outcome.
    pub response_status: u16,
    /// The request's request_id echoed back, or null.
    pub request_id: RequestId,
    /// Keys beyond the five; DCRF sends none, clients ignore them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ReplyVisitor)
    }
}

/// Reads a reply key by key, so the request_id is read from the text itself.
struct ReplyVisitor;

impl<'de> Visitor<'de> for ReplyVisitor {
    type Value = Reply;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a reply object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Reply, A::Error> {
        let mut errors = None;
        let mut data = None;
        let mut action = None;
        let mut response_status = None;
        let mut request_id = None;
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "errors" => errors = Some(map.next_value()?),
                "data" => data = Some(map.next_value()?),
                "action" => action = Some(map.next_value()?),
                "response_status" => response_status = Some(map.next_value()?),
                "request_id" => request_id = Some(map.next_value()?),
                _ => {
                    let value = map.next_value::<Value>()?;
                    extra.insert(key, value);
                }
            }
        }
        Ok(Reply {
            errors: errors.ok_or_else(|| de::Error::missing_field("errors"))?,
            data: data.ok_or_else(|| de::Error::missing_field("data"))?,
            action: action.ok_or_else(|| de::Error::missing_field("action"))?,
            response_status: response_status
                .ok_or_else(|| de::Error::missing_field("response_status"))?,
            request_id: request_id.ok_or_else(|| de::Error::missing_field("request_id"))?,
            extra,
        })
    }
}

impl Reply {
    /// A successful reply.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Reply, RequestId};
    /// use serde_json::json;
    ///
    /// let reply = Reply::ok(Action::Retrieve, 200, json!({"id": 1}), RequestId::from(7u64));
    /// assert_eq!(
    ///     reply.to_frame(),
    ///     r#"{"errors":[],"data":{"id":1},"action":"retrieve","response_status":200,"request_id":7}"#
    /// );
    /// ```
    pub fn ok(
        action: impl Into<ReplyAction>,
        status: u16,
        data: Value,
        request_id: RequestId,
    ) -> Self {
        Reply {
            errors: Vec::new(),
            data,
            action: action.into(),
            response_status: status,
            request_id,
            extra: Map::new(),
        }
    }

    /// An error reply with `data: null`.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Reply, RequestId};
    ///
    /// let reply = Reply::error(Action::Retrieve, 404, vec!["Not found".into()], RequestId::from(7u64));
    /// assert_eq!(
    ///     reply.to_frame(),
    ///     r#"{"errors":["Not found"],"data":null,"action":"retrieve","response_status":404,"request_id":7}"#
    /// );
    /// ```
    pub fn error(
        action: impl Into<ReplyAction>,
        status: u16,
        errors: Vec<Value>,
        request_id: RequestId,
    ) -> Self {
        Reply {
            errors,
            data: Value::Null,
            action: action.into(),
            response_status: status,
            request_id,
            extra: Map::new(),
        }
    }

    /// Parses a text frame; the request_id keeps its digits.
    ///
    /// [`ServerFrame`](crate::ServerFrame) reads a frame into typed data instead.
    ///
    /// ```
    /// use dcrf_protocol::Reply;
    ///
    /// let frame = r#"{"errors":["Not found"],"data":null,"action":"retrieve","response_status":404,"request_id":18446744073709551617}"#;
    /// let reply = Reply::from_frame(frame).unwrap();
    /// assert!(!reply.is_success());
    /// assert_eq!(reply.request_id.raw(), "18446744073709551617");
    /// assert_eq!(reply.to_frame(), frame);
    /// ```
    pub fn from_frame(frame: &str) -> Result<Self, Error> {
        crate::request::parse_frame(frame, Self::from_value)
    }

    /// Parses a JSON value (see [`Request::from_value`](crate::Request::from_value) for
    /// the digits the request_id keeps).
    ///
    /// ```
    /// use dcrf_protocol::{Error, Reply};
    /// use serde_json::json;
    ///
    /// let reply = Reply::from_value(json!({"errors": [], "data": null, "action": "delete", "response_status": 204, "request_id": 11}))?;
    /// assert_eq!(reply.response_status, 204);
    /// // Every key is required, even when null.
    /// let error = Reply::from_value(json!({"errors": [], "action": "delete", "response_status": 204, "request_id": 11})).unwrap_err();
    /// assert!(matches!(error, Error::MissingKey { key: "data" }));
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let Value::Object(object) = &value else {
            return Err(Error::NotAnObject {
                found: crate::request::json_type(&value),
            });
        };
        for key in ["errors", "data", "action", "response_status", "request_id"] {
            if !object.contains_key(key) {
                return Err(Error::MissingKey { key });
            }
        }
        serde_json::from_value(value).map_err(Error::Invalid)
    }

    /// The reply as a JSON value (see [`RequestId::as_value`] for the digits it keeps).
    ///
    /// ```
    /// use dcrf_protocol::{Action, Reply, RequestId};
    /// use serde_json::json;
    ///
    /// let reply = Reply::ok(Action::SubscribeInstance, 201, json!(null), RequestId::from("sub-1"));
    /// assert_eq!(
    ///     reply.to_value(),
    ///     json!({"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": "sub-1"})
    /// );
    /// ```
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The reply as a text frame, keys in DCRF's order; the request_id is its exact text.
    ///
    /// ```
    /// use dcrf_protocol::Reply;
    ///
    /// // Printed back exactly: the keys in DCRF's order, the request_id's digits.
    /// let frame = r#"{"errors":[],"data":null,"action":"unsubscribe_instance","response_status":204,"request_id":1.50}"#;
    /// assert_eq!(Reply::from_frame(frame)?.to_frame(), frame);
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn to_frame(&self) -> String {
        // Printing strings, numbers, raw values and `Value`s to a `String` cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether this frame reports success (a 2xx status).
    ///
    /// ```
    /// use dcrf_protocol::{Action, Reply, RequestId};
    ///
    /// assert!(Reply::ok(Action::Delete, 204, serde_json::Value::Null, RequestId::null()).is_success());
    /// assert!(!Reply::error(Action::Delete, 403, vec!["Forbidden".into()], RequestId::null()).is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.response_status)
    }

    /// The action name, when the frame carries a string action.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Reply};
    ///
    /// let event = Reply::from_frame(r#"{"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 5}"#)?;
    /// assert_eq!(event.action_name(), Some(&Action::Delete));
    /// let echoed = Reply::from_frame(r#"{"errors": ["Method \"5\" not allowed."], "data": null, "action": 5, "response_status": 405, "request_id": 6}"#)?;
    /// assert_eq!(echoed.action_name(), None);
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn action_name(&self) -> Option<&Action> {
        self.action.name()
    }
}
