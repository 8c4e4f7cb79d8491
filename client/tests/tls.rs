//! `wss://`: the client through a TLS-terminating proxy in front of the reference server,
//! trusting a self-signed certificate given with `ClientBuilder::tls_config`.

mod common;

use std::sync::Arc;

use common::{User, admin, next, rename, start, within};
use dcrf_client::{Client, Error, Event, rustls};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

#[tokio::test]
async fn wss_with_a_private_root() {
    let server = start().await;
    let upstream = server.local_addr();

    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("self-signed certificate");
    let cert_der = certified.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let listener = within("bind", TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let proxy = tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(inbound).await else {
                    return;
                };
                let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
            });
        }
    });

    let url = format!("wss://127.0.0.1:{}/ws/", addr.port());
    // The platform's roots do not know the certificate.
    match within("connect", Client::connect(url.clone())).await {
        Err(Error::Connect(_) | Error::Tls(_)) => {}
        other => panic!("expected a TLS failure, got {other:?}"),
    }

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).expect("root");
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = within(
        "connect",
        Client::builder(url)
            .tls_config(Arc::new(client_config))
            .connect(),
    )
    .await
    .expect("connect over TLS");
    let user: User = client.retrieve(1).await.expect("retrieve");
    assert_eq!(user.username, "test 1");
    let mut changes = client.subscribe::<User>(1).await.expect("subscribe");
    rename(&admin(&server), 1, "over tls").await;
    assert!(
        matches!(next(&mut changes).await, Event::Updated(user) if user.username == "over tls")
    );
    proxy.abort();
    server.shutdown().await;
}
