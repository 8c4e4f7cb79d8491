//! The subscription registry and the fan-out of events (SPEC §5.3 to §5.7).
//!
//! Architecture Invariant: the broadcaster never waits for a connection. Each connection
//! has an outbound queue bounded in frames and in bytes; an event that does not fit marks
//! the connection a slow consumer, which then closes itself with code 1008.
//!
//! Architecture Invariant: every queued event carries the id of the subscription it was
//! rendered for. Cancelling a subscription (SPEC §5.4.2) removes its queued events from the
//! connection's queue before the reply is written, so no event of it can follow the reply.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::task::AtomicWaker;
use serde_json::Value;

use crate::model::{Instance, ModelRef, Pk};
use crate::pyset::{PySet, python_hash};
use crate::store::{Applied, Table};
use crate::{Faults, Profile, pyjson};

/// Identifies one WebSocket connection for the life of the server.
pub(crate) type ConnId = u64;

/// Identifies one subscription (connection, instance, request_id) for the life of the server;
/// a subscription made again after an unsubscribe gets a new id.
pub(crate) type SubscriptionId = u64;

/// Bookkeeping bytes accounted per subscription on top of its request_id (twice: the text as
/// sent and the set key): the entry, the key, the map slots.
pub(crate) const SUBSCRIPTION_OVERHEAD_BYTES: usize = 128;

/// Bytes accounted per queued frame on top of its text: the queue slot.
pub(crate) const QUEUED_FRAME_OVERHEAD_BYTES: usize = 32;

/// A model observer's message: what happened to which instance (DCRF's `post_save` and
/// `post_delete` receivers, PROFILE-NOTES 7), with the row as saved. `dcrf-1.3.0` reads the
/// data of a create or an update again when the event is rendered; `strict` sends the row
/// as saved (SPEC §5.8.3).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ObserverEvent {
    /// A row was inserted (`post_save` with `created`): the action `create`.
    Created(Instance),
    /// A row was updated: the action `update`.
    Updated(Instance),
    /// A row was deleted: the action `delete`, `data` `{"pk": PK}`.
    Deleted(Pk),
}

/// The equality DCRF's per-group `set` of request_ids uses: Python equality, so `1`, `1.0`
/// (and, in DCRF, `true`) are one member, while `1` and `"1"` are two (observed, fan-out 3.4
/// and 3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SubscriptionKey {
    /// An integral number, by its canonical decimal digits.
    Integer(String),
    /// A non-integral finite number, by its bits.
    Float(u64),
    /// Anything else, by its JSON text (a string, or a number no f64 holds).
    Text(String),
}

impl SubscriptionKey {
    pub(crate) fn of(value: &Value) -> SubscriptionKey {
        match value {
            Value::Number(number) => {
                let text = number.to_string();
                if !text.contains(['.', 'e', 'E']) {
                    let digits = text.trim_start_matches('-');
                    let canonical = if digits.trim_start_matches('0').is_empty() {
                        "0".to_owned()
                    } else {
                        text
                    };
                    return SubscriptionKey::Integer(canonical);
                }
                match number.as_f64() {
                    Some(f) if f.is_finite() && f == f.trunc() && f.abs() < 9.0e15 => {
                        SubscriptionKey::Integer(format!("{}", f as i64))
                    }
                    Some(f) if f.is_finite() => SubscriptionKey::Float(f.to_bits()),
                    _ => SubscriptionKey::Text(text),
                }
            }
            Value::Bool(flag) => SubscriptionKey::Integer(u8::from(*flag).to_string()),
            other => SubscriptionKey::Text(other.to_string()),
        }
    }

    /// Heap bytes the key holds.
    fn heap_bytes(&self) -> usize {
        match self {
            SubscriptionKey::Integer(text) | SubscriptionKey::Text(text) => text.len(),
            SubscriptionKey::Float(_) => 0,
        }
    }
}

/// What the server accounts for in memory, for tests and operators (see `Limits`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes of event frames waiting in all outbound queues now (text plus 32 bytes a frame).
    pub queued_bytes: usize,
    /// Event frames waiting in all outbound queues now.
    pub queued_frames: usize,
    /// The most bytes one connection's outbound queue has held since the server started.
    pub peak_queued_bytes_per_connection: usize,
    /// Accounted bytes of all subscriptions now (request_ids and bookkeeping).
    pub subscription_bytes: usize,
    /// The most subscription bytes one connection has held since the server started.
    pub peak_subscription_bytes_per_connection: usize,
    /// Connections closed as slow consumers since the server started.
    pub slow_consumers: usize,
}

