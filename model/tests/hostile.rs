//! Hostile input never panics: arbitrary JSON as a model schema, as an OpenAPI
//! document, and as create/patch data for every field of the shop's Product.

use dcrf_model::messages::{Action, Consumer, Dialect, asyncapi, message_schemas};
use dcrf_model::validate::{unique_message, validate_value};
use dcrf_model::{ModelOptions, ModelSchema};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        "[-+0-9._eE ]{0,12}".prop_map(Value::String),
        "[0-9T:Z+-]{0,25}".prop_map(Value::String),
        prop::sample::select(vec![
            "$ref",
            "#/components/schemas/CategoryEnum",
            "#/$defs/X",
            "type",
            "string",
            "decimal",
            "uuid",
            "date-time",
            "enum",
            "properties",
            "id",
            "allOf",
            "oneOf",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "$ref",
                        "type",
                        "format",
                        "pattern",
                        "enum",
                        "properties",
                        "required",
                        "allOf",
                        "oneOf",
                        "anyOf",
                        "items",
                        "nullable",
                        "readOnly",
                        "writeOnly",
                        "maxLength",
                        "minimum",
                        "id",
                        "name",
                        "price",
                        "in_stock",
                        "category",
                        "components",
                        "schemas",
                        "openapi",
                        "Product",
                        "$defs",
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn shop() -> ModelSchema {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/shop/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ModelSchema::from_openapi(&doc, "Product").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(12), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_schemas_parse_or_fail_cleanly(schema in json_value()) {
        if let Ok(m) = ModelSchema::from_json_schema(&schema) {
            let consumer = Consumer { path: "/x/".into(), lookup_field: "pk".into(), actions: Action::ALL.to_vec() };
            let _ = message_schemas(&m, &consumer, Dialect::Draft07);
            let _ = asyncapi(&m, &consumer);
            let _ = validate_value(&m, &schema, false);
            let _ = unique_message(&m, "id");
        }
        let doc = json!({"openapi": "3.0.3", "components": {"schemas": {"Product": schema}}});
        let _ = ModelSchema::from_openapi_with(&doc, "Product", &ModelOptions::new().pk("id"));
    }

    #[test]
    fn arbitrary_data_validates_or_fails_cleanly(values in prop::collection::vec(json_value(), 6), partial in any::<bool>()) {
        let model = shop();
        let names = ["name", "price", "in_stock", "category", "secret_note", "id"];
        let data: Map<String, Value> = names.iter().map(|n| n.to_string()).zip(values).collect();
        match validate_value(&model, &Value::Object(data), partial) {
            Ok(out) => prop_assert!(!out.contains_key("id")),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}
