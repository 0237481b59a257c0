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

/// `claims` signed with HS256 under `secret`, with `header`.
fn signed_with(header: &Header, claims: &Value, secret: &[u8]) -> String {
    encode(header, claims, &EncodingKey::from_secret(secret)).expect("token encodes")
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A 401 whose RFC 6750 challenge, problem detail and nothing else name
/// `class`; the token itself appears nowhere in the answer.
async fn assert_invalid_token(r: reqwest::Response, class: &str, token: &str) {
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                "Bearer realm=\"strata\", error=\"invalid_token\", error_description=\"{class}\""
            )
            .as_str()
        ),
        "{class}"
    );
    let body = assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with(&format!("invalid token: {class} (")),
        "{class}: {detail}"
    );
    assert!(!body.to_string().contains(token), "{body}");
    assert!(!body.to_string().contains(SECRET), "{body}");
}

/// One token per refusal class, each refused with its own class.
fn tokens_by_class() -> Vec<(&'static str, String)> {
    let admin = json!({ "strata": ["admin:*"] });
    let claims = |extra: Value| {
        let mut c = json!({ "sub": "mallory", "exp": now() + 3600 });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let hs256 = Header::new(Algorithm::HS256);
    let mut critical = Header::new(Algorithm::HS256);
    critical.crit = Some(vec!["x-strata-unknown".to_owned()]);
    vec![
        (
            "expired",
            signed_with(
                &hs256,
                &json!({ "sub": "alice", "exp": now() - 3600, "strata": ["admin:*"] }),
                SECRET.as_bytes(),
            ),
        ),
        (
            "not_yet_valid",
            signed_with(
                &hs256,
                &claims(json!({ "nbf": now() + 3600 })),
                SECRET.as_bytes(),
            ),
        ),
        (
            "invalid_signature",
            signed_with(
                &hs256,
                &claims(admin.clone()),
                b"not-the-secret-not-the-secret-xx",
            ),
        ),
        (
            "unsupported_algorithm",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none" })),
                b64(&claims(admin.clone()))
            ),
        ),
        (
            "unsupported_algorithm",
            signed_with(
                &Header::new(Algorithm::HS512),
                &claims(admin.clone()),
                SECRET.as_bytes(),
            ),
        ),
        (
            "unknown_critical_header",
            signed_with(&critical, &claims(admin.clone()), SECRET.as_bytes()),
        ),
        // A header that is not JSON ("not-json").
        ("malformed", "bm90LWpzb24.bm90LWpzb24.c2ln".to_owned()),
        // Correctly signed, without `sub`.
        (
            "malformed",
            signed_with(&hs256, &json!({ "exp": now() + 3600 }), SECRET.as_bytes()),
        ),
    ]
}

/// Every refused token names its class (RFC 6750 `error="invalid_token"`
/// with `error_description`, and the problem detail), never the token.
#[tokio::test]
async fn a_refused_token_names_its_class_over_http() {
    let app = spawn_jwt().await;
    let url = app.entry("default", "k");
    for (class, t) in tokens_by_class() {
        let r = bearer(app.client.get(&url), &t).send().await.unwrap();
        assert_invalid_token(r, class, &t).await;
    }
    // A value without the JWT shape that is no API key stays a plain
    // invalid credential, with the plain challenge.
    let r = bearer(app.client.get(&url), "no-such-key")
        .send()
        .await
        .unwrap();
    assert_unauthorized(r).await;
}

