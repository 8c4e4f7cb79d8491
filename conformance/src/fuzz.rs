//! Property tests of a live endpoint: random sequences of socket, subscription and
//! out-of-band operations, checked against a reference model (proptest-state-machine).
//!
//! The model ([`Model`]) knows which sockets are open, which (socket, request_id)
//! subscriptions exist for which instance, and each instance's revision. After every
//! transition the harness checks the server against it:
//!
//! - every reply has the status the model predicts (`retrieve` 200 with the current state or
//!   404, `subscribe_instance` 201 or 404, `unsubscribe_instance` 204 or 404);
//! - every change delivers exactly one event to each subscription of the instance, with the
//!   subscribing request_id, and nothing to anyone else; nothing after an unsubscribe, a
//!   delete or a disconnect. Counts are strict; event data is judged leniently (any state at
//!   or after the change, SPEC 5.8), since a server may re-read the instance at delivery.
//!
//! A failing sequence is shrunk to a minimal one, printed with its wire transcript and the
//! seed that generated it: the same seed generates the same sequences
//! ([`FuzzOptions::seed`]).
//!
//! After each change the harness sends every open socket a `retrieve` and waits for its reply
//! (a barrier), then checks that no frame the model does not allow has arrived; at the end of a
//! sequence it watches the quiet window. A server that queues a change's events before it
//! answers a later request is judged without depending on timing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dcrf_protocol::{Action, Request};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use proptest_state_machine::ReferenceStateMachine;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Error;
use crate::mutation::Mutator;
use crate::target::Target;
use crate::transport::Transport;
use crate::wire::{Conn, Recorder, WireEvent};

/// Sockets the model may open.
pub const SOCKETS: usize = 3;
/// Instance slots: the first [`INITIAL_INSTANCES`] exist from the start, `Create` fills the rest.
pub const INSTANCES: usize = 4;
/// Instances created before the first transition.
pub const INITIAL_INSTANCES: usize = 2;
/// Subscription request_ids per instance (so the same id is subscribed twice at times).
pub const SUBSCRIPTION_IDS: u8 = 2;

/// The model's view of one instance slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Not created yet: its lookups use the target's `missing_pk`.
    NotCreated,
    /// Exists, at this revision (1 at creation, +1 per change).
    Live {
        /// The revision.
        revision: u32,
    },
    /// Deleted.
    Deleted,
}

/// The reference model of a live endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Which sockets are open.
    pub open: [bool; SOCKETS],
    /// Live subscriptions: (socket, instance, subscription id).
    pub subscriptions: BTreeSet<(usize, usize, u8)>,
    /// Instance slots.
    pub instances: [InstanceState; INSTANCES],
}

impl Default for Model {
    fn default() -> Self {
        let mut instances = [InstanceState::NotCreated; INSTANCES];
        for slot in instances.iter_mut().take(INITIAL_INSTANCES) {
            *slot = InstanceState::Live { revision: 1 };
        }
        Model {
            open: [false; SOCKETS],
            subscriptions: BTreeSet::new(),
            instances,
        }
    }
}

impl Model {
    fn live(&self, instance: usize) -> bool {
        matches!(self.instances[instance], InstanceState::Live { .. })
    }

    /// The subscriptions (socket, id) to `instance`.
    pub fn subscribers(&self, instance: usize) -> Vec<(usize, u8)> {
        self.subscriptions
            .iter()
            .filter(|(_, i, _)| *i == instance)
            .map(|(socket, _, id)| (*socket, *id))
            .collect()
    }
}

