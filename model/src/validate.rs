//! DRF-like validation of `create`, `update` and `patch` data, as pure functions.
//!
//! Each field kind follows the DRF 3.18 field it stands for (`CharField`,
//! `DecimalField`, `BooleanField`, `ChoiceField`, `IntegerField`, `FloatField`,
//! `UUIDField`, `DateTimeField`, `DateField`): what it accepts, how it normalises
//! the value (a decimal is quantised to the schema's places, `"9.9"` becomes
//! `"9.90"`; a text is trimmed; `"yes"` is `true`), and the exact message it
//! answers with. Every message is one recorded from DRF 3.18.3 in
//! `interop/shop/OBSERVATIONS.md` (sections 5 and 9); `interop/shop/observed/validation.jsonl`
//! holds the recorded cases and `tests/validate.rs` replays them.
//!
//! Not done here, because a schema does not say enough or it is a store's job:
//! unique constraints ([`unique_message`] gives DRF's message), model defaults
//! for absent optional fields, `pattern`s of text fields (DRF's `RegexValidator`
//! message is not recorded), the null-character check of `CharField`, and the
//! server-side formatting of date-times (the input string is kept).

use serde_json::{Map, Number, Value};

use crate::{Field, FieldKind, ModelSchema};

/// Field errors in DRF's shape: each invalid field with its messages, in the
/// model's field order. `non_field_errors` is used for data that is not an object.
///
/// ```
/// # let model = dcrf_model::ModelSchema::from_json_schema(&serde_json::json!({"title": "Product", "type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string", "maxLength": 20}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}}, "required": ["id", "name", "price"]})).unwrap();
/// // `model`: a `Product` with a read-only `id`, a required `name` (maxLength 20) and
/// // `price` (a decimal of 8 digits, 2 places), and an optional boolean `in_stock`.
/// use dcrf_model::validate::validate_value;
/// use serde_json::json;
///
/// let errors = validate_value(&model, &json!({"name": "", "price": "1.234"}), false).unwrap_err();
/// // The `errors` of DCRF's 400 reply: [errors.to_json()].
/// assert_eq!(errors.to_json(), json!({
///     "name": ["This field may not be blank."],
///     "price": ["Ensure that there are no more than 2 decimal places."]
/// }));
/// assert_eq!(errors.to_string(), errors.to_json().to_string());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    errors: Vec<(String, Vec<String>)>,
}

impl FieldErrors {
    fn push(&mut self, field: &str, message: String) {
        match self.errors.iter_mut().find(|(f, _)| f == field) {
            Some((_, list)) => list.push(message),
            None => self.errors.push((field.to_owned(), vec![message])),
        }
    }

