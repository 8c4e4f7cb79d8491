//! SPEC section 2: transport (frames, malformed input, closing).

use dcrf_protocol::Action;
use serde_json::{Value, json};

use super::s5::subscribe;
use super::{case, check_envelope, check_update_event};
use crate::case::{Case, Ctx, Step};
use crate::verdict::Finding;
use crate::wire::{Conn, ReplyOrClose};

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!(
            "2.1.1",
            "unknown-path-refused",
            Should,
            "2.1",
            "a WebSocket handshake on a path the server does not serve is refused with HTTP 404",
            [],
            false,
            unknown_path_refused
        ),
        case!(
            "2.2.1",
            "frames-are-json-objects",
            Must,
            "2.2",
            "every server frame is a text frame holding one JSON object",
            [],
            true,
            frames_are_objects
        ),
        case!(
            "2.2.2",
            "client-binary-frame",
            Must,
            "2.2",
            "a client binary frame is malformed input: an error reply or a close with a close frame, never silence",
            [],
            false,
            client_binary_frame
        ),
        case!(
            "2.2.6",
            "one-mebibyte-message",
            Must,
            "2.2",
            "a text message of exactly 1 MiB is answered; one byte more is answered or closed with 1009",
            [],
            false,
            one_mebibyte_message
        ),
        case!(
            "2.2.7",
            "invalid-utf8-text-frame",
            Must,
            "2.2",
            "a text frame that is not UTF-8 fails the connection, with close code 1007",
            [],
            false,
            invalid_utf8_text_frame
        ),
        case!(
            "2.2.8",
            "no-greeting",
            Must,
            "2.2",
            "the server sends nothing before the first request",
            [],
            true,
            no_greeting
        ),
        case!(
            "2.3.1",
            "malformed-invalid-json",
            Should,
            "2.3",
            "a frame that is not JSON gets a 400 error reply and the socket stays open",
            [],
            false,
            invalid_json
        ),
        case!(
            "2.3.2",
            "malformed-non-object-json",
            Should,
            "2.3",
            "a JSON frame that is not an object gets a 400 error reply",
            [],
            false,
            non_object_json
        ),
        case!(
            "2.3.3",
            "malformed-missing-lookup",
            Should,
            "2.3",
            "retrieve without the lookup argument gets a 400 error reply",
            [],
            false,
            missing_lookup
        ),
        case!(
            "2.3.4",
            "malformed-subscribe-without-request-id",
            Should,
            "2.3",
            "subscribe_instance without request_id gets a 400 error reply",
            [],
            false,
            subscribe_without_id
        ),
        case!(
            "2.3.5",
            "malformed-subscribe-null-request-id",
            Should,
            "2.3",
            "subscribe_instance with request_id null gets a 400 error reply",
            [],
            false,
            subscribe_null_id
        ),
        case!(
            "2.3.6",
            "malformed-subscribe-object-request-id",
            Should,
            "2.3",
            "subscribe_instance with an object request_id gets a 400 error reply",
            [],
            false,
            subscribe_object_id
        ),
        case!(
            "2.3.7",
            "malformed-action-not-a-string",
            Should,
            "2.3",
            "a request whose action is an object gets an error reply",
            [],
            false,
            action_object
        ),
        case!(
            "2.4.1",
            "close-drops-subscriptions",
            Must,
            "2.4",
            "a closed socket's subscriptions are dropped; a new socket starts with none",
            [Mutation],
            true,
            close_drops_subscriptions
        ),
    ]
}