/// One step of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Open socket `s`.
    Connect(usize),
    /// Close socket `s`.
    Disconnect(usize),
    /// `retrieve` of an instance on a socket.
    Retrieve {
        /// Socket.
        socket: usize,
        /// Instance slot.
        instance: usize,
    },
    /// `subscribe_instance` with subscription id `id` of the instance.
    Subscribe {
        /// Socket.
        socket: usize,
        /// Instance slot.
        instance: usize,
        /// Which of the instance's subscription request_ids.
        id: u8,
    },
    /// `unsubscribe_instance` naming one subscription request_id of the instance (which may
    /// hold no subscription), or none: SPEC 5.4.2, 5.4.3.
    Unsubscribe {
        /// Socket.
        socket: usize,
        /// Instance slot.
        instance: usize,
        /// Which of the instance's subscription request_ids, or none to cancel them all.
        id: Option<u8>,
    },
    /// Out-of-band change of an instance.
    Update(usize),
    /// Out-of-band delete of an instance.
    Delete(usize),
    /// Out-of-band create of the next instance slot.
    Create,
}

/// The proptest-state-machine reference of [`Model`].
#[derive(Debug)]
pub struct EndpointModel;

impl ReferenceStateMachine for EndpointModel {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let open: Vec<usize> = (0..SOCKETS).filter(|s| state.open[*s]).collect();
        let closed: Vec<usize> = (0..SOCKETS).filter(|s| !state.open[*s]).collect();
        let live: Vec<usize> = (0..INSTANCES).filter(|i| state.live(*i)).collect();
        let mut options: Vec<(u32, BoxedStrategy<Transition>)> = Vec::new();
        if !closed.is_empty() {
            options.push((3, select(closed).prop_map(Transition::Connect).boxed()));
        }
        if !open.is_empty() {
            options.push((
                1,
                select(open.clone())
                    .prop_map(Transition::Disconnect)
                    .boxed(),
            ));
            options.push((
                2,
                (select(open.clone()), 0..INSTANCES)
                    .prop_map(|(socket, instance)| Transition::Retrieve { socket, instance })
                    .boxed(),
            ));
            options.push((
                6,
                (select(open.clone()), 0..INSTANCES, 0..SUBSCRIPTION_IDS)
                    .prop_map(|(socket, instance, id)| Transition::Subscribe {
                        socket,
                        instance,
                        id,
                    })
                    .boxed(),
            ));
            options.push((
                2,
                (
                    select(open),
                    0..INSTANCES,
                    proptest::option::of(0..SUBSCRIPTION_IDS),
                )
                    .prop_map(|(socket, instance, id)| Transition::Unsubscribe {
                        socket,
                        instance,
                        id,
                    })
                    .boxed(),
            ));
        }
        if !live.is_empty() {
            options.push((5, select(live.clone()).prop_map(Transition::Update).boxed()));
            options.push((1, select(live).prop_map(Transition::Delete).boxed()));
        }
        if state.instances.contains(&InstanceState::NotCreated) {
            options.push((1, Just(Transition::Create).boxed()));
        }
        proptest::strategy::Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &Model, transition: &Transition) -> bool {
        match *transition {
            Transition::Connect(s) => !state.open[s],
            Transition::Disconnect(s) => state.open[s],
            Transition::Retrieve { socket, .. }
            | Transition::Subscribe { socket, .. }
            | Transition::Unsubscribe { socket, .. } => state.open[socket],
            Transition::Update(i) | Transition::Delete(i) => state.live(i),
            Transition::Create => state.instances.contains(&InstanceState::NotCreated),
        }
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        match *transition {
            Transition::Connect(s) => state.open[s] = true,
            Transition::Disconnect(s) => {
                state.open[s] = false;
                state.subscriptions.retain(|(socket, _, _)| *socket != s);
            }
            Transition::Retrieve { .. } => {}
            Transition::Subscribe {
                socket,
                instance,
                id,
            } => {
                if state.live(instance) {
                    state.subscriptions.insert((socket, instance, id));
                }
            }
            Transition::Unsubscribe {
                socket,
                instance,
                id,
            } => {
                if state.live(instance) {
                    state.subscriptions.retain(|(s, i, sub)| {
                        !(*s == socket && *i == instance && id.is_none_or(|id| id == *sub))
                    });
                }
            }
            Transition::Update(i) => {
                if let InstanceState::Live { revision } = state.instances[i] {
                    state.instances[i] = InstanceState::Live {
                        revision: revision + 1,
                    };
                }
            }
            Transition::Delete(i) => {
                state.instances[i] = InstanceState::Deleted;
                state
                    .subscriptions
                    .retain(|(_, instance, _)| *instance != i);
            }
            Transition::Create => {
                if let Some(slot) = state
                    .instances
                    .iter_mut()
                    .find(|slot| **slot == InstanceState::NotCreated)
                {
                    *slot = InstanceState::Live { revision: 1 };
                }
            }
        }
        state
    }
}

