//! Frame validation against the generated schemas: never panics, and a frame is classified
//! as the same kind whether it is given as text or as an already parsed value.
#![no_main]

use dcrf_protocol::FrameValidator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    let validator = FrameValidator::shared();
    let server = validator.validate_server_frame(frame);
    let client = validator.validate_client_frame(frame);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(frame) {
        assert_eq!(
            validator.validate_server_value(&value).ok(),
            server.ok(),
            "server frame kind, text vs value"
        );
        assert_eq!(
            validator.validate_client_value(&value).ok(),
            client.ok(),
            "client frame kind, text vs value"
        );
    }
});
