//! TLS: `[server] tls_cert_file` and `tls_key_file` make the listener speak
//! HTTPS (and the console's session cookie `Secure`). The certificate is generated at run time (rcgen), and the client
//! trusts only it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use reqwest::{Certificate, Client, StatusCode};
use strata::config::Settings;

/// A self-signed certificate for `localhost`, written as PEM to `dir`:
/// (certificate file, key file, certificate PEM).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("certificate generated");
    let cert_pem = certified.cert.pem();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &cert_pem).expect("certificate written");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key written");
    (cert, key, cert_pem)
}

fn tls_settings(cert: &Path, key: &Path) -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.grpc_listen = String::new();
    settings.server.workers = Some(1);
    settings.server.shutdown_timeout_secs = 1;
    settings.server.tls_cert_file = Some(cert.to_owned());
    settings.server.tls_key_file = Some(key.to_owned());
    settings
}

async fn build_error(settings: Settings) -> String {
    match strata::Application::build(settings).await {
        Ok(_) => panic!("start-up should fail"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn an_https_round_trip_with_a_run_time_certificate() {
    crate::helpers::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key, cert_pem) = self_signed(dir.path());
    let app = strata::Application::build(tls_settings(&cert, &key))
        .await
        .expect("app builds with TLS");
    let port = app.port();
    let handle = app.handle();
    tokio::spawn(app.run());

    let client = Client::builder()
        .tls_certs_only([Certificate::from_pem(cert_pem.as_bytes()).expect("PEM certificate")])
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .expect("client");
    let url = format!("https://localhost:{port}/v1/caches/default/entries/greeting");
    let put = client
        .put(&url)
        .header("content-type", "text/plain")
        .body("over tls")
        .send()
        .await
        .expect("HTTPS PUT sent");
    assert!(put.status().is_success(), "{}", put.status());
    let got = client.get(&url).send().await.expect("HTTPS GET sent");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.text().await.expect("body"), "over tls");

    // The console's session cookie is `Secure` under TLS.
    let console = client
        .get(format!("https://localhost:{port}/console"))
        .send()
        .await
        .expect("HTTPS console page");
    assert_eq!(console.status(), StatusCode::OK);
    let cookie = console
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(
        cookie.starts_with("strata_session=") && cookie.ends_with("; Secure"),
        "{cookie}"
    );

    // Plain HTTP on the same port gets no HTTP answer.
    let plain = Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/v1/caches/default/entries/greeting"
        ))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    handle.stop(true).await;
}

#[tokio::test]
async fn missing_garbage_or_unpaired_tls_files_fail_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key, _) = self_signed(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").expect("written");
    let missing = dir.path().join("missing.pem");

    let e = build_error(tls_settings(&missing, &key)).await;
    assert!(
        e.contains("tls_cert_file") && e.contains("missing.pem"),
        "{e}"
    );
    let e = build_error(tls_settings(&garbage, &key)).await;
    assert!(
        e.contains("tls_cert_file") && e.contains("garbage.pem"),
        "{e}"
    );
    let e = build_error(tls_settings(&cert, &garbage)).await;
    assert!(
        e.contains("tls_key_file") && e.contains("garbage.pem"),
        "{e}"
    );
    // A key of another certificate does not fit.
    let other = tempfile::tempdir().expect("temp dir");
    let (_, other_key, _) = self_signed(other.path());
    let e = build_error(tls_settings(&cert, &other_key)).await;
    assert!(
        e.contains("tls_key_file") && e.contains("does not fit"),
        "{e}"
    );

    let mut only_cert = tls_settings(&cert, &key);
    only_cert.server.tls_key_file = None;
    let e = build_error(only_cert).await;
    assert!(
        e.contains("tls_cert_file") && e.contains("tls_key_file"),
        "{e}"
    );
}

