//! Runs cases concurrently against a target, each with its own connections, instances and
//! deadline, under a global deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use dcrf_protocol::{Action, Request};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Error;
use crate::case::{Case, Ctx};
use crate::data_schema::DataSchema;
use crate::mutation::Mutator;
use crate::target::Target;
use crate::transport::{Transport, explain_connect_error};
use crate::verdict::{CaseResult, Finding, Level, Verdict};
use crate::wire::{Conn, Limits, Recorder};

/// How a run is made.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// How long the harness watches for frames where the SPEC says nothing more may arrive.
    pub quiet: Duration,
    /// Deadline of one case, from its start.
    pub case_deadline: Duration,
    /// Deadline of the whole run; cases still running then fail.
    pub global_deadline: Duration,
    /// How many cases run at once.
    pub concurrency: usize,
    /// Time allowed for a WebSocket handshake.
    pub connect_timeout: Duration,
    /// Case ids, id prefixes (`5`, `5.5`) or slugs to run; empty runs every case.
    pub filter: Vec<String>,
    /// Run only the portable cases (those in the shared snapshot set).
    pub portable_only: bool,
    /// What the harness keeps from the server at most (message size, inbox, wire log).
    pub limits: Limits,
    /// The app's instance schema (`--data-schema`): the `data` of every instance-carrying
    /// reply and event must validate against it.
    pub data_schema: Option<Arc<DataSchema>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            quiet: Duration::from_millis(250),
            case_deadline: Duration::from_secs(5),
            global_deadline: Duration::from_secs(120),
            concurrency: 8,
            connect_timeout: Duration::from_secs(3),
            filter: Vec::new(),
            portable_only: false,
            limits: Limits::default(),
            data_schema: None,
        }
    }
}

impl RunOptions {
    /// The cases these options select, in SPEC order.
    pub fn select(&self) -> Vec<Case> {
        crate::cases::all()
            .into_iter()
            .filter(|case| {
                self.filter.is_empty() || self.filter.iter().any(|pattern| case.matches(pattern))
            })
            .filter(|case| !self.portable_only || case.portable)
            .collect()
    }
}

/// Counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Cases run or skipped.
    pub total: usize,
    /// PASS.
    pub pass: usize,
    /// NON-STRICT.
    pub non_strict: usize,
    /// FAIL (each is a broken MUST).
    pub fail: usize,
    /// ERROR: cases the harness could not set up.
    pub error: usize,
    /// SKIPPED.
    pub skipped: usize,
    /// INFO.
    pub informational: usize,
    /// Failed MUST checks, whatever the level of the case holding them: each makes the
    /// server non-conforming.
    pub must_failures: usize,
    /// Cases the harness could not judge (verdict ERROR: a mutation hook failed or timed
    /// out, or the run ended before the case ran).
    pub harness_errors: usize,
}

/// The results of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The observer endpoint.
    pub target: String,
    /// Random token in the values this run gave its instances (redacted in transcripts).
    pub run_nonce: String,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// Verdict counts.
    pub summary: Summary,
    /// One result per selected case, in SPEC order.
    pub cases: Vec<CaseResult>,
}

impl RunReport {
    /// The result of case `id`.
    pub fn case(&self, id: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|case| case.id == id)
    }

    /// The CLI's exit code: 1 when a MUST check failed (whatever else happened: a proven
    /// failure outranks cases that could not be judged), otherwise 2 when a case could not be
    /// judged (verdict ERROR), otherwise 0. [`conforms`] is true exactly when this is 0.
    pub fn exit_code(&self) -> i32 {
        if self.summary.must_failures > 0 {
            1
        } else if self.summary.harness_errors > 0 {
            2
        } else {
            0
        }
    }
}

fn summarise(cases: &[CaseResult]) -> Summary {
    let mut summary = Summary {
        total: cases.len(),
        ..Summary::default()
    };
    for case in cases {
        match case.verdict {
            Verdict::Pass => summary.pass += 1,
            Verdict::NonStrict => summary.non_strict += 1,
            Verdict::Fail => summary.fail += 1,
            Verdict::Error => summary.error += 1,
            Verdict::Skipped { .. } => summary.skipped += 1,
            Verdict::Informational => summary.informational += 1,
        }
        if case.is_must_failure() {
            summary.must_failures += 1;
        }
        if case.is_error() {
            summary.harness_errors += 1;
        }
    }
    summary
}

/// A random token for the values this run gives its instances.
pub(crate) fn nonce() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:08x}", hasher.finish() as u32)
}

/// What the preflight found wrong, as an [`Error::Refused`].
fn refused(url: &str, reason: String) -> Error {
    Error::Refused {
        url: url.to_owned(),
        reason,
    }
}

