//! The HTTP side of one connection, on hyper: `/healthz`, the admin API, and the
//! WebSocket handshake (RFC 6455 §4.2), which hands the connection to [`crate::ws`].
//!
//! Request parsing, keep-alive, the head timeout and the rejection of malformed heads
//! (two Content-Length headers, `Content-Length: +5`, a bad chunk size...) are hyper's; the
//! checks here are the ones of this server: Origin and Host (see [`crate::Access`]), the
//! admin API's content type and token, and the WebSocket handshake headers.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode, Version};
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::UserRecord;
use crate::access::Refusal;
use crate::model::{Instance, ModelRef, Pk, SchemaModel};
use crate::serializer::Mode;
use crate::server::{MutateError, Server};
use crate::store::{Applied, Mutation};
use crate::ws::Endpoint;

/// The admin endpoint that runs several ORM steps in one request ([`crate::steps`]).
const STEPS_PATH: &str = "/admin/steps";

/// Largest admin request body accepted.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// A response of this server.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// A WebSocket handshake that was answered 101: the connection task runs the WebSocket
/// once hyper hands the connection over.
pub(crate) type PendingUpgrade = Arc<Mutex<Option<(OnUpgrade, Endpoint)>>>;

/// What the service of one connection knows about it.
pub(crate) struct ConnContext {
    pub(crate) server: Arc<Server>,
    /// Accepted past `max_connections`, out of the reserve: health and admin only.
    pub(crate) overflow: bool,
    pub(crate) upgrade: PendingUpgrade,
}

/// Answers one request.
pub(crate) async fn handle(
    ctx: Arc<ConnContext>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let path = request.uri().path().to_owned();
    tracing::debug!(method = %request.method(), %path, overflow = ctx.overflow, "request");
    let mut response = if path == "/healthz" {
        text(StatusCode::OK, "ok")
    } else if let Some(endpoint) = Endpoint::from_path(&path, &ctx.server.config.endpoints) {
        websocket(&ctx, request, endpoint)
    } else if has_token(request.headers(), header::UPGRADE, "websocket") {
        // channels' URLRouter raises on a path without a route and Daphne answers 500
        // (PROFILE-NOTES 1.7); the SPEC recommends 404 (SPEC §2.1).
        let status = if ctx.server.config.profile.is_dcrf() {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::NOT_FOUND
        };
        error(status, {
            let e = &ctx.server.config.endpoints;
            format!(
                "no WebSocket endpoint at {path}; try {}, {} or {}",
                e.observer, e.crud, e.multiplexed
            )
        })
    } else if path == STEPS_PATH || admin_collection(&ctx.server, &path).is_some() {
        admin(&ctx, request, &path).await
    } else if ctx.overflow {
        too_many_connections(&ctx.server)
    } else {
        error(StatusCode::NOT_FOUND, "not found")
    };
    if ctx.overflow {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    respond(status, "text/plain; charset=utf-8", body)
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    respond(status, "application/json", body.to_string())
}

fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    json_response(status, &json!({"error": message.into()}))
}

/// A 204: no body, no Content-Type, and (hyper's rule) no Content-Length.
fn no_content() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn refused(refusal: Refusal) -> HttpResponse {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = error(status, refusal.reason);
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn too_many_connections(server: &Server) -> HttpResponse {
    let limit = server.config.limits.max_connections;
    tracing::debug!(limit, "refused past the connection limit");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("too many connections (limit {limit}); try again later"),
    )
}

/// Whether any `name` header holds `token` in its comma-separated list.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The only value of a header; `None` when absent or repeated.
fn single(headers: &HeaderMap, name: header::HeaderName) -> Option<&[u8]> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first.as_bytes())
}

fn check_browser(server: &Server, headers: &HeaderMap) -> Result<(), Refusal> {
    let access = &server.config.access;
    if headers.get_all(header::HOST).iter().count() > 1 {
        return Err(Refusal {
            status: 400,
            reason: "more than one Host header".into(),
        });
    }
    access.check_host(single(headers, header::HOST))?;
    if headers.get_all(header::ORIGIN).iter().count() > 1 {
        return Err(Refusal {
            status: 403,
            reason: "more than one Origin header".into(),
        });
    }
    access.check_origin(single(headers, header::ORIGIN))
}

