//! Several processes as one server (`--redis`, SPEC §5.10): the users live in Redis, every
//! applied change is published on a Redis channel, and every node fans the changes it
//! receives from that channel out to its own subscribers.
//!
//! # What lives where
//!
//! Under the key prefix `P` (`--redis-prefix`, default `dcrf`):
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `P:users` | hash | pk → the user as JSON (`{"id", "username", "email", "password"?}`) |
//! | `P:usernames` | hash | username → pk: the unique index of usernames |
//! | `P:last_pk` | string | the largest primary key handed out; `INCR` gives the next one |
//! | `P:version` | string | the number of changes applied so far; each change `INCR`s it |
//! | `P:changes` | channel | one message per change: `VERSION S {user}` or `VERSION D PK` |
//!
//! Each change is one Lua script (create, save, delete): it checks the change against the
//! shared data, applies it, bumps the version and publishes the message, atomically (Redis
//! runs one script at a time). A node decides a change against its local copy of the table
//! (the validators see a [`Table`], as in one process) and the script re-checks what the
//! decision depended on: the username is free in `P:usernames` (creates and renames), the
//! instance is still what the node saw (saves and deletes compare the stored JSON). When a
//! check fails the local copy was behind; the node waits until it has caught up and decides
//! again, so a username is unique across nodes without a lock held across round trips, and
//! a partial update never overwrites a concurrent change it did not see.
//!
//! # The local copy and the channel
//!
//! Every node keeps a copy of the table, changed only by the listener task, which applies
//! the channel's messages in version order and queues their events for the node's
//! subscribers (the node that made the change included: events are fanned out from the
//! channel only, so each subscriber gets one event per change). Before a read (retrieve,
//! list, subscribe) the node reads `P:version` and waits until its copy has applied that
//! version, so a change acknowledged by any node is visible to every node's next request.
//! A change is acknowledged once its own message has been applied locally: the events of
//! it are queued on this node before the reply, as in one process.
//!
//! # When Redis goes away
//!
//! The listener notices that the channel connection ended, logs it and reconnects with
//! backoff (100 ms doubling to 2 s). Meanwhile reads are answered from the local copy as it
//! was, and changes fail (an error reply with status 500, HTTP 500 on the admin API) within
//! [`REQUEST_TIMEOUT`]; nothing waits for Redis longer. Once the channel is subscribed
//! again, the node reloads the table from Redis and, for every instance that differs from
//! its copy, queues one event with the current state (`update`, or `delete` when it is gone)
//! for its subscribers. The individual events published while the node was disconnected are
//! lost for its subscribers; their net effect is delivered. A Redis that comes back empty
//! (no persistence) is seeded again by the first node that reconnects, from its copy.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use tokio::sync::watch;

use crate::model::{Instance, Pk};
use crate::server::{MutateError, Server};
use crate::store::{Applied, Mutation, Table};
use crate::{Error, UserRecord};

/// How long one request to Redis may take (connecting included) before the change it
/// serves fails, or the read it precedes is answered from the local copy.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The first pause before reconnecting the channel; it doubles up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// The longest pause between two reconnection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// How often a change is decided again after a conflict with another node's change.
const MAX_ATTEMPTS: usize = 20;
/// The path named in errors about data read from Redis.
const REDIS_PATH: &str = "<redis>";

/// Where the shared store is: a Redis URL and the prefix of every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://HOST:PORT` (or `redis://[USER:PASSWORD@]HOST:PORT[/DB]`, `rediss://`, and
    /// `redis+unix:///PATH`, as the `redis` crate reads them).
    pub url: String,
    /// Every key and the channel start with `PREFIX:`, so several servers can share one
    /// Redis. Default `dcrf`.
    pub prefix: String,
}

impl RedisConfig {
    /// The store at `url` with the default prefix `dcrf`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "dcrf".to_owned(),
        }
    }

    /// The URL without its password, for messages.
    fn display_url(&self) -> String {
        redact(&self.url)
    }
}

/// A URL with the user information (`user:password@`) replaced by `***@`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The state of a server's link to its shared store, for tests and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisState {
    /// Whether the change channel is subscribed now (the store itself may still fail).
    pub connected: bool,
    /// How often the node has reconnected to the channel and caught up since it started.
    pub reconnects: u64,
    /// The version (number of changes) the local copy has applied.
    pub version: u64,
}

