//! SPEC section 6: model actions on a CRUD endpoint (`full_url`).

use dcrf_protocol::{Action, Request};
use serde_json::{Value, json};

use super::{case, check_data_null, check_envelope, check_instance, check_state, expect_not_found};
use crate::case::{Case, Ctx, Step};
use crate::verdict::Finding;
use crate::wire::Conn;

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!(
            "6.1.1",
            "list",
            Must,
            "6.1",
            "list answers 200 with an array of serialized instances",
            [Full],
            false,
            list
        ),
        case!(
            "6.2.1",
            "create",
            Must,
            "6.2",
            "create answers 201 with the serialized new instance",
            [Full],
            true,
            create
        ),
        case!(
            "6.3.1",
            "update",
            Must,
            "6.3",
            "update answers 200 with the replaced instance",
            [Full],
            true,
            update
        ),
        case!(
            "6.4.1",
            "patch",
            Must,
            "6.4",
            "patch answers 200 with the changed instance",
            [Full],
            true,
            patch
        ),
        case!(
            "6.5.1",
            "delete",
            Must,
            "6.5",
            "delete answers 204 with data null; the instance is gone",
            [Full],
            true,
            delete
        ),
        case!(
            "6.5.2",
            "delete-missing",
            Must,
            "6.5",
            "delete of a missing instance answers 404 [\"Not found\"]",
            [Full],
            true,
            delete_missing
        ),
        case!(
            "6.6.1",
            "validation-errors",
            Must,
            "6.6",
            "invalid data answers 400, data null, errors [{field: [messages]}]",
            [Full],
            true,
            validation_errors
        ),
        case!(
            "6.6.2",
            "data-not-an-object",
            Must,
            "6.6",
            "create with data that is not an object answers 400, data null, errors [{field: [messages]}]",
            [Full],
            true,
            data_not_an_object
        ),
        case!(
            "6.6.3",
            "update-without-required-fields",
            Must,
            "6.6",
            "update (a full update) without every required field answers 400 with the missing fields",
            [Full],
            false,
            update_without_required_fields
        ),
    ]
}

/// A created instance: its key and the value of its changed field.
struct Created {
    pk: Value,
    value: String,
}

/// Creates an instance with the `create` action and checks the 201 reply.
async fn create_over(ctx: &Ctx, conn: &mut Conn, request_id: &Value) -> Step<Created> {
    let value = ctx.fresh_value();
    let data = ctx.create_data(&value);
    conn.send(
        Request::new(Action::Create)
            .with_request_id(request_id.clone())
            .with_arg("data", data),
        ctx.until(),
    )
    .await?;
    let reply = conn.expect_reply(request_id, ctx.until()).await?;
    check_envelope(&reply, "create reply", 201, &json!("create"), request_id)?;
    check_instance(ctx, &reply, "create reply")?;
    check_state(ctx, &reply, "create reply", &[&value])?;
    let pk = reply
        .data()
        .get("id")
        .or_else(|| reply.data().get(ctx.lookup()))
        .cloned()
        .ok_or_else(|| Finding::fail(format!("create reply has no id: {}", reply.raw)))?;
    ctx.recorder.created(pk.clone());
    Ok(Created { pk, value })
}

async fn list(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    let rid = json!(1550031);
    a.send(
        Request::new(Action::List).with_request_id(rid.clone()),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "list reply", 200, &json!("list"), &rid)?;
    let items = reply
        .data()
        .as_array()
        .ok_or_else(|| Finding::fail(format!("list reply data is not an array: {}", reply.raw)))?;
    for item in items {
        super::check_instance_value(&ctx, item, "list item", &reply.raw)?;
    }
    let existing = &ctx.target.existing_pk;
    let found = items
        .iter()
        .any(|item| item.get("id") == Some(existing) || item.get(ctx.lookup()) == Some(existing));
    if !found {
        return Err(Finding::fail(format!(
            "list does not contain the existing instance {existing}"
        )));
    }
    Ok(Finding::pass(format!("200 with {} instances", items.len())))
}

async fn create(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    create_over(&ctx, &mut a, &json!(1550032)).await?;
    Ok(Finding::pass(
        "201 with the new instance, no write-only field",
    ))
}

async fn update(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    let created = create_over(&ctx, &mut a, &json!(1550033)).await?;
    let rid = json!(1550034);
    let value = format!("{}-put", created.value);
    let data = ctx.create_data(&value);
    a.send(
        ctx.request(Action::Update, &rid, &created.pk)
            .with_arg("data", data),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "update reply", 200, &json!("update"), &rid)?;
    check_instance(&ctx, &reply, "update reply")?;
    check_state(&ctx, &reply, "update reply", &[&value])?;
    Ok(Finding::pass("200 with the replaced instance"))
}

async fn patch(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    let created = create_over(&ctx, &mut a, &json!(1550035)).await?;
    let rid = json!(1550036);
    let value = format!("{}-patched", created.value);
    a.send(
        ctx.request(Action::Patch, &rid, &created.pk)
            .with_arg("data", ctx.change_data(&value)),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "patch reply", 200, &json!("patch"), &rid)?;
    check_instance(&ctx, &reply, "patch reply")?;
    check_state(&ctx, &reply, "patch reply", &[&value])?;
    Ok(Finding::pass("200 with the changed instance"))
}

