//! What DCRF's `UserSerializer` (a DRF `ModelSerializer` of Django's `User`) does with
//! `data`, and how Django casts a lookup value: the behaviour observed on DCRF 1.3.0
//! (interop/dcrf/observed) reproduced message for message (SPEC §3.3, §6.6).

use serde_json::{Map, Value};

use crate::UserRecord;
use crate::model::Instance;
use crate::store::{Mutation, Table};

/// Casts a lookup argument the way Django's `IntegerField.get_prep_value` (`int(value)`)
/// does: integers as they are, floats truncated (`1.5` finds 1), booleans as 1 and 0,
/// strings parsed after trimming whitespace (`" 1"` and `"01"` find 1). Anything else, or
/// a value outside the 64-bit range, names no instance (SPEC §3.3.2).
pub(crate) fn lookup_pk(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            if number.as_u64().is_some() {
                return None;
            }
            let float = number.as_f64()?.trunc();
            (float.is_finite() && float >= i64::MIN as f64 && float < i64::MAX as f64)
                .then_some(float as i64)
        }),
        Value::Bool(flag) => Some(i64::from(*flag)),
        Value::String(text) => python_int(text),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Python's `int(str)`: optional sign, decimal digits, single underscores between digits,
/// surrounding whitespace ignored.
fn python_int(text: &str) -> Option<i64> {
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.as_bytes().first()? {
        b'-' => (true, &trimmed[1..]),
        b'+' => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let magnitude: i128 = clean.parse().ok()?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).ok()
}

/// Python's `str()` of a JSON scalar, as DCRF formats it into `Method "X" not allowed.`
/// (`null` is `None`, `true` is `True`, `1e2` is `100.0`).
pub(crate) fn python_str(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::String(text) => text.clone(),
        Value::Number(number) => python_number(number),
        other => other.to_string(),
    }
}

fn python_number(number: &serde_json::Number) -> String {
    let text = number.to_string();
    let is_integer = !text.contains(['.', 'e', 'E']);
    if is_integer {
        return match text.trim_start_matches('-').trim_start_matches('0') {
            "" => "0".to_owned(),
            _ => text,
        };
    }
    match number.as_f64() {
        Some(f) if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.to_owned(),
        Some(f) if f == f.trunc() && f.abs() < 1e16 => format!("{f:.1}"),
        Some(f) => {
            let debug = format!("{f:?}");
            match debug.split_once('e') {
                Some((mantissa, exp)) if !exp.starts_with('-') => {
                    format!("{mantissa}e+{exp:0>2}")
                }
                Some((mantissa, exp)) => format!("{mantissa}e-{:0>2}", &exp[1..]),
                None => debug,
            }
        }
        None => text,
    }
}

/// Python's type name of a JSON value, as DRF prints it ("Expected a dictionary, but got str.").
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.as_i64().is_some() || number.as_u64().is_some() => "int",
        Value::Number(number) if !number.to_string().contains(['.', 'e', 'E']) => "int",
        Value::Number(_) => "float",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Which serializer call the data is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `create`: username and password required.
    Create,
    /// `update` (PUT): username and password required; email kept when absent.
    Update,
    /// `patch` (partial): nothing required.
    Patch,
}

const MSG_REQUIRED: &str = "This field is required.";
const MSG_NULL: &str = "This field may not be null.";
const MSG_BLANK: &str = "This field may not be blank.";
const MSG_NOT_STRING: &str = "Not a valid string.";
const MSG_USERNAME: &str = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
const MSG_UNIQUE: &str = "A user with that username already exists.";
const MSG_EMAIL: &str = "Enter a valid email address.";
const MSG_NUL: &str = "Null characters are not allowed.";

/// Validates `data` for `mode` against the table, and returns the mutation to apply or
/// DRF's error object (`{"field": ["message", ...]}`, fields in serializer order).
///
/// `instance` is the user being updated (None for create).
pub(crate) fn validate(
    table: &Table,
    mode: Mode,
    instance: Option<&UserRecord>,
    data: &Value,
) -> Result<Mutation, Value> {
    let object = match data {
        Value::Object(object) => object,
        Value::Null => return Err(non_field_error("No data provided".to_owned())),
        other => {
            return Err(non_field_error(format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(other)
            )));
        }
    };
    let required = mode != Mode::Patch;
    let mut errors = Map::new();
    let exclude = instance.map(|u| u.id);

    let username = char_field(object, "username", required, false, |value, messages| {
        if !value
            .chars()
            .all(|c| c.is_alphanumeric() || "_.@+-".contains(c))
        {
            messages.push(MSG_USERNAME);
        }
        if table.username_taken(value, exclude) {
            messages.push(MSG_UNIQUE);
        }
        if value.chars().count() > 150 {
            messages.push("Ensure this field has no more than 150 characters.");
        }
        if value.contains('\0') {
            messages.push(MSG_NUL);
        }
    });
    // Email is optional on Django's User. The seed serializer's create() reads it anyway, so
    // DCRF closes the socket without it; the reference server creates the user with an empty
    // email, as the model's default says (SPEC §10.7).
    let email = char_field(object, "email", false, true, |value, messages| {
        if value.chars().count() > 254 {
            messages.push("Ensure this field has no more than 254 characters.");
        }
        if value.contains('\0') {
            messages.push(MSG_NUL);
        }
        if !is_valid_email(value) {
            messages.push(MSG_EMAIL);
        }
    });
    let password = char_field(object, "password", required, false, |value, messages| {
        if value.chars().count() > 128 {
            messages.push("Ensure this field has no more than 128 characters.");
        }
        if value.contains('\0') {
            messages.push(MSG_NUL);
        }
    });
    for (name, result) in [
        ("username", &username),
        ("email", &email),
        ("password", &password),
    ] {
        if let Err(messages) = result {
            errors.insert(name.to_owned(), messages.iter().copied().collect());
        }
    }
    if !errors.is_empty() {
        return Err(Value::Object(errors));
    }
    let (username, email, password) = (
        username.ok().flatten(),
        email.ok().flatten(),
        password.ok().flatten(),
    );
    Ok(match instance {
        None => Mutation::Create {
            pk: None,
            fields: Instance::from_user(&UserRecord {
                id: 0,
                username: username.unwrap_or_default(),
                email: email.unwrap_or_default(),
                password,
            })
            .fields,
        },
        Some(user) => Mutation::Save(Instance::from_user(&UserRecord {
            id: user.id,
            username: username.unwrap_or_else(|| user.username.clone()),
            email: email.unwrap_or_else(|| user.email.clone()),
            password: password.or_else(|| user.password.clone()),
        })),
    })
}

