//! Normalised transcripts: a case's wire log with everything volatile taken out, so that one
//! set of snapshots describes every server that behaves like DCRF 1.3.0.
//!
//! Normalisation:
//!
//! - timings are dropped; endpoints are named by role (`observer`, `full`, `multiplexed`),
//!   not by URL;
//! - JSON is printed with sorted keys (SPEC 2.2.3: key order carries no meaning);
//! - primary keys of instances the case created become `[pk]`, `[pk2]`, ... wherever they
//!   appear under the key `pk`, `id` or the lookup field, and in mutation lines;
//! - the run's random token in the values the cases give their instances becomes `[run]`;
//! - a string value that is an ISO 8601 date-time (`2026-11-29T23:02:21.846694Z`, DRF's
//!   format of an `auto_now` field) becomes `[timestamp]`: the server makes it;
//! - frames the server sent between two client actions are sorted (per connection, then by
//!   text): replies and events may interleave in any order (SPEC 4.3.4);
//! - an `update` event with status 404 immediately followed, on the same connection, by the
//!   `delete` event of the same subscription is dropped: SPEC 5.8.3 makes it a superseded
//!   artefact of re-reading at delivery.
//!
//! Only cases marked portable (`Case::portable`) are expected to give identical transcripts
//! on every such server; [`collect`] runs exactly those.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Error;
use crate::runner::{RunOptions, RunReport, run};
use crate::target::Target;
use crate::verdict::CaseResult;
use crate::wire::WireEvent;

/// Renders a JSON value with sorted object keys and exact numbers.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(&object[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What the normaliser redacts.
struct Redactor<'a> {
    pks: Vec<Value>,
    nonce: &'a str,
    lookup_field: &'a str,
}

impl Redactor<'_> {
    fn pk_label(&self, value: &Value) -> Option<String> {
        let index = self.pks.iter().position(|pk| pk_equal(pk, value))?;
        Some(if index == 0 {
            "[pk]".to_owned()
        } else {
            format!("[pk{}]", index + 1)
        })
    }

    fn value(&self, value: &Value, key: Option<&str>) -> Value {
        match value {
            Value::Object(object) => Value::Object(
                object
                    .iter()
                    .map(|(k, v)| (k.clone(), self.value(v, Some(k))))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.value(v, None)).collect())
            }
            Value::String(text) => {
                if let Some(label) = is_pk_key(key, self.lookup_field)
                    .then(|| self.pk_label(value))
                    .flatten()
                {
                    return Value::from(label);
                }
                if is_timestamp(text) {
                    return Value::from("[timestamp]");
                }
                Value::from(self.text(text))
            }
            Value::Number(_) if is_pk_key(key, self.lookup_field) => self
                .pk_label(value)
                .map_or_else(|| value.clone(), Value::from),
            other => other.clone(),
        }
    }

    fn text(&self, text: &str) -> String {
        if self.nonce.is_empty() {
            text.to_owned()
        } else {
            text.replace(self.nonce, "[run]")
        }
    }

    fn frame(&self, text: &str) -> String {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => canonical_json(&self.value(&value, None)),
            Err(_) => self.text(text),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `±HH:MM`: a date-time as DRF
/// prints it.
fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let head = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !head {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return false;
        }
        rest = &fraction[end..];
    }
    let zone = rest.as_bytes();
    rest == "Z"
        || (zone.len() == 6
            && matches!(zone[0], b'+' | b'-')
            && zone[1..3].iter().all(u8::is_ascii_digit)
            && zone[3] == b':'
            && zone[4..6].iter().all(u8::is_ascii_digit))
}

fn is_pk_key(key: Option<&str>, lookup_field: &str) -> bool {
    matches!(key, Some(k) if k == "pk" || k == "id" || k == lookup_field)
}

/// Primary keys compare as JSON values, and a number equals its decimal string (`5` = `"5"`).
fn pk_equal(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    a == b || (!a.is_object() && !b.is_object() && text(a) == text(b))
}

fn role(url: &str, target: &Target) -> &'static str {
    if url == target.url {
        "observer"
    } else if target.full_url.as_deref() == Some(url) {
        "full"
    } else if target.multiplexed_url.as_deref() == Some(url) {
        "multiplexed"
    } else {
        "other"
    }
}

/// One printed line and whether the server sent it (server lines are sorted within a block).
struct Line {
    from_server: bool,
    conn: String,
    text: String,
    /// For received frames: (action, status, request_id) to find superseded 404 updates.
    event_key: Option<(String, u64, Value)>,
}

