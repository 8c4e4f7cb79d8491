//! The harness against hostile servers (issue 8, "A hostile catalogue that stays").
//!
//! Each server below is a few lines of raw TCP in this file, bound to port 0. The real
//! `dcrf-conformance` binary runs against each with a short global deadline; every run must
//! end by itself (the test kills it only after [`KILL_AFTER`], far beyond the harness's
//! deadline, and then fails), exit with 1 or 2, print a report (or, for exit 2, the reason)
//! that names what the server did, and stay under [`PEAK_RSS_BOUND_KIB`] of peak memory.
//!
//! Peak memory is `VmHWM` of `/proc/PID/status`, polled every 5 ms while the run lives: a
//! high-water mark, so a poll misses only what the last few milliseconds before exit add
//! (by then the report is printed and freed). `getrusage(RUSAGE_CHILDREN)` is no substitute:
//! Linux charges a spawned child with the high-water mark of the memory it was spawned from
//! (this test's own, servers included) when it calls `exec`. Run with `--nocapture` to see
//! the table.

use std::fmt::Write as _;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The harness's global deadline in these runs (`--global-timeout-ms`).
const HARNESS_DEADLINE_MS: u64 = 4_000;

/// The test kills a run still alive after this long, and fails.
const KILL_AFTER: Duration = Duration::from_secs(60);

/// Runs at once: the servers and the harnesses share two cores, and a server starved of CPU
/// would not get to show its hostility before the harness's deadlines.
const PARALLEL_RUNS: usize = 4;

/// The documented bound of the harness's peak RSS against any server (conformance/README.md,
/// "Bounds").
const PEAK_RSS_BOUND_KIB: u64 = 256 * 1024;

/// What a hostile server does once a client connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostile {
    /// Completes the handshake, reads everything, never sends a frame.
    Silent,
    /// Completes the handshake, then sends random bytes (not frames) without pause.
    GarbageBytes,
    /// Answers each request with a text frame that is not JSON.
    GarbageText,
    /// Sends valid JSON frames without pause: 16 small ones, then 4 of 64 KiB, again and again.
    FrameFlood,
    /// Sends 8 MB text frames without pause.
    HugeFrames,
    /// Never reads after the handshake and sends pings without pause.
    PingFloodNoRead,
    /// Closes the connection (1001) when the first request arrives.
    CloseMidCase,
    /// Reads the request, sends half a status line, then nothing.
    NoHandshake,
    /// Announces a 1 MiB frame, then sends one byte every 20 ms.
    Trickle,
    /// Sends a text frame without FIN, then continuation frames without FIN, forever.
    EndlessFragments,
    /// Answers each request with a 100,000-deep JSON array and a 1,000-deep object.
    DeepJson,
}

impl Hostile {
    const ALL: [Hostile; 11] = [
        Hostile::Silent,
        Hostile::GarbageBytes,
        Hostile::GarbageText,
        Hostile::FrameFlood,
        Hostile::HugeFrames,
        Hostile::PingFloodNoRead,
        Hostile::CloseMidCase,
        Hostile::NoHandshake,
        Hostile::Trickle,
        Hostile::EndlessFragments,
        Hostile::DeepJson,
    ];

    fn name(self) -> &'static str {
        match self {
            Hostile::Silent => "silent",
            Hostile::GarbageBytes => "garbage bytes",
            Hostile::GarbageText => "garbage text",
            Hostile::FrameFlood => "frame flood",
            Hostile::HugeFrames => "8 MB frames",
            Hostile::PingFloodNoRead => "ping flood, never reads",
            Hostile::CloseMidCase => "close mid-case",
            Hostile::NoHandshake => "never completes the handshake",
            Hostile::Trickle => "trickle of bytes",
            Hostile::EndlessFragments => "endless fragments",
            Hostile::DeepJson => "100,000-deep JSON",
        }
    }

    /// Text the run's output must contain: the harness says what the server did.
    fn evidence(self) -> &'static [&'static str] {
        match self {
            Hostile::Silent | Hostile::Trickle => &["within"],
            Hostile::GarbageBytes => &["transport error", "--max-message-bytes"],
            Hostile::GarbageText => &["not valid JSON"],
            // How far a flood gets before the deadlines depends on the machine; the inbox
            // bound itself is tested exactly in wire.rs.
            Hostile::FrameFlood => &["server flooded", "more frames", "unmatched frames"],
            Hostile::HugeFrames | Hostile::EndlessFragments => {
                &["--max-message-bytes); ", "closed with 1009"]
            }
            // Which bound is hit first, the count of pings or the write buffer full of
            // pongs the server never reads, depends on the machine's load.
            Hostile::PingFloodNoRead => &[
                "ping, pong or binary frames",
                "ping and pong frames",
                "the server does not read",
            ],
            Hostile::CloseMidCase => &["close code 1001"],
            Hostile::NoHandshake => &["no WebSocket handshake within"],
            Hostile::DeepJson => &["JSON values", "recursion limit"],
        }
    }
}