async fn delete(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    let created = create_over(&ctx, &mut a, &json!(1550037)).await?;
    let rid = json!(1550038);
    a.send(ctx.request(Action::Delete, &rid, &created.pk), ctx.until())
        .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "delete reply", 204, &json!("delete"), &rid)?;
    check_data_null(&reply, "delete reply")?;
    let check = json!(1550039);
    a.send(
        ctx.request(Action::Retrieve, &check, &created.pk),
        ctx.until(),
    )
    .await?;
    let gone = a.expect_reply(&check, ctx.until()).await?;
    check_envelope(
        &gone,
        "retrieve after delete",
        404,
        &json!("retrieve"),
        &check,
    )?;
    Ok(Finding::pass(
        "204 with data null; a retrieve then answers 404",
    ))
}

async fn delete_missing(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    let missing = ctx.target.missing_pk.clone();
    expect_not_found(&ctx, &mut a, Action::Delete, &json!(1550040), &missing).await
}

async fn validation_errors(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    let rid = json!(1550041);
    a.send(
        Request::new(Action::Create)
            .with_request_id(rid.clone())
            .with_arg("data", json!({})),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_envelope(&reply, "create reply", 400, &json!("create"), &rid)?;
    check_data_null(&reply, "create reply")?;
    let shape_ok = reply.errors().as_array().is_some_and(|errors| {
        errors.len() == 1
            && errors[0].as_object().is_some_and(|fields| {
                !fields.is_empty()
                    && fields.values().all(|messages| {
                        messages
                            .as_array()
                            .is_some_and(|m| !m.is_empty() && m.iter().all(Value::is_string))
                    })
            })
    });
    if !shape_ok {
        return Err(Finding::fail(format!(
            "errors must be one object mapping each invalid field to its messages (SPEC 6.6.1): {}",
            reply.raw
        )));
    }
    Ok(Finding::pass(
        "400, data null, errors [{field: [messages]}]",
    ))
}

/// Checks a validation error reply: 400, data null, errors one object mapping fields to
/// lists of messages (SPEC 6.6.1). Returns the field names.
fn check_validation_error(
    reply: &crate::wire::Inbound,
    what: &str,
    action: &str,
    request_id: &Value,
) -> Step<Vec<String>> {
    check_envelope(reply, what, 400, &json!(action), request_id)?;
    check_data_null(reply, what)?;
    let fields = reply
        .errors()
        .as_array()
        .filter(|errors| errors.len() == 1)
        .and_then(|errors| errors[0].as_object())
        .filter(|fields| {
            !fields.is_empty()
                && fields.values().all(|messages| {
                    messages
                        .as_array()
                        .is_some_and(|m| !m.is_empty() && m.iter().all(Value::is_string))
                })
        })
        .map(|fields| fields.keys().cloned().collect())
        .ok_or_else(|| {
            Finding::fail(format!(
                "errors must be one object mapping each invalid field to its messages (SPEC 6.6.1): {}",
                reply.raw
            ))
        })?;
    Ok(fields)
}

/// SPEC 6.6, 3.4.1: `data` that is not an object is invalid data (DCRF:
/// `non_field_errors`, "Invalid data. Expected a dictionary, but got str.").
async fn data_not_an_object(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_full("a").await?;
    let rid = json!(1550042);
    a.send(
        Request::new(Action::Create)
            .with_request_id(rid.clone())
            .with_arg("data", json!("x")),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    let fields = check_validation_error(&reply, "create reply", "create", &rid)?;
    Ok(Finding::pass(format!(
        "400, data null, errors for {}",
        fields.join(", ")
    )))
}

/// SPEC 6.3, 6.6: `update` replaces the instance, so every required field must be given;
/// one sent alone is a validation error naming the missing ones.
async fn update_without_required_fields(ctx: Ctx) -> Step<Finding> {
    let field = ctx.change_field().to_owned();
    let required = ctx.create_data("c6.6.2");
    if required
        .as_object()
        .is_some_and(|fields| fields.keys().all(|key| *key == field))
    {
        return Err(Finding::skip(format!(
            "the target's create_body names no field besides {field}: nothing required is left out"
        )));
    }
    let mut a = ctx.open_full("a").await?;
    let created = create_over(&ctx, &mut a, &json!(1550043)).await?;
    let rid = json!(1550044);
    let value = format!("{}-only", created.value);
    a.send(
        ctx.request(Action::Update, &rid, &created.pk)
            .with_arg("data", ctx.change_data(&value)),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    let fields = check_validation_error(&reply, "update reply", "update", &rid)?;
    if fields.contains(&field) {
        return Err(Finding::fail(format!(
            "the valid field sent ({field}) is reported as invalid: {}",
            reply.raw
        )));
    }
    Ok(Finding::pass(format!(
        "400, data null, the missing required fields named: {}",
        fields.join(", ")
    )))
}
