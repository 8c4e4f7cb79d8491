//! The `request_id` correlation value (SPEC §3.2).

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The correlation value a client puts in `request_id` and the server echoes back unchanged.
///
/// Any JSON value is allowed on the wire. Clients commonly use integers such as
/// `Date.getTime()` or UUID strings. The value is kept exactly as received: an
/// integer beyond 2^64 or a float such as `1.50` prints back with the same digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub Value);

impl RequestId {
    /// The JSON value, exactly as received.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// Whether a server can key a subscription on this value (SPEC §5.3): a string or a number.
    pub fn is_subscription_key(&self) -> bool {
        matches!(self.0, Value::String(_) | Value::Number(_))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Value> for RequestId {
    fn from(value: Value) -> Self {
        Self(value)
    }
}

impl From<u64> for RequestId {
    fn from(value: u64) -> Self {
        Self(Value::from(value))
    }
}

impl From<i64> for RequestId {
    fn from(value: i64) -> Self {
        Self(Value::from(value))
    }
}

impl From<&str> for RequestId {
    fn from(value: &str) -> Self {
        Self(Value::from(value))
    }
}

impl From<String> for RequestId {
    fn from(value: String) -> Self {
        Self(Value::from(value))
    }
}

/// Every JSON type, spelled out: the schema of a value that may be anything.
///
/// An empty schema means the same to a validator, but json-schema-to-typescript turns it into
/// an object type; naming the types gives `string | number | boolean | object | array | null`.
pub(crate) const ANY_JSON_TYPE: [&str; 6] =
    ["string", "number", "boolean", "object", "array", "null"];

/// The schema of a field that holds any JSON value.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ANY_JSON_TYPE})
}

impl JsonSchema for RequestId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RequestId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Correlation value chosen by the client and echoed back unchanged. Any JSON value; clients use integers (Date.getTime()) or UUID strings.",
            "type": ANY_JSON_TYPE,
            "examples": [1550050, "7c5d2f7e-5a7e-4c0e-9a51-1f8f0b6f4d1a"]
        })
    }
}

/// The `request_id` of a `subscribe_instance` request: a string or a number (SPEC §5.3).
///
/// Events for the subscription carry this value back. DCRF 1.3.0 closes the socket when it
/// is missing, null, an object or a list, so a client MUST send a string or a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriptionId(pub RequestId);

impl JsonSchema for SubscriptionId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SubscriptionId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Request id of a subscription: a string or a number. Every event of the subscription carries it back.",
            "type": ["string", "number"],
            "examples": [1550050, "sub-1"]
        })
    }
}