/// How a fuzz run is made.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzOptions {
    /// Random sequences to try.
    pub cases: u32,
    /// Longest sequence.
    pub max_transitions: usize,
    /// Quiet window at the end of each sequence (strict event counts).
    pub quiet: Duration,
    /// Deadline of each wait for a reply or an event.
    pub wait: Duration,
    /// Upper bound on shrinking steps.
    pub max_shrink_iters: u32,
    /// Seed of the sequence generator: the same seed generates the same sequences (and the
    /// same shrinking steps). None picks one at random; the outcome reports it either way.
    pub seed: Option<u64>,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        FuzzOptions {
            cases: 32,
            max_transitions: 20,
            quiet: Duration::from_millis(100),
            wait: Duration::from_secs(3),
            max_shrink_iters: 512,
            seed: None,
        }
    }
}

/// A minimal failing sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzFailure {
    /// What went wrong.
    pub message: String,
    /// The shrunk sequence.
    pub transitions: Vec<Transition>,
    /// Its wire transcript (from a replay of the shrunk sequence).
    pub transcript: String,
    /// The seed of the run that found it.
    pub seed: u64,
}

impl std::fmt::Display for FuzzFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.message)?;
        writeln!(
            f,
            "minimal sequence ({} transitions, seed {}):",
            self.transitions.len(),
            self.seed
        )?;
        for (n, transition) in self.transitions.iter().enumerate() {
            writeln!(f, "  {}. {transition:?}", n + 1)?;
        }
        writeln!(f, "transcript:")?;
        f.write_str(&self.transcript)
    }
}

/// The result of a fuzz run.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzOutcome {
    /// Sequences tried.
    pub cases: u32,
    /// The seed of the sequence generator (pass it as [`FuzzOptions::seed`] to replay).
    pub seed: u64,
    /// The minimal failing sequence, if any failed.
    pub failure: Option<FuzzFailure>,
}

