//! Reading a serializer's schema: an OpenAPI component or a JSON Schema.

use serde_json::{Map, Number, Value, json};

use crate::SchemaError;

/// How deep `$ref` chains and nested schemas may go before the schema is
/// refused (a cycle, or a schema built to exhaust the stack).
const MAX_DEPTH: usize = 32;

/// The JSON type of a field and what DRF field it stands for.
///
/// ```
/// use dcrf_model::{FieldKind, ModelSchema};
/// use serde_json::json;
///
/// let model = ModelSchema::from_json_schema(&json!({"type": "object", "properties": {
///     "id": {"type": "integer", "readOnly": true},
///     "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"},
///     "size": {"enum": ["S", "M", "L", null], "nullable": true},
///     "email": {"type": "string", "format": "email"}
/// }}))?;
/// assert_eq!(model.field("id").unwrap().kind, FieldKind::Integer);
/// match &model.field("price").unwrap().kind {
///     FieldKind::Decimal { max_digits, decimal_places, .. } => {
///         assert_eq!((*max_digits, *decimal_places), (Some(8), Some(2)));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(model.field("size").unwrap().kind, FieldKind::Enum(vec![json!("S"), json!("M"), json!("L")]));
/// assert!(matches!(&model.field("email").unwrap().kind, FieldKind::String { format: Some(f), .. } if f == "email"));
/// # Ok::<(), dcrf_model::SchemaError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldKind {
    /// `type: integer` (DRF `IntegerField`).
    Integer,
    /// `type: number` (DRF `FloatField`, or a decimal not coerced to a string).
    Number,
    /// `type: string` without a format this crate types more closely (DRF `CharField`).
    String {
        /// `format`, when the schema gives one this crate does not model (`email`, `uri`, ...).
        format: Option<String>,
        /// `pattern`, if any.
        pattern: Option<String>,
    },
    /// A decimal sent as a string (`type: string, format: decimal`, DRF `DecimalField`).
    /// drf-spectacular writes the digits as a `pattern` such as
    /// `^-?\d{0,6}(?:\.\d{0,2})?$`; `max_digits` and `decimal_places` are read from it.
    Decimal {
        /// Total digits allowed (`max_digits`), when known.
        max_digits: Option<u32>,
        /// Digits after the point (`decimal_places`), when known.
        decimal_places: Option<u32>,
        /// The pattern as written, if any.
        pattern: Option<String>,
    },
    /// `type: string, format: uuid` (DRF `UUIDField`).
    Uuid,
    /// `type: string, format: date-time` (DRF `DateTimeField`).
    DateTime,
    /// `type: string, format: date` (DRF `DateField`).
    Date,
    /// `type: boolean` (DRF `BooleanField`).
    Boolean,
    /// `enum` (DRF `ChoiceField`): the allowed values, `null` excluded.
    Enum(Vec<Value>),
    /// A nested object, kept as its schema with local `$ref`s inlined.
    Object(Value),
    /// An array, kept as its schema with local `$ref`s inlined.
    Array(Value),
}

/// One field of the model.
///
/// ```
/// use dcrf_model::ModelSchema;
/// use serde_json::json;
///
/// let model = ModelSchema::from_json_schema(&json!({"type": "object", "properties": {
///     "id": {"type": "integer", "readOnly": true},
///     "name": {"type": "string", "maxLength": 100, "description": "Shown in the shop."},
///     "discontinued": {"type": "string", "format": "date", "nullable": true}
/// }, "required": ["id", "name"]}))?;
/// let name = model.field("name").unwrap();
/// assert!(name.required && !name.read_only && !name.nullable);
/// assert_eq!((name.max_length, name.description.as_deref()), (Some(100), Some("Shown in the shop.")));
/// let discontinued = model.field("discontinued").unwrap();
/// assert!(!discontinued.required && discontinued.nullable);
/// # Ok::<(), dcrf_model::SchemaError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Field {
    /// The property name on the wire.
    pub name: String,
    /// Its type.
    pub kind: FieldKind,
    /// Listed in the schema's `required` (for drf-spectacular: required on
    /// create, or read-only).
    pub required: bool,
    /// `readOnly`: sent by the server, ignored on writes.
    pub read_only: bool,
    /// `writeOnly`: accepted on writes, never sent.
    pub write_only: bool,
    /// `nullable: true`, a `null` in `type`, or a null branch in `oneOf`.
    pub nullable: bool,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `minimum`.
    pub minimum: Option<Number>,
    /// `maximum`.
    pub maximum: Option<Number>,
    /// `description`.
    pub description: Option<String>,
    /// `default`, when the schema states one.
    pub default: Option<Value>,
}

/// The kind of the primary key, which decides how a stand-in server makes one.
///
/// ```
/// use dcrf_model::{ModelOptions, ModelSchema, PkKind};
/// use serde_json::json;
///
/// let schema = json!({"type": "object", "properties": {
///     "id": {"type": "integer", "readOnly": true},
///     "uuid": {"type": "string", "format": "uuid", "readOnly": true},
///     "slug": {"type": "string"}
/// }});
/// assert_eq!(ModelSchema::from_json_schema(&schema)?.pk_kind(), PkKind::Integer);
/// let by_uuid = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().pk("uuid"))?;
/// assert_eq!(by_uuid.pk_kind(), PkKind::Uuid);
/// let by_slug = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().pk("slug"))?;
/// assert_eq!(by_slug.pk_kind(), PkKind::String);
/// # Ok::<(), dcrf_model::SchemaError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkKind {
    /// An integer (auto-increment).
    Integer,
    /// A UUID string (generated).
    Uuid,
    /// Any other string (a slug, given on create).
    String,
}

