//! `POST /admin/steps`: several ORM operations on the seed's `User` in one admin request,
//! optionally in one transaction, exactly as `steps()` of `interop/dcrf/users/views.py`
//! runs them (PROFILE-NOTES 7 and 9).
//!
//! The body is `{"atomic": bool, "rollback"?: bool, "steps": [STEP, ...]}` with STEP one of
//!
//! | step | what Django does |
//! | --- | --- |
//! | `{"op": "fetch", "as": NAME, "pk": N}` | `NAME = User.objects.get(pk=N)`: a new Python object |
//! | `{"op": "save", "obj": NAME, "set": {...}}` | sets `username`/`email` on NAME, then `NAME.save()`: an UPDATE, or an INSERT when the row is gone (or NAME was deleted) |
//! | `{"op": "delete", "obj": NAME}` | `NAME.delete()`: `post_delete` fires even when the row is already gone; NAME's pk becomes None |
//! | `{"op": "insert", "pk": N, "set": {...}, "as"?: NAME}` | `User(pk=N, ...).save(force_insert=True)`: a re-creation |
//!
//! `"atomic"` (true when absent) runs every step on a copy of the table, which replaces it at
//! the commit; `"rollback": true` then drops the copy (`"committed": false`, no event). A step
//! that fails answers 400 `step N failed: TYPE: MESSAGE` and, in a transaction, keeps
//! nothing; without one, the steps before it stay done.
//!
//! Events follow DCRF's model observer: each Python object holds one pending message,
//! replaced by each save or delete of it, and every save or delete registers a callback
//! that sends the object's pending message (if any) and clears it. The callbacks run at the
//! commit, in registration order, or at once without a transaction. So one object saved
//! three times in a transaction gives one event, three objects of one row three events.
//! Under `dcrf-1.3.0` the data of a create or update is read when the event is rendered,
//! after the commit (so an update of a row the transaction also deleted is DCRF's 404
//! form); `strict` sends the row as saved
//! ([`crate::registry::SubscriptionRegistry::publish_observed`]).

use hyper::StatusCode;
use serde_json::{Map, Value, json};

use crate::model::{Instance, ModelRef, Pk};
use crate::pyjson;
use crate::registry::{ObserverEvent, SubscriptionKey};
use crate::server::Server;
use crate::store::{Applied, Mutation, Table, persist};

/// The fields a step may set (views.py's `STEP_FIELDS`).
const STEP_FIELDS: [&str; 2] = ["username", "email"];

/// The operations a step may name.
const OPS: [&str; 4] = ["fetch", "insert", "save", "delete"];

/// An answer of the endpoint: the status and the JSON body.
pub(crate) type Answer = (StatusCode, Value);

fn error(status: StatusCode, message: impl Into<String>) -> Answer {
    (status, json!({"error": message.into()}))
}

/// Django's `server_error` handler: what an exception views.py does not catch gives.
fn internal_error() -> Answer {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

/// A checked body of `POST /admin/steps`.
#[derive(Debug)]
pub(crate) struct StepsRequest {
    atomic: bool,
    rollback: bool,
    steps: Vec<Value>,
}

/// Parses and checks a body as `steps()` and `_check_steps` do: 400 `invalid JSON body`,
/// 400 `body must be {"atomic": bool, "steps": [...]}`, 400 `bad step: {...}` (the step's
/// Python `repr`), 400 `unknown field: NAME`, or 500 where Python raises an exception the
/// view does not catch (a `set` that is a number, or a list holding a list).
pub(crate) fn parse(body: &[u8]) -> Result<StepsRequest, Answer> {
    let invalid = || error(StatusCode::BAD_REQUEST, "invalid JSON body");
    let text = std::str::from_utf8(body).map_err(|_| invalid())?;
    let body: Value = serde_json::from_str(text).map_err(|_| invalid())?;
    let Some(Value::Array(steps)) = body.as_object().and_then(|o| o.get("steps")) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            r#"body must be {"atomic": bool, "steps": [...]}"#,
        ));
    };
    for step in steps {
        let op_known = step
            .get("op")
            .and_then(Value::as_str)
            .is_some_and(|op| OPS.contains(&op));
        if !step.is_object() || !op_known {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("bad step: {}", py_repr(step)),
            ));
        }
        // `for key in step.get("set", {})`: the keys of a dict, the items of a list, the
        // characters of a string; anything else is not iterable (TypeError, uncaught).
        let keys: Vec<Value> = match step.get("set") {
            None => Vec::new(),
            Some(Value::Object(set)) => set.keys().map(|k| Value::from(k.as_str())).collect(),
            Some(Value::Array(items)) => items.clone(),
            Some(Value::String(text)) => text.chars().map(|c| Value::from(c.to_string())).collect(),
            Some(_) => return Err(internal_error()),
        };
        for key in &keys {
            if key.is_array() || key.is_object() {
                // `key not in STEP_FIELDS` hashes the key: unhashable, uncaught.
                return Err(internal_error());
            }
            if !key.as_str().is_some_and(|k| STEP_FIELDS.contains(&k)) {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown field: {}", py_str(key)),
                ));
            }
        }
    }
    Ok(StepsRequest {
        atomic: body.get("atomic").is_none_or(truthy),
        rollback: body.get("rollback").is_some_and(truthy),
        steps: steps.clone(),
    })
}