/// Server-wide counters of the outbound queues, shared by every connection's sink.
#[derive(Debug, Default)]
pub(crate) struct QueueMeter {
    queued_bytes: AtomicUsize,
    queued_frames: AtomicUsize,
    peak_per_connection: AtomicUsize,
    slow_consumers: AtomicUsize,
}

/// One event waiting for its connection, with the subscription it was rendered for.
#[derive(Debug)]
struct Queued {
    subscription: SubscriptionId,
    frame: String,
}

#[derive(Debug, Default)]
struct OutQueue {
    frames: VecDeque<Queued>,
    /// Accounted bytes of `frames`.
    bytes: usize,
}

fn accounted(frame: &str) -> usize {
    frame.len() + QUEUED_FRAME_OVERHEAD_BYTES
}

/// The outbound queue of one connection, shared by the registry (which pushes events) and
/// the connection's task (which writes them).
#[derive(Debug)]
pub(crate) struct ConnSink {
    queue: Mutex<OutQueue>,
    max_frames: usize,
    max_bytes: usize,
    slow: AtomicBool,
    meter: Arc<QueueMeter>,
    /// The connection's task, woken when an event is queued and when the connection must
    /// close because its queue overflowed (`slow` is set first). Only that task waits on a
    /// sink ([`ConnSink::wait_ready`], [`ConnSink::killed`]): one waker, no waiter list.
    task: AtomicWaker,
}

