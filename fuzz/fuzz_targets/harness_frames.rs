//! The harness's frame handling (`dcrf_conformance::wire`): a script of server frames (text,
//! binary, ping, pong, close, fragments, raw bytes; see `dcrf_conformance::fuzzing`) read by
//! one in-memory connection of the harness while it waits for replies, events and quiet.
//! Never a panic or a hang; the inbox, the wire log and the failure messages stay within
//! their bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dcrf_conformance::fuzzing::harness_frames(data);
});
