//! The client request (SPEC §3).

use schemars::JsonSchema;
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "Request",
    example = serde_json::json!({"action": "retrieve", "request_id": 1550050, "pk": 1}),
    example = serde_json::json!({"action": "subscribe_instance", "request_id": 1550051, "pk": 1})
)]
pub struct Request {
    /// Name of the action to run.
    pub action: Action,
    /// Correlation value echoed back in the reply; absent and null are different on the wire.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// The action's arguments: the lookup argument, `data`, and any other key.
    #[serde(flatten)]
    pub args: Map<String, Value>,
}

/// Deserializes a key that is present (even as null) into `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<RequestId>, D::Error> {
    RequestId::deserialize(deserializer).map(Some)
}

impl Request {
    /// A request for `action` with no request_id and no arguments.
    pub fn new(action: Action) -> Self {
        Request {
            action,
            request_id: None,
            args: Map::new(),
        }
    }

    /// Sets the request_id.
    pub fn with_request_id(mut self, request_id: impl Into<RequestId>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Adds an argument.
    pub fn with_arg(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.args.insert(key.into(), value.into());
        self
    }

    /// Parses a text frame.
    pub fn from_frame(frame: &str) -> Result<Self, Error> {
        Self::from_value(serde_json::from_str(frame).map_err(Error::Json)?)
    }

    /// Parses a JSON value, naming the first problem precisely.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let Value::Object(mut object) = value else {
            return Err(Error::NotAnObject {
                found: json_type(&value),
            });
        };
        let action = match object.shift_remove("action") {
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
        let request_id = object.shift_remove("request_id").map(RequestId);
        Ok(Request {
            action,
            request_id,
            args: object,
        })
    }

    /// The request as a JSON value.
    pub fn to_value(&self) -> Value {
        let mut object = Map::with_capacity(self.args.len() + 2);
        object.insert("action".into(), Value::from(self.action.as_str()));
        if let Some(request_id) = &self.request_id {
            object.insert("request_id".into(), request_id.0.clone());
        }
        object.extend(self.args.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(object)
    }

    /// The request as a text frame.
    pub fn to_frame(&self) -> String {
        self.to_value().to_string()
    }

    /// The checked, typed view of this request, using `lookup_field` as the lookup argument.
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
                            found: json_type(&id.0),
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