/// Choices the schema cannot express, given by the caller.
///
/// ```
/// use dcrf_model::{ModelOptions, ModelSchema};
/// use serde_json::json;
///
/// let schema = json!({"type": "object", "properties": {
///     "code": {"type": "string", "maxLength": 12},
///     "name": {"type": "string"},
///     "note": {"type": "string"}
/// }});
/// // A model whose pk is `code`, with a unique `name` and a `blank=True` note.
/// let options = ModelOptions::new().pk("code").unique(["name"]).allow_blank(["note"]);
/// let model = ModelSchema::from_json_schema_with(&schema, &options)?;
/// assert_eq!(model.pk().name, "code");
/// assert_eq!(model.unique_fields(), ["name"]);
/// assert!(model.allows_blank("note") && !model.allows_blank("name"));
///
/// // An option that names no field is refused, with the names there are.
/// let error = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().pk("code").unique(["title"])).unwrap_err();
/// assert_eq!(error.to_string(), r#"unknown field "title" given as unique; the fields are: code, name, note"#);
/// # Ok::<(), dcrf_model::SchemaError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOptions {
    pk: Option<String>,
    unique: Vec<String>,
    allow_blank: Vec<String>,
}

impl ModelOptions {
    /// Defaults: the pk field is `id`, no field is unique, no text field may be blank.
    ///
    /// ```
    /// use dcrf_model::ModelOptions;
    ///
    /// assert_eq!(ModelOptions::new(), ModelOptions::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The name of the primary-key field (default `id`).
    ///
    /// ```
    /// use dcrf_model::{ModelOptions, ModelSchema};
    /// use serde_json::json;
    ///
    /// let schema = json!({"type": "object", "properties": {"slug": {"type": "string"}, "title": {"type": "string"}}});
    /// // Without the option the pk is `id`, which this schema does not have.
    /// assert!(ModelSchema::from_json_schema(&schema).is_err());
    /// let model = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().pk("slug"))?;
    /// assert_eq!(model.pk().name, "slug");
    /// # Ok::<(), dcrf_model::SchemaError>(())
    /// ```
    pub fn pk(mut self, name: impl Into<String>) -> Self {
        self.pk = Some(name.into());
        self
    }

    /// Fields with a unique constraint. OpenAPI and JSON Schema cannot say
    /// that a field is unique, so the caller does.
    ///
    /// ```
    /// use dcrf_model::{ModelOptions, ModelSchema, validate::unique_message};
    /// use serde_json::json;
    ///
    /// let schema = json!({"title": "Product", "type": "object", "properties": {"id": {"type": "integer"}, "sku": {"type": "string"}}});
    /// let model = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().unique(["sku"]))?;
    /// assert_eq!(model.unique_fields(), ["sku"]);
    /// assert_eq!(unique_message(&model, "sku"), "product with this sku already exists.");
    /// # Ok::<(), dcrf_model::SchemaError>(())
    /// ```
    pub fn unique<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.unique = names.into_iter().map(Into::into).collect();
        self
    }

    /// Text fields that accept `""` (DRF's `allow_blank=True`, Django's
    /// `blank=True`). drf-spectacular writes the same schema either way, so
    /// the caller says which; the others answer "This field may not be blank.".
    ///
    /// ```
    /// use dcrf_model::{ModelOptions, ModelSchema, validate::validate_partial};
    /// use serde_json::json;
    ///
    /// let schema = json!({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "note": {"type": "string"}}});
    /// let model = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().allow_blank(["note"]))?;
    /// let blank = json!({"name": "", "note": ""});
    /// let errors = validate_partial(&model, blank.as_object().unwrap()).unwrap_err();
    /// assert_eq!(errors.to_json(), json!({"name": ["This field may not be blank."]}));
    /// # Ok::<(), dcrf_model::SchemaError>(())
    /// ```
    pub fn allow_blank<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow_blank = names.into_iter().map(Into::into).collect();
        self
    }
}

