//! The one error type of the crate.

/// Why a schema cannot be turned into a [`crate::ModelSchema`].
///
/// Every variant names the JSON pointer (in the document that was read) of the
/// part that is wrong; the `dcrf-schema` command prefixes the file name.
///
/// ```
/// use dcrf_model::{ModelSchema, SchemaError};
/// use serde_json::json;
///
/// let doc = json!({"openapi": "3.0.3", "components": {"schemas": {
///     "Product": {"type": "object", "properties": {"id": {"type": "integer"}}},
///     "Tag": {"type": "object", "properties": {"id": {"type": "integer"}}}
/// }}});
/// let error = ModelSchema::from_openapi(&doc, "Order").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     r#"no component "Order" at pointer /components/schemas/Order; the components there are: Product, Tag"#
/// );
///
/// let error = ModelSchema::from_json_schema(&json!({"type": "object", "properties": {"sku": {"type": "string"}}})).unwrap_err();
/// assert!(matches!(error, SchemaError::Pk { ref field, .. } if field == "id"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The document is not an OpenAPI 3 document, or a part of it has the
    /// wrong JSON type.
    #[error("malformed document at {}: {reason}", at(pointer))]
    Malformed {
        /// Where the problem is.
        pointer: String,
        /// What is wrong there.
        reason: String,
    },
    /// The requested component is not in `components.schemas`.
    #[error(
        "no component {name:?} at {}; the components there are: {}",
        at(pointer),
        list_or_none(available)
    )]
    MissingComponent {
        /// The component that was asked for.
        name: String,
        /// `/components/schemas/NAME`.
        pointer: String,
        /// The component names the document has, sorted.
        available: Vec<String>,
    },
    /// A `$ref` that is not local (`#/...`) or does not point at anything.
    #[error("unresolvable $ref {reference:?} at {}: {reason}", at(pointer))]
    UnresolvedRef {
        /// Where the `$ref` is.
        pointer: String,
        /// The reference as written.
        reference: String,
        /// Why it cannot be followed.
        reason: String,
    },
    /// The model's schema is not an object schema with `properties`.
    #[error("the schema at {} has no properties: {reason}", at(pointer))]
    NoProperties {
        /// The model schema's pointer.
        pointer: String,
        /// What was found instead.
        reason: String,
    },
    /// A property schema this crate cannot type.
    #[error("unsupported schema at {}: {reason}", at(pointer))]
    Unsupported {
        /// The property schema's pointer.
        pointer: String,
        /// What is not supported.
        reason: String,
    },
    /// The primary-key field is missing or has a kind a pk cannot have.
    #[error("no usable primary key {field:?} at {}: {reason}", at(pointer))]
    Pk {
        /// The pk field name that was looked for.
        field: String,
        /// The model schema's pointer.
        pointer: String,
        /// Why it cannot be the pk (missing: the field names that are there).
        reason: String,
    },
    /// An option names a field the schema does not have.
    #[error(
        "unknown field {field:?} given as {option}; the fields are: {}",
        list_or_none(available)
    )]
    UnknownField {
        /// The field name given.
        field: String,
        /// Which option named it (`unique`, `allow_blank`, `lookup_field`).
        option: String,
        /// The field names of the model.
        available: Vec<String>,
    },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// A JSON pointer for a message: the root (`""`) is spelled out.
fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document root (pointer \"\")".to_owned()
    } else {
        format!("pointer {pointer}")
    }
}