/// Runs a checked request on `server`'s table, under its write lock, and queues the events
/// of what was committed. With Redis (`--redis`) or a model served from a schema
/// (`--model`) it answers 501: steps exist for the seed's `User` in one process only.
pub(crate) async fn run(server: &Server, request: &StepsRequest) -> Answer {
    if server.is_shared() {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "POST /admin/steps is not supported with --redis",
        );
    }
    if !matches!(server.model(), ModelRef::User) {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "POST /admin/steps works on the seed's User model only (not with --model)",
        );
    }
    let model = server.model();
    let faults = &server.config.faults;
    let mut table = server.table.write().await;
    let mut run = StepRun::default();
    if request.atomic {
        let mut work = table.clone();
        for step in &request.steps {
            if let Err(failure) = run.step(&mut work, step) {
                return failure.answer(run.results.len());
            }
        }
        if request.rollback {
            return (
                StatusCode::OK,
                json!({"results": run.results, "committed": false}),
            );
        }
        if let Some(path) = server.data_path()
            && let Err(cause) = persist(&work, path).await
        {
            tracing::error!(error = %cause, "steps not persisted");
            return internal_error();
        }
        *table = work;
        let events = run.flush();
        let mut registry = server.registry();
        for event in &events {
            registry.publish_observed(event, &table, model, faults);
        }
    } else {
        for step in &request.steps {
            let before = server.data_path().map(|_| table.clone());
            let outcome = run.step(&mut table, step);
            if let (Some(path), Some(before)) = (server.data_path(), before)
                && run.changed
                && let Err(cause) = persist(&table, path).await
            {
                tracing::error!(error = %cause, "step not persisted");
                *table = before;
                return internal_error();
            }
            run.changed = false;
            let events = run.flush();
            let mut registry = server.registry();
            for event in &events {
                registry.publish_observed(event, &table, model, faults);
            }
            drop(registry);
            if let Err(failure) = outcome {
                return failure.answer(run.results.len());
            }
        }
    }
    (
        StatusCode::OK,
        json!({"results": run.results, "committed": true}),
    )
}

/// Why a step failed.
#[derive(Debug, PartialEq)]
enum StepFailure {
    /// An exception views.py catches: 400 `step N failed: TYPE: MESSAGE`.
    Caught { kind: &'static str, message: String },
    /// One it does not catch (an AttributeError, an OverflowError): Django answers 500.
    Uncaught,
}

impl StepFailure {
    fn caught(kind: &'static str, message: impl Into<String>) -> StepFailure {
        StepFailure::Caught {
            kind,
            message: message.into(),
        }
    }

