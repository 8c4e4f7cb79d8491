//! The common request, decoded without building a `Value` of the frame, and its reply
//! printed without a `Reply` (strict profile only).
//!
//! Nearly every frame a client sends is `{"action": A, "request_id": R, "pk": P}` with A one
//! of the lookup actions: `retrieve`, `subscribe_instance`, `unsubscribe_instance`,
//! `delete`. [`CommonRequest::parse`] reads that shape straight from the text, borrowing
//! the action and the raw JSON text of the request_id and of the lookup, and refuses
//! anything else (another key, a key or an action written with escapes, a duplicate key, a
//! request_id whose printed form could differ from its text, an array or object `pk`). A
//! refused frame takes the general path (`ws.rs`), which parses it into a `Value` and a
//! `dcrf_protocol::Request`.
//!
//! Architecture Invariant: the fast path changes no observable behaviour. For a frame it
//! accepts, the general path would build the same `Request` ([`CommonRequest::to_request`];
//! tested against `Request::from_value` on a corpus) and print the same reply
//! ([`reply_frame`] is `Reply::to_frame`'s text; tested byte for byte); the connection uses
//! it only where the general path's reply is `Reply::to_frame` with nothing altered: the
//! strict profile, no fault injected, no multiplexer envelope. The test
//! `fast_path::tests::same_frames_with_and_without_the_fast_path` runs every recorded DCRF
//! script and a generated corpus through a connection with and without it, byte for byte.

use std::fmt;
use std::io::Write as _;

use dcrf_protocol::Action;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// A request of the common shape, borrowed from its frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommonRequest<'a> {
    /// One of the lookup actions.
    pub(crate) action: LookupAction,
    /// The request_id's JSON text, when the frame has one: a number without an exponent,
    /// `null`, `true`, `false`, or a string without escapes, so that the general path
    /// prints it back as this same text.
    request_id: Option<&'a RawValue>,
    /// The lookup argument's JSON text (`pk`): not an array or an object.
    pk: &'a RawValue,
}

/// The actions the fast path takes: the ones whose only argument is the lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupAction {
    Retrieve,
    SubscribeInstance,
    UnsubscribeInstance,
    Delete,
}

impl LookupAction {
    fn from_name(name: &str) -> Option<LookupAction> {
        Some(match name {
            "retrieve" => LookupAction::Retrieve,
            "subscribe_instance" => LookupAction::SubscribeInstance,
            "unsubscribe_instance" => LookupAction::UnsubscribeInstance,
            "delete" => LookupAction::Delete,
            _ => return None,
        })
    }

    /// The protocol's action.
    pub(crate) fn action(self) -> Action {
        match self {
            LookupAction::Retrieve => Action::Retrieve,
            LookupAction::SubscribeInstance => Action::SubscribeInstance,
            LookupAction::UnsubscribeInstance => Action::UnsubscribeInstance,
            LookupAction::Delete => Action::Delete,
        }
    }

    /// The name on the wire.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LookupAction::Retrieve => "retrieve",
            LookupAction::SubscribeInstance => "subscribe_instance",
            LookupAction::UnsubscribeInstance => "unsubscribe_instance",
            LookupAction::Delete => "delete",
        }
    }
}

impl<'a> CommonRequest<'a> {
    /// Reads `frame` when it has the common shape; `None` sends it down the general path.
    pub(crate) fn parse(frame: &'a str) -> Option<CommonRequest<'a>> {
        serde_json::from_str(frame).ok()
    }

    /// The request_id's JSON text; `null` when the frame has none (the reply's request_id).
    pub(crate) fn request_id_text(&self) -> &'a str {
        self.request_id.map_or("null", RawValue::get)
    }

    /// The request_id as the general path holds it, `None` when the frame has none.
    pub(crate) fn request_id_value(&self) -> Option<Value> {
        self.request_id
            .map(|raw| serde_json::from_str(raw.get()).unwrap_or(Value::Null))
    }