/// Reads an HTTP request head (at most 16 KiB); returns its `Sec-WebSocket-Key`.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = socket.read(&mut buffer).await.ok()?;
        if read == 0 || head.len() > 16 << 10 {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    })
}

/// Completes the server side of the WebSocket handshake.
async fn handshake(socket: &mut TcpStream) -> Option<()> {
    let key = read_request(socket).await?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    socket.write_all(response.as_bytes()).await.ok()
}

/// An unmasked frame (server to client) with `opcode`, `fin` and a header for `len` bytes of
/// payload; the payload follows separately.
fn header(opcode: u8, fin: bool, len: usize) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 | opcode } else { opcode }];
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out
}

/// A whole unmasked frame.
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = header(opcode, fin, payload.len());
    out.extend_from_slice(payload);
    out
}

const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// Reads and discards until the client goes away.
async fn drain(mut socket: tokio::net::tcp::OwnedReadHalf) {
    let mut buffer = [0u8; 8192];
    while matches!(socket.read(&mut buffer).await, Ok(read) if read > 0) {}
}

/// Writes `chunk` again and again until the client goes away.
async fn repeat(socket: &mut tokio::net::tcp::OwnedWriteHalf, chunk: &[u8]) {
    while socket.write_all(chunk).await.is_ok() {}
}

/// Answers each chunk the client sends with `reply`.
async fn answer_each(socket: TcpStream, reply: &[u8]) {
    let (mut read, mut write) = socket.into_split();
    let mut buffer = [0u8; 8192];
    while matches!(read.read(&mut buffer).await, Ok(n) if n > 0) {
        if write.write_all(reply).await.is_err() {
            break;
        }
    }
}

async fn serve_one(kind: Hostile, mut socket: TcpStream) {
    if kind == Hostile::NoHandshake {
        let _ = read_request(&mut socket).await;
        let _ = socket.write_all(b"HTTP/1.1 10").await;
        drain(socket.into_split().0).await;
        return;
    }
    if handshake(&mut socket).await.is_none() {
        return;
    }
    match kind {
        Hostile::Silent => drain(socket.into_split().0).await,
        Hostile::GarbageBytes => {
            let (read, mut write) = socket.into_split();
            tokio::spawn(drain(read));
            // xorshift: the same garbage every run.
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            let chunk: Vec<u8> = (0..65_536)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect();
            repeat(&mut write, &chunk).await;
        }
        Hostile::GarbageText => {
            answer_each(
                socket,
                &frame(TEXT, true, "not JSON at all: {{[<>]".as_bytes()),
            )
            .await;
        }
        Hostile::FrameFlood => {
            let (read, mut write) = socket.into_split();
            tokio::spawn(drain(read));
            let small = frame(
                TEXT,
                true,
                br#"{"action":"update","errors":[],"response_status":200,"request_id":"flood","data":{"id":1}}"#,
            );
            let big = frame(
                TEXT,
                true,
                format!(
                    r#"{{"action":"update","errors":[],"response_status":200,"request_id":"flood","data":{{"id":1,"pad":"{}"}}}}"#,
                    "x".repeat(64 << 10)
                )
                .as_bytes(),
            );
            let mut chunk = small.repeat(16);
            chunk.extend(big.repeat(4));
            repeat(&mut write, &chunk).await;
        }
        Hostile::HugeFrames => {
            let (read, mut write) = socket.into_split();
            tokio::spawn(drain(read));
            // One 8 MB frame for every connection: this test's own memory stays small.
            static HUGE: OnceLock<Vec<u8>> = OnceLock::new();
            let huge = HUGE.get_or_init(|| {
                let payload = format!("\"{}\"", "a".repeat(8_000_000 - 2));
                frame(TEXT, true, payload.as_bytes())
            });
            repeat(&mut write, huge).await;
        }
        Hostile::PingFloodNoRead => {
            // Never reads: the client's pongs and requests pile up on its side.
            let (_read, mut write) = socket.into_split();
            let one = frame(PING, true, &[0x55; 125]);
            let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * 256).collect();
            repeat(&mut write, &chunk).await;
        }
        Hostile::CloseMidCase => {
            let mut buffer = [0u8; 8192];
            if matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {
                let mut payload = 1001u16.to_be_bytes().to_vec();
                payload.extend_from_slice(b"going away mid-case");
                let _ = socket.write_all(&frame(CLOSE, true, &payload)).await;
                let _ = socket.shutdown().await;
            }
        }
        Hostile::Trickle => {
            let (read, mut write) = socket.into_split();
            tokio::spawn(drain(read));
            if write.write_all(&header(TEXT, true, 1 << 20)).await.is_ok() {
                let mut ticks = tokio::time::interval(Duration::from_millis(20));
                loop {
                    ticks.tick().await;
                    if write.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            }
        }
        Hostile::EndlessFragments => {
            let (read, mut write) = socket.into_split();
            tokio::spawn(drain(read));
            let piece = vec![b' '; 64 << 10];
            if write.write_all(&frame(TEXT, false, &piece)).await.is_ok() {
                repeat(&mut write, &frame(CONTINUATION, false, &piece)).await;
            }
        }
        Hostile::DeepJson => {
            static DEEP: OnceLock<Vec<u8>> = OnceLock::new();
            let reply = DEEP.get_or_init(|| {
                let mut reply = frame(
                    TEXT,
                    true,
                    format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
                );
                reply.extend(frame(
                    TEXT,
                    true,
                    format!("{}1{}", "{\"a\":".repeat(1_000), "}".repeat(1_000)).as_bytes(),
                ));
                reply
            });
            answer_each(socket, reply).await;
        }
        Hostile::NoHandshake => {}
    }
}