/// RFC 6455 §4.2.1 and §4.2.2: validates the handshake and answers 101, or refuses.
fn websocket(
    ctx: &ConnContext,
    mut request: Request<Incoming>,
    endpoint: Endpoint,
) -> HttpResponse {
    let headers = request.headers();
    if let Err(refusal) = check_browser(&ctx.server, headers) {
        tracing::info!(reason = %refusal.reason, "WebSocket handshake refused");
        return refused(refusal);
    }
    if request.method() != Method::GET {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket handshake must be a GET",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    if request.version() != Version::HTTP_11 {
        return error(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake must be HTTP/1.1",
        );
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return error(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs Upgrade: websocket",
        );
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return error(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs Connection: Upgrade",
        );
    }
    if single(headers, header::SEC_WEBSOCKET_VERSION).map(<[u8]>::trim_ascii) != Some(b"13") {
        let mut response = error(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version; use 13",
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return response;
    }
    let Some(key) = single(headers, header::SEC_WEBSOCKET_KEY).map(<[u8]>::trim_ascii) else {
        return error(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs one Sec-WebSocket-Key",
        );
    };
    let decodes_to_16 = data_encoding::BASE64
        .decode(key)
        .is_ok_and(|nonce| nonce.len() == 16);
    if !decodes_to_16 {
        return error(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key must be the base64 encoding of 16 bytes",
        );
    }
    if ctx.overflow {
        return too_many_connections(&ctx.server);
    }
    let accept = derive_accept_key(key);
    let on_upgrade = hyper::upgrade::on(&mut request);
    *ctx.upgrade
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((on_upgrade, endpoint));
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Whether the request's Content-Type is `application/json` (parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    single(headers, header::CONTENT_TYPE).is_some_and(|value| {
        let media = value.split(|b| *b == b';').next().unwrap_or_default();
        media.trim_ascii().eq_ignore_ascii_case(b"application/json")
    })
}

/// Whether the request has (or may have) a body.
fn has_body(request: &Request<Incoming>) -> bool {
    let headers = request.headers();
    matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::PUT
    ) || headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// The admin API, exactly as `interop/dcrf/users/views.py` implements it, behind the
/// Origin/Host checks, the optional token and the JSON content type.
async fn admin(ctx: &ConnContext, request: Request<Incoming>, path: &str) -> HttpResponse {
    let server = &ctx.server;
    let headers = request.headers();
    let checks = check_browser(server, headers).and_then(|()| {
        server
            .config
            .access
            .check_admin_token(single(headers, header::AUTHORIZATION))
    });
    if let Err(refusal) = checks {
        tracing::info!(reason = %refusal.reason, "admin request refused");
        return refused(refusal);
    }
    if has_body(&request) && !is_json(headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the admin API accepts only Content-Type: application/json",
        );
    }
    let method = request.method().clone();
    let collected = tokio::time::timeout(
        server.config.head_timeout,
        Limited::new(request.into_body(), MAX_BODY).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(cause)) if cause.is::<http_body_util::LengthLimitError>() => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {MAX_BODY} bytes"),
            );
        }
        Ok(Err(_)) => return error(StatusCode::BAD_REQUEST, "cannot read the request body"),
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            );
        }
    };
    route(server, &method, path, &body).await
}

/// The admin collection a path names: `/admin/instances` for any model, and also
/// `/admin/users` for the seed's `User`; with the rest of the path (`""` or `/PK`).
fn admin_collection<'p>(server: &Server, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix("/admin/")?;
    let (collection, tail) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let known = collection == "instances"
        || (collection == "users" && matches!(server.model(), ModelRef::User));
    known.then_some(tail)
}