async fn frames_are_objects(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let ok = json!(1550001);
    let missing = json!(1550002);
    let unknown = json!(1550003);
    a.send(
        ctx.request(Action::Retrieve, &ok, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    a.send(
        ctx.request(Action::Retrieve, &missing, &ctx.target.missing_pk),
        ctx.until(),
    )
    .await?;
    a.send(
        dcrf_protocol::Request::new(Action::Other("no_such_action".into()))
            .with_request_id(unknown.clone()),
        ctx.until(),
    )
    .await?;
    for rid in [&ok, &missing, &unknown] {
        a.expect_reply(rid, ctx.until()).await?;
    }
    // Every text frame received, matched or not, must hold a JSON object. Binary frames are
    // recorded as schema violations, which fail the case too.
    a.settle(std::time::Duration::ZERO).await;
    if let Some(raw) = a.non_object_texts().first() {
        return Err(Finding::fail(format!(
            "a server frame is not a JSON object (SPEC 2.2.1): {raw}"
        )));
    }
    Ok(Finding::pass(
        "every frame was a text frame holding a JSON object",
    ))
}

async fn client_binary_frame(ctx: Ctx) -> Step<Finding> {
    let echo = Echo {
        action: Value::Null,
        request_id: Value::Null,
        statuses: &[400],
    };
    let frame =
        json!({"action": "retrieve", "request_id": 1550009, ctx.lookup(): ctx.target.existing_pk});
    judge_malformed(
        &ctx,
        Malformed::Binary(frame.to_string().into_bytes()),
        echo,
    )
    .await
}

/// The largest text message a server MUST accept (SPEC 2.2.6).
const MEBIBYTE: usize = 1024 * 1024;

/// A `retrieve` of `existing_pk` whose text is exactly `size` bytes: an ignored `pad`
/// argument (SPEC 3.4.2) fills it.
fn retrieve_of_size(ctx: &Ctx, request_id: &Value, size: usize) -> String {
    let bare = json!({"action": "retrieve", "request_id": request_id,
        ctx.lookup(): ctx.target.existing_pk, "pad": ""})
    .to_string();
    let pad = size.saturating_sub(bare.len());
    let text = json!({"action": "retrieve", "request_id": request_id,
        ctx.lookup(): ctx.target.existing_pk, "pad": "x".repeat(pad)})
    .to_string();
    debug_assert_eq!(text.len(), size.max(bare.len()));
    text
}

async fn one_mebibyte_message(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let at_limit = json!(1550110);
    a.send_text(retrieve_of_size(&ctx, &at_limit, MEBIBYTE), ctx.until())
        .await?;
    match a.expect_reply_or_close(&at_limit, ctx.until()).await {
        ReplyOrClose::Reply(reply) => {
            check_envelope(
                &reply,
                "reply to a retrieve of 1 MiB",
                200,
                &json!("retrieve"),
                &at_limit,
            )?;
        }
        ReplyOrClose::Closed(close) => {
            return Err(Finding::fail(format!(
                "a message of 1,048,576 bytes must be accepted (SPEC 2.2.6), but the connection ended ({close})"
            )));
        }
        ReplyOrClose::Nothing => {
            return Err(Finding::fail(
                "no reply to a retrieve of 1,048,576 bytes before the case deadline (SPEC 2.2.6, 4.3.1)",
            ));
        }
    }
    let mut b = ctx.open("b").await?;
    let above = json!(1550111);
    b.send_text(retrieve_of_size(&ctx, &above, MEBIBYTE + 1), ctx.until())
        .await?;
    match b.expect_reply_or_close(&above, ctx.until()).await {
        ReplyOrClose::Reply(_) => Ok(Finding::pass(
            "1 MiB answered, and one byte more too (a server MAY accept more, SPEC 2.2.6)",
        )),
        ReplyOrClose::Closed(close) if close.code == Some(1009) => Ok(Finding::pass(
            "1 MiB answered; one byte more closed with 1009 (SPEC 2.2.6)",
        )),
        ReplyOrClose::Closed(close) => Ok(Finding::non_strict(format!(
            "1 MiB answered; one byte more ended the connection ({close}): SPEC 2.2.6 recommends a close frame with code 1009"
        ))),
        ReplyOrClose::Nothing => Err(Finding::fail(
            "a message of 1,048,577 bytes got neither a reply nor a close before the case deadline (SPEC 4.3.1)",
        )),
    }
}

async fn invalid_utf8_text_frame(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    let mut bytes = br#"{"action": "retrieve", "request_id": 1550112, "pk": 1, "note": ""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(br#""}"#);
    a.send_text_bytes(bytes, ctx.until()).await?;
    match a.next_or_close(ctx.until()).await {
        ReplyOrClose::Closed(close) if close.code == Some(1007) => Ok(Finding::pass(
            "the connection failed with close code 1007 (SPEC 2.2.7)",
        )),
        ReplyOrClose::Closed(close) => Ok(Finding::non_strict(format!(
            "the connection ended ({close}): SPEC 2.2.7 recommends a close frame with code 1007 first"
        ))),
        ReplyOrClose::Reply(frame) => Err(Finding::fail(format!(
            "a text frame that is not UTF-8 fails the connection (SPEC 2.2.7, RFC 6455 section 8.1), but the server answered: {}",
            frame.raw
        ))),
        ReplyOrClose::Nothing => Err(Finding::fail(
            "a text frame that is not UTF-8 fails the connection (SPEC 2.2.7), but it stayed open and silent until the case deadline",
        )),
    }
}

async fn no_greeting(ctx: Ctx) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    a.expect_quiet(
        ctx.quiet(),
        "a server sends nothing before it has received a request (SPEC 2.2.8)",
    )
    .await?;
    Ok(Finding::pass("nothing before the first request"))
}

/// A malformed frame a case sends.
enum Malformed<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame (SPEC 2.2.1).
    Binary(Vec<u8>),
}