    /// The messages of one field.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema(&serde_json::json!({"title": "Product", "type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string", "maxLength": 20}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}}, "required": ["id", "name", "price"]})).unwrap();
    /// // `model`: a `Product` with a read-only `id`, a required `name` (maxLength 20) and
    /// // `price` (a decimal of 8 digits, 2 places), and an optional boolean `in_stock`.
    /// use dcrf_model::validate::validate_value;
    /// use serde_json::json;
    ///
    /// let errors = validate_value(&model, &json!({"name": "x".repeat(21)}), false).unwrap_err();
    /// assert_eq!(errors.get("name").unwrap(), ["Ensure this field has no more than 20 characters."]);
    /// assert_eq!(errors.get("price").unwrap(), ["This field is required."]);
    /// assert_eq!(errors.get("in_stock"), None);
    /// ```
    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_slice())
    }

    /// Every field with its messages, in the model's field order.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema(&serde_json::json!({"title": "Product", "type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string", "maxLength": 20}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}}, "required": ["id", "name", "price"]})).unwrap();
    /// // `model`: a `Product` with a read-only `id`, a required `name` (maxLength 20) and
    /// // `price` (a decimal of 8 digits, 2 places), and an optional boolean `in_stock`.
    /// use dcrf_model::validate::validate_value;
    /// use serde_json::json;
    ///
    /// let errors = validate_value(&model, &json!({"price": "cheap", "in_stock": "maybe"}), true).unwrap_err();
    /// for (field, messages) in errors.iter() {
    ///     println!("{field}: {}", messages.join(" "));
    /// }
    /// assert_eq!(errors.iter().count(), 2);
    /// assert!(errors.iter().any(|(field, messages)| field == "in_stock" && messages == ["Must be a valid boolean."]));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.errors.iter().map(|(f, m)| (f.as_str(), m.as_slice()))
    }

    /// Whether there is no error.
    ///
    /// ```
    /// use dcrf_model::validate::FieldErrors;
    ///
    /// assert!(FieldErrors::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// DRF's `serializer.errors`: `{"name": ["This field is required."]}`. DCRF
    /// replies with `"errors": [<this>]` and status 400.
    ///
    /// ```
    /// # let model = dcrf_model::ModelSchema::from_json_schema(&serde_json::json!({"title": "Product", "type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string", "maxLength": 20}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}}, "required": ["id", "name", "price"]})).unwrap();
    /// // `model`: a `Product` with a read-only `id`, a required `name` (maxLength 20) and
    /// // `price` (a decimal of 8 digits, 2 places), and an optional boolean `in_stock`.
    /// use dcrf_model::validate::validate_value;
    /// use serde_json::json;
    ///
    /// let errors = validate_value(&model, &json!([1, 2]), false).unwrap_err();
    /// let reply = json!({"errors": [errors.to_json()], "data": null, "action": "create", "response_status": 400, "request_id": 1});
    /// assert_eq!(reply["errors"][0]["non_field_errors"], json!(["Invalid data. Expected a dictionary, but got list."]));
    /// ```
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.errors
                .iter()
                .map(|(f, m)| (f.clone(), Value::from(m.clone())))
                .collect(),
        )
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl std::error::Error for FieldErrors {}

/// Validates the `data` of a `create` or an `update` (DRF's full validation):
/// every required writable field must be there. Returns the normalised
/// writable fields that were given (read-only and unknown keys are dropped, as
/// DRF ignores them).
///
/// ```
/// use serde_json::json;
/// let doc = json!({"openapi": "3.0.3", "components": {"schemas": {"P": {"type": "object",
///     "properties": {"id": {"type": "integer", "readOnly": true},
///                    "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}},
///     "required": ["id", "price"]}}}});
/// let model = dcrf_model::ModelSchema::from_openapi(&doc, "P").unwrap();
/// let ok = dcrf_model::validate::validate_create(&model, json!({"price": "9.9"}).as_object().unwrap()).unwrap();
/// assert_eq!(ok["price"], "9.90");
/// let err = dcrf_model::validate::validate_create(&model, &serde_json::Map::new()).unwrap_err();
/// assert_eq!(err.to_json(), json!({"price": ["This field is required."]}));
/// ```
pub fn validate_create(
    model: &ModelSchema,
    data: &Map<String, Value>,
) -> Result<Map<String, Value>, FieldErrors> {
    validate(model, data, false)
}

/// Validates the `data` of a `patch` (DRF's `partial=True`): absent fields are
/// not required.
///
/// ```
/// # let model = dcrf_model::ModelSchema::from_json_schema(&serde_json::json!({"title": "Product", "type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string", "maxLength": 20}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}}, "required": ["id", "name", "price"]})).unwrap();
/// // `model`: a `Product` with a read-only `id`, a required `name` (maxLength 20) and
/// // `price` (a decimal of 8 digits, 2 places), and an optional boolean `in_stock`.
/// use dcrf_model::validate::validate_partial;
/// use serde_json::json;
///
/// // Only what is given is checked and returned; a read-only `id` is ignored, as DRF does.
/// let data = json!({"id": 7, "price": "5"});
/// let valid = validate_partial(&model, data.as_object().unwrap()).unwrap();
/// assert_eq!(serde_json::Value::Object(valid), json!({"price": "5.00"}));
/// ```
pub fn validate_partial(
    model: &ModelSchema,
    data: &Map<String, Value>,
) -> Result<Map<String, Value>, FieldErrors> {
    validate(model, data, true)
}

