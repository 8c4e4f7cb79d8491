//! `dcrf-reference-server`: run the reference server, or call its admin API.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dcrf_reference_server::{
    Access, AdminClient, Config, DEFAULT_HEAD_TIMEOUT, Error, Fault, Limits, Profile, RedisConfig,
    read_fixture, serve,
};

/// A reference server of the DCRF (djangochannelsrestframework 1.3.0) WebSocket protocol.
///
/// It serves the seed's User model on one port: WebSockets at /ws/ (retrieve,
/// subscribe_instance, unsubscribe_instance, update and delete events), /ws/full/ (plus
/// list, create, update, patch, delete) and /ws/multiplexed/ (channelsmultiplexer envelope,
/// stream "users"); HTTP GET /healthz and the admin API (/admin/users) for out-of-band changes.
///
/// Without a subcommand it runs `serve`:
///
///   dcrf-reference-server --listen 127.0.0.1:8000
///
/// When ready it prints exactly one line on stdout, `listening on ws://ADDR/ws/`; logs go
/// to stderr (set RUST_LOG, e.g. RUST_LOG=debug). SIGTERM or Ctrl-C shut it down gracefully
/// (close 1001 to every socket) and exit 0.
///
/// Browsers: a request with an Origin header is served only from a loopback origin
/// (http(s)://localhost, 127.0.0.0/8, [::1], any port) or one given with --allow-origin;
/// the Host header must be an IP address, localhost or a name given with --allow-host
/// (against DNS rebinding). The admin API needs Content-Type: application/json on a body,
/// and Authorization: Bearer TOKEN when --admin-token is set.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Change users through a running server's admin API (works against the Django
    /// interop server too). Prints the response body; exits 1 on a non-2xx status.
    ///
    /// Example: dcrf-reference-server admin --url http://127.0.0.1:8000 update 1 --username "edited user name"
    #[command(verbatim_doc_comment)]
    Admin(AdminArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (read it from the listening line).
    #[arg(long, default_value = "127.0.0.1:8000", value_name = "ADDR")]
    listen: SocketAddr,
    /// Users to start with: a JSON array of {"id", "username", "email", "password"?}.
    /// Default: pk 1..3 = ("test N", "N@example.com").
    #[arg(long, value_name = "FILE")]
    fixture: Option<PathBuf>,
    /// Keep the users in FILE: loaded at start when it exists (instead of the fixture), and
    /// rewritten atomically after every change, before the change is acknowledged.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Make several processes one server: keep the users in Redis and fan every change out
    /// through a Redis channel to the subscribers of every process started with the same
    /// URL and prefix. The fixture seeds Redis only when it holds no data under the prefix.
    /// An unreachable Redis stops the start (exit 2); one that goes away later is logged,
    /// reads are answered from the last known copy, changes fail with 500, and the server
    /// reconnects and catches up when it is back. Example: --redis redis://127.0.0.1:6379
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    redis: Option<String>,
    /// Prefix of every Redis key and of the channel (`PREFIX:users`, `PREFIX:changes`...),
    /// so that several servers can share one Redis.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "dcrf",
        requires = "redis"
    )]
    redis_prefix: String,
    /// Behave as DCRF 1.3.0 (the default: what a client will meet in production, quirks
    /// included, except that where DCRF crashes the socket still gets a proper close code),
    /// or as the SPEC recommends (strict: every SHOULD, e.g. a 400 error reply instead of
    /// close 1011 on malformed input). interop/dcrf/PROFILE-NOTES.md lists the differences.
    #[arg(long, value_enum, value_name = "PROFILE", default_value_t = Profile::Dcrf130)]
    profile: Profile,
    /// Inject a fault (repeatable), to test a conformance harness. Never in production.
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// Largest incoming WebSocket message in bytes; larger closes with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_frame_bytes)]
    max_frame_bytes: usize,
    /// Most subscriptions one connection may hold; more are refused with a 429 error reply.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_subscriptions_per_connection)]
    max_subscriptions: usize,
    /// Most TCP connections at once (WebSocket and HTTP). Past it, a reserve of a few more
    /// still get /healthz and the admin API, and WebSocket upgrades get HTTP 503.
    /// Default: the RLIMIT_NOFILE soft limit minus a reserve of file descriptors.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Events that may wait for one connection; a full queue closes it with 1008 "slow consumer".
    #[arg(long, value_name = "FRAMES", default_value_t = Limits::default().outbound_queue_frames)]
    queue_frames: usize,
    /// Bytes of events that may wait for one connection; more closes it with 1008 "slow consumer".
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().outbound_queue_bytes)]
    queue_bytes: usize,
    /// Longest request_id (JSON text) a subscribe_instance may carry; longer gets a 400 error reply.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_request_id_bytes)]
    max_request_id_bytes: usize,
    /// Most bytes of subscriptions (request_ids and bookkeeping) one connection may hold; more gets a 429.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_subscription_bytes_per_connection)]
    max_subscription_bytes: usize,
    /// Also accept requests whose Origin header is ORIGIN, such as https://app.example:8443
    /// (repeatable); `*` accepts every origin. Without it: no Origin, or a loopback one.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Also accept requests whose Host header names NAME (repeatable); `*` accepts every
    /// name. Without it: IP addresses, localhost and *.localhost.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// Require `Authorization: Bearer TOKEN` on the admin API (/healthz stays open).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DCRF_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Milliseconds a client has to send a complete request head; an idle keep-alive
    /// connection is closed after as long.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_HEAD_TIMEOUT.as_millis() as u64)]
    head_timeout_ms: u64,
}

