//! `dcrf-conformance`: run the conformance suite, list its cases, or fuzz an endpoint.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dcrf_conformance::embedded::{EmbeddedServer, ServerConfig};
use dcrf_conformance::fuzz::{FuzzOptions, fuzz};
use dcrf_conformance::report::{self, Style};
use dcrf_conformance::target::{HttpMutation, ShellMutation, WebSocketMutation};
use dcrf_conformance::wire::Limits;
use dcrf_conformance::{MutationConfig, PkKind, RunOptions, Target, run};
use serde_json::Value;

/// Conformance harness for servers of the DCRF WebSocket protocol (djangochannelsrestframework).
///
/// Each case checks one statement of the SPEC and is named after its section (case 5.5.1
/// tests section 5.5). Verdicts: PASS, NON-STRICT (a SHOULD not met), FAIL (a MUST broken,
/// in a case of any level), ERROR (the harness could not set up the case: the mutation hook
/// failed), SKIPPED (the target lacks a capability), INFO. A server conforms when no MUST
/// check fails and every case could be judged.
///
/// Exit codes: 0 conforms; 1 a MUST check failed (even if some cases were ERROR: a proven
/// failure outranks an unknown); 2 the run could not be made (bad config, a refused
/// handshake or preflight retrieve: one line says what to check) or a case could not be
/// judged (ERROR).
///
/// Examples:
///
///   dcrf-conformance run                        # against the built-in reference server
///
///   dcrf-conformance run --url ws://127.0.0.1:8000/ws/ --full-url ws://127.0.0.1:8000/ws/full/
///
///   dcrf-conformance run --config conformance/examples/django-target.toml --junit report.xml
///
///   SHOP_TOKEN=... dcrf-conformance run --config interop/shop/conformance.toml
///
///   dcrf-conformance run --case 5.5 --case 2.3.1 --format json
///
///   dcrf-conformance list
///
///   dcrf-conformance fuzz --url ws://127.0.0.1:8000/ws/ --cases 200
#[derive(Debug, Parser)]
#[command(name = "dcrf-conformance", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the cases against a server (by default the in-process reference server).
    ///
    /// Without --url and --config, the reference server is started in this process on a
    /// free port and the suite runs against it. Every key of the target config is also a
    /// flag; a flag wins over the file.
    Run(RunArgs),
    /// Print every case (id, level, SPEC section, slug, title) without connecting.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Property-test an endpoint: random sequences of connect, subscribe, unsubscribe,
    /// retrieve, out-of-band update/delete/create, checked against a reference model;
    /// a failure is shrunk to a minimal sequence and printed as a transcript.
    Fuzz(FuzzArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Text for people: one line per case, failures with their wire log.
    Human,
    /// JSON: every case with id, level, verdict, message, duration_ms and wire log.
    Json,
}

