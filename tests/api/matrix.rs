//! The black-box authorization matrix of issue 10: every credential
//! against every operation, each cell's exact status, and the audit file
//! holding exactly the records the cells call for.
//!
//! The caches under test are `team1-*` ("this namespace"). Each
//! credential acts on its own cache, and its operations run in an order
//! where the destructive ones come last (flush, then delete), so no cell
//! depends on what another credential did.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use strata::config::{AuditSettings, AuthSettings, JwtSettings, RateLimitSettings, Settings};

use crate::helpers::{TestApp, api_key, bearer, header, spawn_app_with};

const JWT_SECRET: &str = "matrix-jwt-secret-0123456789abcdef0123";
const OTHER_SECRET: &str = "matrix-other-secret-0123456789abcdef01";
/// The `ops` API key: admin on `*` (sets the caches up, and is the one
/// credential that may read the audit log).
const OPS_KEY: &str = "matrix-ops-key-0123456789abcdef";

/// A credential of the matrix: its row name, the principal the audit
/// file names it by, and how it is presented.
struct Credential {
    name: &'static str,
    principal: &'static str,
    present: Presentation,
}

enum Presentation {
    None,
    Authorization(String),
}

impl Presentation {
    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::None => request,
            Self::Authorization(value) => request.header("authorization", value),
        }
    }
}

/// The operations, in the order each credential runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Put,
    Invalidate,
    Configure,
    Flush,
    AuditRead,
    Delete,
}

const OPS: [Op; 7] = [
    Op::Get,
    Op::Put,
    Op::Invalidate,
    Op::Configure,
    Op::Flush,
    Op::AuditRead,
    Op::Delete,
];

/// Expected statuses, one row per credential, in the order of [`OPS`]:
/// GET entry, PUT entry, invalidate by pattern, configure, flush, audit
/// read, delete cache.
const EXPECTED: [(&str, [u16; 7]); 16] = [
    ("none", [401; 7]),
    ("malformed key", [401; 7]),
    ("unknown key", [401; 7]),
    ("expired JWT", [401; 7]),
    ("JWT signed with another key", [401; 7]),
    ("JWT with alg none", [401; 7]),
    ("reader on another namespace", [403; 7]),
    ("writer on another namespace", [403; 7]),
    ("admin on another namespace", [403; 7]),
    (
        "reader on this namespace",
        [200, 403, 403, 403, 403, 403, 403],
    ),
    (
        "writer on this namespace",
        [200, 201, 200, 403, 403, 403, 403],
    ),
    (
        "admin on this namespace",
        [200, 201, 200, 200, 204, 403, 204],
    ),
    // Beyond the list: the key that holds admin on `*`, so the
    // audit read has a cell that succeeds.
    (
        "admin on every cache (API key)",
        [200, 201, 200, 200, 204, 200, 204],
    ),
    // The same roles presented as an API key, not a JWT.
    (
        "reader API key on this namespace",
        [200, 403, 403, 403, 403, 403, 403],
    ),
    (
        "writer API key on this namespace",
        [200, 201, 200, 403, 403, 403, 403],
    ),
    ("admin API key on another namespace", [403; 7]),
];

fn now() -> i64 {
    i64::try_from(get_current_timestamp()).expect("time fits")
}

fn hs256(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token encodes")
}

/// The claims `extra` (an object) with `sub` and `exp` (Unix seconds) set.
fn claims(sub: &str, exp: i64, mut extra: Value) -> Value {
    extra["sub"] = sub.into();
    extra["exp"] = exp.into();
    extra
}

/// A valid HS256 token for `sub` with `extra` claims, for an hour.
fn token(sub: &str, extra: Value) -> String {
    hs256(JWT_SECRET, &claims(sub, now() + 3600, extra))
}

fn bearer_of(value: &str) -> Presentation {
    Presentation::Authorization(format!("Bearer {value}"))
}

