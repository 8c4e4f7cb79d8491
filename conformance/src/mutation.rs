//! Out-of-band changes: the hook that creates, changes and deletes instances for the cases.

use std::time::Duration;

use dcrf_protocol::{Action, Request};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::Error;
use crate::http;
use crate::target::{
    DEFAULT_PASSWORD, HttpMutation, MutationConfig, ShellMutation, Target, WebSocketMutation,
};
use crate::wire::{Conn, Recorder};

/// How long one hook operation may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// A hook ready to use, built from a target's `[mutation]` table.
#[derive(Debug, Clone)]
pub(crate) enum Mutator {
    Http {
        base: String,
        config: HttpMutation,
    },
    WebSocket {
        url: String,
        config: WebSocketMutation,
        lookup_field: String,
    },
    Shell(ShellMutation),
    None,
}

/// An instance created by the hook.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Created {
    /// Its primary key.
    pub(crate) pk: Value,
    /// Its JSON as the hook reported it (may be just `{pk_field: pk}` for a shell hook).
    pub(crate) json: Value,
}

impl Mutator {
    pub(crate) fn from_target(target: &Target) -> Result<Mutator, Error> {
        Ok(match &target.mutation {
            MutationConfig::Http(config) => Mutator::Http {
                base: config.base_url(&target.url)?,
                config: config.clone(),
            },
            MutationConfig::Websocket(config) => Mutator::WebSocket {
                url: config
                    .url
                    .clone()
                    .or_else(|| target.full_url.clone())
                    .ok_or_else(|| {
                        Error::InvalidTarget(
                            "mutation kind \"websocket\" needs mutation.url or full_url".into(),
                        )
                    })?,
                config: config.clone(),
                lookup_field: target.lookup_field.clone(),
            },
            MutationConfig::Shell(config) => Mutator::Shell(config.clone()),
            MutationConfig::None => Mutator::None,
        })
    }

    /// Whether the target can change instances at all.
    pub(crate) fn available(&self) -> bool {
        !matches!(self, Mutator::None)
    }

    /// Creates an instance with these fields.
    pub(crate) async fn create(&self, username: &str, email: &str) -> Result<Created, Error> {
        match self {
            Mutator::Http { base, config } => {
                let (method, path) = split_template(&config.create)?;
                let body = fill(&config.create_body, None, username, email, true);
                let response = http_call(method, &format!("{base}{path}"), Some(&body)).await?;
                if !(200..300).contains(&response.status) {
                    return Err(Error::Mutation(format!(
                        "{} answered {} {}",
                        config.create, response.status, response.body
                    )));
                }
                let json: Value = serde_json::from_str(&response.body).map_err(|_| {
                    Error::Mutation(format!("{} answered a non-JSON body", config.create))
                })?;
                let pk = pk_of(&json, &config.pk_field)?;
                Ok(Created { pk, json })
            }
            Mutator::WebSocket {
                url,
                config,
                lookup_field,
            } => {
                let mut data = Map::new();
                data.insert("username".into(), Value::from(username));
                data.insert("email".into(), Value::from(email));
                data.extend(config.create_extra.clone());
                let request = Request::new(Action::Create).with_arg("data", Value::Object(data));
                let reply = ws_call(url, lookup_field, request, 201).await?;
                let json = reply.get("data").cloned().unwrap_or(Value::Null);
                let pk = pk_of(&json, &config.pk_field)?;
                Ok(Created { pk, json })
            }
            Mutator::Shell(config) => {
                let command = fill_shell(&config.create, None, username, email);
                let stdout = shell(&command, config.timeout()).await?;
                let trimmed = stdout.trim();
                let json: Value = serde_json::from_str(trimmed)
                    .unwrap_or_else(|_| Value::from(trimmed.to_owned()));
                let pk = match &json {
                    Value::Object(_) => pk_of(&json, &config.pk_field)?,
                    Value::Number(_) => json.clone(),
                    Value::String(text) if !text.is_empty() => json.clone(),
                    _ => {
                        return Err(Error::Mutation(format!(
                            "create command printed no pk: {trimmed:?}"
                        )));
                    }
                };
                Ok(Created { pk, json })
            }
            Mutator::None => Err(Error::Mutation("the target has no mutation hook".into())),
        }
    }

    /// Changes the instance `pk` to these fields (saving it, so observers fire).
    pub(crate) async fn update(
        &self,
        pk: &Value,
        username: &str,
        email: &str,
    ) -> Result<(), Error> {
        match self {
            Mutator::Http { base, config } => {
                let (method, path) = split_template(&config.update)?;
                let path = fill(path, Some(pk), username, email, false);
                let body = fill(&config.update_body, Some(pk), username, email, true);
                let response = http_call(method, &format!("{base}{path}"), Some(&body)).await?;
                expect_2xx(&config.update, &response)
            }
            Mutator::WebSocket {
                url, lookup_field, ..
            } => {
                let mut data = Map::new();
                data.insert("username".into(), Value::from(username));
                data.insert("email".into(), Value::from(email));
                let request = Request::new(Action::Patch)
                    .with_arg(lookup_field.clone(), pk.clone())
                    .with_arg("data", Value::Object(data));
                ws_call(url, lookup_field, request, 200).await.map(drop)
            }
            Mutator::Shell(config) => {
                let command = fill_shell(&config.update, Some(pk), username, email);
                shell(&command, config.timeout()).await.map(drop)
            }
            Mutator::None => Err(Error::Mutation("the target has no mutation hook".into())),
        }
    }

