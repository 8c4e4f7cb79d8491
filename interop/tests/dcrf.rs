//! The conformance harness against the real DCRF 1.3.0 server (interop/dcrf), started here.
//!
//! - every MUST case passes, and every verdict equals `dcrf-expected.json` (tungstenite's
//!   practice with Autobahn: a difference is either a regression or a reason to update it);
//! - every frame DCRF sends validates against `schemas/`;
//! - the normalised transcripts equal the snapshots the reference server produces
//!   (`conformance/tests/snapshots/`): one set of transcripts describes both servers;
//! - the model-based fuzzer finds no divergence in a short run.
//!
//! If the server cannot be started, the test fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use dcrf_conformance::fuzz::{FuzzOptions, fuzz};
use dcrf_conformance::{RunOptions, Target, Verdict, cases, run, transcript};
use dcrf_interop::{DcrfServer, repo_root};

const EXPECTED: &str = "interop/tests/dcrf-expected.json";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn real_dcrf_conforms_and_matches_the_reference_transcripts() {
    let server = DcrfServer::start(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let target = Target::interop_layout(server.ws_url());
    // A wider quiet window than the default: Daphne on a loaded CI machine can take a while
    // between the events of one change to two sockets. The window only serves "nothing more
    // may arrive"; a SHOULD that something arrives (5.4.5, 5.4.9: DCRF's NON-STRICT) waits
    // until the case deadline, so those two cases take the whole deadline here.
    let options = RunOptions {
        case_deadline: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        quiet: Duration::from_millis(600),
        ..RunOptions::default()
    };
    let report = runtime()
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(180),
                run(&target, &options, |_, _, _| {}),
            )
            .await
        })
        .expect("the run ends within its deadline")
        .unwrap_or_else(|error| {
            panic!("the run could not be made: {error}\n{}", server.log_text())
        });

    // Every frame DCRF sent validates against the schemas, whatever the case's level.
    let violations: Vec<String> = report
        .cases
        .iter()
        .flat_map(|case| {
            case.schema_violations
                .iter()
                .map(move |violation| format!("{}: {violation:?}", case.id))
        })
        .collect();
    assert!(
        violations.is_empty(),
        "schema violations:\n{}",
        violations.join("\n")
    );

    // The verdicts, case by case, against the checked-in expectations.
    let actual: BTreeMap<String, String> = report
        .cases
        .iter()
        .map(|case| (case.id.clone(), case.verdict.label().to_owned()))
        .collect();
    let expected_text = std::fs::read_to_string(repo_root().join(EXPECTED)).unwrap_or_default();
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&expected_text).unwrap_or_default();
    let failures: Vec<String> = report
        .cases
        .iter()
        .filter(|case| matches!(case.verdict, Verdict::Fail))
        .map(|case| format!("{} {}: {}", case.id, case.slug, case.message))
        .collect();
    assert!(
        actual == expected,
        "the verdicts against DCRF 1.3.0 differ from {EXPECTED}: either a regression, or update \
         the file with:\n{}\nfailures:\n{}",
        serde_json::to_string_pretty(&actual).unwrap_or_default(),
        failures.join("\n")
    );
    assert_eq!(
        report.exit_code(),
        0,
        "a MUST case failed:\n{}",
        failures.join("\n")
    );

    // One set of transcripts for both servers.
    let transcripts = transcript::from_report(&report, &target);
    let portable: Vec<_> = cases::all()
        .into_iter()
        .filter(|case| case.portable)
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(repo_root().join("conformance/tests/snapshots"));
    settings.bind(|| {
        for case in &portable {
            let text = transcripts
                .get(case.id)
                .unwrap_or_else(|| panic!("no transcript for {}", case.id));
            insta::assert_snapshot!(format!("{}-{}", case.id, case.slug), text);
        }
    });

    // A short model-based run: event counts strict, data lenient (SPEC 5.8).
    let outcome = fuzz(
        &target,
        &FuzzOptions {
            cases: 8,
            max_transitions: 12,
            quiet: Duration::from_millis(300),
            wait: Duration::from_secs(20),
            seed: Some(0x0dc2_f5eed),
            ..FuzzOptions::default()
        },
    )
    .expect("the fuzz run can be made");
    if let Some(failure) = outcome.failure {
        panic!("DCRF diverges from the model:\n{failure:?}");
    }
}