/// The rows of [`EXPECTED`], in the same order.
fn credentials() -> Vec<Credential> {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let admin = || json!({ "strata": ["admin:*"] });
    // Past the 30 s leeway by far.
    let expired = hs256(JWT_SECRET, &claims("late", now() - 3600, admin()));
    let forged = hs256(OTHER_SECRET, &claims("mallory", now() + 3600, admin()));
    let unsigned = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "JWT" })),
        b64(claims("mallory", now() + 3600, admin()))
    );
    let row = |name, principal, present| Credential {
        name,
        principal,
        present,
    };
    vec![
        row("none", "anonymous", Presentation::None),
        row(
            "malformed key",
            "anonymous",
            Presentation::Authorization("Basic !!!not-base64".to_owned()),
        ),
        row(
            "unknown key",
            "anonymous",
            bearer_of("matrix-unknown-key-0123456789abcdef"),
        ),
        row("expired JWT", "anonymous", bearer_of(&expired)),
        row(
            "JWT signed with another key",
            "anonymous",
            bearer_of(&forged),
        ),
        row("JWT with alg none", "anonymous", bearer_of(&unsigned)),
        row(
            "reader on another namespace",
            "reader-2",
            bearer_of(&token("reader-2", json!({ "strata": ["reader:team2-*"] }))),
        ),
        // The namespace claim gives `namespace_role`, writer.
        row(
            "writer on another namespace",
            "writer-2",
            bearer_of(&token("writer-2", json!({ "ns": "team2" }))),
        ),
        row(
            "admin on another namespace",
            "admin-2",
            bearer_of(&token("admin-2", json!({ "strata": ["admin:team2-*"] }))),
        ),
        row(
            "reader on this namespace",
            "reader-1",
            bearer_of(&token("reader-1", json!({ "strata": ["reader:team1-*"] }))),
        ),
        row(
            "writer on this namespace",
            "writer-1",
            bearer_of(&token("writer-1", json!({ "ns": "team1" }))),
        ),
        row(
            "admin on this namespace",
            "admin-1",
            // Both: the namespace's writer role and an admin grant on it.
            bearer_of(&token(
                "admin-1",
                json!({ "ns": "team1", "strata": ["admin:team1-*"] }),
            )),
        ),
        row("admin on every cache (API key)", "ops", bearer_of(OPS_KEY)),
        row(
            "reader API key on this namespace",
            "key-reader-1",
            Presentation::Authorization(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("bazel:matrix-reader-key-1")
            )),
        ),
        row(
            "writer API key on this namespace",
            "key-writer-1",
            bearer_of("matrix-writer-key-1"),
        ),
        row(
            "admin API key on another namespace",
            "key-admin-2",
            bearer_of("matrix-admin-key-2"),
        ),
    ]
}

/// The cache credential `row` acts on.
fn cache_of(row: usize) -> String {
    format!("team1-row{row}")
}

/// One `team1-row<n>` cache per row, a `team2-a` cache, the JWT settings
/// with the `ns` claim, the API keys, and the audit file at `audit`.
async fn spawn_matrix(audit: &Path) -> TestApp {
    let mut settings = Settings::load(None).expect("default settings");
    for row in 0..EXPECTED.len() {
        settings.caches.insert(cache_of(row), Default::default());
    }
    settings
        .caches
        .insert("team2-a".to_owned(), Default::default());
    let mut jwt = JwtSettings::hs256(JWT_SECRET);
    jwt.namespace_claim = Some("ns".to_owned());
    // The matrix sends dozens of refused credentials from 127.0.0.1: the
    // per-peer failed-authentication limit (tested in rate_limits.rs) is off
    // here so every cell reaches the credential check.
    let mut auth = AuthSettings {
        jwt: Some(jwt),
        rate_limits: Some(RateLimitSettings {
            failed_auth_per_minute: 0,
            ..RateLimitSettings::default()
        }),
        ..AuthSettings::default()
    };
    for (id, key, grants) in [
        ("ops", OPS_KEY, [("*", "admin")]),
        (
            "key-reader-1",
            "matrix-reader-key-1",
            [("team1-*", "reader")],
        ),
        (
            "key-writer-1",
            "matrix-writer-key-1",
            [("team1-*", "writer")],
        ),
        ("key-admin-2", "matrix-admin-key-2", [("team2-*", "admin")]),
    ] {
        auth.api_keys.insert(id.into(), api_key(key, &grants));
    }
    settings.auth = Some(auth);
    settings.audit = Some(AuditSettings {
        path: audit.to_owned(),
        max_bytes: None,
    });
    spawn_app_with(settings).await
}

