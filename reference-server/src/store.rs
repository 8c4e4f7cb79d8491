//! The in-memory user table and its optional data file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Instance, Pk};
use crate::{Error, UserRecord};

/// The instances, by primary key, and the next integer primary key to hand out.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    users: BTreeMap<Pk, Instance>,
    /// Primary keys are never reused (SQLite AUTOINCREMENT): this only grows.
    next_pk: i64,
}

/// A change to apply to the table, decided by a validator that saw the table.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Insert a new instance: with `pk`, or with the next integer primary key.
    Create {
        pk: Option<Pk>,
        fields: serde_json::Map<String, Value>,
    },
    /// Save an existing instance (all fields), even when nothing changed: Django's
    /// `.save()` fires the observers either way.
    Save(Instance),
    /// Delete an instance.
    Delete(Pk),
}

/// A change that was applied: what the subscribers are told.
#[derive(Debug, Clone)]
pub(crate) enum Applied {
    /// The instance as saved (created or updated).
    Saved(Instance),
    /// The primary key of the deleted instance.
    Deleted(Pk),
}

/// What it takes to undo a change whose persistence failed.
#[derive(Debug)]
pub(crate) enum Undo {
    Remove(Pk, i64),
    Restore(Instance),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataFile {
    next_pk: i64,
    users: Vec<UserRecord>,
}

/// What a user file may hold, for error messages.
const USER_FILE_SHAPE: &str = r#"a JSON array of {"id", "username", "email", "password"?} objects, or a data file {"next_pk", "users": [...]}"#;
/// What a fixture may hold, for error messages.
const FIXTURE_SHAPE: &str = r#"a JSON array of {"id", "username", "email", "password"?} objects"#;

fn parse_error(path: &Path, expected: &'static str, source: serde_json::Error) -> Error {
    Error::ParseFile {
        path: path.to_owned(),
        expected,
        source,
    }
}

/// Parses a fixture: a JSON array of users. Errors name the line and column.
pub(crate) fn parse_fixture(text: &str, path: &Path) -> Result<Vec<UserRecord>, Error> {
    serde_json::from_str(text).map_err(|source| parse_error(path, FIXTURE_SHAPE, source))
}

/// Parses a fixture or a data file, by its first character: `[` a fixture, `{` a data
/// file. Errors name the line and column and what was expected there (serde's message).
fn parse_user_file(text: &str, path: &Path) -> Result<Table, Error> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {
            let data: DataFile = serde_json::from_str(text)
                .map_err(|source| parse_error(path, USER_FILE_SHAPE, source))?;
            Table::from_parts(data.users, data.next_pk, path)
        }
        Some(b'[') => Table::from_users(parse_fixture(text, path)?, path),
        // serde_json reports the position of the first unexpected character.
        _ => match serde_json::from_str::<Vec<UserRecord>>(text) {
            Ok(users) => Table::from_users(users, path),
            Err(source) => Err(parse_error(path, USER_FILE_SHAPE, source)),
        },
    }
}

/// Prepares the data file at `path` before it is loaded: a symlink is followed (the
/// target is read and written, atomically beside it; a dangling symlink is an error),
/// and `*.tmpPID` files left beside it by a killed server are removed.
///
/// Returns the path to read and write, and whether it exists yet.
pub(crate) fn prepare_data_file(path: &Path) -> Result<(PathBuf, bool), Error> {
    let link = std::fs::symlink_metadata(path);
    let target = match &link {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => target,
            Err(source) => {
                return Err(Error::DanglingSymlink {
                    path: path.to_owned(),
                    target: std::fs::read_link(path).unwrap_or_default(),
                    source,
                });
            }
        },
        _ => path.to_owned(),
    };
    remove_stale_temporaries(path);
    if target != path {
        remove_stale_temporaries(&target);
    }
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => Ok((target, true)),
        Ok(_) => Err(Error::ReadFile {
            path: target,
            source: std::io::Error::other("not a regular file"),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && link.is_err() => {
            Ok((target, false))
        }
        Err(source) => Err(Error::ReadFile {
            path: target,
            source,
        }),
    }
}

/// Removes `NAME.tmpDIGITS` files beside `path`: temporary copies that a killed server
/// never renamed. Failures are logged, not fatal.
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Some(name) = name.to_str() else {
        return;
    };
    let prefix = format!("{name}.tmp");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let stale = entry.path();
        match std::fs::remove_file(&stale) {
            Ok(()) => {
                tracing::info!(path = %stale.display(), "removed a stale temporary data file")
            }
            Err(error) => {
                tracing::warn!(path = %stale.display(), %error, "cannot remove a stale temporary data file")
            }
        }
    }
}

