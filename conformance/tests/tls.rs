//! `wss://` and `https://`: a TLS-terminating proxy with a certificate made at test time
//! (rcgen) in front of the in-process reference server. The platform's roots do not trust
//! it (exit 2, one line about the certificate); `--ca-file` and `--insecure` do, and then the
//! cases pass over TLS: the malformed-input cases (the raw wire layer writes bad frames
//! through rustls) and the mutating ones, whose hook goes to `https://` on the same proxy.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use dcrf_conformance::embedded::{EmbeddedServer, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcrf-conformance"))
}

/// Starts a TLS proxy to `upstream` with a fresh self-signed certificate for 127.0.0.1;
/// returns its port and the certificate's PEM.
async fn tls_proxy(upstream: std::net::SocketAddr) -> (u16, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("self-signed certificate");
    let pem = certified.cert.pem();
    let cert_der = certified.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(Ok(mut tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(inbound)).await
                else {
                    return;
                };
                let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
            });
        }
    });
    (port, pem)
}

async fn run_bin(args: Vec<String>) -> Output {
    let child = tokio::task::spawn_blocking(move || {
        bin()
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .expect("runs")
    });
    tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .expect("the binary ends within 120 s")
        .expect("the task")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dcrf-conformance-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn wss_and_https_with_a_private_ca_or_insecure() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = EmbeddedServer::start(ServerConfig::strict())
            .await
            .expect("starts");
        let upstream: std::net::SocketAddr = server
            .ws_url()
            .trim_start_matches("ws://")
            .trim_end_matches("/ws/")
            .parse()
            .expect("an address");
        let (port, pem) = tls_proxy(upstream).await;
        let dir = temp_dir();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, pem).expect("write the CA");
        let url = format!("wss://127.0.0.1:{port}/ws/");
        let base = vec![
            "run".to_owned(),
            "--url".to_owned(),
            url.clone(),
            "--full-url".to_owned(),
            format!("wss://127.0.0.1:{port}/ws/full/"),
            "--case-timeout-ms".to_owned(),
            "20000".to_owned(),
        ];
        let cases: Vec<String> = ["2.3", "5.1.1", "5.5.1", "5.6.1", "6.2.1"]
            .iter()
            .flat_map(|case| ["--case".to_owned(), (*case).to_owned()])
            .collect();

        // The platform's roots do not know the certificate: one line about it.
        let output = run_bin(base.clone()).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("TLS handshake failed"), "{stderr}");
        assert!(stderr.contains("--ca-file"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

        for trust in [
            vec!["--ca-file".to_owned(), ca.display().to_string()],
            vec!["--insecure".to_owned()],
        ] {
            let args = [base.clone(), trust.clone(), cases.clone()].concat();
            let output = run_bin(args).await;
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{trust:?}: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            // Malformed frames went through TLS and were answered; the hook spoke https.
            for line in [
                "PASS       2.3.1",
                "PASS       2.3.2",
                "PASS       5.5.1",
                "PASS       5.6.1",
                "PASS       6.2.1",
            ] {
                assert!(stdout.contains(line), "{trust:?}: {line} missing: {stdout}");
            }
            assert!(stdout.contains(&format!("cases against {url}")), "{stdout}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        server.shutdown().await;
    });
}