fn request(app: &TestApp, op: Op, cache: &str) -> RequestBuilder {
    let json = |r: RequestBuilder, body: Value| {
        r.header("content-type", "application/json")
            .body(body.to_string())
    };
    match op {
        Op::Get => app.client.get(app.entry(cache, "k")),
        Op::Put => app
            .client
            .put(app.entry(cache, "new"))
            .header("content-type", "text/plain")
            .body("v"),
        Op::Invalidate => json(
            app.client
                .post(app.url(&format!("/v1/caches/{cache}/invalidations"))),
            json!({ "pattern": "k*" }),
        ),
        Op::Configure => json(
            app.client
                .put(app.url(&format!("/admin/v1/caches/{cache}"))),
            json!({ "default_ttl": 60 }),
        ),
        Op::Flush => app
            .client
            .post(app.url(&format!("/admin/v1/caches/{cache}/flush"))),
        Op::AuditRead => app.client.get(app.url("/admin/v1/audit")),
        Op::Delete => app
            .client
            .delete(app.url(&format!("/admin/v1/caches/{cache}"))),
    }
}

/// One audit record, as the matrix compares it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    action: String,
    principal: String,
    cache: Option<String>,
    outcome: String,
}

/// What the audit file must hold for a cell (security.md, "Audit file"):
/// a 401 is one `unauthorized` record as `anonymous`; an admin operation
/// (invalidate by pattern, configure, flush, delete) that reaches the
/// grant check is an `attempt` and its outcome; any other 403 is one
/// `forbidden` record; a successful read or write is not recorded.
fn expected_records(op: Op, status: u16, principal: &str, cache: &str) -> Vec<Expected> {
    let target = (op != Op::AuditRead).then(|| cache.to_owned());
    let record = |action: &str, outcome: &str| Expected {
        action: action.to_owned(),
        principal: principal.to_owned(),
        cache: target.clone(),
        outcome: outcome.to_owned(),
    };
    let admin_action = match op {
        Op::Invalidate => Some("invalidate"),
        Op::Configure => Some("configure"),
        Op::Flush => Some("flush"),
        Op::Delete => Some("delete_cache"),
        Op::Get | Op::Put | Op::AuditRead => None,
    };
    match (status, admin_action) {
        (401, _) => vec![record("unauthorized", "unauthorized")],
        (403, Some(action)) => vec![record(action, "attempt"), record(action, "forbidden")],
        (403, None) => vec![record("forbidden", "forbidden")],
        (200..=299, Some(action)) => vec![record(action, "attempt"), record(action, "ok")],
        _ => Vec::new(),
    }
}

fn actual_record(record: &Value) -> Expected {
    let text = |field: &str| record[field].as_str().unwrap_or("<missing>").to_owned();
    Expected {
        action: text("action"),
        principal: text("principal"),
        cache: record["cache"].as_str().map(str::to_owned),
        outcome: text("outcome"),
    }
}

fn request_id(response: &Response) -> String {
    header(response, "x-request-id").expect("X-Request-Id")
}

/// Checks the body and headers a 401 or 403 must carry; a mismatch is
/// described in `failures`.
async fn check_refusal(cell: &str, response: Response, status: u16, failures: &mut String) {
    let challenge = header(&response, "www-authenticate");
    let content_type = header(&response, "content-type").unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = if status == 401 {
        "unauthorized"
    } else {
        "forbidden"
    };
    if content_type != "application/problem+json" || body["code"] != code {
        let _ = writeln!(
            failures,
            "{cell}: expected a {code} problem, got {content_type} {body}"
        );
    }
    // The detail names the missing role as the configuration spells it.
    let detail = body["detail"].as_str().unwrap_or_default();
    if status == 403
        && !["reader", "writer", "admin"]
            .iter()
            .any(|r| detail.contains(&format!("the {r} role")))
    {
        let _ = writeln!(failures, "{cell}: the detail names no role: {detail}");
    }
    // A refused JWT adds RFC 6750's `error="invalid_token"` and its class.
    if status == 401
        && !challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer realm=\"strata\""))
    {
        let _ = writeln!(failures, "{cell}: WWW-Authenticate is {challenge:?}");
    }
}

