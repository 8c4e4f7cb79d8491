//! The subscription registry and the fan-out of events (SPEC §5.3 to §5.7).
//!
//! Architecture Invariant: the broadcaster never waits for a connection. Each connection
//! has a bounded outbound queue; a full queue marks the connection a slow consumer, which
//! then closes itself with code 1008.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use crate::Faults;
use crate::store::{Applied, user_json};

/// Identifies one WebSocket connection for the life of the server.
pub(crate) type ConnId = u64;

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
}

/// The sending side of one connection, shared by the registry.
#[derive(Debug)]
pub(crate) struct ConnSink {
    tx: mpsc::Sender<String>,
    slow: AtomicBool,
    /// Woken when the connection must close because its queue overflowed.
    pub(crate) kill: Notify,
}

impl ConnSink {
    pub(crate) fn new(capacity: usize) -> (Arc<ConnSink>, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let sink = ConnSink {
            tx,
            slow: AtomicBool::new(false),
            kill: Notify::new(),
        };
        (Arc::new(sink), rx)
    }

    /// Queues a frame without waiting. A full queue marks the connection slow and wakes it
    /// to close with 1008; the frame is dropped.
    pub(crate) fn push(&self, frame: String) {
        if self.slow.load(Ordering::Relaxed) {
            return;
        }
        match self.tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.slow.store(true, Ordering::Relaxed);
                self.kill.notify_one();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// One connection's subscriptions to one instance.
#[derive(Debug)]
struct Entry {
    sink: Arc<ConnSink>,
    /// The multiplexer stream the connection subscribed through, if any, as a JSON string
    /// (escaped once here, not per event): events are wrapped with it (SPEC §8.2).
    stream_json: Option<Box<str>>,
    /// The request_ids, in subscription order, each with its JSON text as sent.
    request_ids: Vec<(SubscriptionKey, Box<str>)>,
}

/// What the broadcaster needs to know about a connection.
#[derive(Debug, Default)]
struct ConnInfo {
    pks: HashSet<i64>,
    count: usize,
}

/// Result of a subscribe attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Subscribed {
    /// Registered (or already registered: a set member, SPEC §5.3.3).
    Ok,
    /// The connection already holds the maximum number of subscriptions.
    LimitReached(usize),
}

/// Every subscription of every connection, keyed by instance.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionRegistry {
    by_pk: HashMap<i64, HashMap<ConnId, Entry>>,
    by_conn: HashMap<ConnId, ConnInfo>,
}

impl SubscriptionRegistry {
    /// Adds (conn, request_id) to the subscribers of `pk`.
    pub(crate) fn subscribe(
        &mut self,
        conn: ConnId,
        sink: &Arc<ConnSink>,
        stream: Option<&Arc<str>>,
        pk: i64,
        request_id: &Value,
        limit: usize,
    ) -> Subscribed {
        let key = SubscriptionKey::of(request_id);
        let info = self.by_conn.entry(conn).or_default();
        let entry = self
            .by_pk
            .entry(pk)
            .or_default()
            .entry(conn)
            .or_insert_with(|| Entry {
                sink: Arc::clone(sink),
                stream_json: stream.map(|name| Value::from(&**name).to_string().into()),
                request_ids: Vec::new(),
            });
        if entry.request_ids.iter().any(|(k, _)| *k == key) {
            return Subscribed::Ok;
        }
        if info.count >= limit {
            if entry.request_ids.is_empty()
                && let Some(subs) = self.by_pk.get_mut(&pk)
            {
                subs.remove(&conn);
                if subs.is_empty() {
                    self.by_pk.remove(&pk);
                }
            }
            return Subscribed::LimitReached(limit);
        }
        entry
            .request_ids
            .push((key, request_id.to_string().into_boxed_str()));
        info.count += 1;
        info.pks.insert(pk);
        Subscribed::Ok
    }

