//! Load tool for any DCRF server with the admin API (the reference server or the Django
//! interop server). Not a timed test: it measures and prints figures.
//!
//! ```text
//! cargo run --release -p dcrf-reference-server --example load -- \
//!     --ws-url ws://127.0.0.1:8000/ws/ --admin-url http://127.0.0.1:8000 \
//!     --server-pid "$(pgrep -n dcrf-reference)" [--scenario retrieve|pipelined|fanout|idle|all]
//! ```
//!
//! - retrieve: `--connections` sockets (16) send `retrieve` back to back for `--seconds`
//!   (5); prints round trips per second and latency percentiles;
//! - pipelined: one socket sends `retrieve` without waiting for the replies, at most
//!   `--window` (1000) unanswered, for `--seconds`; prints replies per second;
//! - fanout: `--fanout-sockets` sockets (1000) subscribe to `--pk` (1); the admin API
//!   changes it `--changes` times (20); prints the time until every socket got the event
//!   (p50, p99, max);
//! - idle: opens `--idle` subscribed sockets (10000) and reads the server's VmRSS from
//!   /proc/<--server-pid>/status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use dcrf_reference_server::AdminClient;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Retrieve,
    Pipelined,
    Fanout,
    Idle,
    All,
}

/// Measure a DCRF server: retrieve round trips, fan-out latency, idle memory.
#[derive(Debug, Parser)]
struct Args {
    /// WebSocket URL of the seed consumer.
    #[arg(long, default_value = "ws://127.0.0.1:8000/ws/")]
    ws_url: String,
    /// Base URL of the admin API.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    admin_url: String,
    /// Which measurement to run.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Connections of the retrieve scenario.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Duration of the retrieve scenario, in seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Most unanswered requests of the pipelined scenario.
    #[arg(long, default_value_t = 1000)]
    window: usize,
    /// Sockets of the fan-out scenario.
    #[arg(long, default_value_t = 1000)]
    fanout_sockets: usize,
    /// Changes of the fan-out scenario.
    #[arg(long, default_value_t = 20)]
    changes: usize,
    /// Primary key the sockets subscribe to.
    #[arg(long, default_value_t = 1)]
    pk: i64,
    /// Sockets of the idle scenario.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// PID of the server, to read its memory (VmRSS) in the idle scenario.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    raise_nofile();
    if let Some(pid) = args.server_pid {
        println!("server RSS at start: {:.1} MB", rss_mb(pid)?);
    }
    if matches!(args.scenario, Scenario::Retrieve | Scenario::All) {
        retrieve(&args).await?;
    }
    if matches!(args.scenario, Scenario::Pipelined | Scenario::All) {
        pipelined(&args).await?;
    }
    if matches!(args.scenario, Scenario::Fanout | Scenario::All) {
        fanout(&args).await?;
    }
    if matches!(args.scenario, Scenario::Idle | Scenario::All) {
        idle(&args).await?;
    }
    Ok(())
}

/// Lifts the soft open-file limit to the hard one: 10,000 sockets need it.
fn raise_nofile() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            eprintln!("warning: cannot raise RLIMIT_NOFILE: {error}");
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        connect_async_with_config(url, Some(config), true),
    )
    .await??;
    Ok(ws)
}

