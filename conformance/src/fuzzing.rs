//! The fuzz entry point of the harness's frame handling (`fuzz/fuzz_targets/harness_frames.rs`).
//!
//! Compiled with the `fuzzing` feature (and in this crate's unit tests). [`harness_frames`]
//! turns its input into a script of frames from a hostile server, and has one connection of
//! the harness ([`crate::wire`]) read them while it does what a case does: send a request,
//! wait for its reply, for an event, for quiet, for the next frame or the close. No socket:
//! a `tokio::io::duplex` pipe, a current-thread runtime with paused time, so a run is
//! deterministic and its deadlines cost nothing. The connection runs with small [`limits`],
//! so that inputs reach them. It checks:
//!
//! - never a panic, and every wait ends by its deadline (virtual time);
//! - after every wait, the inbox, the quoted frames and the failure message are within
//!   their bounds ([`Limits`]);
//! - the wire log keeps at most `log_frames_per_conn` received frames of at most
//!   `log_bytes_per_conn` bytes, each cut at `kept_frame_bytes`; at most 16 violations and
//!   16 reached bounds are kept, plus a marker.
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
//! | 0x0A | the server stops (or, again, resumes) reading what the harness sends |
//! | 0x0B | the server pauses: `n` × 10 ms of (virtual) time |
//!
//! Server frames are not masked; at most [`MAX_FRAMES`] frames are sent. After the script
//! the server ends the connection (without a close frame unless the script sent one).

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::wire::{Conn, KEPT_VIOLATIONS, Limits, Recorder, ReplyOrClose, WireEvent};

/// Most frames one input sends (repetitions included).
pub const MAX_FRAMES: usize = 4_096;

/// Most waits of the harness per input.
const MAX_WAITS: usize = 64;

/// The deadline of one wait (virtual time).
const WAIT: Duration = Duration::from_secs(1);

/// The limits of the fuzzed connection: small, so that inputs reach them.
pub fn limits() -> Limits {
    Limits {
        max_message_bytes: 16 << 10,
        max_write_buffer_bytes: 8 << 10,
        inbox_frames: 16,
        inbox_bytes: 16 << 10,
        max_json_values: 1_000,
        log_frames_per_conn: 32,
        log_bytes_per_conn: 16 << 10,
        log_bytes_per_run: 32 << 10,
        kept_frame_bytes: 1 << 10,
    }
}

/// One step of a server script.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A frame: FIN, opcode, payload.
    Frame(bool, u8, Vec<u8>),
    /// Bytes written as they are.
    Raw(Vec<u8>),
    /// Stop, or resume, reading what the harness sends.
    ToggleReading,
    /// Wait this long before the next step.
    Pause(Duration),
}

/// Parses an input into steps (see the module's documentation).
fn script(data: &[u8]) -> Vec<Step> {
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
            0x0A => steps.push(Step::ToggleReading),
            0x0B => steps.push(Step::Pause(Duration::from_millis(10 * u64::from(arg)))),
            _ => {}
        }
    }
    steps
}

/// An unmasked server frame (RFC 6455 §5.2).
fn encode(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(if fin { 0x80 } else { 0 } | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Runs one input against the harness's frame handling; panics on a broken property.
pub fn harness_frames(data: &[u8]) {
    let steps = script(data);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(drive(steps));
}

async fn drive(steps: Vec<Step>) {
    let (harness_end, server_end) = tokio::io::duplex(8 * 1024);
    let (mut server_reader, mut server_writer) = tokio::io::split(server_end);
    let reading = tokio::sync::watch::channel(true);
    let (reading_tx, mut reading_rx) = reading;

    // The hostile server: writes its script, then ends the connection.
    let server = tokio::spawn(async move {
        for step in steps {
            let written = match step {
                Step::Frame(fin, opcode, payload) => {
                    server_writer
                        .write_all(&encode(fin, opcode, &payload))
                        .await
                }
                Step::Raw(bytes) => server_writer.write_all(&bytes).await,
                Step::ToggleReading => {
                    reading_tx.send_modify(|reading| *reading = !*reading);
                    Ok(())
                }
                Step::Pause(pause) => {
                    tokio::time::sleep(pause).await;
                    Ok(())
                }
            };
            if written.is_err() {
                break;
            }
        }
        let _ = server_writer.shutdown().await;
    });
    // What the harness sends: read and dropped, unless the script stopped reading.
    let drain = tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            if !*reading_rx.borrow_and_update() {
                if reading_rx.changed().await.is_err() {
                    return;
                }
                continue;
            }
            tokio::select! {
                read = server_reader.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                changed = reading_rx.changed() => if changed.is_err() { return },
            }
        }
    });

    let recorder = Recorder::with_limits(limits());
    let mut conn = Conn::over_stream("a", harness_end, recorder.clone()).await;
    let request_id = Value::from(1);
    let request = r#"{"action":"retrieve","request_id":1,"pk":1}"#;
    for wait in 0..MAX_WAITS {
        let until = Instant::now() + WAIT;
        let started = Instant::now();
        match wait % 6 {
            0 => {
                let _ = conn.send_text(request.to_owned(), until).await;
            }
            1 => {
                let _ = conn.expect_reply(&request_id, until).await;
            }
            2 => {
                let _ = conn.expect_event("update", &request_id, until).await;
            }
            3 => {
                let _ = conn.expect_reply_or_close(&request_id, until).await;
            }
            4 => {
                let _ = conn.expect_quiet(Duration::from_millis(100), "fuzz").await;
            }
            _ => {
                if let ReplyOrClose::Reply(frame) = conn.next_or_close(until).await {
                    let _ = (frame.status(), frame.data(), frame.errors(), frame.action());
                }
            }
        }
        // A wait ends by its deadline (the late reads are bounded, and take no time).
        assert!(Instant::now() <= started + WAIT + Duration::from_millis(200));
        conn.assert_bounds();
        let _ = conn.stray_frames();
        if conn.closed().is_some() && wait % 6 == 5 {
            break;
        }
    }
    conn.close().await;
    server.abort();
    drain.abort();
    check_recorder(&recorder);
}

