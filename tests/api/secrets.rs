//! "No secret in any log" (issue 10): the real `strata` binary, logging
//! at `trace` as JSON, runs a full authenticated scenario (API keys in all
//! three presentations, JWTs, failed attempts, admin operations). Then
//! its log output, its audit file, its `/metrics` and every response
//! (status line, headers and body) are searched for every secret used.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use strata_infrastructure::ApiKeyDigest;

use crate::process::start;

const OPS_KEY: &str = "secret-ops-key-Zq8vN2xKp4LmW7rT";
const CI_KEY: &str = "secret-ci-key-Hj3sD9fGk2QwE5yU";
const WRONG_KEY: &str = "secret-wrong-key-Bn6mC1vXz8AsP0oI";
const JWT_SECRET: &str = "secret-jwt-hs256-Vt4Rb7Ny2Mu9Ki3Lo6Pe";
const FORGERY_SECRET: &str = "secret-forgery-hs256-Cw5Xd8Fa1Gs4Hj7Kl0";
/// Base64 of 32 bytes, an `[encryption.keys]` key.
const ENCRYPTION_KEY: &str = "c2VjcmV0LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzISE=";

fn hs256(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token encodes")
}

fn now() -> i64 {
    i64::try_from(get_current_timestamp()).expect("time fits")
}

/// Sends `request` and keeps its status line, headers and body in
/// `seen`; returns the status.
async fn send(seen: &mut String, request: RequestBuilder) -> StatusCode {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    seen.push_str(&format!("{status}\n"));
    for (name, value) in response.headers() {
        seen.push_str(&format!(
            "{name}: {}\n",
            value.to_str().unwrap_or("<bytes>")
        ));
    }
    seen.push_str(&response.text().await.expect("body"));
    seen.push('\n');
    status
}

fn json_body(request: RequestBuilder, body: &Value) -> RequestBuilder {
    request
        .header("content-type", "application/json")
        .body(body.to_string())
}

