//! Out-of-band changes: the hook that creates, changes and deletes instances for the cases.
//!
//! Whatever the hook, a change sets the target's `change_field` to a value the case chose;
//! the templates of the target say how (see [`crate::target`]).

use std::time::Duration;

use dcrf_protocol::{Action, Request};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::Error;
use crate::target::{
    HttpMutation, MutationConfig, Placeholders, ShellMutation, Target, WebSocketMutation,
};
use crate::transport::Transport;
use crate::wire::{Conn, Recorder};

/// How long one hook operation may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest response body the HTTP hook reads.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// How much of a hook's answer an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// A hook ready to use, built from a target's `[mutation]` table.
#[derive(Debug, Clone)]
pub(crate) struct Mutator {
    /// The field a change sets (`change_field`).
    field: String,
    /// The target's `create_body`: a new instance's fields.
    instance_body: String,
    /// Fields never shown in the wire log's account of a change (write-only ones).
    write_only: Vec<String>,
    hook: Hook,
}

#[derive(Debug, Clone)]
enum Hook {
    Http {
        base: String,
        config: HttpMutation,
        client: reqwest::Client,
    },
    WebSocket {
        url: String,
        config: WebSocketMutation,
        lookup_field: String,
        transport: Transport,
    },
    Shell(ShellMutation),
    None,
}

/// An instance created by the hook.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Created {
    /// Its primary key.
    pub(crate) pk: Value,
    /// The hook's answer as JSON (may be just the pk for a shell hook).
    pub(crate) json: Value,
}

impl Mutator {
    pub(crate) fn from_target(target: &Target, transport: &Transport) -> Result<Mutator, Error> {
        let hook = match &target.mutation {
            MutationConfig::Http(config) => Hook::Http {
                base: config.base_url(&target.url)?,
                config: config.clone(),
                client: http_client(config, transport)?,
            },
            MutationConfig::Websocket(config) => Hook::WebSocket {
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
                transport: transport.clone(),
            },
            MutationConfig::Shell(config) => Hook::Shell(config.clone()),
            MutationConfig::None => Hook::None,
        };
        Ok(Mutator {
            field: target.change_field.clone(),
            instance_body: target.create_body.clone(),
            write_only: target.write_only_fields.clone(),
            hook,
        })
    }

    /// Whether the target can change instances at all.
    pub(crate) fn available(&self) -> bool {
        !matches!(self.hook, Hook::None)
    }

    fn placeholders(&self, value: &str, pk: Option<&Value>) -> Placeholders {
        Placeholders::new(&self.field, value, pk)
    }

    /// The JSON body template of a create.
    fn create_template(&self) -> &str {
        match &self.hook {
            Hook::Http { config, .. } => {
                config.create_body.as_deref().unwrap_or(&self.instance_body)
            }
            _ => &self.instance_body,
        }
    }

    /// The JSON body template of an update, if the hook sends one.
    fn update_template(&self) -> Option<&str> {
        match &self.hook {
            Hook::Http { config, .. } => Some(&config.update_body),
            _ => None,
        }
    }

    /// A JSON template filled for the wire log: the object without write-only fields, or
    /// `{field: value}` when it does not fill into an object.
    fn logged(&self, template: Option<&str>, value: &str, pk: Option<&Value>) -> Value {
        let filled = template
            .map(|template| self.placeholders(value, pk).json(template))
            .and_then(|text| serde_json::from_str::<Value>(&text).ok());
        match filled {
            Some(Value::Object(mut object)) => {
                for field in &self.write_only {
                    object.remove(field);
                }
                Value::Object(object)
            }
            _ => serde_json::json!({ self.field.clone(): value }),
        }
    }

    /// What a create with `value` sends, for the wire log.
    pub(crate) fn create_fields(&self, value: &str) -> Value {
        self.logged(Some(self.create_template()), value, None)
    }

    /// What an update of `pk` to `value` sends, for the wire log.
    pub(crate) fn update_fields(&self, pk: &Value, value: &str) -> Value {
        self.logged(self.update_template(), value, Some(pk))
    }

