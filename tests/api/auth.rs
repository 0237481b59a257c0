//! Authentication with `[auth.api_keys]`: 401 without a valid key, 403
//! without the grant, and the caches a caller cannot see.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use strata::config::{AuthSettings, Settings};
use strata_infrastructure::ApiKeyDigest;

use crate::helpers::{
    JSON, TestApp, api_key, assert_problem, assert_reader_reads_but_cannot_write,
    assert_unauthorized, bearer, spawn_app_with,
};

const READER: &str = "reader-key-0123456789";
const BUILDER: &str = "builder-key-0123456789";
const ADMIN: &str = "admin-key-0123456789";

/// Caches `default`, `sessions`, `build-x`, `secret`; keys `reader`
/// (reader on `sessions` and `default`), `builder` (writer on `build-*`,
/// reader on `sessions`) and `admin` (admin on `*`).
async fn spawn_authenticated() -> TestApp {
    let mut settings = Settings::load(None).expect("default settings");
    for cache in ["sessions", "build-x", "secret"] {
        settings.caches.insert(cache.to_owned(), Default::default());
    }
    let mut auth = AuthSettings::default();
    auth.api_keys.insert(
        "reader".into(),
        api_key(READER, &[("sessions", "reader"), ("default", "reader")]),
    );
    auth.api_keys.insert(
        "builder".into(),
        api_key(BUILDER, &[("build-*", "writer"), ("sessions", "reader")]),
    );
    auth.api_keys
        .insert("admin".into(), api_key(ADMIN, &[("*", "admin")]));
    settings.auth = Some(auth);
    spawn_app_with(settings).await
}

#[tokio::test]
async fn no_credential_is_401_with_a_bearer_challenge() {
    let app = spawn_authenticated().await;
    assert_unauthorized(app.get("sessions", "k").await).await;
    assert_unauthorized(app.put("sessions", "k", "v").await).await;
    let flush = app.url("/admin/v1/caches/sessions/flush");
    assert_unauthorized(app.send(Method::POST, flush, &[]).await).await;
}

#[tokio::test]
async fn malformed_and_unknown_keys_are_401() {
    let app = spawn_authenticated().await;
    let url = app.entry("sessions", "k");
    for header in [
        ("authorization", "Bearer not-a-configured-key".to_owned()),
        ("authorization", "Bearer".to_owned()),
        ("authorization", "Digest abc".to_owned()),
        ("authorization", "Basic %%%".to_owned()),
        ("x-api-key", "nope".to_owned()),
        // The digest itself is not the key.
        ("x-api-key", ApiKeyDigest::of(ADMIN).to_hex()),
    ] {
        let r = app.send(Method::GET, &url, &[(header.0, &header.1)]).await;
        assert_unauthorized(r).await;
    }
}

#[tokio::test]
async fn a_reader_reads_but_cannot_write() {
    let app = spawn_authenticated().await;
    let url = app.entry("sessions", "k");
    assert_reader_reads_but_cannot_write(&app, &url, ADMIN, READER).await;
}

#[tokio::test]
async fn a_writer_on_a_glob_writes_only_matching_caches() {
    let app = spawn_authenticated().await;
    let put = |cache| app.send_body_as(BUILDER, Method::PUT, app.entry(cache, "k"), &[], "v");
    let r = put("build-x").await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_problem(put("sessions").await, StatusCode::FORBIDDEN, "forbidden").await;
    // Writer is not admin, even on its own caches.
    let flush = app.url("/admin/v1/caches/build-x/flush");
    let r = app.send_as(BUILDER, Method::POST, flush).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn an_admin_on_every_cache_configures_and_flushes() {
    let app = spawn_authenticated().await;
    let create = |credential, cache| {
        let url = app.url(&format!("/admin/v1/caches/{cache}"));
        let config = json!({"max_entries": 10}).to_string();
        app.send_body_as(credential, Method::PUT, url, JSON, config)
    };
    assert_eq!(create(ADMIN, "fresh").await.status(), StatusCode::CREATED);
    let flush = app.url("/admin/v1/caches/fresh/flush");
    let r = app.send_as(ADMIN, Method::POST, flush).await;
    assert!(r.status().is_success(), "{}", r.status());
    // Only admin may create caches.
    let r = create(BUILDER, "build-new").await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn bearer_x_api_key_and_basic_each_authenticate() {
    let app = spawn_authenticated().await;
    let url = app.entry("build-x", "k");
    let requests = [
        bearer(app.client.put(&url), BUILDER),
        app.client.put(&url).header("x-api-key", BUILDER),
        app.client.put(&url).basic_auth("bazel", Some(BUILDER)),
    ];
    for request in requests {
        let r = request.body("v").send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    // Basic with a wrong password is still 401.
    let r = app.client.get(&url).basic_auth("bazel", Some("wrong"));
    let r = r.send().await.unwrap();
    assert_unauthorized(r).await;
}

#[tokio::test]
async fn listing_shows_only_readable_caches() {
    let app = spawn_authenticated().await;
    let names = |body: Value| -> Vec<String> {
        body["caches"]
            .as_array()
            .expect("caches array")
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    for (secret, expected) in [
        (READER, vec!["default", "sessions"]),
        (BUILDER, vec!["build-x", "sessions"]),
        (ADMIN, vec!["build-x", "default", "secret", "sessions"]),
    ] {
        let r = app
            .send_as(secret, Method::GET, app.url("/v1/caches"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(names(r.json().await.unwrap()), expected);
    }
}

#[tokio::test]
async fn an_ungranted_cache_is_403_whether_or_not_it_exists() {
    let app = spawn_authenticated().await;
    for cache in ["secret", "does-not-exist"] {
        let r = app
            .send_as(READER, Method::GET, app.entry(cache, "k"))
            .await;
        let body = assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(
            !body["detail"].as_str().unwrap_or_default().contains(cache),
            "{body}"
        );
        let stats = app.url(&format!("/v1/caches/{cache}/stats"));
        let r = app.send_as(READER, Method::GET, stats).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // A granted principal does learn that a cache is missing.
    let missing = app.entry("build-missing", "k");
    let r = app.send_as(BUILDER, Method::GET, missing).await;
    assert_problem(r, StatusCode::NOT_FOUND, "cache_not_found").await;
}

#[tokio::test]
async fn health_metrics_and_docs_stay_open() {
    let app = spawn_authenticated().await;
    for path in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert!(r.status().is_success(), "/docs/: {}", r.status());
    // Failures are counted by reason.
    app.get("sessions", "k").await;
    app.send_as("wrong", Method::GET, app.entry("sessions", "k"))
        .await;
    let metrics = app.get_text("/metrics").await;
    for reason in ["missing", "invalid"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("strata_auth_failures_total")
                    && l.contains(&format!("reason=\"{reason}\""))),
            "{reason}: {metrics}"
        );
    }
}
