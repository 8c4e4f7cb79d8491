//! The reference server's frame handling: a script of client frames (text, binary, ping,
//! pong, close, fragments, raw bytes, out-of-band changes; see
//! `dcrf_reference_server::fuzzing`) on one in-memory connection. Never a panic or a hang;
//! every reply is a JSON reply or event, every close a proper close; the outbound queue and
//! the subscriptions stay within their limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dcrf_reference_server::fuzzing::server_frames(data);
});