    /// Creates an instance whose `change_field` is `value`.
    pub(crate) async fn create(&self, value: &str) -> Result<Created, Error> {
        let fill = self.placeholders(value, None);
        match &self.hook {
            Hook::Http {
                base,
                config,
                client,
            } => {
                let (method, path) = split_template(&config.create)?;
                let path = fill_path(path, &fill);
                let body = fill.json(self.create_template());
                let response =
                    http_call(client, method, &format!("{base}{path}"), Some(body)).await?;
                if !(200..300).contains(&response.status) {
                    return Err(Error::Mutation(format!(
                        "{} answered {} {}",
                        config.create,
                        response.status,
                        excerpt(&response.body)
                    )));
                }
                let json: Value = serde_json::from_str(&response.body).map_err(|_| {
                    Error::Mutation(format!(
                        "{} answered a non-JSON body: {}",
                        config.create,
                        excerpt(&response.body)
                    ))
                })?;
                let pointer = config.pk_pointer();
                let pk = json
                    .pointer(&pointer)
                    .filter(|pk| pk.is_number() || pk.is_string())
                    .cloned()
                    .ok_or_else(|| {
                        Error::Mutation(format!(
                            "mutation.pk_pointer {pointer:?} finds no pk (a string or a number) in the answer of {}: {}",
                            config.create,
                            excerpt(&response.body)
                        ))
                    })?;
                Ok(Created { pk, json })
            }
            Hook::WebSocket {
                url,
                config,
                lookup_field,
                transport,
            } => {
                let filled = fill.json(&self.instance_body);
                let mut data = match serde_json::from_str::<Value>(&filled) {
                    Ok(Value::Object(object)) => object,
                    _ => {
                        let mut object = Map::new();
                        object.insert(self.field.clone(), Value::from(value));
                        object
                    }
                };
                data.extend(config.create_extra.clone());
                let request = Request::new(Action::Create).with_arg("data", Value::Object(data));
                let reply = ws_call(url, lookup_field, transport, request, 201).await?;
                let json = reply.get("data").cloned().unwrap_or(Value::Null);
                let pk = pk_of(&json, &config.pk_field)?;
                Ok(Created { pk, json })
            }
            Hook::Shell(config) => {
                let command = fill_shell(&config.create, &fill);
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
                            "create command printed no pk: {}",
                            excerpt(trimmed)
                        )));
                    }
                };
                Ok(Created { pk, json })
            }
            Hook::None => Err(Error::Mutation("the target has no mutation hook".into())),
        }
    }

    /// Sets the `change_field` of instance `pk` to `value` (saving it, so observers fire).
    pub(crate) async fn update(&self, pk: &Value, value: &str) -> Result<(), Error> {
        let fill = self.placeholders(value, Some(pk));
        match &self.hook {
            Hook::Http {
                base,
                config,
                client,
            } => {
                let (method, path) = split_template(&config.update)?;
                let path = fill_path(path, &fill);
                let body = fill.json(&config.update_body);
                let response =
                    http_call(client, method, &format!("{base}{path}"), Some(body)).await?;
                expect_2xx(&config.update, &response)
            }
            Hook::WebSocket {
                url,
                lookup_field,
                transport,
                ..
            } => {
                let mut data = Map::new();
                data.insert(self.field.clone(), Value::from(value));
                let request = Request::new(Action::Patch)
                    .with_arg(lookup_field.clone(), pk.clone())
                    .with_arg("data", Value::Object(data));
                ws_call(url, lookup_field, transport, request, 200)
                    .await
                    .map(drop)
            }
            Hook::Shell(config) => {
                let command = fill_shell(&config.update, &fill);
                shell(&command, config.timeout()).await.map(drop)
            }
            Hook::None => Err(Error::Mutation("the target has no mutation hook".into())),
        }
    }

    /// Whether the hook can insert a row with a deleted instance's key again.
    pub(crate) fn can_recreate(&self) -> bool {
        match &self.hook {
            Hook::Http { config, .. } => config.recreate.is_some(),
            Hook::Shell(config) => config.recreate.is_some(),
            Hook::WebSocket { .. } | Hook::None => false,
        }
    }

    /// What a re-creation of `pk` with `value` sends, for the wire log.
    pub(crate) fn recreate_fields(&self, pk: &Value, value: &str) -> Value {
        let template = match &self.hook {
            Hook::Http { config, .. } => config.recreate_body.as_deref(),
            _ => None,
        };
        self.logged(template, value, Some(pk))
    }

    /// Inserts a row with the key `pk` (of a deleted instance) again, its `change_field`
    /// set to `value`.
    pub(crate) async fn recreate(&self, pk: &Value, value: &str) -> Result<(), Error> {
        let fill = self.placeholders(value, Some(pk));
        let missing = || Error::Mutation("the hook has no recreate request".into());
        match &self.hook {
            Hook::Http {
                base,
                config,
                client,
            } => {
                let template = config.recreate.as_deref().ok_or_else(missing)?;
                let (method, path) = split_template(template)?;
                let path = fill_path(path, &fill);
                let body = config.recreate_body.as_deref().map(|body| fill.json(body));
                let response = http_call(client, method, &format!("{base}{path}"), body).await?;
                expect_2xx(template, &response)
            }
            Hook::Shell(config) => {
                let template = config.recreate.as_deref().ok_or_else(missing)?;
                let command = fill_shell(template, &fill);
                shell(&command, config.timeout()).await.map(drop)
            }
            Hook::WebSocket { .. } | Hook::None => Err(missing()),
        }
    }

    /// Deletes the instance `pk`.
    pub(crate) async fn delete(&self, pk: &Value) -> Result<(), Error> {
        let fill = self.placeholders("", Some(pk));
        match &self.hook {
            Hook::Http {
                base,
                config,
                client,
            } => {
                let (method, path) = split_template(&config.delete)?;
                let path = fill_path(path, &fill);
                let response = http_call(client, method, &format!("{base}{path}"), None).await?;
                expect_2xx(&config.delete, &response)
            }
            Hook::WebSocket {
                url,
                lookup_field,
                transport,
                ..
            } => {
                let request =
                    Request::new(Action::Delete).with_arg(lookup_field.clone(), pk.clone());
                ws_call(url, lookup_field, transport, request, 204)
                    .await
                    .map(drop)
            }
            Hook::Shell(config) => {
                let command = fill_shell(&config.delete, &fill);
                shell(&command, config.timeout()).await.map(drop)
            }
            Hook::None => Err(Error::Mutation("the target has no mutation hook".into())),
        }
    }
}

