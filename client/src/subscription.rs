//! Subscriptions to one instance: the stream of its events and its bounded inbox.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::connection::Control;

/// Events a subscription's inbox holds by default before it drops the oldest.
pub const DEFAULT_SUBSCRIPTION_BUFFER: usize = 64;

/// Bytes of event frames a subscription's inbox holds by default before it drops the oldest
/// (1 MiB). The newest event is always kept, so one inbox holds at most this or one message
/// ([`ClientBuilder::max_message_size`](crate::ClientBuilder::max_message_size)), whichever
/// is larger.
pub const DEFAULT_SUBSCRIPTION_BUFFER_BYTES: usize = 1 << 20;

/// One change of a subscribed instance, as the stream of a [`Subscription`] yields it.
///
/// `Updated`, `Deleted` and `Created` are the server's events (SPEC sections 5.5, 5.6);
/// `Gap` is the client's own: it says that events may have been missed at this point of the
/// stream, and a consumer that needs the current state retrieves it again.
///
/// ```
/// use dcrf_client::Event;
/// use serde_json::json;
///
/// #[derive(Debug, PartialEq)]
/// struct User {
///     id: i64,
///     username: String,
/// }
///
/// /// What a live view of one user does with each event.
/// fn apply(view: &mut Option<User>, event: Event<User>) -> &'static str {
///     match event {
///         Event::Updated(user) | Event::Created(user) => {
///             *view = Some(user);
///             "redraw"
///         }
///         Event::Deleted { .. } => {
///             *view = None;
///             "remove"
///         }
///         // Something may have been missed: retrieve the instance again.
///         Event::Gap => "refetch",
///         // Event is #[non_exhaustive].
///         _ => "ignore",
///     }
/// }
///
/// let mut view = None;
/// assert_eq!(apply(&mut view, Event::Updated(User { id: 1, username: "ada".into() })), "redraw");
/// assert_eq!(view.as_ref().map(|user| user.username.as_str()), Some("ada"));
/// assert_eq!(apply(&mut view, Event::Gap), "refetch");
/// assert_eq!(apply(&mut view, Event::Deleted { pk: json!(1) }), "remove");
/// assert_eq!(view, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<T> {
    /// The instance was saved; its serialized state (SPEC section 5.5). A save that changed
    /// no field is an event too.
    Updated(T),
    /// The instance was deleted (SPEC section 5.6). The stream stays open: DCRF sends a
    /// `Created` event to the old subscription if the same key is saved again.
    Deleted {
        /// The deleted instance's primary key, from the event's `{"pk": K}`.
        pk: Value,
    },
    /// A deleted instance was saved again and re-inserted; its state (SPEC section 5.6.3).
    Created(T),
    /// Events may be missing before the next one: the connection dropped and the
    /// subscription was renewed (the `Gap` comes once it is live again, so every later change
    /// is delivered), the consumer fell more than the buffer behind and the oldest events
    /// were dropped, or an event's `data` did not fit `T` (logged).
    Gap,
}

/// A subscription event before it is decoded into the subscriber's type.
#[derive(Debug, Clone)]
pub(crate) enum RawEvent {
    Updated(Value),
    Created(Value),
    Deleted(Value),
    Gap,
}

/// The bounded queue between the connection task and one [`Subscription`].
///
/// The connection task pushes without ever waiting: when the queue is full the oldest event
/// is dropped and the consumer receives a `Gap` before the events that are left.
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
}

struct InboxState {
    /// Events and the size of the frame that carried each.
    queue: VecDeque<(RawEvent, usize)>,
    capacity: usize,
    bytes: usize,
    max_bytes: usize,
    /// Events were dropped from the front: deliver a `Gap` before the queue.
    lost: bool,
    /// No more events will come: the stream ends once the queue is empty.
    closed: bool,
    waker: Option<Waker>,
}

