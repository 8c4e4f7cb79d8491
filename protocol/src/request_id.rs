//! The `request_id` correlation value (SPEC §3.2).

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The correlation value a client puts in `request_id` and the server echoes back unchanged.
///
/// Any JSON value is allowed on the wire. Clients commonly use integers such as
/// `Date.getTime()` or UUID strings.
///
/// # Exact digits
///
/// A `RequestId` keeps the JSON text it was parsed from (a [`RawValue`], serde_json's
/// `raw_value` feature) and prints that text back: an integer beyond 2^64 or a float such
/// as `1.50` keeps its digits, without serde_json's global `arbitrary_precision` feature.
/// This holds when the id is parsed from text by serde_json, directly or inside any
/// `Deserialize` type, [`Request`](crate::Request) and [`Reply`](crate::Reply) included.
/// When it is built from a [`Value`] (or deserialized from one, or from a buffered
/// `#[serde(flatten)]`/`#[serde(untagged)]` container), it holds what that `Value` holds:
/// the digits of big numbers survive only when the build turns on `arbitrary_precision`.
///
/// # Equality
///
/// Two ids are equal when DCRF would key the same subscription with them, as Python
/// compares the values `json.loads` makes (SPEC §5.3): strings after unescaping; an integer
/// literal by its exact value; a literal with a fraction or an exponent as the nearest IEEE
/// double; and an integer equals a double of the same value, so `1`, `1.0` and `1e0` are
/// equal while `18446744073709551617` and `18446744073709551617.0` are not. Unlike Python,
/// `true` is not equal to `1`: SPEC §5.3 tells clients not to rely on that. Arrays and
/// objects compare element by element (object keys in any order). [`Hash`] agrees with
/// equality.
///
/// ```
/// use dcrf_protocol::RequestId;
///
/// let id: RequestId = serde_json::from_str("18446744073709551617").unwrap();
/// assert_eq!(id.to_string(), "18446744073709551617");
/// assert_eq!(serde_json::to_string(&id).unwrap(), "18446744073709551617");
///
/// let one = RequestId::parse("1").unwrap();
/// assert_eq!(one, RequestId::parse("1.0").unwrap());
/// assert_ne!(one, RequestId::parse("\"1\"").unwrap());
/// assert_ne!(one, RequestId::parse("true").unwrap());
/// assert_eq!(RequestId::parse("1.50").unwrap().raw(), "1.50");
/// ```
#[derive(Clone)]
pub struct RequestId(Box<Parts>);

/// The text, the value and the comparison key, boxed: a `RequestId` is one pointer wide.
#[derive(Clone)]
struct Parts {
    raw: Box<RawValue>,
    value: Value,
    key: Key,
}

