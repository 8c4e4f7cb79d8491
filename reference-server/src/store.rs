//! The in-memory user table and its optional data file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Error, UserRecord};

/// The serialized instance, as the seed's `UserSerializer` prints it: `id`, `username`,
/// `email`, in that order; the write-only `password` never appears (SPEC §5.1.2).
pub(crate) fn user_json(user: &UserRecord) -> Value {
    json!({"id": user.id, "username": user.username, "email": user.email})
}

/// The users, by primary key, and the next primary key to hand out.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    users: BTreeMap<i64, UserRecord>,
    /// Primary keys are never reused (SQLite AUTOINCREMENT): this only grows.
    next_pk: i64,
}

/// A change to apply to the table, decided by a validator that saw the table.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Insert a new user with the next primary key.
    Create {
        username: String,
        email: String,
        password: Option<String>,
    },
    /// Save an existing user (all fields), even when nothing changed: Django's `.save()`
    /// fires the observers either way.
    Save(UserRecord),
    /// Delete a user.
    Delete(i64),
}

/// A change that was applied: what the subscribers are told.
#[derive(Debug, Clone)]
pub(crate) enum Applied {
    /// The user as saved (created or updated).
    Saved(UserRecord),
    /// The primary key of the deleted user.
    Deleted(i64),
}

/// What it takes to undo a change whose persistence failed.
#[derive(Debug)]
pub(crate) enum Undo {
    Remove(i64, i64),
    Restore(UserRecord),
}

#[derive(Serialize, Deserialize)]
struct DataFile {
    next_pk: i64,
    users: Vec<UserRecord>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AnyUserFile {
    Data(DataFile),
    Fixture(Vec<UserRecord>),
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
        let mut map = BTreeMap::new();
        for user in users {
            if map
                .values()
                .any(|u: &UserRecord| u.username == user.username)
            {
                return Err(Error::DuplicateUser {
                    path: path.to_owned(),
                    what: "username",
                    value: user.username,
                });
            }
            if map.contains_key(&user.id) {
                return Err(Error::DuplicateUser {
                    path: path.to_owned(),
                    what: "id",
                    value: user.id.to_string(),
                });
            }
            map.insert(user.id, user);
        }
        let max = map.keys().next_back().copied().unwrap_or(0);
        Ok(Table {
            users: map,
            next_pk: next_pk.max(max.saturating_add(1)),
        })
    }

    /// Reads a fixture (a JSON array of users) or a data file (`{"next_pk", "users"}`).
    pub(crate) fn read_file(path: &Path) -> Result<Table, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let parsed: AnyUserFile =
            serde_json::from_str(&text).map_err(|source| Error::ParseFile {
                path: path.to_owned(),
                source,
            })?;
        match parsed {
            AnyUserFile::Data(data) => Table::from_parts(data.users, data.next_pk, path),
            AnyUserFile::Fixture(users) => Table::from_users(users, path),
        }
    }

    /// The user with primary key `pk`.
    pub(crate) fn get(&self, pk: i64) -> Option<&UserRecord> {
        self.users.get(&pk)
    }

    /// Every user, by primary key.
    pub(crate) fn all(&self) -> impl Iterator<Item = &UserRecord> {
        self.users.values()
    }

    /// Whether a user other than `except` has this username (exact, case-sensitive match).
    pub(crate) fn username_taken(&self, username: &str, except: Option<i64>) -> bool {
        self.users
            .values()
            .any(|u| u.username == username && Some(u.id) != except)
    }

    /// Applies a mutation; returns what subscribers are told and how to undo it.
    pub(crate) fn apply(&mut self, mutation: Mutation) -> Option<(Applied, Undo)> {
        match mutation {
            Mutation::Create {
                username,
                email,
                password,
            } => {
                let id = self.next_pk;
                let previous_next = self.next_pk;
                self.next_pk = self.next_pk.checked_add(1)?;
                let user = UserRecord {
                    id,
                    username,
                    email,
                    password,
                };
                self.users.insert(id, user.clone());
                Some((Applied::Saved(user), Undo::Remove(id, previous_next)))
            }
            Mutation::Save(user) => {
                let previous = self.users.insert(user.id, user.clone())?;
                Some((Applied::Saved(user), Undo::Restore(previous)))
            }
            Mutation::Delete(pk) => {
                let previous = self.users.remove(&pk)?;
                Some((Applied::Deleted(pk), Undo::Restore(previous)))
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
            Undo::Restore(user) => {
                self.users.insert(user.id, user);
            }
        }
    }

    /// The data file's contents.
    fn to_file_text(&self) -> String {
        let data = DataFile {
            next_pk: self.next_pk,
            users: self.users.values().cloned().collect(),
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
