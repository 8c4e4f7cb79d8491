//! A server frame with typed `data` (SPEC §4, §5, §6, §7).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::messages::ErrorList;
use crate::{Action, Error, Reply, ReplyAction, RequestId};

/// A frame sent by the server, reply or event, with its `data` read into the app's own type.
///
/// `T` is the type of one instance, as the consumer's serializer outputs it. The frame's
/// action and status say what `data` holds (the [`Body`]): one instance (`retrieve`,
/// `create`, `update`, `patch` replies and `update`/`create` events), a list of them
/// (`list`), the primary key of a deleted instance (`delete` event), nothing (`subscribe_instance`,
/// `unsubscribe_instance`, `delete` replies) or errors (any 4xx/5xx).
///
/// A frame alone does not say whether it answers a request or is an event: an `update`
/// reply and an `update` event look the same. [`Correlator`](crate::Correlator) tells them
/// apart from the requests a socket sent.
///
/// ```
/// use dcrf_protocol::{Action, Body, ServerFrame};
/// use serde::Deserialize;
///
/// #[derive(Debug, PartialEq, Deserialize)]
/// struct User {
///     id: u64,
///     username: String,
/// }
///
/// let frame = r#"{"errors": [], "data": [{"id": 1, "username": "test 1"}], "action": "list", "response_status": 200, "request_id": 7}"#;
/// let frame = ServerFrame::<User>::from_frame(frame).unwrap();
/// assert_eq!(frame.action(), Some(&Action::List));
/// let Body::List(users) = frame.body else { panic!("a list") };
/// assert_eq!(users[0].username, "test 1");
///
/// let frame = r#"{"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 7}"#;
/// let frame = ServerFrame::<User>::from_frame(frame).unwrap();
/// assert_eq!(frame.body, Body::Deleted { pk: 1.into() });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerFrame<T> {
    /// The request's action echoed back, or the event name.
    pub action: ReplyAction,
    /// HTTP status code of the outcome.
    pub response_status: u16,
    /// The request's request_id echoed back (null when it had none), or for an event the
    /// subscribing request's.
    pub request_id: RequestId,
    /// What `data` (or `errors`) holds.
    pub body: Body<T>,
}

/// What a [`ServerFrame`] carries, by action and status.
///
/// ```
/// use dcrf_protocol::{Body, ServerFrame};
///
/// #[derive(Debug, PartialEq, serde::Deserialize)]
/// struct User {
///     id: u64,
///     username: String,
/// }
///
/// fn describe(frame: &str) -> String {
///     match ServerFrame::<User>::from_frame(frame).map(|frame| frame.body) {
///         Ok(Body::Instance(user)) => format!("user {}", user.username),
///         Ok(Body::List(users)) => format!("{} users", users.len()),
///         Ok(Body::Deleted { pk }) => format!("{pk} deleted"),
///         Ok(Body::Empty) => "done".to_owned(),
///         Ok(Body::Failed(errors)) => format!("failed: {:?}", errors.as_slice()),
///         Ok(_) => "something else".to_owned(),
///         Err(error) => format!("not a frame: {error}"),
///     }
/// }
/// assert_eq!(describe(r#"{"errors": [], "data": {"id": 1, "username": "ada"}, "action": "patch", "response_status": 200, "request_id": 1}"#), "user ada");
/// assert_eq!(describe(r#"{"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 1}"#), "1 deleted");
/// assert_eq!(describe(r#"{"errors": [], "data": null, "action": "delete", "response_status": 204, "request_id": 2}"#), "done");
/// assert_eq!(describe(r#"{"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 3}"#), r#"failed: [String("Not found")]"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Body<T> {
    /// One instance: a 2xx `retrieve`, `create`, `update` or `patch` frame (a reply, or an
    /// `update`/`create` event).
    Instance(T),
    /// Every instance: a 2xx `list` reply.
    List(Vec<T>),
    /// A `delete` event: the primary key of the deleted instance.
    Deleted {
        /// The `pk` of the event's data.
        pk: Value,
    },
    /// No data: a 2xx `subscribe_instance`, `unsubscribe_instance` or `delete` reply.
    Empty,
    /// A failure (4xx, 5xx): at least one error (SPEC §7).
    Failed(ErrorList),
    /// A 2xx frame of an action this crate does not know (a consumer's own `@action`):
    /// its data as sent.
    Other(Value),
}