    /// Deletes the instance `pk`.
    pub(crate) async fn delete(&self, pk: &Value) -> Result<(), Error> {
        match self {
            Mutator::Http { base, config } => {
                let (method, path) = split_template(&config.delete)?;
                let path = fill(path, Some(pk), "", "", false);
                let response = http_call(method, &format!("{base}{path}"), None).await?;
                expect_2xx(&config.delete, &response)
            }
            Mutator::WebSocket {
                url, lookup_field, ..
            } => {
                let request =
                    Request::new(Action::Delete).with_arg(lookup_field.clone(), pk.clone());
                ws_call(url, lookup_field, request, 204).await.map(drop)
            }
            Mutator::Shell(config) => {
                let command = fill_shell(&config.delete, Some(pk), "", "");
                shell(&command, config.timeout()).await.map(drop)
            }
            Mutator::None => Err(Error::Mutation("the target has no mutation hook".into())),
        }
    }
}

fn split_template(template: &str) -> Result<(&str, &str), Error> {
    template
        .trim()
        .split_once(' ')
        .map(|(method, path)| (method.trim(), path.trim()))
        .ok_or_else(|| Error::Mutation(format!("template {template:?} is not \"METHOD /path\"")))
}

fn pk_text(pk: &Value) -> String {
    match pk {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Replaces the placeholders; `json` escapes the values for a JSON string literal.
fn fill(template: &str, pk: Option<&Value>, username: &str, email: &str, json: bool) -> String {
    let escape = |text: &str| {
        if json {
            let quoted = Value::from(text).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        } else {
            text.to_owned()
        }
    };
    template
        .replace("{pk}", &escape(&pk.map(pk_text).unwrap_or_default()))
        .replace("{username}", &escape(username))
        .replace("{email}", &escape(email))
        .replace("{password}", &escape(DEFAULT_PASSWORD))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn fill_shell(template: &str, pk: Option<&Value>, username: &str, email: &str) -> String {
    template
        .replace("{pk}", &shell_quote(&pk.map(pk_text).unwrap_or_default()))
        .replace("{username}", &shell_quote(username))
        .replace("{email}", &shell_quote(email))
        .replace("{password}", &shell_quote(DEFAULT_PASSWORD))
}

fn pk_of(json: &Value, pk_field: &str) -> Result<Value, Error> {
    json.get(pk_field)
        .filter(|pk| pk.is_number() || pk.is_string())
        .cloned()
        .ok_or_else(|| Error::Mutation(format!("created instance has no {pk_field:?}: {json}")))
}

async fn http_call(
    method: &str,
    url: &str,
    body: Option<&str>,
) -> Result<http::HttpResponse, Error> {
    http::request(method, url, body, HOOK_TIMEOUT)
        .await
        .map_err(|source| Error::Http {
            method: method.to_owned(),
            url: url.to_owned(),
            source,
        })
}

fn expect_2xx(template: &str, response: &http::HttpResponse) -> Result<(), Error> {
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(Error::Mutation(format!(
            "{template} answered {} {}",
            response.status, response.body
        )))
    }
}

/// Sends one request on a fresh connection and returns the reply, which must have `status`.
async fn ws_call(
    url: &str,
    lookup_field: &str,
    request: Request,
    status: u64,
) -> Result<Value, Error> {
    let until = Instant::now() + HOOK_TIMEOUT;
    let mut conn = Conn::connect(
        "hook",
        url,
        Recorder::new(),
        lookup_field,
        None,
        HOOK_TIMEOUT,
    )
    .await
    .map_err(|source| Error::Unreachable {
        url: url.to_owned(),
        source,
    })?;
    let request_id = Value::from(format!("hook-{}", request.action));
    let action = request.action.clone();
    conn.send(request.with_request_id(request_id.clone()), until)
        .await
        .map_err(|finding| Error::Mutation(finding.message))?;
    let reply = conn
        .expect_reply(&request_id, until)
        .await
        .map_err(|finding| Error::Mutation(finding.message))?;
    conn.close().await;
    if reply.status() != Some(status) {
        return Err(Error::Mutation(format!(
            "{action} over {url} answered {}",
            reply.raw
        )));
    }
    Ok(reply.value)
}

async fn shell(command: &str, timeout: Duration) -> Result<String, Error> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| Error::Mutation(format!("cannot run `{command}`: {error}")))?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| Error::Mutation(format!("`{command}` ran longer than {timeout:?}")))?
        .map_err(|error| Error::Mutation(format!("`{command}`: {error}")))?;
    if !output.status.success() {
        return Err(Error::Mutation(format!(
            "`{command}` exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_templates() {
        let body = fill(
            r#"{"username": "{username}", "pk": {pk}}"#,
            Some(&Value::from(7)),
            "a\"b",
            "e",
            true,
        );
        assert_eq!(body, r#"{"username": "a\"b", "pk": 7}"#);
        let command = fill_shell("x {pk} {username}", Some(&Value::from("k")), "it's", "");
        assert_eq!(command, r"x 'k' 'it'\''s'");
    }
}
