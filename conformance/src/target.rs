//! The server under test: its endpoints, how to connect to them, the model it serves, the
//! instances the cases may use, and how to change instances out of band.
//!
//! A target is read from a TOML file (every key is also a command-line flag). With no key
//! at all it describes the lab layout of this repository (a `User` with `username`, `email`
//! and a write-only `password`, served by the reference server or `interop/dcrf`, changed
//! through their admin API); a real app declares its own model:
//!
//! ```toml
//! url = "wss://shop.example/api/live/products/"        # observer endpoint (SPEC §5), required
//! full_url = "wss://shop.example/api/live/products/crud/"   # optional: CRUD actions (SPEC §6)
//! multiplexed_url = "wss://shop.example/ws/multiplexed/"    # optional: SPEC §8
//! stream = "products"
//! nodes = ["ws://10.0.0.2:8000/api/live/products/"]     # optional: other processes (SPEC 5.10)
//!
//! # The model as the serializer shows it.
//! lookup_field = "pk"
//! pk_kind = "uuid"                                      # integer | uuid | string
//! existing_pk = "00000000-0000-4000-8000-000000000001"  # any JSON value
//! missing_pk = "00000000-0000-4000-8000-0000000000ff"
//! expected_fields = ["id", "name", "price"]
//! write_only_fields = ["secret_note"]
//! change_field = "name"                # a writable text field; the cases set unique values
//! create_body = '{"name": "{value}", "price": "9.99"}'  # a new instance's fields
//!
//! # Handshake. "${VAR}" is replaced by the environment variable VAR when the file is read.
//! origin = "https://shop.example"
//! subprotocols = []
//! [headers]
//! Authorization = "Bearer ${SHOP_TOKEN}"
//!
//! [mutation]
//! kind = "http"                                         # or "websocket", "shell", "none"
//! base_url = "https://shop.example"
//! create = "POST /hook/products/"
//! update = "PATCH /hook/products/{pk}/"
//! update_body = '{"{field}": "{value}"}'
//! delete = "DELETE /hook/products/{pk}/"
//! pk_pointer = "/product/id"                            # where the created pk is in the answer
//! [mutation.headers]
//! Authorization = "Bearer ${SHOP_TOKEN}"
//! ```
//!
//! Templates (hook requests and bodies, shell commands, `create_body`) take the
//! placeholders `{pk}`, `{field}` (the `change_field`) and `{value}` (the value the case
//! gives it); each is escaped for where it stands (a path segment, a JSON string, a shell
//! word). The lab layout's older placeholders `{username}`, `{email}` and `{password}` still
//! work. TLS (`wss://`, `https://`) trusts the platform's roots, or `ca_file` (a PEM file),
//! or anything with `insecure = true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// A server under test (see the module documentation for the TOML form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Target {
    /// WebSocket URL (`ws://` or `wss://`, kept verbatim with its query string, so a
    /// `?token=...` works) of the observer endpoint: `retrieve`, `subscribe_instance`,
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
    /// Lookup value of an instance that exists and that no case changes (any JSON value: a
    /// number, a UUID string, a slug).
    pub existing_pk: Value,
    /// Lookup value that names no instance.
    pub missing_pk: Value,
    /// The lookup argument's key (SPEC §3.3).
    pub lookup_field: String,
    /// The kind of the lookup values; default: `integer` when `existing_pk` is a number,
    /// `string` otherwise. `existing_pk` and `missing_pk` must be of this kind.
    pub pk_kind: Option<PkKind>,
    /// Fields a serialized instance carries; a `retrieve` reply must hold each of them.
    pub expected_fields: Vec<String>,
    /// Fields that must never appear in a serialized instance (SPEC §5.1.2).
    pub write_only_fields: Vec<String>,
    /// A writable text field the cases change: they give it values unique per run and per
    /// case (`c5.5.1-1-1a2b3c4d`, then `...-v2`), at most 40 characters or so, made of
    /// letters, digits, `.` and `-`, and look for them in events and replies.
    pub change_field: String,
    /// JSON template of a new instance's fields, for the CRUD endpoint's `create` and
    /// `update` actions and, unless `[mutation]` has its own, the hooks' create: every field
    /// the serializer requires, `{value}` where the `change_field` goes.
    pub create_body: String,
    /// Extra headers of every WebSocket handshake (`Authorization`, `Cookie`, ...).
    pub headers: BTreeMap<String, String>,
    /// The `Origin` header of every handshake (Channels' `AllowedHostsOriginValidator`
    /// refuses a handshake without one). None: no Origin header.
    pub origin: Option<String>,
    /// Subprotocols offered in `Sec-WebSocket-Protocol`; the server must pick one.
    pub subprotocols: Vec<String>,
    /// A PEM file of certificates trusted for `wss://` and `https://` instead of the
    /// platform's roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Accepts any server certificate (self-signed development certificates). Never against
    /// a server you do not control.
    pub insecure: bool,
    /// How the harness creates, changes and deletes instances out of band.
    pub mutation: MutationConfig,
}