#[derive(Debug, Args)]
struct AdminArgs {
    /// Base URL of the server's HTTP side.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Send `Authorization: Bearer TOKEN` (the server's --admin-token).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DCRF_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(subcommand)]
    action: AdminAction,
}

#[derive(Debug, Subcommand)]
enum AdminAction {
    /// Create a user (POST /admin/users).
    Create {
        /// Unique user name.
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Password (write-only; never printed back).
        #[arg(long)]
        password: Option<String>,
    },
    /// Change a user's username and/or email (PATCH /admin/users/PK); subscribers get an update event.
    Update {
        /// Primary key.
        pk: i64,
        /// New user name.
        #[arg(long)]
        username: Option<String>,
        /// New e-mail address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Delete a user (DELETE /admin/users/PK); subscribers get a delete event.
    Delete {
        /// Primary key.
        pk: i64,
    },
    /// Print a user (GET /admin/users/PK).
    Get {
        /// Primary key.
        pk: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Admin(args)) => admin(args).await,
            Some(Command::Serve(args)) => run_server(args).await,
            None => run_server(cli.serve).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, `a: b: c`, skipping a cause that only repeats the
/// end of the text before it (the `redis` crate's errors print their source themselves).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

async fn run_server(args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let limits = limits(&args);
    let mut config = Config {
        profile: args.profile,
        data_file: args.data,
        faults: args.faults.into_iter().collect(),
        limits,
        access: Access {
            allowed_origins: args.allow_origins,
            allowed_hosts: args.allow_hosts,
            admin_token: args.admin_token.filter(|token| !token.is_empty()),
        },
        head_timeout: std::time::Duration::from_millis(args.head_timeout_ms.max(1)),
        redis: args.redis.map(|url| RedisConfig {
            url,
            prefix: args.redis_prefix,
        }),
        ..Config::default()
    };
    if let Some(path) = &args.fixture {
        config.fixture = read_fixture(path)?;
    }
    let listener =
        listen(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let handle = serve(listener, config).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", handle.ws_url())?;
        stdout.flush()?;
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The limits the flags set; the others keep their defaults.
// Field by field, so that a limit added to `Limits` needs no change here.
#[allow(clippy::field_reassign_with_default)]
fn limits(args: &ServeArgs) -> Limits {
    let mut limits = Limits::default();
    limits.max_frame_bytes = args.max_frame_bytes;
    limits.max_subscriptions_per_connection = args.max_subscriptions;
    limits.max_connections = args.max_connections;
    limits.outbound_queue_frames = args.queue_frames;
    limits.outbound_queue_bytes = args.queue_bytes;
    limits.max_request_id_bytes = args.max_request_id_bytes;
    limits.max_subscription_bytes_per_connection = args.max_subscription_bytes;
    limits
}

/// Binds with a deep accept backlog: bursts of thousands of connects (the load tool's idle
/// scenario) overflow the default of 128 and cost clients a 1 s SYN retransmission.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = term.recv() => {}
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}

async fn admin(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let mut client = AdminClient::new(&args.url)?;
    if let Some(token) = args.token {
        client = client.with_token(token);
    }
    let result = match &args.action {
        AdminAction::Create {
            username,
            email,
            password,
        } => client
            .create(username, email, password.as_deref())
            .await
            .map(Some),
        AdminAction::Update {
            pk,
            username,
            email,
        } => client
            .update(*pk, username.as_deref(), email.as_deref())
            .await
            .map(Some),
        AdminAction::Delete { pk } => client.delete(*pk).await.map(|()| None),
        AdminAction::Get { pk } => client.get(*pk).await.map(Some),
    };
    match result {
        Ok(user) => {
            if let Some(user) = user {
                println!("{user}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(
            error @ Error::BadResponse {
                status: Some(_), ..
            },
        ) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.into()),
    }
}
