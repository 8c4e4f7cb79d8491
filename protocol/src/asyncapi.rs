//! The AsyncAPI 3 document of the protocol, generated from the same types as the schemas (SPEC §9).
//!
//! It describes a DCRF server: the operations it receives (each request, with its replies and
//! `request_id` as the correlation id) and the events it sends. Payloads are the draft-07
//! schemas of [`crate::schema`], their shared definitions moved to `components/schemas`.

use serde_json::{Map, Value, json};

use crate::schema::{Draft, MessageKind};

/// A request the server receives: its operation name, request kind and possible replies.
struct Exchange {
    operation: &'static str,
    summary: &'static str,
    request: MessageKind,
    replies: &'static [MessageKind],
}

const EXCHANGES: &[Exchange] = &[
    Exchange {
        operation: "retrieve",
        summary: "Read one instance (SPEC 5.1, 5.2).",
        request: MessageKind::RetrieveRequest,
        replies: &[MessageKind::RetrieveReply, MessageKind::ErrorReply],
    },
    Exchange {
        operation: "subscribeInstance",
        summary: "Subscribe to changes of one instance (SPEC 5.3).",
        request: MessageKind::SubscribeInstanceRequest,
        replies: &[MessageKind::SubscribeInstanceReply, MessageKind::ErrorReply],
    },
    Exchange {
        operation: "unsubscribeInstance",
        summary: "Cancel this socket's subscriptions to one instance (SPEC 5.4).",
        request: MessageKind::UnsubscribeInstanceRequest,
        replies: &[
            MessageKind::UnsubscribeInstanceReply,
            MessageKind::ErrorReply,
        ],
    },
    Exchange {
        operation: "list",
        summary: "Read every instance (SPEC 6.1).",
        request: MessageKind::ListRequest,
        replies: &[MessageKind::ListReply, MessageKind::ErrorReply],
    },
    Exchange {
        operation: "create",
        summary: "Create an instance (SPEC 6.2).",
        request: MessageKind::CreateRequest,
        replies: &[MessageKind::CreateReply, MessageKind::ErrorReply],
    },
    Exchange {
        operation: "update",
        summary: "Replace an instance's fields (SPEC 6.3).",
        request: MessageKind::UpdateRequest,
        replies: &[MessageKind::UpdateEvent, MessageKind::ErrorReply],
    },
    Exchange {
        operation: "patch",
        summary: "Change some of an instance's fields (SPEC 6.4).",
        request: MessageKind::PatchRequest,
        replies: &[MessageKind::PatchReply, MessageKind::ErrorReply],
    },
    Exchange {
        operation: "delete",
        summary: "Delete an instance (SPEC 6.5).",
        request: MessageKind::DeleteRequest,
        replies: &[MessageKind::DeleteReply, MessageKind::ErrorReply],
    },
    Exchange {
        operation: "customAction",
        summary: "Any other action; unknown ones are answered 405 (SPEC 7.1, 7.2).",
        request: MessageKind::Request,
        replies: &[MessageKind::Reply, MessageKind::ErrorReply],
    },
];

/// Events the server pushes to subscriptions.
const EVENTS: &[(&str, &str, MessageKind)] = &[
    (
        "sendUpdateEvent",
        "A subscribed instance changed (SPEC 5.5, 5.8).",
        MessageKind::UpdateEvent,
    ),
    (
        "sendDeleteEvent",
        "A subscribed instance was deleted (SPEC 5.6).",
        MessageKind::DeleteEvent,
    ),
    (
        "sendCreateEvent",
        "A subscribed instance was saved again after its row was deleted (SPEC 5.6.3).",
        MessageKind::CreateEvent,
    ),
    (
        "sendErrorEvent",
        "An update event whose instance was deleted before delivery (SPEC 5.8.3).",
        MessageKind::ErrorReply,
    ),
];

/// The message id of a kind in `components/messages`: its file stem in camelCase.
fn message_id(kind: MessageKind) -> String {
    let mut id = String::new();
    let mut upper = false;
    for c in kind.file_stem().chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            id.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            id.push(c);
        }
    }
    id
}

/// Rewrites `#/definitions/X` references to `#/components/schemas/X`.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/definitions/")
            {
                *reference = format!("#/components/schemas/{name}");
            }
            object.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// The payload schema of a kind, with its definitions moved into `schemas`.
fn payload(kind: MessageKind, schemas: &mut Map<String, Value>) -> (Value, Value) {
    let mut schema = kind.schema(Draft::Draft07);
    let mut examples = Value::Array(Vec::new());
    if let Value::Object(object) = &mut schema {
        object.shift_remove("$schema");
        object.shift_remove("$id");
        if let Some(Value::Object(definitions)) = object.shift_remove("definitions") {
            for (name, mut definition) in definitions {
                rewrite_refs(&mut definition);
                schemas.insert(name, definition);
            }
        }
        if let Some(found) = object.shift_remove("examples") {
            examples = found;
        }
    }
    rewrite_refs(&mut schema);
    (schema, examples)
}

