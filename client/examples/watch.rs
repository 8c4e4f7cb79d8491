//! Subscribes to one instance and prints every change.
//!
//! ```sh
//! cargo run -p dcrf-reference-server -- --listen 127.0.0.1:8000
//! cargo run -p dcrf-client --example watch -- --url ws://127.0.0.1:8000/ws/ --pk 1
//! # in another terminal:
//! cargo run -p dcrf-reference-server -- admin --url http://127.0.0.1:8000 update 1 --username "edited user name"
//! ```

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dcrf_client::{Client, Event, ReconnectPolicy};
use futures_util::StreamExt;
use serde_json::Value;

/// Subscribe to one instance of a DCRF consumer and print its changes.
#[derive(Debug, Parser)]
struct Args {
    /// WebSocket URL of the consumer (ws:// or wss://).
    #[arg(long, default_value = "ws://127.0.0.1:8000/ws/")]
    url: String,
    /// Primary key (lookup value) of the instance; a number or a string.
    #[arg(long)]
    pk: String,
    /// Speak the multiplexed envelope with this stream name (dcrf-client's default).
    #[arg(long)]
    stream: Option<String>,
    /// The consumer's lookup field.
    #[arg(long, default_value = "pk")]
    lookup_field: String,
    /// A handshake header, `Name: value` (repeatable): Authorization, Cookie, Origin.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Do not reconnect when the connection drops.
    #[arg(long)]
    no_reconnect: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "dcrf_client=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let pk: Value = args
        .pk
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(args.pk.clone()));

    let mut builder = Client::builder(&args.url).lookup_field(&args.lookup_field);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--header {header:?}: expected `Name: value`"))?;
        builder = builder.header(name.trim(), value.trim());
    }
    if let Some(stream) = &args.stream {
        builder = builder.stream(stream);
    }
    if !args.no_reconnect {
        builder = builder.reconnect(
            ReconnectPolicy::default()
                .initial_delay(Duration::from_millis(200))
                .max_delay(Duration::from_secs(5)),
        );
    }
    let client = builder
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.url))?;

    let mut changes = client
        .subscribe::<Value>(pk.clone())
        .await
        .with_context(|| format!("subscribing to {pk}"))?;
    match client.retrieve::<Value>(pk.clone()).await {
        Ok(state) => println!("current {state}"),
        Err(error) => eprintln!("retrieve failed: {error}"),
    }
    println!("watching {pk} on {} (Ctrl-C to stop)", args.url);

    loop {
        tokio::select! {
            event = changes.next() => match event {
                Some(Event::Updated(state)) => println!("updated {state}"),
                Some(Event::Created(state)) => println!("created {state}"),
                Some(Event::Deleted { pk }) => println!("deleted {pk}"),
                Some(Event::Gap) => {
                    println!("gap: changes may have been missed");
                    if let Ok(state) = client.retrieve::<Value>(pk.clone()).await {
                        println!("current {state}");
                    }
                }
                Some(other) => println!("{other:?}"),
                None => {
                    println!("subscription ended");
                    return Ok(());
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
