//! SPEC section 7: errors (unknown action, missing action, not found).

use dcrf_protocol::Action;
use serde_json::{Value, json};

use super::{case, check_data_null, check_envelope, check_errors, expect_not_found};
use crate::case::{Case, Ctx, Step};
use crate::verdict::Finding;

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!(
            "7.1.1",
            "unknown-action",
            Must,
            "7.1",
            "an unknown action answers 405 [\"Method \\\"foo\\\" not allowed.\"] with the action echoed",
            [],
            true,
            unknown_action
        ),
        case!(
            "7.2.1",
            "missing-action",
            Must,
            "7.2",
            "a request without action answers 405 [\"Unable to find action in message body.\"] with action null",
            [],
            true,
            missing_action
        ),
        case!(
            "7.2.2",
            "empty-object",
            Must,
            "7.2",
            "the request {} answers 405 [\"Unable to find action in message body.\"] with action and request_id null",
            [],
            true,
            empty_object
        ),
        case!(
            "7.3.1",
            "not-found-uncastable-lookup",
            Must,
            "7.3",
            "a lookup value that cannot be cast answers 404 [\"Not found\"]",
            [],
            true,
            uncastable_lookup
        ),
    ]
}

async fn unknown_action(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let rid = json!(1550051);
    a.send(
        ctx.request(Action::Other("foo".into()), &rid, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "reply to action foo", 405, &json!("foo"), &rid)?;
    check_errors(
        &reply,
        "reply to action foo",
        &["Method \"foo\" not allowed."],
    )?;
    check_data_null(&reply, "reply to action foo")?;
    Ok(Finding::pass("405 [\"Method \\\"foo\\\" not allowed.\"]"))
}

async fn missing_action(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let rid = json!(1550052);
    let mut frame = serde_json::Map::new();
    frame.insert("request_id".into(), rid.clone());
    frame.insert(ctx.lookup().to_owned(), ctx.target.existing_pk.clone());
    a.send_value(&Value::Object(frame), ctx.until()).await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(
        &reply,
        "reply to a request without action",
        405,
        &Value::Null,
        &rid,
    )?;
    check_errors(
        &reply,
        "reply to a request without action",
        &["Unable to find action in message body."],
    )?;
    check_data_null(&reply, "reply to a request without action")?;
    Ok(Finding::pass("405 with action null"))
}

async fn uncastable_lookup(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    expect_not_found(
        &ctx,
        &mut a,
        Action::Retrieve,
        &json!(1550053),
        &json!("not-a-key"),
    )
    .await
}

/// SPEC 7.2.1: `{}` is a request object without action (and without request_id).
async fn empty_object(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    a.send_value(&json!({}), ctx.until()).await?;
    let reply = a.expect_reply(&Value::Null, ctx.until()).await?;
    let what = "reply to {}";
    check_envelope(&reply, what, 405, &Value::Null, &Value::Null)?;
    check_errors(&reply, what, &["Unable to find action in message body."])?;
    check_data_null(&reply, what)?;
    Ok(Finding::pass("405 with action null and request_id null"))
}
