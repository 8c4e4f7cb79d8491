//! The server under test: its endpoints, the instances the cases may use, and how to change
//! instances out of band.
//!
//! A target is read from a TOML file (every key is also a command-line flag):
//!
//! ```toml
//! url = "ws://127.0.0.1:8000/ws/"                     # observer endpoint (SPEC §5), required
//! full_url = "ws://127.0.0.1:8000/ws/full/"           # optional: CRUD actions (SPEC §6)
//! multiplexed_url = "ws://127.0.0.1:8000/ws/multiplexed/"  # optional: SPEC §8
//! stream = "users"
//! nodes = ["ws://127.0.0.1:8001/ws/"]                 # optional: other processes (SPEC 5.10)
//! existing_pk = 1
//! missing_pk = 999999
//! lookup_field = "pk"
//! expected_fields = ["id", "username", "email"]
//! write_only_fields = ["password"]
//!
//! [mutation]
//! kind = "http"                                       # or "websocket", "shell", "none"
//! base_url = "http://127.0.0.1:8000"
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// A server under test (see the module documentation for the TOML form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Target {
    /// WebSocket URL of the observer endpoint: `retrieve`, `subscribe_instance`,
    /// `unsubscribe_instance` (the seed consumer, `/ws/` on the interop servers).
    pub url: String,
    /// WebSocket URL of an endpoint that also offers `list`, `create`, `update`, `patch` and
    /// `delete` (SPEC §6). Without it the §6 cases are skipped.
    pub full_url: Option<String>,
    /// WebSocket URL of a channelsmultiplexer endpoint (SPEC §8). Without it the §8 cases
    /// are skipped.
    pub multiplexed_url: Option<String>,
    /// The stream name the multiplexer routes to the observed consumer.
    pub stream: String,
    /// Observer URLs of the app's other processes (SPEC 5.10): the same consumer served by
    /// other workers or hosts, sharing the app's data. Empty: one process, and the 5.10
    /// cases are skipped.
    pub nodes: Vec<String>,
    /// Lookup value of an instance that exists and that no case changes.
    pub existing_pk: Value,
    /// Lookup value that names no instance.
    pub missing_pk: Value,
    /// The lookup argument's key (SPEC §3.3).
    pub lookup_field: String,
    /// Fields a serialized instance carries; a `retrieve` reply must hold each of them.
    pub expected_fields: Vec<String>,
    /// Fields that must never appear in a serialized instance (SPEC §5.1.2).
    pub write_only_fields: Vec<String>,
    /// How the harness creates, changes and deletes instances out of band.
    pub mutation: MutationConfig,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            url: String::new(),
            full_url: None,
            multiplexed_url: None,
            stream: "users".to_owned(),
            nodes: Vec::new(),
            existing_pk: Value::from(1),
            missing_pk: Value::from(999_999),
            lookup_field: dcrf_protocol::DEFAULT_LOOKUP_FIELD.to_owned(),
            expected_fields: vec!["id".into(), "username".into(), "email".into()],
            write_only_fields: vec!["password".into()],
            mutation: MutationConfig::default(),
        }
    }
}

impl Target {
    /// A target with only the observer endpoint `url` and the default admin-API hook.
    pub fn new(url: impl Into<String>) -> Self {
        Target {
            url: url.into(),
            ..Target::default()
        }
    }

    /// The layout of the project's two interop servers (the reference server and the Django
    /// project in `interop/dcrf/`): `url` is the observer endpoint ending in `/ws/`, the CRUD
    /// endpoint is `/ws/full/`, the multiplexer is `/ws/multiplexed/` with stream `users`,
    /// and the admin HTTP API on the same port is the mutation hook.
    pub fn interop_layout(url: impl Into<String>) -> Self {
        let url = url.into();
        let base = url.trim_end_matches('/').to_owned();
        Target {
            full_url: Some(format!("{base}/full/")),
            multiplexed_url: Some(format!("{base}/multiplexed/")),
            ..Target::new(url)
        }
    }

    /// Reads a target from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| Error::ParseConfig {
            path: path.to_owned(),
            source,
        })
    }

    /// Checks that the target can be used: a `ws://` URL for every endpoint given.
    pub fn validate(&self) -> Result<(), Error> {
        if self.url.is_empty() {
            return Err(Error::InvalidTarget(
                "no url: give --url, a config with `url`, or neither (embedded server)".into(),
            ));
        }
        for (key, url) in [
            ("url", Some(&self.url)),
            ("full_url", self.full_url.as_ref()),
            ("multiplexed_url", self.multiplexed_url.as_ref()),
        ]
        .into_iter()
        .chain(self.nodes.iter().map(|node| ("nodes", Some(node))))
        {
            if let Some(url) = url {
                parse_url(url, "ws")
                    .map_err(|why| Error::InvalidTarget(format!("{key}: {why}")))?;
            }
        }
        match &self.mutation {
            MutationConfig::Http(http) => {
                let base = http.base_url(&self.url)?;
                parse_url(&base, "http")
                    .map_err(|why| Error::InvalidTarget(format!("mutation.base_url: {why}")))?;
                http.validate()?;
            }
            MutationConfig::Websocket(ws) => {
                let url = ws.url.as_ref().or(self.full_url.as_ref()).ok_or_else(|| {
                    Error::InvalidTarget(
                        "mutation kind \"websocket\" needs mutation.url or full_url".into(),
                    )
                })?;
                parse_url(url, "ws")
                    .map_err(|why| Error::InvalidTarget(format!("mutation.url: {why}")))?;
            }
            MutationConfig::Shell(shell) => {
                for (key, template) in [
                    ("create", &shell.create),
                    ("update", &shell.update),
                    ("delete", &shell.delete),
                ] {
                    if template.trim().is_empty() {
                        return Err(Error::InvalidTarget(format!(
                            "mutation kind \"shell\" needs mutation.{key}"
                        )));
                    }
                }
            }
            MutationConfig::None => {}
        }
        Ok(())
    }
}

