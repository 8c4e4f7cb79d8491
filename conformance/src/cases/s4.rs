//! SPEC section 4: replies (envelope, echo of action and request_id, correlation).

use dcrf_protocol::{Action, Request};
use serde_json::{Value, json};

use super::s5::subscribe;
use super::{case, check_envelope, check_instance, check_state, check_update_event};
use crate::case::{Case, Ctx, Step};
use crate::verdict::Finding;
use crate::wire::{Conn, Inbound};

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!(
            "4.1.1",
            "envelope-five-keys",
            Must,
            "4.1",
            "replies to success, not found and unknown action carry errors, data, action, response_status, request_id",
            [],
            true,
            five_keys
        ),
        case!(
            "4.1.2",
            "envelope-no-extra-keys",
            Should,
            "4.1",
            "replies carry no key beyond the five",
            [],
            true,
            no_extra_keys
        ),
        case!(
            "4.1.3",
            "errors-match-status",
            Must,
            "4.1",
            "errors is empty on 2xx and non-empty on 4xx",
            [],
            true,
            errors_match_status
        ),
        case!(
            "4.2.1",
            "request-id-string",
            Must,
            "4.2",
            "a string request_id is echoed exactly",
            [],
            true,
            request_id_string
        ),
        case!(
            "4.2.2",
            "request-id-integer",
            Must,
            "4.2",
            "an integer request_id is echoed exactly",
            [],
            true,
            request_id_integer
        ),
        case!(
            "4.2.3",
            "request-id-beyond-2^53",
            Must,
            "4.2",
            "the request_id 9007199254740993 is echoed with the same digits",
            [],
            true,
            request_id_2_53
        ),
        case!(
            "4.2.4",
            "request-id-beyond-2^64",
            Must,
            "4.2",
            "the request_id 18446744073709551617 is echoed with the same digits",
            [],
            true,
            request_id_2_64
        ),
        case!(
            "4.2.5",
            "request-id-object",
            Must,
            "4.2",
            "an object request_id of a retrieve is echoed unchanged",
            [],
            true,
            request_id_object
        ),
        case!(
            "4.2.6",
            "request-id-absent",
            Must,
            "4.2",
            "a request without request_id is answered with request_id null",
            [],
            true,
            request_id_absent
        ),
        case!(
            "4.2.7",
            "action-echoed-number",
            Must,
            "4.2",
            "a numeric action is echoed as the same number (and answered 405)",
            [],
            true,
            action_number
        ),
        case!(
            "4.2.8",
            "request-id-boolean",
            Must,
            "4.2",
            "a boolean request_id of a retrieve is echoed unchanged",
            [],
            true,
            request_id_boolean
        ),
        case!(
            "4.2.9",
            "request-id-null",
            Must,
            "4.2",
            "an explicit null request_id is echoed as null",
            [],
            true,
            request_id_null
        ),
        case!(
            "4.2.10",
            "request-id-array",
            Must,
            "4.2",
            "an array request_id of a retrieve is echoed unchanged",
            [],
            true,
            request_id_array
        ),
        case!(
            "4.2.11",
            "request-id-float",
            Should,
            "4.2",
            "the request_id 1.5 is echoed with the same digits (MUST: a number equal to it)",
            [],
            false,
            request_id_float
        ),
        case!(
            "4.3.1",
            "one-reply-per-request",
            Must,
            "4.3",
            "pipelined requests get exactly one reply each, matched by request_id",
            [],
            true,
            one_reply_each
        ),
        case!(
            "4.3.2",
            "reply-order",
            May,
            "4.3",
            "replies to pipelined requests arrive in request order (informational)",
            [],
            true,
            reply_order
        ),
        case!(
            "4.3.3",
            "own-change-reply-and-event",
            Must,
            "4.3",
            "a patch on a subscribed socket gets its reply and the subscription its event, told apart by request_id",
            [Full, Mutation],
            true,
            own_change
        ),
    ]
}

