//! `[server] trusted_proxies` (issue 26 item 2): behind nginx every TCP
//! peer is the proxy, so the failed-authentication limit, protected mode
//! and the audit trail must key on the client the proxy forwards, and
//! only a trusted proxy's header is believed.

use std::net::IpAddr;
use std::path::Path;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use strata::config::{AuditSettings, AuthSettings, RateLimitSettings, Settings};

use crate::helpers::{
    TestApp, api_key, assert_problem, assert_unauthorized, bearer, spawn_app_from,
};

const GOOD: &str = "proxy-test-key-0123456789";
/// The proxy's address: the tests' client connects from it.
const PROXY: [u8; 4] = [127, 0, 0, 9];

fn settings(trusted_proxies: &[&str], audit: Option<&Path>) -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.trusted_proxies = trusted_proxies.iter().map(|s| (*s).to_owned()).collect();
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("ops".into(), api_key(GOOD, &[("*", "admin")]));
    auth.rate_limits = Some(RateLimitSettings {
        failed_auth_per_minute: 1,
        failed_auth_burst: 3,
        ..Default::default()
    });
    settings.auth = Some(auth);
    settings.audit = audit.map(|path| AuditSettings {
        path: path.to_owned(),
        max_bytes: None,
    });
    settings
}

async fn spawn(trusted_proxies: &[&str], audit: Option<&Path>) -> TestApp {
    spawn_app_from(settings(trusted_proxies, audit), Some(IpAddr::from(PROXY))).await
}

/// A GET of an entry with `key`, as the proxy forwards it for
/// `x_forwarded_for`.
async fn get(
    app: &TestApp,
    client: &Client,
    key: &str,
    x_forwarded_for: &str,
) -> reqwest::Response {
    bearer(client.get(app.entry("default", "k")), key)
        .header("x-forwarded-for", x_forwarded_for)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_bad_client_locks_out_only_itself() {
    let app = spawn(&["127.0.0.9"], None).await;
    let client = app.client.clone();
    for i in 0..3 {
        assert_unauthorized(get(&app, &client, &format!("bad-{i}"), "203.0.113.1").await).await;
    }
    let blocked = get(&app, &client, "bad-3", "203.0.113.1").await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client through the same proxy is served with its good key.
    let other = get(&app, &client, GOOD, "203.0.113.2").await;
    assert_problem(other, StatusCode::NOT_FOUND, "entry_not_found").await;
    // The blocked client cannot claim another address: the proxy appends
    // the real one, and only the rightmost untrusted hop counts.
    let spoofed = get(&app, &client, GOOD, "203.0.113.2, 203.0.113.1").await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let app = spawn(&[], None).await;
    let client = app.client.clone();
    // A client that varies X-Forwarded-For still spends its own bucket.
    for i in 0..3 {
        let r = get(
            &app,
            &client,
            &format!("bad-{i}"),
            &format!("198.51.100.{i}"),
        )
        .await;
        assert_unauthorized(r).await;
    }
    let r = get(&app, &client, "bad-3", "198.51.100.3").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = get(&app, &client, GOOD, "198.51.100.77").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Nor is its X-Request-Id taken as the request's id.
    let r = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "from-anyone")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "from-anyone");
    assert_eq!(id.len(), 36, "{id}");
}

#[tokio::test]
async fn a_trusted_proxys_request_id_and_client_reach_the_audit_trail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let app = spawn(&["127.0.0.0/8"], Some(&path)).await;
    let nginx_id = "0f3c9a7d2b1e4c5f8a6b7c8d9e0f1a2b";
    let r = bearer(app.client.get(app.entry("default", "k")), "bad-key")
        .header("x-forwarded-for", "192.0.2.44")
        .header("x-request-id", nginx_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], nginx_id);
    assert_unauthorized(r).await;
    // An id outside the accepted alphabet is replaced, not echoed.
    let r = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "two words")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "two words");
    let records: Vec<Value> = std::fs::read_to_string(&path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let refusal = records
        .iter()
        .find(|r| r["request_id"] == nginx_id)
        .unwrap_or_else(|| panic!("no record of {nginx_id}: {records:?}"));
    assert_eq!(refusal["action"], "unauthorized");
    assert_eq!(refusal["peer"], "192.0.2.44");
}

/// Protected mode (no API keys, loopback trusted) behind a proxy on
/// loopback: the forwarded client is judged, not the proxy, so the proxy
/// does not open the service to everyone.
#[tokio::test]
async fn protected_mode_judges_the_forwarded_client() {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.trusted_proxies = vec!["127.0.0.9".to_owned()];
    let app = spawn_app_from(settings, Some(IpAddr::from(PROXY))).await;
    let outside = app
        .client
        .get(app.entry("default", "k"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_problem(outside, StatusCode::FORBIDDEN, "protected_mode").await;
    let local = app
        .client
        .get(app.entry("default", "k"))
        .header("x-forwarded-for", "127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_problem(local, StatusCode::NOT_FOUND, "entry_not_found").await;
}

/// gRPC reads the same header from a trusted proxy's call metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_behind_a_trusted_proxy_are_limited_per_client() {
    use strata_presentation::grpc::cache::pb;
    use strata_presentation::grpc::cache::pb::cache_client::CacheClient;
    use tonic::Code;

    let app = spawn(&["127.0.0.0/8"], None).await;
    let mut c = CacheClient::new(crate::grpc_reapi::channel(&app).await);
    let call = |key: &str, client: &str| {
        let mut request = crate::grpc_reapi::authed(
            pb::GetRequest {
                cache: "default".into(),
                key: "k".into(),
            },
            key,
        );
        request
            .metadata_mut()
            .insert("x-forwarded-for", client.parse().expect("ascii"));
        request
    };
    for i in 0..3 {
        let e = c
            .get(call(&format!("bad-{i}"), "203.0.113.1"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    }
    let e = c.get(call("bad-3", "203.0.113.1")).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    let other = c.get(call(GOOD, "203.0.113.2")).await;
    assert!(
        !matches!(&other, Err(e) if matches!(e.code(), Code::ResourceExhausted | Code::Unauthenticated)),
        "{other:?}"
    );
}

/// A proxy that speaks RFC 7239 only works with the default setting: its
/// `Forwarded` is read when it sent no `X-Forwarded-For`.
#[tokio::test]
async fn a_forwarded_only_proxy_names_the_client_too() {
    let app = spawn(&["127.0.0.9"], None).await;
    let get = |key: &'static str, client: &'static str| {
        bearer(app.client.get(app.entry("default", "k")), key)
            .header("forwarded", format!("for={client};proto=http"))
            .send()
    };
    for i in 0..3 {
        let key = ["bad-0", "bad-1", "bad-2"][i];
        assert_unauthorized(get(key, "203.0.113.1").await.unwrap()).await;
    }
    let blocked = get("bad-3", "203.0.113.1").await.unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = get(GOOD, "203.0.113.2").await.unwrap();
    assert_problem(other, StatusCode::NOT_FOUND, "entry_not_found").await;
}
