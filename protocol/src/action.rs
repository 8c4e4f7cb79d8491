//! Action names (SPEC §3.1, §5, §6).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The `action` of a request: one of the actions DCRF's mixins define, or any other name.
///
/// A consumer can define its own actions with `@action()`; those arrive as `Other`.
///
/// ```
/// use dcrf_protocol::Action;
///
/// let action: Action = serde_json::from_str(r#""subscribe_instance""#)?;
/// assert_eq!(action, Action::SubscribeInstance);
/// // A consumer's own @action() method.
/// let custom: Action = serde_json::from_str(r#""send_welcome_email""#)?;
/// assert_eq!(custom, Action::Other("send_welcome_email".into()));
/// assert_eq!(serde_json::to_string(&custom)?, r#""send_welcome_email""#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// `retrieve`: read one instance (SPEC §5.1).
    Retrieve,
    /// `subscribe_instance`: subscribe to changes of one instance (SPEC §5.3).
    SubscribeInstance,
    /// `unsubscribe_instance`: cancel a subscription (SPEC §5.4).
    UnsubscribeInstance,
    /// `list`: read every instance (SPEC §6.1).
    List,
    /// `create`: create an instance (SPEC §6.2).
    Create,
    /// `update`: replace an instance; also the action of the pushed change event (SPEC §6.3, §5.5).
    Update,
    /// `patch`: partially update an instance (SPEC §6.4).
    Patch,
    /// `delete`: delete an instance; also the action of the pushed delete event (SPEC §6.5, §5.6).
    Delete,
    /// Any other action name.
    Other(String),
}

impl Action {
    /// Every action this crate names, in SPEC order.
    pub const KNOWN: [Action; 8] = [
        Action::Retrieve,
        Action::SubscribeInstance,
        Action::UnsubscribeInstance,
        Action::List,
        Action::Create,
        Action::Update,
        Action::Patch,
        Action::Delete,
    ];

    /// The action name on the wire.
    ///
    /// ```
    /// use dcrf_protocol::Action;
    ///
    /// assert_eq!(Action::UnsubscribeInstance.as_str(), "unsubscribe_instance");
    /// assert_eq!(Action::Other("ping".into()).as_str(), "ping");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Action::Retrieve => "retrieve",
            Action::SubscribeInstance => "subscribe_instance",
            Action::UnsubscribeInstance => "unsubscribe_instance",
            Action::List => "list",
            Action::Create => "create",
            Action::Update => "update",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::Other(name) => name,
        }
    }

    /// Parses a wire name; never fails, unknown names become `Other`.
    ///
    /// ```
    /// use dcrf_protocol::Action;
    ///
    /// assert_eq!(Action::from_name("list"), Action::List);
    /// // Names are case-sensitive, as in DCRF.
    /// assert_eq!(Action::from_name("List"), Action::Other("List".into()));
    /// ```
    pub fn from_name(name: &str) -> Action {
        Action::KNOWN
            .into_iter()
            .find(|known| known.as_str() == name)
            .unwrap_or_else(|| Action::Other(name.to_owned()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Action::from_name(&name))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Action {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Action".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Name of the action to run. DCRF's mixins define retrieve, subscribe_instance, unsubscribe_instance, list, create, update, patch and delete; a consumer may define others.",
            "type": "string",
            "examples": ["retrieve", "subscribe_instance"]
        })
    }
}

/// The `action` of a server frame: the request's action echoed back, or the event name.
///
/// DCRF echoes whatever the request carried, even a number, and sends null when the
/// request had no action (SPEC §4.2, §7.2).
///
/// ```
/// use dcrf_protocol::{Action, Reply, ReplyAction};
///
/// // A request without an action gets a 405 whose action is null (SPEC §7.2).
/// let frame = r#"{"errors": ["Unable to find action in message body."], "data": null, "action": null, "response_status": 405, "request_id": null}"#;
/// let reply = Reply::from_frame(frame)?;
/// assert_eq!(reply.action, ReplyAction::Null);
/// // A request whose action was a number gets it back.
/// let echoed: ReplyAction = serde_json::from_str("5")?;
/// assert_eq!(echoed, ReplyAction::Echoed(5.into()));
/// assert_eq!(ReplyAction::from(Action::Update), ReplyAction::Name(Action::Update));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplyAction {
    /// A string action name.
    Name(Action),
    /// `null`: the request had no action.
    Null,
    /// Any other JSON value, echoed from a request whose action was not a string.
    Echoed(Value),
}

impl ReplyAction {
    /// The action name when it is a string.
    ///
    /// ```
    /// use dcrf_protocol::{Action, ReplyAction};
    ///
    /// assert_eq!(ReplyAction::Name(Action::List).name(), Some(&Action::List));
    /// assert_eq!(ReplyAction::Null.name(), None);
    /// ```
    pub fn name(&self) -> Option<&Action> {
        match self {
            ReplyAction::Name(action) => Some(action),
            ReplyAction::Null | ReplyAction::Echoed(_) => None,
        }
    }

    /// The JSON value on the wire.
    ///
    /// ```
    /// use dcrf_protocol::{Action, ReplyAction};
    /// use serde_json::json;
    ///
    /// assert_eq!(ReplyAction::Name(Action::Patch).to_value(), json!("patch"));
    /// assert_eq!(ReplyAction::Echoed(json!(["x"])).to_value(), json!(["x"]));
    /// ```
    pub fn to_value(&self) -> Value {
        match self {
            ReplyAction::Name(action) => Value::from(action.as_str()),
            ReplyAction::Null => Value::Null,
            ReplyAction::Echoed(value) => value.clone(),
        }
    }

    /// Builds the action of a reply to a request whose `action` key held `value`.
    ///
    /// ```
    /// use dcrf_protocol::{Action, ReplyAction};
    /// use serde_json::json;
    ///
    /// assert_eq!(ReplyAction::from_value(json!("retrieve")), ReplyAction::Name(Action::Retrieve));
    /// assert_eq!(ReplyAction::from_value(json!(null)), ReplyAction::Null);
    /// assert_eq!(ReplyAction::from_value(json!(7)), ReplyAction::Echoed(json!(7)));
    /// ```
    pub fn from_value(value: Value) -> ReplyAction {
        match value {
            Value::String(name) => ReplyAction::Name(Action::from_name(&name)),
            Value::Null => ReplyAction::Null,
            other => ReplyAction::Echoed(other),
        }
    }
}

impl From<Action> for ReplyAction {
    fn from(action: Action) -> Self {
        ReplyAction::Name(action)
    }
}

impl Serialize for ReplyAction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ReplyAction::Name(action) => action.serialize(serializer),
            ReplyAction::Null => serializer.serialize_unit(),
            ReplyAction::Echoed(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ReplyAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(ReplyAction::from_value)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ReplyAction {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReplyAction".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The action of the request this frame answers, echoed unchanged (even when it is not a string), the event name (update, delete) of a pushed event, or null when the request had no action.",
            "type": crate::request_id::ANY_JSON_TYPE,
            "examples": ["retrieve", "update", null]
        })
    }
}
