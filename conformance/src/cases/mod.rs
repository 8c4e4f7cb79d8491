//! The cases, one module per SPEC section. Each case is data (id, level, section, title) plus
//! a small async function; ids are `section.n` and never reused.

use dcrf_protocol::Action;
use serde_json::Value;

use crate::case::{Case, Ctx, Instance, Step};
use crate::verdict::Finding;
use crate::wire::{Conn, Inbound};

mod s2;
mod s3;
mod s4;
mod s5;
mod s5_10;
mod s6;
mod s7;
mod s8;

/// Declares a case: `case!("5.1.1", "slug", Must, "5.1", "title", [caps], portable, function)`.
macro_rules! case {
    ($id:literal, $slug:literal, $level:ident, $section:literal, $title:literal, [$($need:ident),*], $portable:literal, $run:path) => {
        $crate::case::Case {
            id: $id,
            slug: $slug,
            level: $crate::verdict::Level::$level,
            section: $section,
            title: $title,
            needs: &[$($crate::case::Capability::$need),*],
            portable: $portable,
            run: |ctx| Box::pin($run(ctx)),
        }
    };
}
pub(crate) use case;

/// Every case, in SPEC order.
pub fn all() -> Vec<Case> {
    [
        s2::cases(),
        s3::cases(),
        s4::cases(),
        s5::cases(),
        s5_10::cases(),
        s6::cases(),
        s7::cases(),
        s8::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Checks the envelope of a reply or event: status, action, request_id, and `errors` empty
/// on success and non-empty on failure (SPEC 4.1, 4.2).
pub(crate) fn check_envelope(
    frame: &Inbound,
    what: &str,
    status: u64,
    action: &Value,
    request_id: &Value,
) -> Step<()> {
    let object = frame
        .value
        .as_object()
        .ok_or_else(|| Finding::fail(format!("{what} is not a JSON object: {}", frame.raw)))?;
    let missing: Vec<&str> = ["errors", "data", "action", "response_status", "request_id"]
        .into_iter()
        .filter(|key| !object.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        return Err(Finding::fail(format!(
            "{what} lacks {} (SPEC 4.1.1): {}",
            missing.join(", "),
            frame.raw
        )));
    }
    if frame.status() != Some(status) {
        return Err(Finding::fail(format!(
            "{what} has response_status {}, expected {status}: {}",
            frame.value["response_status"], frame.raw
        )));
    }
    if frame.action() != action {
        return Err(Finding::fail(format!(
            "{what} has action {}, expected {action} (SPEC 4.2.2): {}",
            frame.action(),
            frame.raw
        )));
    }
    if frame.request_id() != request_id {
        return Err(Finding::fail(format!(
            "{what} has request_id {}, expected exactly {request_id} (SPEC 4.2.1): {}",
            frame.request_id(),
            frame.raw
        )));
    }
    let errors = frame.errors().as_array();
    let success = (200..300).contains(&status);
    match errors {
        Some(errors) if success && !errors.is_empty() => Err(Finding::fail(format!(
            "{what} is a {status} with non-empty errors (SPEC 4.1.3): {}",
            frame.raw
        ))),
        Some(errors) if !success && errors.is_empty() => Err(Finding::fail(format!(
            "{what} is a {status} with empty errors (SPEC 4.1.3): {}",
            frame.raw
        ))),
        Some(_) => Ok(()),
        None => Err(Finding::fail(format!(
            "{what} has errors that are not an array (SPEC 4.1): {}",
            frame.raw
        ))),
    }
}

/// Checks that `errors` is exactly these messages.
pub(crate) fn check_errors(frame: &Inbound, what: &str, expected: &[&str]) -> Step<()> {
    let expected_value = Value::from(expected.to_vec());
    if frame.errors() == &expected_value {
        Ok(())
    } else {
        Err(Finding::fail(format!(
            "{what} has errors {}, expected {expected_value}: {}",
            frame.errors(),
            frame.raw
        )))
    }
}

/// Checks that `data` is null.
pub(crate) fn check_data_null(frame: &Inbound, what: &str) -> Step<()> {
    if frame.data().is_null() {
        Ok(())
    } else {
        Err(Finding::fail(format!(
            "{what} has data {}, expected null: {}",
            frame.data(),
            frame.raw
        )))
    }
}

/// Checks that `data` is a serialized instance: an object with every expected field and no
/// write-only field (SPEC 5.1).
pub(crate) fn check_instance(ctx: &Ctx, frame: &Inbound, what: &str) -> Step<()> {
    check_instance_value(ctx, frame.data(), what, &frame.raw)
}

pub(crate) fn check_instance_value(ctx: &Ctx, data: &Value, what: &str, raw: &str) -> Step<()> {
    let object = data.as_object().ok_or_else(|| {
        Finding::fail(format!(
            "{what} has data {data}, expected an instance object: {raw}"
        ))
    })?;
    let missing: Vec<&str> = ctx
        .target
        .expected_fields
        .iter()
        .filter(|field| !object.contains_key(field.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Finding::fail(format!(
            "{what}: the instance lacks {}: {raw}",
            missing.join(", ")
        )));
    }
    let leaked: Vec<&str> = ctx
        .target
        .write_only_fields
        .iter()
        .filter(|field| object.contains_key(field.as_str()))
        .map(String::as_str)
        .collect();
    if !leaked.is_empty() {
        return Err(Finding::fail(format!(
            "{what}: the instance shows write-only {} (SPEC 5.1.2): {raw}",
            leaked.join(", ")
        )));
    }
    Ok(())
}

/// Checks that an instance's `data` shows one of `states` in the changed field (the
/// target's `change_field`): states at or after a change, SPEC 5.8.
pub(crate) fn check_state(ctx: &Ctx, frame: &Inbound, what: &str, states: &[&str]) -> Step<()> {
    let field = ctx.change_field();
    let shown = frame.data().get(field).and_then(Value::as_str);
    if shown.is_some_and(|shown| states.contains(&shown)) {
        Ok(())
    } else {
        Err(Finding::fail(format!(
            "{what} shows {field} {}, expected {} (a state at or after the change, SPEC 5.5.2): {}",
            frame.data().get(field).unwrap_or(&Value::Null),
            if states.len() == 1 {
                format!("{:?}", states[0])
            } else {
                format!("one of {states:?}")
            },
            frame.raw
        )))
    }
}

/// Checks a frame of an update event for `instance` (SPEC 5.5.1), accepting any of the
/// given states of the changed field as the state shown.
pub(crate) fn check_update_event(
    ctx: &Ctx,
    frame: &Inbound,
    subscription: &Value,
    states: &[&str],
) -> Step<()> {
    let what = format!("update event of subscription {subscription}");
    check_envelope(frame, &what, 200, &Value::from("update"), subscription)?;
    check_instance(ctx, frame, &what)?;
    check_state(ctx, frame, &what, states)
}

/// Checks a delete event (SPEC 5.6.1).
pub(crate) fn check_delete_event(
    frame: &Inbound,
    subscription: &Value,
    instance: &Instance,
) -> Step<()> {
    let what = format!("delete event of subscription {subscription}");
    check_envelope(frame, &what, 204, &Value::from("delete"), subscription)?;
    let expected = serde_json::json!({ "pk": instance.pk });
    if frame.data() != &expected {
        return Err(Finding::fail(format!(
            "{what} has data {}, expected {expected}: {}",
            frame.data(),
            frame.raw
        )));
    }
    Ok(())
}

/// Sends `action` on `conn` for a lookup value that names no instance and checks the answer:
/// 404, `["Not found"]`, data null, action and request_id echoed (SPEC 7.3).
pub(crate) async fn expect_not_found(
    ctx: &Ctx,
    conn: &mut Conn,
    action: Action,
    request_id: &Value,
    lookup: &Value,
) -> Step<Finding> {
    let name = Value::from(action.as_str());
    let what = format!("{action} reply");
    conn.send(ctx.request(action, request_id, lookup), ctx.until())
        .await?;
    let reply = conn.expect_reply(request_id, ctx.until()).await?;
    check_envelope(&reply, &what, 404, &name, request_id)?;
    check_errors(&reply, &what, &["Not found"])?;
    check_data_null(&reply, &what)?;
    Ok(Finding::pass("404 [\"Not found\"], data null"))
}

/// Waits on `conn` for the `update` event of `subscription` and checks it shows `state`
/// or a later state (SPEC 5.5, 5.8).
pub(crate) async fn expect_update(
    ctx: &Ctx,
    conn: &mut Conn,
    subscription: &Value,
    state: &str,
) -> Step<()> {
    let event = conn
        .expect_event("update", subscription, ctx.until())
        .await?;
    check_update_event(ctx, &event, subscription, &[state])
}
