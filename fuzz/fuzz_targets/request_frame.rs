//! Request, reply and multiplexer envelope parsing: never panics, and whatever parses prints
//! back to a frame that parses to the same value (the round-trip invariant of dcrf-protocol).
#![no_main]

use dcrf_protocol::{Multiplexed, Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = Request::from_frame(frame) {
        let printed = request.to_frame();
        let again = Request::from_frame(&printed).expect("a printed request parses");
        assert_eq!(again.to_value(), request.to_value(), "request round trip");
        // The typed view must answer (Ok or a precise error) for any lookup field.
        let _ = request.operation("pk");
        let _ = request.operation("id");
    }
    if let Ok(reply) = Reply::from_frame(frame) {
        let printed = reply.to_frame();
        let again = Reply::from_frame(&printed).expect("a printed reply parses");
        assert_eq!(again.to_value(), reply.to_value(), "reply round trip");
    }
    if let Ok(envelope) = serde_json::from_str::<Multiplexed>(frame) {
        let printed = serde_json::to_string(&envelope).expect("an envelope prints");
        let again: Multiplexed = serde_json::from_str(&printed).expect("a printed envelope parses");
        assert_eq!(again, envelope, "envelope round trip");
    }
});
