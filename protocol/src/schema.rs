//! JSON Schemas generated from the message types (SPEC §9).

use std::path::Path;

use schemars::{JsonSchema, Schema, generate::SchemaSettings};
use serde_json::Value;

use crate::messages::*;
use crate::{Multiplexed, Reply, Request};

/// Base of every schema's `$id`; the `.invalid` host never resolves, so tools never fetch it.
pub const ID_BASE: &str = "https://dcrf-spec.invalid/schemas";

/// The command that rewrites `schemas/` from the types.
pub const REGENERATE_COMMAND: &str = "UPDATE_SCHEMAS=1 cargo test -p dcrf-protocol --test schemas";

/// A JSON Schema dialect the schemas are published in.
///
/// ```
/// use dcrf_protocol::{Draft, MessageKind};
///
/// let modern = MessageKind::Reply.schema(Draft::Draft2020_12);
/// let old = MessageKind::Reply.schema(Draft::Draft07);
/// assert_eq!(modern["$schema"], "https://json-schema.org/draft/2020-12/schema");
/// assert_eq!(old["$schema"], "http://json-schema.org/draft-07/schema#");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Draft {
    /// JSON Schema 2020-12, the canonical set.
    Draft2020_12,
    /// JSON Schema draft-07: what AsyncAPI payloads and json-schema-to-typescript read.
    Draft07,
}

impl Draft {
    /// Both dialects.
    pub const ALL: [Draft; 2] = [Draft::Draft2020_12, Draft::Draft07];

    /// The folder of `schemas/` holding this dialect.
    ///
    /// ```
    /// use dcrf_protocol::Draft;
    ///
    /// assert_eq!(Draft::ALL.map(Draft::dir), ["2020-12", "draft-07"]);
    /// ```
    pub fn dir(self) -> &'static str {
        match self {
            Draft::Draft2020_12 => "2020-12",
            Draft::Draft07 => "draft-07",
        }
    }

    fn settings(self) -> SchemaSettings {
        match self {
            Draft::Draft2020_12 => SchemaSettings::draft2020_12(),
            Draft::Draft07 => SchemaSettings::draft07(),
        }
    }
}

/// Who sends a message kind.
///
/// ```
/// use dcrf_protocol::{Direction, MessageKind};
///
/// let sent_by_clients: Vec<&str> = MessageKind::ALL
///     .iter()
///     .filter(|kind| kind.direction() == Direction::Client)
///     .map(|kind| kind.file_stem())
///     .collect();
/// assert_eq!(sent_by_clients.len(), 9);
/// assert!(sent_by_clients.contains(&"subscribe-instance-request"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Client,
    /// Server to client.
    Server,
    /// Either way (the multiplexed envelope).
    Both,
}

macro_rules! message_kinds {
    ($($variant:ident => $ty:ty, $file:literal, $direction:ident;)*) => {
        /// Every message kind with a schema of its own.
        ///
        /// ```
        /// use dcrf_protocol::{Draft, FrameValidator, MessageKind};
        ///
        /// assert_eq!(MessageKind::ALL.len(), 22);
        /// let frame = r#"{"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 5}"#;
        /// let kind = FrameValidator::shared().validate_server_frame(frame)?;
        /// assert_eq!(kind, MessageKind::DeleteEvent);
        /// assert_eq!(kind.id(Draft::Draft07), "https://dcrf-spec.invalid/schemas/draft-07/delete-event.json");
        /// # Ok::<(), dcrf_protocol::FrameError>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum MessageKind {
            $(
                #[doc = concat!("`", $file, ".json`")]
                $variant,
            )*
        }

        impl MessageKind {
            /// Every kind, in file order.
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$variant),*];

            /// File stem in `schemas/<draft>/`.
            ///
            /// ```
            /// use dcrf_protocol::MessageKind;
            ///
            /// assert_eq!(MessageKind::UnsubscribeInstanceReply.file_stem(), "unsubscribe-instance-reply");
            /// ```
            pub fn file_stem(self) -> &'static str {
                match self { $(MessageKind::$variant => $file),* }
            }

            /// Who sends this kind.
            ///
            /// ```
            /// use dcrf_protocol::{Direction, MessageKind};
            ///
            /// assert_eq!(MessageKind::PatchRequest.direction(), Direction::Client);
            /// assert_eq!(MessageKind::UpdateEvent.direction(), Direction::Server);
            /// assert_eq!(MessageKind::Multiplexed.direction(), Direction::Both);
            /// ```
            pub fn direction(self) -> Direction {
                match self { $(MessageKind::$variant => Direction::$direction),* }
            }

            fn raw_schema(self, draft: Draft) -> Schema {
                match self {
                    $(MessageKind::$variant => draft.settings().into_generator().into_root_schema_for::<$ty>()),*
                }
            }
        }
    };
}