/// The JSON type of a [`RequestId`], with numbers split as DCRF parses them.
///
/// ```
/// use dcrf_protocol::{RequestId, RequestIdKind};
///
/// let kind = |json: &str| RequestId::parse(json).map(|id| id.kind());
/// assert_eq!(kind("1550050")?, RequestIdKind::Integer);
/// assert_eq!(kind("1550050.0")?, RequestIdKind::Float);
/// assert_eq!(kind(r#""sub-1""#)?, RequestIdKind::String);
/// assert_eq!(kind("[1]")?, RequestIdKind::Array);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestIdKind {
    /// `null`, also what a reply carries when the request had no request_id.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number written without a fraction or an exponent: Python keeps every digit.
    Integer,
    /// A number with a fraction or an exponent: Python parses it as a double and may
    /// print it back with other digits (SPEC §10.6).
    Float,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl RequestId {
    /// The id `null`: what a reply carries when its request had no request_id.
    ///
    /// ```
    /// # use dcrf_protocol::{RequestId, RequestIdKind};
    /// assert_eq!(RequestId::null().kind(), RequestIdKind::Null);
    /// ```
    pub fn null() -> Self {
        Self::from_raw(Box::default())
    }

    /// Parses the JSON text of an id, keeping its digits.
    ///
    /// ```
    /// # use dcrf_protocol::RequestId;
    /// let id = RequestId::parse(" 9007199254740993 ").unwrap();
    /// assert_eq!(id.raw(), "9007199254740993");
    /// assert!(RequestId::parse("{").is_err());
    /// ```
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json.to_owned()).map(Self::from_raw)
    }

    /// An id holding the JSON text of `raw`.
    ///
    /// ```
    /// use dcrf_protocol::RequestId;
    /// use serde_json::value::RawValue;
    ///
    /// let raw = RawValue::from_string("1.50".to_owned())?;
    /// let id = RequestId::from_raw(raw);
    /// assert_eq!(id.raw(), "1.50");
    /// assert_eq!(id, RequestId::from(serde_json::json!(1.5)));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        // A RawValue is valid JSON, so this parse only fails past serde_json's recursion
        // limit, which the RawValue parse shares.
        let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        let key = match &value {
            Value::Number(_) => number_key(raw.get()),
            other => key_of(other),
        };
        RequestId(Box::new(Parts { raw, value, key }))
    }

    /// The JSON text, exactly as received (surrounding whitespace removed).
    ///
    /// ```
    /// use dcrf_protocol::RequestId;
    ///
    /// assert_eq!(RequestId::parse(r#""7c5d2f7e""#)?.raw(), r#""7c5d2f7e""#);
    /// assert_eq!(RequestId::parse("1e3")?.raw(), "1e3");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn raw(&self) -> &str {
        self.0.raw.get()
    }

    /// The JSON text as a [`RawValue`].
    ///
    /// ```
    /// use dcrf_protocol::RequestId;
    ///
    /// let id = RequestId::parse("18446744073709551617")?;
    /// // Embed it in another frame without losing a digit.
    /// let frame = format!(r#"{{"request_id":{}}}"#, id.as_raw());
    /// assert_eq!(frame, r#"{"request_id":18446744073709551617}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn as_raw(&self) -> &RawValue {
        &self.0.raw
    }

    /// The JSON value. Its numbers keep their digits only when serde_json's
    /// `arbitrary_precision` is on; [`raw`](Self::raw) always does.
    ///
    /// ```
    /// # use dcrf_protocol::RequestId;
    /// let id = RequestId::parse(r#""7c5d2f7e""#).unwrap();
    /// assert_eq!(id.as_value(), &serde_json::json!("7c5d2f7e"));
    /// ```
    pub fn as_value(&self) -> &Value {
        &self.0.value
    }

    /// The JSON value, giving up the text (see [`as_value`](Self::as_value)).
    ///
    /// ```
    /// use dcrf_protocol::RequestId;
    /// use serde_json::json;
    ///
    /// assert_eq!(RequestId::from("sub-1").into_value(), json!("sub-1"));
    /// ```
    pub fn into_value(self) -> Value {
        self.0.value
    }

    /// The JSON type of the id.
    ///
    /// ```
    /// # use dcrf_protocol::{RequestId, RequestIdKind};
    /// assert_eq!(RequestId::parse("1e2").unwrap().kind(), RequestIdKind::Float);
    /// assert_eq!(RequestId::from(1550050u64).kind(), RequestIdKind::Integer);
    /// ```
    pub fn kind(&self) -> RequestIdKind {
        match &self.0.value {
            Value::Null => RequestIdKind::Null,
            Value::Bool(_) => RequestIdKind::Boolean,
            Value::Number(_) if is_integer_literal(self.raw()) => RequestIdKind::Integer,
            Value::Number(_) => RequestIdKind::Float,
            Value::String(_) => RequestIdKind::String,
            Value::Array(_) => RequestIdKind::Array,
            Value::Object(_) => RequestIdKind::Object,
        }
    }

    /// Whether this is `null`.
    ///
    /// ```
    /// use dcrf_protocol::{Reply, RequestId};
    ///
    /// assert!(RequestId::null().is_null());
    /// assert!(!RequestId::from(0u64).is_null());
    /// let reply = Reply::from_frame(r#"{"errors": [], "data": null, "action": "unsubscribe_instance", "response_status": 204, "request_id": null}"#)?;
    /// assert!(reply.request_id.is_null());
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn is_null(&self) -> bool {
        self.0.value.is_null()
    }

    /// Whether a server can key a subscription on this value (SPEC §5.3): a string or a number.
    ///
    /// ```
    /// # use dcrf_protocol::RequestId;
    /// assert!(RequestId::from("sub-1").is_subscription_key());
    /// assert!(!RequestId::null().is_subscription_key());
    /// ```
    pub fn is_subscription_key(&self) -> bool {
        matches!(self.0.value, Value::String(_) | Value::Number(_))
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::null()
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.raw()).finish()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw())
    }
}

impl PartialEq for RequestId {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for RequestId {}

impl Hash for RequestId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
    }
}