/// The first [`EXCERPT_CHARS`] characters of a hook's answer, on one line.
fn excerpt(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = line.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < line.len() {
        format!("{cut}…")
    } else if cut.is_empty() {
        "(empty)".to_owned()
    } else {
        cut
    }
}

fn split_template(template: &str) -> Result<(&str, &str), Error> {
    template
        .trim()
        .split_once(' ')
        .map(|(method, path)| (method.trim(), path.trim()))
        .ok_or_else(|| Error::Mutation(format!("template {template:?} is not \"METHOD /path\"")))
}

/// Replaces the placeholders of a request path, each value percent-encoded as one path
/// segment: a `{pk}` holding `/`, `?`, CR or LF stays inside its segment.
fn fill_path(template: &str, fill: &Placeholders) -> String {
    fill.fill(template, encode_segment)
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn fill_shell(template: &str, fill: &Placeholders) -> String {
    fill.fill(template, shell_quote)
}

fn pk_of(json: &Value, pk_field: &str) -> Result<Value, Error> {
    json.get(pk_field)
        .filter(|pk| pk.is_number() || pk.is_string())
        .cloned()
        .ok_or_else(|| {
            Error::Mutation(format!(
                "created instance has no {pk_field:?}: {}",
                excerpt(&json.to_string())
            ))
        })
}

/// A response of the admin API: status and body (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    body: String,
}