    fn answer(&self, done: usize) -> Answer {
        match self {
            StepFailure::Caught { kind, message } => error(
                StatusCode::BAD_REQUEST,
                format!("step {done} failed: {kind}: {message}"),
            ),
            StepFailure::Uncaught => internal_error(),
        }
    }
}

fn key_error(key: &Value) -> StepFailure {
    StepFailure::caught("KeyError", py_repr(key))
}

fn integrity_error(what: &str) -> StepFailure {
    StepFailure::caught("IntegrityError", what)
}

/// One Python `User` object of a request: its pk (None once deleted) and its fields.
#[derive(Debug, Clone)]
struct PyObject {
    pk: Option<Pk>,
    fields: Map<String, Value>,
}

/// The state of one request's steps: its Python objects, their pending observer messages
/// and the on-commit callbacks.
#[derive(Debug, Default)]
struct StepRun {
    objects: Vec<PyObject>,
    /// `objs` of views.py: name (by Python equality) to object.
    names: Vec<(SubscriptionKey, usize)>,
    /// Each object's pending message (DCRF's observer keeps one per object).
    pending: Vec<Option<ObserverEvent>>,
    /// The objects whose callbacks were registered, in order.
    callbacks: Vec<usize>,
    results: Vec<Value>,
    /// Whether the table changed since the last flag reset.
    changed: bool,
}

impl StepRun {
    /// Runs one step on `table`; its result goes to `results` when it succeeds.
    fn step(&mut self, table: &mut Table, step: &Value) -> Result<(), StepFailure> {
        let op = step.get("op").and_then(Value::as_str).unwrap_or_default();
        let field = |name: &str| step.get(name).ok_or_else(|| key_error(&Value::from(name)));
        let result = match op {
            "fetch" => {
                let pk = Pk::Int(py_int(field("pk")?)?);
                let Some(instance) = table.get(&pk) else {
                    return Err(StepFailure::caught(
                        "DoesNotExist",
                        "User matching query does not exist.",
                    ));
                };
                let object = PyObject {
                    pk: Some(pk),
                    fields: instance.fields.clone(),
                };
                let name = field("as")?;
                self.bind(name, object)?;
                json!({"op": op, "as": name})
            }
            "insert" => {
                let pk = Pk::Int(py_int(field("pk")?)?);
                let set = match step.get("set") {
                    None => Map::new(),
                    Some(Value::Object(set)) => set.clone(),
                    Some(other) => {
                        return Err(StepFailure::caught(
                            "TypeError",
                            format!(
                                "User() argument after ** must be a mapping, not {}",
                                py_type(other)
                            ),
                        ));
                    }
                };
                let mut fields = Map::new();
                fields.insert("username".into(), Value::from(""));
                fields.insert("email".into(), Value::from(""));
                for (key, value) in &set {
                    fields.insert(key.clone(), char_field(value));
                }
                check_row(table, &fields, Some(&pk), true)?;
                let saved = self.apply(
                    table,
                    Mutation::Create {
                        pk: Some(pk.clone()),
                        fields: fields.clone(),
                    },
                )?;
                let object = PyObject {
                    pk: Some(pk.clone()),
                    fields,
                };
                let index = self.add_object(object);
                self.observe(index, ObserverEvent::Created(saved));
                let name = step.get("as").cloned().unwrap_or(Value::from("_inserted"));
                self.bind_index(&name, index)?;
                json!({"op": op, "pk": pk.to_json()})
            }
            "save" => {
                let name = field("obj")?;
                let index = self.lookup(name)?;
                let set = match step.get("set") {
                    None => Map::new(),
                    Some(Value::Object(set)) => set.clone(),
                    // `.items()` of a list or a string: AttributeError, uncaught.
                    Some(_) => return Err(StepFailure::Uncaught),
                };
                let object = &mut self.objects[index];
                for (key, value) in &set {
                    object.fields.insert(key.clone(), char_field(value));
                }
                let object = object.clone();
                let event = match &object.pk {
                    Some(pk) if table.get(pk).is_some() => {
                        check_row(table, &object.fields, Some(pk), false)?;
                        let saved = self.apply(
                            table,
                            Mutation::Save(Instance {
                                pk: pk.clone(),
                                fields: object.fields.clone(),
                            }),
                        )?;
                        ObserverEvent::Updated(saved)
                    }
                    // The UPDATE matched no row: Django INSERTs with the object's pk.
                    Some(pk) => {
                        check_row(table, &object.fields, Some(pk), true)?;
                        let saved = self.apply(
                            table,
                            Mutation::Create {
                                pk: Some(pk.clone()),
                                fields: object.fields.clone(),
                            },
                        )?;
                        ObserverEvent::Created(saved)
                    }
                    // A deleted object has no pk: a new row with the next one.
                    None => {
                        check_row(table, &object.fields, None, true)?;
                        let saved = self.apply(
                            table,
                            Mutation::Create {
                                pk: None,
                                fields: object.fields.clone(),
                            },
                        )?;
                        ObserverEvent::Created(saved)
                    }
                };
                let pk = match &event {
                    ObserverEvent::Created(saved) | ObserverEvent::Updated(saved) => {
                        saved.pk.clone()
                    }
                    ObserverEvent::Deleted(pk) => pk.clone(),
                };
                self.objects[index].pk = Some(pk.clone());
                self.observe(index, event);
                json!({"op": op, "obj": name, "pk": pk.to_json()})
            }
            "delete" => {
                let name = field("obj")?;
                let index = self.lookup(name)?;
                let Some(pk) = self.objects[index].pk.clone() else {
                    return Err(StepFailure::caught(
                        "ValueError",
                        "User object can't be deleted because its id attribute is set to None.",
                    ));
                };
                if table.get(&pk).is_some() {
                    self.apply(table, Mutation::Delete(pk.clone()))?;
                }
                // Django sends post_delete even when the row was already gone.
                self.objects[index].pk = None;
                self.observe(index, ObserverEvent::Deleted(pk.clone()));
                json!({"op": op, "obj": name, "pk": pk.to_json()})
            }
            _ => {
                return Err(StepFailure::caught(
                    "BadBody",
                    format!("unknown op: {op:?}"),
                ));
            }
        };
        self.results.push(result);
        Ok(())
    }