/// A model as its serializer describes it: fields, pk, and what the caller
/// added (unique fields, blank-allowed fields).
///
/// ```
/// use dcrf_model::{ModelOptions, ModelSchema};
/// use serde_json::json;
///
/// // The component drf-spectacular writes for a ModelSerializer of
/// // `Product(id = UUIDField(primary_key=True), name = CharField(max_length=100, unique=True),
/// // price = DecimalField(max_digits=8, decimal_places=2), in_stock = BooleanField(),
/// // updated_at = DateTimeField(auto_now=True))` with a write-only `note`.
/// let schema = json!({
///     "title": "Product",
///     "description": "A product of the shop.",
///     "type": "object",
///     "properties": {
///         "id": {"type": "string", "format": "uuid", "readOnly": true},
///         "name": {"type": "string", "maxLength": 100},
///         "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"},
///         "in_stock": {"type": "boolean"},
///         "note": {"type": "string", "writeOnly": true},
///         "updated_at": {"type": "string", "format": "date-time", "readOnly": true}
///     },
///     "required": ["id", "name", "price", "updated_at"]
/// });
/// let model = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().unique(["name"]))?;
///
/// assert_eq!((model.name(), model.pk().name.as_str()), ("Product", "id"));
/// // What the server sends: every field present, but the write-only `note`.
/// let sent = model.read_schema()["required"].as_array().unwrap().len();
/// assert_eq!((sent, model.fields().len()), (5, 6));
/// // What create and update accept: no read-only field.
/// assert_eq!(model.write_schema()["required"], json!(["name", "price"]));
/// # Ok::<(), dcrf_model::SchemaError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSchema {
    name: String,
    description: Option<String>,
    fields: Vec<Field>,
    pk: String,
    pk_kind: PkKind,
    unique: Vec<String>,
    allow_blank: Vec<String>,
}

impl ModelSchema {
    /// The model of component `component` of a drf-spectacular (OpenAPI 3)
    /// document, pk field `id`.
    ///
    /// ```
    /// let doc = serde_json::json!({
    ///     "openapi": "3.0.3",
    ///     "components": {"schemas": {"Tag": {"type": "object", "properties": {
    ///         "id": {"type": "integer", "readOnly": true},
    ///         "label": {"type": "string", "maxLength": 20}
    ///     }, "required": ["id", "label"]}}}
    /// });
    /// let model = dcrf_model::ModelSchema::from_openapi(&doc, "Tag").unwrap();
    /// assert_eq!(model.pk_kind(), dcrf_model::PkKind::Integer);
    /// let err = dcrf_model::ModelSchema::from_openapi(&doc, "Nope").unwrap_err();
    /// assert!(err.to_string().contains("Tag"));
    /// ```
    pub fn from_openapi(doc: &Value, component: &str) -> Result<Self, SchemaError> {
        Self::from_openapi_with(doc, component, &ModelOptions::new())
    }

    /// [`ModelSchema::from_openapi`] with options.
    ///
    /// ```
    /// use dcrf_model::{ModelOptions, ModelSchema, SchemaError};
    /// use serde_json::json;
    ///
    /// // `python manage.py spectacular --format openapi-json`, abridged.
    /// let doc = json!({"openapi": "3.0.3", "components": {"schemas": {
    ///     "Sku": {"type": "string", "maxLength": 20},
    ///     "Item": {"type": "object", "properties": {
    ///         "sku": {"$ref": "#/components/schemas/Sku"},
    ///         "name": {"type": "string"}
    ///     }, "required": ["sku", "name"]}
    /// }}});
    /// let model = ModelSchema::from_openapi_with(&doc, "Item", &ModelOptions::new().pk("sku"))?;
    /// assert_eq!(model.pk().max_length, Some(20)); // the $ref was followed
    ///
    /// let missing = ModelSchema::from_openapi_with(&doc, "Order", &ModelOptions::new()).unwrap_err();
    /// assert!(matches!(missing, SchemaError::MissingComponent { ref available, .. } if available == &["Item", "Sku"]));
    /// # Ok::<(), SchemaError>(())
    /// ```
    pub fn from_openapi_with(
        doc: &Value,
        component: &str,
        options: &ModelOptions,
    ) -> Result<Self, SchemaError> {
        let Some(root) = doc.as_object() else {
            return Err(malformed("", "an OpenAPI document is a JSON object"));
        };
        match root.get("openapi") {
            Some(Value::String(v)) if v.starts_with("3.") => {}
            Some(Value::String(v)) => {
                return Err(malformed(
                    "/openapi",
                    &format!("version {v:?} is not OpenAPI 3"),
                ));
            }
            Some(_) => return Err(malformed("/openapi", "not a string")),
            None => {
                return Err(malformed(
                    "/openapi",
                    "missing: not an OpenAPI document (use a JSON Schema input for a plain schema)",
                ));
            }
        }
        let schemas = match root.get("components") {
            None => return Err(malformed("/components", "missing")),
            Some(Value::Object(c)) => match c.get("schemas") {
                None => return Err(malformed("/components/schemas", "missing")),
                Some(Value::Object(s)) => s,
                Some(_) => return Err(malformed("/components/schemas", "not an object")),
            },
            Some(_) => return Err(malformed("/components", "not an object")),
        };
        let pointer = format!("/components/schemas/{}", escape(component));
        let Some(schema) = schemas.get(component) else {
            let mut available: Vec<String> = schemas.keys().cloned().collect();
            available.sort();
            return Err(SchemaError::MissingComponent {
                name: component.to_owned(),
                pointer,
                available,
            });
        };
        Reader { root: doc }.model(component, schema, &pointer, options)
    }

