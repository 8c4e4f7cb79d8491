//! A client of the admin HTTP API, which the reference server and the Django interop
//! server (`interop/dcrf/users/views.py`) both implement:
//!
//! | request | response |
//! | --- | --- |
//! | `POST /admin/users` `{"username", "email", "password"?}` | 201 + the serialized user |
//! | `GET /admin/users/<pk>` | 200 + the serialized user |
//! | `PATCH /admin/users/<pk>` `{"username"?, "email"?}` | 200 + the serialized user (the save fires events even when nothing changed) |
//! | `DELETE /admin/users/<pk>` | 204, empty |
//! | unknown pk | 404 `{"error": "..."}` |
//! | bad JSON or body | 400 `{"error": "..."}` |
//! | other method | 405 `{"error": "..."}` |
//! | `POST /admin/steps` `{"atomic": bool, "rollback"?: bool, "steps": [...]}` | 200 `{"results": [...], "committed": bool}`; 400 on a bad body or a failing step (a transaction keeps nothing then) |
//!
//! `POST /admin/steps` runs ORM steps on named Python objects (`fetch`, `save`, `delete`,
//! `insert` of an explicit pk), in one transaction when `atomic` (events at the commit, one
//! per Python object saved or deleted; none after `"rollback": true`); send it with
//! [`AdminClient::request`]. The reference server answers it for the seed's `User` only, and
//! 501 with `--redis` or `--model`.
//!
//! A model served from its schema (`--model`) has the same API under `/admin/instances`
//! ([`AdminClient::with_collection`]); its bodies are the model's writable fields,
//! validated as the serializer validates `create` (POST) or a partial update (PATCH): `400
//! {"error": "invalid product", "fields": {DRF's errors}}`, `400 {"error": "unknown field:
//! colour"}`, `400 {"error": "read-only field: id"}`. `/admin/instances` also serves the
//! seed's `User`.
//!
//! The reference server also requires `Content-Type: application/json` on a request with a
//! body (415 otherwise) and, when started with `--admin-token`, `Authorization: Bearer
//! TOKEN` (401 otherwise); this client always sends the first and, given
//! [`AdminClient::with_token`], the second.
//!
//! Changes made through it are out-of-band changes (SPEC §1.3): they produce events.
//!
//! HTTP is hyper's (hyper-util's client over plain TCP: the admin API is served on the
//! WebSocket port, without TLS, so no TLS stack is linked and none has to be configured):
//! a body cut short, a malformed response, a broken chunked encoding or a body over
//! 16 MiB is an [`Error::Http`], never a short success. The typed calls
//! ([`AdminClient::create`] and the others) also make a non-2xx status and a body that is
//! not the expected JSON an [`Error::BadResponse`]; [`AdminClient::request`] returns any
//! status as data.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use url::Url;

use crate::Error;

/// Upper bound of one admin request, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body read; a longer one is an error.
const MAX_BODY: usize = 16 << 20;
/// How much of a bad body an error message quotes.
const QUOTED_BODY: usize = 200;

/// An HTTP response of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body, as text.
    pub body: String,
}

impl AdminResponse {
    /// The body parsed as JSON (null when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client of the admin API at a base URL such as `http://127.0.0.1:8000` or
/// `http://[::1]:8000`.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: Url,
    base_text: String,
    token: Option<String>,
    collection: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    /// A client for `base_url`: `http://HOST[:PORT]`, optionally with a
    /// trailing slash; IPv6 literals in brackets. No path, query, fragment or credentials.
    pub fn new(base_url: &str) -> Result<AdminClient, Error> {
        let bad = || Error::BadUrl {
            url: base_url.to_owned(),
        };
        let base = Url::parse(base_url).map_err(|_| bad())?;
        if base.scheme() != "http"
            || base.host().is_none()
            || base.path() != "/"
            || base.query().is_some()
            || base.fragment().is_some()
            || !base.username().is_empty()
            || base.password().is_some()
        {
            return Err(bad());
        }
        let http = Client::builder(TokioExecutor::new()).build_http();
        let base_text = base.as_str().trim_end_matches('/').to_owned();
        Ok(AdminClient {
            base,
            base_text,
            token: None,
            collection: "users".into(),
            http,
        })
    }