/// How the harness changes instances out of band (SPEC §1.3): the cases of sections 5.5 to
/// 5.7 subscribe to an instance and need it to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MutationConfig {
    /// HTTP requests to an admin API (default: the interop servers' `/admin/users`).
    Http(HttpMutation),
    /// DCRF's own `create`, `patch` and `delete` actions on a CRUD endpoint.
    Websocket(WebSocketMutation),
    /// Shell commands (a Django management command, say).
    Shell(ShellMutation),
    /// No way to change instances: the cases that need one are skipped.
    None,
}

impl Default for MutationConfig {
    fn default() -> Self {
        MutationConfig::Http(HttpMutation::default())
    }
}

impl MutationConfig {
    /// The name used in TOML and on the command line.
    pub fn kind(&self) -> &'static str {
        match self {
            MutationConfig::Http(_) => "http",
            MutationConfig::Websocket(_) => "websocket",
            MutationConfig::Shell(_) => "shell",
            MutationConfig::None => "none",
        }
    }
}

/// The HTTP mutation hook: one request per change. Templates are `METHOD PATH`; bodies are
/// JSON templates. Placeholders `{pk}`, `{username}`, `{email}` and `{password}` are replaced
/// (JSON-escaped in bodies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpMutation {
    /// `http://HOST:PORT` of the admin API; default: the host and port of `url`.
    pub base_url: Option<String>,
    /// Request that creates an instance; the response body is its JSON.
    pub create: String,
    /// Body of the create request.
    pub create_body: String,
    /// Request that changes an instance.
    pub update: String,
    /// Body of the update request.
    pub update_body: String,
    /// Request that deletes an instance.
    pub delete: String,
    /// Key of the primary key in the created instance's JSON.
    pub pk_field: String,
    /// Extra headers sent with every request (an `Authorization` bearer token, say). Every
    /// request with a body also carries `Content-Type: application/json`.
    pub headers: BTreeMap<String, String>,
}

impl Default for HttpMutation {
    fn default() -> Self {
        HttpMutation {
            base_url: None,
            create: "POST /admin/users".into(),
            create_body:
                r#"{"username": "{username}", "email": "{email}", "password": "{password}"}"#.into(),
            update: "PATCH /admin/users/{pk}".into(),
            update_body: r#"{"username": "{username}", "email": "{email}"}"#.into(),
            delete: "DELETE /admin/users/{pk}".into(),
            pk_field: "id".into(),
            headers: BTreeMap::new(),
        }
    }
}

impl HttpMutation {
    /// The admin API's base URL: `base_url`, or `http://HOST:PORT` of the observer URL.
    pub fn base_url(&self, observer_url: &str) -> Result<String, Error> {
        if let Some(base) = &self.base_url {
            return Ok(base.trim_end_matches('/').to_owned());
        }
        let url = parse_url(observer_url, "ws").map_err(Error::InvalidTarget)?;
        let host = url.host_str().unwrap_or_default();
        Ok(match url.port() {
            Some(port) => format!("http://{host}:{port}"),
            None => format!("http://{host}"),
        })
    }

    /// Checks the templates' methods and the extra headers.
    fn validate(&self) -> Result<(), Error> {
        for (key, template) in [
            ("create", &self.create),
            ("update", &self.update),
            ("delete", &self.delete),
        ] {
            let method = template.split_whitespace().next().unwrap_or_default();
            if template.split_whitespace().count() != 2
                || template.chars().any(char::is_control)
                || reqwest::Method::from_bytes(method.as_bytes()).is_err()
            {
                return Err(Error::InvalidTarget(format!(
                    "mutation.{key}: {template:?} is not \"METHOD /path\""
                )));
            }
        }
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::InvalidTarget(format!("mutation.headers: {name:?} is not a header name"))
            })?;
            reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                Error::InvalidTarget(format!(
                    "mutation.headers.{name}: the value is not a valid header value"
                ))
            })?;
        }
        Ok(())
    }
}

