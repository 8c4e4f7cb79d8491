//! Out-of-band changes: the hook that creates, changes and deletes instances for the cases.

use std::time::Duration;

use dcrf_protocol::{Action, Request};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::Error;
use crate::target::{
    DEFAULT_PASSWORD, HttpMutation, MutationConfig, ShellMutation, Target, WebSocketMutation,
};
use crate::wire::{Conn, Recorder};

/// How long one hook operation may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest response body the HTTP hook reads.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A hook ready to use, built from a target's `[mutation]` table.
#[derive(Debug, Clone)]
pub(crate) enum Mutator {
    Http {
        base: String,
        config: HttpMutation,
        client: reqwest::Client,
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
                client: http_client(config)?,
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
            Mutator::Http {
                base,
                config,
                client,
            } => {
                let (method, path) = split_template(&config.create)?;
                let path = fill_path(path, None, username, email);
                let body = fill(&config.create_body, None, username, email, true);
                let response =
                    http_call(client, method, &format!("{base}{path}"), Some(body)).await?;
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
            Mutator::Http {
                base,
                config,
                client,
            } => {
                let (method, path) = split_template(&config.update)?;
                let path = fill_path(path, Some(pk), username, email);
                let body = fill(&config.update_body, Some(pk), username, email, true);
                let response =
                    http_call(client, method, &format!("{base}{path}"), Some(body)).await?;
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
            Mutator::Http {
                base,
                config,
                client,
            } => {
                let (method, path) = split_template(&config.delete)?;
                let path = fill_path(path, Some(pk), "", "");
                let response = http_call(client, method, &format!("{base}{path}"), None).await?;
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

/// Replaces the placeholders of a request path, each value percent-encoded as one path
/// segment: a `{pk}` holding `/`, `?`, CR or LF stays inside its segment.
fn fill_path(template: &str, pk: Option<&Value>, username: &str, email: &str) -> String {
    template
        .replace(
            "{pk}",
            &encode_segment(&pk.map(pk_text).unwrap_or_default()),
        )
        .replace("{username}", &encode_segment(username))
        .replace("{email}", &encode_segment(email))
        .replace("{password}", &encode_segment(DEFAULT_PASSWORD))
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

/// A response of the admin API: status and body (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    body: String,
}

/// The hook's HTTP client: keep-alive, no proxy, the config's extra headers on every request.
fn http_client(config: &HttpMutation) -> Result<reqwest::Client, Error> {
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
        Mutator::from_target(&target).expect("a mutator")
    }

    /// Runs `create` against a one-shot server answering `response`.
    async fn create_against(response: &'static [u8]) -> (Result<Created, Error>, String) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("binds");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let server = tokio::spawn(one_shot(listener, response));
        let created =
            tokio::time::timeout(Duration::from_secs(20), mutator(base).create("u\"1", "e@x"))
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
        let mutator = Mutator::from_target(&target).expect("a mutator");
        let created = tokio::time::timeout(Duration::from_secs(20), mutator.create("u", "e"))
            .await
            .expect("the hook answers");
        assert_eq!(created.expect("created").pk, Value::from(3));
        let request = server.await.expect("the server task");
        assert!(request.contains(&format!("[::1]:{port}")), "{request}");
    }

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

    #[test]
    fn a_pk_never_leaves_its_path_segment() {
        let pk = Value::from("1 HTTP/1.1\r\nHost: evil\r\n\r\nGET /x?y#z/..");
        let path = fill_path("/admin/users/{pk}", Some(&pk), "", "");
        assert_eq!(
            path,
            "/admin/users/1%20HTTP%2F1.1%0D%0AHost%3A%20evil%0D%0A%0D%0AGET%20%2Fx%3Fy%23z%2F.."
        );
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:1{path}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.path_segments().map(Iterator::count), Some(3));
        assert_eq!(url.query(), None);
        assert_eq!(
            fill_path("/u/{pk}", Some(&Value::from(42)), "", ""),
            "/u/42"
        );
        assert_eq!(
            fill_path("/u/{pk}", Some(&Value::from("é")), "", ""),
            "/u/%C3%A9"
        );
    }
}
