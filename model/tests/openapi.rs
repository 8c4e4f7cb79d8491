//! `ModelSchema` on the shop app's drf-spectacular document and on broken inputs.

use dcrf_model::{FieldKind, ModelOptions, ModelSchema, PkKind, SchemaError};
use serde_json::{Value, json};

fn shop_doc() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/shop/openapi.json");
    let text = std::fs::read_to_string(path).expect("interop/shop/openapi.json");
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

fn product() -> ModelSchema {
    ModelSchema::from_openapi(&shop_doc(), "Product").expect("Product parses")
}

#[test]
fn product_fields_have_their_kinds() {
    let m = product();
    assert_eq!(m.name(), "Product");
    let names: Vec<&str> = m.fields().iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "category",
            "id",
            "in_stock",
            "name",
            "price",
            "secret_note",
            "updated_at"
        ]
    );
    let f = |n: &str| m.field(n).unwrap_or_else(|| panic!("field {n}"));
    assert_eq!(f("id").kind, FieldKind::Uuid);
    assert!(f("id").read_only && f("id").required);
    assert!(matches!(f("name").kind, FieldKind::String { .. }));
    assert_eq!(f("name").max_length, Some(100));
    assert!(f("name").required && !f("name").read_only);
    assert_eq!(
        f("price").kind,
        FieldKind::Decimal {
            max_digits: Some(8),
            decimal_places: Some(2),
            pattern: Some("^-?\\d{0,6}(?:\\.\\d{0,2})?$".into())
        }
    );
    assert_eq!(f("in_stock").kind, FieldKind::Boolean);
    assert!(!f("in_stock").required);
    assert_eq!(
        f("category").kind,
        FieldKind::Enum(vec![
            json!("beans"),
            json!("equipment"),
            json!("accessories")
        ])
    );
    assert!(!f("category").nullable);
    assert!(f("secret_note").write_only);
    assert_eq!(f("secret_note").max_length, Some(200));
    assert_eq!(f("updated_at").kind, FieldKind::DateTime);
    assert!(f("updated_at").read_only);
    assert_eq!(m.pk().name, "id");
    assert_eq!(m.pk_kind(), PkKind::Uuid);
}

#[test]
fn read_and_write_schemas_split_read_only_and_write_only() {
    let m = product();
    let read = m.read_schema();
    assert_eq!(read["title"], "Product");
    assert_eq!(read["additionalProperties"], false);
    assert!(read["properties"].get("secret_note").is_none());
    let mut req: Vec<&str> = read["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    req.sort_unstable();
    assert_eq!(
        req,
        ["category", "id", "in_stock", "name", "price", "updated_at"]
    );
    assert_eq!(read["properties"]["price"]["type"], "string");
    assert_eq!(read["properties"]["id"]["format"], "uuid");
    assert_eq!(
        read["properties"]["category"]["enum"],
        json!(["beans", "equipment", "accessories"])
    );

    let write = m.write_schema();
    assert_eq!(write["title"], "ProductRequest");
    assert!(write["properties"].get("id").is_none());
    assert!(write["properties"].get("updated_at").is_none());
    assert_eq!(write["properties"]["secret_note"]["maxLength"], 200);
    let mut req: Vec<&str> = write["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    req.sort_unstable();
    assert_eq!(req, ["name", "price"]);
    assert_eq!(m.patch_schema()["required"], json!([]));
    assert_eq!(
        m.deleted_schema()["properties"]["pk"],
        json!({"type": "string", "format": "uuid"})
    );
}

#[test]
fn patched_component_has_nothing_required() {
    let m = ModelSchema::from_openapi(&shop_doc(), "PatchedProduct").unwrap();
    assert!(m.fields().iter().all(|f| !f.required));
}

#[test]
fn missing_component_lists_the_available_names() {
    let err = ModelSchema::from_openapi(&shop_doc(), "Produkt").unwrap_err();
    assert_eq!(
        err,
        SchemaError::MissingComponent {
            name: "Produkt".into(),
            pointer: "/components/schemas/Produkt".into(),
            available: vec![
                "CategoryEnum".into(),
                "PatchedProduct".into(),
                "Product".into()
            ],
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("CategoryEnum, PatchedProduct, Product"),
        "{text}"
    );
}

#[test]
fn an_enum_component_is_not_a_model() {
    let err = ModelSchema::from_openapi(&shop_doc(), "CategoryEnum").unwrap_err();
    assert!(
        matches!(&err, SchemaError::NoProperties { pointer, .. } if pointer == "/components/schemas/CategoryEnum"),
        "{err:?}"
    );
}

#[test]
fn malformed_documents_name_the_pointer() {
    let cases = [
        (json!([]), ""),
        (json!({"swagger": "2.0"}), "/openapi"),
        (json!({"openapi": "2.0"}), "/openapi"),
        (json!({"openapi": "3.0.3"}), "/components"),
        (
            json!({"openapi": "3.0.3", "components": {}}),
            "/components/schemas",
        ),
        (
            json!({"openapi": "3.0.3", "components": {"schemas": []}}),
            "/components/schemas",
        ),
    ];
    for (doc, pointer) in cases {
        match ModelSchema::from_openapi(&doc, "Product") {
            Err(SchemaError::Malformed { pointer: p, .. }) => assert_eq!(p, pointer, "{doc}"),
            other => panic!("{doc}: {other:?}"),
        }
    }
}

fn doc_with(product: Value) -> Value {
    json!({"openapi": "3.0.3", "components": {"schemas": {
        "Product": product,
        "KindEnum": {"type": "string", "enum": ["a", "b"]},
        "NullEnum": {"enum": [null]},
        "BlankEnum": {"enum": [""]},
    }}})
}

#[test]
fn unresolvable_ref_names_the_pointer() {
    let doc = doc_with(json!({"type": "object", "properties": {
        "id": {"type": "integer"},
        "kind": {"$ref": "#/components/schemas/Missing"}
    }}));
    let err = ModelSchema::from_openapi(&doc, "Product").unwrap_err();
    assert_eq!(
        err,
        SchemaError::UnresolvedRef {
            pointer: "/components/schemas/Product/properties/kind/$ref".into(),
            reference: "#/components/schemas/Missing".into(),
            reason: "nothing at that pointer in this document".into(),
        }
    );
    let remote = doc_with(json!({"type": "object", "properties": {
        "id": {"type": "integer"},
        "kind": {"$ref": "other.json#/X"}
    }}));
    assert!(matches!(
        ModelSchema::from_openapi(&remote, "Product"),
        Err(SchemaError::UnresolvedRef { .. })
    ));
}

#[test]
fn ref_cycles_are_refused() {
    let doc = json!({"openapi": "3.0.3", "components": {"schemas": {
        "Product": {"type": "object", "properties": {"id": {"$ref": "#/components/schemas/A"}}},
        "A": {"$ref": "#/components/schemas/B"},
        "B": {"$ref": "#/components/schemas/A"},
    }}});
    let err = ModelSchema::from_openapi(&doc, "Product").unwrap_err();
    assert!(matches!(err, SchemaError::Unsupported { .. }), "{err:?}");
}

#[test]
fn unsupported_types_and_missing_pk() {
    let doc = doc_with(json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "blob": {"type": "file"}
    }}));
    let err = ModelSchema::from_openapi(&doc, "Product").unwrap_err();
    assert_eq!(
        err,
        SchemaError::Unsupported {
            pointer: "/components/schemas/Product/properties/blob/type".into(),
            reason: "type \"file\"".into()
        }
    );
    let doc = doc_with(json!({"type": "object", "properties": {"slug": {"type": "string"}}}));
    let err = ModelSchema::from_openapi(&doc, "Product").unwrap_err();
    assert!(
        matches!(&err, SchemaError::Pk { field, .. } if field == "id"),
        "{err:?}"
    );
    assert!(err.to_string().contains("slug"), "{err}");
    let m =
        ModelSchema::from_openapi_with(&doc, "Product", &ModelOptions::new().pk("slug")).unwrap();
    assert_eq!(m.pk_kind(), PkKind::String);
    let err = ModelSchema::from_openapi_with(
        &doc,
        "Product",
        &ModelOptions::new().pk("slug").unique(["nope"]),
    )
    .unwrap_err();
    assert!(matches!(err, SchemaError::UnknownField { .. }), "{err:?}");
    let doc = doc_with(json!({"type": "object", "properties": {"id": {"type": "boolean"}}}));
    assert!(matches!(
        ModelSchema::from_openapi(&doc, "Product"),
        Err(SchemaError::Pk { .. })
    ));
}

