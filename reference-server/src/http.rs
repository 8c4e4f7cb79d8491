//! One TCP connection: the HTTP request head decides between a WebSocket upgrade and a
//! plain HTTP request (`/healthz`, the admin API). One request per plain HTTP connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::server::{MutateError, Server};
use crate::store::{Mutation, user_json};
use crate::ws::Endpoint;

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest admin request body accepted.
const MAX_BODY: usize = 1024 * 1024;
/// Time a client has to send its request head (and body).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// Bytes read after the head.
    rest: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// An HTTP response to write before closing.
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    extra_headers: Vec<(&'static str, String)>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.to_string(),
            extra_headers: Vec::new(),
        }
    }

    fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(status, &json!({"error": message.into()}))
    }

    fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: "text/plain",
            body: String::new(),
            extra_headers: Vec::new(),
        }
    }

    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain",
            body: body.to_owned(),
            extra_headers: Vec::new(),
        }
    }

    async fn write(self, stream: &mut TcpStream) {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.extra_headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        let _ = stream.write_all(out.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Serves one accepted TCP connection to its end.
pub(crate) async fn handle_connection(
    server: Arc<Server>,
    mut stream: TcpStream,
    peer: SocketAddr,
) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return,
        Ok(Err(response)) => return response.write(&mut stream).await,
        Err(_) => {
            return Response::error(408, "request head not received in time")
                .write(&mut stream)
                .await;
        }
    };
    let path = head.path.split('?').next().unwrap_or("").to_owned();
    let is_upgrade = head.header_has_token("Upgrade", "websocket");
    tracing::debug!(%peer, method = %head.method, %path, is_upgrade, "request");
    if is_upgrade {
        return upgrade(server, stream, head, &path).await;
    }
    let response = match tokio::time::timeout(HEAD_TIMEOUT, read_body(&mut stream, &head)).await {
        Ok(Ok(body)) => route(&server, &head.method, &path, &body).await,
        Ok(Err(response)) => response,
        Err(_) => Response::error(408, "request body not received in time"),
    };
    response.write(&mut stream).await;
}

/// Reads up to the end of the request head. `Ok(None)`: the peer closed before sending one.
async fn read_head(stream: &mut TcpStream) -> Result<Option<Head>, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| Response::error(400, "cannot read the request"))?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Response::error(400, "incomplete request head"))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let head = Head {
                    method: request.method.unwrap_or("").to_owned(),
                    path: request.path.unwrap_or("").to_owned(),
                    headers: request
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    rest: buf[len..].to_vec(),
                };
                return Ok(Some(head));
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(Response::error(431, "request head too large"));
            }
            Ok(httparse::Status::Partial) => {}
            Err(error) => return Err(Response::error(400, format!("malformed request: {error}"))),
        }
    }
}

async fn read_body(stream: &mut TcpStream, head: &Head) -> Result<Vec<u8>, Response> {
    if head.header("Transfer-Encoding").is_some() {
        return Err(Response::error(
            400,
            "chunked request bodies are not supported; send Content-Length",
        ));
    }
    let length = match head.header("Content-Length") {
        None => 0,
        Some(value) => value
            .trim()
            .parse::<usize>()
            .map_err(|_| Response::error(400, "invalid Content-Length"))?,
    };
    if length > MAX_BODY {
        return Err(Response::error(
            413,
            format!("request body larger than {MAX_BODY} bytes"),
        ));
    }
    let mut body = head.rest.clone();
    body.truncate(length);
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| Response::error(400, "cannot read the request body"))?;
        if n == 0 {
            return Err(Response::error(
                400,
                "request body shorter than Content-Length",
            ));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(body)
}

async fn upgrade(server: Arc<Server>, mut stream: TcpStream, head: Head, path: &str) {
    let Some(endpoint) = Endpoint::from_path(path) else {
        return Response::error(
            404,
            format!("no WebSocket endpoint at {path}; try /ws/, /ws/full/ or /ws/multiplexed/"),
        )
        .write(&mut stream)
        .await;
    };
    if head.method != "GET" {
        return Response::error(405, "a WebSocket upgrade must be a GET")
            .write(&mut stream)
            .await;
    }
    if head.header("Sec-WebSocket-Version").map(str::trim) != Some("13") {
        let mut response = Response::error(426, "unsupported WebSocket version; use 13");
        response
            .extra_headers
            .push(("Sec-WebSocket-Version", "13".to_owned()));
        return response.write(&mut stream).await;
    }
    let Some(key) = head
        .header("Sec-WebSocket-Key")
        .map(|k| k.trim().to_owned())
    else {
        return Response::error(400, "missing Sec-WebSocket-Key")
            .write(&mut stream)
            .await;
    };
    let limit = server.config.limits.max_connections;
    if server.connections.fetch_add(1, Ordering::SeqCst) >= limit {
        server.connections.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(limit, "connection refused: too many connections");
        return Response::error(503, format!("too many connections (limit {limit})"))
            .write(&mut stream)
            .await;
    }
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(response.as_bytes()).await.is_ok() {
        crate::ws::run(Arc::clone(&server), stream, head.rest, endpoint).await;
    }
    server.connections.fetch_sub(1, Ordering::SeqCst);
}