/// [`validate_create`] (or [`validate_partial`]) of any JSON `data`: a value
/// that is not an object gets DRF's `non_field_errors` message.
///
/// ```
/// # let model = dcrf_model::ModelSchema::from_json_schema(&serde_json::json!({"title": "Product", "type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string", "maxLength": 20}, "price": {"type": "string", "format": "decimal", "pattern": "^-?\\d{0,6}(?:\\.\\d{0,2})?$"}, "in_stock": {"type": "boolean"}}, "required": ["id", "name", "price"]})).unwrap();
/// // `model`: a `Product` with a read-only `id`, a required `name` (maxLength 20) and
/// // `price` (a decimal of 8 digits, 2 places), and an optional boolean `in_stock`.
/// use dcrf_model::validate::validate_value;
/// use serde_json::json;
///
/// let valid = validate_value(&model, &json!({"name": " Tea ", "price": 4.5, "in_stock": "yes"}), false).unwrap();
/// assert_eq!(serde_json::Value::Object(valid), json!({"name": "Tea", "price": "4.50", "in_stock": true}));
///
/// let errors = validate_value(&model, &json!(null), true).unwrap_err();
/// assert_eq!(errors.to_json(), json!({"non_field_errors": ["No data provided"]}));
/// ```
pub fn validate_value(
    model: &ModelSchema,
    data: &Value,
    partial: bool,
) -> Result<Map<String, Value>, FieldErrors> {
    match data {
        Value::Object(m) => validate(model, m, partial),
        other => {
            let mut e = FieldErrors::default();
            let message = match other {
                Value::Null => "No data provided".to_owned(),
                _ => format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    py_type_name(other)
                ),
            };
            e.push("non_field_errors", message);
            Err(e)
        }
    }
}

/// DRF's message for a unique constraint, with Django's default verbose
/// names: `product with this name already exists.` for model `Product`,
/// field `name`. A store that enforces [`ModelSchema::unique_fields`] answers
/// with it.
///
/// ```
/// use dcrf_model::{ModelOptions, ModelSchema, validate::unique_message};
/// use serde_json::json;
///
/// let schema = json!({"title": "OrderLine", "type": "object", "properties": {
///     "id": {"type": "integer"}, "line_code": {"type": "string"}
/// }});
/// let model = ModelSchema::from_json_schema_with(&schema, &ModelOptions::new().unique(["line_code"]))?;
/// assert_eq!(unique_message(&model, "line_code"), "order line with this line code already exists.");
/// # Ok::<(), dcrf_model::SchemaError>(())
/// ```
pub fn unique_message(model: &ModelSchema, field: &str) -> String {
    let mut verbose = String::new();
    for (i, c) in model.name().chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            verbose.push(' ');
        }
        verbose.extend(c.to_lowercase());
    }
    format!(
        "{verbose} with this {} already exists.",
        field.replace('_', " ")
    )
}