async fn next_text(ws: &mut Ws) -> anyhow::Result<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await? {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => anyhow::bail!("connection closed"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn retrieve(args: &Args) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let mut ws = connect(&args.ws_url).await?;
        let pk = args.pk;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut id: u64 = (c as u64) << 32;
            while Instant::now() < deadline {
                id += 1;
                let frame = format!(r#"{{"action":"retrieve","request_id":{id},"pk":{pk}}}"#);
                let start = Instant::now();
                ws.send(Message::text(frame)).await?;
                let reply = next_text(&mut ws).await?;
                anyhow::ensure!(reply["response_status"] == 200, "unexpected reply {reply}");
                latencies.push(start.elapsed());
            }
            let _ = ws.close(None).await;
            anyhow::Ok(latencies)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    println!(
        "retrieve: {} round trips over {} connections in {:.1} s = {:.0} round trips/s; latency p50 {:.3} ms, p99 {:.3} ms",
        all.len(),
        args.connections,
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
    );
    Ok(())
}

/// One socket, requests sent without waiting for their replies (at most `--window`
/// unanswered): the server's throughput on one connection.
async fn pipelined(args: &Args) -> anyhow::Result<()> {
    let ws = connect(&args.ws_url).await?;
    let (mut sink, mut stream) = ws.split();
    let window = Arc::new(tokio::sync::Semaphore::new(args.window.max(1)));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let pk = args.pk;
    let permits = Arc::clone(&window);
    let writer = tokio::spawn(async move {
        let mut id: u64 = 0;
        while Instant::now() < deadline {
            // Take what the window allows, send it in one flush.
            let permit = permits.acquire().await?;
            permit.forget();
            let more = permits.available_permits().min(255);
            if let Ok(extra) = permits.try_acquire_many(more as u32) {
                extra.forget();
            }
            for _ in 0..=more {
                id += 1;
                let frame = format!(r#"{{"action":"retrieve","request_id":{id},"pk":{pk}}}"#);
                sink.feed(Message::text(frame)).await?;
            }
            sink.flush().await?;
        }
        anyhow::Ok((id, sink))
    });
    let started = Instant::now();
    let mut replies: u64 = 0;
    let mut first_late = None;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection closed"))??;
        let Message::Text(text) = message else {
            continue;
        };
        anyhow::ensure!(
            text.as_str().contains(r#""response_status":200"#)
                || text.as_str().contains(r#""response_status": 200"#),
            "unexpected reply {text}"
        );
        replies += 1;
        window.add_permits(1);
        if Instant::now() >= deadline && first_late.is_none() {
            first_late = Some(replies);
        }
        if writer.is_finished() {
            break;
        }
    }
    let (sent, mut sink) = writer.await??;
    // The replies still owed: read them, the clock stops at the last one.
    while replies < sent {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection closed"))??;
        if message.is_text() {
            replies += 1;
        }
    }
    let elapsed = started.elapsed();
    let _ = sink.close().await;
    println!(
        "pipelined: {replies} replies on one connection (window {}) in {:.2} s = {:.0} replies/s",
        args.window,
        elapsed.as_secs_f64(),
        replies as f64 / elapsed.as_secs_f64(),
    );
    Ok(())
}

/// Opens `count` sockets subscribed to `pk`, 200 handshakes at a time.
async fn open_subscribed(url: &str, pk: i64, count: usize) -> anyhow::Result<Vec<Ws>> {
    let mut sockets = Vec::with_capacity(count);
    let mut next = 0;
    while next < count {
        let batch: Vec<_> = (next..count.min(next + 200))
            .map(|i| {
                let url = url.to_owned();
                tokio::spawn(async move {
                    let mut ws = connect(&url).await?;
                    let frame =
                        format!(r#"{{"action":"subscribe_instance","request_id":{i},"pk":{pk}}}"#);
                    ws.send(Message::text(frame)).await?;
                    let reply = next_text(&mut ws).await?;
                    anyhow::ensure!(reply["response_status"] == 201, "subscribe failed: {reply}");
                    anyhow::Ok(ws)
                })
            })
            .collect();
        next = count.min(next + 200);
        for task in batch {
            sockets.push(task.await??);
        }
    }
    Ok(sockets)
}

async fn fanout(args: &Args) -> anyhow::Result<()> {
    let admin = AdminClient::new(&args.admin_url)?;
    let sockets = open_subscribed(&args.ws_url, args.pk, args.fanout_sockets).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let mut readers = Vec::new();
    for mut ws in sockets {
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            while let Ok(event) = next_text(&mut ws).await {
                let email = event["data"]["email"].as_str().unwrap_or("");
                if let Some(k) = email
                    .strip_prefix("fanout-")
                    .and_then(|r| r.split('@').next())
                    && let Ok(k) = k.parse::<usize>()
                {
                    let _ = tx.send((k, Instant::now()));
                }
            }
        }));
    }
    drop(tx);
    let mut times = Vec::new();
    let salt = std::process::id();
    for k in 0..args.changes {
        let started = Instant::now();
        admin
            .update(
                args.pk,
                None,
                Some(&format!("fanout-{k}@{salt}.example.com")),
            )
            .await
            .map_err(|error| anyhow::Error::new(error).context("admin PATCH failed"))?;
        let mut received = 0;
        let mut last = started;
        while received < args.fanout_sockets {
            let (got, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("readers ended"))?;
            if got == k {
                received += 1;
                last = last.max(at);
            }
        }
        times.push(last - started);
    }
    for reader in &readers {
        reader.abort();
    }
    times.sort();
    println!(
        "fanout: {} sockets subscribed to pk {}, {} changes; time until all received: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.fanout_sockets,
        args.pk,
        args.changes,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
    );
    Ok(())
}

async fn idle(args: &Args) -> anyhow::Result<()> {
    let before = args.server_pid.map(rss_mb).transpose()?;
    let started = Instant::now();
    let sockets = open_subscribed(&args.ws_url, args.pk, args.idle).await?;
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    match (args.server_pid, before) {
        (Some(pid), Some(before)) => {
            let after = rss_mb(pid)?;
            println!(
                "idle: {} subscribed connections opened in {:.1} s; server RSS {:.1} MB (was {:.1} MB: {:.1} KB per connection)",
                sockets.len(),
                opened.as_secs_f64(),
                after,
                before,
                (after - before) * 1024.0 / sockets.len() as f64
            );
        }
        _ => println!(
            "idle: {} subscribed connections opened in {:.1} s (pass --server-pid to read the server's RSS)",
            sockets.len(),
            opened.as_secs_f64()
        ),
    }
    drop(sockets);
    Ok(())
}

/// VmRSS of a process, in MB.
fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kb / 1024.0)
}