async fn route(server: &Server, method: &Method, path: &str, body: &[u8]) -> HttpResponse {
    let model = server.model();
    if path == STEPS_PATH {
        if method != Method::POST {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let (status, body) = match crate::steps::parse(body) {
            Ok(request) => crate::steps::run(server, &request).await,
            Err(answer) => answer,
        };
        return json_response(status, &body);
    }
    let Some(tail) = admin_collection(server, path) else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    if tail.is_empty() {
        if method != Method::POST {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        return match model.schema() {
            None => admin_create(server, body).await,
            Some(schema) => admin_write(server, schema, None, body).await,
        };
    }
    let Some(pk_text) = tail
        .strip_prefix('/')
        .filter(|p| !p.is_empty() && !p.contains('/'))
    else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    if !matches!(*method, Method::GET | Method::PATCH | Method::DELETE) {
        return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    let noun = model.noun();
    let not_found = || error(StatusCode::NOT_FOUND, format!("{noun} {pk_text} not found"));
    let Some(pk) = model.parse_pk(pk_text) else {
        return not_found();
    };
    if *method == Method::GET {
        return match server.table().await.get(&pk) {
            Some(instance) => json_response(StatusCode::OK, &model.render(instance)),
            None => not_found(),
        };
    }
    if server.table().await.get(&pk).is_none() {
        return not_found();
    }
    if *method == Method::DELETE {
        let result = server
            .mutate(|table| match table.get(&pk) {
                Some(_) => Ok(Mutation::Delete(pk.clone())),
                None => Err(Rejected::Message(
                    StatusCode::NOT_FOUND,
                    format!("{noun} {pk_text} not found"),
                )),
            })
            .await;
        return match result {
            Ok(_) => no_content(),
            Err(error) => mutate_error(error),
        };
    }
    if let Some(schema) = model.schema() {
        return admin_write(server, schema, Some(&pk), body).await;
    }
    let body = match parse_body(body, &["username", "email"]) {
        Ok(body) => body,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let result = server
        .mutate(|table| {
            let Some(instance) = table.get(&pk) else {
                return Err(Rejected::Message(
                    StatusCode::NOT_FOUND,
                    format!("{noun} {pk_text} not found"),
                ));
            };
            let mut user = instance.to_user();
            if let Some(Value::String(username)) = body.get("username") {
                if table.username_taken(username, Some(user.id)) {
                    return Err(Rejected::Message(
                        StatusCode::BAD_REQUEST,
                        "username already exists".into(),
                    ));
                }
                user.username = username.clone();
            }
            if let Some(Value::String(email)) = body.get("email") {
                user.email = email.clone();
            }
            Ok(Mutation::Save(Instance::from_user(&user)))
        })
        .await;
    applied_response(model, result, StatusCode::OK)
}

/// `POST /admin/instances` (no `pk`) or `PATCH /admin/instances/PK` of a schema's model:
/// the body is validated as the serializer validates `create` or a partial update, so
/// the admin API cannot store what the WebSocket API would refuse. Answers as the shop
/// app's hook does (interop/shop/OBSERVATIONS.md section 6): `400 {"error": "invalid
/// product", "fields": {...}}`, `400 {"error": "read-only field: id"}`, `400 {"error":
/// "unknown field: colour"}`.
async fn admin_write(
    server: &Server,
    schema: &SchemaModel,
    pk: Option<&Pk>,
    body: &[u8],
) -> HttpResponse {
    let model = server.model();
    let data: Value = match std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
    {
        Some(Value::Object(object)) => Value::Object(object),
        Some(_) => return error(StatusCode::BAD_REQUEST, "body must be a JSON object"),
        None => return error(StatusCode::BAD_REQUEST, "invalid JSON body"),
    };
    for key in data.as_object().into_iter().flat_map(|o| o.keys()) {
        match schema.schema().field(key) {
            None => return error(StatusCode::BAD_REQUEST, format!("unknown field: {key}")),
            Some(field) if field.read_only => {
                return error(StatusCode::BAD_REQUEST, format!("read-only field: {key}"));
            }
            Some(_) => {}
        }
    }
    let noun = model.noun();
    let (mode, status) = match pk {
        None => (Mode::Create, StatusCode::CREATED),
        Some(_) => (Mode::Patch, StatusCode::OK),
    };
    let result = server
        .mutate(|table| {
            let existing = match pk {
                None => None,
                Some(pk) => Some(table.get(pk).ok_or_else(|| {
                    Rejected::Message(StatusCode::NOT_FOUND, format!("{noun} {pk} not found"))
                })?),
            };
            model
                .validate(table, mode, existing, &data)
                .map_err(|fields| Rejected::Invalid(format!("invalid {noun}"), fields))
        })
        .await;
    applied_response(model, result, status)
}

async fn admin_create(server: &Server, body: &[u8]) -> HttpResponse {
    let body = match parse_body(body, &["username", "email", "password"]) {
        Ok(body) => body,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (Some(Value::String(username)), Some(Value::String(email))) =
        (body.get("username"), body.get("email"))
    else {
        let missing = if body.contains_key("username") {
            "email"
        } else {
            "username"
        };
        return error(StatusCode::BAD_REQUEST, format!("{missing} is required"));
    };
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let result = server
        .mutate(|table| {
            if table.username_taken(username, None) {
                return Err(Rejected::Message(
                    StatusCode::BAD_REQUEST,
                    "username already exists".into(),
                ));
            }
            let user = UserRecord {
                id: 0,
                username: username.clone(),
                email: email.clone(),
                password: password.clone(),
            };
            Ok(Mutation::Create {
                pk: None,
                fields: Instance::from_user(&user).fields,
            })
        })
        .await;
    applied_response(server.model(), result, StatusCode::CREATED)
}

/// A change the validator refused: the status and the message of its error response,
/// or (a schema model's body) the message and DRF's field errors, answered 400.
enum Rejected {
    Message(StatusCode, String),
    Invalid(String, Value),
}

fn applied_response(
    model: ModelRef<'_>,
    result: Result<Applied, MutateError<Rejected>>,
    status: StatusCode,
) -> HttpResponse {
    match result {
        Ok(Applied::Saved(instance)) => json_response(status, &model.render(&instance)),
        Ok(Applied::Deleted(_)) => no_content(),
        Err(error) => mutate_error(error),
    }
}

fn mutate_error(failure: MutateError<Rejected>) -> HttpResponse {
    match failure {
        MutateError::Rejected(Rejected::Message(status, message)) => error(status, message),
        MutateError::Rejected(Rejected::Invalid(message, fields)) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": message, "fields": fields}),
        ),
        MutateError::Persist(cause) => {
            tracing::error!(error = %cause, "change not persisted");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
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
