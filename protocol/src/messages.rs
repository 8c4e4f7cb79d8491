//! One type per message kind, each the source of one JSON Schema (SPEC §5, §6, §7).
//!
//! `Request` and `Reply` carry every frame; the types here are their refinements for
//! one action and outcome, with constant action names and statuses, so each schema states
//! exactly what a frame of that kind holds.
//!
//! Each type checks what its schema says when it is deserialized: the constant action and
//! status, empty `errors` on success ([`NoErrors`]), at least one error and a 4xx/5xx status
//! on failure ([`ErrorList`], [`ErrorStatus`]), a string or number request_id for a
//! subscription ([`SubscriptionId`]).
//!
//! The request types keep the keys they do not name in `extra`; serde reads such
//! (`#[serde(flatten)]`) types through a buffer of values, so their request_id keeps the
//! digits of a number beyond 2^64 only with serde_json's `arbitrary_precision`.
//! [`Request`](crate::Request) always keeps them.
//!
//! ```
//! use dcrf_protocol::messages::{DeleteEvent, ErrorReply, RetrieveReply};
//!
//! let frame = r#"{"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 5}"#;
//! let event: DeleteEvent = serde_json::from_str(frame).unwrap();
//! assert_eq!(event.data.pk, 1);
//! // A delete event is not a retrieve reply, and a failure needs an error.
//! assert!(serde_json::from_str::<RetrieveReply>(frame).is_err());
//! let empty = r#"{"errors": [], "data": null, "action": "retrieve", "response_status": 404, "request_id": 5}"#;
//! assert!(serde_json::from_str::<ErrorReply>(empty).is_err());
//! ```

use std::borrow::Cow;

#[cfg(feature = "schema")]
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use serde_json::{Map, Value};

use crate::{ReplyAction, RequestId, SubscriptionId};

macro_rules! action_tag {
    ($(#[$doc:meta])* $name:ident = $wire:literal) => {
        $(#[$doc])*
        ///
        #[doc = concat!(
            "```\n",
            "use dcrf_protocol::messages::tag;\n\n",
            "assert_eq!(serde_json::to_string(&tag::", stringify!($name), ")?, r#\"\"", $wire, "\"\"#);\n",
            "assert!(serde_json::from_str::<tag::", stringify!($name), ">(r#\"\"", $wire, "\"\"#).is_ok());\n",
            "assert!(serde_json::from_str::<tag::", stringify!($name), ">(r#\"\"other\"\"#).is_err());\n",
            "# Ok::<(), serde_json::Error>(())\n",
            "```",
        )]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($wire)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = Cow::<'de, str>::deserialize(deserializer)?;
                if name == $wire {
                    Ok($name)
                } else {
                    Err(D::Error::custom(format_args!("expected action {:?}, found {:?}", $wire, name)))
                }
            }
        }

        #[cfg(feature = "schema")]
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "const": $wire})
            }
        }
    };
}

/// Constant action names, one type each.
pub mod tag {
    use super::*;

    action_tag!(/// The action name `retrieve`.
        Retrieve = "retrieve");
    action_tag!(/// The action name `subscribe_instance`.
        SubscribeInstance = "subscribe_instance");
    action_tag!(/// The action name `unsubscribe_instance`.
        UnsubscribeInstance = "unsubscribe_instance");
    action_tag!(/// The action name `list`.
        List = "list");
    action_tag!(/// The action name `create`.
        Create = "create");
    action_tag!(/// The action name `update`.
        Update = "update");
    action_tag!(/// The action name `patch`.
        Patch = "patch");
    action_tag!(/// The action name `delete`.
        Delete = "delete");
}

/// A constant `response_status`.
///
/// ```
/// use dcrf_protocol::messages::Status;
///
/// assert_eq!(serde_json::to_string(&Status::<201>)?, "201");
/// assert!(serde_json::from_str::<Status<201>>("201").is_ok());
/// let error = serde_json::from_str::<Status<201>>("200").unwrap_err();
/// assert!(error.to_string().starts_with("expected response_status 201, found 200"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status<const CODE: u16>;

impl<const CODE: u16> Serialize for Status<CODE> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(CODE)
    }
}

impl<'de, const CODE: u16> Deserialize<'de> for Status<CODE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = u16::deserialize(deserializer)?;
        if code == CODE {
            Ok(Status)
        } else {
            Err(D::Error::custom(format_args!(
                "expected response_status {CODE}, found {code}"
            )))
        }
    }
}