/// The five keys, `data` kept as text until the action and status say what it is.
#[derive(Deserialize)]
struct RawFrame {
    errors: Vec<Value>,
    data: Box<RawValue>,
    action: ReplyAction,
    response_status: u16,
    request_id: RequestId,
}

impl<T: DeserializeOwned> ServerFrame<T> {
    /// Parses a text frame: the one entry point for every reply and event.
    ///
    /// Errors: [`Error::Json`] for text that is not JSON, [`Error::NotAnObject`],
    /// [`Error::MissingKey`] or [`Error::WrongType`] for a frame that is no reply at all,
    /// [`Error::Invalid`] for a reply whose errors contradict its status, and
    /// [`Error::Data`] when `data` does not fit `T`.
    ///
    /// ```
    /// # use dcrf_protocol::{Error, ServerFrame};
    /// let frame = r#"{"errors": [], "data": {"id": "x"}, "action": "retrieve", "response_status": 200, "request_id": 1}"#;
    /// #[derive(Debug, serde::Deserialize)]
    /// struct User { id: u64 }
    /// assert!(matches!(ServerFrame::<User>::from_frame(frame), Err(Error::Data { .. })));
    /// ```
    pub fn from_frame(frame: &str) -> Result<Self, Error> {
        let raw: RawFrame = crate::request::parse_frame(frame, |value| {
            Reply::from_value(value).map(|_| unreachable_frame())
        })?;
        let status = raw.response_status;
        let body = if status >= 400 {
            Body::Failed(ErrorList::new(raw.errors).ok_or_else(|| {
                Error::Invalid(serde::de::Error::custom(format_args!(
                    "response_status {status} with no errors"
                )))
            })?)
        } else if !raw.errors.is_empty() {
            return Err(Error::Invalid(serde::de::Error::custom(format_args!(
                "response_status {status} with errors"
            ))));
        } else {
            let null = raw.data.get() == "null";
            match raw.action.name() {
                Some(Action::List) => Body::List(read(&raw.data, "a list of instances")?),
                Some(Action::Delete) if null => Body::Empty,
                Some(Action::Delete) => {
                    let Deleted { pk } =
                        read(&raw.data, "an object with the deleted instance's pk")?;
                    Body::Deleted { pk }
                }
                Some(Action::SubscribeInstance | Action::UnsubscribeInstance) if null => {
                    Body::Empty
                }
                Some(Action::Retrieve | Action::Create | Action::Update | Action::Patch) => {
                    Body::Instance(read(&raw.data, "an instance")?)
                }
                _ => Body::Other(read(&raw.data, "any JSON value")?),
            }
        };
        Ok(ServerFrame {
            action: raw.action,
            response_status: status,
            request_id: raw.request_id,
            body,
        })
    }

    /// Reads a parsed [`Reply`] (for instance one the [`Correlator`](crate::Correlator) has
    /// classified) into typed data.
    ///
    /// ```
    /// use dcrf_protocol::{Classification, Correlator, Reply, ServerFrame, Action, Request};
    ///
    /// #[derive(Debug, PartialEq, serde::Deserialize)]
    /// struct User {
    ///     id: u64,
    ///     username: String,
    /// }
    ///
    /// let mut correlator = Correlator::new("pk");
    /// correlator.sent(Request::new(Action::Retrieve).with_request_id(1u64).with_arg("pk", 1));
    /// let reply = Reply::from_frame(r#"{"errors": [], "data": {"id": 1, "username": "test 1"}, "action": "retrieve", "response_status": 200, "request_id": 1}"#)?;
    /// assert!(matches!(correlator.received(&reply), Classification::Reply { .. }));
    /// let frame = ServerFrame::<User>::from_reply(&reply)?;
    /// assert_eq!(frame.instance(), Some(&User { id: 1, username: "test 1".into() }));
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn from_reply(reply: &Reply) -> Result<Self, Error> {
        Self::from_frame(&reply.to_frame())
    }
}

