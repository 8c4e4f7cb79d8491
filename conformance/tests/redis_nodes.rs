//! SPEC 5.10 (several processes) against two reference-server nodes: on one redis-server
//! (`Config::redis`) they are one app and pass the cross-process cases, and the whole suite;
//! without Redis they are two apps and fail them.

#[allow(dead_code)] // run_embedded starts default servers only; these nodes need configs
mod common;
#[path = "../../reference-server/tests/support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, ServerConfig};
use dcrf_conformance::{RunOptions, RunReport, Target, Verdict, conforms, run};
use dcrf_reference_server::RedisConfig;
use redis_server::RedisServer;

const CROSS_PROCESS: [&str; 2] = ["5.10.1", "5.10.3"];

/// Starts one node per config, runs `options` against the first with the others as its
/// `nodes`, and returns the report with the target used.
fn run_nodes(configs: Vec<ServerConfig>, options: RunOptions) -> (RunReport, Target) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut servers = Vec::new();
        for config in configs {
            let server =
                tokio::time::timeout(Duration::from_secs(10), EmbeddedServer::start(config))
                    .await
                    .expect("the reference server starts in time")
                    .expect("the reference server starts");
            servers.push(server);
        }
        let mut target = servers[0].target();
        target.nodes = servers[1..].iter().map(EmbeddedServer::ws_url).collect();
        let limit = options.global_deadline + Duration::from_secs(5);
        let report = tokio::time::timeout(limit, run(&target, &options, |_, _, _| {}))
            .await
            .expect("the run ends within its global deadline")
            .expect("the run can be made");
        for server in servers {
            server.shutdown().await;
        }
        (report, target)
    })
}

fn on_redis(redis: &RedisServer, prefix: &str) -> ServerConfig {
    ServerConfig {
        redis: Some(RedisConfig {
            url: redis.url(),
            prefix: prefix.to_owned(),
        }),
        ..ServerConfig::strict()
    }
}

fn verdict<'a>(report: &'a RunReport, id: &str) -> (&'a Verdict, &'a str) {
    let case = report
        .cases
        .iter()
        .find(|case| case.id == id)
        .unwrap_or_else(|| panic!("{id} did not run"));
    (&case.verdict, &case.message)
}

#[test]
fn two_nodes_on_one_redis_pass_the_cross_process_cases() {
    let redis = RedisServer::start();
    let configs = vec![on_redis(&redis, "nodes"), on_redis(&redis, "nodes")];
    let (report, _) = run_nodes(configs, common::options(&CROSS_PROCESS));
    for id in CROSS_PROCESS {
        let (verdict, message) = verdict(&report, id);
        assert_eq!(*verdict, Verdict::Pass, "{id}: {message}");
    }
    assert!(conforms(&report));
}

#[test]
fn two_nodes_on_one_redis_pass_the_whole_suite() {
    let redis = RedisServer::start();
    let configs = vec![on_redis(&redis, "suite"), on_redis(&redis, "suite")];
    let (report, _) = run_nodes(configs, common::options(&[]));
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|case| matches!(case.verdict, Verdict::Fail | Verdict::Error))
        .map(|case| format!("{} {:?}: {}", case.id, case.verdict, case.message))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for id in CROSS_PROCESS {
        assert_eq!(*verdict(&report, id).0, Verdict::Pass, "{id}");
    }
    assert!(conforms(&report));
}

#[test]
fn two_nodes_without_redis_fail_the_cross_process_cases() {
    let configs = vec![ServerConfig::strict(), ServerConfig::strict()];
    let (report, target) = run_nodes(configs, common::options(&CROSS_PROCESS));
    for id in CROSS_PROCESS {
        let (verdict, message) = verdict(&report, id);
        assert_eq!(*verdict, Verdict::Fail, "{id}: {message}");
        assert!(message.contains(&target.nodes[0]), "{id}: {message}");
    }
    assert!(!conforms(&report));
}