/// The kind of an app's lookup values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PkKind {
    /// A JSON integer (`AutoField`, `BigAutoField`).
    Integer,
    /// A UUID string, `"00000000-0000-4000-8000-000000000001"`.
    Uuid,
    /// Any other string (a slug, say).
    String,
}

impl PkKind {
    /// The name used in TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            PkKind::Integer => "integer",
            PkKind::Uuid => "uuid",
            PkKind::String => "string",
        }
    }

    /// Whether `value` is a lookup value of this kind.
    pub fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (PkKind::Integer, Value::Number(number)) => number.is_i64() || number.is_u64(),
            (PkKind::Uuid, Value::String(text)) => is_uuid(text),
            (PkKind::String, Value::String(text)) => !text.is_empty(),
            _ => false,
        }
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The lab layout's model: a `User` (the reference server, `interop/dcrf`).
const LAB_CHANGE_FIELD: &str = "username";
/// The lab layout's new user: the unique username, an email derived from it, a password.
const LAB_CREATE_BODY: &str =
    r#"{"{field}": "{value}", "email": "{value}@conformance.example", "password": "{password}"}"#;

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
            pk_kind: None,
            expected_fields: vec!["id".into(), "username".into(), "email".into()],
            write_only_fields: vec!["password".into()],
            change_field: LAB_CHANGE_FIELD.to_owned(),
            create_body: LAB_CREATE_BODY.to_owned(),
            headers: BTreeMap::new(),
            origin: None,
            subprotocols: Vec::new(),
            ca_file: None,
            insecure: false,
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
    /// and the admin HTTP API on the same port is the mutation hook (`POST /admin/steps`
    /// inserts a row with a deleted key again, for SPEC 5.6.3).
    pub fn interop_layout(url: impl Into<String>) -> Self {
        let url = url.into();
        let base = url.trim_end_matches('/').to_owned();
        let mut target = Target {
            full_url: Some(format!("{base}/full/")),
            multiplexed_url: Some(format!("{base}/multiplexed/")),
            ..Target::new(url)
        };
        if let MutationConfig::Http(http) = &mut target.mutation {
            // Both interop servers run ORM-like steps at POST /admin/steps; an `insert` puts a
            // row with a given key (SPEC 5.6.3).
            http.recreate = Some(INTEROP_RECREATE.to_owned());
            http.recreate_body = Some(INTEROP_RECREATE_BODY.to_owned());
        }
        target
    }

    /// Reads a target from a TOML file, replacing `${VAR}` in every string by the
    /// environment variable `VAR` (a variable that is not set is an error naming it).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, |name| std::env::var(name).ok()).map_err(|why| Error::Config {
            path: path.to_owned(),
            why,
        })
    }

    /// Reads a target from TOML text; `env` looks up the variables of `${VAR}`. The error is
    /// one line naming the key at fault.
    pub fn from_toml(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let message = error.message().trim().replace('\n', " ");
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
        for (key, value) in &mut table {
            expand_env(value, key, &env)?;
        }
        toml::Value::Table(table)
            .try_into::<Target>()
            .map_err(|error| error.message().trim().replace('\n', " "))
    }

    /// The kind of the lookup values: `pk_kind`, or what `existing_pk` looks like.
    pub fn pk_kind(&self) -> PkKind {
        self.pk_kind.unwrap_or(match &self.existing_pk {
            Value::Number(_) => PkKind::Integer,
            _ => PkKind::String,
        })
    }

    /// Every WebSocket URL of the target, with its key.
    pub fn ws_urls(&self) -> Vec<(&'static str, &str)> {
        let mut urls = vec![("url", self.url.as_str())];
        if let Some(url) = &self.full_url {
            urls.push(("full_url", url));
        }
        if let Some(url) = &self.multiplexed_url {
            urls.push(("multiplexed_url", url));
        }
        urls.extend(self.nodes.iter().map(|node| ("nodes", node.as_str())));
        urls
    }

    /// The instance fields for a new instance whose `change_field` is `value`: `create_body`
    /// filled in. Validated by [`Target::validate`]; an unfillable template gives the bare
    /// `{change_field: value}`.
    pub fn create_data(&self, value: &str) -> Value {
        let filled = Placeholders::new(&self.change_field, value, None).json(&self.create_body);
        serde_json::from_str::<Value>(&filled)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| serde_json::json!({ self.change_field.clone(): value }))
    }

    /// Checks that the target can be used: a `ws://` or `wss://` URL for every endpoint, a
    /// lookup value of the declared kind, templates that fill into JSON objects and name
    /// `{pk}` where an instance must be named, valid headers. The message names the key.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |key: &str, why: String| Error::InvalidTarget(format!("{key}: {why}"));
        if self.url.is_empty() {
            return Err(Error::InvalidTarget(
                "no url: give --url, a config with `url`, or neither (embedded server)".into(),
            ));
        }
        for (key, url) in self.ws_urls() {
            parse_url(url, &["ws", "wss"]).map_err(|why| invalid(key, why))?;
        }
        if self.lookup_field.is_empty() {
            return Err(invalid("lookup_field", "must not be empty".into()));
        }
        if self.change_field.is_empty() {
            return Err(invalid("change_field", "must not be empty".into()));
        }
        let kind = self.pk_kind();
        for (key, pk) in [
            ("existing_pk", &self.existing_pk),
            ("missing_pk", &self.missing_pk),
        ] {
            if !kind.admits(pk) {
                return Err(invalid(
                    key,
                    format!("{pk} is not a lookup value of pk_kind {:?}", kind.as_str()),
                ));
            }
        }
        if self.existing_pk == self.missing_pk {
            return Err(invalid(
                "missing_pk",
                "must differ from existing_pk".to_owned(),
            ));
        }
        check_json_template("create_body", &self.create_body, &self.change_field)?;
        check_headers("headers", &self.headers)?;
        if let Some(origin) = &self.origin {
            check_header_value("origin", origin)?;
        }
        for protocol in &self.subprotocols {
            if protocol.is_empty()
                || !protocol
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            {
                return Err(invalid(
                    "subprotocols",
                    format!("{protocol:?} is not a subprotocol token"),
                ));
            }
        }
        if self.insecure && self.ca_file.is_some() {
            return Err(invalid(
                "insecure",
                "excludes ca_file: trust a private CA or every certificate, not both".into(),
            ));
        }
        match &self.mutation {
            MutationConfig::Http(http) => {
                let base = http.base_url(&self.url)?;
                parse_url(&base, &["http", "https"])
                    .map_err(|why| invalid("mutation.base_url", why))?;
                http.validate(&self.change_field)?;
            }
            MutationConfig::Websocket(ws) => {
                let url = ws.url.as_ref().or(self.full_url.as_ref()).ok_or_else(|| {
                    Error::InvalidTarget(
                        "mutation kind \"websocket\" needs mutation.url or full_url".into(),
                    )
                })?;
                parse_url(url, &["ws", "wss"]).map_err(|why| invalid("mutation.url", why))?;
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
                    if key != "create" && !template.contains("{pk}") {
                        return Err(invalid(
                            &format!("mutation.{key}"),
                            format!(
                                "{template:?} has no {{pk}}: the command must name the instance"
                            ),
                        ));
                    }
                }
            }
            MutationConfig::None => {}
        }
        Ok(())
    }
}

