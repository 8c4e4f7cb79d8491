//! The model the server serves: the seed's `User` (the default), or a user's own model read
//! from its serializer's schema (`--model`, [`SchemaModel`]), validated the way DRF does
//! through `dcrf-model`.
//!
//! One representation holds both: an [`Instance`] is a primary key ([`Pk`]) and the stored
//! fields by name, write-only ones included. What differs per model is behind [`ModelRef`]:
//! how a lookup value names a pk, how an instance is serialized, how `data` is validated.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dcrf_model::validate::{FieldErrors, unique_message, validate_partial, validate_value};
use dcrf_model::{Field, FieldKind, ModelSchema, PkKind};
use serde_json::{Map, Value};

use crate::UserRecord;
use crate::serializer::{self, Mode, lookup_pk, python_str};
use crate::store::{Mutation, Table};

/// A primary key: an integer (Django's `AutoField`, the seed's `User`) or a text key (a
/// UUID in its canonical lowercase hyphenated form, or a slug).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pk {
    /// An integer key, handed out in increasing order and never reused.
    Int(i64),
    /// A UUID or another text key.
    Text(String),
}

impl Pk {
    /// The pk as DRF serializes it, and as a delete event's `{"pk": ...}` carries it: a
    /// number for an integer key, a string otherwise (DCRF sends `str(pk)` for a pk that is
    /// not JSON-serializable, such as a UUID).
    pub fn to_json(&self) -> Value {
        match self {
            Pk::Int(pk) => Value::from(*pk),
            Pk::Text(pk) => Value::from(pk.as_str()),
        }
    }

    /// The integer key, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Pk::Int(pk) => Some(*pk),
            Pk::Text(_) => None,
        }
    }
}

impl fmt::Display for Pk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pk::Int(pk) => write!(f, "{pk}"),
            Pk::Text(pk) => f.write_str(pk),
        }
    }
}

impl From<i64> for Pk {
    fn from(pk: i64) -> Self {
        Pk::Int(pk)
    }
}

/// One stored instance: its pk and its other stored fields by name (write-only ones
/// included; the pk field is not in `fields`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Instance {
    pub(crate) pk: Pk,
    pub(crate) fields: Map<String, Value>,
}

impl Instance {
    /// The seed's user as an instance: `username`, `email` and the write-only `password`.
    pub(crate) fn from_user(user: &UserRecord) -> Instance {
        let mut fields = Map::new();
        fields.insert("username".into(), Value::from(user.username.as_str()));
        fields.insert("email".into(), Value::from(user.email.as_str()));
        if let Some(password) = &user.password {
            fields.insert("password".into(), Value::from(password.as_str()));
        }
        Instance {
            pk: Pk::Int(user.id),
            fields,
        }
    }

