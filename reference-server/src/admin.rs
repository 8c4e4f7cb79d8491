//! A minimal client of the admin HTTP API, which the reference server and the Django
//! interop server (`interop/dcrf/users/views.py`) both implement:
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
//!
//! Changes made through it are out-of-band changes (SPEC §1.3): they produce events.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

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

/// A client of the admin API at a base URL such as `http://127.0.0.1:8000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminClient {
    base: String,
    authority: String,
}

impl AdminClient {
    /// A client for `base_url` (`http://HOST:PORT`, optionally with a trailing slash).
    pub fn new(base_url: &str) -> Result<AdminClient, Error> {
        let bad = || Error::BadUrl {
            url: base_url.to_owned(),
        };
        let rest = base_url.strip_prefix("http://").ok_or_else(bad)?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad());
        }
        Ok(AdminClient {
            base: format!("http://{authority}"),
            authority: authority.to_owned(),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /admin/users`.
    pub async fn create(
        &self,
        username: &str,
        email: &str,
        password: Option<&str>,
    ) -> Result<AdminResponse, Error> {
        let mut body = serde_json::json!({"username": username, "email": email});
        if let Some(password) = password {
            body["password"] = Value::from(password);
        }
        self.request("POST", "/admin/users", Some(&body)).await
    }

    /// `PATCH /admin/users/<pk>` with the given fields (an empty object still saves).
    pub async fn update(
        &self,
        pk: i64,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<AdminResponse, Error> {
        let mut body = serde_json::Map::new();
        if let Some(username) = username {
            body.insert("username".into(), Value::from(username));
        }
        if let Some(email) = email {
            body.insert("email".into(), Value::from(email));
        }
        self.request(
            "PATCH",
            &format!("/admin/users/{pk}"),
            Some(&Value::Object(body)),
        )
        .await
    }

    /// `DELETE /admin/users/<pk>`.
    pub async fn delete(&self, pk: i64) -> Result<AdminResponse, Error> {
        self.request("DELETE", &format!("/admin/users/{pk}"), None)
            .await
    }

    /// `GET /admin/users/<pk>`.
    pub async fn get(&self, pk: i64) -> Result<AdminResponse, Error> {
        self.request("GET", &format!("/admin/users/{pk}"), None)
            .await
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<AdminResponse, Error> {
        self.request("GET", "/healthz", None).await
    }

    /// Any request: one HTTP/1.1 exchange on a fresh connection (`Connection: close`).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<AdminResponse, Error> {
        let url = format!("{}{path}", self.base);
        let io = |source| Error::Http {
            url: url.clone(),
            source,
        };
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(&self.authority).await.map_err(io)?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.authority,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        stream.write_all(body.as_bytes()).await.map_err(io)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(io)?;
        parse_response(&url, &raw)
    }
}

fn parse_response(url: &str, raw: &[u8]) -> Result<AdminResponse, Error> {
    let bad = |reason: String| Error::BadResponse {
        url: url.to_owned(),
        reason,
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err(bad("incomplete head".to_owned())),
        Err(error) => return Err(bad(error.to_string())),
    };
    let status = response.code.ok_or_else(|| bad("no status".to_owned()))?;
    let mut body = &raw[len..];
    let content_length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Content-Length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    if let Some(length) = content_length {
        body = &body[..length.min(body.len())];
    }
    Ok(AdminResponse {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}
