//! `dcrf-reference-server`: run the reference server, or call its admin API.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::Path;
use std::sync::Arc;

use dcrf_model::{ModelOptions, ModelSchema};
use dcrf_reference_server::{
    Access, AdminClient, Config, DEFAULT_HEAD_TIMEOUT, Endpoints, Error, Fault, Limits, Profile,
    RedisConfig, SchemaModel, ServeOptions, read_fixture, serve,
};
use serde_json::Value;

/// A reference server of the DCRF (djangochannelsrestframework 1.3.0) WebSocket protocol.
///
/// It serves the seed's User model on one port: WebSockets at /ws/ (retrieve,
/// subscribe_instance, unsubscribe_instance, update and delete events), /ws/full/ (plus
/// list, create, update, patch, delete) and /ws/multiplexed/ (channelsmultiplexer envelope,
/// stream "users"); HTTP GET /healthz and the admin API (/admin/users, /admin/steps) for
/// out-of-band changes.
/// With --model it serves your own model from its serializer's schema instead (admin API
/// /admin/instances), on the paths of --observer-path, --crud-path and --multiplexed-path:
///
///   dcrf-reference-server --model openapi.json --component Product --unique name \
///       --default in_stock=true --fixture products.json --observer-path /api/live/products/
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
    Serve(Box<ServeArgs>),
    /// Change instances through a running server's admin API (users work against the Django
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
    #[command(flatten)]
    model: ModelArgs,
    /// Path of the observer consumer (retrieve, subscribe_instance, unsubscribe_instance).
    #[arg(long, value_name = "PATH", default_value = "/ws/")]
    observer_path: String,
    /// Path of the CRUD consumer (also list, create, update, patch, delete).
    #[arg(long, value_name = "PATH", default_value = "/ws/full/")]
    crud_path: String,
    /// Path of the multiplexed CRUD consumer (channelsmultiplexer's envelope).
    #[arg(long, value_name = "PATH", default_value = "/ws/multiplexed/")]
    multiplexed_path: String,
    /// Stream name of the multiplexed consumer.
    #[arg(long, value_name = "NAME", default_value = "users")]
    stream: String,
    /// The request key naming the instance (DCRF's lookup_field): pk, or the pk field's name.
    #[arg(long, value_name = "FIELD", default_value = "pk")]
    lookup_field: String,
}

/// A user's own model instead of the seed's User (served from memory: not with --redis
/// or --data). What the schema cannot say is given with the flags below.
#[derive(Debug, Args)]
struct ModelArgs {
    /// Serve the model of this serializer schema: a drf-spectacular OpenAPI document (with
    /// --component) or a JSON Schema of one serializer. --fixture is then a JSON array of
    /// its instances. Example: --model openapi.json --component Product
    #[arg(long, value_name = "FILE", conflicts_with_all = ["redis", "data"])]
    model: Option<PathBuf>,
    /// The schema's component (OpenAPI `components.schemas.NAME`).
    #[arg(long, value_name = "NAME", requires = "model")]
    component: Option<String>,
    /// The pk field (default `id`).
    #[arg(long, value_name = "FIELD", requires = "model")]
    pk_field: Option<String>,
    /// Fields with a unique constraint (comma-separated): a duplicate gets DRF's
    /// "product with this name already exists.".
    #[arg(long, value_name = "FIELDS", value_delimiter = ',', requires = "model")]
    unique: Vec<String>,
    /// Text fields that accept "" (Django's blank=True); the others answer "This field
    /// may not be blank.".
    #[arg(long, value_name = "FIELDS", value_delimiter = ',', requires = "model")]
    allow_blank: Vec<String>,
    /// The model default of a field absent on create, as JSON (repeatable):
    /// --default in_stock=true --default 'category="beans"'.
    #[arg(long = "default", value_name = "FIELD=JSON", requires = "model")]
    defaults: Vec<String>,
    /// The field `list` sorts by (Meta.ordering; `-name` descending). Default: the pk.
    #[arg(long, value_name = "FIELD", requires = "model")]
    ordering: Option<String>,
    /// Read-only date-time fields set on create only (auto_now_add); the others are set
    /// on every save (auto_now).
    #[arg(long, value_name = "FIELDS", value_delimiter = ',', requires = "model")]
    auto_now_add: Vec<String>,
}

