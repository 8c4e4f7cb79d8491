//! JSON text as DCRF 1.3.0 prints it: Python's `json.dumps` with its default settings
//! (`interop/dcrf/PROFILE-NOTES.md` sections 2 and 3, SPEC §2.2.3, §10.6).
//!
//! - separators `", "` and `": "`, no other whitespace;
//! - `ensure_ascii`: every character outside U+0020..U+007E escaped `\uXXXX` with lowercase
//!   hex (a surrogate pair above U+FFFF), `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`; `/` as is;
//! - integers with their digits (`-0` printed `0`); other numbers as Python's `repr` of the
//!   nearest double (`1e2` → `100.0`, `1e16` → `1e+16`).
//!
//! What Python cannot print as JSON (an integer of more than 4,300 digits, a number that
//! overflows a double) is an [`Unrepresentable`] error: the `dcrf-1.3.0` profile closes the
//! socket with 1011 there, where DCRF crashes or sends `Infinity`.

use serde_json::{Number, Value};

/// Python's `sys.int_info.str_digits_check_threshold` default: longer integers raise.
pub(crate) const INT_MAX_STR_DIGITS: usize = 4300;

/// A value that DCRF could not parse or print as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unrepresentable;

/// `value` as `json.dumps(value)` prints it.
pub(crate) fn to_string(value: &Value) -> Result<String, Unrepresentable> {
    let mut out = String::new();
    write(value, &mut out)?;
    Ok(out)
}

/// Appends `value` as `json.dumps(value)` prints it.
pub(crate) fn write(value: &Value, out: &mut String) -> Result<(), Unrepresentable> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number_text(number)?),
        Value::String(text) => write_str(text, out),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                write(item, out)?;
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (n, (key, item)) in object.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                write_str(key, out);
                out.push_str(": ");
                write(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Whether Python's `json.loads` takes every number of `value` (no integer longer than
/// [`INT_MAX_STR_DIGITS`] digits).
pub(crate) fn parses_in_python(value: &Value) -> bool {
    !too_long_integer(value)
}

fn too_long_integer(value: &Value) -> bool {
    match value {
        Value::Number(number) => {
            let text = number.to_string();
            is_integer_text(&text) && text.trim_start_matches('-').len() > INT_MAX_STR_DIGITS
        }
        Value::Array(items) => items.iter().any(too_long_integer),
        Value::Object(object) => object.values().any(too_long_integer),
        _ => false,
    }
}

fn is_integer_text(text: &str) -> bool {
    !text.contains(['.', 'e', 'E'])
}

/// A number as Python prints it after `json.loads`.
pub(crate) fn number_text(number: &Number) -> Result<String, Unrepresentable> {
    let text = number.to_string();
    if is_integer_text(&text) {
        let digits = text.trim_start_matches('-');
        if digits.len() > INT_MAX_STR_DIGITS {
            return Err(Unrepresentable);
        }
        if digits.trim_start_matches('0').is_empty() {
            return Ok("0".to_owned());
        }
        return Ok(text);
    }
    match number.as_f64() {
        Some(f) if f.is_finite() => Ok(float_repr(f)),
        _ => Err(Unrepresentable),
    }
}

/// Python's `repr` of a finite double: the shortest digits that round-trip, in exponent
/// form (`1e+16`, `1.5e-07`) when the decimal exponent is below -4 or at least 16, else in
/// fixed form with `.0` for an integral value.
pub(crate) fn float_repr(f: f64) -> String {
    // Rust's `{:e}` gives the shortest round-trip digits: `d[.ddd]e[-]N`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exp_sign}{:02}", exp.abs());
    }
    // Fixed notation: the point goes after digit exp (counting from 0).
    let point = exp + 1;
    let (int_part, frac_part) = if point <= 0 {
        (
            "0".to_owned(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        let (a, b) = digits.split_at(point as usize);
        (a.to_owned(), b.to_owned())
    };
    let frac_part = if frac_part.is_empty() {
        "0".to_owned()
    } else {
        frac_part
    };
    format!("{sign}{int_part}.{frac_part}")
}

/// A string with `ensure_ascii` escaping.
pub(crate) fn write_str(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dumps(text: &str) -> String {
        let value: Value = serde_json::from_str(text).expect("json");
        to_string(&value).expect("representable")
    }

    #[test]
    fn separators_and_escapes() {
        assert_eq!(
            dumps(r#"{"b":1,"a":[1,2],"s":"h\u00e9llo 😀/\u007f\t\"\\"}"#),
            r#"{"b": 1, "a": [1, 2], "s": "h\u00e9llo \ud83d\ude00/\u007f\t\"\\"}"#
        );
        assert_eq!(dumps(r#""\u2028\u0001""#), r#""\u2028\u0001""#);
    }

    #[test]
    fn numbers_as_python_prints_them() {
        for (input, printed) in [
            ("-0", "0"),
            ("18446744073709551617", "18446744073709551617"),
            ("1.5", "1.5"),
            ("1.0", "1.0"),
            ("1e2", "100.0"),
            ("1e15", "1000000000000000.0"),
            ("1e16", "1e+16"),
            ("1.5e-7", "1.5e-07"),
            ("1e-5", "1e-05"),
            ("0.0001", "0.0001"),
            ("123456789012345678.0", "1.2345678901234568e+17"),
            ("5E-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("0.1000000000000000055511151231257827", "0.1"),
            ("-0.0", "-0.0"),
            ("1E-400", "0.0"),
            ("-2.5", "-2.5"),
            ("0.5", "0.5"),
        ] {
            assert_eq!(dumps(input), printed, "{input}");
        }
    }

    #[test]
    fn what_python_cannot_print() {
        let overflow: Value = serde_json::from_str("1E400").expect("json");
        assert_eq!(to_string(&overflow), Err(Unrepresentable));
        let long: Value = serde_json::from_str(&"9".repeat(4301)).expect("json");
        assert_eq!(to_string(&long), Err(Unrepresentable));
        assert!(!parses_in_python(&serde_json::json!({ "x": [long] })));
        let ok: Value = serde_json::from_str(&"9".repeat(4300)).expect("json");
        assert!(parses_in_python(&ok));
        assert_eq!(to_string(&ok).map(|t| t.len()), Ok(4300));
    }
}