/// What the client can read back from the malformed frame it sent.
struct Echo {
    action: Value,
    request_id: Value,
    /// Statuses graded PASS (SPEC 2.3.2 says 400; an unusable action may also be a 405).
    statuses: &'static [u64],
}

/// Sends `text` and grades what happens (SPEC 2.3): a 400 error reply with the echo and an
/// open socket passes; a close with 1011/1008 is conforming but NON-STRICT; a close without
/// a close frame, a success reply or silence fails.
async fn judge_malformed(ctx: &Ctx, frame: Malformed<'_>, echo: Echo) -> Step<Finding> {
    let mut a = ctx.open("a").await?;
    match frame {
        Malformed::Text(text) => a.send_text(text.to_owned(), ctx.until()).await?,
        Malformed::Binary(bytes) => a.send_binary(bytes, ctx.until()).await?,
    }
    match a.next_or_close(ctx.until()).await {
        ReplyOrClose::Reply(frame) => {
            let status = frame.status().unwrap_or(0);
            if !(400..500).contains(&status) {
                return Err(Finding::fail(format!(
                    "malformed input must get an error reply or a close (SPEC 2.3.1); got: {}",
                    frame.raw
                )));
            }
            check_envelope(
                &frame,
                "error reply to malformed input",
                status,
                frame.action(),
                frame.request_id(),
            )?;
            let mut notes = Vec::new();
            if !echo.statuses.contains(&status) {
                notes.push(format!("status {status} instead of {:?}", echo.statuses));
            }
            if frame.action() != &echo.action || frame.request_id() != &echo.request_id {
                notes.push(format!(
                    "action {} and request_id {} echoed, expected {} and {}",
                    frame.action(),
                    frame.request_id(),
                    echo.action,
                    echo.request_id
                ));
            }
            if let Some(close) = still_open(ctx, &mut a).await? {
                notes.push(format!("then the socket closed ({close})"));
            }
            if notes.is_empty() {
                Ok(Finding::pass(
                    "400 error reply with the echo; the socket stays open",
                ))
            } else {
                Ok(Finding::non_strict(format!(
                    "error reply, but SPEC 2.3.2 recommends otherwise: {}",
                    notes.join("; ")
                )))
            }
        }
        ReplyOrClose::Closed(close) => match close.code {
            Some(code @ (1011 | 1008)) => Ok(Finding::non_strict(format!(
                "closed with code {code} and no reply: conforming (SPEC 2.3.1, 2.3.3) but SPEC 2.3.2 recommends a 400 error reply"
            ))),
            Some(code) => Ok(Finding::non_strict(format!(
                "closed with code {code} and no reply; SPEC 2.3.3 recommends 1011 or 1008, SPEC 2.3.2 an error reply"
            ))),
            None => Err(Finding::fail(format!(
                "the connection ended without a close frame ({close}); a server that closes MUST send one (SPEC 2.3.3)"
            ))),
        },
        ReplyOrClose::Nothing => Err(Finding::fail(
            "neither an error reply nor a close before the case deadline (SPEC 2.3.1)",
        )),
    }
}

/// Checks the socket still answers a retrieve; returns how it closed if it did not.
async fn still_open(ctx: &Ctx, a: &mut Conn) -> Step<Option<String>> {
    if let Some(close) = a.closed() {
        return Ok(Some(close.to_string()));
    }
    let probe = json!("still-open");
    a.send(
        ctx.request(Action::Retrieve, &probe, &ctx.target.existing_pk),
        ctx.until(),
    )
    .await?;
    match a.expect_reply_or_close(&probe, ctx.until()).await {
        ReplyOrClose::Reply(_) => Ok(None),
        ReplyOrClose::Closed(close) => Ok(Some(close.to_string())),
        ReplyOrClose::Nothing => Err(Finding::fail(
            "after the error reply the socket neither answered a retrieve nor closed",
        )),
    }
}