    /// The model of a JSON Schema (a serializer's schema on its own; local
    /// `$ref`s into `#/$defs/` or `#/definitions/` are followed), pk field `id`.
    /// Its name is the schema's `title`, else `Model`.
    ///
    /// ```
    /// use dcrf_model::ModelSchema;
    /// use serde_json::json;
    ///
    /// let schema = json!({
    ///     "$schema": "https://json-schema.org/draft/2020-12/schema",
    ///     "title": "Tag",
    ///     "type": "object",
    ///     "properties": {"id": {"type": "integer", "readOnly": true}, "label": {"$ref": "#/$defs/Label"}},
    ///     "$defs": {"Label": {"type": "string", "maxLength": 20}}
    /// });
    /// let model = ModelSchema::from_json_schema(&schema)?;
    /// assert_eq!(model.name(), "Tag");
    /// assert_eq!(model.field("label").unwrap().max_length, Some(20));
    /// # Ok::<(), dcrf_model::SchemaError>(())
    /// ```
    pub fn from_json_schema(schema: &Value) -> Result<Self, SchemaError> {
        Self::from_json_schema_with(schema, &ModelOptions::new())
    }

    /// [`ModelSchema::from_json_schema`] with options.
    ///
    /// ```
    /// use dcrf_model::{ModelOptions, ModelSchema};
    /// use serde_json::json;
    ///
    /// let schema = json!({"type": "object", "properties": {"uuid": {"type": "string", "format": "uuid"}}});
    /// let model = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().pk("uuid"))?;
    /// assert_eq!(model.name(), "Model"); // no title
    /// assert_eq!(model.pk().name, "uuid");
    /// # Ok::<(), dcrf_model::SchemaError>(())
    /// ```
    pub fn from_json_schema_with(
        schema: &Value,
        options: &ModelOptions,
    ) -> Result<Self, SchemaError> {
        if !schema.is_object() {
            return Err(malformed("", "a JSON Schema of a model is a JSON object"));
        }
        let name = schema
            .get("title")
            .and_then(Value::as_str)
            .filter(|t| is_identifier(t))
            .unwrap_or("Model")
            .to_owned();
        Reader { root: schema }.model(&name, schema, "", options)
    }

    /// The model's name (the component name or the schema's title).
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// assert_eq!(model.name(), "Product");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema's description, if any.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// assert_eq!(model.description(), Some("A product of the shop."));
    /// ```
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Every field, in the schema's order.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// // In the schema's order (sorted by name when serde_json is built without `preserve_order`).
    /// let mut names: Vec<&str> = model.fields().iter().map(|field| field.name.as_str()).collect();
    /// names.sort();
    /// assert_eq!(names, ["id", "in_stock", "name", "note", "price", "updated_at"]);
    /// ```
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field called `name`.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// assert!(model.field("note").unwrap().write_only);
    /// assert!(model.field("colour").is_none());
    /// ```
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The primary-key field.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// assert_eq!(model.pk().name, "id");
    /// assert!(model.pk().read_only);
    /// ```
    pub fn pk(&self) -> &Field {
        // Construction checked that the pk field exists.
        self.fields
            .iter()
            .find(|f| f.name == self.pk)
            .unwrap_or(&self.fields[0])
    }

    /// The kind of the primary key.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// assert_eq!(model.pk_kind(), dcrf_model::PkKind::Uuid);
    /// ```
    pub fn pk_kind(&self) -> PkKind {
        self.pk_kind
    }

    /// The fields the caller marked unique (a store must enforce them; a
    /// schema cannot say it).
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// assert_eq!(model.unique_fields(), ["name"]); // given as ModelOptions::unique
    /// ```
    pub fn unique_fields(&self) -> &[String] {
        &self.unique
    }

    /// Whether text field `name` accepts `""`.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// assert!(!model.allows_blank("name")); // no ModelOptions::allow_blank
    /// ```
    pub fn allows_blank(&self, name: &str) -> bool {
        self.allow_blank.iter().any(|n| n == name)
    }

    /// The schema of one instance as the server sends it: every field but the
    /// write-only ones, all present (DRF's `to_representation` writes every
    /// readable field), no other key.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// use serde_json::json;
    ///
    /// let read = model.read_schema();
    /// assert_eq!(read["title"], "Product");
    /// assert!(read["properties"].get("note").is_none()); // write-only
    /// assert_eq!(read["properties"]["updated_at"], json!({"type": "string", "format": "date-time"}));
    /// assert_eq!(read["additionalProperties"], false);
    /// ```
    pub fn read_schema(&self) -> Value {
        let fields: Vec<&Field> = self.fields.iter().filter(|f| !f.write_only).collect();
        let required: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        object_schema(
            &self.name,
            self.description.as_deref(),
            &fields,
            &required,
            "as the server sends it (no write-only field)",
        )
    }

