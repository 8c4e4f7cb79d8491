//! The client request (SPEC §3).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{Action, Error, RequestId};

/// The lookup argument name a DCRF consumer uses unless it sets `lookup_field` (SPEC §3.3).
pub const DEFAULT_LOOKUP_FIELD: &str = "pk";

/// A request frame sent by the client: an action, an optional request_id, and arguments.
///
/// Every key other than `action` and `request_id` is an argument passed to the action,
/// such as the lookup argument `pk` or the `data` of a create. Unknown keys are kept,
/// so a request parsed and printed back is the same JSON value.
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::{Action, Request};

let request = Request::new(Action::Patch)
    .with_request_id(10u64)
    .with_arg("pk", 1)
    .with_arg("data", serde_json::json!({"username": "edited user name"}));
let frame = request.to_frame();
assert!(frame.starts_with(r#"{"action":"patch","request_id":10,"#));
// Parsed and printed back, a request is the same JSON value.
assert_eq!(Request::from_frame(&frame)?, request);
# Ok::<(), dcrf_protocol::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(
    title = "Request",
    example = serde_json::json!({"action": "retrieve", "request_id": 1550050, "pk": 1}),
    example = serde_json::json!({"action": "subscribe_instance", "request_id": 1550051, "pk": 1})
))]
pub struct Request {
    /// Name of the action to run.
    pub action: Action,
    /// Correlation value echoed back in the reply; absent and null are different on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// The action's arguments: the lookup argument, `data`, and any other key.
    #[serde(flatten)]
    pub args: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RequestVisitor)
    }
}

/// Reads a request key by key, so the request_id is read from the text itself (a
/// `#[serde(flatten)]` derive would buffer it as a value first and lose its digits).
struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Request;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request, A::Error> {
        let mut action = None;
        let mut request_id = None;
        let mut args = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "action" => action = Some(map.next_value::<Action>()?),
                "request_id" => request_id = Some(map.next_value::<RequestId>()?),
                _ => {
                    let value = map.next_value::<Value>()?;
                    args.insert(key, value);
                }
            }
        }
        Ok(Request {
            action: action.ok_or_else(|| de::Error::missing_field("action"))?,
            request_id,
            args,
        })
    }
}

/// Parses `frame` as `T` straight from the text; on failure, reads it as a `Value` and lets
/// `from_value` name the problem precisely.
pub(crate) fn parse_frame<'a, T: Deserialize<'a>>(
    frame: &'a str,
    from_value: fn(Value) -> Result<T, Error>,
) -> Result<T, Error> {
    match serde_json::from_str::<T>(frame) {
        Ok(parsed) => Ok(parsed),
        Err(error) if error.is_data() => match serde_json::from_str::<Value>(frame) {
            Ok(value) => from_value(value).and(Err(Error::Invalid(error))),
            Err(error) => Err(Error::Json(error)),
        },
        Err(error) => Err(Error::Json(error)),
    }
}

impl Request {
    /// A request for `action` with no request_id and no arguments.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Request};
    ///
    /// // A request without a request_id: its reply carries null.
    /// assert_eq!(Request::new(Action::List).to_frame(), r#"{"action":"list"}"#);
    /// ```
    pub fn new(action: Action) -> Self {
        Request {
            action,
            request_id: None,
            args: Map::new(),
        }
    }

    /// Sets the request_id.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Request};
    ///
    /// // Any JSON value: a number, a string (a UUID), even null.
    /// let by_number = Request::new(Action::List).with_request_id(1550050u64);
    /// let by_string = Request::new(Action::List).with_request_id("7c5d2f7e");
    /// assert_eq!(by_number.to_frame(), r#"{"action":"list","request_id":1550050}"#);
    /// assert_eq!(by_string.to_frame(), r#"{"action":"list","request_id":"7c5d2f7e"}"#);
    /// ```
    pub fn with_request_id(mut self, request_id: impl Into<RequestId>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Adds an argument.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Request};
    ///
    /// let request = Request::new(Action::Retrieve).with_arg("pk", 1);
    /// assert_eq!(request.args["pk"], 1);
    /// assert_eq!(request.to_frame(), r#"{"action":"retrieve","pk":1}"#);
    /// ```
    pub fn with_arg(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.args.insert(key.into(), value.into());
        self
    }

