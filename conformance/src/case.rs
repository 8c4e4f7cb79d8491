//! What a case is (data: id, level, section, title) and the context its code runs in.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dcrf_protocol::{Action, Request};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::mutation::Mutator;
use crate::target::Target;
use crate::transport::Transport;
use crate::verdict::{Finding, Level};
use crate::wire::{Conn, Recorder, WireEvent};

/// What a case needs from the target beyond the observer endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// A mutation hook (`[mutation]` other than `kind = "none"`).
    Mutation,
    /// A CRUD endpoint (`full_url`).
    Full,
    /// A multiplexed endpoint (`multiplexed_url`).
    Multiplexed,
    /// Other processes of the same app (`nodes`), for SPEC 5.10.
    Nodes,
    /// A hook that inserts a row with a deleted instance's key again (`mutation.recreate`),
    /// for SPEC 5.6.3.
    Recreate,
}

impl Capability {
    /// Why a case needing this capability is skipped on a target without it.
    pub fn missing_reason(self) -> &'static str {
        match self {
            Capability::Mutation => {
                "needs a mutation hook to change instances out of band; the target has [mutation] kind = \"none\""
            }
            Capability::Full => "needs a CRUD endpoint; the target has no full_url",
            Capability::Multiplexed => {
                "needs a multiplexed endpoint (optional capability, SPEC 1.4); the target has no multiplexed_url"
            }
            Capability::Nodes => {
                "needs several processes of the app (SPEC 5.10); the target names one: list the others' observer URLs in `nodes`"
            }
            Capability::Recreate => {
                "needs a hook that inserts a row with a deleted instance's key again (SPEC 5.6.3): set mutation.recreate"
            }
        }
    }
}

/// The outcome of a step of a case: `Err` ends the case with that finding.
pub(crate) type Step<T> = Result<T, Finding>;

/// The code of a case.
pub(crate) type CaseFn = fn(Ctx) -> Pin<Box<dyn Future<Output = Step<Finding>> + Send>>;

/// One conformance case: data describing what it checks, and the code that checks it.
#[derive(Clone)]
pub struct Case {
    /// Stable id, `section.n` (`5.5.1`): the SPEC section it tests and a number.
    pub id: &'static str,
    /// Short kebab-case name.
    pub slug: &'static str,
    /// The requirement level of what it checks.
    pub level: Level,
    /// The SPEC section (`5.5`).
    pub section: &'static str,
    /// One-line description.
    pub title: &'static str,
    /// Capabilities it needs; without them it is skipped.
    pub needs: &'static [Capability],
    /// Whether every server behaving like DCRF 1.3.0 produces the same normalised transcript
    /// (the case is part of the snapshot set shared by the reference server and DCRF).
    pub portable: bool,
    pub(crate) run: CaseFn,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("level", &self.level)
            .field("section", &self.section)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// Whether `pattern` selects this case: an id prefix at a dot boundary (`5`, `5.5`,
    /// `5.5.1`) or the slug.
    pub fn matches(&self, pattern: &str) -> bool {
        let pattern = pattern.trim_end_matches('.');
        self.slug == pattern
            || self.id == pattern
            || self
                .id
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// An instance a case created and owns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Instance {
    pub(crate) pk: Value,
    /// The value its `change_field` has now.
    pub(crate) value: String,
    /// The value it was created with; every later value is `{base}-v{revision}`.
    base: String,
    revision: usize,
}

/// Everything a running case may use.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) target: Arc<Target>,
    pub(crate) mutator: Arc<Mutator>,
    pub(crate) transport: Arc<Transport>,
    pub(crate) recorder: Recorder,
    pub(crate) case_id: &'static str,
    pub(crate) nonce: Arc<str>,
    pub(crate) quiet: Duration,
    pub(crate) deadline: Instant,
    pub(crate) connect_timeout: Duration,
    pub(crate) created: Arc<AtomicUsize>,
}

impl Instance {
    /// The value of the changed field the instance now has (what an event or a retrieve
    /// shows after the last change).
    pub(crate) fn state(&self) -> &str {
        &self.value
    }