    /// The request_id as a `RequestId`, `None` when the frame has none.
    pub(crate) fn request_id(&self) -> Option<dcrf_protocol::RequestId> {
        self.request_id
            .map(|raw| dcrf_protocol::RequestId::from_raw(raw.to_owned()))
    }

    /// The lookup argument's value, as the general path holds it.
    pub(crate) fn lookup(&self) -> Value {
        serde_json::from_str(self.pk.get()).unwrap_or(Value::Null)
    }

    /// The `Request` the general path builds from the same frame (for tests and checks).
    #[cfg(test)]
    pub(crate) fn to_request(self) -> dcrf_protocol::Request {
        dcrf_protocol::Request {
            action: self.action.action(),
            request_id: self.request_id_value().map(dcrf_protocol::RequestId::from),
            args: std::iter::once((
                dcrf_protocol::DEFAULT_LOOKUP_FIELD.to_owned(),
                self.lookup(),
            ))
            .collect(),
        }
    }
}

/// Whether the general path prints the request_id `raw` back as the same text: a number
/// without an exponent (kept digit for digit; `1E3` would come back as `1e+3`), a literal,
/// or a string with no escape (printed without one).
fn prints_as_sent(raw: &RawValue) -> bool {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => !text.contains('\\'),
        Some(b'-' | b'0'..=b'9') => !text.contains(['e', 'E']),
        Some(b'n' | b't' | b'f') => true,
        _ => false,
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for CommonRequest<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CommonVisitor(std::marker::PhantomData))
    }
}

struct CommonVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for CommonVisitor<'a> {
    type Value = CommonRequest<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request of the common shape")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CommonRequest<'a>, A::Error> {
        let mut action = None;
        let mut request_id = None;
        let mut pk = None;
        // Keys and the action are borrowed: text with escapes is refused here.
        while let Some(key) = map.next_key::<&'de str>()? {
            let duplicate = match key {
                "action" => {
                    let name = map.next_value::<&'de str>()?;
                    let known = LookupAction::from_name(name)
                        .ok_or_else(|| de::Error::custom("not a lookup action"))?;
                    action.replace(known).is_some()
                }
                "request_id" => {
                    let raw = map.next_value::<&'de RawValue>()?;
                    if !prints_as_sent(raw) {
                        return Err(de::Error::custom("a request_id printed otherwise"));
                    }
                    request_id.replace(raw).is_some()
                }
                "pk" => {
                    let raw = map.next_value::<&'de RawValue>()?;
                    if matches!(raw.get().as_bytes().first(), Some(b'[' | b'{')) {
                        return Err(de::Error::custom("a structured lookup"));
                    }
                    pk.replace(raw).is_some()
                }
                _ => return Err(de::Error::custom("another key")),
            };
            if duplicate {
                return Err(de::Error::custom("a duplicate key"));
            }
        }
        Ok(CommonRequest {
            action: action.ok_or_else(|| de::Error::missing_field("action"))?,
            request_id,
            pk: pk.ok_or_else(|| de::Error::missing_field("pk"))?,
        })
    }
}