/// The names of the keys under one prefix.
#[derive(Debug)]
struct Keys {
    users: String,
    usernames: String,
    last_pk: String,
    version: String,
    channel: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        Keys {
            users: format!("{prefix}:users"),
            usernames: format!("{prefix}:usernames"),
            last_pk: format!("{prefix}:last_pk"),
            version: format!("{prefix}:version"),
            channel: format!("{prefix}:changes"),
        }
    }
}

/// Creates a user if the username is free. KEYS: users, usernames, last_pk, version.
/// ARGV: channel, username, the user's JSON after its id (`,"username":...}`).
const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[4]) == 0 then return {'empty'} end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {'conflict'} end
local pk = string.format('%d', redis.call('INCR', KEYS[3]))
local record = '{"id":' .. pk .. ARGV[3]
redis.call('HSET', KEYS[1], pk, record)
redis.call('HSET', KEYS[2], ARGV[2], pk)
local version = string.format('%d', redis.call('INCR', KEYS[4]))
redis.call('PUBLISH', ARGV[1], version .. ' S ' .. record)
return {'ok', version, record}
"#;

/// Saves a user if it is still what the node saw and its new username is free. KEYS:
/// users, usernames, last_pk, version. ARGV: channel, pk, the JSON seen, the new JSON, the
/// username seen, the new username.
const SAVE: &str = r#"
if redis.call('EXISTS', KEYS[4]) == 0 then return {'empty'} end
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return {'conflict'} end
if ARGV[5] ~= ARGV[6] then
  local owner = redis.call('HGET', KEYS[2], ARGV[6])
  if owner and owner ~= ARGV[2] then return {'conflict'} end
  if redis.call('HGET', KEYS[2], ARGV[5]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[5]) end
  redis.call('HSET', KEYS[2], ARGV[6], ARGV[2])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
local version = string.format('%d', redis.call('INCR', KEYS[4]))
redis.call('PUBLISH', ARGV[1], version .. ' S ' .. ARGV[4])
return {'ok', version, ARGV[4]}
"#;

/// Deletes a user if it is still what the node saw. KEYS: users, usernames, last_pk,
/// version. ARGV: channel, pk, the JSON seen, the username seen.
const DELETE: &str = r#"
if redis.call('EXISTS', KEYS[4]) == 0 then return {'empty'} end
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return {'conflict'} end
redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('HGET', KEYS[2], ARGV[4]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[4]) end
local version = string.format('%d', redis.call('INCR', KEYS[4]))
redis.call('PUBLISH', ARGV[1], version .. ' D ' .. ARGV[2])
return {'ok', version}
"#;

/// Fills an empty store. KEYS: users, usernames, last_pk, version. ARGV: version, last_pk,
/// then (pk, username, JSON) for each user. Returns 1 when it seeded, 0 when the store
/// already had data (its version key).
const SEED: &str = r#"
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 3, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i])
end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[1])
return 1
"#;

/// The scripts, hashed once (the `redis` crate sends EVALSHA, then the source when a
/// restarted Redis does not know it).
struct Scripts {
    create: redis::Script,
    save: redis::Script,
    delete: redis::Script,
    seed: redis::Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            create: redis::Script::new(CREATE),
            save: redis::Script::new(SAVE),
            delete: redis::Script::new(DELETE),
            seed: redis::Script::new(SEED),
        }
    }
}

/// The user's JSON as stored and published: serde's, so the same user always has the same
/// text (the scripts compare it).
fn record_json(user: &UserRecord) -> String {
    serde_json::to_string(user).unwrap_or_default()
}

/// One message of the change channel.
#[derive(Debug)]
struct Change {
    version: u64,
    applied: Applied,
}

fn parse_change(payload: &str) -> Option<Change> {
    let (version, rest) = payload.split_once(' ')?;
    let version = version.parse().ok()?;
    let applied = match rest.split_at_checked(2)? {
        ("S ", json) => Applied::Saved(Instance::from_user(
            &serde_json::from_str::<UserRecord>(json).ok()?,
        )),
        ("D ", pk) => Applied::Deleted(Pk::Int(pk.parse().ok()?)),
        _ => return None,
    };
    Some(Change { version, applied })
}

/// What one script answered.
enum Outcome {
    /// Applied as this version.
    Applied(u64, Applied),
    /// The local copy was behind: decide again.
    Conflict,
    /// The store has no data (Redis came back empty and no node has seeded it yet).
    Empty,
}

