//! The client against the reference server in its strict profile (every SHOULD of the
//! SPEC), in process: the same cases as `reference_server.rs`
//! (`common/reference_server_cases.rs`).

mod common;

const PROFILE: Profile = Profile::Strict;

include!("common/reference_server_cases.rs");
