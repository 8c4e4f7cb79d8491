//! The client against the reference server in its default profile, dcrf-1.3.0, in process:
//! typed calls, typed errors, subscriptions, unsubscribe on drop, backpressure,
//! reconnection, the multiplexed envelope (the cases are in `common/reference_server_cases.rs`).

mod common;

const PROFILE: Profile = Profile::Dcrf130;

include!("common/reference_server_cases.rs");
