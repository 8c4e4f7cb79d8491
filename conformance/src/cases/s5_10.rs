//! SPEC 5.10: several processes. The target names the app's other processes in `nodes`
//! (their observer URLs); against a single endpoint these cases are skipped, never passed.

use dcrf_protocol::Action;
use serde_json::{Value, json};

use super::{case, check_update_event};
use crate::case::{Case, Ctx, Step};
use crate::verdict::Finding;
use crate::wire::Conn;

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!(
            "5.10.1",
            "change-reaches-every-node",
            Must,
            "5.10",
            "a change made through the hook reaches the subscribers on every node of the app, one event each",
            [Mutation, Nodes],
            false,
            change_reaches_every_node
        ),
        case!(
            "5.10.3",
            "unsubscribe-is-per-node",
            Must,
            "5.10",
            "an unsubscribe on one node leaves the subscription of a socket on another node alone",
            [Mutation, Nodes],
            false,
            unsubscribe_is_per_node
        ),
    ]
}

/// Why an event that must cross processes did not come, for the failure message.
const LIKELY_CAUSE: &str = "the change was made through the hook, which reaches one process: \
    the likely cause is a channel layer that is not shared between processes \
    (Channels' InMemoryChannelLayer; DCRF needs channels_redis or another shared layer, SPEC 5.10.4)";

/// Subscribes `conn` (on node `url`) to `pk`, with a message that names the node when the
/// instance the hook created is not visible there.
async fn subscribe_on(
    ctx: &Ctx,
    conn: &mut Conn,
    url: &str,
    request_id: &Value,
    pk: &Value,
) -> Step<()> {
    conn.send(
        ctx.request(Action::SubscribeInstance, request_id, pk),
        ctx.until(),
    )
    .await?;
    let reply = conn.expect_reply(request_id, ctx.until()).await?;
    match reply.status() {
        Some(201) => Ok(()),
        Some(404) => Err(Finding::fail(format!(
            "subscribe_instance on node {url} answered 404 for the instance the hook created: \
             that process does not see the app's data, so it is not a node of the same app \
             (SPEC 5.10.1); frame: {}",
            reply.raw
        ))),
        _ => Err(Finding::fail(format!(
            "subscribe_instance on node {url}: expected 201 (SPEC 5.3.1), got {}",
            reply.raw
        ))),
    }
}

/// Waits for the update event of `subscription` on a node's connection; a missing event is
/// reported with the node and the likely cause.
async fn expect_update_on(
    ctx: &Ctx,
    conn: &mut Conn,
    url: &str,
    subscription: &Value,
    state: &str,
) -> Step<()> {
    let event = conn
        .expect_event("update", subscription, ctx.until())
        .await
        .map_err(|finding| {
            Finding::fail(format!(
                "no update event reached the subscriber on node {url}: {}; {LIKELY_CAUSE}",
                finding.message
            ))
        })?;
    check_update_event(ctx, &event, subscription, &[state])
}

/// SPEC 5.10.1, 5.10.2: one subscriber on every node (the target's `url` and each of
/// `nodes`); one change through the hook; each subscriber gets exactly one event.
async fn change_reaches_every_node(ctx: Ctx) -> Step<Finding> {
    let mut x = ctx.create().await?;
    let urls = ctx.node_urls();
    let mut conns = Vec::with_capacity(urls.len());
    for (index, url) in urls.iter().enumerate() {
        let mut conn = ctx.open_node(&format!("node{index}"), url).await?;
        let s = json!(1_551_000 + index);
        subscribe_on(&ctx, &mut conn, url, &s, &x.pk).await?;
        conns.push((conn, url, s));
    }
    ctx.change(&mut x).await?;
    for (conn, url, s) in &mut conns {
        expect_update_on(&ctx, conn, url, s, x.state()).await?;
    }
    for (conn, url, _) in &mut conns {
        conn.expect_quiet(
            ctx.quiet(),
            &format!("one change: exactly one event on node {url} (SPEC 5.7.1, 5.10.1)"),
        )
        .await?;
    }
    Ok(Finding::pass(format!(
        "one change through the hook gave one update event on each of the {} nodes",
        conns.len()
    )))
}

/// SPEC 5.10.3: a socket on the last node and one on the first node (the target's `url`,
/// usually the process the hook reaches) subscribe with the same request_id; the first
/// unsubscribes; a change through the hook reaches the last node's socket (across processes)
/// and nothing reaches the first.
async fn unsubscribe_is_per_node(ctx: Ctx) -> Step<Finding> {
    let mut x = ctx.create().await?;
    let urls = ctx.node_urls();
    let (url_keep, url_cancel) = (&urls[urls.len() - 1], &urls[0]);
    let mut keep = ctx.open_node("keep", url_keep).await?;
    let mut cancel = ctx.open_node("cancel", url_cancel).await?;
    // The same request_id on both: an implementation keyed on it alone would cancel both.
    let s = json!(1_551_100);
    subscribe_on(&ctx, &mut keep, url_keep, &s, &x.pk).await?;
    subscribe_on(&ctx, &mut cancel, url_cancel, &s, &x.pk).await?;
    super::s5::unsubscribe(&ctx, &mut cancel, &s, &x.pk).await?;
    ctx.change(&mut x).await?;
    expect_update_on(&ctx, &mut keep, url_keep, &s, x.state()).await?;
    cancel
        .expect_quiet(
            ctx.quiet(),
            &format!("node {url_cancel} unsubscribed: no event may reach it (SPEC 5.4.2)"),
        )
        .await?;
    keep.expect_quiet(
        ctx.quiet(),
        &format!("one change: exactly one event on node {url_keep} (SPEC 5.7.1)"),
    )
    .await?;
    Ok(Finding::pass(format!(
        "after the unsubscribe on {url_cancel}, the subscriber on {url_keep} still got the event and {url_cancel} got none"
    )))
}