impl Inbox {
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Inbox {
            state: Mutex::new(InboxState {
                queue: VecDeque::with_capacity(capacity.min(16)),
                capacity: capacity.max(1),
                bytes: 0,
                max_bytes,
                lost: false,
                closed: false,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a `Gap` (or an event of no size).
    pub(crate) fn push(&self, event: RawEvent) {
        self.push_sized(event, 0);
    }

    /// Queues an event that arrived in a frame of `size` bytes; never blocks, never grows
    /// past the capacity or (except for this one event) the byte budget.
    pub(crate) fn push_sized(&self, event: RawEvent, size: usize) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if matches!(event, RawEvent::Gap)
            && (matches!(state.queue.back(), Some((RawEvent::Gap, _)))
                || (state.queue.is_empty() && state.lost))
        {
            return;
        }
        while !state.queue.is_empty()
            && (state.queue.len() >= state.capacity
                || state.bytes.saturating_add(size) > state.max_bytes)
        {
            if let Some((_, dropped)) = state.queue.pop_front() {
                state.bytes -= dropped;
            }
            state.lost = true;
        }
        state.bytes += size;
        state.queue.push_back((event, size));
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// Ends the stream after the queued events.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<RawEvent>> {
        let mut state = self.lock();
        if state.lost {
            state.lost = false;
            if matches!(state.queue.front(), Some((RawEvent::Gap, _))) {
                state.queue.pop_front();
            }
            return Poll::Ready(Some(RawEvent::Gap));
        }
        if let Some((event, size)) = state.queue.pop_front() {
            state.bytes -= size;
            return Poll::Ready(Some(event));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// A live subscription to one instance: a [`Stream`] of its [`Event`]s.
///
/// Created by [`Client::subscribe`](crate::Client::subscribe). Dropping it cancels the
/// subscription: when it is the last subscription of this client to the instance, the client
/// sends `unsubscribe_instance` with the subscription's own `request_id`.
///
/// The stream ends (yields `None`) when the connection is closed for good: it dropped and
/// there is no reconnect policy or the policy gave up, every [`Client`](crate::Client) and
/// subscription was dropped, or the instance was gone when the client tried to renew the
/// subscription after a reconnect (then the last events are `Gap` and `Deleted`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
/// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
/// # let url = format!("{}full/", server.ws_url());
/// use dcrf_client::{Client, Event};
/// use futures_util::StreamExt;
/// use serde_json::{Value, json};
///
/// let client = Client::connect(url).await?;
/// // Two subscriptions to one instance share one server subscription.
/// let mut first = client.subscribe::<Value>(2).await?;
/// let second = client.subscribe::<Value>(2).await?;
/// drop(second); // the first one is still live: nothing is sent
///
/// client.patch::<Value>(2, &json!({"email": "two@example.com"})).await?;
/// match first.next().await {
///     Some(Event::Updated(user)) => assert_eq!(user["email"], "two@example.com"),
///     other => panic!("{other:?}"),
/// }
/// drop(first); // the last one: sends unsubscribe_instance
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).await?
/// # }
/// ```
pub struct Subscription<T> {
    pk: Value,
    key: String,
    local_id: u64,
    inbox: Arc<Inbox>,
    control: mpsc::UnboundedSender<Control>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Subscription<T> {
    pub(crate) fn new(
        pk: Value,
        key: String,
        local_id: u64,
        inbox: Arc<Inbox>,
        control: mpsc::UnboundedSender<Control>,
    ) -> Self {
        Subscription {
            pk,
            key,
            local_id,
            inbox,
            control,
            _type: PhantomData,
        }
    }

    /// The lookup value this subscription was made with.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::time::timeout(std::time::Duration::from_secs(20), async {
    /// # let server = dcrf_reference_server::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, Default::default()).await?;
    /// # let url = format!("{}full/", server.ws_url());
    /// use dcrf_client::Client;
    ///
    /// let client = Client::connect(url).await?;
    /// let subscription = client.subscribe::<serde_json::Value>(1).await?;
    /// assert_eq!(subscription.pk(), &serde_json::json!(1));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).await?
    /// # }
    /// ```
    pub fn pk(&self) -> &Value {
        &self.pk
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("pk", &self.pk)
            .field("local_id", &self.local_id)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Stream for Subscription<T> {
    type Item = Event<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let raw = match self.inbox.poll_next(cx) {
            Poll::Ready(Some(raw)) => raw,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let decode = |data: Value| match serde_json::from_value::<T>(data) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(pk = %self.pk, %error, "event data does not fit the subscription's type; reported as a gap");
                None
            }
        };
        let event = match raw {
            RawEvent::Updated(data) => decode(data).map_or(Event::Gap, Event::Updated),
            RawEvent::Created(data) => decode(data).map_or(Event::Gap, Event::Created),
            RawEvent::Deleted(pk) => Event::Deleted { pk },
            RawEvent::Gap => Event::Gap,
        };
        Poll::Ready(Some(event))
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        // The connection task may be gone already; then there is nothing to cancel.
        let _ = self.control.send(Control::Unsubscribe {
            key: std::mem::take(&mut self.key),
            local_id: self.local_id,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use serde_json::json;

    fn kinds(events: &[Event<Value>]) -> Vec<String> {
        events
            .iter()
            .map(|event| match event {
                Event::Updated(data) => format!("u{data}"),
                Event::Created(data) => format!("c{data}"),
                Event::Deleted { pk } => format!("d{pk}"),
                Event::Gap => "gap".to_owned(),
            })
            .collect()
    }

    async fn drain(inbox: Arc<Inbox>) -> Vec<Event<Value>> {
        inbox.close();
        let (control, _rx) = mpsc::unbounded_channel();
        let subscription = Subscription::<Value>::new(json!(1), "1".into(), 1, inbox, control);
        subscription.collect().await
    }

    #[tokio::test]
    async fn full_inbox_drops_the_oldest_and_reports_a_gap_first() {
        let inbox = Arc::new(Inbox::new(3, usize::MAX));
        for n in 0..10 {
            inbox.push(RawEvent::Updated(json!(n)));
            assert!(inbox.len() <= 3);
        }
        let events = drain(inbox).await;
        assert_eq!(kinds(&events), ["gap", "u7", "u8", "u9"]);
    }

    #[tokio::test]
    async fn the_byte_budget_drops_the_oldest_but_keeps_the_newest() {
        let inbox = Arc::new(Inbox::new(100, 1000));
        for n in 0..10 {
            inbox.push_sized(RawEvent::Updated(json!(n)), 300);
            assert!(inbox.bytes() <= 1000);
        }
        // One event beyond the budget is kept alone.
        inbox.push_sized(RawEvent::Updated(json!("big")), 5000);
        assert_eq!((inbox.len(), inbox.bytes()), (1, 5000));
        inbox.push_sized(RawEvent::Updated(json!("small")), 10);
        let events = drain(inbox).await;
        assert_eq!(kinds(&events), ["gap", "u\"small\""]);
    }

    #[tokio::test]
    async fn gaps_coalesce() {
        let inbox = Arc::new(Inbox::new(4, usize::MAX));
        inbox.push(RawEvent::Gap);
        inbox.push(RawEvent::Gap);
        inbox.push(RawEvent::Updated(json!(1)));
        inbox.push(RawEvent::Gap);
        inbox.push(RawEvent::Deleted(json!(1)));
        inbox.push(RawEvent::Created(json!(2)));
        inbox.push(RawEvent::Gap);
        let events = drain(inbox).await;
        // Capacity 4: the first gap fell off the front and comes back as the lost-marker.
        assert_eq!(kinds(&events), ["gap", "d1", "c2", "gap"]);
    }

    #[tokio::test]
    async fn undecodable_data_is_a_gap() {
        let inbox = Arc::new(Inbox::new(4, usize::MAX));
        inbox.push(RawEvent::Updated(json!("not a number")));
        inbox.push(RawEvent::Updated(json!(5)));
        inbox.close();
        let (control, _rx) = mpsc::unbounded_channel();
        let subscription = Subscription::<u32>::new(json!(1), "1".into(), 1, inbox, control);
        let events: Vec<Event<u32>> = subscription.collect().await;
        assert_eq!(events, [Event::Gap, Event::Updated(5)]);
    }
}
