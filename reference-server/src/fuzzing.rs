//! The fuzz entry point of the server's frame handling (`fuzz/fuzz_targets/server_frames.rs`).
//!
//! Compiled with the `fuzzing` feature (and in this crate's unit tests). [`server_frames`]
//! turns its input into a script of client frames, writes them to one connection of an
//! in-memory server (no socket: a `tokio::io::duplex` pipe, a current-thread runtime with
//! paused time, so a run is deterministic and its timeouts cost nothing), and checks every
//! frame the server writes back:
//!
//! - never a panic (the connection task's panic is resumed);
//! - every text frame a JSON object, a reply or an event with its five keys (in the
//!   `stream`/`payload` envelope on the multiplexed endpoint, but for the reply to a frame
//!   without a stream); no binary frame;
//! - a close frame carries a code a server may send (RFC 6455 §7.4) and a UTF-8 reason,
//!   and nothing follows it;
//! - the connection ends, within a bounded (virtual) time, once the client stops sending;
//! - the outbound queue and the subscriptions stay within the limits.
//!
//! # Input
//!
//! The input is split at 0xFF bytes (never part of UTF-8 text, so a recorded frame is one
//! piece). A piece whose first byte is below 0x10 is an operation on the rest of the piece;
//! any other piece is one text frame:
//!
//! | first byte | operation |
//! | --- | --- |
//! | 0x00 | text frame (the bytes as they are, UTF-8 or not) |
//! | 0x01 | binary frame |
//! | 0x02 / 0x03 | ping / pong |
//! | 0x04 | close frame, the rest as its payload (code and reason, valid or not) |
//! | 0x05 | first fragment of a text message (FIN clear) |
//! | 0x06 / 0x07 | continuation frame, FIN clear / set |
//! | 0x08 | raw bytes onto the wire (a malformed frame header, say) |
//! | 0x09 | repeat the previous frame `16 × n + 1` times, `n` the next byte |
//! | 0x0A | an out-of-band change: save (or, if the next-but-one byte is odd, delete) pk `1 + n % 4` |
//! | 0x0B | endpoint: `n % 3` picks `/ws/`, `/ws/full/` (the default), `/ws/multiplexed/` |
//!
//! Client frames are masked with a fixed key; at most [`MAX_FRAMES`] frames are sent.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{Config, Limits};
use crate::model::{Instance, Pk};
use crate::server::Server;
use crate::store::Mutation;
use crate::ws::{self, Decode, Endpoint};

/// Most frames one input sends (repetitions included).
pub const MAX_FRAMES: usize = 4_096;

/// How long (virtual time) the connection has to end once the client has sent everything.
const END_DEADLINE: Duration = Duration::from_secs(120);

/// The limits of the fuzzed server: small, so that inputs reach them.
pub fn limits() -> Limits {
    Limits {
        max_frame_bytes: 4 * 1024,
        max_subscriptions_per_connection: 8,
        max_subscription_bytes_per_connection: 2 * 1024,
        max_request_id_bytes: 64,
        max_connections: 16,
        outbound_queue_frames: 8,
        outbound_queue_bytes: 4 * 1024,
    }
}

/// One step of a client script.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A frame: FIN, opcode, payload.
    Frame(bool, u8, Vec<u8>),
    /// Bytes written as they are.
    Raw(Vec<u8>),
    /// An out-of-band change of pk (save, or delete when the flag is set).
    Change(i64, bool),
}

