//! Property test of the reference server against the reference model
//! (proptest-state-machine): 32 random sequences of up to 20 transitions.
//!
//! Both tests use a fixed seed, so every run generates the same sequences; what they assert
//! is the property (the fault is found, the sequence is shrunk), not a particular sequence.

use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, Faults, ServerConfig};
use dcrf_conformance::fuzz::{FuzzOptions, Transition, fuzz};

/// The seed of both tests (any value works; a fixed one makes a run reproducible).
const SEED: u64 = 0x0dc2_f5eed;

fn with_server<T>(faults: Faults, test: impl FnOnce(&dcrf_conformance::Target) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime
        .block_on(EmbeddedServer::start(ServerConfig {
            faults,
            ..ServerConfig::strict()
        }))
        .expect("the reference server starts");
    // The fuzzer drives its own runtimes; the server keeps running on this one.
    let result = test(&server.target());
    runtime.block_on(server.shutdown());
    result
}

#[test]
fn the_reference_server_matches_the_model() {
    let options = FuzzOptions {
        cases: 32,
        max_transitions: 20,
        quiet: Duration::from_millis(30),
        // Generous for a loaded machine: a wait ends as soon as its frame arrives.
        wait: Duration::from_secs(20),
        seed: Some(SEED),
        ..FuzzOptions::default()
    };
    let outcome =
        with_server(Faults::default(), |target| fuzz(target, &options)).expect("fuzz runs");
    if let Some(failure) = outcome.failure {
        panic!("{failure}");
    }
}

#[test]
fn a_duplicating_server_is_caught_and_shrunk() {
    let options = FuzzOptions {
        cases: 64,
        max_transitions: 12,
        quiet: Duration::from_millis(30),
        wait: Duration::from_secs(20),
        seed: Some(SEED),
        ..FuzzOptions::default()
    };
    let faults = Faults {
        duplicate_event: true,
        ..Faults::default()
    };
    let outcome = with_server(faults, |target| fuzz(target, &options)).expect("fuzz runs");
    assert_eq!(outcome.seed, SEED);
    let failure = outcome.failure.expect("the duplicate event is found");
    // The property: a minimal sequence needs a socket, a subscription and one change, which
    // may be an update or a delete (both events are duplicated); the shrinker may keep one
    // step more.
    assert!(failure.transitions.len() <= 4, "not shrunk: {failure}");
    assert!(
        failure
            .transitions
            .iter()
            .any(|t| matches!(t, Transition::Connect(_))),
        "{failure}"
    );
    assert!(
        failure
            .transitions
            .iter()
            .any(|t| matches!(t, Transition::Subscribe { .. })),
        "{failure}"
    );
    assert!(
        failure
            .transitions
            .iter()
            .any(|t| matches!(t, Transition::Update(_) | Transition::Delete(_))),
        "{failure}"
    );
    assert!(
        failure.message.contains("does not allow"),
        "the failure is an extra event: {failure}"
    );
}
