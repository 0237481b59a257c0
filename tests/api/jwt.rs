//! Authentication with `[auth.jwt]`: HS256 bearer tokens, their grants
//! and namespace claims, beside API keys.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use strata::config::{AuthSettings, JwtSettings, Settings};

use crate::helpers::{
    TestApp, api_key, assert_problem, assert_unauthorized, bearer, spawn_app_with,
};

const SECRET: &str = "jwt-test-secret-0123456789abcdef0123";
const API_KEY: &str = "api-key-beside-jwt-0123456789";

/// Caches `default`, `team1-a`, `team2-a`; HS256 tokens with the `ns`
/// namespace claim, and one API key (`ops`, reader on `default`).
async fn spawn_jwt() -> TestApp {
    let mut settings = Settings::load(None).expect("default settings");
    for cache in ["team1-a", "team2-a"] {
        settings.caches.insert(cache.to_owned(), Default::default());
    }
    let mut jwt = JwtSettings::hs256(SECRET);
    jwt.namespace_claim = Some("ns".to_owned());
    let mut auth = AuthSettings {
        jwt: Some(jwt),
        ..AuthSettings::default()
    };
    auth.api_keys
        .insert("ops".into(), api_key(API_KEY, &[("default", "reader")]));
    settings.auth = Some(auth);
    spawn_app_with(settings).await
}

fn now() -> i64 {
    i64::try_from(get_current_timestamp()).expect("time fits")
}

/// An HS256 token for `sub` with `extra` claims, valid for an hour.
fn token(sub: &str, extra: Value) -> String {
    let mut claims = json!({ "sub": sub, "exp": now() + 3600 });
    claims
        .as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token encodes")
}

#[tokio::test]
async fn a_reader_token_reads_default_but_cannot_write_it() {
    let app = spawn_jwt().await;
    let admin = token("root", json!({ "strata": ["admin:*"] }));
    let reader = token("alice", json!({ "strata": ["reader:default"] }));
    let url = app.entry("default", "k");
    let r = bearer(app.client.put(&url), &admin)
        .body("v")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = bearer(app.client.get(&url), &reader).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "v");
    let r = bearer(app.client.put(&url), &reader)
        .body("w")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn expired_wrongly_signed_and_unsigned_tokens_are_401() {
    let app = spawn_jwt().await;
    let url = app.entry("default", "k");
    let expired = {
        let claims = json!({ "sub": "alice", "exp": now() - 3600, "strata": ["admin:*"] });
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "mallory", "exp": now() + 3600, "strata": ["admin:*"] }),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx"),
    )
    .unwrap();
    let unsigned = {
        use base64::Engine;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let payload = b64(json!({ "sub": "mallory", "exp": now() + 3600, "strata": ["admin:*"] }));
        format!("{}.{payload}.", b64(json!({ "alg": "none" })))
    };
    for t in [expired, forged, unsigned] {
        let r = bearer(app.client.get(&url), &t).send().await.unwrap();
        assert_unauthorized(r).await;
    }
}

/// RFC 7515 §4.1.11: a correctly signed token whose `crit` header names
/// a parameter the service does not understand is refused, with the
/// same 401 as any other bad token.
#[tokio::test]
async fn a_token_with_an_unknown_critical_header_is_401() {
    let app = spawn_jwt().await;
    let url = app.entry("default", "k");
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["x-strata-unknown".to_owned()]);
    let critical = encode(
        &header,
        &json!({ "sub": "mallory", "exp": now() + 3600, "strata": ["admin:*"] }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let r = bearer(app.client.get(&url), &critical)
        .send()
        .await
        .unwrap();
    assert_unauthorized(r).await;
    let detail = |r: reqwest::Response| async move {
        let body: Value = r.json().await.unwrap();
        body["detail"].clone()
    };
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "mallory", "exp": now() + 3600 }),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx"),
    )
    .unwrap();
    assert_eq!(
        detail(
            bearer(app.client.get(&url), &critical)
                .send()
                .await
                .unwrap()
        )
        .await,
        detail(bearer(app.client.get(&url), &forged).send().await.unwrap()).await,
        "the same answer as any other refused token"
    );
}

#[tokio::test]
async fn a_token_expires_by_the_service_clock_after_exp_plus_leeway() {
    let app = spawn_jwt().await;
    let url = app.entry("default", "k");
    let claims = json!({ "sub": "alice", "exp": now() + 60, "strata": ["writer:default"] });
    let t = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let put = |body: &'static str| bearer(app.client.put(&url), &t).body(body).send();
    let r = put("v").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Within the 30 s leeway past exp, the token still works.
    app.clock.advance(std::time::Duration::from_secs(60 + 20));
    let r = put("w").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Past exp + leeway by the service's clock (the system clock has not
    // moved), it is refused.
    app.clock.advance(std::time::Duration::from_secs(15));
    assert_unauthorized(put("x").await.unwrap()).await;
}

#[tokio::test]
async fn an_admin_token_flushes_and_a_reader_token_cannot() {
    let app = spawn_jwt().await;
    let flush = app.url("/admin/v1/caches/default/flush");
    let reader = token("alice", json!({ "strata": ["reader:*"] }));
    let r = bearer(app.client.post(&flush), &reader)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = token("root", json!({ "strata": ["admin:*"] }));
    let r = bearer(app.client.post(&flush), &admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test]
async fn a_namespace_claim_writes_its_own_caches_only() {
    let app = spawn_jwt().await;
    let team1 = token("svc", json!({ "ns": "team1" }));
    let r = bearer(app.client.put(app.entry("team1-a", "k")), &team1)
        .body("v")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = bearer(app.client.put(app.entry("team2-a", "k")), &team1)
        .body("v")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    // Writer, not admin, on its namespace.
    let r = bearer(
        app.client.post(app.url("/admin/v1/caches/team1-a/flush")),
        &team1,
    )
    .send()
    .await
    .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn api_keys_still_work_beside_jwt() {
    let app = spawn_jwt().await;
    let url = app.entry("default", "k");
    let r = bearer(app.client.put(&url), API_KEY)
        .body("v")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .client
        .get(&url)
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = bearer(app.client.get(&url), "not.a.token")
        .send()
        .await
        .unwrap();
    assert_unauthorized(r).await;
}
