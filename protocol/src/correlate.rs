//! Matching server frames to a client's requests and subscriptions (SPEC §4.3).

use serde_json::Value;

use crate::{Action, Reply, Request, RequestId};

/// What a server frame is, from the point of view of one client socket.
///
/// ```
/// use dcrf_protocol::{Action, Classification, Correlator, Reply, Request};
///
/// let mut correlator = Correlator::new("pk");
/// correlator.sent(Request::new(Action::Retrieve).with_request_id(1u64).with_arg("pk", 1));
/// // An update for a request_id this socket never subscribed with.
/// let stray = Reply::from_frame(r#"{"errors": [], "data": {"id": 2}, "action": "update", "response_status": 200, "request_id": 99}"#)?;
/// match correlator.received(&stray) {
///     Classification::Unexpected { reason } => assert!(reason.contains("request_id 99"), "{reason}"),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(correlator.outstanding().len(), 1); // the retrieve still waits
/// # Ok::<(), dcrf_protocol::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Classification {
    /// The reply to the outstanding request with this request_id and action.
    Reply {
        /// The request's request_id (null when it had none).
        request_id: RequestId,
        /// The request's action.
        action: Action,
    },
    /// An event pushed for the subscription made with this request_id.
    Event {
        /// The request_id of the subscribing request.
        subscription: RequestId,
        /// The event name: `update`, `delete`, or `create` when a deleted instance is saved
        /// again (SPEC §5.6.3).
        action: Action,
    },
    /// Neither: the frame answers nothing outstanding and belongs to no subscription.
    Unexpected {
        /// Why it matched nothing.
        reason: String,
    },
}

/// A subscription the server acknowledged.
///
/// ```
/// use dcrf_protocol::{Action, Correlator, Reply, Request};
/// use serde_json::json;
///
/// let mut correlator = Correlator::new("pk");
/// correlator.sent(Request::new(Action::SubscribeInstance).with_request_id("sub-1").with_arg("pk", 42));
/// correlator.received(&Reply::from_frame(r#"{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": "sub-1"}"#)?);
/// let subscription = &correlator.subscriptions()[0];
/// assert_eq!(subscription.request_id.raw(), r#""sub-1""#);
/// assert_eq!(subscription.lookup, json!(42));
/// # Ok::<(), dcrf_protocol::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Subscription {
    /// The subscribing request's request_id.
    pub request_id: RequestId,
    /// Value of the lookup argument.
    pub lookup: Value,
}

/// Tracks one socket's outstanding requests and live subscriptions.
///
/// Requests are matched by request_id and action, never by arrival order. A reply to
/// `subscribe_instance` with a 2xx status opens a subscription; a reply to
/// `unsubscribe_instance` with a 2xx status closes every subscription to that lookup.
/// A request_id in use by a live subscription MUST NOT be reused for a request whose
/// action is `update`, `delete` or `create` (SPEC §4.3): its reply could not be told from
/// an event. Events are `update` and `delete`, and `create` when a subscribed instance is
/// saved again after its row was deleted (SPEC §5.6.3).
///
/// ```
/// use dcrf_protocol::{Action, Classification, Correlator, Reply, Request, RequestId};
///
/// let mut correlator = Correlator::new("pk");
/// correlator.sent(Request::new(Action::SubscribeInstance).with_request_id(5u64).with_arg("pk", 1));
/// let subscribed = Reply::from_frame(r#"{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 5}"#).unwrap();
/// assert!(matches!(correlator.received(&subscribed), Classification::Reply { .. }));
/// let event = Reply::from_frame(r#"{"errors": [], "data": {"id": 1}, "action": "update", "response_status": 200, "request_id": 5}"#).unwrap();
/// assert_eq!(
///     correlator.received(&event),
///     Classification::Event { subscription: RequestId::from(5u64), action: Action::Update }
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct Correlator {
    lookup_field: String,
    outstanding: Vec<Request>,
    subscriptions: Vec<Subscription>,
}

impl Correlator {
    /// A correlator for a consumer whose lookup argument is `lookup_field` (usually `pk`).
    ///
    /// ```
    /// use dcrf_protocol::{Action, Correlator, Reply, Request};
    ///
    /// // A consumer with lookup_field = "uuid": its subscriptions are keyed on that argument.
    /// let mut correlator = Correlator::new("uuid");
    /// correlator.sent(Request::new(Action::SubscribeInstance).with_request_id(3u64).with_arg("uuid", "5b0e6a2c"));
    /// correlator.received(&Reply::from_frame(r#"{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 3}"#)?);
    /// assert_eq!(correlator.subscriptions()[0].lookup, "5b0e6a2c");
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn new(lookup_field: impl Into<String>) -> Self {
        Correlator {
            lookup_field: lookup_field.into(),
            ..Correlator::default()
        }
    }

