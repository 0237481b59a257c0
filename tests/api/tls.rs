//! TLS: `[server] tls_cert_file` and `tls_key_file` make the listener speak
//! HTTPS. The certificate is generated at run time (rcgen), and the client
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
