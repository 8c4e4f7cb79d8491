//! The whole suite against the in-process reference server: every MUST case passes, the run
//! is fast, and each injected fault is caught by the case that names its section.

use std::time::{Duration, Instant};

use dcrf_conformance::embedded::{EmbeddedServer, Faults, ServerConfig};
use dcrf_conformance::{Level, RunOptions, RunReport, Verdict, run};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs the suite (or the cases matching `filter`) against a reference server with `faults`.
fn run_against(faults: Faults, filter: &[&str], options: RunOptions) -> RunReport {
    let runtime = runtime();
    runtime.block_on(async {
        let server = EmbeddedServer::start(ServerConfig {
            faults,
            ..ServerConfig::default()
        })
        .await
        .expect("the reference server starts");
        let options = RunOptions {
            filter: filter.iter().map(|id| (*id).to_owned()).collect(),
            ..options
        };
        let limit = options.global_deadline + Duration::from_secs(5);
        let report = tokio::time::timeout(limit, run(&server.target(), &options, |_, _, _| {}))
            .await
            .expect("the run ends within its global deadline")
            .expect("the run can be made");
        server.shutdown().await;
        report
    })
}

fn describe(report: &RunReport) -> String {
    report
        .cases
        .iter()
        .filter(|case| case.verdict != Verdict::Pass)
        .map(|case| format!("{} {}: {}\n", case.id, case.verdict.label(), case.message))
        .collect()
}

#[test]
fn every_must_case_passes_against_the_reference_server() {
    let started = Instant::now();
    let report = run_against(Faults::default(), &[], RunOptions::default());
    let elapsed = started.elapsed();
    eprintln!(
        "full suite: {} cases in {elapsed:?} (run {} ms)",
        report.cases.len(),
        report.duration_ms
    );
    let failed: Vec<_> = report
        .cases
        .iter()
        .filter(|case| case.level == Level::Must && case.verdict != Verdict::Pass)
        .collect();
    assert!(
        failed.is_empty(),
        "MUST cases that did not pass:\n{}",
        describe(&report)
    );
    assert_eq!(report.exit_code(), 0);
    assert!(
        report
            .cases
            .iter()
            .all(|case| case.schema_violations.is_empty()),
        "schema violations:\n{}",
        describe(&report)
    );
    // The reference server follows every SHOULD too.
    assert!(
        report
            .cases
            .iter()
            .all(|case| case.verdict != Verdict::NonStrict && case.verdict != Verdict::Fail),
        "not PASS:\n{}",
        describe(&report)
    );
    assert!(
        report.duration_ms < 10_000,
        "the full run took {} ms (target: under 2 s)",
        report.duration_ms
    );
}

/// Runs the suite against a server with one fault and returns it.
fn faulted(set: impl FnOnce(&mut Faults)) -> RunReport {
    let mut faults = Faults::default();
    set(&mut faults);
    let options = RunOptions {
        case_deadline: Duration::from_millis(1500),
        ..RunOptions::default()
    };
    run_against(faults, &[], options)
}

fn assert_fails(report: &RunReport, ids: &[&str]) {
    for id in ids {
        let case = report.case(id).unwrap_or_else(|| panic!("no case {id}"));
        assert_eq!(
            case.verdict,
            Verdict::Fail,
            "case {id} should catch the fault; all results:\n{}",
            describe(report)
        );
    }
    assert_eq!(report.exit_code(), 1, "a MUST failure exits 1");
}

#[test]
fn fault_event_without_request_id_fails_the_update_event_case() {
    let report = faulted(|f| f.event_without_request_id = true);
    assert_fails(&report, &["5.5.1", "5.5.2", "5.5.3"]);
}

#[test]
fn fault_event_after_unsubscribe_fails_the_unsubscribe_cases() {
    let report = faulted(|f| f.event_after_unsubscribe = true);
    assert_fails(&report, &["5.4.3", "5.4.4"]);
}

#[test]
fn fault_duplicate_event_fails_the_exactly_once_cases() {
    let report = faulted(|f| f.duplicate_event = true);
    assert_fails(&report, &["5.7.1", "5.7.2", "5.3.3"]);
}

#[test]
fn fault_subscribe_status_200_fails_the_subscribe_case() {
    let report = faulted(|f| f.subscribe_status_200 = true);
    assert_fails(&report, &["5.3.1"]);
    let case = report.case("5.3.1").expect("case");
    assert!(
        case.message.contains("response_status 200, expected 201"),
        "{}",
        case.message
    );
}

#[test]
fn fault_retrieve_action_list_fails_the_retrieve_case() {
    let report = faulted(|f| f.retrieve_action_list = true);
    assert_fails(&report, &["5.1.1"]);
    let case = report.case("5.1.1").expect("case");
    assert!(case.message.contains("action \"list\""), "{}", case.message);
}

#[test]
fn fault_missing_errors_key_fails_by_schema_validation() {
    let report = faulted(|f| f.missing_errors_key = true);
    assert_fails(&report, &["4.1.1", "5.1.1"]);
    let case = report.case("5.1.1").expect("case");
    assert!(
        case.message.contains("schema violation"),
        "{}",
        case.message
    );
    assert!(
        case.message.contains("errors"),
        "names the missing key: {}",
        case.message
    );
    assert!(!case.schema_violations.is_empty());
}

#[test]
fn fault_drop_delete_event_fails_the_delete_event_case() {
    let report = faulted(|f| f.drop_delete_event = true);
    assert_fails(&report, &["5.6.1"]);
}

#[test]
fn fault_silent_times_out_cleanly_within_the_global_deadline() {
    let started = Instant::now();
    let faults = Faults {
        silent: true,
        ..Faults::default()
    };
    let options = RunOptions {
        case_deadline: Duration::from_millis(400),
        global_deadline: Duration::from_secs(3),
        ..RunOptions::default()
    };
    let report = run_against(faults, &[], options);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    assert_fails(&report, &["5.1.1", "5.3.1", "7.1.1"]);
    let case = report.case("5.1.1").expect("case");
    assert!(case.message.contains("no reply"), "{}", case.message);
    for case in &report.cases {
        assert!(
            matches!(case.verdict, Verdict::Fail | Verdict::Skipped { .. })
                || case.level != Level::Must,
            "{} {:?}",
            case.id,
            case.verdict
        );
    }
}

#[test]
fn fault_events_after_unsubscribe_backlog_fails_the_backlog_case() {
    let faults = Faults {
        events_after_unsubscribe_backlog: true,
        ..Faults::default()
    };
    // The case makes some 740 changes; give it its full time, as `run` does by default.
    let options = RunOptions {
        case_deadline: Duration::from_secs(10),
        ..RunOptions::default()
    };
    let report = run_against(faults, &["5.4"], options);
    assert_fails(&report, &["5.4.10"]);
    let case = report.case("5.4.10").expect("case");
    assert!(
        case.message.contains("after the 204 reply"),
        "{}",
        case.message
    );
    // The other unsubscribe cases have no backlog: they cannot see this fault.
    for id in ["5.4.3", "5.4.4"] {
        assert_eq!(
            report.case(id).expect("case").verdict,
            Verdict::Pass,
            "{}",
            describe(&report)
        );
    }
}