    /// The value it was created with (unique per run and case).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }
}

impl Ctx {
    /// The case's deadline: every wait ends by then.
    pub(crate) fn until(&self) -> Instant {
        self.deadline
    }

    /// How long "nothing more arrives" is watched for.
    pub(crate) fn quiet(&self) -> Duration {
        self.quiet
    }

    /// How long a check waits for something that should arrive when not receiving it is a
    /// verdict (a SHOULD graded NON-STRICT, say): the case deadline, less one quiet window
    /// left for the checks that follow. Never a quiet window: a verdict must not depend on
    /// the server's latency.
    pub(crate) fn arrival_deadline(&self) -> Instant {
        self.deadline
            .checked_sub(self.quiet)
            .filter(|until| *until > Instant::now())
            .unwrap_or(self.deadline)
    }

    /// The lookup argument's key.
    pub(crate) fn lookup(&self) -> &str {
        &self.target.lookup_field
    }

    /// The writable text field the cases change (`change_field`).
    pub(crate) fn change_field(&self) -> &str {
        &self.target.change_field
    }

    /// `data` that sets the changed field to `value`: `{change_field: value}` (a `patch`).
    pub(crate) fn change_data(&self, value: &str) -> Value {
        serde_json::json!({ self.change_field(): value })
    }

    /// The fields of a new instance whose changed field is `value` (the target's
    /// `create_body`): `data` of a `create` or a full `update`.
    pub(crate) fn create_data(&self, value: &str) -> Value {
        self.target.create_data(value)
    }

    /// A request for `action` with `request_id` on the instance `pk`.
    pub(crate) fn request(&self, action: Action, request_id: &Value, pk: &Value) -> Request {
        Request::new(action)
            .with_request_id(request_id.clone())
            .with_arg(self.lookup(), pk.clone())
    }

    async fn open_url(&self, name: &str, url: &str, stream: Option<String>) -> Step<Conn> {
        let timeout = self
            .connect_timeout
            .min(self.deadline.saturating_duration_since(Instant::now()));
        Conn::connect(
            name,
            url,
            self.recorder.clone(),
            self.lookup(),
            stream,
            timeout,
            &self.transport,
        )
        .await
        .map_err(|error| Finding::fail(format!("cannot open connection {name} to {url}: {error}")))
    }

    /// Opens a connection to the observer endpoint.
    pub(crate) async fn open(&self, name: &str) -> Step<Conn> {
        let url = self.target.url.clone();
        self.open_url(name, &url, None).await
    }

    /// The observer URLs of every node of the app: `url`, then each of `nodes` (SPEC 5.10).
    pub(crate) fn node_urls(&self) -> Vec<String> {
        std::iter::once(self.target.url.clone())
            .chain(self.target.nodes.iter().cloned())
            .collect()
    }

    /// Opens a connection to the observer endpoint of one node (an entry of
    /// [`Ctx::node_urls`]).
    pub(crate) async fn open_node(&self, name: &str, url: &str) -> Step<Conn> {
        self.open_url(name, url, None).await
    }

    /// Opens a connection to the CRUD endpoint.
    pub(crate) async fn open_full(&self, name: &str) -> Step<Conn> {
        let url = self
            .target
            .full_url
            .clone()
            .ok_or_else(|| Finding::skip(Capability::Full.missing_reason()))?;
        self.open_url(name, &url, None).await
    }

    /// Opens a connection to the multiplexed endpoint; requests are wrapped for `stream`.
    pub(crate) async fn open_multiplexed(&self, name: &str) -> Step<Conn> {
        let url = self
            .target
            .multiplexed_url
            .clone()
            .ok_or_else(|| Finding::skip(Capability::Multiplexed.missing_reason()))?;
        self.open_url(name, &url, Some(self.target.stream.clone()))
            .await
    }

    /// A fresh value of the changed field, unique per run and per case:
    /// `c<case id>-<n>-<run nonce>`.
    pub(crate) fn fresh_value(&self) -> String {
        let n = self.created.fetch_add(1, Ordering::Relaxed) + 1;
        format!("c{}-{n}-{}", self.case_id, self.nonce)
    }