#[tokio::test]
async fn every_credential_against_every_operation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_matrix(&audit).await;
    let credentials = credentials();
    assert_eq!(credentials.len(), EXPECTED.len());

    // Set-up: an entry `k` in every cache (a PUT is not audited).
    for row in 0..EXPECTED.len() {
        let r = bearer(app.client.put(app.entry(&cache_of(row), "k")), OPS_KEY)
            .header("content-type", "text/plain")
            .body("v")
            .send()
            .await
            .expect("PUT sent");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let setup: Vec<Value> = records(&audit);
    assert_eq!(setup, Vec::<Value>::new(), "set-up writes no audit record");

    let mut failures = String::new();
    let mut expected: BTreeMap<String, (String, Vec<Expected>)> = BTreeMap::new();
    for (row, (credential, (name, statuses))) in credentials.iter().zip(EXPECTED).enumerate() {
        assert_eq!(credential.name, name, "credentials() and EXPECTED in step");
        let cache = cache_of(row);
        for (op, status) in OPS.into_iter().zip(statuses) {
            let cell = format!("[{name}] x {op:?}");
            let response = credential
                .present
                .apply(request(&app, op, &cache))
                .send()
                .await
                .expect("request sent");
            let id = request_id(&response);
            let got = response.status().as_u16();
            expected.insert(
                id,
                (
                    cell.clone(),
                    expected_records(op, status, credential.principal, &cache),
                ),
            );
            if got != status {
                let body = response.text().await.unwrap_or_default();
                let _ = writeln!(failures, "{cell}: expected {status}, got {got}: {body}");
            } else if status == 401 || status == 403 {
                check_refusal(&cell, response, status, &mut failures).await;
            }
        }
    }

    // What the cells did: a refused operation changed nothing.
    for (row, (name, statuses)) in EXPECTED.iter().enumerate() {
        let status_of = |op: Op| statuses[OPS.iter().position(|o| *o == op).expect("op")];
        let cache = cache_of(row);
        let deleted = status_of(Op::Delete) == 204;
        let flushed = status_of(Op::Flush) == 204;
        let want_k = !deleted && !flushed && status_of(Op::Invalidate) != 200;
        let want_new = !deleted && !flushed && status_of(Op::Put) == 201;
        for (key, want) in [("k", want_k), ("new", want_new)] {
            let r = bearer(app.client.get(app.entry(&cache, key)), OPS_KEY)
                .send()
                .await
                .expect("GET sent");
            let got = r.status();
            let code = r.json::<Value>().await.map(|b| b["code"].clone());
            let ok = match (want, deleted) {
                (true, _) => got == StatusCode::OK,
                (false, true) => {
                    got == StatusCode::NOT_FOUND && code.is_ok_and(|c| c == "cache_not_found")
                }
                (false, false) => got == StatusCode::NOT_FOUND,
            };
            if !ok {
                let _ = writeln!(
                    failures,
                    "[{name}] afterwards: {cache}/{key} is {got} (present expected: {want}, cache deleted: {deleted})"
                );
            }
        }
    }

    // The file: exactly the expected records, by request, attempt first.
    let mut actual: BTreeMap<String, Vec<Expected>> = BTreeMap::new();
    for record in records(&audit) {
        let id = record["request_id"].as_str().unwrap_or("<none>").to_owned();
        actual.entry(id).or_default().push(actual_record(&record));
    }
    for (id, (cell, want)) in &expected {
        let got = actual.remove(id).unwrap_or_default();
        if &got != want {
            let _ = writeln!(
                failures,
                "{cell}: audit records\n    expected {want:?}\n    got      {got:?}"
            );
        }
    }
    for (id, got) in actual {
        let _ = writeln!(failures, "records of no cell (request {id}): {got:?}");
    }
    assert!(failures.is_empty(), "matrix cells failed:\n{failures}");
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}
