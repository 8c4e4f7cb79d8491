//! How the harness reaches a deployed app: the handshake's extra headers (`Authorization`,
//! `Cookie`, `Origin`, subprotocols) and TLS for `wss://` and `https://` (rustls with ring:
//! the platform's roots, a private CA from a PEM file, or, explicitly, any certificate).
//!
//! The raw wire layer keeps its freedom over TLS: tungstenite writes whatever text or binary
//! frame a case gives it, malformed JSON included, through the rustls stream.
//!
//! A refused handshake is explained in one line that says what to check
//! (`explain_connect_error`), for the preflight of a run.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::Error;
use crate::target::{MutationConfig, Target};

/// The handshake headers and TLS configuration of every connection the harness opens.
#[derive(Clone)]
pub struct Transport {
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Arc<rustls::ClientConfig>,
    /// What the TLS configuration trusts, for messages.
    trust: Trust,
    origin_sent: bool,
}

/// What a transport's TLS configuration trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// No TLS endpoint in the target: nothing (no root loaded).
    Nothing,
    /// The platform's root certificates.
    Platform,
    /// The certificates of `ca_file`.
    CaFile,
    /// Any certificate (`insecure`).
    Anything,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Transport")
            .field("headers", &names)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl Default for Transport {
    /// No extra header, and no TLS trust (a `ws://` and `http://` target).
    fn default() -> Self {
        Transport {
            headers: Vec::new(),
            tls: Arc::new(client_config(rustls::RootCertStore::empty())),
            trust: Trust::Nothing,
            origin_sent: false,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl Transport {
    /// The transport a target asks for: its `headers`, `origin` and `subprotocols`, and TLS
    /// trusting `ca_file`, anything (`insecure`) or, when an endpoint or the hook uses TLS,
    /// the platform's roots.
    pub fn from_target(target: &Target) -> Result<Transport, Error> {
        let mut headers = Vec::new();
        for (name, value) in &target.headers {
            headers.push(header(&format!("headers.{name}"), name, value)?);
        }
        if let Some(origin) = &target.origin {
            headers.push(header("origin", "Origin", origin)?);
        }
        if !target.subprotocols.is_empty() {
            headers.push(header(
                "subprotocols",
                "Sec-WebSocket-Protocol",
                &target.subprotocols.join(", "),
            )?);
        }
        let (tls, trust) = if target.insecure {
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports rustls's default protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
                .with_no_client_auth();
            (config, Trust::Anything)
        } else if let Some(path) = &target.ca_file {
            let mut roots = rustls::RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|error| Error::Tls(format!("ca_file {}: {error}", path.display())))?;
            for certificate in certificates {
                let certificate = certificate
                    .map_err(|error| Error::Tls(format!("ca_file {}: {error}", path.display())))?;
                roots
                    .add(certificate)
                    .map_err(|error| Error::Tls(format!("ca_file {}: {error}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(Error::Tls(format!(
                    "ca_file {}: no PEM certificate in it",
                    path.display()
                )));
            }
            (client_config(roots), Trust::CaFile)
        } else if uses_tls(target) {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(Error::Tls(format!(
                    "no root certificate found on this platform ({} errors): give ca_file / --ca-file",
                    native.errors.len()
                )));
            }
            (client_config(roots), Trust::Platform)
        } else {
            (
                client_config(rustls::RootCertStore::empty()),
                Trust::Nothing,
            )
        };
        Ok(Transport {
            headers,
            tls: Arc::new(tls),
            trust,
            origin_sent: target.origin.is_some(),
        })
    }

    /// The handshake request for `url` (kept verbatim: its query string goes on the request
    /// line) with the extra headers.
    pub(crate) fn request(&self, url: &str) -> Result<Request, WsError> {
        let mut request = url.into_client_request()?;
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(request)
    }

    /// The rustls configuration for `wss://` and `https://`.
    pub(crate) fn tls(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.tls)
    }

    /// What to check when a TLS handshake fails.
    fn tls_advice(&self) -> &'static str {
        match self.trust {
            Trust::Nothing | Trust::Platform => {
                "check the server's certificate: --ca-file PEM (ca_file) for a private CA, --insecure for a self-signed development certificate"
            }
            Trust::CaFile => {
                "the certificate is not signed by the CA of ca_file (--ca-file), or does not name the host of the URL"
            }
            Trust::Anything => "the server does not speak TLS on this port, or no common cipher",
        }
    }
}