/// Parses an input into its endpoint and steps (see the module's documentation).
fn script(data: &[u8]) -> (Endpoint, Vec<Step>) {
    let mut endpoint = Endpoint::Full;
    let mut steps: Vec<Step> = Vec::new();
    let mut frames = 0usize;
    for piece in data.split(|&byte| byte == 0xFF) {
        if frames >= MAX_FRAMES {
            break;
        }
        let (op, rest) = match piece.split_first() {
            Some((&op, rest)) if op < 0x10 => (op, rest),
            _ => (0x00, piece),
        };
        let arg = rest.first().copied().unwrap_or(0);
        match op {
            0x00..=0x07 => {
                let (fin, opcode) = match op {
                    0x00 => (true, 0x1),
                    0x01 => (true, 0x2),
                    0x02 => (true, 0x9),
                    0x03 => (true, 0xA),
                    0x04 => (true, 0x8),
                    0x05 => (false, 0x1),
                    0x06 => (false, 0x0),
                    _ => (true, 0x0),
                };
                steps.push(Step::Frame(fin, opcode, rest.to_vec()));
                frames += 1;
            }
            0x08 => {
                steps.push(Step::Raw(rest.to_vec()));
                frames += 1;
            }
            0x09 => {
                if let Some(last) = steps.last().cloned() {
                    let times = (usize::from(arg) * 16 + 1).min(MAX_FRAMES - frames);
                    steps.extend(std::iter::repeat_n(last, times));
                    frames += times;
                }
            }
            0x0A => {
                let delete = rest.get(1).is_some_and(|byte| byte % 2 == 1);
                steps.push(Step::Change(1 + i64::from(arg % 4), delete));
            }
            0x0B => {
                endpoint = match arg % 3 {
                    0 => Endpoint::Observer,
                    1 => Endpoint::Full,
                    _ => Endpoint::Multiplexed,
                };
            }
            _ => {}
        }
    }
    (endpoint, steps)
}

/// A masked client frame (RFC 6455 §5.2), fixed mask key.
fn encode(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(index, byte)| byte ^ MASK[index % 4]),
    );
    out
}

/// Runs one input against the server's frame handling; panics on a broken property.
pub fn server_frames(data: &[u8]) {
    let (endpoint, steps) = script(data);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(drive(endpoint, steps));
}

/// Runs the steps, checks the properties; returns the bytes the server wrote.
async fn drive(endpoint: Endpoint, steps: Vec<Step>) -> Vec<u8> {
    let config = Config {
        limits: limits(),
        ..Config::default()
    };
    drive_with(config, Decode::Fast, endpoint, steps).await
}

/// Runs `input` (see the module's documentation) against a server with `config`, the
/// connection decoding with `decode`; checks the properties and returns the bytes the
/// server wrote. Deterministic: the same input gives the same bytes.
#[cfg(test)]
pub(crate) fn transcript(config: Config, decode: Decode, input: &[u8]) -> Vec<u8> {
    let (endpoint, steps) = script(input);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(drive_with(config, decode, endpoint, steps))
}

async fn drive_with(
    config: Config,
    decode: Decode,
    endpoint: Endpoint,
    steps: Vec<Step>,
) -> Vec<u8> {
    let limits = config.limits;
    let (server, _shutdown) = Server::in_memory(config).expect("the default fixture loads");
    let (client, server_end) = tokio::io::duplex(16 * 1024);
    let connection = tokio::spawn(ws::run_with(
        Arc::clone(&server),
        server_end,
        endpoint,
        decode,
    ));
    let (mut reader, mut writer) = tokio::io::split(client);

    let write = async {
        for step in steps {
            let sent = match step {
                Step::Frame(fin, opcode, payload) => {
                    writer.write_all(&encode(fin, opcode, &payload)).await
                }
                Step::Raw(bytes) => writer.write_all(&bytes).await,
                Step::Change(pk, delete) => {
                    change(&server, pk, delete).await;
                    Ok(())
                }
            };
            // The server closed the connection: the rest cannot be sent.
            if sent.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    };
    let read = async {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes).await;
        bytes
    };
    let ((), written) = tokio::time::timeout(END_DEADLINE, async { tokio::join!(write, read) })
        .await
        .expect("the connection ends once the client stops sending");
    match tokio::time::timeout(END_DEADLINE, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Ok(Err(error)) => panic!("the connection task failed: {error}"),
        Err(_) => panic!("the connection task outlived its stream"),
    }
    check_frames(&written, endpoint);

    let stats = server.registry().memory_stats();
    assert!(
        stats.peak_queued_bytes_per_connection <= limits.outbound_queue_bytes,
        "{stats:?}"
    );
    assert!(
        stats.peak_subscription_bytes_per_connection
            <= limits.max_subscription_bytes_per_connection,
        "{stats:?}"
    );
    assert_eq!(stats.queued_bytes, 0, "{stats:?}");
    assert_eq!(
        server.registry().len(),
        0,
        "subscriptions outlived the connection"
    );
    written
}