#[cfg(feature = "schema")]
impl<const CODE: u16> JsonSchema for Status<CODE> {
    fn schema_name() -> Cow<'static, str> {
        format!("Status{CODE}").into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "const": CODE})
    }
}

/// The `errors` of a successful frame: always the empty list.
///
/// ```
/// use dcrf_protocol::messages::NoErrors;
///
/// assert_eq!(serde_json::to_string(&NoErrors)?, "[]");
/// assert!(serde_json::from_str::<NoErrors>("[]").is_ok());
/// assert!(serde_json::from_str::<NoErrors>(r#"["Not found"]"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoErrors;

impl Serialize for NoErrors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(std::iter::empty::<()>())
    }
}

impl<'de> Deserialize<'de> for NoErrors {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let errors = Vec::<Value>::deserialize(deserializer)?;
        if errors.is_empty() {
            Ok(NoErrors)
        } else {
            Err(D::Error::custom("expected no errors"))
        }
    }
}

#[cfg(feature = "schema")]
impl JsonSchema for NoErrors {
    fn schema_name() -> Cow<'static, str> {
        "NoErrors".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"description": "Always empty on success.", "type": "array", "maxItems": 0})
    }
}

/// The lookup argument: the primary key (or other lookup field) of an instance.
///
/// ```
/// use dcrf_protocol::messages::Lookup;
/// use serde_json::json;
///
/// let pk: Lookup = serde_json::from_str(r#""5b0e6a2c""#)?;
/// assert_eq!(pk, Lookup(json!("5b0e6a2c")));
/// assert_eq!(serde_json::to_string(&Lookup(json!(1)))?, "1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lookup(pub Value);

#[cfg(feature = "schema")]
impl JsonSchema for Lookup {
    fn schema_name() -> Cow<'static, str> {
        "Lookup".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Value of the lookup field (pk unless the consumer sets lookup_field). DCRF accepts an integer or its string form.",
            "type": ["integer", "string"],
            "examples": [1, "1"]
        })
    }
}

/// Deserializes a key that is present, even as null, into `Some`: a request_id of null is
/// sent, and echoed, unlike an absent one.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<RequestId>, D::Error> {
    RequestId::deserialize(deserializer).map(Some)
}

/// A serialized instance: the fields the serializer outputs.
///
/// ```
/// use dcrf_protocol::messages::{Instance, RetrieveReply};
///
/// let reply: RetrieveReply = serde_json::from_str(r#"{"errors": [], "data": {"id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1}"#)?;
/// let user: &Instance = &reply.data;
/// assert_eq!(user["username"], "test 1");
/// # Ok::<(), serde_json::Error>(())
/// ```
pub type Instance = Map<String, Value>;

/// Request `retrieve`: read one instance (SPEC §5.1).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::RetrieveRequest;