    /// Applies a checked mutation; returns the row as saved (a delete: its pk only, no
    /// field). A mutation the table refuses (the pk counter exhausted) is an OverflowError.
    fn apply(&mut self, table: &mut Table, mutation: Mutation) -> Result<Instance, StepFailure> {
        let (applied, _undo) = table.apply(mutation).ok_or(StepFailure::Uncaught)?;
        self.changed = true;
        Ok(match applied {
            Applied::Saved(instance) => instance,
            Applied::Deleted(pk) => Instance {
                pk,
                fields: Map::new(),
            },
        })
    }

    fn add_object(&mut self, object: PyObject) -> usize {
        self.objects.push(object);
        self.pending.push(None);
        self.objects.len() - 1
    }

    fn bind(&mut self, name: &Value, object: PyObject) -> Result<(), StepFailure> {
        let key = hashable(name)?;
        let index = self.add_object(object);
        self.set_name(key, index);
        Ok(())
    }

    fn bind_index(&mut self, name: &Value, index: usize) -> Result<(), StepFailure> {
        let key = hashable(name)?;
        self.set_name(key, index);
        Ok(())
    }

    fn set_name(&mut self, key: SubscriptionKey, index: usize) {
        match self.names.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = index,
            None => self.names.push((key, index)),
        }
    }

    fn lookup(&self, name: &Value) -> Result<usize, StepFailure> {
        let key = hashable(name)?;
        self.names
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, index)| *index)
            .ok_or_else(|| key_error(name))
    }

    /// A save or delete of object `index`: its pending message becomes `event`, and a
    /// callback is registered.
    fn observe(&mut self, index: usize, event: ObserverEvent) {
        self.pending[index] = Some(event);
        self.callbacks.push(index);
    }

    /// Runs the registered callbacks: the messages they send, in order.
    fn flush(&mut self) -> Vec<ObserverEvent> {
        let callbacks = std::mem::take(&mut self.callbacks);
        callbacks
            .into_iter()
            .filter_map(|index| self.pending[index].take())
            .collect()
    }
}