    fn hook_failed(&self, error: crate::Error) -> Finding {
        let why = format!("{error}");
        let why = match std::error::Error::source(&error) {
            Some(source) => format!("{why}: {source}"),
            None => why,
        };
        self.recorder.harness_error(why.clone());
        Finding::error(format!("could not set up the case: {why}"))
    }

    async fn within_deadline<T>(
        &self,
        operation: &str,
        future: impl Future<Output = Result<T, crate::Error>>,
    ) -> Step<T> {
        match tokio::time::timeout_at(self.deadline, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.hook_failed(error)),
            Err(_) => {
                let why = format!(
                    "the mutation hook's {operation} did not finish before the case deadline"
                );
                self.recorder.harness_error(why.clone());
                Err(Finding::error(format!("could not set up the case: {why}")))
            }
        }
    }

    /// Creates an instance of this case through the mutation hook.
    pub(crate) async fn create(&self) -> Step<Instance> {
        if !self.mutator.available() {
            return Err(Finding::skip(Capability::Mutation.missing_reason()));
        }
        let value = self.fresh_value();
        let created = self
            .within_deadline("create", self.mutator.create(&value))
            .await?;
        self.recorder.created(created.pk.clone());
        self.recorder.log(
            "hook",
            WireEvent::Mutation {
                operation: "create".into(),
                pk: created.pk.clone(),
                fields: self.mutator.create_fields(&value),
            },
        );
        Ok(Instance {
            pk: created.pk,
            value: value.clone(),
            base: value,
            revision: 1,
        })
    }

    /// Sets `value` on `instance` through the mutation hook (an out-of-band change), logged
    /// as `logged` (the value itself, or a description of a large one). The instance's
    /// state is not updated: [`Ctx::change`] does that.
    pub(crate) async fn change_to(
        &self,
        instance: &Instance,
        value: &str,
        logged: &str,
    ) -> Step<()> {
        self.recorder.log(
            "hook",
            WireEvent::Mutation {
                operation: "update".into(),
                pk: instance.pk.clone(),
                fields: self.mutator.update_fields(&instance.pk, logged),
            },
        );
        self.within_deadline("update", self.mutator.update(&instance.pk, value))
            .await
    }

    /// Saves a new value of the changed field for `instance` through the mutation hook (an
    /// out-of-band change): `{base}-v{revision}`.
    pub(crate) async fn change(&self, instance: &mut Instance) -> Step<()> {
        let revision = instance.revision + 1;
        let value = format!("{}-v{revision}", instance.base);
        self.change_to(instance, &value, &value).await?;
        instance.value = value;
        instance.revision = revision;
        Ok(())
    }

    /// Saves `instance` through the mutation hook with the value it already has: a save
    /// that changes nothing (SPEC 5.7.6).
    pub(crate) async fn save_unchanged(&self, instance: &Instance) -> Step<()> {
        self.change_to(instance, &instance.value, &instance.value)
            .await
    }

    /// Inserts a row with the key of the deleted `instance` again, through the mutation
    /// hook, its changed field set to `{base}-r`; returns that value.
    pub(crate) async fn recreate(&self, instance: &Instance) -> Step<String> {
        let value = format!("{}-r", instance.base);
        self.recorder.log(
            "hook",
            WireEvent::Mutation {
                operation: "recreate".into(),
                pk: instance.pk.clone(),
                fields: self.mutator.recreate_fields(&instance.pk, &value),
            },
        );
        self.within_deadline("recreate", self.mutator.recreate(&instance.pk, &value))
            .await?;
        Ok(value)
    }

    /// Deletes `instance` through the mutation hook.
    pub(crate) async fn delete(&self, instance: &Instance) -> Step<()> {
        self.recorder.log(
            "hook",
            WireEvent::Mutation {
                operation: "delete".into(),
                pk: instance.pk.clone(),
                fields: Value::Null,
            },
        );
        self.within_deadline("delete", self.mutator.delete(&instance.pk))
            .await
    }
}
