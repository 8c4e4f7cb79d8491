//! Snapshot tests: the normalised transcript of every portable case.
//!
//! One set of snapshots (`tests/snapshots/`) describes both the reference server and the
//! real DCRF 1.3.0 server: `reference_server_transcripts` checks the in-process reference
//! server; `interop/tests/dcrf.rs` starts the real server and checks it against the same
//! files.
//! Regenerate after an intended change with `cargo insta review` (CI=true never writes).

use std::collections::BTreeMap;
use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, ServerConfig};
use dcrf_conformance::{RunOptions, transcript};

fn options() -> RunOptions {
    // Generous for a loaded machine: a passing case ends as soon as its frames arrive.
    RunOptions {
        case_deadline: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(10),
        global_deadline: Duration::from_secs(300),
        ..RunOptions::default()
    }
}

/// Compares each transcript with its snapshot `<id>-<slug>`; every case is checked before
/// the first mismatch is reported.
fn assert_transcripts(transcripts: &BTreeMap<String, String>) {
    let cases = dcrf_conformance::cases::all();
    let portable: Vec<_> = cases.iter().filter(|case| case.portable).collect();
    assert_eq!(
        transcripts.len(),
        portable.len(),
        "every portable case has a transcript"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    settings.bind(|| {
        for case in portable {
            let text = transcripts
                .get(case.id)
                .unwrap_or_else(|| panic!("no transcript for {}", case.id));
            insta::assert_snapshot!(format!("{}-{}", case.id, case.slug), text);
        }
    });
}

#[test]
fn reference_server_transcripts() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime
        .block_on(EmbeddedServer::start(ServerConfig::strict()))
        .expect("the reference server starts");
    let transcripts = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            transcript::collect(&server.target(), &options()),
        )
        .await
        .expect("the run ends within its deadline")
        .expect("the run can be made")
    });
    runtime.block_on(server.shutdown());
    assert_transcripts(&transcripts);
}