    /// The instance as the seed's user (the `User` model only: an integer pk).
    pub(crate) fn to_user(&self) -> UserRecord {
        let text = |name: &str| {
            self.fields
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        UserRecord {
            id: self.pk.as_int().unwrap_or_default(),
            username: text("username").unwrap_or_default(),
            email: text("email").unwrap_or_default(),
            password: text("password"),
        }
    }

    /// A field's stored value.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
}

/// Why a schema, an option or a fixture cannot be served. The server never starts half
/// working: every message names the field (or the fixture instance and field) and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The schema file could not be read.
    #[error("cannot read the model schema {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The schema file is not JSON.
    #[error("the model schema {} is not JSON", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// `dcrf-model` refused the schema (no pk, a `$ref` it cannot resolve, a type it does
    /// not support...): its message names the JSON pointer.
    #[error("cannot serve the model: {0}")]
    Schema(#[from] dcrf_model::SchemaError),
    /// An option names a field the model does not have, or cannot apply to it.
    #[error("{0}")]
    Option(String),
    /// A fixture instance does not validate against the schema.
    #[error("fixture instance {index}: {path}: {message}")]
    Fixture {
        /// The instance's index in the fixture array (from 0).
        index: usize,
        /// The JSON pointer of the field in the instance (`/price`), or `""` for the
        /// instance itself.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A model read from its serializer's schema, ready to be served: the schema, what it
/// cannot say (given as options), and the fixture.
///
/// What the schema cannot express and must be given ([`SchemaModel::new`] refuses a model
/// that needs one and lacks it):
/// - a default for each optional writable field that is neither nullable nor has a
///   `default` in the schema (Django's model default, which DRF applies on `create`);
/// - a value for each read-only field that is neither the pk nor a date-time
///   (`auto_now`/`auto_now_add` date-times are generated);
/// - which fields are unique and which text fields accept `""` (through
///   [`dcrf_model::ModelOptions`] when the schema is read);
/// - the list order (Django's `Meta.ordering`): by default the pk's order.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaModel {
    schema: ModelSchema,
    defaults: Map<String, Value>,
    ordering: Option<String>,
    auto_now_add: Vec<String>,
    fixture: Vec<Instance>,
}

/// The options of a [`SchemaModel`] that its schema cannot express.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServeOptions {
    /// Values for fields absent on `create` (model defaults), by field name.
    pub defaults: Map<String, Value>,
    /// The field `list` sorts by (Django's `Meta.ordering`); a leading `-` sorts
    /// descending. `None`: by pk.
    pub ordering: Option<String>,
    /// Read-only date-time fields set on create only (`auto_now_add`); the other read-only
    /// date-times are set on every save (`auto_now`).
    pub auto_now_add: Vec<String>,
}

impl SchemaModel {
    /// A model to serve, with no instance yet ([`SchemaModel::with_fixture`] adds them).
    pub fn new(schema: ModelSchema, options: ServeOptions) -> Result<SchemaModel, ModelError> {
        let names = || {
            schema
                .fields()
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for name in options
            .defaults
            .keys()
            .chain(options.ordering.iter())
            .chain(options.auto_now_add.iter())
        {
            let bare = name.strip_prefix('-').unwrap_or(name);
            if schema.field(bare).is_none() {
                return Err(ModelError::Option(format!(
                    "unknown field \"{bare}\" in an option of the model {}; the fields are: {}",
                    schema.name(),
                    names()
                )));
            }
        }
        for name in &options.auto_now_add {
            let field = schema.field(name).expect("checked above");
            if !(field.read_only && field.kind == FieldKind::DateTime) {
                return Err(ModelError::Option(format!(
                    "--auto-now-add {name}: only a read-only date-time field can be set on create"
                )));
            }
        }
        let pk = schema.pk().name.clone();
        for field in schema.fields() {
            if field.name == pk || options.defaults.contains_key(&field.name) {
                continue;
            }
            let generated = field.read_only && field.kind == FieldKind::DateTime;
            let needs_default = if field.read_only {
                !generated
            } else {
                !field.required && !field.nullable && field.default.is_none()
            };
            if needs_default && !generated {
                let why = if field.read_only {
                    "is read-only and not a date-time, so the server cannot make its value"
                } else {
                    "is optional on create and the schema gives no default"
                };
                return Err(ModelError::Option(format!(
                    "field \"{}\" of {} {why}: give its value with --default {}=JSON",
                    field.name,
                    schema.name(),
                    field.name
                )));
            }
        }
        Ok(SchemaModel {
            schema,
            defaults: options.defaults,
            ordering: options.ordering,
            auto_now_add: options.auto_now_add,
            fixture: Vec::new(),
        })
    }

    /// The same model with `instances` as its fixture: each a JSON object of the model's
    /// fields, read-only ones included. A missing pk is made (the next integer, a new
    /// UUID) except for a text pk; a missing date-time is the start time; a missing
    /// optional field takes its default. An instance that does not validate is an error
    /// naming its index and the field.
    pub fn with_fixture(mut self, instances: &[Value]) -> Result<SchemaModel, ModelError> {
        let mut fixture: Vec<Instance> = Vec::with_capacity(instances.len());
        let mut next_int = 1i64;
        let now = drf_now();
        for (index, value) in instances.iter().enumerate() {
            let fail = |path: &str, message: String| ModelError::Fixture {
                index,
                path: path.to_owned(),
                message,
            };
            let Value::Object(object) = value else {
                return Err(fail("", "not a JSON object".into()));
            };
            for key in object.keys() {
                if self.schema.field(key).is_none() {
                    return Err(fail(
                        &format!("/{key}"),
                        "the model has no such field".into(),
                    ));
                }
            }
            let valid = validate_value(&self.schema, value, false).map_err(|errors| {
                let (field, messages) = errors.iter().next().unwrap_or(("", &[]));
                fail(&format!("/{field}"), messages.join(" "))
            })?;
            let pk_field = self.schema.pk();
            let pk = match (object.get(&pk_field.name), self.schema.pk_kind()) {
                (None, PkKind::Integer) => Pk::Int(next_int),
                (None, PkKind::Uuid) => Pk::Text(uuid::Uuid::new_v4().to_string()),
                (None, _) => return Err(fail(&format!("/{}", pk_field.name), "missing".into())),
                (Some(value), kind) => self.lookup(value, kind).ok_or_else(|| {
                    fail(
                        &format!("/{}", pk_field.name),
                        format!("not a valid {} key: {value}", kind_name(kind)),
                    )
                })?,
            };
            if let Pk::Int(n) = pk {
                next_int = n.saturating_add(1).max(next_int);
            }
            if fixture.iter().any(|i| i.pk == pk) {
                return Err(fail(
                    &format!("/{}", pk_field.name),
                    format!("duplicate pk {pk}"),
                ));
            }
            let mut fields = Map::new();
            for field in self.schema.fields() {
                if field.name == pk_field.name {
                    continue;
                }
                let value = if let Some(value) = valid.get(&field.name) {
                    value.clone()
                } else if field.read_only
                    && let Some(value) = object.get(&field.name)
                {
                    value.clone()
                } else if let Some(value) = self.default_of(field, &now) {
                    value
                } else {
                    continue;
                };
                fields.insert(field.name.clone(), value);
            }
            for unique in self.schema.unique_fields() {
                let value = fields.get(unique);
                if value.is_some() && fixture.iter().any(|i| i.fields.get(unique) == value) {
                    return Err(fail(
                        &format!("/{unique}"),
                        unique_message(&self.schema, unique),
                    ));
                }
            }
            fixture.push(Instance { pk, fields });
        }
        self.fixture = fixture;
        Ok(self)
    }

    /// The schema this model was read from.
    pub fn schema(&self) -> &ModelSchema {
        &self.schema
    }

    /// The fixture's instances, serialized as the server sends them.
    pub fn fixture_json(&self) -> Vec<Value> {
        self.fixture.iter().map(|i| self.render(i)).collect()
    }

    pub(crate) fn fixture(&self) -> &[Instance] {
        &self.fixture
    }

    /// The value a field takes when `create` does not give it.
    fn default_of(&self, field: &Field, now: &str) -> Option<Value> {
        if let Some(value) = self.defaults.get(&field.name) {
            return Some(value.clone());
        }
        if field.read_only && field.kind == FieldKind::DateTime {
            return Some(Value::from(now));
        }
        if let Some(value) = &field.default {
            return Some(value.clone());
        }
        field.nullable.then_some(Value::Null)
    }

    /// How Django casts a lookup value for this pk kind; `None` names no instance.
    fn lookup(&self, value: &Value, kind: PkKind) -> Option<Pk> {
        match kind {
            PkKind::Integer => lookup_pk(value).map(Pk::Int),
            PkKind::Uuid => lookup_uuid(value).map(Pk::Text),
            _ => match value {
                Value::Null | Value::Array(_) | Value::Object(_) => None,
                other => Some(Pk::Text(python_str(other))),
            },
        }
    }

    /// The instance as its serializer prints it: every field but the write-only ones, in
    /// the schema's order.
    fn render(&self, instance: &Instance) -> Value {
        let pk = &self.schema.pk().name;
        let mut out = Map::new();
        for field in self.schema.fields() {
            if field.write_only {
                continue;
            }
            let value = if &field.name == pk {
                instance.pk.to_json()
            } else {
                instance.get(&field.name).cloned().unwrap_or(Value::Null)
            };
            out.insert(field.name.clone(), value);
        }
        Value::Object(out)
    }

    /// DRF's validation of `data` for `mode`, then the unique checks; the mutation to apply,
    /// or the `errors` dict of a 400 reply.
    fn validate(
        &self,
        table: &Table,
        mode: Mode,
        existing: Option<&Instance>,
        data: &Value,
    ) -> Result<Mutation, Value> {
        let partial = mode == Mode::Patch;
        let validated = validate_value(&self.schema, data, partial);
        let except = existing.map(|i| &i.pk);
        let given = data.as_object();
        // A unique field is checked once its own value is valid (DRF runs a field's
        // validators after converting it), whatever the other fields gave.
        let mut unique_errors: Vec<(String, String)> = Vec::new();
        // A pk given on create (a slug) is unique too: Django's primary key gets DRF's
        // UniqueValidator like any unique field.
        let pk_name = &self.schema.pk().name;
        let given_pk = self.schema.pk_kind() == PkKind::String && !self.schema.pk().read_only;
        let unique_names = given_pk
            .then_some(pk_name)
            .into_iter()
            .chain(self.schema.unique_fields().iter().filter(|n| *n != pk_name));
        for name in unique_names {
            let value = match &validated {
                Ok(values) => values.get(name).cloned(),
                Err(errors) if errors.get(name).is_none() => {
                    let Some(raw) = given.and_then(|g| g.get(name)) else {
                        continue;
                    };
                    let mut one = Map::new();
                    one.insert(name.clone(), raw.clone());
                    validate_partial(&self.schema, &one)
                        .ok()
                        .and_then(|mut v| v.remove(name))
                }
                Err(_) => None,
            };
            let taken = |value: &Value| {
                if name == pk_name {
                    let pk = Pk::Text(python_str(value));
                    table.get(&pk).is_some() && Some(&pk) != except
                } else {
                    table.taken(name, value, except)
                }
            };
            if let Some(value) = value
                && taken(&value)
            {
                unique_errors.push((name.clone(), unique_message(&self.schema, name)));
            }
        }
        let values = match validated {
            Ok(values) if unique_errors.is_empty() => values,
            Ok(_) => return Err(self.errors_json(&FieldErrors::default(), &unique_errors)),
            Err(errors) => return Err(self.errors_json(&errors, &unique_errors)),
        };
        let now = drf_now();
        match existing {
            None => {
                let mut fields = Map::new();
                let mut pk = None;
                for field in self.schema.fields() {
                    if &field.name == pk_name {
                        pk = match (self.schema.pk_kind(), values.get(pk_name)) {
                            (PkKind::Integer, _) => None,
                            (PkKind::Uuid, given) => Some(Pk::Text(
                                given
                                    .and_then(lookup_uuid)
                                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                            )),
                            (_, Some(given)) => Some(Pk::Text(python_str(given))),
                            (_, None) => {
                                return Err(serde_json::json!({
                                    pk_name.clone(): ["This field is required."]
                                }));
                            }
                        };
                        continue;
                    }
                    let value = match values.get(&field.name) {
                        Some(value) if !field.read_only => value.clone(),
                        _ => match self.default_of(field, &now) {
                            Some(value) => value,
                            None => continue,
                        },
                    };
                    fields.insert(field.name.clone(), value);
                }
                if let Some(pk) = &pk
                    && table.get(pk).is_some()
                {
                    return Err(serde_json::json!({
                        pk_name.clone(): [unique_message(&self.schema, pk_name)]
                    }));
                }
                Ok(Mutation::Create { pk, fields })
            }
            Some(existing) => {
                let mut instance = existing.clone();
                for (name, value) in values {
                    let writable = self
                        .schema
                        .field(&name)
                        .is_some_and(|f| !f.read_only && &f.name != pk_name);
                    if writable {
                        instance.fields.insert(name, value);
                    }
                }
                for field in self.schema.fields() {
                    if field.read_only
                        && field.kind == FieldKind::DateTime
                        && !self.auto_now_add.contains(&field.name)
                        && !self.defaults.contains_key(&field.name)
                    {
                        instance
                            .fields
                            .insert(field.name.clone(), Value::from(now.as_str()));
                    }
                }
                Ok(Mutation::Save(instance))
            }
        }
    }

    /// Field errors and unique errors merged in the serializer's field order, as DRF builds
    /// its error dict.
    fn errors_json(&self, errors: &FieldErrors, unique: &[(String, String)]) -> Value {
        if let Some(messages) = errors.get("non_field_errors") {
            return serde_json::json!({ "non_field_errors": messages });
        }
        let mut out = Map::new();
        for field in self.schema.fields() {
            if let Some(messages) = errors.get(&field.name) {
                out.insert(field.name.clone(), Value::from(messages.to_vec()));
            } else if let Some((_, message)) = unique.iter().find(|(f, _)| f == &field.name) {
                out.insert(field.name.clone(), Value::from(vec![message.clone()]));
            }
        }
        Value::Object(out)
    }

    /// The sort key of `list`.
    fn sort(&self, instances: &mut [&Instance]) {
        let Some(ordering) = &self.ordering else {
            return;
        };
        let (name, descending) = match ordering.strip_prefix('-') {
            Some(name) => (name, true),
            None => (ordering.as_str(), false),
        };
        let pk = &self.schema.pk().name;
        instances.sort_by(|a, b| {
            let key = |i: &Instance| {
                if name == pk {
                    i.pk.to_json()
                } else {
                    i.get(name).cloned().unwrap_or(Value::Null)
                }
            };
            let order = compare_json(&key(a), &key(b)).then_with(|| a.pk.cmp(&b.pk));
            if descending { order.reverse() } else { order }
        });
    }
}

fn kind_name(kind: PkKind) -> &'static str {
    match kind {
        PkKind::Integer => "integer",
        PkKind::Uuid => "UUID",
        _ => "text",
    }
}

/// An order of JSON scalars close to the database's: numbers by value, strings by their
/// text (SQLite's BINARY collation), booleans false first; null first.
fn compare_json(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Django's `UUIDField.to_python` of a lookup value: an integer is `UUID(int=...)`, a
/// string is `UUID(hex=...)` (braces, hyphens and `urn:uuid:` ignored, 32 hex digits);
/// anything else, or an invalid value, names no instance (DRF's `get_object_or_404` turns
/// the `ValidationError` into 404, interop/shop/OBSERVATIONS.md section 4).
fn lookup_uuid(value: &Value) -> Option<String> {
    let uuid = match value {
        Value::Bool(flag) => uuid::Uuid::from_u128(u128::from(*flag)),
        Value::Number(number) => {
            let text = number.to_string();
            if text.contains(['.', 'e', 'E', '-']) {
                return None;
            }
            uuid::Uuid::from_u128(text.parse::<u128>().ok()?)
        }
        Value::String(text) => {
            let hex: String = text
                .replace("urn:", "")
                .replace("uuid:", "")
                .trim_matches(|c| c == '{' || c == '}')
                .replace('-', "");
            if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            uuid::Uuid::from_u128(u128::from_str_radix(&hex, 16).ok()?)
        }
        _ => return None,
    };
    Some(uuid.hyphenated().to_string())
}

/// The current time as DRF's `DateTimeField` prints it with `USE_TZ` in UTC:
/// `2026-11-29T23:02:21.846694Z`.
pub(crate) fn drf_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(since.as_secs(), since.subsec_micros())
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` of a Unix time (civil-from-days, proleptic Gregorian).
fn format_utc(secs: u64, micros: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The model of a running server: the seed's `User`, or a schema's model.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ModelRef<'a> {
    User,
    Schema(&'a SchemaModel),
}

impl<'a> ModelRef<'a> {
    pub(crate) fn of(model: Option<&'a Arc<SchemaModel>>) -> ModelRef<'a> {
        match model {
            Some(model) => ModelRef::Schema(model),
            None => ModelRef::User,
        }
    }

    /// The pk a lookup value names, cast as Django casts it for the pk's field.
    pub(crate) fn lookup(self, value: &Value) -> Option<Pk> {
        match self {
            ModelRef::User => lookup_pk(value).map(Pk::Int),
            ModelRef::Schema(model) => model.lookup(value, model.schema.pk_kind()),
        }
    }

    /// The pk of an admin API path segment: its canonical text only.
    pub(crate) fn parse_pk(self, text: &str) -> Option<Pk> {
        match self {
            ModelRef::Schema(model) if model.schema.pk_kind() != PkKind::Integer => {
                let pk = model.lookup(&Value::from(text), model.schema.pk_kind())?;
                (pk.to_string() == text).then_some(pk)
            }
            _ => match text.parse::<i64>() {
                Ok(pk) if pk.to_string() == text => Some(Pk::Int(pk)),
                _ => None,
            },
        }
    }

    /// The instance as its serializer prints it.
    pub(crate) fn render(self, instance: &Instance) -> Value {
        match self {
            ModelRef::User => {
                let user = instance.to_user();
                serde_json::json!({"id": user.id, "username": user.username, "email": user.email})
            }
            ModelRef::Schema(model) => model.render(instance),
        }
    }

    /// [`ModelRef::render`] as compact JSON text, printed without a `Value` for the seed's
    /// `User` (the strict profile's fast path splices it into the reply).
    pub(crate) fn render_text(self, instance: &Instance) -> String {
        match self {
            ModelRef::User => {
                /// The fields `render` holds, in its order.
                #[derive(serde::Serialize)]
                struct Fields<'a> {
                    id: i64,
                    username: &'a str,
                    email: &'a str,
                }
                let text = |name: &str| instance.get(name).and_then(Value::as_str).unwrap_or("");
                let fields = Fields {
                    id: instance.pk.as_int().unwrap_or_default(),
                    username: text("username"),
                    email: text("email"),
                };
                // Printing integers and strings to a `String` cannot fail.
                serde_json::to_string(&fields).unwrap_or_default()
            }
            ModelRef::Schema(model) => model.render(instance).to_string(),
        }
    }

    /// Every instance in `list` order.
    pub(crate) fn list(self, table: &'a Table) -> Vec<&'a Instance> {
        let mut all: Vec<&Instance> = table.all().collect();
        if let ModelRef::Schema(model) = self {
            model.sort(&mut all);
        }
        all
    }

    /// Validates `data` of a `create` (no `existing`), `update` or `patch`: the mutation,
    /// or the `errors` dict of the 400 reply.
    pub(crate) fn validate(
        self,
        table: &Table,
        mode: Mode,
        existing: Option<&Instance>,
        data: &Value,
    ) -> Result<Mutation, Value> {
        match self {
            ModelRef::User => {
                let user = existing.map(Instance::to_user);
                serializer::validate(table, mode, user.as_ref(), data)
            }
            ModelRef::Schema(model) => model.validate(table, mode, existing, data),
        }
    }

    /// The model's name, lowercase, for messages (`user`, `product`).
    pub(crate) fn noun(self) -> String {
        match self {
            ModelRef::User => "user".to_owned(),
            ModelRef::Schema(model) => model.schema.name().to_lowercase(),
        }
    }

    /// The schema model, if any.
    pub(crate) fn schema(self) -> Option<&'a SchemaModel> {
        match self {
            ModelRef::User => None,
            ModelRef::Schema(model) => Some(model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fast path's text is the `Value`'s, for every character a field may hold.
    #[test]
    fn user_render_text_prints_render() {
        let mut users = vec![
            UserRecord::new(1, "test 1", "1@example.com"),
            UserRecord::new(-7, "", ""),
            UserRecord::new(i64::MAX, "é ü 中 😀", "a\"b\\c/d"),
            UserRecord::new(
                i64::MIN,
                "\u{0}\u{1}\u{1f}\u{7f}\t\n\r",
                "\u{2028}\u{2029}\u{fffd}",
            ),
        ];
        users[0].password = Some("secret".into());
        for user in &users {
            let instance = Instance::from_user(user);
            assert_eq!(
                ModelRef::User.render_text(&instance),
                ModelRef::User.render(&instance).to_string(),
                "{user:?}"
            );
        }
    }

    #[test]
    fn dates_print_like_drf() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000000Z");
        // 2026-11-29T23:02:21.846694Z, a timestamp recorded from the shop app.
        assert_eq!(
            format_utc(1_795_993_341, 846_694),
            "2026-11-29T23:02:21.846694Z"
        );
        assert_eq!(format_utc(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
    }

    #[test]
    fn uuid_lookups_cast_like_django() {
        let canonical = "00000000-0000-4000-8000-000000000001";
        for given in [
            json!(canonical),
            json!("00000000000040008000000000000001"),
            json!("{00000000-0000-4000-8000-000000000001}"),
            json!("urn:uuid:00000000-0000-4000-8000-000000000001"),
            json!("00000000-0000-4000-8000-000000000001".to_uppercase()),
        ] {
            assert_eq!(lookup_uuid(&given).as_deref(), Some(canonical), "{given}");
        }
        assert_eq!(
            lookup_uuid(&json!(1)).as_deref(),
            Some("00000000-0000-0000-0000-000000000001")
        );
        for bad in [
            json!("not-a-uuid"),
            json!(1.5),
            json!(null),
            json!([1]),
            json!(-1),
        ] {
            assert_eq!(lookup_uuid(&bad), None, "{bad}");
        }
    }
}
