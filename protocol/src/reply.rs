//! The reply envelope of every server frame (SPEC §4).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Action, Error, ReplyAction, RequestId};

/// A frame sent by the server: a reply to a request or a pushed event.
///
/// All five keys are always present. `errors` is empty on success; `data` is the action's
/// result or null; `action` echoes the request's action or names the event;
/// `response_status` is an HTTP status code; `request_id` echoes the request's value
/// (or the subscribing request's value for an event), null when the request had none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "Reply",
    example = serde_json::json!({"errors": [], "data": {"email": "1@example.com", "id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1550050}),
    example = serde_json::json!({"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 1550050})
)]
pub struct Reply {
    /// Error messages: strings, or objects mapping a field name to its messages; empty on success.
    pub errors: Vec<Value>,
    /// The result of the action, or null.
    #[schemars(schema_with = "crate::request_id::any_value")]
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

    /// Parses a text frame.
    pub fn from_frame(frame: &str) -> Result<Self, Error> {
        Self::from_value(serde_json::from_str(frame).map_err(Error::Json)?)
    }

    /// Parses a JSON value.
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

    /// The reply as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The reply as a text frame.
    pub fn to_frame(&self) -> String {
        self.to_value().to_string()
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