/// What SQLite checks on a write of `auth_user`, in its order: NOT NULL columns, the rowid
/// (an INSERT), then the unique username.
fn check_row(
    table: &Table,
    fields: &Map<String, Value>,
    pk: Option<&Pk>,
    insert: bool,
) -> Result<(), StepFailure> {
    for name in ["username", "email"] {
        if fields.get(name).is_none_or(Value::is_null) {
            return Err(integrity_error(&format!(
                "NOT NULL constraint failed: auth_user.{name}"
            )));
        }
    }
    if insert
        && let Some(pk) = pk
        && table.get(pk).is_some()
    {
        return Err(integrity_error("UNIQUE constraint failed: auth_user.id"));
    }
    let username = fields.get("username").cloned().unwrap_or_default();
    let except = if insert { None } else { pk };
    if table.taken("username", &username, except) {
        return Err(integrity_error(
            "UNIQUE constraint failed: auth_user.username",
        ));
    }
    Ok(())
}

/// The value a `CharField` stores: a string as is, None as NULL, anything else `str()`.
fn char_field(value: &Value) -> Value {
    match value {
        Value::String(_) | Value::Null => value.clone(),
        other => Value::from(py_str(other)),
    }
}

/// A dict key of views.py's `objs`: Python equality (`1 == 1.0 == True`); a list or a dict
/// is unhashable.
fn hashable(name: &Value) -> Result<SubscriptionKey, StepFailure> {
    if name.is_array() || name.is_object() {
        return Err(StepFailure::caught(
            "TypeError",
            format!("unhashable type: {}", py_type(name)),
        ));
    }
    Ok(SubscriptionKey::of(name))
}

/// Python's `int(value)` of a JSON value, within SQLite's 64-bit integers.
fn py_int(value: &Value) -> Result<i64, StepFailure> {
    match value {
        Value::Bool(flag) => Ok(i64::from(*flag)),
        Value::Number(number) => {
            let text = number.to_string();
            if !text.contains(['.', 'e', 'E']) {
                // Beyond 64 bits: SQLite's OverflowError, uncaught.
                return text.parse().map_err(|_| StepFailure::Uncaught);
            }
            match number.as_f64() {
                Some(f) if f.is_finite() && f.trunc().abs() < 9.2e18 => Ok(f.trunc() as i64),
                _ => Err(StepFailure::Uncaught),
            }
        }
        Value::String(text) => {
            let invalid = || {
                StepFailure::caught(
                    "ValueError",
                    format!("invalid literal for int() with base 10: {}", py_repr(value)),
                )
            };
            let trimmed = text.trim();
            let (negative, digits) = match trimmed.as_bytes().first() {
                Some(b'-') => (true, &trimmed[1..]),
                Some(b'+') => (false, &trimmed[1..]),
                _ => (false, trimmed),
            };
            let well_formed = !digits.is_empty()
                && !digits.starts_with('_')
                && !digits.ends_with('_')
                && !digits.contains("__")
                && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
            if !well_formed {
                return Err(invalid());
            }
            let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
            let magnitude: i128 = digits.parse().map_err(|_| StepFailure::Uncaught)?;
            let signed = if negative { -magnitude } else { magnitude };
            i64::try_from(signed).map_err(|_| StepFailure::Uncaught)
        }
        other => Err(StepFailure::caught(
            "TypeError",
            format!(
                "int() argument must be a string, a bytes-like object or a real number, not {}",
                py_type(other)
            ),
        )),
    }
}

/// Python's truth value of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_none_or(|f| f != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// The quoted name of a JSON value's Python type after `json.loads`.
fn py_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "'NoneType'",
        Value::Bool(_) => "'bool'",
        Value::Number(number) if number.to_string().contains(['.', 'e', 'E']) => "'float'",
        Value::Number(_) => "'int'",
        Value::String(_) => "'str'",
        Value::Array(_) => "'list'",
        Value::Object(_) => "'dict'",
    }
}