/// Replaces `${NAME}` in every string of `value` (a TOML value at `key`) by the variable.
fn expand_env(
    value: &mut toml::Value,
    key: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match value {
        toml::Value::String(text) if text.contains("${") => {
            *text = expand_text(text, key, env)?;
        }
        toml::Value::Array(items) => {
            for item in items {
                expand_env(item, key, env)?;
            }
        }
        toml::Value::Table(table) => {
            for (name, item) in table {
                expand_env(item, &format!("{key}.{name}"), env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_text(
    text: &str,
    key: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{key}: \"${{\" without a closing \"}}\""))?;
        let name = &after[..end];
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!(
                "{key}: \"${{{name}}}\" is not an environment variable name"
            ));
        }
        let value =
            env(name).ok_or_else(|| format!("{key}: environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn check_header_value(key: &str, value: &str) -> Result<(), Error> {
    reqwest::header::HeaderValue::from_str(value)
        .map(drop)
        .map_err(|_| Error::InvalidTarget(format!("{key}: the value is not a valid header value")))
}

fn check_headers(key: &str, headers: &BTreeMap<String, String>) -> Result<(), Error> {
    for (name, value) in headers {
        reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::InvalidTarget(format!("{key}: {name:?} is not a header name")))?;
        check_header_value(&format!("{key}.{name}"), value)?;
    }
    Ok(())
}

/// Checks that a JSON template fills into a JSON object.
fn check_json_template(key: &str, template: &str, field: &str) -> Result<(), Error> {
    let filled =
        Placeholders::new(field, "c1.1.1-1-0a1b2c3d", Some(&Value::from(7))).json(template);
    match serde_json::from_str::<Value>(&filled) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(other) => Err(Error::InvalidTarget(format!(
            "{key}: fills into {other}, not a JSON object"
        ))),
        Err(error) => Err(Error::InvalidTarget(format!(
            "{key}: {template:?} does not fill into JSON ({error})"
        ))),
    }
}

/// The values of a template's placeholders: `{pk}`, `{field}`, `{value}`, and the lab
/// layout's `{username}` (the value), `{email}` (derived from it) and `{password}`.
#[derive(Debug, Clone)]
pub(crate) struct Placeholders {
    pairs: Vec<(&'static str, String)>,
}

impl Placeholders {
    /// The values for a change of `field` to `value` on instance `pk` (None: not created yet).
    pub(crate) fn new(field: &str, value: &str, pk: Option<&Value>) -> Self {
        let pk = match pk {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        Placeholders {
            pairs: vec![
                ("{pk}", pk),
                ("{field}", field.to_owned()),
                ("{value}", value.to_owned()),
                ("{username}", value.to_owned()),
                ("{email}", format!("{value}@conformance.example")),
                ("{password}", DEFAULT_PASSWORD.to_owned()),
            ],
        }
    }

    /// Replaces every placeholder in one pass (a value holding `{pk}` stays as it is), each
    /// value passed through `escape`.
    pub(crate) fn fill(&self, template: &str, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        'outer: while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            for (name, value) in &self.pairs {
                if let Some(after) = tail.strip_prefix(name) {
                    out.push_str(&escape(value));
                    rest = after;
                    continue 'outer;
                }
            }
            out.push('{');
            rest = &tail[1..];
        }
        out.push_str(rest);
        out
    }

    /// Fills a JSON template: values escaped for a JSON string literal.
    pub(crate) fn json(&self, template: &str) -> String {
        self.fill(template, |text| {
            let quoted = Value::from(text).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        })
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

/// The HTTP mutation hook: one request per change. Templates are `METHOD PATH` (placeholders
/// percent-encoded as one path segment); bodies are JSON templates (placeholders JSON-escaped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpMutation {
    /// `http(s)://HOST:PORT` of the admin API; default: the host and port of `url`.
    pub base_url: Option<String>,
    /// Request that creates an instance; the answer is JSON holding its pk.
    pub create: String,
    /// Body of the create request; default: the target's `create_body`.
    pub create_body: Option<String>,
    /// Request that changes an instance (`{pk}` in the path or the body).
    pub update: String,
    /// Body of the update request.
    pub update_body: String,
    /// Request that deletes an instance (`{pk}` in the path).
    pub delete: String,
    /// Key of the primary key in the create answer (a top-level key), when `pk_pointer` is
    /// not given.
    pub pk_field: String,
    /// JSON pointer (RFC 6901) to the created instance's pk in the create answer, for an
    /// API that wraps the instance: `/product/id`.
    pub pk_pointer: Option<String>,
    /// Extra headers sent with every request (an `Authorization` bearer token, say). Every
    /// request with a body also carries `Content-Type: application/json`.
    pub headers: BTreeMap<String, String>,
    /// Request that inserts a row with the key of a deleted instance again (`{pk}` in the
    /// path or the body), for SPEC 5.6.3: `POST /admin/steps` on the interop servers.
    /// Without it the re-creation case is skipped.
    pub recreate: Option<String>,
    /// Body of the recreate request (JSON template over `{pk}`, `{field}`, `{value}`).
    pub recreate_body: Option<String>,
}

impl Default for HttpMutation {
    fn default() -> Self {
        HttpMutation {
            base_url: None,
            create: "POST /admin/users".into(),
            create_body: None,
            update: "PATCH /admin/users/{pk}".into(),
            update_body: r#"{"{field}": "{value}"}"#.into(),
            delete: "DELETE /admin/users/{pk}".into(),
            pk_field: "id".into(),
            pk_pointer: None,
            headers: BTreeMap::new(),
            recreate: None,
            recreate_body: None,
        }
    }
}

impl HttpMutation {
    /// The admin API's base URL: `base_url`, or `http(s)://HOST:PORT` of the observer URL.
    pub fn base_url(&self, observer_url: &str) -> Result<String, Error> {
        if let Some(base) = &self.base_url {
            return Ok(base.trim_end_matches('/').to_owned());
        }
        let url = parse_url(observer_url, &["ws", "wss"]).map_err(Error::InvalidTarget)?;
        let scheme = if url.scheme() == "wss" {
            "https"
        } else {
            "http"
        };
        let host = url.host_str().unwrap_or_default();
        Ok(match url.port() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        })
    }

    /// The JSON pointer of the created pk: `pk_pointer`, or `/pk_field`.
    pub fn pk_pointer(&self) -> String {
        match &self.pk_pointer {
            Some(pointer) => pointer.clone(),
            None => format!("/{}", self.pk_field.replace('~', "~0").replace('/', "~1")),
        }
    }

    /// Checks the templates (methods, `{pk}` where an instance is named, bodies that fill
    /// into JSON objects), the pk pointer and the extra headers.
    fn validate(&self, field: &str) -> Result<(), Error> {
        for (key, template) in [
            ("create", &self.create),
            ("update", &self.update),
            ("delete", &self.delete),
        ]
        .into_iter()
        .chain(self.recreate.iter().map(|t| ("recreate", t)))
        {
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
        if !self.update.contains("{pk}") && !self.update_body.contains("{pk}") {
            return Err(Error::InvalidTarget(format!(
                "mutation.update: {:?} has no {{pk}} (nor has update_body): the request must name the instance",
                self.update
            )));
        }
        if !self.delete.contains("{pk}") {
            return Err(Error::InvalidTarget(format!(
                "mutation.delete: {:?} has no {{pk}}: the request must name the instance",
                self.delete
            )));
        }
        if let Some(body) = &self.create_body {
            check_json_template("mutation.create_body", body, field)?;
        }
        check_json_template("mutation.update_body", &self.update_body, field)?;
        if let Some(recreate) = &self.recreate {
            let body = self.recreate_body.as_deref().unwrap_or_default();
            if !recreate.contains("{pk}") && !body.contains("{pk}") {
                return Err(Error::InvalidTarget(format!(
                    "mutation.recreate: {recreate:?} has no {{pk}} (nor has recreate_body): the request must name the key to insert again"
                )));
            }
            if let Some(body) = &self.recreate_body {
                check_json_template("mutation.recreate_body", body, field)?;
            }
        } else if self.recreate_body.is_some() {
            return Err(Error::InvalidTarget(
                "mutation.recreate_body is set but mutation.recreate is not".into(),
            ));
        }
        if let Some(pointer) = &self.pk_pointer
            && !pointer.is_empty()
            && !pointer.starts_with('/')
        {
            return Err(Error::InvalidTarget(format!(
                "mutation.pk_pointer: {pointer:?} is not a JSON pointer (it starts with \"/\", as in \"/product/id\")"
            )));
        }
        check_headers("mutation.headers", &self.headers)
    }
}

/// The WebSocket mutation hook: DCRF's `create`, `patch` and `delete` actions (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketMutation {
    /// The CRUD endpoint; default: the target's `full_url`.
    pub url: Option<String>,
    /// Extra fields sent with `create` besides the target's `create_body`.
    pub create_extra: serde_json::Map<String, Value>,
    /// Key of the primary key in the created instance's JSON.
    pub pk_field: String,
}

impl Default for WebSocketMutation {
    fn default() -> Self {
        WebSocketMutation {
            url: None,
            create_extra: serde_json::Map::new(),
            pk_field: "id".into(),
        }
    }
}

/// The shell mutation hook: `sh -c` command templates. Placeholders `{pk}`, `{field}`,
/// `{value}` (and the lab layout's `{username}`, `{email}`, `{password}`) are replaced by
/// shell-quoted values. `create` prints the new instance as JSON (or just its primary key)
/// on stdout; a non-zero exit is a hook failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShellMutation {
    /// Command that creates an instance.
    pub create: String,
    /// Command that changes an instance (`{pk}` required).
    pub update: String,
    /// Command that deletes an instance (`{pk}` required).
    pub delete: String,
    /// Key of the primary key when `create` prints JSON.
    pub pk_field: String,
    /// Milliseconds a command may run.
    pub timeout_ms: u64,
    /// Command that inserts a row with the key `{pk}` of a deleted instance again (SPEC
    /// 5.6.3); without it the re-creation case is skipped.
    pub recreate: Option<String>,
}