impl<T> ServerFrame<T> {
    /// The action name, when the frame carries a string action.
    ///
    /// ```
    /// use dcrf_protocol::{Action, ServerFrame};
    ///
    /// let frame = ServerFrame::<serde_json::Value>::from_frame(r#"{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 1}"#)?;
    /// assert_eq!(frame.action(), Some(&Action::SubscribeInstance));
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn action(&self) -> Option<&Action> {
        self.action.name()
    }

    /// Whether this frame reports success (a status below 400).
    ///
    /// ```
    /// use dcrf_protocol::ServerFrame;
    ///
    /// let frame = ServerFrame::<serde_json::Value>::from_frame(r#"{"errors": ["You do not have permission to perform this action."], "data": null, "action": "delete", "response_status": 403, "request_id": 4}"#)?;
    /// assert!(!frame.is_success());
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn is_success(&self) -> bool {
        !matches!(self.body, Body::Failed(_))
    }

    /// The instance, for a frame that carries one.
    ///
    /// ```
    /// use dcrf_protocol::ServerFrame;
    ///
    /// #[derive(Debug, PartialEq, serde::Deserialize)]
    /// struct User {
    ///     id: u64,
    ///     username: String,
    /// }
    ///
    /// let event = r#"{"errors": [], "data": {"id": 2, "username": "renamed"}, "action": "update", "response_status": 200, "request_id": 1550050}"#;
    /// let frame = ServerFrame::<User>::from_frame(event)?;
    /// assert_eq!(frame.instance().map(|user| user.username.as_str()), Some("renamed"));
    /// // A list reply carries no single instance.
    /// let list = ServerFrame::<User>::from_frame(r#"{"errors": [], "data": [], "action": "list", "response_status": 200, "request_id": 2}"#)?;
    /// assert_eq!(list.instance(), None);
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn instance(&self) -> Option<&T> {
        match &self.body {
            Body::Instance(instance) => Some(instance),
            _ => None,
        }
    }

    /// The errors, for a failed frame.
    ///
    /// ```
    /// use dcrf_protocol::ServerFrame;
    ///
    /// let frame = ServerFrame::<serde_json::Value>::from_frame(r#"{"errors": [{"username": ["This field is required."]}], "data": null, "action": "create", "response_status": 400, "request_id": 3}"#)?;
    /// let errors = frame.errors().expect("a 400 carries errors");
    /// assert_eq!(errors.field("username"), ["This field is required."]);
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn errors(&self) -> Option<&ErrorList> {
        match &self.body {
            Body::Failed(errors) => Some(errors),
            _ => None,
        }
    }
}

/// Reads `data` as `U`.
fn read<U: DeserializeOwned>(data: &RawValue, expected: &'static str) -> Result<U, Error> {
    serde_json::from_str(data.get()).map_err(|source| Error::Data { expected, source })
}

#[derive(Deserialize)]
struct Deleted {
    pk: Value,
}

/// `parse_frame` asks for the precise error only when serde reported one; a frame that
/// `Reply` accepts then still failed, which `parse_frame` reports as `Error::Invalid`.
fn unreachable_frame() -> RawFrame {
    RawFrame {
        errors: Vec::new(),
        data: Box::default(),
        action: ReplyAction::Null,
        response_status: 0,
        request_id: RequestId::null(),
    }
}