/// A hostile server on `127.0.0.1:0`, on a thread (and runtime) of its own so that a
/// flooding server does not starve the others; it stops when this is dropped.
struct Server {
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn start(kind: Hostile) -> Server {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("binds");
    listener.set_nonblocking(true).expect("non-blocking");
    let address = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            let accept = async {
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(serve_one(kind, socket));
                }
            };
            tokio::select! {
                () = accept => {}
                _ = stopped => {}
            }
        });
        runtime.shutdown_background();
    });
    Server {
        url: format!("ws://{address}/ws/"),
        _stop: stop,
    }
}

/// `VmHWM` of a live process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One run of the harness against one server.
#[derive(Debug)]
struct Outcome {
    kind: Hostile,
    /// None when the test had to kill it.
    code: Option<i32>,
    wall: Duration,
    peak_rss_kib: u64,
    stdout: String,
    stderr: String,
}

async fn run_against(kind: Hostile) -> Outcome {
    run_with(kind, &[]).await
}

/// One run against `kind` with `extra` arguments.
async fn run_with(kind: Hostile, extra: &[&str]) -> Outcome {
    let server = start(kind);
    let url = server.url.clone();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dcrf-conformance"))
        .args([
            "run",
            "--url",
            &url,
            "--mutation-kind",
            "none",
            "--format",
            "json",
        ])
        .args(["--global-timeout-ms", &HARNESS_DEADLINE_MS.to_string()])
        .args(["--case-timeout-ms", "1500", "--quiet-ms", "100"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the harness starts");
    let started = Instant::now();
    let pid = child.id().expect("a pid");
    let mut stdout_pipe = child.stdout.take().expect("stdout");
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let stdout = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text).await;
        text
    });
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text).await;
        text
    });
    let mut peak = 0;
    let mut polls = tokio::time::interval(Duration::from_millis(5));
    let deadline = started + KILL_AFTER;
    let code = loop {
        tokio::select! {
            status = child.wait() => break status.ok().and_then(|status| status.code()),
            _ = polls.tick() => {
                peak = peak.max(vm_hwm_kib(pid).unwrap_or(0));
                if Instant::now() >= deadline {
                    let _ = child.kill().await;
                    break None;
                }
            }
        }
    };
    let wall = started.elapsed();
    let stdout = tokio::time::timeout(Duration::from_secs(10), stdout)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let stderr = tokio::time::timeout(Duration::from_secs(10), stderr)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    drop(server);
    Outcome {
        kind,
        code,
        wall,
        peak_rss_kib: peak,
        stdout,
        stderr,
    }
}

