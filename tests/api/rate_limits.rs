//! `[auth.rate_limits]`: per-principal token buckets on admin operations
//! and, optionally, on every request; 429 `rate_limited` with `Retry-After`.

use reqwest::{Response, StatusCode};
use strata::config::{AuthSettings, RateLimitSettings, Settings};

use crate::helpers::{TestApp, api_key, assert_problem, bearer, spawn_app_with};

const OPS1: &str = "ops1-key-0123456789";
const OPS2: &str = "ops2-key-0123456789";

async fn spawn_limited(api_keys: bool, limits: RateLimitSettings) -> TestApp {
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    if api_keys {
        auth.api_keys
            .insert("ops1".into(), api_key(OPS1, &[("*", "admin")]));
        auth.api_keys
            .insert("ops2".into(), api_key(OPS2, &[("*", "admin")]));
    }
    auth.rate_limits = Some(limits);
    settings.auth = Some(auth);
    spawn_app_with(settings).await
}

async fn flush(app: &TestApp, secret: &str) -> Response {
    bearer(
        app.client.post(app.url("/admin/v1/caches/default/flush")),
        secret,
    )
    .send()
    .await
    .expect("flush sent")
}

/// Asserts 429 `rate_limited` with a whole-second `Retry-After` of at least 1.
async fn assert_rate_limited(response: Response) {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a whole-second Retry-After");
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn admin_operations_are_limited_per_principal_after_the_burst() {
    let app = spawn_limited(
        true,
        RateLimitSettings {
            admin_per_minute: 1,
            admin_burst: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(flush(&app, OPS1).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(flush(&app, OPS1).await.status(), StatusCode::NO_CONTENT);
    assert_rate_limited(flush(&app, OPS1).await).await;

    // Another principal has its own bucket.
    assert_eq!(flush(&app, OPS2).await.status(), StatusCode::NO_CONTENT);

    // Ordinary requests do not take admin tokens.
    for _ in 0..5 {
        let r = bearer(app.client.get(app.entry("default", "k")), OPS1)
            .send()
            .await
            .unwrap();
        assert_problem(r, StatusCode::NOT_FOUND, "entry_not_found").await;
    }

    // Create/reconfigure and delete share the admin bucket.
    let r = bearer(app.client.delete(app.url("/admin/v1/caches/default")), OPS1)
        .send()
        .await
        .unwrap();
    assert_rate_limited(r).await;
    let r = bearer(app.client.put(app.url("/admin/v1/caches/other")), OPS1)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_rate_limited(r).await;

    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("strata_rate_limited_total{action=\"admin\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn every_request_is_limited_when_requests_per_second_is_set() {
    let app = spawn_limited(
        false,
        RateLimitSettings {
            requests_per_second: Some(1),
            requests_burst: Some(2),
            ..Default::default()
        },
    )
    .await;
    for _ in 0..2 {
        assert_problem(
            app.get("default", "k").await,
            StatusCode::NOT_FOUND,
            "entry_not_found",
        )
        .await;
    }
    // One token comes back a second: a slow machine may earn one or two
    // between these requests, but not one per request.
    let mut limited = None;
    for _ in 0..10 {
        let r = app.get("default", "k").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_problem(r, StatusCode::NOT_FOUND, "entry_not_found").await;
    }
    assert_rate_limited(limited.expect("no 429 within 10 requests past the burst")).await;
    // Open routes take no token.
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("strata_rate_limited_total{action=\"request\"}"),
        "{metrics}"
    );
}

/// Failed authentication per peer: after `failed_auth_burst` refused
/// credentials, the peer is blocked (429 before any credential check, so
/// a good key from it is refused too); another peer is unaffected, and a
/// request without credentials is still 401.
#[tokio::test]
async fn a_peer_is_blocked_after_its_failed_authentication_burst() {
    let app = spawn_limited(
        true,
        RateLimitSettings {
            failed_auth_per_minute: 1,
            failed_auth_burst: 3,
            ..Default::default()
        },
    )
    .await;
    let get = |client: &reqwest::Client, key: &str| {
        bearer(client.get(app.entry("default", "k")), key).send()
    };
    for i in 0..3 {
        let r = get(&app.client, &format!("wrong-key-{i}")).await.unwrap();
        crate::helpers::assert_unauthorized(r).await;
    }
    assert_rate_limited(get(&app.client, "wrong-key-3").await.unwrap()).await;
    // Blocked: a good key from the same peer is refused before it is checked.
    assert_rate_limited(get(&app.client, OPS1).await.unwrap()).await;
    // No credential is no guess: still 401.
    let r = app
        .client
        .get(app.entry("default", "k"))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_unauthorized(r).await;

    // Another peer (127.0.0.2, also loopback) has its own bucket.
    let other = reqwest::Client::builder()
        .local_address(Some(std::net::IpAddr::from([127, 0, 0, 2])))
        .build()
        .expect("client");
    let r = get(&other, OPS1).await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "entry_not_found").await;
    let r = get(&other, "wrong-key").await.unwrap();
    crate::helpers::assert_unauthorized(r).await;

    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("strata_rate_limited_total{action=\"failed_auth\"}"),
        "{metrics}"
    );
}

/// Without `[auth.rate_limits]`, the failed-authentication limit is on at
/// its defaults (30 a minute, burst 10) whenever credentials exist.
#[tokio::test]
async fn the_failed_authentication_limit_is_on_by_default_with_credentials() {
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("ops1".into(), api_key(OPS1, &[("*", "admin")]));
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;
    let mut statuses = Vec::new();
    for i in 0..20 {
        let r = bearer(
            app.client.get(app.entry("default", "k")),
            &format!("bad-{i}"),
        )
        .send()
        .await
        .unwrap();
        statuses.push(r.status().as_u16());
        if statuses[i] == 429 {
            break;
        }
    }
    // The burst of 10 always passes to the credential check; a token comes
    // back every 2 s, so a slow machine may check one or two more, not ten.
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses[10..statuses.len() - 1].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
}