/// Sends a retrieve of the existing instance, an unknown action and a retrieve of a missing
/// instance; returns the three replies.
async fn three_replies(ctx: &Ctx, a: &mut Conn) -> Step<Vec<(String, Inbound)>> {
    let plan = [
        (
            "retrieve reply",
            ctx.request(Action::Retrieve, &json!(1550011), &ctx.target.existing_pk),
        ),
        (
            "reply to an unknown action",
            Request::new(Action::Other("no_such_action".into())).with_request_id(1_550_012u64),
        ),
        (
            "not-found reply",
            ctx.request(Action::Retrieve, &json!(1550013), &ctx.target.missing_pk),
        ),
    ];
    let mut replies = Vec::new();
    for (what, request) in plan {
        let rid = request
            .request_id
            .clone()
            .map(|id| id.into_value())
            .unwrap_or(Value::Null);
        a.send(request, ctx.until()).await?;
        replies.push((what.to_owned(), a.expect_reply(&rid, ctx.until()).await?));
    }
    Ok(replies)
}

const KEYS: [&str; 5] = ["errors", "data", "action", "response_status", "request_id"];

async fn five_keys(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    for (what, reply) in three_replies(&ctx, &mut a).await? {
        let missing: Vec<&str> = KEYS
            .into_iter()
            .filter(|key| reply.value.get(key).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(Finding::fail(format!(
                "{what} lacks {} (SPEC 4.1.1): {}",
                missing.join(", "),
                reply.raw
            )));
        }
    }
    Ok(Finding::pass("all five keys in every reply"))
}

async fn no_extra_keys(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    for (what, reply) in three_replies(&ctx, &mut a).await? {
        let extra: Vec<&String> = reply
            .value
            .as_object()
            .map(|object| {
                object
                    .keys()
                    .filter(|key| !KEYS.contains(&key.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        if !extra.is_empty() {
            return Ok(Finding::non_strict(format!(
                "{what} carries extra keys {extra:?} (SPEC 4.1.2: SHOULD NOT)"
            )));
        }
    }
    Ok(Finding::pass("no key beyond the five"))
}

async fn errors_match_status(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    for (what, reply) in three_replies(&ctx, &mut a).await? {
        let status = reply.status().ok_or_else(|| {
            Finding::fail(format!(
                "{what} has no integer response_status: {}",
                reply.raw
            ))
        })?;
        check_envelope(&reply, &what, status, reply.action(), reply.request_id())?;
    }
    Ok(Finding::pass("errors [] on success, non-empty on failure"))
}

async fn echo_request_id(ctx: &Ctx, request_id: Value) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    a.send(
        ctx.request(Action::Retrieve, &request_id, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&request_id, ctx.until()).await?;
    check_envelope(
        &reply,
        "retrieve reply",
        200,
        &json!("retrieve"),
        &request_id,
    )?;
    check_instance(ctx, &reply, "retrieve reply")?;
    Ok(Finding::pass(format!(
        "request_id {request_id} echoed exactly"
    )))
}

async fn request_id_string(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, json!("7c5d2f7e-5a7e-4c0e-9a51-1f8f0b6f4d1a")).await
}

async fn request_id_integer(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, json!(1550014)).await
}

fn exact(number: &str) -> Value {
    serde_json::from_str(number).unwrap_or(Value::Null)
}

async fn request_id_2_53(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, exact("9007199254740993")).await
}

async fn request_id_2_64(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, exact("18446744073709551617")).await
}

async fn request_id_object(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, json!({"client": "web", "seq": [1, "a"]})).await
}

async fn request_id_absent(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let mut request = ctx.request(Action::Retrieve, &Value::Null, &ctx.target.existing_pk);
    request.request_id = None;
    a.send(request, ctx.until()).await?;
    let reply = a.expect_reply(&Value::Null, ctx.until()).await?;
    check_envelope(
        &reply,
        "retrieve reply",
        200,
        &json!("retrieve"),
        &Value::Null,
    )?;
    Ok(Finding::pass("request_id null in the reply"))
}

async fn action_number(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let rid = json!(1550015);
    a.send_value(&json!({"action": 42, "request_id": 1550015}), ctx.until())
        .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "reply to action 42", 405, &json!(42), &rid)?;
    Ok(Finding::pass("405 with action 42 echoed as a number"))
}