/// The hook's HTTP client: keep-alive, no proxy, the config's extra headers on every
/// request, TLS through the transport's rustls configuration.
fn http_client(config: &HttpMutation, transport: &Transport) -> Result<reqwest::Client, Error> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    for (name, value) in &config.headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::InvalidTarget(format!("mutation.headers: {name:?} is not a header name"))
        })?;
        let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            Error::InvalidTarget(format!(
                "mutation.headers.{name}: the value is not a valid header value"
            ))
        })?;
        headers.insert(name, value);
    }
    reqwest::Client::builder()
        .user_agent("dcrf-conformance")
        .default_headers(headers)
        .no_proxy()
        .timeout(HOOK_TIMEOUT)
        .connect_timeout(HOOK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(rustls::ClientConfig::clone(&transport.tls()))
        .build()
        .map_err(|error| Error::Mutation(format!("cannot build the HTTP client: {error}")))
}

/// Sends `method url`, with a JSON body when given, and reads the whole (bounded) response.
async fn http_call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<String>,
) -> Result<HttpResponse, Error> {
    // The whole chain in one message: reqwest's own text names only the URL.
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| {
        let mut text = source.to_string();
        let mut cause = source.source();
        while let Some(inner) = cause {
            text.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        Error::Http {
            method: method.to_owned(),
            url: url.to_owned(),
            source: text.into(),
        }
    };
    let parsed_method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| Error::Mutation(format!("{method:?} is not an HTTP method")))?;
    let parsed_url = reqwest::Url::parse(url).map_err(|error| failed(Box::new(error)))?;
    let mut request = client.request(parsed_method, parsed_url);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    let mut response = request
        .send()
        .await
        .map_err(|error| failed(Box::new(error)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| failed(Box::new(error)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(failed(
                format!("the response body is larger than {MAX_RESPONSE_BYTES} bytes").into(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn expect_2xx(template: &str, response: &HttpResponse) -> Result<(), Error> {
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(Error::Mutation(format!(
            "{template} answered {} {}",
            response.status,
            excerpt(&response.body)
        )))
    }
}

/// Sends one request on a fresh connection and returns the reply, which must have `status`.
async fn ws_call(
    url: &str,
    lookup_field: &str,
    transport: &Transport,
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
        transport,
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Accepts one connection, reads one request (head and Content-Length body), answers
    /// `response` and closes; returns the request as text.
    async fn one_shot(listener: TcpListener, response: &'static [u8]) -> String {
        let (mut socket, _) = listener.accept().await.expect("a connection");
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let read = socket.read(&mut buffer).await.expect("reads");
            if read == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&request).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        socket.write_all(response).await.expect("writes");
        let _ = socket.shutdown().await;
        String::from_utf8_lossy(&request).into_owned()
    }

    /// A mutator whose admin API is `base`, with one extra header.
    fn mutator(base: String) -> Mutator {
        let mut http = HttpMutation {
            base_url: Some(base),
            ..HttpMutation::default()
        };
        http.headers
            .insert("Authorization".into(), "Bearer t0ken".into());
        let target = Target {
            mutation: MutationConfig::Http(http),
            ..Target::new("ws://127.0.0.1:1/ws/")
        };
        Mutator::from_target(&target, &Transport::default()).expect("a mutator")
    }

    /// Runs `create` against a one-shot server answering `response`.
    async fn create_against(response: &'static [u8]) -> (Result<Created, Error>, String) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("binds");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let server = tokio::spawn(one_shot(listener, response));
        let created = tokio::time::timeout(Duration::from_secs(20), mutator(base).create("u\"1"))
            .await
            .expect("the hook answers within its timeout");
        let request = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server ends")
            .expect("the server task");
        (created, request)
    }

    #[tokio::test]
    async fn the_http_hook_sends_json_with_its_content_type_and_extra_headers() {
        let (created, request) =
            create_against(b"HTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n{\"id\":7}").await;
        assert_eq!(created.expect("created").pk, Value::from(7));
        let lower = request.to_ascii_lowercase();
        assert!(
            request.starts_with("POST /admin/users HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            lower.contains("\r\ncontent-type: application/json\r\n"),
            "{request}"
        );
        assert!(
            lower.contains("\r\nauthorization: bearer t0ken\r\n"),
            "{request}"
        );
        let body = &request[request.find("\r\n\r\n").expect("a head") + 4..];
        let body: Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(body["username"], "u\"1");
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_error_not_a_success() {
        let (created, _) =
            create_against(b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{\"id\":7}").await;
        let error = created.expect_err("a truncated body fails");
        assert!(matches!(error, Error::Http { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_and_hostile_chunk_sizes_refused() {
        let (created, _) = create_against(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"i\r\n5\r\nd\":9}\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(created.expect("created").pk, Value::from(9));
        let (created, _) = create_against(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\nab\r\n",
        )
        .await;
        assert!(matches!(created, Err(Error::Http { .. })), "{created:?}");
    }

    #[tokio::test]
    async fn informational_responses_are_skipped() {
        let (created, _) = create_against(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n{\"id\":5}",
        )
        .await;
        assert_eq!(created.expect("created").pk, Value::from(5));
    }

    #[tokio::test]
    async fn a_pk_with_cr_lf_is_percent_encoded_in_the_request_line() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("binds");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let server = tokio::spawn(one_shot(listener, b"HTTP/1.1 204 No Content\r\n\r\n"));
        let pk = Value::from("1 HTTP/1.1\r\nX-Injected: 1\r\n");
        tokio::time::timeout(Duration::from_secs(20), mutator(base).delete(&pk))
            .await
            .expect("the hook answers")
            .expect("deleted");
        let request = server.await.expect("the server task");
        assert!(
            request.starts_with(
                "DELETE /admin/users/1%20HTTP%2F1.1%0D%0AX-Injected%3A%201%0D%0A HTTP/1.1\r\n"
            ),
            "{request}"
        );
        assert!(
            !request.to_ascii_lowercase().contains("\r\nx-injected"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn ipv6_literal_hosts_work() {
        // A machine without IPv6 on loopback cannot run this; it says so and passes.
        let Ok(listener) = TcpListener::bind(("::1", 0)).await else {
            eprintln!("no IPv6 loopback here: not checked");
            return;
        };
        let port = listener.local_addr().expect("an address").port();
        let server = tokio::spawn(one_shot(
            listener,
            b"HTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n{\"id\":3}",
        ));
        let target = Target::new(format!("ws://[::1]:{port}/ws/"));
        let mutator = Mutator::from_target(&target, &Transport::default()).expect("a mutator");
        let created = tokio::time::timeout(Duration::from_secs(20), mutator.create("u"))
            .await
            .expect("the hook answers");
        assert_eq!(created.expect("created").pk, Value::from(3));
        let request = server.await.expect("the server task");
        assert!(request.contains(&format!("[::1]:{port}")), "{request}");
    }

    #[test]
    fn fills_templates() {
        let fill = Placeholders::new("name", "a\"b", Some(&Value::from(7)));
        assert_eq!(
            fill.json(r#"{"{field}": "{value}", "pk": {pk}, "u": "{username}"}"#),
            r#"{"name": "a\"b", "pk": 7, "u": "a\"b"}"#
        );
        let fill = Placeholders::new("name", "it's", Some(&Value::from("k")));
        assert_eq!(fill_shell("x {pk} {value}", &fill), r"x 'k' 'it'\''s'");
        // One pass: a value holding a placeholder is not filled again.
        let fill = Placeholders::new("name", "{pk}", Some(&Value::from(1)));
        assert_eq!(fill.json("{value}/{pk}"), "{pk}/1");
        assert_eq!(fill.json("{unknown} {"), "{unknown} {");
    }

    #[test]
    fn a_pk_never_leaves_its_path_segment() {
        let path = |template: &str, pk: Value| {
            fill_path(template, &Placeholders::new("name", "", Some(&pk)))
        };
        let pk = Value::from("1 HTTP/1.1\r\nHost: evil\r\n\r\nGET /x?y#z/..");
        let filled = path("/admin/users/{pk}", pk);
        assert_eq!(
            filled,
            "/admin/users/1%20HTTP%2F1.1%0D%0AHost%3A%20evil%0D%0A%0D%0AGET%20%2Fx%3Fy%23z%2F.."
        );
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:1{filled}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.path_segments().map(Iterator::count), Some(3));
        assert_eq!(url.query(), None);
        assert_eq!(path("/u/{pk}", Value::from(42)), "/u/42");
        assert_eq!(path("/u/{pk}", Value::from("é")), "/u/%C3%A9");
    }
}
