//! A DRF serializer's schema as a typed model.
//!
//! `dcrf-model` reads the JSON Schema of one serializer, from a
//! drf-spectacular OpenAPI document (by component name) or from a plain JSON
//! Schema, into a [`ModelSchema`]: its fields with their kinds (integer,
//! decimal string, UUID, date-time, enum, ...), which are read-only or
//! write-only, and its primary key. From that model it derives
//!
//! - the *read* schema of an instance (what the server sends) and the *write*
//!   schemas (what `create`/`update` and `patch` accept), see
//!   [`ModelSchema::read_schema`];
//! - DCRF message schemas with a typed `data` and an AsyncAPI 3 document for
//!   one consumer ([`messages`]), written by the `dcrf-schema` command;
//! - DRF-like validation of writes, with DRF's error shapes and messages
//!   ([`validate`]).
//!
//! The library does no I/O; the command reads and writes the files.
//!
//! ```
//! let doc: serde_json::Value = serde_json::json!({
//!     "openapi": "3.0.3",
//!     "components": {"schemas": {"Product": {"type": "object", "properties": {
//!         "id": {"type": "string", "format": "uuid", "readOnly": true},
//!         "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"},
//!         "note": {"type": "string", "writeOnly": true}
//!     }, "required": ["id", "price"]}}}
//! });
//! let model = dcrf_model::ModelSchema::from_openapi(&doc, "Product").unwrap();
//! assert_eq!(model.pk_kind(), dcrf_model::PkKind::Uuid);
//! assert!(model.read_schema()["properties"].get("note").is_none());
//! assert!(model.write_schema()["properties"].get("id").is_none());
//! ```
//!
//! What a schema cannot say, and the caller gives through [`ModelOptions`]:
//! which fields are unique (OpenAPI has no keyword for it), which text fields
//! accept `""` (drf-spectacular writes the same schema for `blank=True`), and
//! the pk field's name when it is not `id`.

mod error;
pub mod messages;
mod schema;
pub mod validate;

pub use error::SchemaError;
pub use schema::{Field, FieldKind, ModelOptions, ModelSchema, PkKind};
