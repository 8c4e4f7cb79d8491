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
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The reply as a text frame, keys in DCRF's order; the request_id is its exact text.
    pub fn to_frame(&self) -> String {
        // Printing strings, numbers, raw values and `Value`s to a `String` cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether this frame reports success (a 2xx status).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.response_status)
    }

    /// The action name, when the frame carries a string action.
    pub fn action_name(&self) -> Option<&Action> {
        self.action.name()
    }
}
