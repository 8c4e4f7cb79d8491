//! Helpers for the interop tests: start the real DCRF 1.3.0 server of `interop/dcrf/` on
//! loopback and stop it when dropped.
//!
//! The tests live in `tests/`; this crate is never published.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Creates (or reuses) the virtualenv of `interop/dcrf/` with the pinned requirements.
///
/// Panics with the installer's output when it fails: a missing server is a failed test.
pub fn setup_dcrf() {
    let script = repo_root().join("interop/dcrf/setup.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A running Daphne serving the Django project of `interop/dcrf/`, killed on drop.
#[derive(Debug)]
pub struct DcrfServer {
    child: Child,
    ws_url: String,
    log: PathBuf,
}

impl DcrfServer {
    /// Sets up the virtualenv, starts `serve.sh` on a free loopback port and waits for its
    /// `listening on` line. Panics with the server log when it does not come up in time.
    pub fn start(log_dir: &Path) -> DcrfServer {
        setup_dcrf();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free loopback port");
        let log = log_dir.join(format!("dcrf-{port}.log"));
        let stderr = std::fs::File::create(&log).expect("create the server log");
        let mut child = Command::new("bash")
            .arg(repo_root().join("interop/dcrf/serve.sh"))
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start interop/dcrf/serve.sh");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = DcrfServer {
            child,
            ws_url: String::new(),
            log,
        };
        match received.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.starts_with("listening on ") => {
                server.ws_url = line.trim_start_matches("listening on ").trim().to_owned();
                server
            }
            other => panic!(
                "the DCRF server did not start ({other:?}); its log:\n{}",
                server.log_text()
            ),
        }
    }

    /// The observer endpoint, `ws://127.0.0.1:PORT/ws/`.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// Everything the server wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DcrfServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