    /// Cancels subscriptions of `conn` to `pk`: the one of `request_id` when given (SPEC
    /// §5.4.3; compared as DCRF's set does), every one of them otherwise (SPEC §5.4.2).
    /// Subscriptions to other instances are untouched (SPEC §5.4.4). Returns how many.
    pub(crate) fn unsubscribe(
        &mut self,
        conn: ConnId,
        pk: i64,
        request_id: Option<&Value>,
    ) -> usize {
        let Some(subs) = self.by_pk.get_mut(&pk) else {
            return 0;
        };
        let Some(entry) = subs.get_mut(&conn) else {
            return 0;
        };
        let removed = match request_id {
            None => std::mem::take(&mut entry.request_ids).len(),
            Some(request_id) => {
                let key = SubscriptionKey::of(request_id);
                let before = entry.request_ids.len();
                entry.request_ids.retain(|(k, _)| *k != key);
                before - entry.request_ids.len()
            }
        };
        let now_empty = entry.request_ids.is_empty();
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
            info.count -= removed.min(info.count);
        }
        removed
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
    pub(crate) fn publish(&mut self, change: &Applied, faults: &Faults) {
        let (pk, body_prefix) = match change {
            Applied::Saved(user) => {
                let data = user_json(user).to_string();
                (user.id, event_prefix(&data, "update", 200, faults))
            }
            Applied::Deleted(pk) => {
                if faults.drop_delete_event {
                    self.forget_instance(*pk);
                    return;
                }
                let data = format!("{{\"pk\":{pk}}}");
                (*pk, event_prefix(&data, "delete", 204, faults))
            }
        };
        let copies = if faults.duplicate_event { 2 } else { 1 };
        if let Some(subs) = self.by_pk.get(&pk) {
            for entry in subs.values() {
                for (_, raw_id) in &entry.request_ids {
                    let request_id: &str = if faults.event_without_request_id {
                        "null"
                    } else {
                        raw_id
                    };
                    let frame =
                        render_event(&body_prefix, request_id, entry.stream_json.as_deref());
                    for _ in 1..copies {
                        entry.sink.push(frame.clone());
                    }
                    entry.sink.push(frame);
                }
            }
        }
        if matches!(change, Applied::Deleted(_)) {
            // No further event for a deleted instance (SPEC §5.6.2); pks are never reused.
            self.forget_instance(pk);
        }
    }

    fn forget_instance(&mut self, pk: i64) {
        if let Some(subs) = self.by_pk.remove(&pk) {
            for (conn, entry) in subs {
                if let Some(info) = self.by_conn.get_mut(&conn) {
                    info.pks.remove(&pk);
                    info.count -= entry.request_ids.len().min(info.count);
                }
            }
        }
    }
}

/// Everything of an event frame up to the value of `request_id`.
fn event_prefix(data: &str, action: &str, status: u16, faults: &Faults) -> String {
    let errors = if faults.missing_errors_key {
        ""
    } else {
        "\"errors\":[],"
    };
    format!(
        "{{{errors}\"data\":{data},\"action\":\"{action}\",\"response_status\":{status},\"request_id\":"
    )
}

/// The frame of one subscriber: `prefix` + request_id, wrapped for the multiplexer when
/// `stream_json` (the stream name as a JSON string) is given.
fn render_event(prefix: &str, request_id: &str, stream_json: Option<&str>) -> String {
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
            frame.push_str("{\"stream\":");
            frame.push_str(stream);
            frame.push_str(",\"payload\":");
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

    #[test]
    fn fan_out_one_frame_per_pair() {
        let mut registry = SubscriptionRegistry::default();
        let (sink, mut rx) = ConnSink::new(16);
        assert_eq!(
            registry.subscribe(1, &sink, None, 7, &json!(11), 10),
            Subscribed::Ok
        );
        assert_eq!(
            registry.subscribe(1, &sink, None, 7, &json!(12), 10),
            Subscribed::Ok
        );
        assert_eq!(
            registry.subscribe(1, &sink, None, 7, &json!(11), 10),
            Subscribed::Ok
        );
        let user = crate::UserRecord::new(7, "x", "x@example.com");
        registry.publish(&Applied::Saved(user), &Faults::none());
        let first = rx.try_recv().unwrap();
        assert_eq!(
            first,
            r#"{"errors":[],"data":{"id":7,"username":"x","email":"x@example.com"},"action":"update","response_status":200,"request_id":11}"#
        );
        assert!(rx.try_recv().unwrap().ends_with("\"request_id\":12}"));
        assert!(rx.try_recv().is_err());
        assert_eq!(registry.unsubscribe(1, 7, Some(&json!(11.0))), 1);
        assert_eq!(registry.unsubscribe(1, 7, Some(&json!(13))), 0);
        assert_eq!(registry.unsubscribe(1, 7, None), 1);
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn limit() {
        let mut registry = SubscriptionRegistry::default();
        let (sink, _rx) = ConnSink::new(16);
        assert_eq!(
            registry.subscribe(1, &sink, None, 1, &json!(1), 1),
            Subscribed::Ok
        );
        assert_eq!(
            registry.subscribe(1, &sink, None, 2, &json!(1), 1),
            Subscribed::LimitReached(1)
        );
        registry.remove_connection(1);
        assert_eq!(registry.len(), 0);
        assert!(registry.by_pk.is_empty());
    }
}