/// The admin API, exactly as `interop/dcrf/users/views.py` implements it.
async fn route(server: &Server, method: &str, path: &str, body: &[u8]) -> Response {
    if path == "/healthz" {
        return Response::text(200, "ok");
    }
    if path == "/admin/users" {
        if method != "POST" {
            return Response::error(405, "method not allowed");
        }
        return admin_create(server, body).await;
    }
    let Some(pk_text) = path
        .strip_prefix("/admin/users/")
        .filter(|p| !p.is_empty() && !p.contains('/'))
    else {
        return Response::error(404, "not found");
    };
    if !matches!(method, "GET" | "PATCH" | "DELETE") {
        return Response::error(405, "method not allowed");
    }
    let pk = match pk_text.parse::<i64>() {
        Ok(pk) if pk.to_string() == pk_text => pk,
        _ => return Response::error(404, format!("user {pk_text} not found")),
    };
    if server.table().await.get(pk).is_none() {
        return Response::error(404, format!("user {pk_text} not found"));
    }
    match method {
        "GET" => match server.table().await.get(pk) {
            Some(user) => Response::json(200, &user_json(user)),
            None => Response::error(404, format!("user {pk_text} not found")),
        },
        "DELETE" => {
            let result = server
                .mutate(|table| match table.get(pk) {
                    Some(_) => Ok(Mutation::Delete(pk)),
                    None => Err(Response::error(404, format!("user {pk_text} not found"))),
                })
                .await;
            match result {
                Ok(_) => Response::empty(204),
                Err(error) => mutate_error(error),
            }
        }
        _ => {
            let body = match parse_body(body, &["username", "email"]) {
                Ok(body) => body,
                Err(message) => return Response::error(400, message),
            };
            let result = server
                .mutate(|table| {
                    let Some(user) = table.get(pk) else {
                        return Err(Response::error(404, format!("user {pk_text} not found")));
                    };
                    let mut user = user.clone();
                    if let Some(Value::String(username)) = body.get("username") {
                        if table.username_taken(username, Some(pk)) {
                            return Err(Response::error(400, "username already exists"));
                        }
                        user.username = username.clone();
                    }
                    if let Some(Value::String(email)) = body.get("email") {
                        user.email = email.clone();
                    }
                    Ok(Mutation::Save(user))
                })
                .await;
            applied_response(result, 200)
        }
    }
}

async fn admin_create(server: &Server, body: &[u8]) -> Response {
    let body = match parse_body(body, &["username", "email", "password"]) {
        Ok(body) => body,
        Err(message) => return Response::error(400, message),
    };
    let (Some(Value::String(username)), Some(Value::String(email))) =
        (body.get("username"), body.get("email"))
    else {
        let missing = if body.contains_key("username") {
            "email"
        } else {
            "username"
        };
        return Response::error(400, format!("{missing} is required"));
    };
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let result = server
        .mutate(|table| {
            if table.username_taken(username, None) {
                return Err(Response::error(400, "username already exists"));
            }
            Ok(Mutation::Create {
                username: username.clone(),
                email: email.clone(),
                password,
            })
        })
        .await;
    applied_response(result, 201)
}

fn applied_response(
    result: Result<crate::store::Applied, MutateError<Response>>,
    status: u16,
) -> Response {
    match result {
        Ok(crate::store::Applied::Saved(user)) => Response::json(status, &user_json(&user)),
        Ok(crate::store::Applied::Deleted(_)) => Response::empty(204),
        Err(error) => mutate_error(error),
    }
}

fn mutate_error(error: MutateError<Response>) -> Response {
    match error {
        MutateError::Rejected(response) => response,
        MutateError::Persist(error) => {
            tracing::error!(error = %error, "change not persisted");
            Response::error(500, "internal server error")
        }
    }
}

/// `_parse_body` of views.py: a JSON object of known string fields; username not empty.
fn parse_body(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "invalid JSON body".to_owned())?;
    let value: Value = serde_json::from_str(text).map_err(|_| "invalid JSON body".to_owned())?;
    let Value::Object(object) = value else {
        return Err("body must be a JSON object".to_owned());
    };
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown field: {key}"));
    }
    for key in ["username", "email", "password"] {
        if object.get(key).is_some_and(|v| !v.is_string()) {
            return Err(format!("{key} must be a string"));
        }
    }
    if object.get("username").and_then(Value::as_str) == Some("") {
        return Err("username must not be empty".to_owned());
    }
    Ok(object)
}
