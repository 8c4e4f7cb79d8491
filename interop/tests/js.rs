//! The JavaScript tool chain against this project: dcrf-client (the real npm client, default
//! settings, multiplexed envelope) against the reference server; json-schema-to-typescript
//! and tsc on `schemas/draft-07/`; ajv validating the frames captured from real DCRF; and
//! @asyncapi/parser on `schemas/asyncapi.json`. `interop/js/run.sh` installs its npm packages
//! on first use; a missing Node.js or a failed install fails this test.

use std::process::Command;
use std::time::Duration;

use dcrf_interop::repo_root;
use dcrf_reference_server::{Config, serve};

#[test]
fn javascript_clients_and_schema_tools_agree_with_the_spec() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let handle = runtime
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            serve(listener, Config::default())
                .await
                .map_err(std::io::Error::other)
        })
        .expect("the reference server starts");
    let addr = handle.local_addr();
    let output = Command::new("bash")
        .arg(repo_root().join("interop/js/run.sh"))
        .env("DCRF_WS_BASE", format!("ws://{addr}"))
        .env("DCRF_HTTP_BASE", format!("http://{addr}"))
        .output()
        .expect("run interop/js/run.sh");
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(10), handle.shutdown()).await;
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "interop/js/run.sh failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    println!("{stdout}");
}