/// Python's `str()` of a JSON value after `json.loads`: a string as is, else its `repr`.
fn py_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value after `json.loads` (dicts in the body's key order).
pub(crate) fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

fn write_repr(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(number) => {
            out.push_str(&pyjson::number_text(number).unwrap_or_else(|_| number.to_string()))
        }
        Value::String(text) => write_str_repr(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(key, out);
                out.push_str(": ");
                write_repr(item, out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr()` of a string: single quotes unless it holds `'` and no `"`; control
/// characters escaped (other non-ASCII characters are printed as they are).
fn write_str_repr(text: &str, out: &mut String) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserRecord;

    fn table() -> Table {
        Table::from_users(
            UserRecord::default_fixture(),
            std::path::Path::new("<test>"),
        )
        .unwrap()
    }

    fn run_all(table: &mut Table, steps: Value) -> (StepRun, Result<(), StepFailure>) {
        let mut run = StepRun::default();
        for step in steps.as_array().unwrap() {
            if let Err(failure) = run.step(table, step) {
                return (run, Err(failure));
            }
        }
        (run, Ok(()))
    }

    /// The action and pk of each message.
    fn summary(events: Vec<ObserverEvent>) -> Vec<(&'static str, Pk)> {
        events
            .into_iter()
            .map(|event| match event {
                ObserverEvent::Created(saved) => ("create", saved.pk),
                ObserverEvent::Updated(saved) => ("update", saved.pk),
                ObserverEvent::Deleted(pk) => ("delete", pk),
            })
            .collect()
    }

    fn answer_of(body: &str) -> Answer {
        parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn bad_bodies_answer_as_views_py() {
        let bad = |message: &str| (StatusCode::BAD_REQUEST, json!({"error": message}));
        assert_eq!(answer_of("{"), bad("invalid JSON body"));
        assert_eq!(
            answer_of("[]"),
            bad(r#"body must be {"atomic": bool, "steps": [...]}"#)
        );
        assert_eq!(
            answer_of(r#"{"steps": {}}"#),
            bad(r#"body must be {"atomic": bool, "steps": [...]}"#)
        );
        assert_eq!(
            answer_of(r#"{"steps": [{"op": "drop", "pk": 1, "x": [true, null, 1.0, "it's"]}]}"#),
            bad(r#"bad step: {'op': 'drop', 'pk': 1, 'x': [True, None, 1.0, "it's"]}"#)
        );
        assert_eq!(answer_of(r#"{"steps": [3]}"#), bad("bad step: 3"));
        assert_eq!(
            answer_of(r#"{"steps": [{"op": "save", "obj": "a", "set": {"password": "x"}}]}"#),
            bad("unknown field: password")
        );
        assert_eq!(
            answer_of(r#"{"steps": [{"op": "save", "obj": "a", "set": [5]}]}"#),
            bad("unknown field: 5")
        );
        assert_eq!(
            answer_of(r#"{"steps": [{"op": "save", "obj": "a", "set": 5}]}"#).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let ok = parse(br#"{"steps": []}"#).unwrap();
        assert!(ok.atomic && !ok.rollback);
        let ok = parse(br#"{"atomic": 0, "rollback": "y", "steps": []}"#).unwrap();
        assert!(!ok.atomic && ok.rollback);
    }

    #[test]
    fn failing_steps_name_the_python_exception() {
        let cases = [
            (
                json!([{"op": "fetch", "as": "a", "pk": 99}]),
                "step 0 failed: DoesNotExist: User matching query does not exist.",
            ),
            (
                json!([{"op": "fetch", "as": "a"}]),
                "step 0 failed: KeyError: 'pk'",
            ),
            (
                json!([{"op": "fetch", "as": "a", "pk": "x1"}]),
                "step 0 failed: ValueError: invalid literal for int() with base 10: 'x1'",
            ),
            (
                json!([{"op": "fetch", "as": "a", "pk": 1}, {"op": "save", "obj": "b"}]),
                "step 1 failed: KeyError: 'b'",
            ),
            (
                json!([{"op": "insert", "pk": 1}]),
                "step 0 failed: IntegrityError: UNIQUE constraint failed: auth_user.id",
            ),
            (
                json!([{"op": "insert", "pk": 9, "set": {"username": "test 2"}}]),
                "step 0 failed: IntegrityError: UNIQUE constraint failed: auth_user.username",
            ),
            (
                json!([{"op": "fetch", "as": "a", "pk": 1}, {"op": "delete", "obj": "a"}, {"op": "delete", "obj": "a"}]),
                "step 2 failed: ValueError: User object can't be deleted because its id attribute is set to None.",
            ),
            (
                json!([{"op": "fetch", "as": [1], "pk": 1}]),
                "step 0 failed: TypeError: unhashable type: 'list'",
            ),
        ];
        for (steps, message) in cases {
            let mut table = table();
            let (run, outcome) = run_all(&mut table, steps);
            let answer = outcome.unwrap_err().answer(run.results.len());
            assert_eq!(
                answer,
                (StatusCode::BAD_REQUEST, json!({"error": message})),
                "{message}"
            );
        }
    }

    #[test]
    fn one_pending_message_per_python_object() {
        // F2.1: the same object saved three times: one event.
        let mut t = table();
        let (mut run, outcome) = run_all(
            &mut t,
            json!([{"op": "fetch", "as": "a", "pk": 1},
                   {"op": "save", "obj": "a", "set": {"email": "e1"}},
                   {"op": "save", "obj": "a", "set": {"email": "e2"}}]),
        );
        outcome.unwrap();
        assert_eq!(summary(run.flush()), [("update", Pk::Int(1))]);
        // F2.3: a twice, b once: two events. F6.8: save then delete of one object: the delete.
        let mut t = table();
        let (mut run, _) = run_all(
            &mut t,
            json!([{"op": "fetch", "as": "a", "pk": 1}, {"op": "fetch", "as": "b", "pk": 1},
                   {"op": "save", "obj": "a"}, {"op": "save", "obj": "a"}, {"op": "save", "obj": "b"},
                   {"op": "fetch", "as": "c", "pk": 2}, {"op": "save", "obj": "c"}, {"op": "delete", "obj": "c"}]),
        );
        assert_eq!(
            summary(run.flush()),
            [
                ("update", Pk::Int(1)),
                ("update", Pk::Int(1)),
                ("delete", Pk::Int(2)),
            ]
        );
        assert!(t.get(&Pk::Int(2)).is_none());
    }

    #[test]
    fn a_stale_object_saved_after_the_delete_is_inserted_again() {
        // F1.2: fetch a and b, delete b, save a: Django re-INSERTs the row.
        let mut t = table();
        let mut run = StepRun::default();
        for step in [
            json!({"op": "fetch", "as": "a", "pk": 2}),
            json!({"op": "fetch", "as": "b", "pk": 2}),
            json!({"op": "delete", "obj": "b"}),
        ] {
            run.step(&mut t, &step).unwrap();
        }
        assert_eq!(summary(run.flush()), [("delete", Pk::Int(2))]);
        run.step(
            &mut t,
            &json!({"op": "save", "obj": "a", "set": {"email": "stale@x"}}),
        )
        .unwrap();
        assert_eq!(summary(run.flush()), [("create", Pk::Int(2))]);
        assert_eq!(
            t.get(&Pk::Int(2)).unwrap().get("email"),
            Some(&json!("stale@x"))
        );
        // b was deleted: saving it inserts a row with the next pk.
        run.step(
            &mut t,
            &json!({"op": "save", "obj": "b", "set": {"username": "b again"}}),
        )
        .unwrap();
        assert_eq!(summary(run.flush()), [("create", Pk::Int(4))]);
        assert_eq!(
            run.results.last(),
            Some(&json!({"op": "save", "obj": "b", "pk": 4}))
        );
    }

    #[test]
    fn an_explicit_pk_moves_the_autoincrement_counter() {
        let mut t = table();
        let (_, outcome) = run_all(
            &mut t,
            json!([{"op": "insert", "pk": 10, "set": {"username": "ten", "email": 5}}]),
        );
        outcome.unwrap();
        assert_eq!(t.get(&Pk::Int(10)).unwrap().get("email"), Some(&json!("5")));
        let (applied, _) = t
            .apply(Mutation::Create {
                pk: None,
                fields: Map::new(),
            })
            .unwrap();
        assert!(matches!(applied, crate::store::Applied::Saved(i) if i.pk == Pk::Int(11)));
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_repr(&json!("a'b")), r#""a'b""#);
        assert_eq!(py_repr(&json!("a'b\"")), r#"'a\'b"'"#);
        assert_eq!(
            py_repr(&json!({"k": [1e16, -0.5, "\n"]})),
            r"{'k': [1e+16, -0.5, '\n']}"
        );
    }
}