/// Before any case: every configured WebSocket endpoint must accept a handshake, and the
/// observer must not refuse a `retrieve` of `existing_pk` with 403 (permissions) or 404 (a
/// wrong `existing_pk`). A failure ends the run with one line that says what to check,
/// instead of a list of failed cases. Any other answer, or none, is left to the cases.
async fn preflight(
    target: &Target,
    transport: &Transport,
    options: &RunOptions,
    recorder: &Recorder,
) -> Result<(), Error> {
    let mut observer = None;
    for (key, url) in target.ws_urls() {
        let conn = Conn::connect(
            "preflight",
            url,
            recorder.child(),
            &target.lookup_field,
            None,
            options.connect_timeout,
            transport,
        )
        .await
        .map_err(|error| {
            let key = if key == "nodes" { "node" } else { key };
            refused(
                url,
                format!(
                    "{key}: {}",
                    explain_connect_error(error.as_ref(), transport)
                ),
            )
        })?;
        if observer.is_none() {
            observer = Some(conn);
        } else {
            conn.close().await;
        }
    }
    let Some(mut conn) = observer else {
        return Ok(());
    };
    let request_id = Value::from("dcrf-conformance-preflight");
    let until = Instant::now() + options.connect_timeout.min(options.case_deadline);
    let request = Request::new(Action::Retrieve)
        .with_request_id(request_id.clone())
        .with_arg(target.lookup_field.clone(), target.existing_pk.clone());
    if conn.send(request, until).await.is_err() {
        return Ok(());
    }
    let reply = conn.expect_reply(&request_id, until).await;
    conn.close().await;
    let Ok(reply) = reply else {
        return Ok(());
    };
    let pk = &target.existing_pk;
    match reply.status() {
        Some(403) => Err(refused(
            &target.url,
            format!(
                "the handshake succeeded but retrieve of existing_pk {pk} answered 403 {}: the consumer's permission classes refuse this client: check the credentials ([headers]: Authorization, Cookie; or a token in the URL)",
                reply.errors()
            ),
        )),
        Some(404) => Err(refused(
            &target.url,
            format!(
                "retrieve of existing_pk {pk} answered 404 {}: no such instance: check existing_pk (and lookup_field {:?}, pk_kind {:?})",
                reply.errors(),
                target.lookup_field,
                target.pk_kind().as_str()
            ),
        )),
        _ => Ok(()),
    }
}

fn skeleton(case: &Case) -> CaseResult {
    CaseResult {
        id: case.id.to_owned(),
        slug: case.slug.to_owned(),
        level: case.level,
        check_level: case.level,
        section: case.section.to_owned(),
        title: case.title.to_owned(),
        verdict: Verdict::Pass,
        message: String::new(),
        duration_ms: 0,
        wire: Vec::new(),
        schema_violations: Vec::new(),
        created_pks: Vec::new(),
        harness_error: None,
    }
}

/// Turns a finding and a recorder into a result; a schema violation fails the case (a MUST
/// of SPEC 4.1 and 2.2), and a failed or timed-out mutation hook makes it an ERROR unless a
/// MUST already failed.
fn conclude(case: &Case, finding: Finding, recorder: &Recorder, started: Instant) -> CaseResult {
    let snapshot = recorder.snapshot();
    let mut result = skeleton(case);
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let finding = match &snapshot.harness_error {
        Some(why) if finding.verdict.severity() < Verdict::Error.severity() => {
            Finding::error(format!("could not set up the case: {why}")).worst(finding)
        }
        _ => finding,
    };
    result.check_level = finding.level.unwrap_or(case.level);
    result.verdict = finding.verdict;
    result.message = finding.message;
    if let Some(first) = snapshot.violations.first() {
        let violation = format!(
            "schema violation on connection {}: {} in {}",
            first.conn, first.message, first.text
        );
        result.message = if result.verdict == Verdict::Fail {
            format!("{violation}; and {}", result.message)
        } else {
            violation
        };
        result.verdict = Verdict::Fail;
        result.check_level = Level::Must;
    }
    if let Some(limit) = snapshot.limits_reached.first() {
        result.message = format!("{limit}; {}", result.message);
        result.verdict = Verdict::Fail;
    }
    result.wire = snapshot.entries;
    result.schema_violations = snapshot.violations;
    result.created_pks = snapshot.created;
    result.harness_error = snapshot.harness_error;
    result
}

/// When a case task got its turn (None while it waits for a slot).
type StartedAt = Arc<std::sync::Mutex<Option<Instant>>>;

