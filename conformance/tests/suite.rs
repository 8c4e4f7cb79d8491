//! The whole suite against the in-process reference server: every MUST case passes, and each
//! injected fault is caught by the case that names its section. No assertion reads a clock:
//! every run is bounded by its deadlines.

use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, Faults, ServerConfig};
use dcrf_conformance::target::ShellMutation;
use dcrf_conformance::{
    Level, MutationConfig, RunOptions, RunReport, Target, Verdict, conforms, run,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs the suite (or the cases matching `filter`) against a reference server with `faults`.
fn run_against(faults: Faults, filter: &[&str], options: RunOptions) -> RunReport {
    run_with_target(faults, filter, options, |_| {})
}

/// As [`run_against`], with the target adjusted by `adjust` first.
fn run_with_target(
    faults: Faults,
    filter: &[&str],
    options: RunOptions,
    adjust: impl FnOnce(&mut Target),
) -> RunReport {
    let runtime = runtime();
    runtime.block_on(async {
        let server = EmbeddedServer::start(ServerConfig {
            faults,
            ..ServerConfig::strict()
        })
        .await
        .expect("the reference server starts");
        let options = RunOptions {
            filter: filter.iter().map(|id| (*id).to_owned()).collect(),
            ..options
        };
        let limit = options.global_deadline + Duration::from_secs(5);
        let mut target = server.target();
        adjust(&mut target);
        let report = tokio::time::timeout(limit, run(&target, &options, |_, _, _| {}))
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
    // The same process under a second name is a second node of one app: the SPEC 5.10 cases
    // run (and pass) instead of being skipped.
    let report = run_with_target(Faults::default(), &[], generous(), |target| {
        target.nodes = vec![target.url.replace("127.0.0.1", "localhost")];
    });
    eprintln!(
        "full suite: {} cases (run {} ms)",
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
    assert!(conforms(&report));
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
}

/// Deadlines generous enough for a loaded 2-core machine: a passing case ends as soon as
/// its frames arrive, so only a failing one waits this long.
fn generous() -> RunOptions {
    RunOptions {
        case_deadline: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(10),
        global_deadline: Duration::from_secs(300),
        ..RunOptions::default()
    }
}

/// Runs the cases `ids` against a server with one fault and returns the report.
fn faulted(ids: &[&str], set: impl FnOnce(&mut Faults)) -> RunReport {
    let mut faults = Faults::default();
    set(&mut faults);
    // A case that catches the fault by waiting for something that never comes ends at its
    // deadline: long enough for a loaded machine, short enough to keep the test quick.
    let options = RunOptions {
        case_deadline: Duration::from_secs(8),
        ..generous()
    };
    run_against(faults, ids, options)
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
        // A FAIL is a broken MUST, whatever the level of the case that found it.
        assert_eq!(case.check_level, Level::Must, "case {id}");
        assert!(case.is_must_failure(), "case {id}");
    }
    assert_eq!(report.exit_code(), 1, "a MUST failure exits 1");
    assert!(!conforms(report));
}

#[test]
fn fault_event_without_request_id_fails_the_update_event_case() {
    let report = faulted(
        &[
            "5.5.1", "5.5.2", "5.5.3", "5.3.2", "5.3.4", "5.4.6", "5.4.11", "5.7.5", "5.7.6",
        ],
        |f| f.event_without_request_id = true,
    );
    assert_fails(
        &report,
        &[
            "5.5.1", "5.5.2", "5.5.3", "5.3.2", "5.3.4", "5.4.6", "5.4.11", "5.7.5", "5.7.6",
        ],
    );
}

#[test]
fn fault_greeting_fails_the_no_greeting_case() {
    let report = faulted(&["2.2.8"], |f| f.greeting = true);
    assert_fails(&report, &["2.2.8"]);
}

/// Runs the cases matching `id` against a reference server started with `config`.
fn run_case_on(config: ServerConfig, id: &str) -> RunReport {
    runtime().block_on(async {
        let server = EmbeddedServer::start(config)
            .await
            .expect("the reference server starts");
        let options = RunOptions {
            filter: vec![id.to_owned()],
            ..generous()
        };
        let report = run(&server.target(), &options, |_, _, _| {})
            .await
            .expect("the run can be made");
        server.shutdown().await;
        report
    })
}

#[test]
fn a_recreated_key_sent_as_an_update_fails_5_6_3() {
    // The subscription survives the delete only under dcrf-1.3.0 (strict ends it).
    let run_with = |recreate_as_update: bool| {
        let mut config = ServerConfig {
            profile: dcrf_reference_server::Profile::Dcrf130,
            ..ServerConfig::default()
        };
        config.faults.recreate_as_update = recreate_as_update;
        run_case_on(config, "5.6.3")
    };
    let honest = run_with(false);
    let case = honest.case("5.6.3").expect("case");
    assert_eq!(case.verdict, Verdict::NonStrict, "{}", describe(&honest));
    assert!(case.message.contains("create event"), "{}", case.message);
    assert_fails(&run_with(true), &["5.6.3"]);
}

#[test]
fn a_server_that_refuses_one_mebibyte_fails_2_2_6() {
    let mut config = ServerConfig::strict();
    config.limits.max_frame_bytes = 64 * 1024;
    let report = run_case_on(config, "2.2.6");
    assert_fails(&report, &["2.2.6"]);
    let case = report.case("2.2.6").expect("case");
    assert!(case.message.contains("1,048,576"), "{}", case.message);
}

#[test]
fn fault_event_after_unsubscribe_fails_the_unsubscribe_cases() {
    let report = faulted(&["5.4.3", "5.4.4", "5.4.8", "5.4.9"], |f| {
        f.event_after_unsubscribe = true
    });
    // 5.4.8 and 5.4.9 are SHOULD cases; their MUST check (the cancelled request_id stops)
    // fails, and fails the run.
    assert_fails(&report, &["5.4.3", "5.4.4", "5.4.8", "5.4.9"]);
    for id in ["5.4.8", "5.4.9"] {
        let case = report.case(id).expect("case");
        assert_eq!(case.level, Level::Should, "{id}");
    }
}

#[test]
fn a_failing_mutation_hook_is_an_error_not_a_failure() {
    let report = run_with_target(
        Faults::default(),
        &["5.5.1", "5.1.1"],
        generous(),
        |target| {
            target.mutation = MutationConfig::Shell(ShellMutation {
                create: "echo 'the hook is broken' >&2; exit 3".into(),
                update: ": {pk}; exit 3".into(),
                delete: ": {pk}; exit 3".into(),
                pk_field: "id".into(),
                timeout_ms: 10_000,
                recreate: None,
            });
        },
    );
    let hooked = report.case("5.5.1").expect("case");
    assert_eq!(hooked.verdict, Verdict::Error, "{}", describe(&report));
    assert!(hooked.harness_error.is_some());
    assert!(!hooked.is_must_failure());
    assert_eq!(
        report.case("5.1.1").expect("case").verdict,
        Verdict::Pass,
        "{}",
        describe(&report)
    );
    assert_eq!(report.summary.harness_errors, 1);
    assert_eq!(report.summary.error, 1);
    assert_eq!(report.summary.fail, 0);
    assert_eq!(
        report.exit_code(),
        2,
        "a case that could not be judged exits 2"
    );
    assert!(!conforms(&report), "conforms() agrees with the exit code");
}

#[test]
fn fault_binary_replies_fails_the_frame_case() {
    let report = faulted(&["2.2.1"], |f| f.binary_replies = true);
    assert_fails(&report, &["2.2.1"]);
}

#[test]
fn fault_unsubscribe_unknown_404_fails_the_unsubscribe_reply_case() {
    let report = faulted(&["5.4.1"], |f| f.unsubscribe_unknown_404 = true);
    assert_fails(&report, &["5.4.1"]);
}

#[test]
fn fault_subscribe_missing_replaces_fails_the_subscribe_missing_case() {
    let report = faulted(&["5.3.2"], |f| f.subscribe_missing_replaces = true);
    assert_fails(&report, &["5.3.2"]);
}

#[test]
fn fault_unsubscribe_missing_cancels_fails_the_unsubscribe_missing_case() {
    let report = faulted(&["5.4.6"], |f| f.unsubscribe_missing_cancels = true);
    assert_fails(&report, &["5.4.6"]);
}

#[test]
fn fault_ignore_unknown_stream_fails_the_unknown_stream_case() {
    let report = faulted(&["8.3.1"], |f| f.ignore_unknown_stream = true);
    assert_fails(&report, &["8.3.1"]);
    let case = report.case("8.3.1").expect("case");
    assert_eq!(case.level, Level::Should);
}

#[test]
fn fault_duplicate_event_fails_the_exactly_once_cases() {
    let report = faulted(
        &[
            "5.7.1", "5.7.2", "5.3.3", "5.3.4", "5.4.11", "5.7.5", "5.7.6",
        ],
        |f| f.duplicate_event = true,
    );
    assert_fails(
        &report,
        &[
            "5.7.1", "5.7.2", "5.3.3", "5.3.4", "5.4.11", "5.7.5", "5.7.6",
        ],
    );
}

#[test]
fn fault_subscribe_status_200_fails_the_subscribe_case() {
    let report = faulted(&["5.3.1", "5.3.4", "5.4.11", "5.7.5"], |f| {
        f.subscribe_status_200 = true
    });
    assert_fails(&report, &["5.3.1", "5.3.4", "5.4.11", "5.7.5"]);
    let case = report.case("5.3.1").expect("case");
    assert!(
        case.message.contains("response_status 200, expected 201"),
        "{}",
        case.message
    );
}

#[test]
fn fault_retrieve_action_list_fails_the_retrieve_case() {
    let report = faulted(&["5.1.1", "4.2.8", "4.2.9", "4.2.10", "8.3.2"], |f| {
        f.retrieve_action_list = true
    });
    assert_fails(&report, &["5.1.1", "4.2.8", "4.2.9", "4.2.10", "8.3.2"]);
    let case = report.case("5.1.1").expect("case");
    assert!(case.message.contains("action \"list\""), "{}", case.message);
}

#[test]
fn fault_missing_errors_key_fails_by_schema_validation() {
    let report = faulted(
        &[
            "4.1.1", "5.1.1", "3.1.2", "7.2.2", "4.2.8", "4.2.9", "4.2.10", "6.6.2", "6.6.3",
            "8.3.2",
        ],
        |f| f.missing_errors_key = true,
    );
    assert_fails(
        &report,
        &[
            "4.1.1", "5.1.1", "3.1.2", "7.2.2", "4.2.8", "4.2.9", "4.2.10", "6.6.2", "6.6.3",
            "8.3.2",
        ],
    );
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
    let report = faulted(&["5.6.1"], |f| f.drop_delete_event = true);
    assert_fails(&report, &["5.6.1"]);
}

#[test]
fn fault_silent_times_out_cleanly_within_the_global_deadline() {
    let faults = Faults {
        silent: true,
        ..Faults::default()
    };
    // Every case waits for a reply that never comes and ends at its deadline; the cases
    // selected fit in one batch, so each runs before the global deadline.
    let options = RunOptions {
        case_deadline: Duration::from_secs(2),
        global_deadline: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(2),
        ..RunOptions::default()
    };
    // run_against bounds the run by its global deadline (plus a margin) with a timeout.
    let report = run_against(
        faults,
        &["5.1.1", "5.3.1", "7.1.1", "4.3.1", "2.3.1", "5.5.1"],
        options,
    );
    assert_fails(&report, &["5.1.1", "5.3.1", "7.1.1"]);
    let case = report.case("5.1.1").expect("case");
    assert!(case.message.contains("no reply"), "{}", case.message);
    for case in &report.cases {
        assert!(
            matches!(
                case.verdict,
                Verdict::Fail | Verdict::Error | Verdict::Skipped { .. }
            ) || case.level != Level::Must,
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
