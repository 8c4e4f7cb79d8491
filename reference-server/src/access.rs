//! Who may reach the server: the Origin and Host allow-lists and the admin token.
//!
//! A web page the user visits can make the browser open a WebSocket to, or post a form
//! to, any address, the loopback included; only the `Origin` header says which page it
//! was. DNS rebinding makes a foreign name resolve to 127.0.0.1; only the `Host` header
//! says which name was used. The checks here refuse both, and are described in the
//! README section "What the reference server trusts".

use std::net::IpAddr;

/// The allow-lists and the admin token.
///
/// With the default (empty lists, no token) the server accepts requests without an
/// `Origin` header or from a loopback origin (`http(s)://` + `localhost`, `*.localhost`,
/// `127.0.0.0/8` or `[::1]`, any port), and a `Host` header that is an IP address,
/// `localhost` or `*.localhost`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// More origins to accept, such as `https://app.example:8443`; `*` accepts every origin.
    pub allowed_origins: Vec<String>,
    /// More host names to accept in the `Host` header, such as `dcrf.test`; `*` accepts
    /// every name.
    pub allowed_hosts: Vec<String>,
    /// When set, the admin API requires `Authorization: Bearer TOKEN`.
    pub admin_token: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why a request was refused, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) reason: String,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

impl Access {
    /// Checks the `Host` header (absent: refused, HTTP/1.1 requires it). 421 when the
    /// name is not one this server answers to.
    pub(crate) fn check_host(&self, host: Option<&[u8]>) -> Result<(), Refusal> {
        let Some(host) = host else {
            return Err(Refusal::new(400, "missing Host header"));
        };
        let Some(name) = std::str::from_utf8(host).ok().and_then(host_name) else {
            return Err(Refusal::new(400, "malformed Host header"));
        };
        if is_ip_literal(name)
            || is_localhost_name(name)
            || self
                .allowed_hosts
                .iter()
                .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(name))
        {
            return Ok(());
        }
        Err(Refusal::new(
            421,
            format!(
                "host {name:?} is not served here; start the server with --allow-host {name} to accept it"
            ),
        ))
    }

    /// Checks the `Origin` header: absent, loopback or allowed passes; anything else
    /// (including `null`) is a 403.
    pub(crate) fn check_origin(&self, origin: Option<&[u8]>) -> Result<(), Refusal> {
        let Some(origin) = origin else {
            return Ok(());
        };
        let origin = String::from_utf8_lossy(origin);
        let origin = origin.trim();
        if is_loopback_origin(origin)
            || self.allowed_origins.iter().any(|allowed| {
                allowed == "*" || allowed.trim_end_matches('/').eq_ignore_ascii_case(origin)
            })
        {
            return Ok(());
        }
        let shown: String = origin.chars().take(200).collect();
        Err(Refusal::new(
            403,
            format!(
                "origin {shown:?} is not allowed; start the server with --allow-origin {shown} to accept it"
            ),
        ))
    }

    /// Checks `Authorization: Bearer TOKEN` when a token is configured.
    pub(crate) fn check_admin_token(&self, authorization: Option<&[u8]>) -> Result<(), Refusal> {
        let Some(token) = &self.admin_token else {
            return Ok(());
        };
        let given = authorization
            .and_then(|value| {
                let scheme = value.get(..7)?;
                scheme
                    .eq_ignore_ascii_case(b"bearer ")
                    .then(|| value[7..].trim_ascii())
            })
            .unwrap_or_default();
        if constant_time_eq(given, token.as_bytes()) {
            Ok(())
        } else {
            Err(Refusal::new(
                401,
                "the admin API requires Authorization: Bearer <token>",
            ))
        }
    }
}

/// The host part of a `Host` header or origin authority: `name`, `name:port`,
/// `[v6]`, `[v6]:port`. `None` when malformed.
fn host_name(authority: &str) -> Option<&str> {
    let authority = authority.trim();
    if authority.is_empty()
        || authority
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"/@?#\\".contains(&b))
    {
        return None;
    }
    let (name, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (&authority[..inside.len() + 2], port)
    } else {
        match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        }
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    (port_ok && !name.is_empty()).then_some(name)
}

fn parse_ip(name: &str) -> Option<IpAddr> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => name.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// An IP address is never a rebinding attack: a page can only reach it by that address.
fn is_ip_literal(name: &str) -> bool {
    parse_ip(name).is_some()
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// `http(s)://` + a loopback host, any port.
fn is_loopback_origin(origin: &str) -> bool {
    let lower = origin.to_ascii_lowercase();
    let Some(authority) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return false;
    };
    let Some(name) = host_name(authority) else {
        return false;
    };
    is_localhost_name(name) || parse_ip(name).is_some_and(|ip| ip.is_loopback())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let access = Access::default();
        for ok in [
            "http://localhost:5173",
            "https://localhost",
            "http://127.0.0.1:8000",
            "http://127.9.9.9",
            "http://[::1]:3000",
            "http://app.localhost:1",
        ] {
            assert!(access.check_origin(Some(ok.as_bytes())).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "null",
            "http://localhost.evil.example",
            "ftp://localhost",
            "http://128.0.0.1",
            "http://127.0.0.1@evil.example",
            "http://[::2]",
            "http://localhost:99999999",
        ] {
            let refusal = access.check_origin(Some(bad.as_bytes())).unwrap_err();
            assert_eq!(refusal.status, 403, "{bad}");
        }
        assert!(access.check_origin(None).is_ok());
        let access = Access {
            allowed_origins: vec!["https://app.example/".into()],
            ..Access::default()
        };
        assert!(access.check_origin(Some(b"https://app.example")).is_ok());
        assert!(access.check_origin(Some(b"https://other.example")).is_err());
    }

    #[test]
    fn hosts() {
        let access = Access {
            allowed_hosts: vec!["dcrf.test".into()],
            ..Access::default()
        };
        for ok in [
            "127.0.0.1:8000",
            "localhost",
            "LOCALHOST:1",
            "[::1]:80",
            "10.0.0.5",
            "dcrf.test:8000",
        ] {
            assert!(access.check_host(Some(ok.as_bytes())).is_ok(), "{ok}");
        }
        assert_eq!(
            access.check_host(Some(b"evil.example")).unwrap_err().status,
            421
        );
        assert_eq!(access.check_host(None).unwrap_err().status, 400);
        assert_eq!(access.check_host(Some(b"a b:1")).unwrap_err().status, 400);
    }

    #[test]
    fn token() {
        let open = Access::default();
        assert!(open.check_admin_token(None).is_ok());
        let closed = Access {
            admin_token: Some("s3cret".into()),
            ..Access::default()
        };
        assert!(closed.check_admin_token(Some(b"Bearer s3cret")).is_ok());
        assert!(closed.check_admin_token(Some(b"bearer s3cret")).is_ok());
        assert_eq!(closed.check_admin_token(None).unwrap_err().status, 401);
        assert!(closed.check_admin_token(Some(b"Bearer nope")).is_err());
        assert!(closed.check_admin_token(Some(b"Basic s3cret")).is_err());
        assert!(!format!("{closed:?}").contains("s3cret"));
    }
}
