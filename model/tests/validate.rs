//! The validator against real DRF: every case recorded by
//! `interop/shop/record_validation.py` (over the shop app's CRUD WebSocket, and through
//! a plain DRF serializer for the kinds the shop's model lacks) must get the same
//! answer: the same error object, or the same normalised values.

use dcrf_model::validate::{unique_message, validate_value};
use dcrf_model::{ModelOptions, ModelSchema};
use serde_json::Value;

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn shop_product() -> ModelSchema {
    let doc: Value = serde_json::from_str(&read("interop/shop/openapi.json")).unwrap();
    ModelSchema::from_openapi_with(
        &doc,
        "Product",
        &ModelOptions::new()
            .unique(["name"])
            .allow_blank(["secret_note"]),
    )
    .unwrap()
}

#[test]
fn recorded_drf_answers_are_reproduced() {
    let text = read("interop/shop/observed/validation.jsonl");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("header")).unwrap();
    let probe = ModelSchema::from_json_schema(&header["probe_schema"]).unwrap();
    let shop = shop_product();
    let (mut errors, mut accepted) = (0, 0);
    for (i, line) in lines.enumerate() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let model = if rec["source"] == "ws" { &shop } else { &probe };
        let partial = rec["action"] == "patch";
        let got = validate_value(model, &rec["input"], partial);
        let status = rec["status"].as_u64().unwrap();
        let what = format!("case {} {}", i + 2, line);
        if status == 400 {
            let err = got.expect_err(&what);
            assert_eq!(err.to_json(), rec["errors"][0], "{what}");
            errors += 1;
        } else {
            let out = got.unwrap_or_else(|e| panic!("{what}: refused with {e}"));
            for (k, v) in &out {
                if k == "at" {
                    continue; // date-times are kept as sent; DRF's representation is the store's
                }
                if let Some(want) = rec["data"].get(k) {
                    assert_eq!(v, want, "{what}: field {k}");
                } else {
                    assert_eq!(k, "secret_note", "{what}: {k} is not in the reply");
                }
            }
            accepted += 1;
        }
    }
    assert!(
        errors >= 50 && accepted >= 20,
        "{errors} errors, {accepted} accepted"
    );
}

#[test]
fn recorded_unique_message() {
    // OBSERVATIONS.md section 5: `"name": "Hand grinder"` (exists).
    assert_eq!(
        unique_message(&shop_product(), "name"),
        "product with this name already exists."
    );
    assert_eq!(shop_product().unique_fields(), ["name".to_owned()]);
}