async fn one_reply_each(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let ids = [
        json!(1550016),
        json!("r-1550017"),
        json!(1550018),
        json!("r-1550019"),
    ];
    let pks = [
        &ctx.target.existing_pk,
        &ctx.target.missing_pk,
        &ctx.target.existing_pk,
        &ctx.target.missing_pk,
    ];
    for (rid, pk) in ids.iter().zip(pks) {
        a.send(ctx.request(Action::Retrieve, rid, pk), ctx.until())
            .await?;
    }
    for (rid, pk) in ids.iter().zip(pks) {
        let reply = a.expect_reply(rid, ctx.until()).await?;
        let status = if pk == &ctx.target.existing_pk {
            200
        } else {
            404
        };
        check_envelope(
            &reply,
            "pipelined retrieve reply",
            status,
            &json!("retrieve"),
            rid,
        )?;
    }
    a.expect_quiet(
        ctx.quiet(),
        "each request gets exactly one reply (SPEC 4.3.1)",
    )
    .await?;
    Ok(Finding::pass("four pipelined requests, four replies"))
}

async fn reply_order(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let ids = [json!(1550020), json!(1550021), json!(1550022)];
    for rid in &ids {
        a.send(
            ctx.request(Action::Retrieve, rid, &ctx.target.existing_pk),
            ctx.until(),
        )
        .await?;
    }
    let mut order = Vec::new();
    for _ in &ids {
        match a.next_or_close(ctx.until()).await {
            crate::wire::ReplyOrClose::Reply(frame) => order.push(frame.request_id().clone()),
            crate::wire::ReplyOrClose::Closed(close) => {
                return Err(Finding::fail(format!("the connection closed: {close}")));
            }
            crate::wire::ReplyOrClose::Nothing => {
                return Err(Finding::fail("not every pipelined request was answered"));
            }
        }
    }
    if order == ids {
        Ok(Finding::info(
            "replies arrived in request order (SPEC 4.3.2)",
        ))
    } else {
        Ok(Finding::info(format!(
            "replies arrived in the order {order:?}, not the request order"
        )))
    }
}

async fn own_change(ctx: Ctx) -> Step<Finding> {
    let x = ctx.create().await?;
    let mut a = ctx.open_full("a").await?;
    let s = json!(1550023);
    let r = json!(1550024);
    subscribe(&ctx, &mut a, &s, &x.pk).await?;
    let patched = format!("{}-patched", x.state());
    a.send(
        ctx.request(Action::Patch, &r, &x.pk)
            .with_arg("data", ctx.change_data(&patched)),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&r, ctx.until()).await?;
    check_envelope(&reply, "patch reply", 200, &json!("patch"), &r)?;
    check_state(&ctx, &reply, "patch reply", &[&patched])?;
    let event = a.expect_event("update", &s, ctx.until()).await?;
    check_update_event(&ctx, &event, &s, &[&patched])?;
    a.expect_quiet(
        ctx.quiet(),
        "one patch: one reply and one event (SPEC 4.3.1, 5.7.1)",
    )
    .await?;
    Ok(Finding::pass(
        "the patch reply and the update event, each with its own request_id",
    ))
}

async fn request_id_boolean(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, json!(false)).await
}

async fn request_id_null(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, Value::Null).await
}

async fn request_id_array(ctx: Ctx) -> Step<Finding> {
    echo_request_id(&ctx, json!([1, "two", null, true])).await
}

/// SPEC 4.2.2: a non-integer number SHOULD come back with the same digits and MUST come back
/// as a number equal to it as an IEEE double.
async fn request_id_float(ctx: Ctx) -> Step<Finding> {
    let sent = exact("1.5");
    let mut a = ctx.open("a").await?;
    a.send(
        ctx.request(Action::Retrieve, &sent, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    let reply = a
        .expect("retrieve reply", ctx.until(), |frame| {
            frame.action() == "retrieve"
        })
        .await?;
    let echoed = reply.request_id().clone();
    if echoed == sent {
        check_envelope(&reply, "retrieve reply", 200, &json!("retrieve"), &sent)?;
        return Ok(Finding::pass("request_id 1.5 echoed with the same digits"));
    }
    if echoed.as_f64() == Some(1.5) {
        check_envelope(&reply, "retrieve reply", 200, &json!("retrieve"), &echoed)?;
        return Ok(Finding::non_strict(format!(
            "request_id 1.5 echoed as {echoed}: equal as a double (the MUST), but SPEC 4.2.2 recommends the same digits"
        )));
    }
    Err(Finding::fail(format!(
        "request_id 1.5 echoed as {echoed}, not a number equal to it (SPEC 4.2.2): {}",
        reply.raw
    )))
}