/// Saves or deletes pk through the server, as the admin API does.
async fn change(server: &Server, pk: i64, delete: bool) {
    let _ = server
        .mutate(|table| match table.get(&Pk::Int(pk)) {
            Some(_) if delete => Ok(Mutation::Delete(Pk::Int(pk))),
            Some(instance) => {
                let mut user = instance.to_user();
                user.email = format!("changed{}", user.email);
                user.email.truncate(200);
                Ok(Mutation::Save(Instance::from_user(&user)))
            }
            None => Err(()),
        })
        .await;
}

/// Checks every frame the server wrote.
fn check_frames(mut bytes: &[u8], endpoint: Endpoint) {
    let mut closed = false;
    while !bytes.is_empty() {
        assert!(!closed, "a frame after the close frame");
        assert!(bytes.len() >= 2, "a truncated frame header");
        let (head, len_byte) = (bytes[0], bytes[1]);
        assert_eq!(head & 0x70, 0, "reserved bits set");
        assert_eq!(head & 0x80, 0x80, "the server fragments a frame");
        assert_eq!(len_byte & 0x80, 0, "a masked server frame");
        let (len, start) = match len_byte & 0x7F {
            126 => (
                usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                4usize,
            ),
            127 => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&bytes[2..10]);
                (
                    usize::try_from(u64::from_be_bytes(len)).expect("a length"),
                    10,
                )
            }
            len => (usize::from(len), 2),
        };
        assert!(bytes.len() >= start + len, "a truncated frame");
        let payload = &bytes[start..start + len];
        bytes = &bytes[start + len..];
        match head & 0x0F {
            0x1 => check_text(payload, endpoint),
            0x2 => panic!("a binary frame from the server"),
            0x8 => {
                check_close(payload);
                closed = true;
            }
            0x9 | 0xA => assert!(len <= 125, "a control frame over 125 bytes"),
            opcode => panic!("opcode {opcode:#x} from the server"),
        }
    }
}

fn check_text(payload: &[u8], endpoint: Endpoint) {
    let text = std::str::from_utf8(payload).expect("a text frame is UTF-8");
    let value: Value = serde_json::from_str(text).expect("every text frame is JSON");
    // On the multiplexed endpoint a reply is wrapped for its stream; the reply to a frame
    // without a stream is not (there is none to wrap it for).
    let frame = match value.as_object() {
        Some(object) if endpoint == Endpoint::Multiplexed && object.contains_key("payload") => {
            assert!(object.get("stream").is_some_and(Value::is_string), "{text}");
            object["payload"].clone()
        }
        _ => value,
    };
    let object = frame.as_object().expect("a reply or event is an object");
    for key in ["errors", "data", "action", "response_status", "request_id"] {
        assert!(object.contains_key(key), "no {key:?} in {text}");
    }
}

fn check_close(payload: &[u8]) {
    if payload.is_empty() {
        return;
    }
    assert!(payload.len() >= 2, "a close payload of one byte");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    assert!(
        matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999),
        "close code {code}"
    );
    std::str::from_utf8(&payload[2..]).expect("a UTF-8 close reason");
}