/// The WebSocket mutation hook: DCRF's `create`, `patch` and `delete` actions (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketMutation {
    /// The CRUD endpoint; default: the target's `full_url`.
    pub url: Option<String>,
    /// Extra fields sent with `create` besides username and email (the seed serializer
    /// requires a password).
    pub create_extra: serde_json::Map<String, Value>,
    /// Key of the primary key in the created instance's JSON.
    pub pk_field: String,
}

impl Default for WebSocketMutation {
    fn default() -> Self {
        let mut create_extra = serde_json::Map::new();
        create_extra.insert("password".into(), Value::from(DEFAULT_PASSWORD));
        WebSocketMutation {
            url: None,
            create_extra,
            pk_field: "id".into(),
        }
    }
}

/// The shell mutation hook: `sh -c` command templates. Placeholders `{pk}`, `{username}`,
/// `{email}`, `{password}` are replaced by shell-quoted values. `create` prints the new
/// instance as JSON (or just its primary key) on stdout; a non-zero exit is a hook failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShellMutation {
    /// Command that creates an instance.
    pub create: String,
    /// Command that changes an instance.
    pub update: String,
    /// Command that deletes an instance.
    pub delete: String,
    /// Key of the primary key when `create` prints JSON.
    pub pk_field: String,
    /// Milliseconds a command may run.
    pub timeout_ms: u64,
}

impl Default for ShellMutation {
    fn default() -> Self {
        ShellMutation {
            create: String::new(),
            update: String::new(),
            delete: String::new(),
            pk_field: "id".into(),
            timeout_ms: 10_000,
        }
    }
}

impl ShellMutation {
    /// How long a command may run.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The password the hooks give the instances they create.
pub const DEFAULT_PASSWORD: &str = "conformance-password";

/// Parses `url` (WHATWG rules, so IPv6 literals such as `ws://[::1]:8000/ws/` work),
/// requiring `scheme` and a host.
pub(crate) fn parse_url(url: &str, scheme: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("{url:?}: {error}"))?;
    if parsed.scheme() != scheme {
        return Err(if matches!(parsed.scheme(), "wss" | "https") {
            format!("{url:?}: TLS is not supported; use {scheme}://")
        } else {
            format!("{url:?} is not a {scheme}:// URL")
        });
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let url = parse_url("ws://127.0.0.1:8000/ws/", "ws").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        assert_eq!(url.port(), Some(8000));
        assert_eq!(url.path(), "/ws/");
        let url = parse_url("http://localhost", "http").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((url.port_or_known_default(), url.path()), (Some(80), "/"));
        assert!(parse_url("wss://x/ws/", "ws").is_err());
        assert!(parse_url("ws://:80/", "ws").is_err());
        assert!(parse_url("http://x/", "ws").is_err());
        let url = parse_url("ws://[::1]/ws/", "ws").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.host_str(), Some("[::1]"));
    }

    #[test]
    fn the_admin_api_of_an_ipv6_observer_keeps_its_brackets() {
        let http = HttpMutation::default();
        let base = |url: &str| http.base_url(url).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(base("ws://[::1]:8000/ws/"), "http://[::1]:8000");
        assert_eq!(base("ws://[::1]/ws/"), "http://[::1]");
        assert_eq!(base("ws://127.0.0.1:9/ws/"), "http://127.0.0.1:9");
    }

    #[test]
    fn bad_hook_headers_and_templates_are_refused() {
        let mut target = Target::new("ws://127.0.0.1:1/ws/");
        let MutationConfig::Http(http) = &mut target.mutation else {
            panic!("the default hook is http");
        };
        http.headers
            .insert("Authorization".into(), "Bearer t0ken".into());
        target.validate().unwrap_or_else(|e| panic!("{e}"));
        let mut bad = target.clone();
        if let MutationConfig::Http(http) = &mut bad.mutation {
            http.headers
                .insert("X-Bad".into(), "a\r\nInjected: 1".into());
        }
        assert!(bad.validate().is_err());
        let mut bad = target.clone();
        if let MutationConfig::Http(http) = &mut bad.mutation {
            http.headers.insert("Bad Name".into(), "1".into());
        }
        assert!(bad.validate().is_err());
        let mut bad = target;
        if let MutationConfig::Http(http) = &mut bad.mutation {
            http.update = "PATCH\r\n /admin".into();
        }
        assert!(bad.validate().is_err());
    }

    #[test]
    fn reads_the_example_config() {
        let text = include_str!("../examples/django-target.toml");
        let target: Target = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        target.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target.lookup_field, "pk");
    }

    #[test]
    fn interop_layout_derives_endpoints() {
        let target = Target::interop_layout("ws://127.0.0.1:1/ws/");
        assert_eq!(
            target.full_url.as_deref(),
            Some("ws://127.0.0.1:1/ws/full/")
        );
        assert_eq!(
            target.multiplexed_url.as_deref(),
            Some("ws://127.0.0.1:1/ws/multiplexed/")
        );
        match &target.mutation {
            MutationConfig::Http(http) => assert_eq!(
                http.base_url(&target.url).unwrap_or_else(|e| panic!("{e}")),
                "http://127.0.0.1:1"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
}