#[tokio::test]
async fn no_secret_reaches_the_logs_the_audit_file_metrics_or_responses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("strata.toml");
    let toml = format!(
        r#"
[server]
workers = 1
shutdown_timeout_secs = 5

[log]
format = "json"
filter = "info"

[caches.build-a]
[caches.team1-a]

[encryption.keys]
k1 = "{ENCRYPTION_KEY}"

[auth.api_keys.ops]
sha256 = "{ops}"
grants = [{{ caches = "*", role = "admin" }}]

[auth.api_keys.ci-bot]
sha256 = "{ci}"
grants = [{{ caches = "build-*", role = "writer" }}]

[auth.jwt]
namespace_claim = "ns"

[audit]
path = "{audit}"
"#,
        ops = ApiKeyDigest::of(OPS_KEY).to_hex(),
        ci = ApiKeyDigest::of(CI_KEY).to_hex(),
        audit = audit.display(),
    );
    std::fs::write(&config, toml).expect("config written");

    let admin_token = hs256(
        JWT_SECRET,
        &json!({ "sub": "root", "exp": now() + 3600, "strata": ["admin:*"] }),
    );
    let ns_token = hs256(
        JWT_SECRET,
        &json!({ "sub": "team1-svc", "exp": now() + 3600, "ns": "team1" }),
    );
    let expired_token = hs256(
        JWT_SECRET,
        &json!({ "sub": "late", "exp": now() - 3600, "strata": ["admin:*"] }),
    );
    let forged_token = hs256(
        FORGERY_SECRET,
        &json!({ "sub": "mallory", "exp": now() + 3600, "strata": ["admin:*"] }),
    );
    let basic_ci = STANDARD.encode(format!("bazel:{CI_KEY}"));
    let basic_wrong = STANDARD.encode(format!("bazel:{WRONG_KEY}"));

    let service = start(
        &config,
        &[
            ("RUST_LOG", "trace"),
            ("STRATA__AUTH__JWT__HS256_SECRET", JWT_SECRET),
        ],
    )
    .await;
    let client = Client::new();
    let url = |path: &str| format!("{}{path}", service.base);
    let entry = |cache: &str, key: &str| url(&format!("/v1/caches/{cache}/entries/{key}"));
    let bearer = |r: RequestBuilder, v: &str| r.header("authorization", format!("Bearer {v}"));
    let mut seen = String::new();
    let mut statuses = Vec::new();

    // The API key, in each of its three presentations.
    let put = client
        .put(entry("build-a", "k"))
        .header("content-type", "text/plain")
        .body("v");
    statuses.push(send(&mut seen, bearer(put, CI_KEY)).await);
    let get = client
        .get(entry("build-a", "k"))
        .header("x-api-key", CI_KEY);
    statuses.push(send(&mut seen, get).await);
    let get = client
        .get(entry("build-a", "k"))
        .header("authorization", format!("Basic {basic_ci}"));
    statuses.push(send(&mut seen, get).await);
    // Forbidden with a valid key: a writer's flush and audit read.
    let flush = client.post(url("/admin/v1/caches/build-a/flush"));
    statuses.push(send(&mut seen, bearer(flush, CI_KEY)).await);
    statuses.push(
        send(
            &mut seen,
            bearer(client.get(url("/admin/v1/audit")), CI_KEY),
        )
        .await,
    );
    // Failed attempts: wrong keys in every presentation, bad tokens.
    for request in [
        bearer(client.get(entry("build-a", "k")), WRONG_KEY),
        client
            .get(entry("build-a", "k"))
            .header("x-api-key", WRONG_KEY),
        client
            .get(entry("build-a", "k"))
            .header("authorization", format!("Basic {basic_wrong}")),
        bearer(
            client.post(url("/admin/v1/caches/build-a/flush")),
            WRONG_KEY,
        ),
        bearer(client.get(entry("build-a", "k")), &expired_token),
        bearer(
            client.post(url("/admin/v1/caches/build-a/flush")),
            &forged_token,
        ),
    ] {
        statuses.push(send(&mut seen, request).await);
    }
    // JWTs: a namespace writer, an admin's operations.
    let put = client
        .put(entry("team1-a", "k"))
        .header("content-type", "text/plain")
        .body("v");
    statuses.push(send(&mut seen, bearer(put, &ns_token)).await);
    let flush = client.post(url("/admin/v1/caches/team1-a/flush"));
    statuses.push(send(&mut seen, bearer(flush, &ns_token)).await);
    let configure = json_body(
        client.put(url("/admin/v1/caches/team1-b")),
        &json!({ "default_ttl": 60 }),
    );
    statuses.push(send(&mut seen, bearer(configure, &admin_token)).await);
    let invalidate = json_body(
        client.post(url("/v1/caches/build-a/invalidations")),
        &json!({ "pattern": "k*" }),
    );
    statuses.push(send(&mut seen, bearer(invalidate, &admin_token)).await);
    let flush = client.post(url("/admin/v1/caches/team1-a/flush"));
    statuses.push(send(&mut seen, bearer(flush, &admin_token)).await);
    let delete = client.delete(url("/admin/v1/caches/team1-b"));
    statuses.push(send(&mut seen, bearer(delete, &admin_token)).await);
    statuses.push(
        send(
            &mut seen,
            bearer(client.get(url("/admin/v1/audit")), &admin_token),
        )
        .await,
    );
    statuses.push(
        send(
            &mut seen,
            bearer(client.get(url("/admin/v1/caches/build-a")), OPS_KEY),
        )
        .await,
    );
    statuses.push(send(&mut seen, bearer(client.get(url("/v1/caches")), OPS_KEY)).await);
    let metrics = client
        .get(url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");

    let logs = service.stop().await;

    use StatusCode as S;
    assert_eq!(
        statuses,
        [
            S::CREATED,
            S::OK,
            S::OK,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            S::UNAUTHORIZED,
            S::CREATED,
            S::FORBIDDEN,
            S::CREATED,
            S::OK,
            S::NO_CONTENT,
            S::NO_CONTENT,
            S::OK,
            S::OK,
            S::OK,
        ],
        "the scenario ran as planned:\n{seen}"
    );
    // The captures hold what they should, so searching them means something.
    assert!(
        logs.contains(r#""level":"TRACE""#),
        "the log is at trace level"
    );
    assert!(
        logs.contains("authentication failed"),
        "refusals are logged"
    );
    assert!(logs.contains("strata stopped"), "it stopped cleanly");
    let audit_text = std::fs::read_to_string(&audit).expect("audit file");
    for principal in ["\"ci-bot\"", "\"root\"", "\"team1-svc\"", "\"anonymous\""] {
        assert!(audit_text.contains(principal), "{principal} is audited");
    }
    assert!(metrics.contains("strata_auth_failures_total"), "{metrics}");

    let signature = |token: &str| token.rsplit('.').next().unwrap_or_default().to_owned();
    let secrets = [
        ("the ops key", OPS_KEY.to_owned()),
        ("the ci-bot key", CI_KEY.to_owned()),
        ("the wrong key", WRONG_KEY.to_owned()),
        ("the JWT secret", JWT_SECRET.to_owned()),
        ("the forger's secret", FORGERY_SECRET.to_owned()),
        ("the encryption key", ENCRYPTION_KEY.to_owned()),
        ("Basic credentials of ci-bot", basic_ci.clone()),
        ("Basic credentials with the wrong key", basic_wrong.clone()),
        ("the admin token", admin_token.clone()),
        ("the namespace token", ns_token.clone()),
        ("the expired token", expired_token.clone()),
        ("the forged token", forged_token.clone()),
        ("the admin token's signature", signature(&admin_token)),
        ("the namespace token's signature", signature(&ns_token)),
        ("the expired token's signature", signature(&expired_token)),
        ("the forged token's signature", signature(&forged_token)),
    ];
    let mut leaks = Vec::new();
    for (place, text) in [
        ("the log", &logs),
        ("the audit file", &audit_text),
        ("/metrics", &metrics),
        ("a response", &seen),
    ] {
        for (name, secret) in &secrets {
            if text.contains(secret.as_str()) {
                let line = text
                    .lines()
                    .find(|l| l.contains(secret.as_str()))
                    .unwrap_or_default();
                leaks.push(format!("{name} in {place}: {line}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