/// Runs the selected cases against `target`. `progress` is called as each case finishes
/// with the result, the number finished and the number selected.
///
/// Returns an error only when the run cannot be made (bad target, unreachable endpoint).
pub async fn run(
    target: &Target,
    options: &RunOptions,
    mut progress: impl FnMut(&CaseResult, usize, usize),
) -> Result<RunReport, Error> {
    let started = Instant::now();
    target.validate()?;
    let transport = Arc::new(Transport::from_target(target)?);
    let mutator = Arc::new(Mutator::from_target(target, &transport)?);
    let global = started + options.global_deadline;
    let root = Recorder::with_limits(options.limits).with_data_schema(options.data_schema.clone());
    tokio::time::timeout_at(global, preflight(target, &transport, options, &root))
        .await
        .map_err(|_| {
            refused(
                &target.url,
                format!(
                    "the endpoints did not all accept a connection within the global deadline of {} ms: check that the server is up",
                    options.global_deadline.as_millis()
                ),
            )
        })??;
    let cases = options.select();
    let total = cases.len();
    let target_arc = Arc::new(target.clone());
    let nonce: Arc<str> = nonce().into();
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut recorders: HashMap<usize, (Recorder, StartedAt)> = HashMap::new();

    for (index, case) in cases.iter().enumerate() {
        let recorder = root.child();
        let began: StartedAt = Arc::default();
        recorders.insert(index, (recorder.clone(), began.clone()));
        let case = case.clone();
        let semaphore = semaphore.clone();
        let target = target_arc.clone();
        let mutator = mutator.clone();
        let transport = transport.clone();
        let nonce = nonce.clone();
        let options = options.clone();
        tasks.spawn(async move {
            let Ok(_permit) = semaphore.acquire_owned().await else {
                return (
                    index,
                    conclude(
                        &case,
                        Finding::error("runner stopped before the case could run"),
                        &recorder,
                        Instant::now(),
                    ),
                );
            };
            let case_started = Instant::now();
            if let Ok(mut began) = began.lock() {
                *began = Some(case_started);
            }
            if let Some(missing) = case.needs.iter().find(|need| match need {
                crate::case::Capability::Mutation => !mutator.available(),
                crate::case::Capability::Full => target.full_url.is_none(),
                crate::case::Capability::Multiplexed => target.multiplexed_url.is_none(),
                crate::case::Capability::Nodes => target.nodes.is_empty(),
                crate::case::Capability::Recreate => !mutator.can_recreate(),
            }) {
                let finding = Finding::skip(missing.missing_reason());
                return (index, conclude(&case, finding, &recorder, case_started));
            }
            let deadline = (case_started + options.case_deadline).min(global);
            let ctx = Ctx {
                target,
                mutator,
                transport,
                recorder: recorder.clone(),
                case_id: case.id,
                nonce,
                quiet: options.quiet,
                deadline,
                connect_timeout: options.connect_timeout,
                created: Arc::new(AtomicUsize::new(0)),
            };
            // Every wait inside a case ends at `deadline`; the margin only guards against a
            // wait that forgot to.
            let grace = Duration::from_millis(250);
            let finding = match tokio::time::timeout_at(deadline + grace, (case.run)(ctx)).await {
                Ok(Ok(finding)) | Ok(Err(finding)) => finding,
                Err(_) => Finding::fail(format!(
                    "case deadline of {} ms exceeded",
                    options.case_deadline.as_millis()
                )),
            };
            (index, conclude(&case, finding, &recorder, case_started))
        });
    }

    let mut results: Vec<Option<CaseResult>> = vec![None; total];
    let mut finished = 0;
    loop {
        match tokio::time::timeout_at(global, tasks.join_next()).await {
            Ok(None) => break,
            Ok(Some(Ok((index, result)))) => {
                finished += 1;
                progress(&result, finished, total);
                results[index] = Some(result);
            }
            Ok(Some(Err(join_error))) => {
                // A case task panicked: the harness must survive; the case is reported below.
                let _ = join_error;
            }
            Err(_) => {
                tasks.abort_all();
                break;
            }
        }
    }

    let mut cases_out = Vec::with_capacity(total);
    for (index, slot) in results.into_iter().enumerate() {
        let result = match slot {
            Some(result) => result,
            None => {
                let case = &cases[index];
                let (recorder, began) = &recorders[&index];
                let began = began.lock().ok().and_then(|began| *began);
                let finding = match began {
                    Some(_) if Instant::now() >= global => Finding::fail(format!(
                        "global deadline of {} ms exceeded while the case ran",
                        options.global_deadline.as_millis()
                    )),
                    Some(_) => Finding::error("the case stopped unexpectedly (harness bug)"),
                    None => Finding::error(format!(
                        "not run: global deadline of {} ms exceeded",
                        options.global_deadline.as_millis()
                    )),
                };
                let result = conclude(case, finding, recorder, began.unwrap_or_else(Instant::now));
                finished += 1;
                progress(&result, finished, total);
                result
            }
        };
        cases_out.push(result);
    }

    Ok(RunReport {
        target: target.url.clone(),
        run_nonce: nonce.to_string(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        summary: summarise(&cases_out),
        cases: cases_out,
    })
}

/// Whether `report` shows a conforming server: no MUST check failed (in a case of any level)
/// and every case could be judged (no ERROR). True exactly when
/// [`RunReport::exit_code`] is 0.
pub fn conforms(report: &RunReport) -> bool {
    report
        .cases
        .iter()
        .all(|case| !case.is_must_failure() && !case.is_error())
}
