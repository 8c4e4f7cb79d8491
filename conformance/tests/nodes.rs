//! SPEC 5.10 (several processes) against reference servers: one server named twice is one app
//! and passes; two independent servers are not one app and fail both cases with a message
//! that names the node and the likely cause; a target with one node skips them.

use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, ServerConfig};
use dcrf_conformance::{RunOptions, RunReport, Target, Verdict, conforms, run};

const CASES: [&str; 2] = ["5.10.1", "5.10.3"];

fn options() -> RunOptions {
    RunOptions {
        filter: CASES.iter().map(|id| (*id).to_owned()).collect(),
        case_deadline: Duration::from_secs(8),
        connect_timeout: Duration::from_secs(10),
        global_deadline: Duration::from_secs(60),
        ..RunOptions::default()
    }
}

/// Starts `servers` reference servers, lets `nodes` build the target from them, and runs the
/// 5.10 cases.
fn run_nodes(
    servers: usize,
    nodes: impl FnOnce(&[EmbeddedServer]) -> Target,
) -> (RunReport, Target) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut started = Vec::new();
        for _ in 0..servers {
            started.push(
                EmbeddedServer::start(ServerConfig::default())
                    .await
                    .expect("the reference server starts"),
            );
        }
        let target = nodes(&started);
        let options = options();
        let limit = options.global_deadline + Duration::from_secs(5);
        let report = tokio::time::timeout(limit, run(&target, &options, |_, _, _| {}))
            .await
            .expect("the run ends within its global deadline")
            .expect("the run can be made");
        for server in started {
            server.shutdown().await;
        }
        (report, target)
    })
}

fn verdicts(report: &RunReport) -> Vec<(String, Verdict, String)> {
    report
        .cases
        .iter()
        .map(|case| (case.id.clone(), case.verdict.clone(), case.message.clone()))
        .collect()
}

#[test]
fn one_server_under_two_names_is_one_app() {
    let (report, _) = run_nodes(1, |servers| {
        let mut target = servers[0].target();
        target.nodes = vec![target.url.replace("127.0.0.1", "localhost")];
        target
    });
    let seen = verdicts(&report);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter().all(|(_, verdict, _)| *verdict == Verdict::Pass),
        "{seen:?}"
    );
    assert!(conforms(&report));
}

#[test]
fn two_independent_servers_fail_the_cross_process_cases() {
    let (report, target) = run_nodes(2, |servers| {
        let mut target = servers[0].target();
        target.nodes = vec![servers[1].ws_url()];
        target
    });
    let seen = verdicts(&report);
    for id in CASES {
        let (_, verdict, message) = seen
            .iter()
            .find(|(case, _, _)| case == id)
            .unwrap_or_else(|| panic!("{id} did not run: {seen:?}"));
        assert_eq!(*verdict, Verdict::Fail, "{id}: {message}");
        assert!(
            message.contains(&target.nodes[0]),
            "{id}: the message names the second node: {message}"
        );
    }
    assert!(!conforms(&report), "a FAIL of a MUST case does not conform");
}

#[test]
fn one_node_skips_the_cross_process_cases() {
    let (report, _) = run_nodes(1, |servers| servers[0].target());
    let seen = verdicts(&report);
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (id, verdict, _) in &seen {
        match verdict {
            Verdict::Skipped { reason } => assert!(reason.contains("nodes"), "{id}: {reason}"),
            other => panic!("{id}: expected SKIPPED, got {other:?}"),
        }
    }
    assert!(conforms(&report), "skipped cases do not fail a run");
}
