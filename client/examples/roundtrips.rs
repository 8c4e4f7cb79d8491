//! Measures the client's call throughput against the reference server, in process.
//!
//! ```sh
//! cargo run --release -p dcrf-client --example roundtrips -- --seconds 3 --concurrency 64
//! ```
//!
//! Prints retrieve round trips per second on one connection, one call at a time and with
//! `--concurrency` calls in flight, and the events per second one subscription receives.

use std::time::{Duration, Instant};

use clap::Parser;
use dcrf_client::{Client, Event};
use dcrf_reference_server::{AdminClient, Config, serve};
use futures_util::StreamExt;
use serde_json::Value;

/// Measure dcrf-client against the in-process reference server.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Calls in flight in the concurrent measurement.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let span = Duration::from_secs(args.seconds);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = serve(listener, Config::default()).await?;
    let client = Client::connect(server.ws_url()).await?;

    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < span {
        client.retrieve::<Value>(1).await?;
        calls += 1;
    }
    report("retrieve, 1 in flight", calls, start.elapsed());

    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut calls = 0u64;
            while start.elapsed() < span {
                if client.retrieve::<Value>(1).await.is_err() {
                    break;
                }
                calls += 1;
            }
            calls
        }));
    }
    let mut calls = 0;
    for worker in workers {
        calls += worker.await?;
    }
    report(
        &format!("retrieve, {} in flight", args.concurrency),
        calls,
        start.elapsed(),
    );

    // Events: changes made through the admin API, received by one subscription.
    let admin = AdminClient::new(&server.http_url())?;
    let mut changes = client.subscribe::<Value>(2).await?;
    let start = Instant::now();
    let mut events = 0u64;
    while start.elapsed() < span {
        admin.update(2, Some(&format!("n{events}")), None).await?;
        match tokio::time::timeout(Duration::from_secs(5), changes.next()).await {
            Ok(Some(Event::Updated(_))) => events += 1,
            other => anyhow::bail!("expected an update event, got {other:?}"),
        }
    }
    report("change -> event, 1 at a time", events, start.elapsed());
    server.shutdown().await;
    Ok(())
}

fn report(what: &str, count: u64, elapsed: Duration) {
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "{what:<32} {count:>8} in {:>5.2} s  {rate:>10.0}/s",
        elapsed.as_secs_f64()
    );
}
