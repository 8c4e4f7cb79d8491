//! `--data-schema FILE`: the app's own instance schema (for example `2020-12/product.json` written
//! by `dcrf-schema` from the serializer's drf-spectacular component). With it, the `data` of
//! every successful reply and event that carries an instance (retrieve, create, update and
//! patch replies; update and create events; each element of a list reply) must validate
//! against it, or the case that received the frame fails with the field's path.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Error;

/// Most violations quoted for one frame.
const QUOTED: usize = 3;

/// A compiled instance schema.
pub struct DataSchema {
    path: PathBuf,
    validator: jsonschema::Validator,
}

impl fmt::Debug for DataSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSchema")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PartialEq for DataSchema {
    /// Two schemas are the same when they were read from the same file.
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl DataSchema {
    /// Reads and compiles a JSON Schema file (its `$schema` picks the draft; 2020-12 when
    /// absent).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let invalid =
            |why: String| Error::InvalidTarget(format!("--data-schema {}: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        let schema: Value =
            serde_json::from_str(&text).map_err(|error| invalid(format!("not JSON: {error}")))?;
        Self::from_value(&schema, path).map_err(invalid)
    }

    /// Compiles `schema`; `path` names it in messages.
    pub fn from_value(schema: &Value, path: &Path) -> Result<Self, String> {
        if !schema.is_object() {
            return Err("a JSON Schema must be an object".to_owned());
        }
        let validator = jsonschema::validator_for(schema)
            .map_err(|error| format!("not a valid JSON Schema: {error}"))?;
        Ok(DataSchema {
            path: path.to_owned(),
            validator,
        })
    }

    /// Checks the instance `data` of a frame whose `action` is `action`: `Err` names the
    /// first violations with their instance paths (`/data/price: ...`).
    pub(crate) fn check_frame(&self, frame: &Value) -> Result<(), String> {
        let status = frame.get("response_status").and_then(Value::as_u64);
        if !status.is_some_and(|status| (200..300).contains(&status)) {
            return Ok(());
        }
        let action = frame
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let data = frame.get("data").unwrap_or(&Value::Null);
        match action {
            "retrieve" | "create" | "update" | "patch" => self.check_instance(data, "/data"),
            "list" => match data {
                Value::Array(items) => items.iter().enumerate().try_for_each(|(index, item)| {
                    self.check_instance(item, &format!("/data/{index}"))
                }),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn check_instance(&self, data: &Value, prefix: &str) -> Result<(), String> {
        let mut errors = self.validator.iter_errors(data);
        let Some(first) = errors.next() else {
            return Ok(());
        };
        let mut quoted = vec![format!(
            "{prefix}{}: {first}",
            first.instance_path().as_str()
        )];
        let mut more = 0usize;
        for error in errors {
            if quoted.len() < QUOTED {
                quoted.push(format!(
                    "{prefix}{}: {error}",
                    error.instance_path().as_str()
                ));
            } else {
                more += 1;
            }
        }
        if more > 0 {
            quoted.push(format!("{more} more"));
        }
        Err(format!(
            "data does not match the data schema {} (the app's serializer drifted from its published schema?): {}",
            self.path.display(),
            quoted.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> DataSchema {
        DataSchema::from_value(
            &json!({
                "type": "object",
                "properties": {"id": {"type": "integer"}, "price": {"type": "string"}},
                "required": ["id", "price"]
            }),
            Path::new("product.json"),
        )
        .unwrap_or_else(|why| panic!("{why}"))
    }

    #[test]
    fn a_wrong_field_type_names_its_path() {
        let frame = json!({"errors": [], "data": {"id": 1, "price": 9.99}, "action": "update", "response_status": 200, "request_id": 1});
        let why = schema().check_frame(&frame).expect_err("price is a number");
        assert!(why.contains("/data/price"), "{why}");
        assert!(why.contains("product.json"), "{why}");
    }

    #[test]
    fn list_items_are_checked_each_with_its_index() {
        let frame = json!({"errors": [], "data": [{"id": 1, "price": "1.00"}, {"id": "x", "price": "2.00"}], "action": "list", "response_status": 200, "request_id": 1});
        let why = schema().check_frame(&frame).expect_err("id is a string");
        assert!(why.contains("/data/1/id"), "{why}");
    }

    #[test]
    fn errors_deletes_and_matching_data_pass() {
        let schema = schema();
        for frame in [
            json!({"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 1}),
            json!({"errors": [], "data": {"pk": 1}, "action": "delete", "response_status": 204, "request_id": 1}),
            json!({"errors": [], "data": {"id": 1, "price": "9.99"}, "action": "retrieve", "response_status": 200, "request_id": 1}),
            json!({"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": 1}),
        ] {
            assert_eq!(schema.check_frame(&frame), Ok(()), "{frame}");
        }
    }

    #[test]
    fn a_schema_that_is_not_one_is_refused() {
        assert!(DataSchema::from_value(&json!([1]), Path::new("x.json")).is_err());
        assert!(DataSchema::from_value(&json!({"type": 5}), Path::new("x.json")).is_err());
    }
}