/// With `issuer` and `audience` configured, a token signed correctly but
/// for another (or no) issuer or audience names which one.
#[tokio::test]
async fn a_token_for_another_issuer_or_audience_names_which() {
    let mut settings = Settings::load(None).expect("default settings");
    let mut jwt = JwtSettings::hs256(SECRET);
    jwt.issuer = Some("https://idp.example".to_owned());
    jwt.audience = Some("strata".to_owned());
    settings.auth = Some(AuthSettings {
        jwt: Some(jwt),
        ..AuthSettings::default()
    });
    let app = spawn_app_with(settings).await;
    let url = app.entry("default", "k");
    let sign = |claims: Value| {
        let mut c = json!({ "sub": "alice", "exp": now() + 3600, "strata": ["reader:*"] });
        c.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        signed_with(&Header::new(Algorithm::HS256), &c, SECRET.as_bytes())
    };
    let ok = sign(json!({ "iss": "https://idp.example", "aud": "strata" }));
    let r = bearer(app.client.get(&url), &ok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a valid token reads");
    for (claims, class) in [
        (
            json!({ "iss": "https://evil.example", "aud": "strata" }),
            "invalid_issuer",
        ),
        (json!({ "aud": "strata" }), "invalid_issuer"),
        (
            json!({ "iss": "https://idp.example", "aud": "other" }),
            "invalid_audience",
        ),
        (json!({ "iss": "https://idp.example" }), "invalid_audience"),
    ] {
        let t = sign(claims.clone());
        let r = bearer(app.client.get(&url), &t).send().await.unwrap();
        assert_invalid_token(r, class, &t).await;
    }
}

/// `hs256_secret` is raw bytes: a token signed with the base64 decoding of
/// a base64-looking secret does not verify; one signed with the secret's
/// own characters does.
#[tokio::test]
async fn the_hs256_secret_is_its_raw_bytes_not_base64() {
    use base64::Engine;
    const B64_SECRET: &str = "c3RyYXRhLWp3dC10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm";
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(B64_SECRET)
        .unwrap();
    assert!(
        decoded.len() >= 32,
        "the decoding alone would be a valid key"
    );
    let mut settings = Settings::load(None).expect("default settings");
    settings.auth = Some(AuthSettings {
        jwt: Some(JwtSettings::hs256(B64_SECRET)),
        ..AuthSettings::default()
    });
    let app = spawn_app_with(settings).await;
    let url = app.entry("default", "k");
    let claims = json!({ "sub": "alice", "exp": now() + 3600, "strata": ["reader:*"] });
    let header = Header::new(Algorithm::HS256);
    let raw = signed_with(&header, &claims, B64_SECRET.as_bytes());
    let r = bearer(app.client.get(&url), &raw).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let from_base64 = signed_with(&header, &claims, &decoded);
    let r = bearer(app.client.get(&url), &from_base64)
        .send()
        .await
        .unwrap();
    assert_invalid_token(r, "invalid_signature", &from_base64).await;
}

/// gRPC's UNAUTHENTICATED names the same class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_names_its_class_over_grpc() {
    use strata_presentation::grpc::cache::pb;
    use strata_presentation::grpc::cache::pb::cache_client::CacheClient;
    let app = spawn_jwt().await;
    let mut client = CacheClient::new(crate::grpc_reapi::channel(&app).await);
    for (class, t) in tokens_by_class() {
        let request = pb::GetRequest {
            cache: "default".into(),
            key: "k".into(),
        };
        let e = client
            .get(crate::grpc_reapi::authed(request, &t))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{class}");
        assert!(
            e.message()
                .starts_with(&format!("unauthorized: invalid token: {class} (")),
            "{class}: {}",
            e.message()
        );
        assert!(!e.message().contains(&t));
    }
}

/// The INFO line of a refused token carries its class as `token_error`,
/// and neither the token nor the secret reaches the log.
#[tokio::test]
async fn the_log_names_the_class_and_never_the_token() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nformat = \"json\"\nfilter = \"info\"\n\
             [auth.jwt]\nhs256_secret = \"{SECRET}\"\n"
        ),
    )
    .expect("config");
    let service = crate::process::start(&config, &[]).await;
    let expired = signed_with(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "alice", "exp": now() - 3600 }),
        SECRET.as_bytes(),
    );
    let r = reqwest::Client::new()
        .get(format!("{}/v1/caches/default/entries/k", service.base))
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let output = service.stop().await;
    assert!(!output.contains(&expired), "the token reached the log");
    assert!(!output.contains(SECRET), "the secret reached the log");
    let line = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l.to_string().contains("authentication failed"))
        .unwrap_or_else(|| panic!("no authentication failure logged:\n{output}"));
    let text = line.to_string();
    assert!(text.contains(r#""token_error":"expired""#), "{text}");
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
    assert_invalid_token(put("x").await.unwrap(), "expired", &t).await;
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
    assert_invalid_token(r, "malformed", "not.a.token").await;
}