    /// Records a request just sent.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Correlator, Request};
    ///
    /// let mut correlator = Correlator::new("pk");
    /// correlator.sent(Request::new(Action::List).with_request_id(7u64));
    /// assert_eq!(correlator.outstanding()[0].action, Action::List);
    /// ```
    pub fn sent(&mut self, request: Request) {
        self.outstanding.push(request);
    }

    /// The requests not yet answered.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Correlator, Reply, Request};
    ///
    /// let mut correlator = Correlator::new("pk");
    /// correlator.sent(Request::new(Action::List).with_request_id(7u64));
    /// correlator.sent(Request::new(Action::Retrieve).with_request_id(8u64).with_arg("pk", 1));
    /// // Replies may come in any order.
    /// correlator.received(&Reply::from_frame(r#"{"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 8}"#)?);
    /// assert_eq!(correlator.outstanding().len(), 1);
    /// assert_eq!(correlator.outstanding()[0].action, Action::List);
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn outstanding(&self) -> &[Request] {
        &self.outstanding
    }

    /// The live subscriptions.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Correlator, Reply, Request};
    ///
    /// let mut correlator = Correlator::new("pk");
    /// correlator.sent(Request::new(Action::SubscribeInstance).with_request_id(1u64).with_arg("pk", 1));
    /// correlator.received(&Reply::from_frame(r#"{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 1}"#)?);
    /// assert_eq!(correlator.subscriptions().len(), 1);
    /// // A successful unsubscribe_instance ends every subscription to the instance (SPEC §5.4).
    /// correlator.sent(Request::new(Action::UnsubscribeInstance).with_request_id(2u64).with_arg("pk", 1));
    /// correlator.received(&Reply::from_frame(r#"{"errors": [], "data": null, "action": "unsubscribe_instance", "response_status": 204, "request_id": 2}"#)?);
    /// assert!(correlator.subscriptions().is_empty());
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Classifies a received frame and updates the state it implies.
    ///
    /// ```
    /// use dcrf_protocol::{Action, Classification, Correlator, Reply, Request, RequestId};
    ///
    /// let mut correlator = Correlator::new("pk");
    /// correlator.sent(Request::new(Action::List).with_request_id("list-1"));
    /// let reply = Reply::from_frame(r#"{"errors": [], "data": [], "action": "list", "response_status": 200, "request_id": "list-1"}"#)?;
    /// assert_eq!(
    ///     correlator.received(&reply),
    ///     Classification::Reply { request_id: RequestId::from("list-1"), action: Action::List }
    /// );
    /// // The same frame again answers nothing.
    /// assert!(matches!(correlator.received(&reply), Classification::Unexpected { .. }));
    /// # Ok::<(), dcrf_protocol::Error>(())
    /// ```
    pub fn received(&mut self, reply: &Reply) -> Classification {
        let request_id = &reply.request_id;
        let action = reply.action_name();
        let answered = self.outstanding.iter().position(|request| {
            request.request_id.as_ref().unwrap_or(&RequestId::null()) == request_id
                && action.is_none_or(|action| *action == request.action)
        });
        if let Some(index) = answered {
            let request = self.outstanding.remove(index);
            if reply.is_success() {
                self.apply(&request);
            }
            return Classification::Reply {
                request_id: request_id.clone(),
                action: request.action,
            };
        }
        match action {
            Some(event @ (Action::Update | Action::Delete | Action::Create))
                if self
                    .subscriptions
                    .iter()
                    .any(|subscription| &subscription.request_id == request_id) =>
            {
                Classification::Event {
                    subscription: request_id.clone(),
                    action: event.clone(),
                }
            }
            _ => Classification::Unexpected {
                reason: format!(
                    "no outstanding request and no subscription has request_id {request_id} (action {})",
                    reply.action.to_value()
                ),
            },
        }
    }

    fn apply(&mut self, request: &Request) {
        let lookup = request.args.get(&self.lookup_field).cloned();
        match (&request.action, lookup, &request.request_id) {
            (Action::SubscribeInstance, Some(lookup), Some(request_id)) => {
                let subscription = Subscription {
                    request_id: request_id.clone(),
                    lookup,
                };
                if !self.subscriptions.contains(&subscription) {
                    self.subscriptions.push(subscription);
                }
            }
            (Action::UnsubscribeInstance, Some(lookup), _) => {
                self.subscriptions
                    .retain(|subscription| subscription.lookup != lookup);
            }
            _ => {}
        }
    }
}