/// The AsyncAPI 3.0 document as a JSON value.
///
/// ```
/// let document = dcrf_protocol::asyncapi::document();
/// assert_eq!(document["asyncapi"], "3.0.0");
/// assert_eq!(document["channels"]["consumer"]["messages"]["retrieveRequest"]["$ref"], "#/components/messages/retrieveRequest");
/// assert_eq!(document["operations"]["sendUpdateEvent"]["action"], "send");
/// ```
pub fn document() -> Value {
    let mut schemas = Map::new();
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let kinds: Vec<MessageKind> = EXCHANGES
        .iter()
        .flat_map(|exchange| {
            std::iter::once(exchange.request).chain(exchange.replies.iter().copied())
        })
        .chain(EVENTS.iter().map(|(_, _, kind)| *kind))
        .collect();
    let mut seen = Vec::new();
    for kind in kinds {
        if seen.contains(&kind) {
            continue;
        }
        seen.push(kind);
        let id = message_id(kind);
        let (schema, examples) = payload(kind, &mut schemas);
        let title = schema.get("title").cloned().unwrap_or(Value::Null);
        let description = schema.get("description").cloned().unwrap_or(Value::Null);
        let examples: Vec<Value> = examples
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|example| json!({"payload": example}))
                    .collect()
            })
            .unwrap_or_default();
        let mut message = json!({
            "name": id,
            "title": title,
            "summary": description,
            "contentType": "application/json",
            "correlationId": {"$ref": "#/components/correlationIds/requestId"},
            "payload": schema,
        });
        if !examples.is_empty() {
            message["examples"] = Value::Array(examples);
        }
        messages.insert(id.clone(), message);
        channel_messages.insert(
            id.clone(),
            json!({"$ref": format!("#/components/messages/{id}")}),
        );
    }

    let (multiplexed, multiplexed_examples) = payload(MessageKind::Multiplexed, &mut schemas);
    messages.insert(
        "multiplexed".into(),
        json!({
            "name": "multiplexed",
            "title": "Multiplexed",
            "summary": multiplexed.get("description").cloned().unwrap_or(Value::Null),
            "contentType": "application/json",
            "payload": multiplexed,
            "examples": multiplexed_examples
                .as_array()
                .map(|list| list.iter().map(|example| json!({"payload": example})).collect::<Vec<_>>())
                .unwrap_or_default(),
        }),
    );

    let message_ref = |kind: MessageKind| json!({"$ref": format!("#/channels/consumer/messages/{}", message_id(kind))});
    let mut operations = Map::new();
    for exchange in EXCHANGES {
        operations.insert(
            exchange.operation.into(),
            json!({
                "action": "receive",
                "summary": exchange.summary,
                "channel": {"$ref": "#/channels/consumer"},
                "messages": [message_ref(exchange.request)],
                "reply": {
                    "channel": {"$ref": "#/channels/consumer"},
                    "messages": exchange.replies.iter().map(|kind| message_ref(*kind)).collect::<Vec<_>>(),
                },
            }),
        );
    }
    for (operation, summary, kind) in EVENTS {
        operations.insert(
            (*operation).into(),
            json!({
                "action": "send",
                "summary": summary,
                "channel": {"$ref": "#/channels/consumer"},
                "messages": [message_ref(*kind)],
            }),
        );
    }
    operations.insert(
        "multiplexedFrame".into(),
        json!({
            "action": "receive",
            "summary": "A frame of a multiplexed socket; the payload is any message of the consumer channel (SPEC 8).",
            "channel": {"$ref": "#/channels/multiplexed"},
            "messages": [{"$ref": "#/channels/multiplexed/messages/multiplexed"}],
            "reply": {
                "channel": {"$ref": "#/channels/multiplexed"},
                "messages": [{"$ref": "#/channels/multiplexed/messages/multiplexed"}],
            },
        }),
    );

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "djangochannelsrestframework WebSocket protocol",
            "version": "1.3.0",
            "description": "REST-like actions and live instance subscriptions over one WebSocket, as served by djangochannelsrestframework 1.3.0 and specified by dcrf-spec's SPEC.md. Generated from the dcrf-protocol types; do not edit.",
            "license": {"name": "MIT OR Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "reference": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "description": "dcrf-reference-server or a Django server on loopback.",
            },
        },
        "channels": {
            "consumer": {
                "address": "/ws/",
                "title": "Consumer",
                "description": "One DCRF consumer: ObserverModelInstanceMixin with GenericAsyncAPIConsumer and, on servers that offer them, the model mixins.",
                "messages": channel_messages,
            },
            "multiplexed": {
                "address": "/ws/multiplexed/",
                "title": "Multiplexed consumers",
                "description": "channelsmultiplexer's demultiplexer: every frame wrapped as {stream, payload}.",
                "messages": {"multiplexed": {"$ref": "#/components/messages/multiplexed"}},
            },
        },
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                "requestId": {
                    "description": "The request_id a client sends, echoed by the reply; events carry the request_id of the subscribing request (SPEC 4.2, 5.5).",
                    "location": "$message.payload#/request_id",
                },
            },
        },
    })
}

/// The document as the pretty-printed text checked in as `schemas/asyncapi.json`.
///
/// ```
/// use dcrf_protocol::asyncapi::{document, document_text};
///
/// let text = document_text();
/// assert!(text.starts_with("{\n  \"asyncapi\": \"3.0.0\""));
/// assert_eq!(serde_json::from_str::<serde_json::Value>(&text)?, document());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}