/// Inputs built from the frames recorded on DCRF (`interop/dcrf/observed`): each frame the
/// probes sent or received, and per probe and connection the script of the frames it sent
/// (to the endpoint it used). What `fuzz/smoke.sh` seeds the corpus with.
pub fn seeds(observed: &std::path::Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut single = std::collections::BTreeSet::new();
    let mut scripts: Vec<((String, String), Vec<u8>)> = Vec::new();
    for name in ["frames.jsonl", "transcripts.jsonl"] {
        let path = observed.join(name);
        if !path.exists() {
            continue;
        }
        for line in std::fs::read_to_string(path)?.lines() {
            let Ok(record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            for key in ["raw", "shown"] {
                if let Some(text) = record.get(key).and_then(Value::as_str) {
                    single.insert(text.as_bytes().to_vec());
                }
            }
            if record.get("kind").and_then(Value::as_str) != Some("send") {
                continue;
            }
            let Some(text) = record.get("shown").and_then(Value::as_str) else {
                continue;
            };
            let field = |key: &str| {
                record
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let key = (field("probe"), field("conn"));
            if scripts.last().is_none_or(|(last, _)| *last != key) {
                let endpoint = match record.get("endpoint").and_then(Value::as_str) {
                    Some("/ws/") => 0u8,
                    Some("/ws/multiplexed/") => 2,
                    _ => 1,
                };
                scripts.push((key.clone(), vec![0x0B, endpoint]));
            }
            let script = &mut scripts.last_mut().expect("a script").1;
            script.push(0xFF);
            script.extend_from_slice(text.as_bytes());
        }
    }
    Ok(single
        .into_iter()
        .chain(scripts.into_iter().map(|(_, script)| script))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/dcrf/observed")
    }

    #[test]
    fn the_entry_point_takes_every_seed() {
        let seeds = seeds(&observed()).expect("the recorded frames");
        assert!(seeds.len() > 100, "{}", seeds.len());
        for seed in &seeds {
            server_frames(seed);
        }
    }

    #[test]
    fn the_entry_point_takes_hostile_frames() {
        let subscribe = br#"{"action":"subscribe_instance","pk":1,"request_id":"s"}"#;
        let mut inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\x01binary".to_vec(),
            b"\x02ping\xFF\x03pong\xFF\x00\xC3\x28".to_vec(),
            b"\x04\x03\xE8bye".to_vec(),
            b"\x04\x00\x05".to_vec(),
            b"\x05{\"action\"\xFF\x06:\"retrieve\",\xFF\x07\"pk\":1,\"request_id\":1}".to_vec(),
            b"\x07orphan continuation".to_vec(),
            b"\x08\x81\x7F\x7F\xFE\xFE\xFE\xFE\xFE\xFE\xFE".to_vec(),
            b"\x0B\x02\xFF{\"stream\":\"users\",\"payload\":{\"action\":\"list\",\"request_id\":1}}"
                .to_vec(),
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            "x".repeat(8 * 1024).into_bytes(),
        ];
        // Subscriptions past their limit, then changes past the outbound queue's bound.
        let mut flood = subscribe.to_vec();
        flood.extend_from_slice(b"\xFF\x09\x01\xFF\x0A\x00\xFF\x09\x02");
        inputs.push(flood);
        for input in &inputs {
            server_frames(input);
        }
    }

    /// The close code the server ends the input's connection with.
    fn close_code(input: &[u8]) -> Option<u16> {
        let (endpoint, steps) = script(input);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        let written = runtime.block_on(drive(endpoint, steps));
        // The close frame is last: opcode 0x8, a payload under 126 bytes.
        let at = written
            .windows(2)
            .rposition(|w| w[0] == 0x88 && w[1] < 126)?;
        let payload = &written[at + 2..];
        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
    }

    /// RFC 6455 §7.4.1: malformed frames get 1002, text that is not UTF-8 1007, a message
    /// over `max_frame_bytes` 1009; a close frame is answered with its code.
    #[test]
    fn malformed_frames_get_their_close_codes() {
        assert_eq!(close_code(b"\x07orphan continuation"), Some(1002));
        assert_eq!(close_code(b"\x08\x83\x80\x00\x00\x00\x00"), Some(1002));
        assert_eq!(close_code(b"\x05{\xFF\x00{}"), Some(1002));
        assert_eq!(close_code(b"\x00\xC3\x28"), Some(1007));
        assert_eq!(close_code(&[b'x'; 5 * 1024]), Some(1009));
        assert_eq!(close_code(b"\x04\x03\xE8bye"), Some(1000));
        assert_eq!(close_code(b"{}"), None);
    }

    #[test]
    fn the_script_reads_operations_and_frames() {
        let (endpoint, steps) = script(b"\x0B\x00\xFF{}\xFF\x09\x00\xFF\x0A\x01\x01");
        assert_eq!(endpoint, Endpoint::Observer);
        assert_eq!(
            steps,
            vec![
                Step::Frame(true, 0x1, b"{}".to_vec()),
                Step::Frame(true, 0x1, b"{}".to_vec()),
                Step::Change(2, true),
            ]
        );
    }
}