/// The data of a store, read in one transaction.
struct Snapshot {
    /// `None` when the store is empty.
    version: Option<u64>,
    last_pk: i64,
    users: Vec<UserRecord>,
}

/// The shared store of one node: a reconnecting command connection, and the state of the
/// listener that follows the change channel.
pub(crate) struct SharedStore {
    config: RedisConfig,
    client: redis::Client,
    commands: ConnectionManager,
    keys: Keys,
    scripts: Scripts,
    /// The version the local copy has applied.
    applied: watch::Sender<u64>,
    /// The largest primary key this node has seen handed out.
    last_pk: AtomicI64,
    connected: AtomicBool,
    reconnects: AtomicU64,
    /// The channel subscription made at start, for the listener.
    first_subscription: Mutex<Option<PubSub>>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("url", &self.config.display_url())
            .field("prefix", &self.config.prefix)
            .field("state", &self.state())
            .finish()
    }
}

/// Runs one Redis request within [`REQUEST_TIMEOUT`].
async fn bounded<T>(
    what: &'static str,
    request: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(Error::Redis {
            what,
            source: Box::new(source),
        }),
        Err(_) => Err(Error::RedisTimeout { what }),
    }
}

impl SharedStore {
    /// Connects to the store, seeds it from `fixture` when it is empty, subscribes to the
    /// change channel and loads the table. Fails when Redis cannot be reached.
    pub(crate) async fn start(
        config: &RedisConfig,
        fixture: &[UserRecord],
    ) -> Result<(Arc<SharedStore>, Table), Error> {
        let unreachable = |source: redis::RedisError| Error::RedisConnect {
            url: config.display_url(),
            source: Box::new(source),
        };
        let timed_out = || Error::RedisConnect {
            url: config.display_url(),
            source: Box::new(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} ms", REQUEST_TIMEOUT.as_millis()),
            ))),
        };
        let client =
            redis::Client::open(config.url.as_str()).map_err(|source| Error::RedisUrl {
                url: config.display_url(),
                source: Box::new(source),
            })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REQUEST_TIMEOUT))
            .set_response_timeout(Some(REQUEST_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(RECONNECT_MAX);
        let commands = tokio::time::timeout(
            REQUEST_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), manager_config),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(unreachable)?;
        let pubsub = tokio::time::timeout(REQUEST_TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| timed_out())?
            .map_err(unreachable)?;
        let store = SharedStore {
            config: config.clone(),
            client,
            commands,
            keys: Keys::new(&config.prefix),
            scripts: Scripts::default(),
            applied: watch::Sender::new(0),
            last_pk: AtomicI64::new(0),
            connected: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
            first_subscription: Mutex::new(None),
        };
        let mut pubsub = pubsub;
        bounded("SUBSCRIBE", pubsub.subscribe(&store.keys.channel)).await?;
        let last_pk = fixture.iter().map(|u| u.id).max().unwrap_or(0).max(0);
        // Validates the fixture (unique pks and usernames) before it reaches Redis.
        Table::from_users(fixture.to_vec(), Path::new("<fixture>"))?;
        let seeded = store.seed(fixture, 0, last_pk).await?;
        let snapshot = store.snapshot().await?;
        let Some(version) = snapshot.version else {
            return Err(Error::RedisData {
                reason: "the store was emptied while the server started".into(),
            });
        };
        store.last_pk.store(snapshot.last_pk, Ordering::Relaxed);
        let table = Table::from_users(snapshot.users, Path::new(REDIS_PATH))?;
        store.applied.send_replace(version);
        tracing::info!(
            url = %config.display_url(),
            prefix = %config.prefix,
            version,
            seeded,
            "using the shared store"
        );
        *store
            .first_subscription
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pubsub);
        Ok((Arc::new(store), table))
    }

    /// The state of the link, for [`crate::ServerHandle::redis_state`].
    pub(crate) fn state(&self) -> RedisState {
        RedisState {
            connected: self.connected.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            version: *self.applied.borrow(),
        }
    }

    fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// Fills the store with `users` when it is empty. Returns whether it did.
    async fn seed(&self, users: &[UserRecord], version: u64, last_pk: i64) -> Result<bool, Error> {
        let mut invocation = self.scripts.seed.prepare_invoke();
        invocation
            .key(&self.keys.users)
            .key(&self.keys.usernames)
            .key(&self.keys.last_pk)
            .key(&self.keys.version)
            .arg(version)
            .arg(last_pk);
        for user in users {
            invocation
                .arg(user.id)
                .arg(&user.username)
                .arg(record_json(user));
        }
        let mut conn = self.commands();
        let seeded: i64 = bounded("seed", invocation.invoke_async(&mut conn)).await?;
        Ok(seeded == 1)
    }

    /// Reads the whole store in one transaction.
    async fn snapshot(&self) -> Result<Snapshot, Error> {
        let mut conn = self.commands();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .get(&self.keys.version)
            .get(&self.keys.last_pk)
            .hgetall(&self.keys.users);
        let (version, last_pk, users): (Option<u64>, Option<i64>, Vec<(String, String)>) =
            bounded("snapshot", pipe.query_async(&mut conn)).await?;
        let mut records = Vec::with_capacity(users.len());
        for (pk, json) in users {
            let user: UserRecord = serde_json::from_str(&json).map_err(|_| Error::RedisData {
                reason: format!("{}[{pk}] is not a user: {json:.200}", self.keys.users),
            })?;
            records.push(user);
        }
        let max = records.iter().map(|u| u.id).max().unwrap_or(0);
        Ok(Snapshot {
            version,
            last_pk: last_pk.unwrap_or(0).max(max),
            users: records,
        })
    }

    /// Waits until the local copy has applied `version`, at most `limit`. Returns whether it has.
    async fn caught_up(&self, version: u64, limit: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        matches!(
            tokio::time::timeout(limit, applied.wait_for(|v| *v >= version)).await,
            Ok(Ok(_))
        )
    }

    /// Before a read: waits until the local copy has applied every change Redis has
    /// acknowledged. Best effort: while Redis is unreachable, the local copy as it is.
    pub(crate) async fn read_barrier(&self) {
        if !self.connected.load(Ordering::Relaxed) {
            return;
        }
        let mut conn = self.commands();
        let version: Option<u64> = match bounded("GET version", conn.get(&self.keys.version)).await
        {
            Ok(version) => version,
            Err(error) => {
                tracing::debug!(%error, "read answered from the local copy");
                return;
            }
        };
        let version = version.unwrap_or(0);
        if !self.caught_up(version, REQUEST_TIMEOUT).await {
            tracing::warn!(
                version,
                local = *self.applied.borrow(),
                "the local copy did not catch up with the store in time; read answered from it"
            );
        }
    }

    /// Validates a change against the local copy, applies it in Redis (re-checked there
    /// atomically) and waits until its event has been queued on this node.
    pub(crate) async fn mutate<E>(
        &self,
        server: &Server,
        decide: impl Fn(&Table) -> Result<Mutation, E>,
    ) -> Result<Applied, MutateError<E>> {
        for _ in 0..MAX_ATTEMPTS {
            self.read_barrier().await;
            let (mutation, seen) = {
                let table = server.table.read().await;
                let mutation = decide(&table).map_err(MutateError::Rejected)?;
                let seen = match &mutation {
                    Mutation::Create { .. } => None,
                    Mutation::Save(instance) => table.get(&instance.pk).map(Instance::to_user),
                    Mutation::Delete(pk) => table.get(pk).map(Instance::to_user),
                };
                (mutation, seen)
            };
            let outcome = self
                .apply(&mutation, seen.as_ref())
                .await
                .map_err(MutateError::Persist)?;
            match outcome {
                Outcome::Applied(version, applied) => {
                    if !self.caught_up(version, REQUEST_TIMEOUT).await {
                        tracing::warn!(
                            version,
                            "the change's own message did not arrive in time: its events may be missing on this node"
                        );
                    }
                    return Ok(applied);
                }
                Outcome::Conflict => {
                    tracing::debug!("a change conflicted with another node's; deciding again");
                }
                Outcome::Empty => return Err(MutateError::Persist(Error::RedisEmpty)),
            }
        }
        Err(MutateError::Persist(Error::RedisConflict {
            attempts: MAX_ATTEMPTS,
        }))
    }

    /// Runs the script of `mutation`.
    async fn apply(
        &self,
        mutation: &Mutation,
        seen: Option<&UserRecord>,
    ) -> Result<Outcome, Error> {
        let mut conn = self.commands();
        let keys = &self.keys;
        let (script, applied) = match mutation {
            Mutation::Create { fields, .. } => {
                let user = Instance {
                    pk: Pk::Int(0),
                    fields: fields.clone(),
                }
                .to_user();
                let template = record_json(&user);
                let tail = template.strip_prefix("{\"id\":0").unwrap_or_default();
                let mut invocation = self.scripts.create.prepare_invoke();
                invocation.arg(&keys.channel).arg(&user.username).arg(tail);
                (invocation, None)
            }
            Mutation::Save(instance) => {
                let user = &instance.to_user();
                let mut invocation = self.scripts.save.prepare_invoke();
                invocation
                    .arg(&keys.channel)
                    .arg(user.id)
                    .arg(seen.map(record_json).unwrap_or_default())
                    .arg(record_json(user))
                    .arg(seen.map(|u| u.username.as_str()).unwrap_or_default())
                    .arg(&user.username);
                (invocation, None)
            }
            Mutation::Delete(pk) => {
                let mut invocation = self.scripts.delete.prepare_invoke();
                invocation
                    .arg(&keys.channel)
                    .arg(pk.as_int().unwrap_or_default())
                    .arg(seen.map(record_json).unwrap_or_default())
                    .arg(seen.map(|u| u.username.as_str()).unwrap_or_default());
                (invocation, Some(Applied::Deleted(pk.clone())))
            }
        };
        let mut script = script;
        script
            .key(&keys.users)
            .key(&keys.usernames)
            .key(&keys.last_pk)
            .key(&keys.version);
        let answer: Vec<String> = bounded("change script", script.invoke_async(&mut conn)).await?;
        let bad = || Error::RedisData {
            reason: format!("a change script answered {answer:.200?}"),
        };
        match answer.first().map(String::as_str) {
            Some("ok") => {
                let version = answer.get(1).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
                let applied = match applied {
                    Some(applied) => applied,
                    None => answer
                        .get(2)
                        .and_then(|json| serde_json::from_str::<UserRecord>(json).ok())
                        .map(|user| Applied::Saved(Instance::from_user(&user)))
                        .ok_or_else(bad)?,
                };
                Ok(Outcome::Applied(version, applied))
            }
            Some("conflict") => Ok(Outcome::Conflict),
            Some("empty") => Ok(Outcome::Empty),
            _ => Err(bad()),
        }
    }

    /// Starts the listener: it follows the change channel until the server shuts down.
    pub(crate) fn spawn_listener(self: &Arc<Self>, server: Arc<Server>) {
        let first = self
            .first_subscription
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let store = Arc::clone(self);
        tokio::spawn(async move {
            let mut shutdown = server.shutdown.clone();
            tokio::select! {
                () = store.listen(&server, first) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        });
    }

    /// Follows the channel; reconnects, catches up and follows again whenever it ends.
    async fn listen(&self, server: &Server, mut subscription: Option<PubSub>) {
        loop {
            if let Some(pubsub) = subscription.take() {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let payload: String = match message.get_payload() {
                        Ok(payload) => payload,
                        Err(error) => {
                            tracing::warn!(%error, "ignored an unreadable message of the change channel");
                            continue;
                        }
                    };
                    match parse_change(&payload) {
                        Some(change) => self.receive(server, change).await,
                        None => tracing::warn!(
                            message = %format_args!("{payload:.200}"),
                            "ignored a malformed message of the change channel"
                        ),
                    }
                }
                self.connected.store(false, Ordering::Relaxed);
                tracing::warn!(
                    url = %self.config.display_url(),
                    "lost the change channel of the shared store: serving reads from the local copy, changes fail until it is back; reconnecting"
                );
            }
            subscription = Some(self.reconnect(server).await);
        }
    }

    /// Applies one message to the local copy and queues its events; a message the copy
    /// already holds (from a reload) is skipped. A gap in the versions reloads the table.
    async fn receive(&self, server: &Server, change: Change) {
        let mut table = server.table.write().await;
        let local = *self.applied.borrow();
        if change.version <= local {
            return;
        }
        if change.version > local + 1 {
            tracing::warn!(
                local,
                received = change.version,
                "missed messages of the change channel; reloading the table"
            );
            drop(table);
            if let Err(error) = self.catch_up(server).await {
                tracing::warn!(%error, "cannot reload the table");
            }
            return;
        }
        if let Applied::Saved(instance) = &change.applied
            && let Some(id) = instance.pk.as_int()
        {
            self.last_pk.fetch_max(id, Ordering::Relaxed);
        }
        table.replicate(&change.applied);
        server
            .registry()
            .publish(&change.applied, server.model(), &server.config.faults);
        self.applied.send_replace(change.version);
    }

    /// Subscribes again (backing off) and catches up; returns the new subscription.
    async fn reconnect(&self, server: &Server) -> PubSub {
        let mut pause = RECONNECT_MIN;
        let mut attempts: u64 = 0;
        loop {
            tokio::time::sleep(pause).await;
            attempts += 1;
            match self.resubscribe(server).await {
                Ok((pubsub, changed)) => {
                    self.connected.store(true, Ordering::Relaxed);
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        attempts,
                        version = *self.applied.borrow(),
                        changed,
                        "reconnected to the shared store and caught up"
                    );
                    return pubsub;
                }
                Err(error) => {
                    if attempts == 1 {
                        tracing::warn!(%error, "cannot reconnect to the shared store yet; retrying with backoff (logged once)");
                    } else {
                        tracing::debug!(%error, attempts, "cannot reconnect to the shared store yet");
                    }
                    pause = (pause * 2).min(RECONNECT_MAX);
                }
            }
        }
    }

    async fn resubscribe(&self, server: &Server) -> Result<(PubSub, usize), Error> {
        let mut pubsub = bounded("connect", self.client.get_async_pubsub()).await?;
        bounded("SUBSCRIBE", pubsub.subscribe(&self.keys.channel)).await?;
        let changed = self.catch_up(server).await?;
        Ok((pubsub, changed))
    }

    /// Reloads the table from the store (seeding an empty store from the local copy) and
    /// queues one event per instance that changed meanwhile. Returns how many changed.
    async fn catch_up(&self, server: &Server) -> Result<usize, Error> {
        let mut snapshot = self.snapshot().await?;
        if snapshot.version.is_none() {
            let (users, version) = {
                let table = server.table.read().await;
                (
                    table.all().map(Instance::to_user).collect::<Vec<_>>(),
                    *self.applied.borrow(),
                )
            };
            let last_pk = self.last_pk.load(Ordering::Relaxed);
            if self.seed(&users, version, last_pk).await? {
                tracing::warn!(
                    users = users.len(),
                    version,
                    "the shared store came back empty: seeded it from this node's copy"
                );
            }
            snapshot = self.snapshot().await?;
        }
        let version = snapshot.version.ok_or(Error::RedisEmpty)?;
        let fresh = Table::from_users(snapshot.users, Path::new(REDIS_PATH))?;
        let mut table = server.table.write().await;
        let pks: BTreeSet<Pk> = table
            .all()
            .chain(fresh.all())
            .map(|i| i.pk.clone())
            .collect();
        let mut changes = Vec::new();
        for pk in pks {
            match (table.get(&pk), fresh.get(&pk)) {
                (old, Some(new)) if old != Some(new) => changes.push(Applied::Saved(new.clone())),
                (Some(_), None) => changes.push(Applied::Deleted(pk)),
                _ => {}
            }
        }
        *table = fresh;
        self.last_pk.fetch_max(snapshot.last_pk, Ordering::Relaxed);
        {
            let mut registry = server.registry();
            for change in &changes {
                registry.publish(change, server.model(), &server.config.faults);
            }
        }
        self.applied.send_replace(version);
        Ok(changes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let user = UserRecord::new(7, "a b", "a@example.com");
        let change = parse_change(&format!("12 S {}", record_json(&user))).expect("saved");
        assert_eq!(change.version, 12);
        assert!(matches!(change.applied, Applied::Saved(u) if u == Instance::from_user(&user)));
        let change = parse_change("13 D 7").expect("deleted");
        assert!(matches!(change.applied, Applied::Deleted(Pk::Int(7))));
        for bad in ["", "x S {}", "1 X 2", "1 D x", "1 S {", "1"] {
            assert!(parse_change(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_create_template_splices_the_pk() {
        let mut user = UserRecord::new(0, "n", "e");
        user.password = Some("pw".into());
        let template = record_json(&user);
        let tail = template.strip_prefix("{\"id\":0").expect("id first");
        user.id = 42;
        assert_eq!(format!("{{\"id\":42{tail}"), record_json(&user));
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact("redis://:secret@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