async fn invalid_json(ctx: Ctx) -> Step<Finding> {
    let echo = Echo {
        action: Value::Null,
        request_id: Value::Null,
        statuses: &[400],
    };
    judge_malformed(
        &ctx,
        Malformed::Text(r#"{"action": "retrieve", "request_id": 7,"#),
        echo,
    )
    .await
}

async fn non_object_json(ctx: Ctx) -> Step<Finding> {
    let echo = Echo {
        action: Value::Null,
        request_id: Value::Null,
        statuses: &[400],
    };
    judge_malformed(&ctx, Malformed::Text(r#"["retrieve", 1]"#), echo).await
}

async fn missing_lookup(ctx: Ctx) -> Step<Finding> {
    let echo = Echo {
        action: json!("retrieve"),
        request_id: json!(1550004),
        statuses: &[400],
    };
    judge_malformed(
        &ctx,
        Malformed::Text(r#"{"action": "retrieve", "request_id": 1550004}"#),
        echo,
    )
    .await
}

fn subscribe_frame(ctx: &Ctx, request_id: Option<Value>) -> String {
    let mut frame = serde_json::Map::new();
    frame.insert("action".into(), json!("subscribe_instance"));
    if let Some(request_id) = request_id {
        frame.insert("request_id".into(), request_id);
    }
    frame.insert(ctx.lookup().to_owned(), ctx.target.existing_pk.clone());
    Value::Object(frame).to_string()
}

async fn subscribe_without_id(ctx: Ctx) -> Step<Finding> {
    let echo = Echo {
        action: json!("subscribe_instance"),
        request_id: Value::Null,
        statuses: &[400],
    };
    judge_malformed(&ctx, Malformed::Text(&subscribe_frame(&ctx, None)), echo).await
}

async fn subscribe_null_id(ctx: Ctx) -> Step<Finding> {
    let echo = Echo {
        action: json!("subscribe_instance"),
        request_id: Value::Null,
        statuses: &[400],
    };
    judge_malformed(
        &ctx,
        Malformed::Text(&subscribe_frame(&ctx, Some(Value::Null))),
        echo,
    )
    .await
}

async fn subscribe_object_id(ctx: Ctx) -> Step<Finding> {
    let request_id = json!({"id": 1550005});
    let echo = Echo {
        action: json!("subscribe_instance"),
        request_id: request_id.clone(),
        statuses: &[400],
    };
    judge_malformed(
        &ctx,
        Malformed::Text(&subscribe_frame(&ctx, Some(request_id))),
        echo,
    )
    .await
}

async fn action_object(ctx: Ctx) -> Step<Finding> {
    let action = json!({"name": "retrieve"});
    let echo = Echo {
        action: action.clone(),
        request_id: json!(1550006),
        statuses: &[400, 405],
    };
    let text = json!({"action": action, "request_id": 1550006}).to_string();
    judge_malformed(&ctx, Malformed::Text(&text), echo).await
}

async fn close_drops_subscriptions(ctx: Ctx) -> Step<Finding> {
    let mut x = ctx.create().await?;
    let mut a = ctx.open("a").await?;
    let mut b = ctx.open("b").await?;
    let s = json!(1550007);
    let control = json!(1550008);
    subscribe(&ctx, &mut a, &s, &x.pk).await?;
    subscribe(&ctx, &mut b, &control, &x.pk).await?;
    a.close().await;
    let mut c = ctx.open("c").await?;
    ctx.change(&mut x).await?;
    let event = b.expect_event("update", &control, ctx.until()).await?;
    check_update_event(&ctx, &event, &control, &[x.state()])?;
    c.expect_quiet(
        ctx.quiet(),
        "a new connection starts with no subscription (SPEC 2.4.2)",
    )
    .await?;
    Ok(Finding::pass(
        "after a socket closed, its subscription was gone and the server kept serving the others",
    ))
}

/// The observer URL with its path replaced by one no server of the protocol serves.
fn unknown_path(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("ws", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/dcrf-conformance-no-such-endpoint/")
}

/// SPEC 2.1: a handshake on a path the server does not serve fails; it SHOULD be a 404
/// (DCRF under Daphne answers 500).
async fn unknown_path_refused(ctx: Ctx) -> Step<Finding> {
    let url = unknown_path(&ctx.target.url);
    let timeout = ctx.connect_timeout.min(
        ctx.until()
            .saturating_duration_since(tokio::time::Instant::now()),
    );
    let attempt = Conn::connect(
        "a",
        &url,
        ctx.recorder.clone(),
        ctx.lookup(),
        None,
        timeout,
        &ctx.transport,
    )
    .await;
    let refused = match attempt {
        Ok(conn) => {
            conn.close().await;
            return Ok(Finding::non_strict(format!(
                "the server accepted a WebSocket on {url}, a path it does not document; SPEC 2.1 recommends refusing it with 404"
            )));
        }
        Err(error) => error,
    };
    let status = refused
        .downcast_ref::<tokio_tungstenite::tungstenite::Error>()
        .and_then(|error| match error {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                Some(response.status().as_u16())
            }
            _ => None,
        });
    ctx.recorder.log(
        "a",
        crate::wire::WireEvent::Note {
            text: format!("handshake on {url} refused: {refused}"),
        },
    );
    match status {
        Some(404) => Ok(Finding::pass("the handshake was refused with HTTP 404")),
        Some(status) => Ok(Finding::non_strict(format!(
            "the handshake was refused with HTTP {status}; SPEC 2.1 recommends 404"
        ))),
        None => Ok(Finding::non_strict(format!(
            "the handshake failed without an HTTP status ({refused}); SPEC 2.1 recommends HTTP 404"
        ))),
    }
}