#[test]
fn nullable_enums_and_all_of_refs() {
    let doc = doc_with(json!({"type": "object", "properties": {
        "id": {"type": "integer", "readOnly": true},
        "kind": {"allOf": [{"$ref": "#/components/schemas/KindEnum"}], "description": "k"},
        "maybe": {"nullable": true, "oneOf": [
            {"$ref": "#/components/schemas/KindEnum"},
            {"$ref": "#/components/schemas/BlankEnum"},
            {"$ref": "#/components/schemas/NullEnum"}
        ]},
        "count": {"type": ["integer", "null"], "minimum": 0},
        "tags": {"type": "array", "items": {"$ref": "#/components/schemas/KindEnum"}}
    }, "required": ["id", "kind"]}));
    let m = ModelSchema::from_openapi(&doc, "Product").unwrap();
    let kind = m.field("kind").unwrap();
    assert_eq!(kind.kind, FieldKind::Enum(vec![json!("a"), json!("b")]));
    assert_eq!(kind.description.as_deref(), Some("k"));
    let maybe = m.field("maybe").unwrap();
    assert!(maybe.nullable);
    assert_eq!(
        maybe.kind,
        FieldKind::Enum(vec![json!("a"), json!("b"), json!("")])
    );
    let count = m.field("count").unwrap();
    assert_eq!(count.kind, FieldKind::Integer);
    assert!(count.nullable);
    assert_eq!(
        m.field("tags").unwrap().kind,
        FieldKind::Array(json!({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}))
    );
    let read = m.read_schema();
    assert_eq!(
        read["properties"]["maybe"]["enum"],
        json!(["a", "b", "", null])
    );
    assert_eq!(
        read["properties"]["count"]["type"],
        json!(["integer", "null"])
    );
}

#[test]
fn plain_json_schema_with_defs() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tag",
        "type": "object",
        "properties": {
            "id": {"type": "integer", "readOnly": true},
            "colour": {"$ref": "#/$defs/Colour"},
            "when": {"type": "string", "format": "date"}
        },
        "required": ["id", "colour"],
        "$defs": {"Colour": {"enum": ["red", "blue"]}}
    });
    let m = ModelSchema::from_json_schema(&schema).unwrap();
    assert_eq!(m.name(), "Tag");
    assert_eq!(m.pk_kind(), PkKind::Integer);
    assert_eq!(m.field("when").unwrap().kind, FieldKind::Date);
    let err = ModelSchema::from_json_schema(&json!({"type": "string"})).unwrap_err();
    assert!(
        matches!(&err, SchemaError::NoProperties { pointer, .. } if pointer.is_empty()),
        "{err:?}"
    );
    let err =
        ModelSchema::from_json_schema(&json!({"properties": {"id": {"$ref": "#/definitions/X"}}}))
            .unwrap_err();
    assert!(matches!(err, SchemaError::UnresolvedRef { .. }), "{err:?}");
}