    /// Parses a text frame; the request_id keeps its digits (see [`RequestId`]).
    ///
    /// ```
    /// use dcrf_protocol::{Action, Request};
    ///
    /// let frame = r#"{"action":"retrieve","request_id":18446744073709551617,"pk":1}"#;
    /// let request = Request::from_frame(frame).unwrap();
    /// assert_eq!(request.action, Action::Retrieve);
    /// assert_eq!(request.args["pk"], 1);
    /// assert_eq!(request.to_frame(), frame);
    /// ```
    pub fn from_frame(frame: &str) -> Result<Self, Error> {
        parse_frame(frame, Self::from_value)
    }

    /// Parses a JSON value, naming the first problem precisely.
    ///
    /// The request_id holds what the value holds: big numbers keep their digits only when
    /// serde_json's `arbitrary_precision` is on. [`from_frame`](Self::from_frame) always
    /// keeps them.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Error, Request};
    /// use serde_json::json;
    ///
    /// let request = Request::from_value(json!({"action": "delete", "request_id": 11, "pk": 1}))?;
    /// assert_eq!(request.action, Action::Delete);
    /// assert!(matches!(Request::from_value(json!({"pk": 1})), Err(Error::MissingKey { key: "action" })));
    /// assert!(matches!(Request::from_value(json!("retrieve")), Err(Error::NotAnObject { found: "string" })));
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let Value::Object(object) = value else {
            return Err(Error::NotAnObject {
                found: json_type(&value),
            });
        };
        let mut action = None;
        let mut request_id = None;
        let mut args = Map::new();
        // One pass keeps the arguments in their order, with or without `preserve_order`.
        for (key, value) in object {
            match key.as_str() {
                "action" => action = Some(value),
                "request_id" => request_id = Some(RequestId::from(value)),
                _ => {
                    args.insert(key, value);
                }
            }
        }
        let action = match action {
            None => return Err(Error::MissingKey { key: "action" }),
            Some(Value::String(name)) => Action::from_name(&name),
            Some(other) => {
                return Err(Error::WrongType {
                    key: "action",
                    expected: "a string",
                    found: json_type(&other),
                });
            }
        };
        Ok(Request {
            action,
            request_id,
            args,
        })
    }

    /// The request as a JSON value (see [`RequestId::as_value`] for the digits it keeps).
    ///
    /// ```
    /// use dcrf_protocol::{Action, Multiplexed, Request};
    /// use serde_json::json;
    ///
    /// let request = Request::new(Action::Retrieve).with_request_id(1u64).with_arg("pk", 1);
    /// assert_eq!(request.to_value(), json!({"action": "retrieve", "request_id": 1, "pk": 1}));
    /// // For instance to wrap it in the multiplexed envelope.
    /// let envelope = Multiplexed::new("users", request.to_value());
    /// assert_eq!(envelope.payload["pk"], 1);
    /// ```
    pub fn to_value(&self) -> Value {
        let mut object = Map::with_capacity(self.args.len() + 2);
        object.insert("action".into(), Value::from(self.action.as_str()));
        if let Some(request_id) = &self.request_id {
            object.insert("request_id".into(), request_id.as_value().clone());
        }
        object.extend(self.args.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(object)
    }

    /// The request as a text frame: `action`, `request_id` (its exact text), then the arguments.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Request};
    ///
    /// let request = Request::new(Action::SubscribeInstance).with_request_id(1550050u64).with_arg("pk", 1);
    /// assert_eq!(request.to_frame(), r#"{"action":"subscribe_instance","request_id":1550050,"pk":1}"#);
    /// ```
    pub fn to_frame(&self) -> String {
        // Printing strings, raw values and `Value`s to a `String` cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The checked, typed view of this request, using `lookup_field` as the lookup argument.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Operation, Request};
    /// use serde_json::json;
    ///
    /// let request = Request::new(Action::Update).with_arg("pk", 1).with_arg("data", json!({"username": "x"}));
    /// match request.operation("pk")? {
    ///     Operation::Update { lookup, data } => assert_eq!((lookup, &data["username"]), (&json!(1), &json!("x"))),
    ///     other => panic!("{other:?}"),
    /// }
    /// // A consumer whose lookup_field is `uuid` needs that argument instead.
    /// assert!(request.operation("uuid").is_err());
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn operation(&self, lookup_field: &str) -> Result<Operation<'_>, Error> {
        let lookup = || {
            self.args.get(lookup_field).ok_or(Error::MissingArgument {
                action: self.action.clone(),
                key: lookup_field.to_owned(),
            })
        };
        let data = || {
            self.args.get("data").ok_or(Error::MissingArgument {
                action: self.action.clone(),
                key: "data".to_owned(),
            })
        };
        Ok(match &self.action {
            Action::Retrieve => Operation::Retrieve { lookup: lookup()? },
            Action::SubscribeInstance => {
                let request_id = match &self.request_id {
                    Some(id) if id.is_subscription_key() => id,
                    Some(id) => {
                        return Err(Error::WrongType {
                            key: "request_id",
                            expected: "a string or a number",
                            found: json_type(id.as_value()),
                        });
                    }
                    None => {
                        return Err(Error::MissingArgument {
                            action: Action::SubscribeInstance,
                            key: "request_id".to_owned(),
                        });
                    }
                };
                Operation::SubscribeInstance {
                    lookup: lookup()?,
                    request_id,
                }
            }
            Action::UnsubscribeInstance => Operation::UnsubscribeInstance { lookup: lookup()? },
            Action::List => Operation::List,
            Action::Create => Operation::Create { data: data()? },
            Action::Update => Operation::Update {
                lookup: lookup()?,
                data: data()?,
            },
            Action::Patch => Operation::Patch {
                lookup: lookup()?,
                data: data()?,
            },
            Action::Delete => Operation::Delete { lookup: lookup()? },
            Action::Other(name) => Operation::Custom { action: name },
        })
    }
}

