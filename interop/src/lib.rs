//! Helpers for the interop tests: start the real DCRF 1.3.0 server of `interop/dcrf/`, or
//! the shop app's stand-in (`interop/shop/stand-in.sh`), on loopback and stop it when
//! dropped.
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
        let mut command = Command::new("bash");
        command
            .arg(repo_root().join("interop/dcrf/serve.sh"))
            .arg(port.to_string())
            .stderr(stderr);
        let (child, ws_url) = spawn_listening(command, &log, "the DCRF server");
        DcrfServer { child, ws_url, log }
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
        stop(&mut self.child);
    }
}

/// Starts `command` in a process group of its own (so that a `cargo run` and the server it
/// starts are stopped together), with stdout piped, and waits up to 180 s for its
/// `listening on URL` line. Panics with the log at `log` when it does not come.
fn spawn_listening(mut command: Command, log: &Path, what: &str) -> (Child, String) {
    use std::os::unix::process::CommandExt;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    match received.recv_timeout(Duration::from_secs(180)) {
        Ok(line) if line.starts_with("listening on ") => {
            let url = line.trim_start_matches("listening on ").trim().to_owned();
            (child, url)
        }
        other => {
            stop(&mut child);
            panic!(
                "{what} did not start ({other:?}); its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        }
    }
}

/// Stops a child started by [`spawn_listening`] and its process group.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The shop app's stand-in (`interop/shop/stand-in.sh`): `dcrf-reference-server` serving
/// the shop's `Product` from its drf-spectacular schema, on a free loopback port; stopped
/// when dropped.
#[derive(Debug)]
pub struct StandIn {
    child: Child,
    ws_url: String,
    log: PathBuf,
}

impl StandIn {
    /// Runs `stand-in.sh --listen 127.0.0.1:0` with `args` added (`--profile strict`...)
    /// and waits for its listening line; its stderr goes to a log in `log_dir`.
    pub fn start(log_dir: &Path, args: &[&str]) -> StandIn {
        let log = log_dir.join(format!(
            "stand-in-{}-{}.log",
            std::process::id(),
            NEXT_LOG.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let stderr = std::fs::File::create(&log).expect("create the stand-in log");
        let mut command = Command::new("bash");
        command
            .arg(repo_root().join("interop/shop/stand-in.sh"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("CARGO", env!("CARGO"))
            .stderr(stderr);
        let (child, ws_url) = spawn_listening(command, &log, "the shop stand-in");
        StandIn { child, ws_url, log }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        let rest = self.ws_url.trim_start_matches("ws://");
        rest.split('/').next().unwrap_or(rest)
    }

    /// The observer endpoint, `ws://127.0.0.1:PORT/api/live/products/`.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// Everything the server wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

static NEXT_LOG: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