/// The wire log, the violations and the reached bounds are within their bounds.
fn check_recorder(recorder: &Recorder) {
    let limits = limits();
    let snapshot = recorder.snapshot();
    let mut frames = 0usize;
    let mut bytes = 0usize;
    let mut markers = 0usize;
    for entry in &snapshot.entries {
        match &entry.event {
            WireEvent::Received { text } => {
                frames += 1;
                assert!(text.len() <= limits.kept_frame_bytes + 64, "{}", text.len());
                bytes += text.len();
            }
            WireEvent::ReceivedBinary { .. } => frames += 1,
            WireEvent::Note { text } if text.contains("not kept") => markers += 1,
            _ => {}
        }
    }
    assert!(
        frames <= limits.log_frames_per_conn,
        "{frames} frames logged"
    );
    assert!(
        bytes <= limits.log_bytes_per_conn + frames * 64,
        "{bytes} bytes logged"
    );
    assert!(markers <= 1, "{markers} markers");
    assert!(snapshot.violations.len() <= KEPT_VIOLATIONS + 1);
    // Each reached bound once, the flood counted per connection.
    assert!(snapshot.limits_reached.len() <= KEPT_VIOLATIONS + 1);
    for why in &snapshot.limits_reached {
        assert!(why.len() <= 4 << 10, "{}", why.len());
    }
    for violation in &snapshot.violations {
        assert!(violation.text.len() <= limits.kept_frame_bytes + 64);
        assert!(violation.message.len() <= 4 << 10);
    }
}

/// Inputs built from the frames recorded on DCRF (`interop/dcrf/observed`): each frame the
/// probes sent or received, and per probe and connection the script of the frames it
/// received. What `fuzz/smoke.sh` seeds the corpus with.
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
            if record.get("kind").and_then(Value::as_str) != Some("recv") {
                continue;
            }
            let Some(text) = record.get("raw").and_then(Value::as_str) else {
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
            match scripts.last_mut() {
                Some((last, script)) if *last == key => {
                    script.push(0xFF);
                    script.extend_from_slice(text.as_bytes());
                }
                _ => scripts.push((key, text.as_bytes().to_vec())),
            }
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
            harness_frames(seed);
        }
    }

    #[test]
    fn the_entry_point_takes_hostile_frames() {
        let reply = br#"{"errors":[],"data":null,"action":"retrieve","response_status":200,"request_id":1}"#;
        let mut flood =
            br#"{"action":"update","errors":[],"response_status":200,"request_id":7,"data":{}}"#
                .to_vec();
        flood.extend_from_slice(b"\xFF\x09\xFE\xFF\x09\x10");
        let inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            reply.to_vec(),
            flood,
            b"\x01binary\xFF\x09\x40".to_vec(),
            b"\x02ping\xFF\x09\xFE\xFF\x0A".to_vec(),
            b"\x0A\xFF\x02ping\xFF\x09\xFE".to_vec(),
            b"\x00\xC3\x28".to_vec(),
            b"\x04\x03\xE8bye".to_vec(),
            b"\x04\x00".to_vec(),
            b"\x05{\"a\"\xFF\x06:\xFF\x09\xFE".to_vec(),
            b"\x08\x81\x7F\x7F\xFE\xFE\xFE\xFE\xFE\xFE\xFE".to_vec(),
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            format!("{}{}", "[".repeat(500), "]".repeat(500)).into_bytes(),
            "x".repeat(32 << 10).into_bytes(),
            format!("\"{}\"", "x".repeat(3000)).into_bytes(),
            b"\x0B\xFE\xFF{}\xFF\x0B\x80".to_vec(),
        ];
        for input in &inputs {
            harness_frames(input);
        }
    }

    #[test]
    fn the_script_reads_operations_and_frames() {
        let steps = script(b"{}\xFF\x09\x00\xFF\x0A\xFF\x0B\x02");
        assert_eq!(
            steps,
            vec![
                Step::Frame(true, 0x1, b"{}".to_vec()),
                Step::Frame(true, 0x1, b"{}".to_vec()),
                Step::ToggleReading,
                Step::Pause(Duration::from_millis(20)),
            ]
        );
    }
}