impl ConnSink {
    pub(crate) fn new(
        max_frames: usize,
        max_bytes: usize,
        meter: Arc<QueueMeter>,
    ) -> Arc<ConnSink> {
        Arc::new(ConnSink {
            queue: Mutex::default(),
            max_frames: max_frames.max(1),
            max_bytes,
            slow: AtomicBool::new(false),
            meter,
            task: AtomicWaker::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, OutQueue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues the event of `subscription` without waiting. An event that would take the
    /// queue past its frame or byte bound marks the connection slow and wakes it to close
    /// with 1008; the event is dropped. An event larger than the byte bound is still
    /// queued into an empty queue: a large instance alone does not make a consumer slow.
    pub(crate) fn push(&self, subscription: SubscriptionId, frame: String) {
        if self.slow.load(Ordering::Relaxed) {
            return;
        }
        let size = accounted(&frame);
        let mut queue = self.lock();
        let fits = queue.frames.is_empty()
            || (queue.frames.len() < self.max_frames && queue.bytes + size <= self.max_bytes);
        if !fits {
            drop(queue);
            // Release: a task that sees the flag (`is_slow`) sees the connection killed.
            if !self.slow.swap(true, Ordering::AcqRel) {
                self.meter.slow_consumers.fetch_add(1, Ordering::Relaxed);
            }
            self.task.wake();
            return;
        }
        queue.frames.push_back(Queued {
            subscription,
            frame,
        });
        queue.bytes += size;
        let bytes = queue.bytes;
        drop(queue);
        self.meter.queued_bytes.fetch_add(size, Ordering::Relaxed);
        self.meter.queued_frames.fetch_add(1, Ordering::Relaxed);
        self.meter
            .peak_per_connection
            .fetch_max(bytes, Ordering::Relaxed);
        self.task.wake();
    }

    /// Takes the oldest queued event.
    pub(crate) fn pop(&self) -> Option<String> {
        let mut queue = self.lock();
        let queued = queue.frames.pop_front()?;
        let size = accounted(&queued.frame);
        queue.bytes -= size;
        drop(queue);
        self.meter.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        self.meter.queued_frames.fetch_sub(1, Ordering::Relaxed);
        Some(queued.frame)
    }

    /// Whether the connection is a slow consumer: set before its kill is notified, and for
    /// good.
    pub(crate) fn is_slow(&self) -> bool {
        self.slow.load(Ordering::Acquire)
    }

    /// Completes once the connection is a slow consumer. For the connection's own task
    /// only (see `task`); several may wait in it at once.
    pub(crate) async fn killed(&self) {
        // Registered before the check: a kill after the check wakes the task.
        std::future::poll_fn(|cx| {
            self.task.register(cx.waker());
            if self.is_slow() {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
    }

    /// Whether no event is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().frames.is_empty()
    }

    /// Waits until an event is queued (returns at once when one is). For the connection's
    /// own task only (see `task`).
    pub(crate) async fn wait_ready(&self) {
        // Registered before the check: a push after the check wakes the task.
        std::future::poll_fn(|cx| {
            self.task.register(cx.waker());
            if self.is_empty() {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
    }

    /// Removes the queued events of `cancelled` subscriptions (SPEC §5.4.2). Returns how many.
    pub(crate) fn discard(&self, cancelled: &[SubscriptionId]) -> usize {
        if cancelled.is_empty() {
            return 0;
        }
        let mut queue = self.lock();
        let before = (queue.frames.len(), queue.bytes);
        let mut freed = 0;
        queue.frames.retain(|queued| {
            let keep = !cancelled.contains(&queued.subscription);
            if !keep {
                freed += accounted(&queued.frame);
            }
            keep
        });
        queue.bytes -= freed;
        let removed = before.0 - queue.frames.len();
        drop(queue);
        self.meter.queued_bytes.fetch_sub(freed, Ordering::Relaxed);
        self.meter
            .queued_frames
            .fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    /// Marks the connection slow (nothing more is queued) and drops its backlog, so that
    /// the close frame is the next thing written. Returns the bytes dropped.
    pub(crate) fn discard_all(&self) -> usize {
        self.slow.store(true, Ordering::Relaxed);
        let mut queue = self.lock();
        let freed = std::mem::take(&mut queue.bytes);
        let frames = std::mem::take(&mut queue.frames).len();
        drop(queue);
        self.meter.queued_bytes.fetch_sub(freed, Ordering::Relaxed);
        self.meter
            .queued_frames
            .fetch_sub(frames, Ordering::Relaxed);
        freed
    }
}

impl Drop for ConnSink {
    fn drop(&mut self) {
        let queue = self
            .queue
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.meter
            .queued_bytes
            .fetch_sub(queue.bytes, Ordering::Relaxed);
        self.meter
            .queued_frames
            .fetch_sub(queue.frames.len(), Ordering::Relaxed);
    }
}

/// One subscription of a connection to an instance.
#[derive(Debug)]
struct Subscription {
    key: SubscriptionKey,
    /// The request_id's JSON text, as sent.
    raw_id: Box<str>,
    id: SubscriptionId,
}

impl Subscription {
    fn bytes(&self) -> usize {
        subscription_bytes(&self.key, &self.raw_id)
    }
}

fn subscription_bytes(key: &SubscriptionKey, raw_id: &str) -> usize {
    key.heap_bytes() + raw_id.len() + SUBSCRIPTION_OVERHEAD_BYTES
}

/// One connection's subscriptions to one instance.
#[derive(Debug)]
struct Entry {
    sink: Arc<ConnSink>,
    /// The multiplexer stream the connection subscribed through, if any, as a JSON string
    /// (escaped once here, not per event): events are wrapped with it (SPEC §8.2).
    stream_json: Option<Box<str>>,
    /// The request_ids, in subscription order (DCRF's `subscribed_requests[group]`).
    subscriptions: Vec<Subscription>,
    /// Whether the connection is in the instance's group, i.e. receives its changes. Under
    /// `strict` an entry is in the group exactly while it holds a subscription; under
    /// `dcrf-1.3.0` it joins on subscribe and leaves only on an unsubscribe after an event
    /// of the instance reached it (SPEC §10.5).
    in_group: bool,
    /// The subscriptions' ids in the slots of DCRF's Python set: the order of its events.
    order: PySet,
    /// DCRF's per-socket record that a change of the instance reached the socket (created
    /// by the first event, removed by an unsubscribe of the instance). `dcrf-1.3.0` only.
    seen: bool,
}

/// What the broadcaster needs to know about a connection.
#[derive(Debug, Default)]
struct ConnInfo {
    pks: HashSet<Pk>,
    count: usize,
    /// Accounted bytes of its subscriptions.
    bytes: usize,
}

impl ConnInfo {
    fn forget(&mut self, subscription: &Subscription) {
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(subscription.bytes());
    }
}

/// Result of a subscribe attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Subscribed {
    /// Registered (or already registered: a set member, SPEC §5.3.3).
    Ok,
    /// The connection already holds the maximum number of subscriptions.
    LimitReached(usize),
    /// The subscription would take the connection past its subscription bytes.
    BytesLimitReached(usize),
}

/// The bounds of one connection's subscriptions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubscriptionLimits {
    pub(crate) count: usize,
    pub(crate) bytes: usize,
}

/// Every subscription of every connection, keyed by instance.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionRegistry {
    /// Whose bookkeeping and JSON text to follow.
    profile: Profile,
    by_pk: HashMap<Pk, HashMap<ConnId, Entry>>,
    by_conn: HashMap<ConnId, ConnInfo>,
    next_subscription: SubscriptionId,
    peak_subscription_bytes: usize,
    meter: Arc<QueueMeter>,
}

impl SubscriptionRegistry {
    /// An empty registry following `profile`.
    pub(crate) fn new(profile: Profile) -> Self {
        SubscriptionRegistry {
            profile,
            ..SubscriptionRegistry::default()
        }
    }

    /// Whether `conn` holds any subscription (a request_id of any instance).
    pub(crate) fn holds_any(&self, conn: ConnId) -> bool {
        self.by_conn.get(&conn).is_some_and(|info| info.count > 0)
    }

    /// The queue counters every connection's sink shares.
    pub(crate) fn meter(&self) -> Arc<QueueMeter> {
        Arc::clone(&self.meter)
    }

    /// What the server accounts for now.
    pub(crate) fn memory_stats(&self) -> MemoryStats {
        MemoryStats {
            queued_bytes: self.meter.queued_bytes.load(Ordering::Relaxed),
            queued_frames: self.meter.queued_frames.load(Ordering::Relaxed),
            peak_queued_bytes_per_connection: self
                .meter
                .peak_per_connection
                .load(Ordering::Relaxed),
            subscription_bytes: self.by_conn.values().map(|info| info.bytes).sum(),
            peak_subscription_bytes_per_connection: self.peak_subscription_bytes,
            slow_consumers: self.meter.slow_consumers.load(Ordering::Relaxed),
        }
    }

    /// Adds (conn, request_id) to the subscribers of `pk`.
    pub(crate) fn subscribe(
        &mut self,
        conn: ConnId,
        sink: &Arc<ConnSink>,
        stream: Option<&Arc<str>>,
        pk: Pk,
        request_id: &Value,
        limits: SubscriptionLimits,
    ) -> Subscribed {
        let key = SubscriptionKey::of(request_id);
        let profile = self.profile;
        let info = self.by_conn.entry(conn).or_default();
        // Groups kept without a request_id (dcrf-1.3.0) count against the subscription limit.
        let new_group = !info.pks.contains(&pk);
        if new_group && info.pks.len() >= limits.count {
            return Subscribed::LimitReached(limits.count);
        }
        let entry = self
            .by_pk
            .entry(pk.clone())
            .or_default()
            .entry(conn)
            .or_insert_with(|| Entry {
                sink: Arc::clone(sink),
                stream_json: stream.map(|name| render_json(profile, &Value::from(&**name)).into()),
                subscriptions: Vec::new(),
                in_group: false,
                seen: false,
                order: PySet::default(),
            });
        if entry.subscriptions.iter().any(|sub| sub.key == key) {
            entry.in_group = true;
            return Subscribed::Ok;
        }
        let raw_id = render_json(profile, request_id).into_boxed_str();
        let bytes = subscription_bytes(&key, &raw_id);
        let refused = if info.count >= limits.count {
            Some(Subscribed::LimitReached(limits.count))
        } else if info.bytes + bytes > limits.bytes {
            Some(Subscribed::BytesLimitReached(limits.bytes))
        } else {
            None
        };
        if let Some(refused) = refused {
            if new_group && let Some(subs) = self.by_pk.get_mut(&pk) {
                subs.remove(&conn);
                if subs.is_empty() {
                    self.by_pk.remove(&pk);
                }
            }
            return refused;
        }
        self.next_subscription += 1;
        entry.in_group = true;
        entry
            .order
            .insert(python_hash(&key), self.next_subscription);
        entry.subscriptions.push(Subscription {
            key,
            raw_id,
            id: self.next_subscription,
        });
        info.count += 1;
        info.bytes += bytes;
        info.pks.insert(pk);
        self.peak_subscription_bytes = self.peak_subscription_bytes.max(info.bytes);
        Subscribed::Ok
    }

    /// Cancels subscriptions of `conn` to `pk`: the one of `request_id` when given (SPEC
    /// §5.4.3; compared as DCRF's set does), every one of them otherwise (SPEC §5.4.2).
    /// Subscriptions to other instances are untouched (SPEC §5.4.4). Returns the ids of the
    /// cancelled subscriptions: no event of them is queued from now on.
    pub(crate) fn unsubscribe(
        &mut self,
        conn: ConnId,
        pk: Pk,
        request_id: Option<&Value>,
    ) -> Vec<SubscriptionId> {
        let Some(subs) = self.by_pk.get_mut(&pk) else {
            return Vec::new();
        };
        let Some(entry) = subs.get_mut(&conn) else {
            return Vec::new();
        };
        let removed: Vec<Subscription> = match request_id {
            None => std::mem::take(&mut entry.subscriptions),
            Some(request_id) => {
                let key = SubscriptionKey::of(request_id);
                let (removed, kept) = std::mem::take(&mut entry.subscriptions)
                    .into_iter()
                    .partition(|sub| sub.key == key);
                entry.subscriptions = kept;
                removed
            }
        };
        for sub in &removed {
            entry.order.remove(sub.id);
        }
        let now_empty = entry.subscriptions.is_empty();
        if now_empty {
            subs.remove(&conn);
            if subs.is_empty() {
                self.by_pk.remove(&pk);
            }
        }
        if let Some(info) = self.by_conn.get_mut(&conn) {
            if now_empty {
                info.pks.remove(&pk);
            }
            for sub in &removed {
                info.forget(sub);
            }
        }
        removed.iter().map(|sub| sub.id).collect()
    }

    /// DCRF 1.3.0's `unsubscribe_instance` of the existing instance `pk` (SPEC §10.5,
    /// PROFILE-NOTES 6.4): if a change of `pk` reached the connection, it leaves the
    /// instance's group (every request_id of it falls silent until a new subscribe of `pk`
    /// brings them back); without `request_id` the request_ids of `pk` are dropped; with
    /// one, it is removed from **every** instance. Returns the cancelled subscriptions, and
    /// the ones silenced, whose queued events are dropped.
    pub(crate) fn unsubscribe_dcrf(
        &mut self,
        conn: ConnId,
        pk: Pk,
        request_id: Option<&Value>,
    ) -> Vec<SubscriptionId> {
        let mut cancelled = Vec::new();
        if let Some(entry) = self.by_pk.get_mut(&pk).and_then(|subs| subs.get_mut(&conn))
            && entry.seen
        {
            entry.seen = false;
            entry.in_group = false;
            cancelled.extend(entry.subscriptions.iter().map(|sub| sub.id));
        }
        let pks: Vec<Pk> = match request_id {
            None => vec![pk],
            Some(_) => self
                .by_conn
                .get(&conn)
                .map(|info| info.pks.iter().cloned().collect())
                .unwrap_or_default(),
        };
        let key = request_id.map(SubscriptionKey::of);
        for group in pks {
            let Some(subs) = self.by_pk.get_mut(&group) else {
                continue;
            };
            let Some(entry) = subs.get_mut(&conn) else {
                continue;
            };
            let (removed, kept): (Vec<Subscription>, Vec<Subscription>) =
                std::mem::take(&mut entry.subscriptions)
                    .into_iter()
                    .partition(|sub| key.as_ref().is_none_or(|key| sub.key == *key));
            entry.subscriptions = kept;
            for sub in &removed {
                entry.order.remove(sub.id);
            }
            let gone = entry.subscriptions.is_empty() && !entry.in_group;
            if gone {
                subs.remove(&conn);
                if subs.is_empty() {
                    self.by_pk.remove(&group);
                }
            }
            if let Some(info) = self.by_conn.get_mut(&conn) {
                if gone {
                    info.pks.remove(&group);
                }
                for sub in &removed {
                    info.forget(sub);
                }
            }
            cancelled.extend(removed.iter().map(|sub| sub.id));
        }
        cancelled
    }

    /// Drops every subscription of a closed connection (SPEC §2.4.2).
    pub(crate) fn remove_connection(&mut self, conn: ConnId) {
        let Some(info) = self.by_conn.remove(&conn) else {
            return;
        };
        for pk in info.pks {
            if let Some(subs) = self.by_pk.get_mut(&pk) {
                subs.remove(&conn);
                if subs.is_empty() {
                    self.by_pk.remove(&pk);
                }
            }
        }
    }

    /// Number of subscriptions (instance, request_id) held by all connections.
    pub(crate) fn len(&self) -> usize {
        self.by_conn.values().map(|i| i.count).sum()
    }

    /// Queues the event of `change` for every subscription to its instance: exactly one
    /// frame per (connection, request_id) (SPEC §5.7.1). The data is serialized once; each
    /// subscriber's request_id is spliced into the pre-rendered frame.
    pub(crate) fn publish(&mut self, change: &Applied, model: ModelRef<'_>, faults: &Faults) {
        let profile = self.profile;
        match change {
            Applied::Saved(instance) => {
                let data = render_json(profile, &model.render(instance));
                let prefix = event_prefix(profile, &data, "update", 200, faults);
                self.fan_out(&instance.pk, &prefix, faults);
            }
            Applied::Deleted(pk) => self.publish_delete(pk, faults),
        }
    }

    /// Queues the event of a model observer's message (`POST /admin/steps`, PROFILE-NOTES
    /// 6.6 and 7): a delete is sent as [`SubscriptionRegistry::publish`] sends it. Under
    /// `dcrf-1.3.0` the data of a create or an update is read from `table` now, at delivery,
    /// and an instance that is gone by then gives DCRF's 404 form (`{"errors": ["Not
    /// found"], "data": null, "action": "update", "response_status": 404, ...}`); `strict`
    /// sends the row as saved (SPEC §5.8.3).
    pub(crate) fn publish_observed(
        &mut self,
        event: &ObserverEvent,
        table: &Table,
        model: ModelRef<'_>,
        faults: &Faults,
    ) {
        let profile = self.profile;
        let (saved, action) = match event {
            ObserverEvent::Deleted(pk) => return self.publish_delete(pk, faults),
            ObserverEvent::Created(saved) if !faults.recreate_as_update => (saved, "create"),
            ObserverEvent::Created(saved) | ObserverEvent::Updated(saved) => (saved, "update"),
        };
        let shown = match profile {
            Profile::Dcrf130 => table.get(&saved.pk),
            Profile::Strict => Some(saved),
        };
        let prefix = match shown {
            Some(instance) => {
                let data = render_json(profile, &model.render(instance));
                event_prefix(profile, &data, action, 200, faults)
            }
            None => not_found_prefix(profile, action, faults),
        };
        self.fan_out(&saved.pk, &prefix, faults);
    }

    fn publish_delete(&mut self, pk: &Pk, faults: &Faults) {
        let profile = self.profile;
        if faults.drop_delete_event {
            if !profile.is_dcrf() {
                self.forget_instance(pk.clone());
            }
            return;
        }
        let data = render_json(profile, &serde_json::json!({ "pk": pk.to_json() }));
        let prefix = event_prefix(profile, &data, "delete", 204, faults);
        self.fan_out(pk, &prefix, faults);
        if !profile.is_dcrf() {
            // No further event for a deleted instance (SPEC §5.6.2); pks are never reused.
            // DCRF keeps the subscription: a row inserted again with the pk reaches it
            // (SPEC §10.9).
            self.forget_instance(pk.clone());
        }
    }

    /// Queues `body_prefix` + request_id for every subscription to `pk` whose connection
    /// is in the instance's group.
    fn fan_out(&mut self, pk: &Pk, body_prefix: &str, faults: &Faults) {
        let profile = self.profile;
        let copies = if faults.duplicate_event { 2 } else { 1 };
        let Some(subs) = self.by_pk.get_mut(pk) else {
            return;
        };
        for entry in subs.values_mut() {
            if !entry.in_group {
                continue;
            }
            entry.seen = true;
            let entry = &*entry;
            let emit = |sub: &Subscription| {
                let request_id: &str = if faults.event_without_request_id {
                    "null"
                } else {
                    &sub.raw_id
                };
                let frame = render_event(
                    profile,
                    body_prefix,
                    request_id,
                    entry.stream_json.as_deref(),
                );
                for _ in 1..copies {
                    entry.sink.push(sub.id, frame.clone());
                }
                entry.sink.push(sub.id, frame);
            };
            // DCRF iterates a Python set; strict keeps the subscription order.
            match profile {
                Profile::Strict => entry.subscriptions.iter().for_each(emit),
                Profile::Dcrf130 => entry
                    .order
                    .order()
                    .filter_map(|id| entry.subscriptions.iter().find(|sub| sub.id == id))
                    .for_each(emit),
            }
        }
    }

    fn forget_instance(&mut self, pk: Pk) {
        if let Some(subs) = self.by_pk.remove(&pk) {
            for (conn, entry) in subs {
                if let Some(info) = self.by_conn.get_mut(&conn) {
                    info.pks.remove(&pk);
                    for sub in &entry.subscriptions {
                        info.forget(sub);
                    }
                }
            }
        }
    }
}

/// A value's JSON text: compact under `strict`, Python's under `dcrf-1.3.0` (a value it
/// cannot print, which a subscription never holds, falls back to the compact text).
pub(crate) fn render_json(profile: Profile, value: &Value) -> String {
    match profile {
        Profile::Strict => value.to_string(),
        Profile::Dcrf130 => pyjson::to_string(value).unwrap_or_else(|_| value.to_string()),
    }
}

/// Everything of an event frame up to the value of `request_id`.
fn event_prefix(
    profile: Profile,
    data: &str,
    action: &str,
    status: u16,
    faults: &Faults,
) -> String {
    let (colon, comma) = separators(profile);
    let errors = if faults.missing_errors_key {
        String::new()
    } else {
        format!("\"errors\"{colon}[]{comma}")
    };
    format!(
        "{{{errors}\"data\"{colon}{data}{comma}\"action\"{colon}\"{action}\"{comma}\"response_status\"{colon}{status}{comma}\"request_id\"{colon}"
    )
}

/// Everything of DCRF's event for an instance that is gone when the event is rendered
/// (PROFILE-NOTES 6.6), up to the value of `request_id`.
fn not_found_prefix(profile: Profile, action: &str, faults: &Faults) -> String {
    let (colon, comma) = separators(profile);
    let errors = if faults.missing_errors_key {
        String::new()
    } else {
        format!("\"errors\"{colon}[\"Not found\"]{comma}")
    };
    format!(
        "{{{errors}\"data\"{colon}null{comma}\"action\"{colon}\"{action}\"{comma}\"response_status\"{colon}404{comma}\"request_id\"{colon}"
    )
}

/// The key and item separators of a profile's JSON text.
fn separators(profile: Profile) -> (&'static str, &'static str) {
    match profile {
        Profile::Strict => (":", ","),
        Profile::Dcrf130 => (": ", ", "),
    }
}

/// The frame of one subscriber: `prefix` + request_id, wrapped for the multiplexer when
/// `stream_json` (the stream name as a JSON string) is given.
fn render_event(
    profile: Profile,
    prefix: &str,
    request_id: &str,
    stream_json: Option<&str>,
) -> String {
    match stream_json {
        None => {
            let mut frame = String::with_capacity(prefix.len() + request_id.len() + 1);
            frame.push_str(prefix);
            frame.push_str(request_id);
            frame.push('}');
            frame
        }
        Some(stream) => {
            let mut frame =
                String::with_capacity(prefix.len() + request_id.len() + stream.len() + 24);
            let (colon, comma) = separators(profile);
            frame.push_str("{\"stream\"");
            frame.push_str(colon);
            frame.push_str(stream);
            frame.push_str(comma);
            frame.push_str("\"payload\"");
            frame.push_str(colon);
            frame.push_str(prefix);
            frame.push_str(request_id);
            frame.push_str("}}");
            frame
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_set_equality() {
        let one = SubscriptionKey::of(&json!(1));
        assert_eq!(one, SubscriptionKey::of(&json!(1.0)));
        assert_eq!(one, SubscriptionKey::of(&json!(true)));
        assert_ne!(one, SubscriptionKey::of(&json!("1")));
        let big: Value = serde_json::from_str("18446744073709551617").unwrap();
        let big2: Value = serde_json::from_str("18446744073709551618").unwrap();
        assert_ne!(SubscriptionKey::of(&big), SubscriptionKey::of(&big2));
    }

    const LIMITS: SubscriptionLimits = SubscriptionLimits {
        count: 10,
        bytes: 1 << 20,
    };

    fn sink(frames: usize, bytes: usize) -> Arc<ConnSink> {
        ConnSink::new(frames, bytes, Arc::default())
    }

    #[test]
    fn fan_out_one_frame_per_pair() {
        let mut registry = SubscriptionRegistry::new(Profile::Strict);
        let sink = ConnSink::new(16, 1 << 20, registry.meter());
        assert_eq!(
            registry.subscribe(1, &sink, None, Pk::Int(7), &json!(11), LIMITS),
            Subscribed::Ok
        );
        assert_eq!(
            registry.subscribe(1, &sink, None, Pk::Int(7), &json!(12), LIMITS),
            Subscribed::Ok
        );
        assert_eq!(
            registry.subscribe(1, &sink, None, Pk::Int(7), &json!(11), LIMITS),
            Subscribed::Ok
        );
        let user = crate::UserRecord::new(7, "x", "x@example.com");
        registry.publish(
            &Applied::Saved(Instance::from_user(&user)),
            ModelRef::User,
            &Faults::none(),
        );
        let stats = registry.memory_stats();
        assert!(stats.queued_bytes > 2 * 100, "{stats:?}");
        let first = sink.pop().unwrap();
        assert_eq!(
            first,
            r#"{"errors":[],"data":{"id":7,"username":"x","email":"x@example.com"},"action":"update","response_status":200,"request_id":11}"#
        );
        assert!(sink.pop().unwrap().ends_with("\"request_id\":12}"));
        assert!(sink.pop().is_none());
        assert_eq!(registry.memory_stats().queued_bytes, 0);
        assert_eq!(
            registry
                .unsubscribe(1, Pk::Int(7), Some(&json!(11.0)))
                .len(),
            1
        );
        assert_eq!(
            registry.unsubscribe(1, Pk::Int(7), Some(&json!(13))).len(),
            0
        );
        assert_eq!(registry.unsubscribe(1, Pk::Int(7), None).len(), 1);
        assert_eq!(registry.len(), 0);
        assert_eq!(registry.memory_stats().subscription_bytes, 0);
    }

    #[test]
    fn unsubscribe_discards_the_queued_events_of_the_cancelled_subscription_only() {
        let mut registry = SubscriptionRegistry::new(Profile::Strict);
        let sink = ConnSink::new(100, 1 << 20, registry.meter());
        registry.subscribe(1, &sink, None, Pk::Int(7), &json!(11), LIMITS);
        registry.subscribe(1, &sink, None, Pk::Int(7), &json!(12), LIMITS);
        for n in 0..3 {
            let user = crate::UserRecord::new(7, format!("x{n}"), "x@example.com");
            registry.publish(
                &Applied::Saved(Instance::from_user(&user)),
                ModelRef::User,
                &Faults::none(),
            );
        }
        let cancelled = registry.unsubscribe(1, Pk::Int(7), Some(&json!(11)));
        assert_eq!(sink.discard(&cancelled), 3);
        let mut left = Vec::new();
        while let Some(frame) = sink.pop() {
            left.push(frame);
        }
        assert_eq!(left.len(), 3);
        assert!(
            left.iter()
                .all(|frame| frame.ends_with("\"request_id\":12}"))
        );
        assert_eq!(registry.memory_stats().queued_bytes, 0);
    }

    #[test]
    fn queue_is_bounded_in_bytes() {
        let meter = Arc::new(QueueMeter::default());
        let sink = ConnSink::new(1000, 1000, Arc::clone(&meter));
        // A frame larger than the bound still goes into an empty queue.
        sink.push(1, "x".repeat(2000));
        assert!(!sink.slow.load(Ordering::Relaxed));
        assert_eq!(sink.pop().map(|f| f.len()), Some(2000));
        for _ in 0..2 {
            sink.push(1, "y".repeat(400));
        }
        assert!(!sink.slow.load(Ordering::Relaxed));
        sink.push(1, "z".repeat(400));
        assert!(
            sink.slow.load(Ordering::Relaxed),
            "the third frame exceeds 1000 bytes"
        );
        assert_eq!(meter.queued_bytes.load(Ordering::Relaxed), 2 * 432);
        assert_eq!(meter.peak_per_connection.load(Ordering::Relaxed), 2000 + 32);
        assert_eq!(meter.slow_consumers.load(Ordering::Relaxed), 1);
        assert_eq!(sink.discard_all(), 2 * 432);
        sink.push(1, "after".into());
        assert!(sink.is_empty(), "nothing is queued once slow");
        drop(sink);
        assert_eq!(meter.queued_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn dropped_sink_gives_its_bytes_back() {
        let meter = Arc::new(QueueMeter::default());
        let sink = ConnSink::new(10, 1000, Arc::clone(&meter));
        sink.push(1, "abc".into());
        assert_eq!(meter.queued_bytes.load(Ordering::Relaxed), 35);
        drop(sink);
        assert_eq!(meter.queued_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn limit() {
        let mut registry = SubscriptionRegistry::new(Profile::Strict);
        let sink = sink(16, 1 << 20);
        let one = SubscriptionLimits {
            count: 1,
            bytes: 1 << 20,
        };
        assert_eq!(
            registry.subscribe(1, &sink, None, Pk::Int(1), &json!(1), one),
            Subscribed::Ok
        );
        assert_eq!(
            registry.subscribe(1, &sink, None, Pk::Int(2), &json!(1), one),
            Subscribed::LimitReached(1)
        );
        registry.remove_connection(1);
        assert_eq!(registry.len(), 0);
        assert!(registry.by_pk.is_empty());
    }

    #[test]
    fn subscription_bytes_limit() {
        let mut registry = SubscriptionRegistry::new(Profile::Strict);
        let sink = sink(16, 1 << 20);
        let limits = SubscriptionLimits {
            count: 100,
            bytes: 1000,
        };
        let id = json!("r".repeat(300));
        // 2 x 302 bytes of text + 128: one fits, two do not.
        assert_eq!(
            registry.subscribe(1, &sink, None, Pk::Int(1), &id, limits),
            Subscribed::Ok
        );
        assert_eq!(registry.memory_stats().subscription_bytes, 2 * 302 + 128);
        assert_eq!(
            registry.subscribe(1, &sink, None, Pk::Int(2), &id, limits),
            Subscribed::BytesLimitReached(1000)
        );
        assert!(!registry.by_pk.contains_key(&Pk::Int(2)));
        assert_eq!(registry.unsubscribe(1, Pk::Int(1), None).len(), 1);
        assert_eq!(registry.memory_stats().subscription_bytes, 0);
        assert_eq!(
            registry
                .memory_stats()
                .peak_subscription_bytes_per_connection,
            2 * 302 + 128
        );
    }
}