/// A request whose required arguments are present, borrowed from a `Request`.
///
/// ```
/// use dcrf_protocol::{Operation, Request};
///
/// // What a server does with a request: one match, every argument checked.
/// fn handle(frame: &str) -> String {
///     let request = match Request::from_frame(frame) {
///         Ok(request) => request,
///         Err(error) => return format!("400 {error}"),
///     };
///     match request.operation("pk") {
///         Ok(Operation::Retrieve { lookup }) => format!("200 instance {lookup}"),
///         Ok(Operation::List) => "200 every instance".to_owned(),
///         Ok(Operation::Custom { action }) => format!("405 Method \"{action}\" not allowed."),
///         Ok(other) => format!("{other:?}"),
///         Err(error) => format!("400 {error}"),
///     }
/// }
/// assert_eq!(handle(r#"{"action": "retrieve", "request_id": 1, "pk": 1}"#), "200 instance 1");
/// assert_eq!(handle(r#"{"action": "retrieve", "request_id": 2}"#), "400 action `retrieve` requires the argument `pk`");
/// assert_eq!(handle(r#"{"action": "ping", "request_id": 3}"#), r#"405 Method "ping" not allowed."#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operation<'a> {
    /// `retrieve` of the instance named by `lookup` (SPEC §5.1).
    Retrieve {
        /// Value of the lookup argument.
        lookup: &'a Value,
    },
    /// `subscribe_instance` to the instance named by `lookup` (SPEC §5.3).
    SubscribeInstance {
        /// Value of the lookup argument.
        lookup: &'a Value,
        /// The request_id every event of the subscription carries back.
        request_id: &'a RequestId,
    },
    /// `unsubscribe_instance` from the instance named by `lookup` (SPEC §5.4).
    UnsubscribeInstance {
        /// Value of the lookup argument.
        lookup: &'a Value,
    },
    /// `list` (SPEC §6.1).
    List,
    /// `create` with `data` (SPEC §6.2).
    Create {
        /// The fields of the new instance.
        data: &'a Value,
    },
    /// `update` of `lookup` with `data` (SPEC §6.3).
    Update {
        /// Value of the lookup argument.
        lookup: &'a Value,
        /// The new fields.
        data: &'a Value,
    },
    /// `patch` of `lookup` with `data` (SPEC §6.4).
    Patch {
        /// Value of the lookup argument.
        lookup: &'a Value,
        /// The changed fields.
        data: &'a Value,
    },
    /// `delete` of `lookup` (SPEC §6.5).
    Delete {
        /// Value of the lookup argument.
        lookup: &'a Value,
    },
    /// An action this crate does not know.
    Custom {
        /// Its name.
        action: &'a str,
    },
}

/// The JSON type name of a value, as error messages say it.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