/// What is wrong with one run, if anything.
fn problems(outcome: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    match outcome.code {
        None => problems.push(format!(
            "still running after {} s: killed",
            KILL_AFTER.as_secs()
        )),
        Some(1 | 2) => {}
        Some(other) => problems.push(format!("exit code {other}, expected 1 or 2")),
    }
    match serde_json::from_str::<Value>(&outcome.stdout) {
        Ok(report) => {
            let cases = report["cases"].as_array().map_or(0, Vec::len);
            if cases == 0 || report["summary"]["total"].as_u64() != Some(cases as u64) {
                problems.push("the report lists no cases".into());
            }
            if report["summary"]["pass"].as_u64() == Some(cases as u64) {
                problems.push("every case passed against a hostile server".into());
            }
        }
        Err(_) if outcome.code == Some(2) && outcome.stderr.contains("error:") => {}
        Err(error) => problems.push(format!(
            "no JSON report ({error}); stderr: {}",
            outcome.stderr.chars().take(500).collect::<String>()
        )),
    }
    let said = format!("{}{}", outcome.stdout, outcome.stderr);
    if !outcome
        .kind
        .evidence()
        .iter()
        .any(|text| said.contains(text))
    {
        problems.push(format!(
            "the output names none of {:?}",
            outcome.kind.evidence()
        ));
    }
    if outcome.peak_rss_kib > PEAK_RSS_BOUND_KIB {
        problems.push(format!(
            "peak RSS {} KiB over the bound of {PEAK_RSS_BOUND_KIB} KiB",
            outcome.peak_rss_kib
        ));
    }
    problems
}

#[test]
fn every_hostile_server_gets_a_bounded_run_a_report_and_exit_1_or_2() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let outcomes: Vec<Outcome> = runtime.block_on(async {
        // HOSTILE_ONLY="frame flood" runs one server (when looking into one).
        let only = std::env::var("HOSTILE_ONLY").ok();
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(PARALLEL_RUNS));
        let runs: Vec<_> = Hostile::ALL
            .iter()
            .filter(|kind| only.as_deref().is_none_or(|only| only == kind.name()))
            .map(|&kind| {
                let slots = slots.clone();
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await.expect("a slot");
                    run_against(kind).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for run in runs {
            outcomes.push(run.await.expect("a run task"));
        }
        outcomes
    });
    runtime.shutdown_timeout(Duration::from_secs(1));

    let mut table =
        String::from("| server | exit code | wall time | peak RSS |\n| --- | --- | --- | --- |\n");
    let mut failures = Vec::new();
    for outcome in &outcomes {
        let _ = writeln!(
            table,
            "| {} | {} | {:.1} s | {:.1} MiB |",
            outcome.kind.name(),
            outcome
                .code
                .map_or_else(|| "killed".to_owned(), |code| code.to_string()),
            outcome.wall.as_secs_f64(),
            outcome.peak_rss_kib as f64 / 1024.0
        );
        if let Ok(dir) = std::env::var("HOSTILE_OUTPUT_DIR") {
            let file = format!("{dir}/{}.json", outcome.kind.name().replace(' ', "-"));
            let _ = std::fs::write(file, format!("{}\n{}", outcome.stdout, outcome.stderr));
        }
        for problem in problems(outcome) {
            failures.push(format!("{}: {problem}", outcome.kind.name()));
        }
    }
    let _ = writeln!(
        table,
        "\nharness deadline {HARNESS_DEADLINE_MS} ms, {PARALLEL_RUNS} runs at once"
    );
    println!("{table}");
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}

#[test]
fn max_message_bytes_sets_the_message_bound() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // The deep-JSON server's 195 KiB frame is over a 64 KiB bound.
    let outcome = runtime.block_on(run_with(
        Hostile::DeepJson,
        &["--max-message-bytes", "65536", "--case", "2.2"],
    ));
    assert_eq!(outcome.code, Some(1), "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains(
            "the server sent a message over the harness's bound of 64.0 KiB (--max-message-bytes)"
        ),
        "{}",
        outcome.stdout.chars().take(2000).collect::<String>()
    );
    assert!(outcome.stdout.contains("closed with 1009"));
}