/// The normalised transcript of one case result (see the module documentation).
///
/// `nonce` is the run's token ([`RunReport::run_nonce`]).
pub fn normalise(result: &CaseResult, target: &Target, nonce: &str) -> String {
    let redactor = Redactor {
        pks: result.created_pks.clone(),
        nonce,
        lookup_field: &target.lookup_field,
    };
    let mut lines: Vec<Line> = Vec::new();
    for entry in &result.wire {
        let conn = entry.conn.clone();
        let (from_server, text, event_key) = match &entry.event {
            WireEvent::Open { url } => (false, format!("open {}", role(url, target)), None),
            WireEvent::Sent { text } => (false, format!("-> {}", redactor.frame(text)), None),
            WireEvent::Received { text } => {
                let key = serde_json::from_str::<Value>(text).ok().map(|value| {
                    let payload = value.get("payload").cloned().unwrap_or(value);
                    (
                        payload
                            .get("action")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        payload
                            .get("response_status")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                        payload.get("request_id").cloned().unwrap_or(Value::Null),
                    )
                });
                (true, format!("<- {}", redactor.frame(text)), key)
            }
            WireEvent::ReceivedBinary { bytes } => {
                (true, format!("<- binary frame ({bytes} bytes)"), None)
            }
            WireEvent::Closed { code, .. } => (
                true,
                match code {
                    Some(code) => format!("xx closed by the server with code {code}"),
                    None => "xx connection ended without a close frame".to_owned(),
                },
                None,
            ),
            WireEvent::Quiet { .. } => (false, ".. nothing more".to_owned(), None),
            WireEvent::ClientClose => (false, "xx client closes (1000)".to_owned(), None),
            WireEvent::Note { text } => (false, format!("## {}", redactor.text(text)), None),
            WireEvent::Mutation {
                operation,
                pk,
                fields,
            } => {
                let pk = redactor.pk_label(pk).unwrap_or_else(|| canonical_json(pk));
                let fields = if fields.is_null() {
                    String::new()
                } else {
                    format!(" {}", canonical_json(&redactor.value(fields, None)))
                };
                (false, format!("{operation} {pk}{fields}"), None)
            }
        };
        lines.push(Line {
            from_server,
            conn,
            text,
            event_key,
        });
    }
    drop_superseded_updates(&mut lines);

    let mut out = format!(
        "# {} {} ({}, SPEC {}): {}\n",
        result.id,
        result.slug,
        result.level,
        result.section,
        result.verdict.label()
    );
    let mut index = 0;
    while index < lines.len() {
        if lines[index].from_server {
            let start = index;
            while index < lines.len() && lines[index].from_server {
                index += 1;
            }
            let mut block: Vec<&Line> = lines[start..index].iter().collect();
            // Closes stay after frames of their connection.
            block.sort_by(|a, b| {
                (a.conn.as_str(), a.text.starts_with("xx"), a.text.as_str()).cmp(&(
                    b.conn.as_str(),
                    b.text.starts_with("xx"),
                    b.text.as_str(),
                ))
            });
            for line in block {
                out.push_str(&format!("{:<4} {}\n", line.conn, line.text));
            }
        } else {
            out.push_str(&format!("{:<4} {}\n", lines[index].conn, lines[index].text));
            index += 1;
        }
    }
    out
}

/// Drops a 404 `update` event that the same connection follows with the `delete` event of
/// the same subscription (SPEC 5.8.3).
fn drop_superseded_updates(lines: &mut Vec<Line>) {
    let mut drop = vec![false; lines.len()];
    for (i, line) in lines.iter().enumerate() {
        let Some((action, 404, request_id)) = &line.event_key else {
            continue;
        };
        if action != "update" {
            continue;
        }
        let next = lines[i + 1..]
            .iter()
            .find(|later| later.conn == line.conn && later.event_key.is_some());
        if let Some(Line {
            event_key: Some((next_action, _, next_id)),
            ..
        }) = next
            && next_action == "delete"
            && next_id == request_id
        {
            drop[i] = true;
        }
    }
    let mut index = 0;
    lines.retain(|_| {
        let keep = !drop[index];
        index += 1;
        keep
    });
}

/// Normalised transcripts of every case in `report`, by case id.
pub fn from_report(report: &RunReport, target: &Target) -> BTreeMap<String, String> {
    report
        .cases
        .iter()
        .map(|case| (case.id.clone(), normalise(case, target, &report.run_nonce)))
        .collect()
}

/// Runs the portable cases against `target` and returns their normalised transcripts by
/// case id: what the snapshot tests compare, for the reference server and for real DCRF.
pub async fn collect(
    target: &Target,
    options: &RunOptions,
) -> Result<BTreeMap<String, String>, Error> {
    let options = RunOptions {
        portable_only: true,
        ..options.clone()
    };
    let report = run(target, &options, |_, _, _| {}).await?;
    Ok(from_report(&report, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_recognised() {
        for yes in [
            "2026-11-29T23:02:21.846694Z",
            "2026-11-29T23:02:21Z",
            "2026-11-29T23:02:21.5+01:00",
        ] {
            assert!(is_timestamp(yes), "{yes}");
        }
        for no in [
            "2026-11-29",
            "2026-11-29T23:02:21",
            "2026-11-29T23:02:21.Z",
            "x026-11-29T23:02:21Z",
            "2026-11-29T23:02:21Zx",
            "test 1",
        ] {
            assert!(!is_timestamp(no), "{no}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_and_keeps_digits() {
        let value: Value =
            serde_json::from_str(r#"{"b":1,"a":[{"d":18446744073709551617,"c":null}]}"#)
                .expect("json");
        assert_eq!(
            canonical_json(&value),
            r#"{"a":[{"c":null,"d":18446744073709551617}],"b":1}"#
        );
    }

    #[test]
    fn redacts_created_pks_by_key_only() {
        let redactor = Redactor {
            pks: vec![Value::from(7), Value::from(9)],
            nonce: "abcd1234",
            lookup_field: "pk",
        };
        let frame =
            r#"{"data":{"id":7,"username":"c5.5.1-1-abcd1234"},"request_id":7,"x":{"pk":"9"}}"#;
        assert_eq!(
            redactor.frame(frame),
            r#"{"data":{"id":"[pk]","username":"c5.5.1-1-[run]"},"request_id":7,"x":{"pk":"[pk2]"}}"#
        );
    }
}