#[derive(Debug, Args)]
struct AdminArgs {
    /// Base URL of the server's HTTP side.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8000")]
    url: String,
    /// The admin collection: `users` (the seed's User, and the Django interop server's),
    /// or `instances` (any model; the only one of a server started with --model).
    #[arg(long, value_name = "NAME", default_value = "users")]
    collection: String,
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
    /// Create an instance (POST /admin/COLLECTION): a user from --username and --email,
    /// or any model's fields from --data.
    Create {
        /// Unique user name.
        #[arg(long, required_unless_present = "data", conflicts_with = "data")]
        username: Option<String>,
        /// E-mail address.
        #[arg(long, required_unless_present = "data", conflicts_with = "data")]
        email: Option<String>,
        /// Password (write-only; never printed back).
        #[arg(long, conflicts_with = "data")]
        password: Option<String>,
        /// The body, a JSON object of the model's writable fields.
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
    },
    /// Change an instance (PATCH /admin/COLLECTION/PK): a user's --username and/or
    /// --email, or any model's fields from --data; subscribers get an update event.
    Update {
        /// Primary key (an integer, a UUID, a slug).
        pk: String,
        /// New user name.
        #[arg(long, conflicts_with = "data")]
        username: Option<String>,
        /// New e-mail address.
        #[arg(long, conflicts_with = "data")]
        email: Option<String>,
        /// The body, a JSON object of the fields to change (`{}` still saves).
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
    },
    /// Delete an instance (DELETE /admin/COLLECTION/PK); subscribers get a delete event.
    Delete {
        /// Primary key.
        pk: String,
    },
    /// Print an instance (GET /admin/COLLECTION/PK).
    Get {
        /// Primary key.
        pk: String,
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
            Some(Command::Serve(args)) => run_server(*args).await,
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    config.endpoints = Endpoints {
        observer: args.observer_path,
        crud: args.crud_path,
        multiplexed: args.multiplexed_path,
        stream: args.stream,
        lookup_field: args.lookup_field,
    };
    if args.model.model.is_some() {
        config.model = Some(Arc::new(schema_model(
            &args.model,
            args.fixture.as_deref(),
        )?));
    } else if let Some(path) = &args.fixture {
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

/// The model of `--model`, its options and its fixture; every error names the file and
/// the field.
fn schema_model(args: &ModelArgs, fixture: Option<&Path>) -> anyhow::Result<SchemaModel> {
    let path = args.model.as_deref().context("--model is required")?;
    let read = |path: &Path| -> anyhow::Result<Value> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
    };
    let document = read(path)?;
    let mut options = ModelOptions::new()
        .unique(args.unique.iter().cloned())
        .allow_blank(args.allow_blank.iter().cloned());
    if let Some(pk) = &args.pk_field {
        options = options.pk(pk.clone());
    }
    let schema = match &args.component {
        Some(component) => ModelSchema::from_openapi_with(&document, component, &options),
        None => ModelSchema::from_json_schema_with(&document, &options),
    }
    .with_context(|| format!("cannot serve the model of {}", path.display()))?;
    let mut defaults = serde_json::Map::new();
    for given in &args.defaults {
        let (field, json) = given
            .split_once('=')
            .with_context(|| format!("--default {given}: expected FIELD=JSON"))?;
        let value: Value = serde_json::from_str(json)
            .with_context(|| format!("--default {given}: the value is not JSON"))?;
        defaults.insert(field.to_owned(), value);
    }
    let serve_options = ServeOptions {
        defaults,
        ordering: args.ordering.clone(),
        auto_now_add: args.auto_now_add.clone(),
    };
    let model = SchemaModel::new(schema, serve_options)?;
    let Some(fixture) = fixture else {
        return Ok(model);
    };
    let instances = match read(fixture)? {
        Value::Array(instances) => instances,
        _ => anyhow::bail!("{} must be a JSON array of instances", fixture.display()),
    };
    model
        .with_fixture(&instances)
        .with_context(|| format!("the fixture {} does not fit the model", fixture.display()))
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
    let mut client = AdminClient::new(&args.url)?.with_collection(args.collection);
    if let Some(token) = args.token {
        client = client.with_token(token);
    }
    let body = |data: &str| -> anyhow::Result<Value> {
        match serde_json::from_str(data) {
            Ok(body @ Value::Object(_)) => Ok(body),
            _ => anyhow::bail!("--data must be a JSON object, such as '{{\"name\": \"x\"}}'"),
        }
    };
    let result = match &args.action {
        AdminAction::Create {
            data: Some(data), ..
        } => client.create_instance(&body(data)?).await.map(Some),
        AdminAction::Create {
            username,
            email,
            password,
            data: None,
        } => client
            .create(
                username.as_deref().unwrap_or_default(),
                email.as_deref().unwrap_or_default(),
                password.as_deref(),
            )
            .await
            .map(Some),
        AdminAction::Update {
            pk,
            data: Some(data),
            ..
        } => client.patch_instance(pk, &body(data)?).await.map(Some),
        AdminAction::Update {
            pk,
            username,
            email,
            data: None,
        } => client
            .update(pk, username.as_deref(), email.as_deref())
            .await
            .map(Some),
        AdminAction::Delete { pk } => client.delete(pk).await.map(|()| None),
        AdminAction::Get { pk } => client.get(pk).await.map(Some),
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
