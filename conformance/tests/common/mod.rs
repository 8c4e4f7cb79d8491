//! Runs cases against reference servers started in process (shared by the test files that
//! need more than the default target).

use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, ServerConfig};
use dcrf_conformance::{RunOptions, RunReport, Target, run};

/// Starts `servers` reference servers, lets `build` make the target from them, runs the cases
/// of `options` within its global deadline, and returns the report with the target used.
pub(crate) fn run_embedded(
    servers: usize,
    options: RunOptions,
    build: impl FnOnce(&[EmbeddedServer]) -> Target,
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
                EmbeddedServer::start(ServerConfig::strict())
                    .await
                    .expect("the reference server starts"),
            );
        }
        let target = build(&started);
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

/// Options for `filter` with deadlines generous enough for a loaded 2-core machine (a passing
/// case ends as soon as its frames arrive).
pub(crate) fn options(filter: &[&str]) -> RunOptions {
    RunOptions {
        filter: filter.iter().map(|id| (*id).to_owned()).collect(),
        case_deadline: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(10),
        global_deadline: Duration::from_secs(120),
        ..RunOptions::default()
    }
}