fn header(key: &str, name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::InvalidTarget(format!("{key}: {name:?} is not a header name")))?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        Error::InvalidTarget(format!("{key}: the value is not a valid header value"))
    })?;
    Ok((name, value))
}

/// Whether an endpoint or the HTTP hook of `target` uses TLS.
fn uses_tls(target: &Target) -> bool {
    let ws = target
        .ws_urls()
        .iter()
        .any(|(_, url)| url.starts_with("wss:"));
    let hook = match &target.mutation {
        MutationConfig::Http(http) => http
            .base_url(&target.url)
            .is_ok_and(|base| base.starts_with("https:")),
        MutationConfig::Websocket(ws) => {
            ws.url.as_deref().is_some_and(|url| url.starts_with("wss:"))
        }
        _ => false,
    };
    ws || hook
}

/// `insecure`: accepts any certificate, still checking the handshake's signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One line saying why the handshake to `url` failed and what to check.
pub(crate) fn explain_connect_error(
    error: &(dyn std::error::Error + 'static),
    transport: &Transport,
) -> String {
    let Some(ws) = error.downcast_ref::<WsError>() else {
        return format!("{error}: check that the server is up and the URL is right");
    };
    match ws {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(|body| {
                    let text = String::from_utf8_lossy(body);
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    let cut: String = text.chars().take(80).collect();
                    if cut.is_empty() {
                        String::new()
                    } else {
                        format!(" ({cut:?})")
                    }
                })
                .unwrap_or_default();
            let advice = match status {
                401 => "check the credentials: the [headers] (Authorization, Cookie) or the token in the URL".to_owned(),
                403 if !transport.origin_sent => {
                    "check the Origin: none was sent, and Channels' AllowedHostsOriginValidator refuses a handshake without one (set origin = \"https://your.host\"); then the credentials ([headers], a token in the URL)".to_owned()
                }
                403 => "check the Origin (origin: its host must be in the app's ALLOWED_HOSTS) and the credentials ([headers], a token in the URL)".to_owned(),
                404 => "check the URL path: no WebSocket route there".to_owned(),
                500 => "check the URL path: Channels answers 500 when its router has no route for the path (or the consumer failed while connecting: see the server's log)".to_owned(),
                426 | 400 => "the server does not take a WebSocket handshake at this URL: check the URL".to_owned(),
                _ => "check the URL and the credentials".to_owned(),
            };
            format!("the WebSocket handshake was refused with HTTP {status}{body}: {advice}")
        }
        WsError::Io(io) => {
            if let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return format!(
                    "the TLS handshake failed ({tls}): {}",
                    transport.tls_advice()
                );
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    "connection refused: check that the server is running at this host and port"
                        .to_owned()
                }
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof => format!(
                    "the server closed the connection during the handshake ({io}): check the scheme (ws:// or wss://) and the port"
                ),
                _ => format!("{io}: check the host, the port and the scheme"),
            }
        }
        WsError::Tls(tls) => format!(
            "the TLS handshake failed ({tls}): {}",
            transport.tls_advice()
        ),
        WsError::Url(url) => format!("bad URL ({url}): check the URL"),
        WsError::Protocol(protocol) => format!(
            "the handshake answer breaks RFC 6455 ({protocol}): check the URL and the subprotocols"
        ),
        other => format!("{other}: check the URL"),
    }
}