#[derive(Debug, Args)]
struct TargetArgs {
    /// WebSocket URL of the observer endpoint (retrieve, subscribe_instance, unsubscribe_instance).
    #[arg(long, value_name = "WS_URL")]
    url: Option<String>,
    /// Target config (TOML); see conformance/examples/django-target.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// WebSocket URL of a CRUD endpoint (list/create/update/patch/delete, SPEC 6).
    #[arg(long, value_name = "WS_URL")]
    full_url: Option<String>,
    /// WebSocket URL of a channelsmultiplexer endpoint (SPEC 8).
    #[arg(long, value_name = "WS_URL")]
    multiplexed_url: Option<String>,
    /// Stream name of the observed consumer on the multiplexer.
    #[arg(long)]
    stream: Option<String>,
    /// Observer URL of another process of the same app (repeatable; SPEC 5.10). The 5.10
    /// cases subscribe on every node and change through the hook; without this they skip.
    #[arg(long = "node", value_name = "WS_URL")]
    nodes: Vec<String>,
    /// Lookup value of an instance that exists and is never changed (JSON or text).
    #[arg(long, value_name = "PK")]
    existing_pk: Option<String>,
    /// Lookup value that names no instance (JSON or text).
    #[arg(long, value_name = "PK")]
    missing_pk: Option<String>,
    /// Key of the lookup argument (default pk).
    #[arg(long)]
    lookup_field: Option<String>,
    /// Kind of the lookup values: integer, uuid or string (default: from --existing-pk).
    #[arg(long, value_name = "KIND", value_parser = ["integer", "uuid", "string"])]
    pk_kind: Option<String>,
    /// The writable text field the cases change (default username, the lab User).
    #[arg(long, value_name = "FIELD")]
    change_field: Option<String>,
    /// JSON template of a new instance's fields ({value} where the change field goes), e.g.
    /// '{"name": "{value}", "price": "9.99"}'.
    #[arg(long, value_name = "JSON")]
    create_body: Option<String>,
    /// Extra handshake header "Name: value" (repeatable; adds to the config's [headers]).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Origin header of every handshake (Channels' AllowedHostsOriginValidator needs one).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// Subprotocol offered in Sec-WebSocket-Protocol (repeatable).
    #[arg(long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,
    /// PEM file of the certificates to trust for wss:// and https:// (a private CA) instead
    /// of the platform's roots.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Accept any server certificate (a self-signed development certificate). Never against
    /// a server you do not control.
    #[arg(long)]
    insecure: bool,
    /// A field every serialized instance carries (repeat; replaces the config's list).
    #[arg(long = "expected-field", value_name = "FIELD")]
    expected_fields: Vec<String>,
    /// A write-only field that must never be sent (repeat; replaces the config's list).
    #[arg(long = "write-only-field", value_name = "FIELD")]
    write_only_fields: Vec<String>,
    /// How instances are changed out of band: http (admin API), websocket (DCRF's own
    /// create/patch/delete), shell (command templates) or none (those cases are SKIPPED).
    #[arg(long, value_name = "KIND", value_parser = ["http", "websocket", "shell", "none"])]
    mutation_kind: Option<String>,
    /// http: base URL of the admin API; websocket: the CRUD endpoint to use.
    #[arg(long, value_name = "URL")]
    mutation_url: Option<String>,
    /// Create template: "POST /admin/users" (http) or a command printing JSON or the pk (shell).
    #[arg(long, value_name = "TEMPLATE")]
    mutation_create: Option<String>,
    /// Update template: "PATCH /admin/users/{pk}" (http) or a command (shell); {pk}, {field}, {value}.
    #[arg(long, value_name = "TEMPLATE")]
    mutation_update: Option<String>,
    /// Delete template: "DELETE /admin/users/{pk}" (http) or a command (shell).
    #[arg(long, value_name = "TEMPLATE")]
    mutation_delete: Option<String>,
    /// http: JSON pointer to the created pk in the create answer, e.g. /product/id.
    #[arg(long, value_name = "POINTER")]
    mutation_pk_pointer: Option<String>,
    /// http: extra header "Name: value" of every hook request (repeatable).
    #[arg(long = "mutation-header", value_name = "NAME: VALUE")]
    mutation_headers: Vec<String>,
    /// Recreate template (SPEC 5.6.3): inserts a row with a deleted instance's key {pk}
    /// again, e.g. "POST /admin/steps" (http) or a command (shell).
    #[arg(long, value_name = "TEMPLATE")]
    mutation_recreate: Option<String>,
    /// http: body of the recreate request, a JSON template over {pk}, {field}, {value}.
    #[arg(long, value_name = "TEMPLATE")]
    mutation_recreate_body: Option<String>,
}

/// Splits a "Name: value" flag.
fn header_flag(flag: &str, text: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = text
        .split_once(':')
        .with_context(|| format!("{flag} {text:?}: expected \"Name: value\""))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run only these cases: an id (5.5.1), an id prefix (5, 5.5) or a slug. Repeatable.
    #[arg(long = "case", value_name = "ID-PREFIX", num_args = 1..)]
    cases: Vec<String>,
    /// How long to watch where the SPEC says nothing more may arrive.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    quiet_ms: u64,
    /// Deadline of one case.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    case_timeout_ms: u64,
    /// Deadline of the whole run.
    #[arg(long, value_name = "MS", default_value_t = 120_000)]
    global_timeout_ms: u64,
    /// Cases run at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    concurrency: usize,
    /// Longest WebSocket message (and frame) the harness reads from the server; a longer one
    /// fails the case and the harness closes with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20,
          value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    max_message_bytes: u64,
    /// JSON Schema of the app's serialized instance (e.g. `2020-12/product.json` from
    /// `dcrf-schema`): the `data` of every reply and event carrying an instance must match it,
    /// or the case fails with the field's path.
    #[arg(long, value_name = "FILE")]
    data_schema: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct FuzzArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Random sequences to try.
    #[arg(long, value_name = "N", default_value_t = 64)]
    cases: u32,
    /// Longest sequence.
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_transitions: usize,
    /// Quiet window at the end of each sequence.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    quiet_ms: u64,
}