/// Runs random sequences against `target` and shrinks the first failure. Blocking: it
/// drives its own single-threaded runtime per sequence, so call it outside any runtime (or
/// from `spawn_blocking`); the server may run on another runtime.
pub fn fuzz(target: &Target, options: &FuzzOptions) -> Result<FuzzOutcome, Error> {
    target.validate()?;
    let transport = Transport::from_target(target)?;
    let mutator = Mutator::from_target(target, &transport)?;
    if !mutator.available() {
        return Err(Error::InvalidTarget(
            "fuzz needs a mutation hook; the target has [mutation] kind = \"none\"".into(),
        ));
    }
    let shared = Arc::new(Shared {
        target: target.clone(),
        mutator,
        transport,
        options: options.clone(),
        sequence: AtomicUsize::new(0),
        nonce: crate::runner::nonce(),
    });
    let seed = options.seed.unwrap_or_else(random_seed);
    let config = Config {
        cases: options.cases,
        max_shrink_iters: options.max_shrink_iters,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = EndpointModel::sequential_strategy(1..=options.max_transitions.max(1));
    let run_shared = shared.clone();
    let result = runner.run(&strategy, move |(initial, transitions, seen)| {
        let outcome = run_sequence(&run_shared, &initial, &transitions, seen.as_deref());
        outcome
            .map(drop)
            .map_err(|failure| TestCaseError::fail(failure.0))
    });
    match result {
        Ok(()) => Ok(FuzzOutcome {
            cases: options.cases,
            seed,
            failure: None,
        }),
        Err(TestError::Fail(reason, (initial, transitions, _))) => {
            let (message, transcript) = match run_sequence(&shared, &initial, &transitions, None) {
                Err(SequenceFailure(message, transcript)) => (message, transcript),
                Ok(transcript) => (
                    format!(
                        "{reason} (the replay of the shrunk sequence passed: timing-dependent)"
                    ),
                    transcript,
                ),
            };
            Ok(FuzzOutcome {
                cases: options.cases,
                seed,
                failure: Some(FuzzFailure {
                    message,
                    transitions,
                    transcript,
                    seed,
                }),
            })
        }
        Err(TestError::Abort(reason)) => {
            Err(Error::InvalidTarget(format!("fuzz aborted: {reason}")))
        }
    }
}

/// A seed for a run that was given none.
fn random_seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

struct Shared {
    target: Target,
    mutator: Mutator,
    transport: Transport,
    options: FuzzOptions,
    sequence: AtomicUsize,
    nonce: String,
}

/// A failure message and the transcript of the sequence.
struct SequenceFailure(String, String);

/// Runs one sequence on a fresh runtime; Ok carries the transcript.
fn run_sequence(
    shared: &Shared,
    initial: &Model,
    transitions: &[Transition],
    seen: Option<&AtomicUsize>,
) -> Result<String, SequenceFailure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            SequenceFailure(format!("cannot build a runtime: {error}"), String::new())
        })?;
    let recorder = Recorder::new();
    let sequence = shared.sequence.fetch_add(1, Ordering::Relaxed);
    let mut sut = Sut {
        shared,
        recorder: recorder.clone(),
        sockets: (0..SOCKETS).map(|_| None).collect(),
        pks: vec![None; INSTANCES],
        prefix: format!("fz-{}-{sequence}", shared.nonce),
        fresh: 5000,
    };
    let result = runtime.block_on(async {
        sut.init(initial).await?;
        let mut model = initial.clone();
        for transition in transitions {
            if let Some(seen) = seen {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            recorder.log(
                "fuzz",
                WireEvent::Note {
                    text: format!("{transition:?}"),
                },
            );
            let before = model.clone();
            model = EndpointModel::apply(model, transition);
            sut.apply(&before, &model, transition).await?;
        }
        sut.finish().await
    });
    for conn in sut.sockets.drain(..).flatten() {
        runtime.block_on(conn.close());
    }
    let transcript: String = recorder
        .snapshot()
        .entries
        .iter()
        .map(|entry| format!("{}\n", crate::report::wire_line(entry)))
        .collect();
    result
        .map(|()| transcript.clone())
        .map_err(|message| SequenceFailure(message, transcript))
}

/// The system under test: real connections and instances.
struct Sut<'a> {
    shared: &'a Shared,
    recorder: Recorder,
    sockets: Vec<Option<Conn>>,
    pks: Vec<Option<Value>>,
    prefix: String,
    fresh: u64,
}