    /// Sends `Authorization: Bearer TOKEN` with every request (`--admin-token`).
    pub fn with_token(mut self, token: impl Into<String>) -> AdminClient {
        self.token = Some(token.into());
        self
    }

    /// Talks to `/admin/COLLECTION` instead of `/admin/users`: `instances` is the
    /// reference server's collection for any model, the only one of a model served from
    /// its schema (`--model`).
    pub fn with_collection(mut self, collection: impl Into<String>) -> AdminClient {
        self.collection = collection.into();
        self
    }

    /// `POST /admin/COLLECTION` with any body: for a model served from its schema, the
    /// fields of a `create` (validated as the serializer does); the created instance (201).
    pub async fn create_instance(&self, body: &Value) -> Result<Value, Error> {
        let url = self.url(&["admin", &self.collection])?;
        self.expect_user(self.send(Method::POST, url, Some(body)).await?)
    }

    /// `PATCH /admin/COLLECTION/<pk>` with any body (a partial update; `{}` still saves);
    /// the saved instance (200).
    pub async fn patch_instance(
        &self,
        pk: impl std::fmt::Display,
        body: &Value,
    ) -> Result<Value, Error> {
        let url = self.user_url(&pk.to_string())?;
        self.expect_user(self.send(Method::PATCH, url, Some(body)).await?)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_text
    }

    /// `POST /admin/users`; the created user (201).
    pub async fn create(
        &self,
        username: &str,
        email: &str,
        password: Option<&str>,
    ) -> Result<Value, Error> {
        let mut body = serde_json::json!({"username": username, "email": email});
        if let Some(password) = password {
            body["password"] = Value::from(password);
        }
        let url = self.url(&["admin", &self.collection])?;
        self.expect_user(self.send(Method::POST, url, Some(&body)).await?)
    }