/// The `data` of a reply.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Data<'a> {
    /// A value, printed compact.
    Value(&'a Value),
    /// Compact JSON text, spliced in as it is (`store::user_json_text`).
    Json(&'a str),
}

/// The strict profile's reply frame, as `Reply::to_frame` prints it: `errors`, `data`,
/// `action` (a name that needs no escape), `response_status`, and the request_id's text.
pub(crate) fn reply_frame(
    errors: &[Value],
    data: Data<'_>,
    action: &str,
    status: u16,
    request_id: &str,
) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(96 + request_id.len());
    out.extend_from_slice(b"{\"errors\":");
    // Printing `Value`s into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, errors);
    out.extend_from_slice(b",\"data\":");
    match data {
        Data::Value(value) => {
            let _ = serde_json::to_writer(&mut out, value);
        }
        Data::Json(text) => out.extend_from_slice(text.as_bytes()),
    }
    out.extend_from_slice(b",\"action\":\"");
    out.extend_from_slice(action.as_bytes());
    out.extend_from_slice(b"\",\"response_status\":");
    let _ = write!(out, "{status}");
    out.extend_from_slice(b",\"request_id\":");
    out.extend_from_slice(request_id.as_bytes());
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use dcrf_protocol::{Reply, ReplyAction, Request, RequestId};
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::ws::Decode;
    use crate::{Config, Profile};

    /// A small deterministic generator (xorshift64*): the same corpus on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// Action values, written as on the wire (with escapes, other types, unknown names).
    const ACTIONS: &[&str] = &[
        r#""retrieve""#,
        r#""retrieve""#,
        r#""subscribe_instance""#,
        r#""subscribe_instance""#,
        r#""unsubscribe_instance""#,
        r#""delete""#,
        r#""list""#,
        r#""create""#,
        r#""ret\u0072ieve""#,
        r#""Retrieve""#,
        r#""ping""#,
        "5",
        "null",
        r#"["retrieve"]"#,
    ];

    /// request_id values; "" stands for no request_id at all.
    const REQUEST_IDS: &[&str] = &[
        "",
        "1",
        "42",
        "-0",
        "1.50",
        "1e3",
        "1E3",
        "-12.5e-3",
        "18446744073709551617",
        r#""s-1""#,
        r#""\u0041""#,
        r#""x\"y""#,
        r#""\/""#,
        r#""é""#,
        r#""""#,
        "null",
        "true",
        "false",
        "[1]",
        r#"{"a": 1}"#,
    ];

    /// pk values; "" stands for no pk.
    const PKS: &[&str] = &[
        "",
        "1",
        "1",
        "2",
        "3",
        "99",
        "-1",
        "0",
        r#""1""#,
        r#"" 2 ""#,
        r#""\u0031""#,
        r#""1_0""#,
        "1.0",
        "1.5",
        "1e400",
        "18446744073709551617",
        "null",
        "true",
        "[1]",
        r#"{"pk": 1}"#,
    ];

    /// Further members; "" stands for none.
    const EXTRAS: &[&str] = &[
        "",
        "",
        "",
        "",
        r#""data": {"username": "x"}"#,
        r#""x": 1"#,
        r#""pk": 2"#,
        r#""action": "retrieve""#,
        r#""request_id": 7"#,
        r#""\u0070k": 1"#,
        r#""queryset": 1"#,
    ];

    /// One frame from the generator: members in a random order, compact or spaced; one in
    /// three has a lookup action and no further member.
    fn frame(rng: &mut Rng) -> String {
        let mut members: Vec<String> = Vec::new();
        let plain = rng.below(3) == 0;
        let spaced = rng.below(3) == 0;
        let colon = if spaced { ": " } else { ":" };
        if plain {
            members.push(format!(r#""action"{colon}{}"#, rng.pick(&ACTIONS[..6])));
        } else if rng.below(20) != 0 {
            members.push(format!(r#""action"{colon}{}"#, rng.pick(ACTIONS)));
        }
        let request_id = rng.pick(REQUEST_IDS);
        if !request_id.is_empty() {
            members.push(format!(r#""request_id"{colon}{request_id}"#));
        }
        let pk = rng.pick(PKS);
        if !pk.is_empty() {
            members.push(format!(r#""pk"{colon}{pk}"#));
        }
        let extra = rng.pick(EXTRAS);
        if !plain && !extra.is_empty() {
            members.push(extra.to_owned());
        }
        for i in (1..members.len()).rev() {
            members.swap(i, rng.below(i + 1));
        }
        let comma = if spaced { ", " } else { "," };
        match rng.below(12) {
            0 => format!("[{}]", members.join(comma)),
            1 => format!(" {{ {} }} ", members.join(comma)),
            _ => format!("{{{}}}", members.join(comma)),
        }
    }

    fn corpus(seed: u64, count: usize) -> Vec<String> {
        let mut rng = Rng(seed);
        (0..count).map(|_| frame(&mut rng)).collect()
    }

    /// For every frame it takes, the fast path holds what the general path holds: the same
    /// `Request` (action, request_id with its text, arguments), the same request_id value
    /// and reply text.
    #[test]
    fn common_requests_decode_as_the_general_path_decodes_them() {
        let mut taken = 0;
        let mut refused = 0;
        for text in corpus(0x5EED_0001, 20_000) {
            let Some(common) = CommonRequest::parse(&text) else {
                refused += 1;
                continue;
            };
            taken += 1;
            let value: Value = serde_json::from_str(&text).expect("taken frames are JSON");
            let object = value.as_object().expect("taken frames are objects");
            let general = Request::from_value(value.clone()).expect("a request");
            let fast = common.to_request();
            assert_eq!(fast, general, "{text}");
            assert_eq!(fast.args, general.args, "{text}");
            // Equality of request_ids is DCRF's; the text must match too.
            assert_eq!(
                fast.request_id.as_ref().map(RequestId::raw),
                general.request_id.as_ref().map(RequestId::raw),
                "{text}"
            );
            assert_eq!(
                common.request_id().as_ref().map(RequestId::raw),
                general.request_id.as_ref().map(RequestId::raw),
                "{text}"
            );
            assert_eq!(
                common.request_id_value().as_ref(),
                general.request_id.as_ref().map(RequestId::as_value),
                "{text}"
            );
            // What the general path echoes in its reply.
            let echoed = RequestId::from(object.get("request_id").cloned().unwrap_or(Value::Null));
            assert_eq!(common.request_id_text(), echoed.raw(), "{text}");
            assert_eq!(
                Some(&Value::from(common.action.name())),
                object.get("action")
            );
        }
        // The corpus reaches both paths.
        assert!(
            taken > 1_000 && refused > 1_000,
            "{taken} taken, {refused} refused"
        );
    }

    /// Frames the fast path must refuse, whatever their content.
    #[test]
    fn unusual_frames_take_the_general_path() {
        for text in [
            r#"{"action":"retrieve","request_id":1}"#,
            r#"{"request_id":1,"pk":1}"#,
            r#"{"action":"list","request_id":1,"pk":1}"#,
            r#"{"action":"ret\u0072ieve","request_id":1,"pk":1}"#,
            r#"{"\u0061ction":"retrieve","request_id":1,"pk":1}"#,
            r#"{"action":"retrieve","request_id":"\u0041","pk":1}"#,
            r#"{"action":"retrieve","request_id":[1],"pk":1}"#,
            r#"{"action":"retrieve","request_id":1,"pk":[1]}"#,
            r#"{"action":"retrieve","request_id":1,"pk":1,"pk":2}"#,
            r#"{"action":"retrieve","request_id":1,"request_id":2,"pk":1}"#,
            r#"{"action":"retrieve","request_id":1,"pk":1,"x":1}"#,
            r#"{"action":"retrieve","request_id":1,"pk":1} x"#,
            r#"[{"action":"retrieve","request_id":1,"pk":1}]"#,
            r#"{"action":"retrieve","request_id":1,"pk":1"#,
        ] {
            assert!(CommonRequest::parse(text).is_none(), "{text}");
        }
        let common = CommonRequest::parse(r#" { "pk" : "1" , "action" : "delete" } "#)
            .expect("the common shape, spaced");
        assert_eq!(common.action, LookupAction::Delete);
        assert_eq!(common.request_id_text(), "null");
        assert_eq!(common.lookup(), json!("1"));
    }

    /// `reply_frame` prints what `Reply::to_frame` prints.
    #[test]
    fn reply_frames_are_reply_to_frame() {
        let errors: [Vec<Value>; 3] = [
            vec![],
            vec![json!("Not found")],
            vec![json!({"username": ["This field is required.", "é \" \\ \u{1}"]})],
        ];
        let data = [
            Value::Null,
            json!({"id": 1, "username": "test 1", "email": "1@example.com"}),
            json!({"id": -3, "username": "é \" \\ \u{7f} \u{1}", "email": ""}),
            serde_json::from_str::<Value>(r#"{"pk": 18446744073709551617, "f": 1.50}"#).unwrap(),
        ];
        let mut checked = 0;
        for request_id in REQUEST_IDS.iter().filter(|id| !id.is_empty()) {
            let text = format!(r#"{{"action":"retrieve","request_id":{request_id},"pk":1}}"#);
            let Some(common) = CommonRequest::parse(&text) else {
                continue;
            };
            for action in [
                LookupAction::Retrieve,
                LookupAction::SubscribeInstance,
                LookupAction::UnsubscribeInstance,
                LookupAction::Delete,
            ] {
                for (status, errors) in [200u16, 404, 201, 204, 400, 429]
                    .into_iter()
                    .zip(errors.iter().cycle())
                {
                    for data in &data {
                        let general = Reply {
                            errors: errors.clone(),
                            data: data.clone(),
                            action: ReplyAction::from_value(Value::from(action.name())),
                            response_status: status,
                            request_id: RequestId::from(
                                serde_json::from_str::<Value>(request_id).unwrap(),
                            ),
                            extra: Map::new(),
                        }
                        .to_frame();
                        let fast = reply_frame(
                            errors,
                            Data::Value(data),
                            action.name(),
                            status,
                            common.request_id_text(),
                        );
                        assert_eq!(fast, general);
                        let text = data.to_string();
                        let spliced = reply_frame(
                            errors,
                            Data::Json(&text),
                            action.name(),
                            status,
                            common.request_id_text(),
                        );
                        assert_eq!(spliced, general);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1_000, "{checked}");
    }

    /// Every recorded DCRF script, and a generated corpus with changes between the frames,
    /// run through a strict connection with and without the fast path: the same bytes.
    #[test]
    fn same_frames_with_and_without_the_fast_path() {
        let config = Config {
            profile: Profile::Strict,
            ..Config::default()
        };
        let observed =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/dcrf/observed");
        let mut inputs = crate::fuzzing::seeds(&observed).expect("the recorded frames");
        let mut rng = Rng(0x5EED_0002);
        let mut common = 0;
        for script in 0..48 {
            // /ws/ and /ws/full/ (the multiplexed endpoint never takes the fast path).
            let mut input = vec![0x0B, (script % 2) as u8];
            for _ in 0..60 {
                let piece = match rng.below(10) {
                    // An out-of-band save of pk 1 to 4 (no delete: pks are not reused).
                    0 => vec![0x0A, rng.below(4) as u8, 0],
                    _ => {
                        let text = frame(&mut rng);
                        common += usize::from(CommonRequest::parse(&text).is_some());
                        text.into_bytes()
                    }
                };
                input.extend([0xFF].into_iter().chain(piece));
            }
            inputs.push(input);
        }
        let mut written = 0;
        for input in &mut inputs {
            // The client closes (1000): the server flushes its replies, answers the close.
            input.extend_from_slice(b"\xFF\x04\x03\xE8");
            let fast = crate::fuzzing::transcript(config.clone(), Decode::Fast, input);
            let general = crate::fuzzing::transcript(config.clone(), Decode::General, input);
            assert!(
                fast == general,
                "the paths differ on {:?}:\nfast:    {}\ngeneral: {}",
                String::from_utf8_lossy(input),
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&general)
            );
            written += fast.len();
        }
        assert!(written > 200_000, "{written} bytes written");
        assert!(common > 400, "{common} frames of the common shape");
    }
}