message_kinds! {
    Request => Request, "request", Client;
    RetrieveRequest => RetrieveRequest, "retrieve-request", Client;
    SubscribeInstanceRequest => SubscribeInstanceRequest, "subscribe-instance-request", Client;
    UnsubscribeInstanceRequest => UnsubscribeInstanceRequest, "unsubscribe-instance-request", Client;
    ListRequest => ListRequest, "list-request", Client;
    CreateRequest => CreateRequest, "create-request", Client;
    UpdateRequest => UpdateRequest, "update-request", Client;
    PatchRequest => PatchRequest, "patch-request", Client;
    DeleteRequest => DeleteRequest, "delete-request", Client;
    Reply => Reply, "reply", Server;
    RetrieveReply => RetrieveReply, "retrieve-reply", Server;
    SubscribeInstanceReply => SubscribeInstanceReply, "subscribe-instance-reply", Server;
    UnsubscribeInstanceReply => UnsubscribeInstanceReply, "unsubscribe-instance-reply", Server;
    UpdateEvent => UpdateEvent, "update-event", Server;
    DeleteEvent => DeleteEvent, "delete-event", Server;
    ListReply => ListReply, "list-reply", Server;
    CreateReply => CreateReply, "create-reply", Server;
    CreateEvent => CreateEvent, "create-event", Server;
    PatchReply => PatchReply, "patch-reply", Server;
    DeleteReply => DeleteReply, "delete-reply", Server;
    ErrorReply => ErrorReply, "error-reply", Server;
    Multiplexed => Multiplexed, "multiplexed", Both;
}

impl MessageKind {
    /// The `$id` of this kind's schema in `draft`.
    ///
    /// ```
    /// use dcrf_protocol::{Draft, MessageKind};
    ///
    /// assert_eq!(
    ///     MessageKind::RetrieveRequest.id(Draft::Draft2020_12),
    ///     "https://dcrf-spec.invalid/schemas/2020-12/retrieve-request.json"
    /// );
    /// ```
    pub fn id(self, draft: Draft) -> String {
        format!("{ID_BASE}/{}/{}.json", draft.dir(), self.file_stem())
    }

    /// The schema of this kind in `draft`, with `$id`, `title`, `description` and `examples`.
    ///
    /// ```
    /// use dcrf_protocol::{Draft, MessageKind};
    /// use serde_json::json;
    ///
    /// let schema = MessageKind::SubscribeInstanceReply.schema(Draft::Draft2020_12);
    /// assert_eq!(schema["title"], "SubscribeInstanceReply");
    /// assert_eq!(schema["properties"]["response_status"]["const"], 201);
    /// assert_eq!(schema["required"], json!(["errors", "data", "action", "response_status", "request_id"]));
    /// ```
    pub fn schema(self, draft: Draft) -> Value {
        let mut schema = self.raw_schema(draft).to_value();
        if let Value::Object(object) = &mut schema {
            // `$schema` first, `$id` second: the order people expect to read.
            let dialect = object.shift_remove("$schema");
            let mut ordered = serde_json::Map::new();
            if let Some(dialect) = dialect {
                ordered.insert("$schema".into(), dialect);
            }
            ordered.insert("$id".into(), Value::from(self.id(draft)));
            ordered.extend(std::mem::take(object));
            *object = ordered;
        }
        schema
    }

    /// The schema as the pretty-printed text checked in under `schemas/`.
    ///
    /// ```
    /// use dcrf_protocol::{Draft, MessageKind};
    ///
    /// let text = MessageKind::ErrorReply.schema_text(Draft::Draft07);
    /// assert!(text.starts_with("{\n  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n  \"$id\": "));
    /// assert!(text.ends_with("}\n"));
    /// ```
    pub fn schema_text(self, draft: Draft) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema(draft)).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Every generated file as (path relative to `schemas/`, contents): the schemas of both
/// dialects and the AsyncAPI document.
///
/// ```
/// let files = dcrf_protocol::schema::schema_files();
/// assert_eq!(files.len(), 2 * 22 + 1);
/// assert!(files.iter().any(|(path, _)| path == "draft-07/update-event.json"));
/// assert_eq!(files.last().map(|(path, _)| path.as_str()), Some("asyncapi.json"));
/// ```
pub fn schema_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Draft::ALL
        .into_iter()
        .flat_map(|draft| {
            MessageKind::ALL.iter().map(move |kind| {
                (
                    format!("{}/{}.json", draft.dir(), kind.file_stem()),
                    kind.schema_text(draft),
                )
            })
        })
        .collect();
    files.push(("asyncapi.json".to_owned(), crate::asyncapi::document_text()));
    files
}

/// Writes every schema file under `root`, creating folders as needed.
///
/// ```
/// let root = std::env::temp_dir().join(format!("dcrf-schemas-{}", std::process::id()));
/// dcrf_protocol::schema::write_schema_files(&root)?;
/// assert!(root.join("2020-12/retrieve-reply.json").is_file());
/// assert!(root.join("asyncapi.json").is_file());
/// std::fs::remove_dir_all(&root)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_schema_files(root: &Path) -> std::io::Result<()> {
    for (relative, contents) in schema_files() {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    Ok(())
}

/// The schema of any `JsonSchema` type in `draft`; for tools that extend this set.
///
/// ```
/// use dcrf_protocol::{Draft, messages::Lookup, schema::schema_for};
///
/// // A message type of your own that embeds this crate's types.
/// #[derive(schemars::JsonSchema)]
/// struct Watch {
///     /// The instance to watch.
///     pk: Lookup,
/// }
/// let schema = schema_for::<Watch>(Draft::Draft2020_12);
/// assert_eq!(schema["title"], "Watch");
/// assert_eq!(schema["properties"]["pk"]["$ref"], "#/$defs/Lookup");
/// ```
pub fn schema_for<T: JsonSchema>(draft: Draft) -> Value {
    draft
        .settings()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}