    /// `PATCH /admin/users/<pk>` with the given fields (an empty object still saves); the
    /// saved user (200).
    pub async fn update(
        &self,
        pk: impl std::fmt::Display,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<Value, Error> {
        let mut body = serde_json::Map::new();
        if let Some(username) = username {
            body.insert("username".into(), Value::from(username));
        }
        if let Some(email) = email {
            body.insert("email".into(), Value::from(email));
        }
        let url = self.user_url(&pk.to_string())?;
        self.expect_user(
            self.send(Method::PATCH, url, Some(&Value::Object(body)))
                .await?,
        )
    }

    /// `DELETE /admin/users/<pk>` (204).
    pub async fn delete(&self, pk: impl std::fmt::Display) -> Result<(), Error> {
        let url = self.user_url(&pk.to_string())?;
        let (url, response) = self.send(Method::DELETE, url, None).await?;
        expect_success(&url, &response)
    }

    /// `GET /admin/users/<pk>`; the user (200).
    pub async fn get(&self, pk: impl std::fmt::Display) -> Result<Value, Error> {
        let url = self.user_url(&pk.to_string())?;
        self.expect_user(self.send(Method::GET, url, None).await?)
    }

    /// `GET /healthz` (200).
    pub async fn health(&self) -> Result<(), Error> {
        let url = self.url(&["healthz"])?;
        let (url, response) = self.send(Method::GET, url, None).await?;
        expect_success(&url, &response)
    }

    /// Any request to `path` (such as `/admin/users/1`), returning any status as data.
    /// `path` must start with `/` and hold no control character, space, `?` or `#`.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<AdminResponse, Error> {
        let bad = |reason| Error::BadPath {
            path: path.to_owned(),
            reason,
        };
        if !path.starts_with('/') {
            return Err(bad("a path must start with /"));
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#' || b >= 0x80)
        {
            return Err(bad(
                "a path must not hold control characters, spaces, ? or # (percent-encode them)",
            ));
        }
        let method =
            Method::from_bytes(method.as_bytes()).map_err(|_| bad("not an HTTP method"))?;
        let mut url = self.base.clone();
        url.set_path(path);
        Ok(self.send(method, url, body).await?.1)
    }

    /// `BASE/segment/segment...`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::BadUrl {
                url: self.base_text.clone(),
            })?
            .clear()
            .extend(segments);
        Ok(url)
    }

    /// `BASE/admin/COLLECTION/<pk>`; refuses a pk that is empty, holds a `/` or a control
    /// character (CR, LF...), since no server could mean it.
    fn user_url(&self, pk: &str) -> Result<Url, Error> {
        let bad = |reason| Error::BadPath {
            path: pk.to_owned(),
            reason,
        };
        if pk.is_empty() {
            return Err(bad("the primary key is empty"));
        }
        if pk.contains('/') {
            return Err(bad("a primary key must not contain /"));
        }
        if pk.chars().any(char::is_control) {
            return Err(bad(
                "a primary key must not contain CR, LF or other control characters",
            ));
        }
        self.url(&["admin", &self.collection, pk])
    }

    /// One exchange; the whole body is read (a body cut short is an error), all within
    /// [`REQUEST_TIMEOUT`].
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(String, AdminResponse), Error> {
        let url_text = url.to_string();
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Http {
            url: url_text.clone(),
            source,
        };
        let mut request = Request::builder().method(method).uri(url.as_str());
        if let Some(host) = url.host_str() {
            let host = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            };
            request = request.header(HOST, host);
        }
        let body = match body {
            Some(body) => {
                request =
                    request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(serde_json::to_vec(body).map_err(|error| failed(Box::new(error)))?)
            }
            None => Bytes::new(),
        };
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|error| failed(Box::new(error)))?;
            request = request.header(AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| failed(Box::new(error)))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|error| failed(Box::new(error)))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(failed)?
                .to_bytes();
            Ok::<_, Error>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                failed(
                    format!(
                        "no complete response within {} s",
                        REQUEST_TIMEOUT.as_secs()
                    )
                    .into(),
                )
            })??;
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Ok((url_text, AdminResponse { status, body }))
    }

    /// A 2xx whose body is a JSON object.
    fn expect_user(&self, (url, response): (String, AdminResponse)) -> Result<Value, Error> {
        expect_success(&url, &response)?;
        match serde_json::from_str::<Value>(&response.body) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(Error::BadResponse {
                url,
                status: Some(response.status),
                reason: format!("expected a JSON object, got {}", quote(&response.body)),
            }),
        }
    }
}

fn expect_success(url: &str, response: &AdminResponse) -> Result<(), Error> {
    if response.is_success() {
        return Ok(());
    }
    Err(Error::BadResponse {
        url: url.to_owned(),
        status: Some(response.status),
        reason: format!("HTTP {}: {}", response.status, quote(&response.body)),
    })
}

/// The start of a body, for an error message.
fn quote(body: &str) -> String {
    if body.is_empty() {
        return "an empty body".to_owned();
    }
    let mut shown: String = body.chars().take(QUOTED_BODY).collect();
    if shown.len() < body.len() {
        shown.push_str("...");
    }
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/",
            "http://[::1]:8000",
        ] {
            assert!(AdminClient::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1:8000",
            "ftp://x",
            "https://localhost",
            "http://x/path",
            "http://u:p@x",
            "http://x/?q",
            "",
        ] {
            assert!(
                matches!(AdminClient::new(bad), Err(Error::BadUrl { .. })),
                "{bad}"
            );
        }
        let v6 = AdminClient::new("http://[::1]:8000/").unwrap();
        assert_eq!(v6.base_url(), "http://[::1]:8000");
        assert_eq!(
            v6.user_url("1").unwrap().as_str(),
            "http://[::1]:8000/admin/users/1"
        );
    }

    #[test]
    fn primary_keys_are_one_segment() {
        let client = AdminClient::new("http://127.0.0.1:1").unwrap();
        for bad in ["1\r\nX: y", "a/b", "", "1\n"] {
            assert!(
                matches!(client.user_url(bad), Err(Error::BadPath { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            client.user_url("a b%?#").unwrap().path(),
            "/admin/users/a%20b%25%3F%23"
        );
    }
}