impl Default for ShellMutation {
    fn default() -> Self {
        ShellMutation {
            create: String::new(),
            update: String::new(),
            delete: String::new(),
            pk_field: "id".into(),
            timeout_ms: 10_000,
            recreate: None,
        }
    }
}

impl ShellMutation {
    /// How long a command may run.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The recreate request of the interop layout ([`Target::interop_layout`]).
pub const INTEROP_RECREATE: &str = "POST /admin/steps";

/// The body of [`INTEROP_RECREATE`]: one `insert` step, outside a transaction.
pub const INTEROP_RECREATE_BODY: &str = r#"{"atomic": false, "steps": [{"op": "insert", "pk": {pk}, "set": {"username": "{value}", "email": "{email}"}}]}"#;

/// The password the lab layout's hooks give the users they create (`{password}`).
pub const DEFAULT_PASSWORD: &str = "conformance-password";

/// Parses `url` (WHATWG rules, so IPv6 literals such as `ws://[::1]:8000/ws/` work),
/// requiring one of `schemes` and a host.
pub(crate) fn parse_url(url: &str, schemes: &[&str]) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("{url:?}: {error}"))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(format!(
            "{url:?} is not a {} URL",
            schemes
                .iter()
                .map(|scheme| format!("{scheme}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
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
        let url = parse_url("ws://127.0.0.1:8000/ws/", &["ws"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        assert_eq!(url.port(), Some(8000));
        assert_eq!(url.path(), "/ws/");
        let url = parse_url("http://localhost", &["http"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((url.port_or_known_default(), url.path()), (Some(80), "/"));
        assert!(parse_url("wss://x/ws/", &["ws"]).is_err());
        assert!(parse_url("wss://x/ws/", &["ws", "wss"]).is_ok());
        assert!(parse_url("ws://:80/", &["ws"]).is_err());
        assert!(parse_url("http://x/", &["ws"]).is_err());
        let url = parse_url("ws://[::1]/ws/", &["ws"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.host_str(), Some("[::1]"));
    }

    #[test]
    fn the_admin_api_of_an_ipv6_observer_keeps_its_brackets() {
        let http = HttpMutation::default();
        let base = |url: &str| http.base_url(url).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(base("ws://[::1]:8000/ws/"), "http://[::1]:8000");
        assert_eq!(base("ws://[::1]/ws/"), "http://[::1]");
        assert_eq!(base("ws://127.0.0.1:9/ws/"), "http://127.0.0.1:9");
        assert_eq!(base("wss://shop.example/ws/"), "https://shop.example");
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

    /// The error of a config text, with `SHOP_TOKEN` set to "t0ken".
    fn config_error(text: &str) -> String {
        let env = |name: &str| (name == "SHOP_TOKEN").then(|| "t0ken".to_owned());
        match Target::from_toml(text, env) {
            Ok(target) => match target.validate() {
                Ok(()) => panic!("accepted: {text}"),
                Err(error) => error.to_string(),
            },
            Err(why) => why,
        }
    }

    #[test]
    fn reads_the_shop_config_with_its_secret_from_the_environment() {
        let text = include_str!("../../interop/shop/conformance.toml");
        let env = |name: &str| (name == "SHOP_TOKEN").then(|| "t0ken".to_owned());
        let target = Target::from_toml(text, env).unwrap_or_else(|e| panic!("{e}"));
        target.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target.pk_kind(), PkKind::Uuid);
        assert_eq!(target.change_field, "name");
        assert_eq!(target.headers["Authorization"], "Bearer t0ken");
        assert_eq!(target.nodes.len(), 1);
        let MutationConfig::Http(http) = &target.mutation else {
            panic!("an http hook");
        };
        assert_eq!(http.headers["Authorization"], "Bearer t0ken");
        assert_eq!(http.pk_pointer(), "/product/id");
        let data = target.create_data("c5.5.1-1-abc");
        assert_eq!(data["name"], "c5.5.1-1-abc");
        assert_eq!(data["price"], "9.99");
        // Without the variable: one line naming it and the key.
        let error = Target::from_toml(text, |_| None).expect_err("SHOP_TOKEN is not set");
        assert!(
            error.contains("environment variable SHOP_TOKEN is not set"),
            "{error}"
        );
        assert!(
            error.starts_with("headers.Authorization")
                || error.starts_with("url")
                || error.starts_with("mutation"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn bad_configs_get_one_line_naming_the_key() {
        let cases = [
            (
                "url = \"ws://h/ws/\"\nusername_field = \"x\"\n",
                "username_field",
            ),
            (
                "url = \"ws://h/ws/\"\n[mutation]\nkind = \"http\"\npk_ponter = \"/id\"\n",
                "pk_ponter",
            ),
            (
                "url = \"ws://h/ws/\"\n[mutation]\nkind = \"http\"\nupdate = \"PATCH /hook/products/\"\n",
                "mutation.update",
            ),
            (
                "url = \"ws://h/ws/\"\n[mutation]\nkind = \"http\"\ndelete = \"DELETE /x/\"\n",
                "mutation.delete",
            ),
            (
                "url = \"ws://h/ws/\"\n[mutation]\nkind = \"shell\"\ncreate = \"c\"\nupdate = \"u {value}\"\ndelete = \"d {pk}\"\n",
                "mutation.update",
            ),
            (
                "url = \"ws://h/ws/\"\n[mutation]\nkind = \"http\"\npk_pointer = \"product/id\"\n",
                "mutation.pk_pointer",
            ),
            (
                "url = \"ws://h/ws/\"\npk_kind = \"uuid\"\nexisting_pk = 1\n",
                "existing_pk",
            ),
            (
                "url = \"ws://h/ws/\"\npk_kind = \"uuid\"\nexisting_pk = \"00000000-0000-4000-8000-000000000001\"\nmissing_pk = \"nope\"\n",
                "missing_pk",
            ),
            (
                "url = \"ws://h/ws/\"\ncreate_body = \"{value}\"\n",
                "create_body",
            ),
            (
                "url = \"ws://h/ws/\"\n[headers]\nAuthorization = \"Bearer ${NOPE}\"\n",
                "headers.Authorization",
            ),
            (
                "url = \"ws://h/ws/\"\n[headers]\n\"Bad Name\" = \"1\"\n",
                "headers",
            ),
            ("url = \"ws://h/ws/\"\norigin = \"a\\r\\nb\"\n", "origin"),
            ("url = \"ftp://h/ws/\"\n", "url"),
            ("url = \"ws://h/ws/\"\nnodes = [\"http://h/\"]\n", "nodes"),
            (
                "url = \"ws://h/ws/\"\ninsecure = true\nca_file = \"ca.pem\"\n",
                "insecure",
            ),
            (
                "url = \"ws://h/ws/\"\nsubprotocols = [\"a b\"]\n",
                "subprotocols",
            ),
        ];
        for (text, key) in cases {
            let error = config_error(text);
            assert!(error.contains(key), "{key}: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
        // A syntax error names its line.
        let error =
            Target::from_toml("url = \"ws://h/ws/\"\nnodes = [\n", |_| None).expect_err("bad TOML");
        assert!(error.starts_with("line "), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn env_references_expand_everywhere_and_only_whole_names() {
        let env = |name: &str| match name {
            "A" => Some("1".to_owned()),
            "B_2" => Some("x}y".to_owned()),
            _ => None,
        };
        assert_eq!(
            expand_text("${A}-${B_2}$", "k", &env).as_deref(),
            Ok("1-x}y$")
        );
        assert_eq!(expand_text("{pk} $A", "k", &env).as_deref(), Ok("{pk} $A"));
        assert!(expand_text("${A", "k", &env).is_err());
        assert!(expand_text("${1A}", "k", &env).is_err());
        assert!(expand_text("${}", "k", &env).is_err());
    }

    #[test]
    fn the_lab_layout_is_the_default_model() {
        let target = Target::new("ws://127.0.0.1:1/ws/");
        target.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target.pk_kind(), PkKind::Integer);
        let data = target.create_data("c1-1-x");
        assert_eq!(
            data,
            serde_json::json!({"username": "c1-1-x", "email": "c1-1-x@conformance.example", "password": DEFAULT_PASSWORD})
        );
        assert!(PkKind::Uuid.admits(&Value::from("00000000-0000-4000-8000-0000000000ff")));
        assert!(!PkKind::Uuid.admits(&Value::from("00000000-0000-4000-8000-0000000000f")));
        assert!(!PkKind::Integer.admits(&Value::from(1.5)));
    }
}
