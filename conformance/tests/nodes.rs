//! SPEC 5.10 (several processes) against reference servers: one server named twice is one app
//! and passes; two independent servers are not one app and fail both cases with a message
//! that names the node and the likely cause; a target with one node skips them.

mod common;

use dcrf_conformance::{RunReport, Target, Verdict, conforms};

const CASES: [&str; 2] = ["5.10.1", "5.10.3"];

/// The 5.10 cases against `servers` reference servers, with the target `nodes` builds.
fn run_nodes(
    servers: usize,
    nodes: impl FnOnce(&[dcrf_conformance::embedded::EmbeddedServer]) -> Target,
) -> (RunReport, Target) {
    common::run_embedded(servers, common::options(&CASES), nodes)
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