impl Table {
    /// A table holding `users`; the next pk is one more than the largest.
    pub(crate) fn from_users(users: Vec<UserRecord>, path: &Path) -> Result<Table, Error> {
        let next_pk = users
            .iter()
            .map(|u| u.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        Table::from_parts(users, next_pk, path)
    }

    fn from_parts(users: Vec<UserRecord>, next_pk: i64, path: &Path) -> Result<Table, Error> {
        let mut usernames = std::collections::BTreeSet::new();
        let mut map = BTreeMap::new();
        for user in users {
            if !usernames.insert(user.username.clone()) {
                return Err(Error::DuplicateUser {
                    path: path.to_owned(),
                    what: "username",
                    value: user.username,
                });
            }
            let pk = Pk::Int(user.id);
            if map.contains_key(&pk) {
                return Err(Error::DuplicateUser {
                    path: path.to_owned(),
                    what: "id",
                    value: user.id.to_string(),
                });
            }
            map.insert(pk, Instance::from_user(&user));
        }
        Ok(Table::from_instances(map.into_values(), next_pk))
    }

    /// A table holding `instances` (their pks are distinct); the next integer pk is at
    /// least `next_pk` and past the largest integer pk.
    pub(crate) fn from_instances(
        instances: impl IntoIterator<Item = Instance>,
        next_pk: i64,
    ) -> Table {
        let users: BTreeMap<Pk, Instance> =
            instances.into_iter().map(|i| (i.pk.clone(), i)).collect();
        let max = users.keys().filter_map(Pk::as_int).max().unwrap_or(0);
        Table {
            users,
            next_pk: next_pk.max(max.saturating_add(1)),
        }
    }

    /// Reads a fixture (a JSON array of users) or a data file (`{"next_pk", "users"}`).
    pub(crate) fn read_file(path: &Path) -> Result<Table, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        parse_user_file(&text, path)
    }

    /// The instance with primary key `pk`.
    pub(crate) fn get(&self, pk: &Pk) -> Option<&Instance> {
        self.users.get(pk)
    }

    /// Every instance, by primary key.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Instance> {
        self.users.values()
    }

    /// Whether an instance other than `except` has `value` in `field` (exact match).
    pub(crate) fn taken(&self, field: &str, value: &Value, except: Option<&Pk>) -> bool {
        self.users
            .values()
            .any(|i| i.get(field) == Some(value) && Some(&i.pk) != except)
    }

    /// Whether a user other than `except` has this username (exact, case-sensitive match).
    pub(crate) fn username_taken(&self, username: &str, except: Option<i64>) -> bool {
        let except = except.map(Pk::Int);
        self.taken("username", &Value::from(username), except.as_ref())
    }

    /// Applies a mutation; returns what subscribers are told and how to undo it.
    pub(crate) fn apply(&mut self, mutation: Mutation) -> Option<(Applied, Undo)> {
        match mutation {
            Mutation::Create { pk, fields } => {
                let previous_next = self.next_pk;
                let pk = match pk {
                    Some(pk) => pk,
                    None => {
                        let id = self.next_pk;
                        self.next_pk = self.next_pk.checked_add(1)?;
                        Pk::Int(id)
                    }
                };
                if self.users.contains_key(&pk) {
                    self.next_pk = previous_next;
                    return None;
                }
                if let Some(id) = pk.as_int() {
                    // SQLite's AUTOINCREMENT counter follows an explicit rowid above it.
                    self.next_pk = self.next_pk.max(id.saturating_add(1));
                }
                let instance = Instance {
                    pk: pk.clone(),
                    fields,
                };
                self.users.insert(pk.clone(), instance.clone());
                Some((Applied::Saved(instance), Undo::Remove(pk, previous_next)))
            }
            Mutation::Save(instance) => {
                let previous = self.users.insert(instance.pk.clone(), instance.clone())?;
                Some((Applied::Saved(instance), Undo::Restore(previous)))
            }
            Mutation::Delete(pk) => {
                let previous = self.users.remove(&pk)?;
                Some((Applied::Deleted(pk), Undo::Restore(previous)))
            }
        }
    }

    /// Puts a change applied elsewhere (another process, through Redis) into this copy.
    pub(crate) fn replicate(&mut self, applied: &Applied) {
        match applied {
            Applied::Saved(instance) => {
                if let Some(id) = instance.pk.as_int() {
                    self.next_pk = self.next_pk.max(id.saturating_add(1));
                }
                self.users.insert(instance.pk.clone(), instance.clone());
            }
            Applied::Deleted(pk) => {
                self.users.remove(pk);
            }
        }
    }

    /// Reverts a change whose persistence failed.
    pub(crate) fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Remove(pk, next_pk) => {
                self.users.remove(&pk);
                self.next_pk = next_pk;
            }
            Undo::Restore(instance) => {
                self.users.insert(instance.pk.clone(), instance);
            }
        }
    }

    /// The data file's contents (the `User` model's: a data file holds users).
    fn to_file_text(&self) -> String {
        let data = DataFile {
            next_pk: self.next_pk,
            users: self.users.values().map(Instance::to_user).collect(),
        };
        let mut text = serde_json::to_string_pretty(&data).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Writes `table` to `path` atomically: a temporary file in the same directory, fsync,
/// then rename over the old file.
pub(crate) async fn persist(table: &Table, path: &Path) -> Result<(), Error> {
    let text = table.to_file_text();
    let path_buf: PathBuf = path.to_owned();
    let result = tokio::task::spawn_blocking(move || write_atomically(&path_buf, &text)).await;
    let io = match result {
        Ok(io) => io,
        Err(join) => Err(std::io::Error::other(join.to_string())),
    };
    io.map_err(|source| Error::WriteFile {
        path: path.to_owned(),
        source,
    })
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
