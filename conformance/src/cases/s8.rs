//! SPEC section 8: the channelsmultiplexer envelope (an optional capability).

use dcrf_protocol::Action;
use serde_json::json;

use super::s5::subscribe;
use super::{case, check_envelope, check_errors, check_instance, check_update_event};
use crate::case::{Case, Ctx, Step};
use crate::verdict::Finding;
use crate::wire::{Inbound, ReplyOrClose};

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!(
            "8.1.1",
            "multiplexed-retrieve",
            Must,
            "8.1",
            "a wrapped retrieve is answered with a reply wrapped for the same stream",
            [Multiplexed],
            true,
            retrieve
        ),
        case!(
            "8.1.2",
            "multiplexed-unknown-action",
            Must,
            "8.1",
            "a wrapped unknown action is answered 405, wrapped",
            [Multiplexed],
            true,
            unknown_action
        ),
        case!(
            "8.2.1",
            "multiplexed-event",
            Must,
            "8.2",
            "events of a wrapped subscription are wrapped with the stream",
            [Multiplexed, Mutation],
            true,
            event
        ),
        case!(
            "8.3.1",
            "unknown-stream",
            Should,
            "8.3",
            "a frame naming no registered stream gets an error reply (SHOULD), or a close with a close frame, never silence (MUST)",
            [Multiplexed],
            false,
            unknown_stream
        ),
        case!(
            "8.3.2",
            "extra-envelope-keys-ignored",
            Must,
            "8.3",
            "keys of the multiplexed envelope other than stream and payload are ignored",
            [Multiplexed],
            true,
            extra_envelope_keys
        ),
    ]
}

fn check_stream(ctx: &Ctx, frame: &Inbound) -> Step<()> {
    if frame.stream.as_deref() == Some(ctx.target.stream.as_str()) {
        Ok(())
    } else {
        Err(Finding::fail(format!(
            "frame is not wrapped for stream {:?} (SPEC 8.2.1): {}",
            ctx.target.stream, frame.raw
        )))
    }
}

async fn retrieve(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_multiplexed("a").await?;
    let rid = json!(1550081);
    a.send(
        ctx.request(Action::Retrieve, &rid, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_stream(&ctx, &reply)?;
    check_envelope(
        &reply,
        "wrapped retrieve reply",
        200,
        &json!("retrieve"),
        &rid,
    )?;
    check_instance(&ctx, &reply, "wrapped retrieve reply")?;
    Ok(Finding::pass(
        "the reply came back wrapped for the same stream",
    ))
}

async fn unknown_action(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_multiplexed("a").await?;
    let rid = json!(1550082);
    a.send(
        ctx.request(Action::Other("foo".into()), &rid, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_stream(&ctx, &reply)?;
    check_envelope(
        &reply,
        "wrapped reply to action foo",
        405,
        &json!("foo"),
        &rid,
    )?;
    check_errors(
        &reply,
        "wrapped reply to action foo",
        &["Method \"foo\" not allowed."],
    )?;
    Ok(Finding::pass("405, wrapped"))
}

async fn event(ctx: Ctx) -> Step<Finding> {
    let mut x = ctx.create().await?;
    let mut a = ctx.open_multiplexed("a").await?;
    let s = json!(1550083);
    subscribe(&ctx, &mut a, &s, &x.pk).await?;
    ctx.change(&mut x).await?;
    let event = a.expect_event("update", &s, ctx.until()).await?;
    check_stream(&ctx, &event)?;
    check_update_event(&ctx, &event, &s, &[x.state()])?;
    Ok(Finding::pass(
        "the update event came wrapped for the stream",
    ))
}

async fn unknown_stream(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_multiplexed("a").await?;
    let request = json!({
        "stream": "no-such-stream",
        "payload": {"action": "retrieve", "request_id": 1550084, ctx.lookup(): ctx.target.existing_pk},
    });
    a.send_value(&request, ctx.until()).await?;
    // A bad envelope is malformed input (SPEC 8.3.1, 2.3): an error reply or a close with a
    // close frame MUST come (2.3.1, 2.3.3); the error reply is what SHOULD come (8.3.1).
    match a.next_or_close(ctx.until()).await {
        ReplyOrClose::Reply(frame) => {
            let status = frame.status().unwrap_or(0);
            if (400..500).contains(&status) {
                Ok(Finding::pass(format!("error reply {status}")))
            } else {
                Err(Finding::fail(format!(
                    "a frame for an unknown stream must get an error reply or a close (SPEC 2.3.1, 8.3.1), not: {}",
                    frame.raw
                )))
            }
        }
        ReplyOrClose::Closed(close) if close.code.is_some() => Ok(Finding::non_strict(format!(
            "the server closed the socket ({close}) instead of replying with an error (SPEC 8.3.1)"
        ))),
        ReplyOrClose::Closed(close) => Err(Finding::fail(format!(
            "the connection ended without a close frame ({close}); a server that closes on malformed input MUST send one (SPEC 2.3.3, 8.3.1)"
        ))),
        ReplyOrClose::Nothing => Err(Finding::fail(
            "neither an error reply nor a close before the case deadline: malformed input MUST get one (SPEC 2.3.1, 8.3.1)",
        )),
    }
}

/// SPEC 8.3.2: an envelope key other than `stream` and `payload` is ignored.
async fn extra_envelope_keys(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open_multiplexed("a").await?;
    let rid = json!(1550088);
    let request = json!({
        "stream": ctx.target.stream,
        "payload": {"action": "retrieve", "request_id": 1550088, ctx.lookup(): ctx.target.existing_pk},
        "extra": 1,
    });
    a.send_value(&request, ctx.until()).await?;
    let reply = a.expect_reply(&rid, ctx.until()).await?;
    check_stream(&ctx, &reply)?;
    check_envelope(
        &reply,
        "wrapped retrieve reply",
        200,
        &json!("retrieve"),
        &rid,
    )?;
    check_instance(&ctx, &reply, "wrapped retrieve reply")?;
    Ok(Finding::pass(
        "the extra envelope key was ignored: a normal wrapped reply",
    ))
}