impl From<Value> for RequestId {
    fn from(value: Value) -> Self {
        // Printing a Value always gives valid JSON.
        let raw = RawValue::from_string(value.to_string()).unwrap_or_default();
        let key = match &value {
            Value::Number(_) => number_key(raw.get()),
            other => key_of(other),
        };
        RequestId(Box::new(Parts { raw, value, key }))
    }
}

impl From<Box<RawValue>> for RequestId {
    fn from(raw: Box<RawValue>) -> Self {
        Self::from_raw(raw)
    }
}

impl From<u64> for RequestId {
    fn from(value: u64) -> Self {
        Self::from(Value::from(value))
    }
}

impl From<i64> for RequestId {
    fn from(value: i64) -> Self {
        Self::from(Value::from(value))
    }
}

impl From<&str> for RequestId {
    fn from(value: &str) -> Self {
        Self::from(Value::from(value))
    }
}

impl From<String> for RequestId {
    fn from(value: String) -> Self {
        Self::from(Value::from(value))
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // serde_json's serializers print the raw text; others see the JSON value.
        self.0.raw.serialize(serializer)
    }
}

/// serde_json's name for the newtype a `RawValue` is requested as. A deserializer that
/// knows it (serde_json's, from text or from a `Value`) hands over the JSON text; any other
/// (such as serde's buffer for flattened and untagged types) hands over the value.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(RAW_VALUE_TOKEN, RequestIdVisitor)
    }
}

struct RequestIdVisitor;

impl<'de> Visitor<'de> for RequestIdVisitor {
    type Value = RequestId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<RequestId, D::Error> {
        Value::deserialize(d).map(RequestId::from)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RequestId, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(RequestId::from(Value::Object(Map::new())));
        };
        if first == RAW_VALUE_TOKEN {
            let text: String = map.next_value()?;
            return RawValue::from_string(text)
                .map(RequestId::from_raw)
                .map_err(de::Error::custom);
        }
        // A real object, from a deserializer that is not serde_json's.
        let mut object = Map::new();
        object.insert(first, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        Ok(RequestId::from(Value::Object(object)))
    }

    // Deserializers that ignore the newtype request call these directly.

    fn visit_unit<E: de::Error>(self) -> Result<RequestId, E> {
        Ok(RequestId::null())
    }