    /// The schema of `data` that `create` and `update` accept: no read-only
    /// field; the schema's required fields required.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// use serde_json::json;
    ///
    /// let write = model.write_schema();
    /// assert_eq!(write["title"], "ProductRequest");
    /// assert!(write["properties"].get("id").is_none()); // read-only
    /// assert_eq!(write["required"], json!(["name", "price"]));
    /// ```
    pub fn write_schema(&self) -> Value {
        let fields: Vec<&Field> = self.fields.iter().filter(|f| !f.read_only).collect();
        let required: Vec<&str> = fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.as_str())
            .collect();
        object_schema(
            &format!("{}Request", self.name),
            self.description.as_deref(),
            &fields,
            &required,
            "as create and update accept it (no read-only field)",
        )
    }

    /// The schema of `data` that `patch` accepts: the write schema with no
    /// field required.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// use serde_json::json;
    ///
    /// let patch = model.patch_schema();
    /// assert_eq!(patch["title"], "PatchedProductRequest");
    /// assert_eq!(patch["required"], json!([]));
    /// ```
    pub fn patch_schema(&self) -> Value {
        let fields: Vec<&Field> = self.fields.iter().filter(|f| !f.read_only).collect();
        object_schema(
            &format!("Patched{}Request", self.name),
            self.description.as_deref(),
            &fields,
            &[],
            "as patch accepts it (no read-only field, none required)",
        )
    }

    /// The schema of a `delete` event's `data`: `{"pk": <pk>}`. DCRF sends
    /// `str(pk)` when the pk is not a JSON type, so a UUID pk is a string.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// use serde_json::json;
    ///
    /// let deleted = model.deleted_schema();
    /// assert_eq!(deleted["required"], json!(["pk"]));
    /// assert_eq!(deleted["properties"]["pk"]["format"], "uuid");
    /// ```
    pub fn deleted_schema(&self) -> Value {
        json!({
            "title": format!("{}Deleted", self.name),
            "description": format!("The data of a delete event of a {}: its primary key.", self.name),
            "type": "object",
            "properties": {"pk": field_schema(self.pk(), false)},
            "required": ["pk"],
            "additionalProperties": false,
        })
    }

    /// The JSON Schema of one field's value, as used in the read and write
    /// schemas (nullable fields admit `null`).
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema_with(&serde_json::json!({"title": "Product", "description": "A product of the shop.", "type": "object", "properties": {"id": {"type": "string", "format": "uuid", "readOnly": true}, "name": {"type": "string", "maxLength": 100}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}, "note": {"type": "string", "writeOnly": true}, "updated_at": {"type": "string", "format": "date-time", "readOnly": true}}, "required": ["id", "name", "price", "updated_at"]}), &dcrf_model::ModelOptions::new().unique(["name"])).unwrap();
    /// // `model`: the Product of the `ModelSchema` example.
    /// use serde_json::json;
    ///
    /// assert_eq!(model.field_schema("in_stock"), Some(json!({"type": "boolean"})));
    /// assert_eq!(model.field_schema("colour"), None);
    /// ```
    pub fn field_schema(&self, name: &str) -> Option<Value> {
        self.field(name).map(|f| field_schema(f, true))
    }
}

