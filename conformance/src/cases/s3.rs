//! SPEC section 3: requests (action names, the lookup argument, other arguments).

use dcrf_protocol::Action;
use serde_json::{Value, json};

use super::{case, check_data_null, check_envelope, check_errors, check_instance};
use crate::case::{Case, Ctx, Step};
use crate::verdict::Finding;

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!(
            "3.1.1",
            "action-names-are-case-sensitive",
            Must,
            "3.1",
            "\"RETRIEVE\" is not \"retrieve\": it answers 405 like any action the consumer does not offer",
            [],
            true,
            action_case_sensitive
        ),
        case!(
            "3.1.2",
            "action-null",
            Must,
            "3.1",
            "{\"action\": null} names no action: 405 with action null and the request_id echoed",
            [],
            true,
            action_null
        ),
        case!(
            "3.3.1",
            "lookup-in-string-form",
            Must,
            "3.3",
            "the lookup argument may be the key's string form: \"pk\": \"1\" finds instance 1",
            [],
            true,
            lookup_string_form
        ),
        case!(
            "3.4.1",
            "unknown-arguments-ignored",
            Must,
            "3.4",
            "arguments an action does not use (\"extra\", \"data\" on retrieve) are ignored",
            [],
            true,
            unknown_arguments_ignored
        ),
    ]
}

async fn action_case_sensitive(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let rid = json!(1550030);
    let action = Action::Other("RETRIEVE".into());
    a.send(
        ctx.request(action, &rid, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    let what = "reply to action RETRIEVE";
    check_envelope(&reply, what, 405, &json!("RETRIEVE"), &rid)?;
    check_errors(&reply, what, &["Method \"RETRIEVE\" not allowed."])?;
    check_data_null(&reply, what)?;
    Ok(Finding::pass(
        "405 [\"Method \\\"RETRIEVE\\\" not allowed.\"]",
    ))
}

async fn lookup_string_form(ctx: Ctx) -> Step<Finding> {
    let pk = match &ctx.target.existing_pk {
        Value::String(text) => Value::String(text.clone()),
        other => Value::String(other.to_string()),
    };
    let mut a = ctx.open("a").await?;
    let rid = json!(1550031);
    a.send(ctx.request(Action::Retrieve, &rid, &pk), ctx.until())
        .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "retrieve reply", 200, &json!("retrieve"), &rid)?;
    check_instance(&ctx, &reply, "retrieve reply")?;
    Ok(Finding::pass(format!(
        "retrieve with {pk} found the instance"
    )))
}

async fn unknown_arguments_ignored(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let rid = json!(1550032);
    let request = ctx
        .request(Action::Retrieve, &rid, &ctx.target.existing_pk)
        .with_arg("extra", 1)
        .with_arg("data", json!({"x": 1}));
    a.send(request, ctx.until()).await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "retrieve reply", 200, &json!("retrieve"), &rid)?;
    check_instance(&ctx, &reply, "retrieve reply")?;
    Ok(Finding::pass("the extra arguments were ignored"))
}

/// SPEC 3.1.2: an action that is present but null names no action the consumer offers; it is
/// answered as section 7.1 says, with the action echoed as null (4.2.3).
async fn action_null(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let rid = json!(1550033);
    a.send_value(&json!({"action": null, "request_id": 1550033}), ctx.until())
        .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    let what = "reply to action null";
    check_envelope(&reply, what, 405, &Value::Null, &rid)?;
    check_data_null(&reply, what)?;
    Ok(Finding::pass(format!(
        "405 {} with action null and the request_id echoed",
        reply.errors()
    )))
}
