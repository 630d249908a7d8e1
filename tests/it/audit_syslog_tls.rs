//! The audit log's copy in syslog over TLS (RFC 5425, `audit.syslog = "tls://HOST:PORT"`):
//! messages arrive octet-counted inside TLS at a server whose certificate chains to the CA in
//! `audit.syslog_ca_file`; a server signed by another CA gets nothing (and the drops are
//! counted); a CA file that cannot be read stops the start (issue 20, item 8). The test's own
//! certificates are made with the `openssl` command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{TestApp, TestDir, prepare, spawn_app_in};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::mpsc;

use crate::store::pki;

/// A TLS server on the address `localhost` resolves to first, with the certificate `pki` made
/// for `localhost`, reading `MSG-LEN SP SYSLOG-MSG` frames. Returns the tls:// address.
async fn tls_receiver(cert: &Path, key: &Path) -> (String, mpsc::UnboundedReceiver<String>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let local = tokio::net::lookup_host("localhost:0")
        .await
        .unwrap()
        .next()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(local).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return; // the client refused our certificate
                };
                crate::audit_syslog::read_frames(stream, tx).await;
            });
        }
    });
    (format!("tls://localhost:{port}"), rx)
}

fn with_syslog(dir: &TestDir, address: &str, ca: &Path) {
    let text = format!(
        "{}syslog = \"{address}\"\nsyslog_ca_file = \"{}\"\ncheckpoint_interval_secs = 1\n",
        dir.config_text(),
        ca.display()
    );
    std::fs::write(&dir.config_path, text).unwrap();
}

async fn dropped(app: &TestApp) -> f64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap();
    text.text()
        .await
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("registervakt_syslog_dropped_total "))
        .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
}

#[tokio::test]
#[ignore = "needs openssl"]
async fn entries_arrive_over_tls_only_at_a_server_the_configured_ca_signed() {
    let certs = tempfile::tempdir().unwrap();
    let pki = pki::make_pki(&certs.path().join("pki"), 0, 0);
    let (address, mut rx) = tls_receiver(&pki.cert, &pki.key).await;

    let dir = prepare(20).await;
    with_syslog(&dir, &address, &pki.ca);
    let app = spawn_app_in(dir).await;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|m: &String| m.contains(" system.start ")) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(message)) => seen.push(message),
            _ => panic!("system.start did not arrive over TLS: {seen:?}"),
        }
    }
    assert!(seen.iter().all(|m| m.starts_with("<")), "{seen:?}");
    app.stop().await;
    // What the first broker sent up to its stop (system.stop, a last checkpoint).
    tokio::time::sleep(Duration::from_millis(500)).await;
    while rx.try_recv().is_ok() {}

    // The same server, but the broker trusts another CA: the handshake fails, nothing arrives.
    let dir = prepare(20).await;
    with_syslog(&dir, &address, &pki.other_ca);
    let app = spawn_app_in(dir).await;
    let mut counted = 0.0;
    for _ in 0..100 {
        counted = dropped(&app).await;
        if counted > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        counted > 0.0,
        "messages the server could not take are counted"
    );
    let late = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
    assert!(
        late.is_err(),
        "a message arrived past a failed certificate check: {late:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_syslog_ca_file_that_cannot_be_read_stops_the_start() {
    let dir = prepare(20).await;
    let missing = dir.path().join("no-such-ca.pem");
    with_syslog(&dir, "tls://localhost:6514", &missing);
    registervakt::app::init_store(&dir.config())
        .await
        .unwrap()
        .close()
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = registervakt::app::Application::build_with_listener(dir.config(), listener)
        .await
        .err()
        .expect("the start is refused")
        .to_string();
    assert!(
        err.contains("audit.syslog_ca_file") && err.contains("no-such-ca.pem"),
        "{err}"
    );
}
