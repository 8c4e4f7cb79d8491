//! Property test of the reference server against the reference model
//! (proptest-state-machine): 32 random sequences of up to 20 transitions.

use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, Faults, ServerConfig};
use dcrf_conformance::fuzz::{FuzzOptions, Transition, fuzz};

fn with_server<T>(faults: Faults, test: impl FnOnce(&dcrf_conformance::Target) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime
        .block_on(EmbeddedServer::start(ServerConfig {
            faults,
            ..ServerConfig::default()
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
        ..FuzzOptions::default()
    };
    let faults = Faults {
        duplicate_event: true,
        ..Faults::default()
    };
    let outcome = with_server(faults, |target| fuzz(target, &options)).expect("fuzz runs");
    let failure = outcome.failure.expect("the duplicate event is found");
    // Minimal: connect, subscribe, change (the shrinker may keep one step after the change).
    assert!(failure.transitions.len() <= 4, "not shrunk: {failure}");
    assert!(
        failure.transitions.contains(&Transition::Connect(0))
            || failure
                .transitions
                .iter()
                .any(|t| matches!(t, Transition::Connect(_)))
    );
    assert!(
        failure
            .transitions
            .iter()
            .any(|t| matches!(t, Transition::Update(_))),
        "{failure}"
    );
    assert!(failure.transcript.contains("update"), "{failure}");
}
