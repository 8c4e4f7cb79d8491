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

/// The serialized instance as compact JSON text: `user_json(user).to_string()`, printed
/// without building the `Value` (the strict profile's replies splice it in).
pub(crate) fn user_json_text(user: &UserRecord) -> String {
    /// The fields `user_json` holds, in its order.
    #[derive(Serialize)]
    struct Fields<'a> {
        id: i64,
        username: &'a str,
        email: &'a str,
    }
    let fields = Fields {
        id: user.id,
        username: &user.username,
        email: &user.email,
    };
    // Printing integers and strings to a `String` cannot fail.
    serde_json::to_string(&fields).unwrap_or_default()
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
        parse_user_file(&text, path)
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

    /// Puts a change applied elsewhere (another process, through Redis) into this copy.
    pub(crate) fn replicate(&mut self, applied: &Applied) {
        match applied {
            Applied::Saved(user) => {
                self.next_pk = self.next_pk.max(user.id.saturating_add(1));
                self.users.insert(user.id, user.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The text is the `Value`'s, for every character a field may hold.
    #[test]
    fn user_json_text_prints_user_json() {
        let mut users = vec![
            UserRecord::new(1, "test 1", "1@example.com"),
            UserRecord::new(-7, "", ""),
            UserRecord::new(i64::MAX, "é ü 中 😀", "a\"b\\c/d"),
            UserRecord::new(
                i64::MIN,
                "\u{0}\u{1}\u{1f}\u{7f}\t\n\r",
                "\u{2028}\u{2029}\u{fffd}",
            ),
        ];
        users[0].password = Some("secret".into());
        for user in &users {
            assert_eq!(
                user_json_text(user),
                user_json(user).to_string(),
                "{user:?}"
            );
        }
    }
}