fn validate(
    model: &ModelSchema,
    data: &Map<String, Value>,
    partial: bool,
) -> Result<Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut out = Map::new();
    for field in model.fields().iter().filter(|f| !f.read_only) {
        match data.get(&field.name) {
            None => {
                if field.required && !partial {
                    errors.push(&field.name, "This field is required.".into());
                }
            }
            Some(value) => match validate_field(model, field, value) {
                Ok(v) => {
                    out.insert(field.name.clone(), v);
                }
                Err(messages) => {
                    for m in messages {
                        errors.push(&field.name, m);
                    }
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

const NOT_NULL: &str = "This field may not be null.";
const INVALID_NUMBER: &str = "A valid number is required.";
const INVALID_INTEGER: &str = "A valid integer is required.";
const TOO_LARGE: &str = "String value too large.";
const MAX_STRING_LENGTH: usize = 1000;

/// One field's value: the normalised value, or its messages.
fn validate_field(model: &ModelSchema, field: &Field, value: &Value) -> Result<Value, Vec<String>> {
    let one = |m: String| Err(vec![m]);
    // CharField tests for blank before anything else, null included.
    if let FieldKind::String { .. } = field.kind
        && !value.is_null()
        && let Some(s) = py_str_scalar(value)
        && (s.is_empty() || py_strip(&s).is_empty())
    {
        if model.allows_blank(&field.name) {
            return Ok(Value::String(String::new()));
        }
        return one("This field may not be blank.".into());
    }
    if value.is_null() {
        return if field.nullable {
            Ok(Value::Null)
        } else {
            one(NOT_NULL.into())
        };
    }
    let normalised = match &field.kind {
        FieldKind::String { .. } => {
            // str, int and float are turned into text; bool and containers are not.
            let Some(s) = py_str_scalar(value) else {
                return one("Not a valid string.".into());
            };
            Value::String(py_strip(&s).to_owned())
        }
        FieldKind::Decimal {
            max_digits,
            decimal_places,
            ..
        } => {
            let text = py_str(value);
            let text = py_strip(&text);
            if text.chars().count() > MAX_STRING_LENGTH {
                return one(TOO_LARGE.into());
            }
            let Some(d) = PyDecimal::parse(text) else {
                return one(INVALID_NUMBER.into());
            };
            if let Some(m) = d.precision_error(*max_digits, *decimal_places) {
                return one(m);
            }
            Value::String(d.format(*decimal_places))
        }
        FieldKind::Boolean => match py_bool(value) {
            Some(b) => Value::Bool(b),
            None => return one("Must be a valid boolean.".into()),
        },
        FieldKind::Enum(choices) => {
            let key = py_str(value);
            match choices.iter().find(|c| py_str(c) == key) {
                Some(c) => c.clone(),
                None => return one(format!("\"{key}\" is not a valid choice.")),
            }
        }
        FieldKind::Integer => {
            if let Value::String(s) = value
                && s.chars().count() > MAX_STRING_LENGTH
            {
                return one(TOO_LARGE.into());
            }
            match py_int(&py_str(value)) {
                Some(n) => Value::Number(n),
                None => return one(INVALID_INTEGER.into()),
            }
        }
        FieldKind::Number => {
            if let Value::String(s) = value
                && s.chars().count() > MAX_STRING_LENGTH
            {
                return one(TOO_LARGE.into());
            }
            let f = match value {
                Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                Value::Number(n) => n.as_f64(),
                Value::String(s) => py_float(s),
                _ => None,
            };
            match f.filter(|f| f.is_finite()).and_then(Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return one(INVALID_NUMBER.into()),
            }
        }
        FieldKind::Uuid => match py_uuid(value) {
            Some(u) => Value::String(u),
            None => return one("Must be a valid UUID.".into()),
        },
        FieldKind::DateTime => match value.as_str().filter(|s| is_iso_datetime(s)) {
            Some(s) => Value::String(s.to_owned()),
            None => {
                return one("Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].".into());
            }
        },
        FieldKind::Date => match value.as_str().and_then(iso_date) {
            Some(s) => Value::String(s),
            None => {
                return one(
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.".into(),
                );
            }
        },
        // Nested serializers: their messages are not modelled; the value is kept.
        FieldKind::Object(_) | FieldKind::Array(_) => value.clone(),
    };
    // Validators after the conversion: lengths, then bounds.
    let mut messages = Vec::new();
    if let Value::String(s) = &normalised
        && matches!(field.kind, FieldKind::String { .. })
    {
        let len = s.chars().count() as u64;
        if let Some(max) = field.max_length.filter(|m| len > *m) {
            messages.push(format!(
                "Ensure this field has no more than {max} characters."
            ));
        }
        if let Some(min) = field.min_length.filter(|m| len < *m) {
            messages.push(format!("Ensure this field has at least {min} characters."));
        }
    }
    if let Some(x) = numeric(&normalised, &field.kind) {
        if let Some(max) = &field.maximum
            && max.as_f64().is_some_and(|m| x > m)
        {
            messages.push(format!("Ensure this value is less than or equal to {max}."));
        }
        if let Some(min) = &field.minimum
            && min.as_f64().is_some_and(|m| x < m)
        {
            messages.push(format!(
                "Ensure this value is greater than or equal to {min}."
            ));
        }
    }
    if messages.is_empty() {
        Ok(normalised)
    } else {
        Err(messages)
    }
}

fn numeric(v: &Value, kind: &FieldKind) -> Option<f64> {
    match (kind, v) {
        (FieldKind::Integer | FieldKind::Number, Value::Number(n)) => n.as_f64(),
        (FieldKind::Decimal { .. }, Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

// ---- Python's view of JSON values -------------------------------------------------

/// Python's type name of a decoded JSON value.
fn py_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) => match py_number(n) {
            PyNum::Int(_) => "int",
            PyNum::Float(_) => "float",
        },
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

enum PyNum {
    Int(String),
    Float(f64),
}

/// How Python's json module decodes a number: an int when the text has no
/// fraction or exponent, else a float.
fn py_number(n: &Number) -> PyNum {
    let text = n.to_string();
    if text.contains(['.', 'e', 'E']) {
        PyNum::Float(n.as_f64().unwrap_or(f64::INFINITY))
    } else {
        PyNum::Int(text)
    }
}

/// `str(x)` for str, int and float; `None` for the other types (CharField
/// refuses them).
fn py_str_scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match py_number(n) {
            PyNum::Int(t) => t,
            PyNum::Float(f) => py_float_repr(f),
        }),
        _ => None,
    }
}

/// `str(x)` of any decoded JSON value.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(_) => py_str_scalar(v).unwrap_or_default(),
        Value::String(s) => py_str_repr(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `repr(str)`: single quotes unless the text has one and no double quote.
fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr(float)`: the shortest round-trip digits, scientific below 1e-4 and
/// from 1e16 on.
fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}"); // "-1.5e-7", "1e16"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the point
    if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        }
    }
}

/// Python's `str.strip()` (Unicode whitespace).
fn py_strip(s: &str) -> &str {
    s.trim()
}

/// Digits with `_` allowed between digits, as Python's int/float/Decimal take them.
fn py_digits(s: &str) -> Option<String> {
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    let out: String = s.chars().filter(|c| *c != '_').collect();
    out.chars().all(|c| c.is_ascii_digit()).then_some(out)
}

/// DRF's IntegerField: `int(re.sub(r'\.0*\s*$', '', str(data)))`.
fn py_int(text: &str) -> Option<Number> {
    let mut t = text;
    if let Some(dot) = t.rfind('.') {
        let tail = &t[dot + 1..];
        let zeros = tail.trim_start_matches('0');
        if zeros.trim().is_empty() {
            t = &t[..dot];
        }
    }
    let t = t.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = py_digits(body)?;
    let n: i128 = digits.parse().ok()?;
    let n = if neg { -n } else { n };
    if let Ok(i) = i64::try_from(n) {
        Some(Number::from(i))
    } else {
        u64::try_from(n).ok().map(Number::from)
    }
}

/// Python's `float(str)`.
fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return Some(f64::NAN); // refused later: not finite
    }
    if t.contains('_') {
        // Underscores only between digits.
        let ok = t
            .as_bytes()
            .windows(3)
            .all(|w| w[1] != b'_' || (w[0].is_ascii_digit() && w[2].is_ascii_digit()));
        if !ok || t.starts_with('_') || t.ends_with('_') {
            return None;
        }
    }
    let cleaned: String = t.chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty()
        || !cleaned
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        return None;
    }
    cleaned.parse().ok()
}

/// BooleanField's true/false sets (strings compared lower-cased; 1 and 0 as
/// ints or floats).
fn py_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_lowercase().as_str() {
            "t" | "y" | "yes" | "true" | "on" | "1" => Some(true),
            "f" | "n" | "no" | "false" | "off" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => {
            let x = n.as_f64()?;
            if x == 1.0 {
                Some(true)
            } else if x == 0.0 {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// UUIDField: `uuid.UUID(hex=s)` for a string, `uuid.UUID(int=n)` for an int
/// (a bool is an int in Python); the canonical lowercase hyphenated form.
fn py_uuid(v: &Value) -> Option<String> {
    let n: u128 = match v {
        Value::String(s) => {
            let h = s.replace("urn:", "").replace("uuid:", "");
            let h = h.trim_matches(|c| c == '{' || c == '}').replace('-', "");
            if h.len() != 32 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u128::from_str_radix(&h, 16).ok()?
        }
        Value::Bool(b) => u128::from(*b),
        Value::Number(n) => match py_number(n) {
            PyNum::Int(t) => t.parse().ok()?,
            PyNum::Float(_) => return None,
        },
        _ => return None,
    };
    let h = format!("{n:032x}");
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

fn num(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<u32> {
    (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Django's `parse_date` (ISO `YYYY-MM-DD`, `YYYYMMDD`, or `YYYY-M-D`), as `YYYY-MM-DD`.
fn iso_date(s: &str) -> Option<String> {
    if !s.is_ascii() {
        return None;
    }
    let (y, m, d) = if s.len() == 8 && !s.contains('-') {
        (
            num(&s[..4], 4..=4)?,
            num(&s[4..6], 2..=2)?,
            num(&s[6..], 2..=2)?,
        )
    } else {
        let mut parts = s.split('-');
        let y = num(parts.next()?, 4..=4)?;
        let m = num(parts.next()?, 1..=2)?;
        let d = num(parts.next()?, 1..=2)?;
        if parts.next().is_some() {
            return None;
        }
        (y, m, d)
    };
    (y >= 1 && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// Django's `parse_datetime` for the ISO 8601 forms DRF documents:
/// `YYYY-MM-DD[Thh:mm[:ss[.uuuuuu]]][Z|±HH:MM|±HHMM|±HH]` (a space for `T`; a
/// date alone is midnight).
fn is_iso_datetime(s: &str) -> bool {
    if !s.is_ascii() {
        return false;
    }
    let (date, rest) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if date.len() != 10 || iso_date(date).is_none() {
        return false;
    }
    let Some(rest) = rest else { return true };
    let (time, tz) = match rest.find(['Z', '+', '-']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let mut hms = time.split(':');
    let (Some(h), Some(m)) = (hms.next(), hms.next()) else {
        return false;
    };
    if num(h, 2..=2).is_none_or(|h| h > 23) || num(m, 2..=2).is_none_or(|m| m > 59) {
        return false;
    }
    if let Some(sec) = hms.next() {
        let (whole, frac) = sec.split_once(['.', ',']).unwrap_or((sec, ""));
        if num(whole, 2..=2).is_none_or(|s| s > 59) {
            return false;
        }
        if sec.len() > 2 && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
            return false;
        }
    }
    if hms.next().is_some() {
        return false;
    }
    match tz {
        None | Some("Z") => true,
        Some(tz) => {
            let body = &tz[1..];
            let (hh, mm) = match body.len() {
                2 => (body, "00"),
                4 => (&body[..2], &body[2..]),
                5 if &body[2..3] == ":" => (&body[..2], &body[3..]),
                _ => return false,
            };
            num(hh, 2..=2).is_some_and(|h| h < 24) && num(mm, 2..=2).is_some_and(|m| m < 60)
        }
    }
}

/// A finite Python `Decimal`: sign, coefficient digits and exponent, as
/// `Decimal(text).as_tuple()` gives them.
struct PyDecimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl PyDecimal {
    /// Python's Decimal string syntax; `None` for what Decimal refuses and
    /// for NaN and the infinities (DRF refuses those too).
    fn parse(text: &str) -> Option<Self> {
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let int_digits = if int_part.is_empty() {
            String::new()
        } else {
            py_digits(int_part)?
        };
        let frac_digits = if frac_part.is_empty() {
            String::new()
        } else {
            py_digits(frac_part)?
        };
        let exp: i64 = match exp {
            None => 0,
            Some(e) => {
                let (neg, d) = match e.as_bytes().first() {
                    Some(b'-') => (true, &e[1..]),
                    Some(b'+') => (false, &e[1..]),
                    _ => (false, e),
                };
                let d = py_digits(d)?;
                let v: i64 = d.parse().ok().filter(|v: &i64| *v < 1_000_000)?;
                if neg { -v } else { v }
            }
        };
        let all = format!("{int_digits}{frac_digits}");
        let trimmed = all.trim_start_matches('0');
        let digits = if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        };
        Some(Self {
            negative,
            digits,
            exponent: exp - frac_digits.len() as i64,
        })
    }

    /// DecimalField.validate_precision.
    fn precision_error(&self, max_digits: Option<u32>, places: Option<u32>) -> Option<String> {
        let len = self.digits.len() as i64;
        let (total, whole, decimals) = if self.exponent >= 0 {
            (len + self.exponent, len + self.exponent, 0)
        } else if len > -self.exponent {
            (len, len + self.exponent, -self.exponent)
        } else {
            (-self.exponent, 0, -self.exponent)
        };
        if let Some(m) = max_digits.filter(|m| total > i64::from(*m)) {
            return Some(format!(
                "Ensure that there are no more than {m} digits in total."
            ));
        }
        if let Some(p) = places.filter(|p| decimals > i64::from(*p)) {
            return Some(format!(
                "Ensure that there are no more than {p} decimal places."
            ));
        }
        if let (Some(m), Some(p)) = (max_digits, places) {
            let w = i64::from(m) - i64::from(p);
            if whole > w {
                return Some(format!(
                    "Ensure that there are no more than {w} digits before the decimal point."
                ));
            }
        }
        None
    }

    /// `f'{value.quantize(Decimal(10) ** -places):f}'` (the value already fits
    /// in `places`, so quantising only appends zeros).
    fn format(&self, places: Option<u32>) -> String {
        let mut digits = self.digits.clone();
        let mut exp = self.exponent;
        if let Some(p) = places {
            let target = -i64::from(p);
            if exp > target {
                let zeros = usize::try_from(exp - target).unwrap_or(0);
                if digits != "0" {
                    digits.push_str(&"0".repeat(zeros));
                } else if zeros > 0 {
                    digits = "0".repeat(zeros + 1);
                }
                exp = target;
            }
        }
        let body = if exp >= 0 {
            if digits == "0" {
                "0".to_owned()
            } else {
                format!("{digits}{}", "0".repeat(usize::try_from(exp).unwrap_or(0)))
            }
        } else {
            let k = usize::try_from(-exp).unwrap_or(0);
            if digits.len() > k {
                format!(
                    "{}.{}",
                    &digits[..digits.len() - k],
                    &digits[digits.len() - k..]
                )
            } else {
                format!("0.{}{digits}", "0".repeat(k - digits.len()))
            }
        };
        // "0.00" from all-zero digits keeps the shape; strip extra leading zeros.
        let body = match body.split_once('.') {
            Some((i, f)) => {
                let i = i.trim_start_matches('0');
                format!("{}.{f}", if i.is_empty() { "0" } else { i })
            }
            None => body,
        };
        if self.negative {
            format!("-{body}")
        } else {
            body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        for (f, want) in [
            (0.1, "0.1"),
            (2.5, "2.5"),
            (2.0, "2.0"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (-3.0, "-3.0"),
        ] {
            assert_eq!(py_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn decimals_quantise_like_python() {
        let q = |s: &str| PyDecimal::parse(s).map(|d| d.format(Some(2)));
        assert_eq!(q("9.9").as_deref(), Some("9.90"));
        assert_eq!(q("1e2").as_deref(), Some("100.00"));
        assert_eq!(q("-0.5").as_deref(), Some("-0.50"));
        assert_eq!(q("0").as_deref(), Some("0.00"));
        assert_eq!(q("007.5").as_deref(), Some("7.50"));
        assert_eq!(q(".5").as_deref(), Some("0.50"));
        assert_eq!(q("1_000").as_deref(), Some("1000.00"));
        assert!(q("1__0").is_none() && q("abc").is_none() && q("NaN").is_none() && q("").is_none());
        let p = |s: &str| PyDecimal::parse(s).and_then(|d| d.precision_error(Some(8), Some(2)));
        assert_eq!(
            p("1.234").unwrap(),
            "Ensure that there are no more than 2 decimal places."
        );
        assert_eq!(
            p("1234567.00").unwrap(),
            "Ensure that there are no more than 8 digits in total."
        );
        assert_eq!(
            p("1234567").unwrap(),
            "Ensure that there are no more than 6 digits before the decimal point."
        );
        assert!(p("999999.99").is_none());
    }

    #[test]
    fn datetimes_and_dates() {
        for ok in [
            "2026-11-29",
            "2026-11-29T23:02",
            "2026-11-29T23:02:21.846694Z",
            "2026-11-29 23:02:21+01:00",
        ] {
            assert!(is_iso_datetime(ok), "{ok}");
        }
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30T00:00",
            "2026-11-29T24:00",
            "2026-11-29T23:02:21+1",
        ] {
            assert!(!is_iso_datetime(bad), "{bad}");
        }
        assert_eq!(iso_date("2026-1-5").as_deref(), Some("2026-01-05"));
        assert_eq!(iso_date("20261129").as_deref(), Some("2026-11-29"));
        assert!(iso_date("29/11/2026").is_none());
    }
}