/// gRPC on `[server] grpc_listen` speaks TLS with the same certificate:
/// a client that trusts it gets answers (health and the cache API), a
/// plaintext client none.
#[tokio::test]
async fn grpc_uses_the_same_certificate() {
    use strata_presentation::grpc::cache::pb;
    use strata_presentation::grpc::cache::pb::cache_client::CacheClient;
    use tonic::transport::{Certificate as TonicCertificate, Channel, ClientTlsConfig};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    crate::helpers::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key, cert_pem) = self_signed(dir.path());
    let mut settings = tls_settings(&cert, &key);
    settings.server.grpc_listen = "127.0.0.1:0".into();
    let app = strata::Application::build(settings)
        .await
        .expect("app builds with TLS");
    let port = app.grpc_port().expect("gRPC listener on");
    let handle = app.handle();
    tokio::spawn(app.run());

    let tls = ClientTlsConfig::new()
        .ca_certificate(TonicCertificate::from_pem(cert_pem.as_bytes()))
        .domain_name("localhost");
    let ch = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .expect("url")
        .tls_config(tls)
        .expect("TLS config")
        .connect()
        .await
        .expect("gRPC over TLS connects");
    let status = HealthClient::new(ch.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health over TLS")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let mut cache = CacheClient::new(ch);
    cache
        .set(pb::SetRequest {
            cache: "default".into(),
            key: "over-grpc-tls".into(),
            value: b"sealed".to_vec(),
            ..Default::default()
        })
        .await
        .expect("Set over TLS");
    let got = cache
        .get(pb::GetRequest {
            cache: "default".into(),
            key: "over-grpc-tls".into(),
        })
        .await
        .expect("Get over TLS")
        .into_inner();
    assert!(got.found);
    assert_eq!(got.entry.expect("entry").value, b"sealed");

    // Plaintext HTTP/2 on the TLS port gets no gRPC answer.
    let plain = match Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect()
        .await
    {
        Ok(ch) => HealthClient::new(ch)
            .check(HealthCheckRequest::default())
            .await
            .map(|_| ()),
        Err(e) => Err(tonic::Status::unavailable(e.to_string())),
    };
    assert!(plain.is_err(), "{plain:?}");
    handle.stop(true).await;
}

/// What a client offering `h2` and `http/1.1` (as curl does) got: the
/// negotiated ALPN protocol and the header of the server's first frame
/// after the HTTP/2 connection preface.
struct H2Probe {
    alpn: Option<Vec<u8>>,
    first_frame_header: [u8; 9],
}

/// Connects to `localhost:port` over TLS trusting only `cert_pem`, offers
/// `h2` then `http/1.1`, sends the HTTP/2 preface and an empty SETTINGS
/// frame, and reads one frame header back. Blocking: run it off the
/// runtime's thread.
fn probe_h2(port: u16, cert_pem: &str) -> H2Probe {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("PEM certificate"))
        .expect("trusted");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = ServerName::try_from("localhost").expect("server name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connected");
    // A guard against hanging the suite, not a timing assertion.
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout set");
    let mut tls = rustls::Stream::new(&mut conn, &mut socket);
    // Connection preface, then SETTINGS (type 4) with no parameters.
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("preface sent");
    let mut first_frame_header = [0u8; 9];
    tls.read_exact(&mut first_frame_header)
        .expect("the server answers the preface");
    H2Probe {
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        first_frame_header,
    }
}

/// Issue 26 item 23: the TLS docs promise HTTP/2 through ALPN, but the
/// listener chose `http/1.1` for curl (actix-web was built without its
/// `http2` feature). A client offering `h2` first now gets `h2`, and the
/// server answers the HTTP/2 preface with its SETTINGS frame.
#[tokio::test]
async fn alpn_negotiates_h2_and_the_server_speaks_http2() {
    crate::helpers::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key, cert_pem) = self_signed(dir.path());
    let app = strata::Application::build(tls_settings(&cert, &key))
        .await
        .expect("app builds with TLS");
    let port = app.port();
    let handle = app.handle();
    tokio::spawn(app.run());

    let probe = tokio::task::spawn_blocking(move || probe_h2(port, &cert_pem))
        .await
        .expect("probe ran");
    assert_eq!(
        probe.alpn.as_deref(),
        Some(&b"h2"[..]),
        "negotiated {:?}",
        probe.alpn.as_deref().map(String::from_utf8_lossy)
    );
    assert_eq!(
        probe.first_frame_header[3], 0x4,
        "the server's first HTTP/2 frame is SETTINGS: {:?}",
        probe.first_frame_header
    );
    handle.stop(true).await;
}