let request: RetrieveRequest = serde_json::from_str(r#"{"action": "retrieve", "request_id": 1550050, "pk": 1}"#)?;
assert_eq!(request.pk.0, 1);
assert_eq!(request.request_id.map(|id| id.to_string()).as_deref(), Some("1550050"));
// The lookup argument is required.
assert!(serde_json::from_str::<RetrieveRequest>(r#"{"action": "retrieve", "request_id": 1}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"action": "retrieve", "request_id": 1550050, "pk": 1})))]
pub struct RetrieveRequest {
    /// Always `retrieve`.
    pub action: tag::Retrieve,
    /// Echoed back in the reply.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// The instance to read.
    pub pk: Lookup,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `subscribe_instance`: subscribe to changes of one instance (SPEC §5.3).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::SubscribeInstanceRequest;

let request: SubscribeInstanceRequest = serde_json::from_str(r#"{"action": "subscribe_instance", "request_id": "sub-1", "pk": 1}"#)?;
assert_eq!(request.request_id.as_request_id().raw(), r#""sub-1""#);
// DCRF 1.3.0 closes the socket on a subscription without a string or number request_id.
assert!(serde_json::from_str::<SubscribeInstanceRequest>(r#"{"action": "subscribe_instance", "request_id": null, "pk": 1}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"action": "subscribe_instance", "request_id": 1550050, "pk": 1})))]
pub struct SubscribeInstanceRequest {
    /// Always `subscribe_instance`.
    pub action: tag::SubscribeInstance,
    /// Carried back by the reply and by every event of the subscription.
    pub request_id: SubscriptionId,
    /// The instance to watch.
    pub pk: Lookup,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `unsubscribe_instance`: cancel the subscriptions of this socket to one instance (SPEC §5.4).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::UnsubscribeInstanceRequest;

// The request_id is optional; without one, the reply's is null.
let request: UnsubscribeInstanceRequest = serde_json::from_str(r#"{"action": "unsubscribe_instance", "pk": 1}"#)?;
assert!(request.request_id.is_none());
// An explicit null is kept, and echoed.
let request: UnsubscribeInstanceRequest = serde_json::from_str(r#"{"action": "unsubscribe_instance", "request_id": null, "pk": 1}"#)?;
assert!(request.request_id.is_some_and(|id| id.is_null()));
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(
    example = serde_json::json!({"action": "unsubscribe_instance", "request_id": 1550052, "pk": 1}),
    example = serde_json::json!({"action": "unsubscribe_instance", "pk": 1})
))]
pub struct UnsubscribeInstanceRequest {
    /// Always `unsubscribe_instance`.
    pub action: tag::UnsubscribeInstance,
    /// Echoed back in the reply; optional.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// The instance to stop watching.
    pub pk: Lookup,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `list`: read every instance (SPEC §6.1).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::ListRequest;

// Keys the type does not name are kept as arguments.
let request: ListRequest = serde_json::from_str(r#"{"action": "list", "request_id": 7, "page": 2}"#)?;
assert_eq!(request.extra["page"], 2);
assert!(serde_json::from_str::<ListRequest>(r#"{"action": "retrieve", "request_id": 7}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"action": "list", "request_id": 7})))]
pub struct ListRequest {
    /// Always `list`.
    pub action: tag::List,
    /// Echoed back in the reply.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `create`: create an instance from `data` (SPEC §6.2).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::CreateRequest;

let request: CreateRequest = serde_json::from_str(r#"{"action": "create", "request_id": 8, "data": {"username": "test 4"}}"#)?;
assert_eq!(request.data["username"], "test 4");
// `data` must be an object.
assert!(serde_json::from_str::<CreateRequest>(r#"{"action": "create", "request_id": 8, "data": "test 4"}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"action": "create", "request_id": 8, "data": {"username": "test 4", "email": "4@example.com", "password": "pw"}})))]
pub struct CreateRequest {
    /// Always `create`.
    pub action: tag::Create,
    /// Echoed back in the reply.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// The fields of the new instance, as the serializer reads them.
    pub data: Map<String, Value>,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `update`: replace the fields of an instance (SPEC §6.3).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::UpdateRequest;

let request: UpdateRequest = serde_json::from_str(r#"{"action": "update", "request_id": 9, "pk": 1, "data": {"username": "renamed", "email": "1@example.com"}}"#)?;
assert_eq!((&request.pk.0, request.data.len()), (&serde_json::json!(1), 2));
// Both the lookup argument and `data` are required.
assert!(serde_json::from_str::<UpdateRequest>(r#"{"action": "update", "request_id": 9, "data": {}}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"action": "update", "request_id": 9, "pk": 1, "data": {"username": "renamed", "email": "1@example.com", "password": "pw"}})))]
pub struct UpdateRequest {
    /// Always `update`.
    pub action: tag::Update,
    /// Echoed back in the reply.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// The instance to update.
    pub pk: Lookup,
    /// The new fields.
    pub data: Map<String, Value>,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `patch`: change some fields of an instance (SPEC §6.4).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::PatchRequest;
use serde_json::json;

let request: PatchRequest = serde_json::from_str(r#"{"action": "patch", "request_id": 10, "pk": 1, "data": {"username": "edited user name"}}"#)?;
assert_eq!(serde_json::to_value(&request)?, json!({"action": "patch", "request_id": 10, "pk": 1, "data": {"username": "edited user name"}}));
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"action": "patch", "request_id": 10, "pk": 1, "data": {"username": "edited user name"}})))]
pub struct PatchRequest {
    /// Always `patch`.
    pub action: tag::Patch,
    /// Echoed back in the reply.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// The instance to change.
    pub pk: Lookup,
    /// The changed fields.
    pub data: Map<String, Value>,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `delete`: delete an instance (SPEC §6.5).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::{DeleteRequest, Lookup};

let request: DeleteRequest = serde_json::from_str(r#"{"action": "delete", "request_id": 11, "pk": "1"}"#)?;
assert_eq!(request.pk, Lookup("1".into())); // DCRF casts "1" to the pk 1
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"action": "delete", "request_id": 11, "pk": 1})))]
pub struct DeleteRequest {
    /// Always `delete`.
    pub action: tag::Delete,
    /// Echoed back in the reply.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<RequestId>,
    /// The instance to delete.
    pub pk: Lookup,
    /// Other keys, passed to the action.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Reply to `retrieve`: the serialized instance, status 200 (SPEC §5.1).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::RetrieveReply;

let reply: RetrieveReply = serde_json::from_str(r#"{"errors": [], "data": {"email": "1@example.com", "id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1550050}"#)?;
assert_eq!(reply.data["email"], "1@example.com");
// A 404 is an ErrorReply, not a RetrieveReply.
assert!(serde_json::from_str::<RetrieveReply>(r#"{"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 1}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": {"email": "1@example.com", "id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1550050})))]
pub struct RetrieveReply {
    /// Always empty.
    pub errors: NoErrors,
    /// The serialized instance.
    pub data: Instance,
    /// Always `retrieve`.
    pub action: tag::Retrieve,
    /// Always 200.
    pub response_status: Status<200>,
    /// The request's request_id.
    pub request_id: RequestId,
}

/// Reply to `subscribe_instance`: status 201, data null (SPEC §5.3).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::SubscribeInstanceReply;

let reply: SubscribeInstanceReply = serde_json::from_str(r#"{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 1550050}"#)?;
assert_eq!(reply.request_id.raw(), "1550050");
// The confirmation is a 201.
assert!(serde_json::from_str::<SubscribeInstanceReply>(r#"{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 200, "request_id": 1}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 1550050})))]
pub struct SubscribeInstanceReply {
    /// Always empty.
    pub errors: NoErrors,
    /// Always null.
    pub data: (),
    /// Always `subscribe_instance`.
    pub action: tag::SubscribeInstance,
    /// Always 201.
    pub response_status: Status<201>,
    /// The subscribing request's request_id.
    pub request_id: RequestId,
}

/// Reply to `unsubscribe_instance`: status 204, data null (SPEC §5.4).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::UnsubscribeInstanceReply;

let reply: UnsubscribeInstanceReply = serde_json::from_str(r#"{"errors": [], "data": null, "action": "unsubscribe_instance", "response_status": 204, "request_id": null}"#)?;
assert!(reply.request_id.is_null());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(
    example = serde_json::json!({"errors": [], "data": null, "action": "unsubscribe_instance", "response_status": 204, "request_id": 1550052}),
    example = serde_json::json!({"errors": [], "data": null, "action": "unsubscribe_instance", "response_status": 204, "request_id": null})
))]
pub struct UnsubscribeInstanceReply {
    /// Always empty.
    pub errors: NoErrors,
    /// Always null.
    pub data: (),
    /// Always `unsubscribe_instance`.
    pub action: tag::UnsubscribeInstance,
    /// Always 204.
    pub response_status: Status<204>,
    /// The request's request_id, or null when it had none.
    pub request_id: RequestId,
}

/// Pushed `update` event: the instance changed; data is the instance as serialized when the event is delivered (SPEC §5.5). The reply to an `update` request has the same shape (SPEC §6.3).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::UpdateEvent;

let event: UpdateEvent = serde_json::from_str(r#"{"errors": [], "data": {"id": 1, "username": "edited user name"}, "action": "update", "response_status": 200, "request_id": 1550050}"#)?;
assert_eq!(event.data["username"], "edited user name");
assert_eq!(event.request_id.raw(), "1550050"); // the subscribing request's
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": {"email": "1@example.com", "id": 1, "username": "edited user name"}, "action": "update", "response_status": 200, "request_id": 1550050})))]
pub struct UpdateEvent {
    /// Always empty.
    pub errors: NoErrors,
    /// The instance, serialized when the event is delivered.
    pub data: Instance,
    /// Always `update`.
    pub action: tag::Update,
    /// Always 200.
    pub response_status: Status<200>,
    /// The request_id of the subscribing request.
    pub request_id: RequestId,
}

/// The data of a `delete` event: the primary key of the deleted instance.
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::DeletedInstance;

// DCRF sends str(pk) when the pk is not a JSON type, such as a UUID.
let data: DeletedInstance = serde_json::from_str(r#"{"pk": "5b0e6a2c-1d2e-4f5a-8b9c-0d1e2f3a4b5c"}"#)?;
assert_eq!(data.pk, "5b0e6a2c-1d2e-4f5a-8b9c-0d1e2f3a4b5c");
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct DeletedInstance {
    /// Primary key of the deleted instance.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::request_id::any_value")
    )]
    pub pk: Value,
}

/// Pushed `delete` event: the instance was deleted (SPEC §5.6).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::{DeleteEvent, DeleteReply};

let frame = r#"{"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 1550050}"#;
let event: DeleteEvent = serde_json::from_str(frame)?;
assert_eq!(event.data.pk, 1);
// The reply to a delete request has null data: the two cannot be confused.
assert!(serde_json::from_str::<DeleteReply>(frame).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 1550050})))]
pub struct DeleteEvent {
    /// Always empty.
    pub errors: NoErrors,
    /// The primary key of the deleted instance.
    pub data: DeletedInstance,
    /// Always `delete`.
    pub action: tag::Delete,
    /// Always 204.
    pub response_status: Status<204>,
    /// The request_id of the subscribing request.
    pub request_id: RequestId,
}

/// Reply to `list`: every instance, status 200 (SPEC §6.1).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::ListReply;

let reply: ListReply = serde_json::from_str(r#"{"errors": [], "data": [{"id": 1}, {"id": 2}], "action": "list", "response_status": 200, "request_id": 7}"#)?;
assert_eq!(reply.data.len(), 2);
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": [{"email": "1@example.com", "id": 1, "username": "test 1"}], "action": "list", "response_status": 200, "request_id": 7})))]
pub struct ListReply {
    /// Always empty.
    pub errors: NoErrors,
    /// The serialized instances.
    pub data: Vec<Instance>,
    /// Always `list`.
    pub action: tag::List,
    /// Always 200.
    pub response_status: Status<200>,
    /// The request's request_id.
    pub request_id: RequestId,
}

/// Reply to `create`: the new instance, status 201 (SPEC §6.2).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::{CreateEvent, CreateReply};

let frame = r#"{"errors": [], "data": {"id": 4, "username": "test 4"}, "action": "create", "response_status": 201, "request_id": 8}"#;
let reply: CreateReply = serde_json::from_str(frame)?;
assert_eq!(reply.data["id"], 4);
// A create event has status 200; a create reply 201.
assert!(serde_json::from_str::<CreateEvent>(frame).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": {"email": "4@example.com", "id": 4, "username": "test 4"}, "action": "create", "response_status": 201, "request_id": 8})))]
pub struct CreateReply {
    /// Always empty.
    pub errors: NoErrors,
    /// The serialized new instance.
    pub data: Instance,
    /// Always `create`.
    pub action: tag::Create,
    /// Always 201.
    pub response_status: Status<201>,
    /// The request's request_id.
    pub request_id: RequestId,
}

/// Pushed `create` event: a subscribed instance was saved after its row had been deleted, so Django inserted it again; data is the instance (SPEC §5.6.3, §10.9).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::CreateEvent;

let event: CreateEvent = serde_json::from_str(r#"{"errors": [], "data": {"id": 33, "username": "race1 changed"}, "action": "create", "response_status": 200, "request_id": 46}"#)?;
assert_eq!(event.data["id"], 33);
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": {"id": 33, "username": "race1 changed", "email": "u30@probe.example"}, "action": "create", "response_status": 200, "request_id": 46})))]
pub struct CreateEvent {
    /// Always empty.
    pub errors: NoErrors,
    /// The instance as saved again.
    pub data: Instance,
    /// Always `create`.
    pub action: tag::Create,
    /// Always 200.
    pub response_status: Status<200>,
    /// The request_id of the subscribing request.
    pub request_id: RequestId,
}

/// Reply to `patch`: the changed instance, status 200 (SPEC §6.4).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::PatchReply;

let reply: PatchReply = serde_json::from_str(r#"{"errors": [], "data": {"id": 1, "username": "edited user name"}, "action": "patch", "response_status": 200, "request_id": 10}"#)?;
assert_eq!(reply.data["username"], "edited user name");
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": {"email": "1@example.com", "id": 1, "username": "edited user name"}, "action": "patch", "response_status": 200, "request_id": 10})))]
pub struct PatchReply {
    /// Always empty.
    pub errors: NoErrors,
    /// The serialized instance after the change.
    pub data: Instance,
    /// Always `patch`.
    pub action: tag::Patch,
    /// Always 200.
    pub response_status: Status<200>,
    /// The request's request_id.
    pub request_id: RequestId,
}

/// Reply to `delete`: status 204, data null (SPEC §6.5).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::DeleteReply;

let reply: DeleteReply = serde_json::from_str(r#"{"errors": [], "data": null, "action": "delete", "response_status": 204, "request_id": 11}"#)?;
assert_eq!(reply.request_id.raw(), "11");
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(example = serde_json::json!({"errors": [], "data": null, "action": "delete", "response_status": 204, "request_id": 11})))]
pub struct DeleteReply {
    /// Always empty.
    pub errors: NoErrors,
    /// Always null.
    pub data: (),
    /// Always `delete`.
    pub action: tag::Delete,
    /// Always 204.
    pub response_status: Status<204>,
    /// The request's request_id.
    pub request_id: RequestId,
}

/// The `errors` of a failed frame: at least one error, each a message string or an object
/// mapping each invalid field to its messages (SPEC §4.1, §6.6).
///
/// ```
/// use dcrf_protocol::messages::ErrorList;
///
/// let errors: ErrorList = serde_json::from_str(r#"["Not found"]"#).unwrap();
/// assert_eq!(errors.messages().collect::<Vec<_>>(), ["Not found"]);
/// assert!(serde_json::from_str::<ErrorList>("[]").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ErrorList(Vec<Value>);

impl ErrorList {
    /// The list, when it holds at least one error.
    ///
    /// ```
    /// use dcrf_protocol::messages::ErrorList;
    ///
    /// assert!(ErrorList::new(vec!["Not found".into()]).is_some());
    /// assert!(ErrorList::new(Vec::new()).is_none());
    /// ```
    pub fn new(errors: Vec<Value>) -> Option<Self> {
        (!errors.is_empty()).then_some(ErrorList(errors))
    }

    /// Every error as sent.
    ///
    /// ```
    /// use dcrf_protocol::messages::ErrorList;
    /// use serde_json::json;
    ///
    /// let errors: ErrorList = serde_json::from_str(r#"[{"email": ["Enter a valid email address."]}]"#)?;
    /// assert_eq!(errors.as_slice(), [json!({"email": ["Enter a valid email address."]})]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn as_slice(&self) -> &[Value] {
        &self.0
    }

    /// The errors that are plain message strings, such as `"Not found"`.
    ///
    /// ```
    /// use dcrf_protocol::messages::ErrorList;
    ///
    /// // Field errors are objects, not messages.
    /// let errors: ErrorList = serde_json::from_str(r#"["Bad request", {"pk": ["Required."]}]"#)?;
    /// assert_eq!(errors.messages().collect::<Vec<_>>(), ["Bad request"]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(Value::as_str)
    }

    /// The messages of one field, from the errors that map fields to messages (a
    /// serializer's validation errors, SPEC §6.6).
    ///
    /// ```
    /// # use dcrf_protocol::messages::ErrorList;
    /// let errors: ErrorList =
    ///     serde_json::from_str(r#"[{"username": ["This field is required."]}]"#).unwrap();
    /// assert_eq!(errors.field("username"), ["This field is required."]);
    /// ```
    pub fn field(&self, name: &str) -> Vec<&str> {
        let mut messages = Vec::new();
        for error in &self.0 {
            match error.get(name) {
                Some(Value::String(message)) => messages.push(message.as_str()),
                Some(Value::Array(items)) => {
                    messages.extend(items.iter().filter_map(Value::as_str))
                }
                _ => {}
            }
        }
        messages
    }

    /// The errors, giving up the list.
    ///
    /// ```
    /// use dcrf_protocol::messages::ErrorList;
    ///
    /// let errors: ErrorList = serde_json::from_str(r#"["Not found"]"#)?;
    /// let errors: Vec<serde_json::Value> = errors.into_vec();
    /// assert_eq!(errors, ["Not found"]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn into_vec(self) -> Vec<Value> {
        self.0
    }
}

impl<'de> Deserialize<'de> for ErrorList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let errors = Vec::<Value>::deserialize(deserializer)?;
        ErrorList::new(errors)
            .ok_or_else(|| D::Error::custom("a failed frame carries at least one error"))
    }
}

#[cfg(feature = "schema")]
impl JsonSchema for ErrorList {
    fn schema_name() -> Cow<'static, str> {
        "ErrorList".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "At least one error: a message string, or an object mapping each invalid field to its messages.",
            "type": "array",
            "minItems": 1,
            "items": {"type": ["string", "object"]},
            "examples": [["Not found"], [{"username": ["This field is required."]}]]
        })
    }
}

/// A 4xx or 5xx status code.
///
/// ```
/// use dcrf_protocol::messages::ErrorStatus;
///
/// assert_eq!(ErrorStatus::new(404).map(ErrorStatus::code), Some(404));
/// assert!(serde_json::from_str::<ErrorStatus>("200").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ErrorStatus(u16);

impl ErrorStatus {
    /// The status, when it is a 4xx or 5xx code.
    ///
    /// ```
    /// use dcrf_protocol::messages::ErrorStatus;
    ///
    /// assert!(ErrorStatus::new(429).is_some());
    /// assert!(ErrorStatus::new(204).is_none());
    /// assert!(ErrorStatus::new(600).is_none());
    /// ```
    pub fn new(code: u16) -> Option<Self> {
        (400..=599).contains(&code).then_some(ErrorStatus(code))
    }

    /// The code.
    ///
    /// ```
    /// use dcrf_protocol::messages::ErrorStatus;
    ///
    /// let status: ErrorStatus = serde_json::from_str("403")?;
    /// assert_eq!(status.code(), 403);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn code(self) -> u16 {
        self.0
    }
}

impl<'de> Deserialize<'de> for ErrorStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = u16::deserialize(deserializer)?;
        ErrorStatus::new(code).ok_or_else(|| {
            D::Error::custom(format_args!(
                "expected a 4xx or 5xx response_status, found {code}"
            ))
        })
    }
}

#[cfg(feature = "schema")]
impl JsonSchema for ErrorStatus {
    fn schema_name() -> Cow<'static, str> {
        "ErrorStatus".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 400, "maximum": 599})
    }
}

/// Any failure: a reply or event with a 4xx or 5xx status and at least one error (SPEC §7).
// Documentation only: the doc comment is the schema's `description`.
#[cfg_attr(
    any(doc, doctest),
    doc = r##"
```
use dcrf_protocol::messages::ErrorReply;

let reply: ErrorReply = serde_json::from_str(r#"{"errors": ["Method \"foo\" not allowed."], "data": null, "action": "foo", "response_status": 405, "request_id": 3}"#)?;
assert_eq!(reply.response_status.code(), 405);
assert_eq!(reply.errors.messages().collect::<Vec<_>>(), [r#"Method "foo" not allowed."#]);
// A failure without an error, or with a 2xx status, is not an error reply.
assert!(serde_json::from_str::<ErrorReply>(r#"{"errors": [], "data": null, "action": "retrieve", "response_status": 404, "request_id": 1}"#).is_err());
assert!(serde_json::from_str::<ErrorReply>(r#"{"errors": ["x"], "data": null, "action": "retrieve", "response_status": 200, "request_id": 1}"#).is_err());
# Ok::<(), serde_json::Error>(())
```
"##
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(
    example = serde_json::json!({"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 1550050}),
    example = serde_json::json!({"errors": ["Method \"foo\" not allowed."], "data": null, "action": "foo", "response_status": 405, "request_id": 3}),
    example = serde_json::json!({"errors": ["Unable to find action in message body."], "data": null, "action": null, "response_status": 405, "request_id": null})
))]
pub struct ErrorReply {
    /// What went wrong.
    pub errors: ErrorList,
    /// Usually null.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::request_id::any_value")
    )]
    pub data: Value,
    /// The request's action echoed back, the event name, or null.
    pub action: ReplyAction,
    /// The failure's status code.
    pub response_status: ErrorStatus,
    /// The request's request_id, or null.
    pub request_id: RequestId,
}