fn non_field_error(message: String) -> Value {
    serde_json::json!({"non_field_errors": [message]})
}

/// A DRF `CharField`: Ok(None) when absent and not required, Ok(Some(text)) when valid,
/// Err(messages) otherwise. Whitespace is trimmed; numbers become their Python `str()`.
fn char_field(
    object: &Map<String, Value>,
    name: &str,
    required: bool,
    allow_blank: bool,
    validators: impl FnOnce(&str, &mut Vec<&'static str>),
) -> Result<Option<String>, Vec<&'static str>> {
    let Some(value) = object.get(name) else {
        return if required {
            Err(vec![MSG_REQUIRED])
        } else {
            Ok(None)
        };
    };
    let text = match value {
        Value::Null => return Err(vec![MSG_NULL]),
        Value::String(text) => text.trim().to_owned(),
        Value::Number(_) => python_str(value),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => return Err(vec![MSG_NOT_STRING]),
    };
    if text.is_empty() {
        return if allow_blank {
            Ok(Some(String::new()))
        } else {
            Err(vec![MSG_BLANK])
        };
    }
    let mut messages = Vec::new();
    validators(&text, &mut messages);
    if messages.is_empty() {
        Ok(Some(text))
    } else {
        Err(messages)
    }
}

/// Django's `EmailValidator`, closely: a dot-atom (or quoted) user part, and a domain of
/// dot-separated labels ending in a TLD of 2 to 63 letters/digits/hyphens, or `localhost`,
/// or an IP literal in brackets.
fn is_valid_email(value: &str) -> bool {
    if value.chars().count() > 320 {
        return false;
    }
    let Some((user, domain)) = value.rsplit_once('@') else {
        return false;
    };
    let atom = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{}|~-".contains(c))
    };
    let user_ok = user.split('.').all(atom)
        || (user.len() >= 2
            && user.starts_with('"')
            && user.ends_with('"')
            && !user[1..user.len() - 1].contains(['"', '\\']));
    if !user_ok {
        return false;
    }
    if domain == "localhost" {
        return true;
    }
    if domain.starts_with('[') && domain.ends_with(']') {
        return domain[1..domain.len() - 1]
            .parse::<std::net::IpAddr>()
            .is_ok();
    }
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, rest)) = labels.split_last() else {
        return false;
    };
    let label_ok = |label: &str| {
        let len = label.chars().count();
        (1..=63).contains(&len)
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    !rest.is_empty()
        && rest.iter().all(|label| label_ok(label))
        && (2..=63).contains(&tld.chars().count())
        && label_ok(tld)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_casts_like_django() {
        let cases = [
            (json!(1), Some(1)),
            (json!("1"), Some(1)),
            (json!(" 1"), Some(1)),
            (json!("01"), Some(1)),
            (json!(1.5), Some(1)),
            (json!(1.0), Some(1)),
            (json!(true), Some(1)),
            (json!(false), Some(0)),
            (json!("abc"), None),
            (json!("1.0"), None),
            (json!(null), None),
            (json!([1]), None),
            (json!({"a": 1}), None),
        ];
        for (value, expected) in cases {
            assert_eq!(lookup_pk(&value), expected, "{value}");
        }
        let huge: Value = serde_json::from_str("18446744073709551617").unwrap();
        assert_eq!(lookup_pk(&huge), None);
    }

    #[test]
    fn python_str_matches_dcrf_messages() {
        assert_eq!(python_str(&json!(42)), "42");
        assert_eq!(python_str(&json!(null)), "None");
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&serde_json::from_str("1e2").unwrap()), "100.0");
        assert_eq!(python_str(&json!(1.5)), "1.5");
    }

    #[test]
    fn emails() {
        for ok in [
            "1@example.com",
            "a.b+c@x.io",
            "x@localhost",
            "u@[127.0.0.1]",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "nope",
            "not an email",
            "a@b",
            "@x.com",
            "a@-x.com",
            "a..b@x.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