impl Sut<'_> {
    fn until(&self) -> Instant {
        Instant::now() + self.shared.options.wait
    }

    /// The value of the changed field of `instance` at `revision`.
    fn state(&self, instance: usize, revision: u32) -> String {
        format!("{}-{instance}-v{revision}", self.prefix)
    }

    /// The changed field (the target's `change_field`).
    fn field(&self) -> &str {
        &self.shared.target.change_field
    }

    /// The subscription request_id `id` of `instance` (unique to the instance).
    fn subscription_id(instance: usize, id: u8) -> Value {
        json!(100 + 10 * instance as u64 + u64::from(id))
    }

    fn lookup_value(&self, model: &Model, instance: usize) -> Value {
        match (model.instances[instance], &self.pks[instance]) {
            (InstanceState::NotCreated, _) | (_, None) => self.shared.target.missing_pk.clone(),
            (_, Some(pk)) => pk.clone(),
        }
    }

    async fn create(&mut self, instance: usize) -> Result<(), String> {
        let value = self.state(instance, 1);
        let created = self
            .shared
            .mutator
            .create(&value)
            .await
            .map_err(|error| format!("mutation hook: {error}"))?;
        self.recorder.log(
            "hook",
            WireEvent::Mutation {
                operation: "create".into(),
                pk: created.pk.clone(),
                fields: json!({ self.field(): value }),
            },
        );
        self.pks[instance] = Some(created.pk);
        Ok(())
    }

    async fn init(&mut self, initial: &Model) -> Result<(), String> {
        for instance in 0..INSTANCES {
            if initial.live(instance) {
                self.create(instance).await?;
            }
        }
        Ok(())
    }

    fn conn(&mut self, socket: usize) -> Result<&mut Conn, String> {
        self.sockets[socket]
            .as_mut()
            .ok_or_else(|| format!("socket s{socket} is not open (harness bug)"))
    }

    fn request(&self, action: Action, request_id: Option<Value>, pk: Value) -> Request {
        let mut request =
            Request::new(action).with_arg(self.shared.target.lookup_field.clone(), pk);
        request.request_id = request_id.map(Into::into);
        request
    }

    /// Sends a request on `socket` and checks the reply's status; returns the reply's data.
    async fn call(
        &mut self,
        socket: usize,
        request: Request,
        status: u64,
    ) -> Result<Value, String> {
        let request_id = request
            .request_id
            .clone()
            .map(|id| id.into_value())
            .unwrap_or(Value::Null);
        let action = request.action.to_string();
        let until = self.until();
        let conn = self.conn(socket)?;
        conn.send(request, until).await.map_err(|f| f.message)?;
        let reply = conn
            .expect_reply(&request_id, until)
            .await
            .map_err(|f| f.message)?;
        if reply.status() != Some(status) || reply.action() != &json!(action) {
            return Err(format!(
                "s{socket}: {action} with request_id {request_id}: the model expects status {status}, got {}",
                reply.raw
            ));
        }
        Ok(reply.data().clone())
    }

    async fn apply(
        &mut self,
        before: &Model,
        after: &Model,
        transition: &Transition,
    ) -> Result<(), String> {
        match *transition {
            Transition::Connect(s) => {
                let url = self.shared.target.url.clone();
                let conn = Conn::connect(
                    &format!("s{s}"),
                    &url,
                    self.recorder.clone(),
                    &self.shared.target.lookup_field,
                    None,
                    self.shared.options.wait,
                    &self.shared.transport,
                )
                .await
                .map_err(|error| format!("cannot connect s{s}: {error}"))?;
                self.sockets[s] = Some(conn);
            }
            Transition::Disconnect(s) => {
                if let Some(conn) = self.sockets[s].take() {
                    conn.close().await;
                }
            }
            Transition::Retrieve { socket, instance } => {
                self.fresh += 1;
                let pk = self.lookup_value(before, instance);
                let request = self.request(Action::Retrieve, Some(json!(self.fresh)), pk);
                match before.instances[instance] {
                    InstanceState::Live { revision } => {
                        let data = self.call(socket, request, 200).await?;
                        let expected = self.state(instance, revision);
                        if data.get(self.field()) != Some(&json!(expected)) {
                            return Err(format!(
                                "s{socket}: retrieve of instance {instance} shows {data}, the model expects {} {expected:?}",
                                self.field()
                            ));
                        }
                    }
                    _ => {
                        self.call(socket, request, 404).await?;
                    }
                }
            }
            Transition::Subscribe {
                socket,
                instance,
                id,
            } => {
                let pk = self.lookup_value(before, instance);
                let request_id = Self::subscription_id(instance, id);
                let request = self.request(Action::SubscribeInstance, Some(request_id), pk);
                let status = if before.live(instance) { 201 } else { 404 };
                self.call(socket, request, status).await?;
            }
            Transition::Unsubscribe {
                socket,
                instance,
                id,
            } => {
                let pk = self.lookup_value(before, instance);
                let request_id = id.map(|id| Self::subscription_id(instance, id));
                let request = self.request(Action::UnsubscribeInstance, request_id, pk);
                let status = if before.live(instance) { 204 } else { 404 };
                self.call(socket, request, status).await?;
            }
            Transition::Update(instance) => {
                let InstanceState::Live { revision } = after.instances[instance] else {
                    return Err("update of an instance that is not live (harness bug)".into());
                };
                let value = self.state(instance, revision);
                let pk = self.lookup_value(before, instance);
                self.recorder.log(
                    "hook",
                    WireEvent::Mutation {
                        operation: "update".into(),
                        pk: pk.clone(),
                        fields: json!({ self.field(): value }),
                    },
                );
                self.shared
                    .mutator
                    .update(&pk, &value)
                    .await
                    .map_err(|error| format!("mutation hook: {error}"))?;
                for (socket, id) in before.subscribers(instance) {
                    let request_id = Self::subscription_id(instance, id);
                    let until = self.until();
                    let event = self
                        .conn(socket)?
                        .expect_event("update", &request_id, until)
                        .await
                        .map_err(|f| format!("s{socket}: {}", f.message))?;
                    // Any state at or after the change (SPEC 5.8): revision >= this one.
                    let shown = event
                        .data()
                        .get(self.field())
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let acceptable = (revision..=revision + 64)
                        .any(|later| shown == self.state(instance, later));
                    if event.status() != Some(200) || !acceptable {
                        return Err(format!(
                            "s{socket}: update event for subscription {request_id} should be 200 with revision >= {revision}: {}",
                            event.raw
                        ));
                    }
                }
            }
            Transition::Delete(instance) => {
                let pk = self.lookup_value(before, instance);
                self.recorder.log(
                    "hook",
                    WireEvent::Mutation {
                        operation: "delete".into(),
                        pk: pk.clone(),
                        fields: Value::Null,
                    },
                );
                self.shared
                    .mutator
                    .delete(&pk)
                    .await
                    .map_err(|error| format!("mutation hook: {error}"))?;
                for (socket, id) in before.subscribers(instance) {
                    let request_id = Self::subscription_id(instance, id);
                    let until = self.until();
                    let event = self
                        .conn(socket)?
                        .expect_event("delete", &request_id, until)
                        .await
                        .map_err(|f| format!("s{socket}: {}", f.message))?;
                    if event.status() != Some(204) || event.data() != &json!({"pk": pk}) {
                        return Err(format!(
                            "s{socket}: delete event for subscription {request_id} should be 204 {{\"pk\": {pk}}}: {}",
                            event.raw
                        ));
                    }
                }
            }
            Transition::Create => {
                let slot = (0..INSTANCES)
                    .find(|i| before.instances[*i] == InstanceState::NotCreated)
                    .ok_or("create without a free slot (harness bug)")?;
                self.create(slot).await?;
            }
        }
        if matches!(
            transition,
            Transition::Update(_) | Transition::Delete(_) | Transition::Create
        ) {
            self.barrier().await?;
        }
        self.check_no_strays(Duration::ZERO).await
    }

    /// Sends every open socket a `retrieve` and waits for its reply, so that what a server
    /// queued for the socket before it read the request has arrived (no time window).
    async fn barrier(&mut self) -> Result<(), String> {
        let existing = self.shared.target.existing_pk.clone();
        for socket in 0..SOCKETS {
            if self.sockets[socket].is_none() {
                continue;
            }
            self.fresh += 1;
            let request = self.request(Action::Retrieve, Some(json!(self.fresh)), existing.clone());
            self.call(socket, request, 200).await?;
        }
        Ok(())
    }

    /// Reads what has arrived (for `window`) and fails on any frame no expectation matched.
    async fn check_no_strays(&mut self, window: Duration) -> Result<(), String> {
        for (socket, conn) in self.sockets.iter_mut().enumerate() {
            let Some(conn) = conn else { continue };
            conn.settle(window).await;
            let stray = conn.stray_frames();
            if !stray.is_empty() {
                return Err(format!(
                    "s{socket} received frames the model does not allow (an extra event, or an event after unsubscribe/delete): {}",
                    stray.join(" | ")
                ));
            }
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), String> {
        let quiet = self.shared.options.quiet;
        self.check_no_strays(quiet).await
    }
}