    fn visit_none<E: de::Error>(self) -> Result<RequestId, E> {
        Ok(RequestId::null())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RequestId, D::Error> {
        RequestId::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RequestId, E> {
        Ok(RequestId::from(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RequestId, E> {
        Ok(RequestId::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RequestId, E> {
        Ok(RequestId::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RequestId, E> {
        Ok(RequestId::from(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RequestId, E> {
        Ok(RequestId::from(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RequestId, E> {
        Ok(RequestId::from(v))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RequestId, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(RequestId::from(Value::Array(items)))
    }
}

/// A value as DCRF compares it (see [`RequestId`]'s equality).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Null,
    Bool(bool),
    /// The exact integer value in canonical decimal ("-0" is "0").
    Integer(String),
    /// The bits of a double that is not an integer (or not finite).
    Float(u64),
    String(String),
    Array(Vec<Key>),
    Object(BTreeMap<String, Key>),
}

fn is_integer_literal(text: &str) -> bool {
    !text.contains(['.', 'e', 'E'])
}

fn number_key(text: &str) -> Key {
    if is_integer_literal(text) {
        let negative_zero = text
            .strip_prefix('-')
            .is_some_and(|digits| digits.bytes().all(|b| b == b'0'));
        return Key::Integer(if negative_zero {
            "0".to_owned()
        } else {
            text.to_owned()
        });
    }
    let float: f64 = text.parse().unwrap_or(f64::NAN);
    if float.is_finite() && float.fract() == 0.0 {
        // `{:.0}` prints every digit of an integral double exactly.
        let digits = format!("{float:.0}");
        Key::Integer(if digits == "-0" {
            "0".to_owned()
        } else {
            digits
        })
    } else {
        Key::Float(float.to_bits())
    }
}

fn key_of(value: &Value) -> Key {
    match value {
        Value::Null => Key::Null,
        Value::Bool(b) => Key::Bool(*b),
        Value::Number(number) => number_key(&number.to_string()),
        Value::String(s) => Key::String(s.clone()),
        Value::Array(items) => Key::Array(items.iter().map(key_of).collect()),
        Value::Object(object) => Key::Object(
            object
                .iter()
                .map(|(key, value)| (key.clone(), key_of(value)))
                .collect(),
        ),
    }
}

/// Every JSON type, spelled out: the schema of a value that may be anything.
///
/// An empty schema means the same to a validator, but json-schema-to-typescript turns it into
/// an object type; naming the types gives `string | number | boolean | object | array | null`.
#[cfg(feature = "schema")]
pub(crate) const ANY_JSON_TYPE: [&str; 6] =
    ["string", "number", "boolean", "object", "array", "null"];

/// The schema of a field that holds any JSON value.
///
/// ```
/// // The schema of a field of your own message type that holds any JSON value.
/// let schema = dcrf_protocol::request_id::any_value(&mut schemars::SchemaGenerator::default());
/// assert_eq!(
///     schema.as_value()["type"],
///     serde_json::json!(["string", "number", "boolean", "object", "array", "null"])
/// );
/// ```
#[cfg(feature = "schema")]
pub fn any_value(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": ANY_JSON_TYPE})
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for RequestId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RequestId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Correlation value chosen by the client and echoed back unchanged. Any JSON value; clients use integers (Date.getTime()) or UUID strings.",
            "type": ANY_JSON_TYPE,
            "examples": [1550050, "7c5d2f7e-5a7e-4c0e-9a51-1f8f0b6f4d1a"]
        })
    }
}

/// The `request_id` of a `subscribe_instance` request: a string or a number (SPEC §5.3).
///
/// Events for the subscription carry this value back. DCRF 1.3.0 closes the socket when it
/// is missing, null, an object or a list, so a client MUST send a string or a number;
/// deserializing anything else fails.
///
/// ```
/// use dcrf_protocol::SubscriptionId;
///
/// let id: SubscriptionId = serde_json::from_str("1550050").unwrap();
/// assert_eq!(id.as_request_id().raw(), "1550050");
/// assert!(serde_json::from_str::<SubscriptionId>("null").is_err());
/// assert!(SubscriptionId::new("sub-1".into()).is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SubscriptionId(RequestId);

impl SubscriptionId {
    /// The id, when it is a string or a number.
    ///
    /// ```
    /// use dcrf_protocol::{RequestId, SubscriptionId};
    ///
    /// assert!(SubscriptionId::new(RequestId::from(1550050u64)).is_some());
    /// assert!(SubscriptionId::new(RequestId::from("sub-1")).is_some());
    /// assert!(SubscriptionId::new(RequestId::null()).is_none());
    /// assert!(SubscriptionId::new(RequestId::parse("true")?).is_none());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new(request_id: RequestId) -> Option<Self> {
        request_id
            .is_subscription_key()
            .then_some(SubscriptionId(request_id))
    }

    /// The id as a [`RequestId`].
    ///
    /// ```
    /// use dcrf_protocol::{RequestId, SubscriptionId};
    ///
    /// let id: SubscriptionId = serde_json::from_str(r#""sub-1""#)?;
    /// assert_eq!(id.as_request_id(), &RequestId::from("sub-1"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn as_request_id(&self) -> &RequestId {
        &self.0
    }

    /// The id as a [`RequestId`].
    ///
    /// ```
    /// use dcrf_protocol::{Action, Request, SubscriptionId};
    ///
    /// let id: SubscriptionId = serde_json::from_str("42")?;
    /// let unsubscribe = Request::new(Action::UnsubscribeInstance).with_request_id(id.into_request_id()).with_arg("pk", 1);
    /// assert_eq!(unsubscribe.to_frame(), r#"{"action":"unsubscribe_instance","request_id":42,"pk":1}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn into_request_id(self) -> RequestId {
        self.0
    }
}

impl From<SubscriptionId> for RequestId {
    fn from(id: SubscriptionId) -> Self {
        id.0
    }
}

impl<'de> Deserialize<'de> for SubscriptionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = RequestId::deserialize(deserializer)?;
        let kind = id.kind();
        SubscriptionId::new(id).ok_or_else(|| {
            de::Error::custom(format_args!(
                "a subscription request_id must be a string or a number, found {kind:?}"
            ))
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for SubscriptionId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SubscriptionId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Request id of a subscription: a string or a number. Every event of the subscription carries it back.",
            "type": ["string", "number"],
            "examples": [1550050, "sub-1"]
        })
    }
}