fn object_schema(
    title: &str,
    description: Option<&str>,
    fields: &[&Field],
    required: &[&str],
    what: &str,
) -> Value {
    let mut props = Map::new();
    for f in fields {
        props.insert(f.name.clone(), field_schema(f, true));
    }
    let description = match description {
        Some(d) => format!("{d}\n\n{title}: the instance {what}."),
        None => format!("{title}: the instance {what}."),
    };
    json!({
        "title": title,
        "description": description,
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// Formats ajv-formats knows; other `format`s are left out of generated schemas
/// (they are annotations, and strict validators refuse unknown ones).
const KNOWN_FORMATS: &[&str] = &[
    "date",
    "time",
    "date-time",
    "duration",
    "uri",
    "uri-reference",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

fn field_schema(f: &Field, allow_null: bool) -> Value {
    let nullable = allow_null && f.nullable;
    let mut s = Map::new();
    let typed = |s: &mut Map<String, Value>, t: &str| {
        let ty = if nullable {
            json!([t, "null"])
        } else {
            json!(t)
        };
        s.insert("type".into(), ty);
    };
    match &f.kind {
        FieldKind::Integer => typed(&mut s, "integer"),
        FieldKind::Number => typed(&mut s, "number"),
        FieldKind::Boolean => typed(&mut s, "boolean"),
        FieldKind::String { format, pattern } => {
            typed(&mut s, "string");
            if let Some(fmt) = format.as_deref().filter(|f| KNOWN_FORMATS.contains(f)) {
                s.insert("format".into(), json!(fmt));
            }
            if let Some(p) = pattern {
                s.insert("pattern".into(), json!(p));
            }
        }
        FieldKind::Decimal {
            max_digits,
            decimal_places,
            pattern,
        } => {
            typed(&mut s, "string");
            let pattern = match (pattern, max_digits, decimal_places) {
                (Some(p), _, _) => Some(p.clone()),
                (None, Some(d), Some(p)) => Some(format!(
                    "^-?\\d{{0,{}}}(?:\\.\\d{{0,{p}}})?$",
                    d.saturating_sub(*p)
                )),
                _ => Some("^\\s*[-+]?\\d*(?:\\.\\d*)?(?:[eE][-+]?\\d+)?\\s*$".to_owned()),
            };
            if let Some(p) = pattern {
                s.insert("pattern".into(), json!(p));
            }
        }
        FieldKind::Uuid => {
            typed(&mut s, "string");
            s.insert("format".into(), json!("uuid"));
        }
        FieldKind::DateTime => {
            typed(&mut s, "string");
            s.insert("format".into(), json!("date-time"));
        }
        FieldKind::Date => {
            typed(&mut s, "string");
            s.insert("format".into(), json!("date"));
        }
        FieldKind::Enum(values) => {
            let mut values = values.clone();
            if values.iter().all(Value::is_string) {
                typed(&mut s, "string");
            }
            if nullable {
                values.push(Value::Null);
            }
            s.insert("enum".into(), Value::Array(values));
        }
        FieldKind::Object(raw) | FieldKind::Array(raw) => {
            if nullable {
                s.insert("anyOf".into(), json!([raw, {"type": "null"}]));
            } else if let Value::Object(m) = raw {
                s.extend(m.clone());
            }
        }
    }
    if let Some(n) = f.max_length {
        s.insert("maxLength".into(), json!(n));
    }
    if let Some(n) = f.min_length {
        s.insert("minLength".into(), json!(n));
    }
    if let Some(n) = &f.minimum {
        s.insert("minimum".into(), Value::Number(n.clone()));
    }
    if let Some(n) = &f.maximum {
        s.insert("maximum".into(), Value::Number(n.clone()));
    }
    if let Some(d) = &f.description {
        s.insert("description".into(), json!(d));
    }
    Value::Object(s)
}

fn malformed(pointer: &str, reason: &str) -> SchemaError {
    SchemaError::Malformed {
        pointer: pointer.to_owned(),
        reason: reason.to_owned(),
    }
}

fn unsupported(pointer: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError::Unsupported {
        pointer: pointer.to_owned(),
        reason: reason.into(),
    }
}

/// A JSON pointer token: `~` as `~0`, `/` as `~1`.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A schema with `$ref`/`allOf`/`oneOf` taken apart: the merged keywords and
/// whether a null branch was seen.
struct Resolved {
    schema: Map<String, Value>,
    nullable: bool,
}

struct Reader<'a> {
    root: &'a Value,
}

impl Reader<'_> {
    fn model(
        &self,
        name: &str,
        schema: &Value,
        pointer: &str,
        options: &ModelOptions,
    ) -> Result<ModelSchema, SchemaError> {
        let resolved = self.resolve(schema, pointer, 0)?;
        let obj = resolved.schema;
        let props = match obj.get("properties") {
            Some(Value::Object(p)) if !p.is_empty() => p,
            Some(Value::Object(_)) => {
                return Err(SchemaError::NoProperties {
                    pointer: pointer.to_owned(),
                    reason: "`properties` is empty".into(),
                });
            }
            Some(_) => return Err(malformed(&format!("{pointer}/properties"), "not an object")),
            None => {
                let what = match obj.get("type") {
                    Some(t) => format!("type {t}"),
                    None => format!("keywords {:?}", obj.keys().collect::<Vec<_>>()),
                };
                return Err(SchemaError::NoProperties {
                    pointer: pointer.to_owned(),
                    reason: format!(
                        "no `properties` keyword ({what}); a model is an object schema"
                    ),
                });
            }
        };
        if let Some(t) = obj.get("type")
            && t != "object"
        {
            return Err(unsupported(
                &format!("{pointer}/type"),
                format!("a model is an object schema, this one has type {t}"),
            ));
        }
        let required: Vec<&str> = match obj.get("required") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().ok_or_else(|| {
                        malformed(&format!("{pointer}/required/{i}"), "not a string")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(malformed(&format!("{pointer}/required"), "not an array")),
        };
        let mut fields = Vec::with_capacity(props.len());
        for (fname, fschema) in props {
            let fp = format!("{pointer}/properties/{}", escape(fname));
            fields.push(self.field(fname, fschema, &fp, required.contains(&fname.as_str()))?);
        }
        let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        let pk = options.pk.clone().unwrap_or_else(|| "id".to_owned());
        let pk_kind = match fields.iter().find(|f| f.name == pk) {
            None => {
                return Err(SchemaError::Pk {
                    field: pk,
                    pointer: pointer.to_owned(),
                    reason: format!("no such property; the properties are: {}", names.join(", ")),
                });
            }
            Some(f) => match &f.kind {
                FieldKind::Integer => PkKind::Integer,
                FieldKind::Uuid => PkKind::Uuid,
                FieldKind::String { .. } => PkKind::String,
                other => {
                    return Err(SchemaError::Pk {
                        field: pk,
                        pointer: format!("{pointer}/properties/{}", escape(&f.name)),
                        reason: format!("a pk is an integer, a uuid or a string, not {other:?}"),
                    });
                }
            },
        };
        for (option, list) in [
            ("unique", &options.unique),
            ("allow_blank", &options.allow_blank),
        ] {
            for n in list {
                if !names.contains(n) {
                    return Err(SchemaError::UnknownField {
                        field: n.clone(),
                        option: option.into(),
                        available: names.clone(),
                    });
                }
            }
        }
        Ok(ModelSchema {
            name: name.to_owned(),
            description: obj
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            fields,
            pk,
            pk_kind,
            unique: options.unique.clone(),
            allow_blank: options.allow_blank.clone(),
        })
    }

    fn field(
        &self,
        name: &str,
        schema: &Value,
        pointer: &str,
        required: bool,
    ) -> Result<Field, SchemaError> {
        let Resolved {
            schema: s,
            mut nullable,
        } = self.resolve(schema, pointer, 0)?;
        if s.get("nullable") == Some(&Value::Bool(true)) {
            nullable = true;
        }
        let flag = |k: &str| s.get(k) == Some(&Value::Bool(true));
        let uint = |k: &str| -> Result<Option<u64>, SchemaError> {
            match s.get(k) {
                None => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    malformed(&format!("{pointer}/{k}"), "not a non-negative integer")
                }),
            }
        };
        let num = |k: &str| -> Result<Option<Number>, SchemaError> {
            match s.get(k) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(Some(n.clone())),
                Some(_) => Err(malformed(&format!("{pointer}/{k}"), "not a number")),
            }
        };
        // `type` is a string, or a list of one type and "null".
        let ty: Option<String> = match s.get("type") {
            None => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(Value::Array(list)) => {
                let mut others = Vec::new();
                for t in list {
                    match t.as_str() {
                        Some("null") => nullable = true,
                        Some(t) => others.push(t.to_owned()),
                        None => return Err(malformed(&format!("{pointer}/type"), "not a string")),
                    }
                }
                match others.as_slice() {
                    [one] => Some(one.clone()),
                    [] => None,
                    _ => {
                        return Err(unsupported(
                            &format!("{pointer}/type"),
                            format!("a union of types {others:?}"),
                        ));
                    }
                }
            }
            Some(_) => {
                return Err(malformed(
                    &format!("{pointer}/type"),
                    "not a string or array",
                ));
            }
        };
        let format = s.get("format").and_then(Value::as_str);
        let pattern = s.get("pattern").and_then(Value::as_str).map(str::to_owned);
        let kind = if let Some(e) = s.get("enum") {
            let Value::Array(values) = e else {
                return Err(malformed(&format!("{pointer}/enum"), "not an array"));
            };
            if values.iter().any(Value::is_null) {
                nullable = true;
            }
            let values: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
            if values.is_empty() {
                return Err(unsupported(&format!("{pointer}/enum"), "no value but null"));
            }
            FieldKind::Enum(values)
        } else {
            match ty.as_deref() {
                Some("integer") => FieldKind::Integer,
                Some("number") => FieldKind::Number,
                Some("boolean") => FieldKind::Boolean,
                Some("string") => match format {
                    Some("uuid") => FieldKind::Uuid,
                    Some("date-time") => FieldKind::DateTime,
                    Some("date") => FieldKind::Date,
                    Some("decimal") => {
                        let (max_digits, decimal_places) = pattern
                            .as_deref()
                            .and_then(decimal_digits)
                            .map_or((None, None), |(w, p)| (Some(w + p), Some(p)));
                        FieldKind::Decimal {
                            max_digits,
                            decimal_places,
                            pattern: pattern.clone(),
                        }
                    }
                    other => FieldKind::String {
                        format: other.map(str::to_owned),
                        pattern: pattern.clone(),
                    },
                },
                Some("object") => {
                    FieldKind::Object(self.inline(&Value::Object(s.clone()), pointer, 0)?)
                }
                Some("array") => {
                    FieldKind::Array(self.inline(&Value::Object(s.clone()), pointer, 0)?)
                }
                Some(other) => {
                    return Err(unsupported(
                        &format!("{pointer}/type"),
                        format!("type {other:?}"),
                    ));
                }
                None => {
                    return Err(unsupported(
                        pointer,
                        "no `type`, `enum` or `$ref`: the field's type is unknown",
                    ));
                }
            }
        };
        Ok(Field {
            name: name.to_owned(),
            kind,
            required,
            read_only: flag("readOnly"),
            write_only: flag("writeOnly"),
            nullable,
            max_length: uint("maxLength")?,
            min_length: uint("minLength")?,
            minimum: num("minimum")?,
            maximum: num("maximum")?,
            description: s
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            default: s.get("default").cloned(),
        })
    }

    /// Follows `$ref`, single-element `allOf` and `oneOf`/`anyOf` with null
    /// branches, merging the sibling keywords (which win) over the target.
    fn resolve(
        &self,
        schema: &Value,
        pointer: &str,
        depth: usize,
    ) -> Result<Resolved, SchemaError> {
        if depth > MAX_DEPTH {
            return Err(unsupported(
                pointer,
                format!("$ref chain deeper than {MAX_DEPTH} (a cycle?)"),
            ));
        }
        let Value::Object(map) = schema else {
            return Err(malformed(pointer, "a schema is a JSON object"));
        };
        let mut own = map.clone();
        let mut nullable = false;
        let mut base: Option<Resolved> = None;
        if let Some(r) = own.remove("$ref") {
            let target = self.lookup(&r, &format!("{pointer}/$ref"))?;
            base = Some(self.resolve(target, &ref_pointer(&r), depth + 1)?);
        } else if let Some(all) = own.remove("allOf") {
            let Value::Array(items) = &all else {
                return Err(malformed(&format!("{pointer}/allOf"), "not an array"));
            };
            if items.len() != 1 {
                return Err(unsupported(
                    &format!("{pointer}/allOf"),
                    format!("allOf with {} schemas (only one is supported)", items.len()),
                ));
            }
            base = Some(self.resolve(&items[0], &format!("{pointer}/allOf/0"), depth + 1)?);
        } else if let Some((key, any)) = own
            .remove("oneOf")
            .map(|v| ("oneOf", v))
            .or_else(|| own.remove("anyOf").map(|v| ("anyOf", v)))
        {
            let Value::Array(items) = &any else {
                return Err(malformed(&format!("{pointer}/{key}"), "not an array"));
            };
            let mut branches = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let r = self.resolve(item, &format!("{pointer}/{key}/{i}"), depth + 1)?;
                nullable |= r.nullable;
                let only_null = r.schema.get("type") == Some(&json!("null"))
                    || r.schema.get("enum") == Some(&json!([null]));
                if only_null {
                    nullable = true;
                } else {
                    branches.push(r.schema);
                }
            }
            base = Some(match branches.len() {
                0 => {
                    return Err(unsupported(
                        &format!("{pointer}/{key}"),
                        "only null branches",
                    ));
                }
                1 => Resolved {
                    schema: branches.remove(0),
                    nullable,
                },
                _ if branches
                    .iter()
                    .all(|b| matches!(b.get("enum"), Some(Value::Array(_)))) =>
                {
                    // drf-spectacular's blank-allowed choices: oneOf [XEnum, BlankEnum].
                    let mut values: Vec<Value> = Vec::new();
                    for b in &branches {
                        for v in b["enum"].as_array().into_iter().flatten() {
                            if !values.contains(v) {
                                values.push(v.clone());
                            }
                        }
                    }
                    let mut merged = Map::new();
                    if values.iter().all(Value::is_string) {
                        merged.insert("type".into(), json!("string"));
                    }
                    merged.insert("enum".into(), Value::Array(values));
                    Resolved {
                        schema: merged,
                        nullable,
                    }
                }
                n => {
                    return Err(unsupported(
                        &format!("{pointer}/{key}"),
                        format!("{key} of {n} non-null schemas that are not all enums"),
                    ));
                }
            });
        }
        match base {
            None => Ok(Resolved {
                schema: own,
                nullable,
            }),
            Some(mut b) => {
                b.nullable |= nullable;
                b.schema.extend(own);
                Ok(b)
            }
        }
    }

    fn lookup(&self, reference: &Value, pointer: &str) -> Result<&Value, SchemaError> {
        let err = |reason: &str| SchemaError::UnresolvedRef {
            pointer: pointer.to_owned(),
            reference: match reference {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            reason: reason.to_owned(),
        };
        let Some(r) = reference.as_str() else {
            return Err(err("a $ref is a string"));
        };
        let Some(path) = r.strip_prefix('#') else {
            return Err(err("only local references (#/...) are supported"));
        };
        if !path.is_empty() && !path.starts_with('/') {
            return Err(err("not a JSON pointer"));
        }
        self.root
            .pointer(path)
            .ok_or_else(|| err("nothing at that pointer in this document"))
    }

    /// A nested schema with every local `$ref` replaced by its target.
    fn inline(&self, schema: &Value, pointer: &str, depth: usize) -> Result<Value, SchemaError> {
        if depth > MAX_DEPTH {
            return Err(unsupported(
                pointer,
                format!("nested deeper than {MAX_DEPTH} (a recursive schema?)"),
            ));
        }
        Ok(match schema {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref") {
                    let target = self.lookup(r, &format!("{pointer}/$ref"))?;
                    let mut out = match self.inline(target, &ref_pointer(r), depth + 1)? {
                        Value::Object(t) => t,
                        other => return Ok(other),
                    };
                    for (k, v) in m {
                        if k != "$ref" {
                            out.insert(
                                k.clone(),
                                self.inline(v, &format!("{pointer}/{}", escape(k)), depth + 1)?,
                            );
                        }
                    }
                    Value::Object(out)
                } else {
                    let mut out = Map::new();
                    for (k, v) in m {
                        let v = match k.as_str() {
                            // Annotations that would confuse strict validators.
                            "readOnly" | "writeOnly" | "nullable" | "example" => continue,
                            "format" if v.as_str().is_some_and(|f| !KNOWN_FORMATS.contains(&f)) => {
                                continue;
                            }
                            _ => self.inline(v, &format!("{pointer}/{}", escape(k)), depth + 1)?,
                        };
                        out.insert(k.clone(), v);
                    }
                    Value::Object(out)
                }
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| self.inline(v, &format!("{pointer}/{i}"), depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }
}

fn ref_pointer(r: &Value) -> String {
    r.as_str()
        .and_then(|s| s.strip_prefix('#'))
        .unwrap_or_default()
        .to_owned()
}

/// Whole and fractional digit counts from drf-spectacular's decimal pattern
/// `^-?\d{0,W}(?:\.\d{0,P})?$` (or `^-?\d{0,W}$` for no places).
fn decimal_digits(pattern: &str) -> Option<(u32, u32)> {
    let rest = pattern.strip_prefix("^-?\\d{0,")?;
    let (whole, rest) = rest.split_once('}')?;
    let whole: u32 = whole.parse().ok()?;
    if rest == "$" {
        return Some((whole, 0));
    }
    let rest = rest.strip_prefix("(?:\\.\\d{0,")?;
    let (places, rest) = rest.split_once('}')?;
    let places: u32 = places.parse().ok()?;
    (rest == ")?$").then_some((whole, places))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_pattern_digits() {
        assert_eq!(decimal_digits("^-?\\d{0,6}(?:\\.\\d{0,2})?$"), Some((6, 2)));
        assert_eq!(decimal_digits("^-?\\d{0,10}$"), Some((10, 0)));
        assert_eq!(decimal_digits("^\\d+$"), None);
    }
}