fn parse_pk(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

impl TargetArgs {
    /// Whether the user named a server (otherwise the embedded one is used).
    fn names_a_server(&self) -> bool {
        self.url.is_some() || self.config.is_some()
    }

    /// The target and, when no server is named, the reference server started in process for
    /// it (keep it alive for the run, then shut it down).
    async fn target(&self) -> anyhow::Result<(Target, Option<EmbeddedServer>)> {
        let embedded = if self.names_a_server() {
            None
        } else {
            let server = EmbeddedServer::start(ServerConfig::strict()).await?;
            eprintln!(
                "dcrf-conformance: started the reference server at {}",
                server.ws_url()
            );
            Some(server)
        };
        let target = self.resolve(embedded.as_ref().map(EmbeddedServer::target))?;
        Ok((target, embedded))
    }

    /// The target: the config file (or `base`), then the flags on top.
    fn resolve(&self, base: Option<Target>) -> anyhow::Result<Target> {
        let mut target = match (&self.config, base) {
            (Some(path), _) => Target::from_file(path)?,
            (None, Some(base)) => base,
            (None, None) => Target::default(),
        };
        if let Some(url) = &self.url {
            target.url = url.clone();
        }
        if let Some(url) = &self.full_url {
            target.full_url = Some(url.clone());
        }
        if let Some(url) = &self.multiplexed_url {
            target.multiplexed_url = Some(url.clone());
        }
        if let Some(stream) = &self.stream {
            target.stream = stream.clone();
        }
        if !self.nodes.is_empty() {
            target.nodes = self.nodes.clone();
        }
        if let Some(pk) = &self.existing_pk {
            target.existing_pk = parse_pk(pk);
        }
        if let Some(pk) = &self.missing_pk {
            target.missing_pk = parse_pk(pk);
        }
        if let Some(field) = &self.lookup_field {
            target.lookup_field = field.clone();
        }
        if let Some(kind) = &self.pk_kind {
            target.pk_kind = Some(match kind.as_str() {
                "integer" => PkKind::Integer,
                "uuid" => PkKind::Uuid,
                _ => PkKind::String,
            });
        }
        if let Some(field) = &self.change_field {
            target.change_field = field.clone();
        }
        if let Some(body) = &self.create_body {
            target.create_body = body.clone();
        }
        for header in &self.headers {
            let (name, value) = header_flag("--header", header)?;
            target.headers.insert(name, value);
        }
        if let Some(origin) = &self.origin {
            target.origin = Some(origin.clone());
        }
        if !self.subprotocols.is_empty() {
            target.subprotocols = self.subprotocols.clone();
        }
        if let Some(path) = &self.ca_file {
            target.ca_file = Some(path.clone());
        }
        if self.insecure {
            target.insecure = true;
        }
        if !self.expected_fields.is_empty() {
            target.expected_fields = self.expected_fields.clone();
        }
        if !self.write_only_fields.is_empty() {
            target.write_only_fields = self.write_only_fields.clone();
        }
        if let Some(kind) = &self.mutation_kind
            && kind != target.mutation.kind()
        {
            target.mutation = match kind.as_str() {
                "http" => MutationConfig::Http(HttpMutation::default()),
                "websocket" => MutationConfig::Websocket(WebSocketMutation::default()),
                "shell" => MutationConfig::Shell(ShellMutation::default()),
                _ => MutationConfig::None,
            };
        }
        match &mut target.mutation {
            MutationConfig::Http(http) => {
                if let Some(url) = &self.mutation_url {
                    http.base_url = Some(url.clone());
                }
                set(&mut http.create, &self.mutation_create);
                set(&mut http.update, &self.mutation_update);
                set(&mut http.delete, &self.mutation_delete);
                if let Some(pointer) = &self.mutation_pk_pointer {
                    http.pk_pointer = Some(pointer.clone());
                }
                for header in &self.mutation_headers {
                    let (name, value) = header_flag("--mutation-header", header)?;
                    http.headers.insert(name, value);
                }
                if let Some(recreate) = &self.mutation_recreate {
                    http.recreate = Some(recreate.clone());
                }
                if let Some(body) = &self.mutation_recreate_body {
                    http.recreate_body = Some(body.clone());
                }
            }
            MutationConfig::Websocket(ws) => {
                if let Some(url) = &self.mutation_url {
                    ws.url = Some(url.clone());
                }
            }
            MutationConfig::Shell(shell) => {
                set(&mut shell.create, &self.mutation_create);
                set(&mut shell.update, &self.mutation_update);
                set(&mut shell.delete, &self.mutation_delete);
                if let Some(recreate) = &self.mutation_recreate {
                    shell.recreate = Some(recreate.clone());
                }
            }
            MutationConfig::None => {}
        }
        target.validate()?;
        Ok(target)
    }
}

fn set(slot: &mut String, value: &Option<String>) {
    if let Some(value) = value {
        slot.clone_from(value);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dcrf-conformance: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::List { format } => {
            list(format);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run_command(args),
        Command::Fuzz(args) => fuzz_command(args),
    }
}

fn list(format: Format) {
    let cases = dcrf_conformance::cases::all();
    match format {
        Format::Human => {
            println!(
                "{:<7} {:<6} {:<7} {:<46} TITLE",
                "ID", "LEVEL", "SECTION", "SLUG"
            );
            for case in &cases {
                let needs: Vec<String> = case
                    .needs
                    .iter()
                    .map(|need| format!("{need:?}").to_lowercase())
                    .collect();
                let needs = if needs.is_empty() {
                    String::new()
                } else {
                    format!(" [needs {}]", needs.join(", "))
                };
                println!(
                    "{:<7} {:<6} {:<7} {:<46} {}{needs}",
                    case.id,
                    case.level.as_str(),
                    case.section,
                    case.slug,
                    case.title
                );
            }
            println!("\n{} cases", cases.len());
        }
        Format::Json => {
            let listed: Vec<Value> = cases
                .iter()
                .map(|case| {
                    serde_json::json!({
                        "id": case.id,
                        "slug": case.slug,
                        "level": case.level,
                        "section": case.section,
                        "title": case.title,
                        "needs": case.needs,
                        "portable": case.portable,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&listed).unwrap_or_default()
            );
        }
    }
}

fn run_command(args: RunArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let data_schema = match &args.data_schema {
        Some(path) => Some(std::sync::Arc::new(
            dcrf_conformance::data_schema::DataSchema::from_file(path)?,
        )),
        None => None,
    };
    let options = RunOptions {
        data_schema,
        quiet: Duration::from_millis(args.quiet_ms),
        case_deadline: Duration::from_millis(args.case_timeout_ms),
        global_deadline: Duration::from_millis(args.global_timeout_ms),
        concurrency: args.concurrency.max(1),
        filter: args.cases.clone(),
        limits: Limits {
            max_message_bytes: usize::try_from(args.max_message_bytes).unwrap_or(usize::MAX),
            ..Limits::default()
        },
        ..RunOptions::default()
    };
    if options.select().is_empty() {
        anyhow::bail!(
            "no case matches {:?}; see `dcrf-conformance list`",
            args.cases
        );
    }
    let outcome = runtime.block_on(async {
        let (target, embedded) = args.target.target().await?;
        let progress_on = std::io::stderr().is_terminal() && args.format == Format::Human;
        let report = run(&target, &options, |result, done, total| {
            if progress_on {
                eprint!(
                    "\r\x1b[2K[{done}/{total}] {} {}",
                    result.id,
                    result.verdict.label()
                );
            }
        })
        .await?;
        if progress_on {
            eprint!("\r\x1b[2K");
        }
        if let Some(server) = embedded {
            server.shutdown().await;
        }
        match args.format {
            Format::Human => print!(
                "{}",
                report::human(&report, Style::detect(std::io::stdout().is_terminal()))
            ),
            Format::Json => println!("{}", report::json(&report)),
        }
        if let Some(path) = &args.junit {
            std::fs::write(path, report::junit(&report)).map_err(|source| {
                dcrf_conformance::Error::WriteReport {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        Ok(ExitCode::from(
            u8::try_from(report.exit_code()).unwrap_or(2),
        ))
    });
    // The report is out: connections a hostile server still holds open are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    outcome
}

fn fuzz_command(args: FuzzArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let (target, embedded) = runtime.block_on(args.target.target())?;
    let options = FuzzOptions {
        cases: args.cases,
        max_transitions: args.max_transitions,
        quiet: Duration::from_millis(args.quiet_ms),
        ..FuzzOptions::default()
    };
    eprintln!(
        "dcrf-conformance: fuzzing {} with {} sequences of up to {} transitions",
        target.url, options.cases, options.max_transitions
    );
    let outcome = fuzz(&target, &options)?;
    if let Some(server) = embedded {
        runtime.block_on(server.shutdown());
    }
    match outcome.failure {
        None => {
            println!(
                "{} sequences passed: every reply and event matched the model",
                outcome.cases
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(failure) => {
            println!("FAIL: {failure}");
            Ok(ExitCode::from(1))
        }
    }
}
