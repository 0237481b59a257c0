//! The audit file (`[audit]`): admin operations and refused requests are
//! recorded before the response, read back by `GET /admin/v1/audit`, and
//! an admin operation whose record cannot be written does not run.

use std::path::{Path, PathBuf};

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use strata::config::{AuditSettings, AuthSettings, Settings};
use strata_infrastructure::ApiKeyDigest;

use crate::helpers::{TestApp, api_key, assert_problem, bearer, spawn_app_with};

const READER: &str = "audit-reader-key-0123456789";
const ADMIN: &str = "audit-admin-key-0123456789";

/// A `sessions` cache, keys `ops` (admin on `*`) and `viewer` (reader on
/// `*`), and the audit file in a fresh temp dir.
async fn spawn_audited() -> (TestApp, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let mut settings = Settings::load(None).expect("default settings");
    settings
        .caches
        .insert("sessions".to_owned(), Default::default());
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("ops".into(), api_key(ADMIN, &[("*", "admin")]));
    auth.api_keys
        .insert("viewer".into(), api_key(READER, &[("*", "reader")]));
    settings.auth = Some(auth);
    settings.audit = Some(AuditSettings {
        path: path.clone(),
        max_bytes: None,
    });
    (spawn_app_with(settings).await, dir, path)
}

fn request_id(response: &Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("X-Request-Id")
        .to_owned()
}

fn file_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// The records of request `id` in the file: the attempt, then the outcome.
fn of_request(records: &[Value], id: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["request_id"] == id)
        .cloned()
        .collect()
}

fn assert_audited(records: &[Value], id: &str, principal: &str, action: &str, outcome: &str) {
    let mine = of_request(records, id);
    assert_eq!(mine.len(), 2, "attempt and outcome of {id}: {records:?}");
    for (record, expected) in mine.iter().zip(["attempt", outcome]) {
        assert_eq!(record["principal"], principal, "{record}");
        assert_eq!(record["action"], action, "{record}");
        assert_eq!(record["cache"], "sessions", "{record}");
        assert_eq!(record["outcome"], expected, "{record}");
        assert!(
            record["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("127.0.0.1:")),
            "{record}"
        );
        assert!(
            record["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{record}"
        );
    }
}

#[tokio::test]
async fn admin_operations_and_refusals_are_recorded() {
    let (app, _dir, path) = spawn_audited().await;
    let admin = |r: RequestBuilder| bearer(r, ADMIN);

    let configure = admin(app.client.put(app.url("/admin/v1/caches/sessions")))
        .header("content-type", "application/json")
        .body(json!({"default_ttl": 60}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(configure.status(), StatusCode::OK);
    let patched = admin(app.client.patch(app.url("/admin/v1/caches/sessions")))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"max_entries": 500}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let flush = admin(app.client.post(app.url("/admin/v1/caches/sessions/flush")))
        .send()
        .await
        .unwrap();
    assert_eq!(flush.status(), StatusCode::NO_CONTENT);
    let invalidate = admin(
        app.client
            .post(app.url("/v1/caches/sessions/invalidations")),
    )
    .header("content-type", "application/json")
    .body(json!({"pattern": "user:*"}).to_string())
    .send()
    .await
    .unwrap();
    assert_eq!(invalidate.status(), StatusCode::OK);
    let by_keys = admin(
        app.client
            .post(app.url("/v1/caches/sessions/invalidations")),
    )
    .header("content-type", "application/json")
    .body(json!({"keys": ["a"]}).to_string())
    .send()
    .await
    .unwrap();
    assert_eq!(by_keys.status(), StatusCode::OK);
    let forbidden = bearer(
        app.client.post(app.url("/admin/v1/caches/sessions/flush")),
        READER,
    )
    .send()
    .await
    .unwrap();
    let forbidden_id = request_id(&forbidden);
    assert_problem(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
    let unauthorized = app
        .client
        .post(app.url("/admin/v1/caches/sessions/flush"))
        .send()
        .await
        .unwrap();
    let unauthorized_id = request_id(&unauthorized);
    assert_problem(unauthorized, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let delete = admin(app.client.delete(app.url("/admin/v1/caches/sessions")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);

    let records = file_records(&path);
    assert_audited(&records, &request_id(&configure), "ops", "configure", "ok");
    let configured = &of_request(&records, &request_id(&configure))[0];
    assert_eq!(configured["params"][0][0], "configuration");
    assert!(
        configured["params"][0][1]
            .as_str()
            .is_some_and(|c| c.contains("\"default_ttl\":60")),
        "{configured}"
    );
    assert_audited(&records, &request_id(&patched), "ops", "configure", "ok");
    let patched = &of_request(&records, &request_id(&patched))[0];
    assert!(
        patched["params"][0][1]
            .as_str()
            .is_some_and(|c| c.contains("\"max_entries\":500") && c.contains("\"default_ttl\":60")),
        "{patched}"
    );
    assert_audited(&records, &request_id(&flush), "ops", "flush", "ok");
    assert_audited(
        &records,
        &request_id(&invalidate),
        "ops",
        "invalidate",
        "ok",
    );
    assert_eq!(
        of_request(&records, &request_id(&invalidate))[1]["params"],
        json!([["pattern", "user:*"]])
    );
    assert!(
        of_request(&records, &request_id(&by_keys)).is_empty(),
        "invalidation by keys is not an admin operation"
    );
    assert_audited(&records, &request_id(&delete), "ops", "delete_cache", "ok");
    assert_audited(&records, &forbidden_id, "viewer", "flush", "forbidden");
    let refused = of_request(&records, &unauthorized_id);
    assert_eq!(refused.len(), 1, "{records:?}");
    assert_eq!(refused[0]["principal"], "anonymous");
    assert_eq!(refused[0]["action"], "unauthorized");
    assert_eq!(refused[0]["outcome"], "unauthorized");
    assert_eq!(refused[0]["cache"], "sessions");

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(ADMIN) && !text.contains(READER),
        "no key in the audit file"
    );
    assert!(!text.contains(&ApiKeyDigest::of(ADMIN).to_hex()));

    // Read back, newest first, filtered.
    let read =
        |query: &str| admin(app.client.get(app.url(&format!("/admin/v1/audit{query}")))).send();
    let all: Value = read("").await.unwrap().json().await.unwrap();
    let all = all["records"].as_array().unwrap().clone();
    assert_eq!(all.len(), records.len());
    assert_eq!(all[0]["request_id"], records.last().unwrap()["request_id"]);
    assert_eq!(all[0]["action"], "delete_cache");
    let flushes: Value = read("?action=flush&principal=ops")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flushes = flushes["records"].as_array().unwrap();
    assert_eq!(flushes.len(), 2, "{flushes:?}");
    assert!(
        flushes
            .iter()
            .all(|r| r["request_id"] == request_id(&flush))
    );
    assert_eq!(flushes[0]["outcome"], "ok");
    assert_eq!(flushes[1]["outcome"], "attempt");
    let limited: Value = read("?limit=1").await.unwrap().json().await.unwrap();
    assert_eq!(limited["records"].as_array().unwrap().len(), 1);
    let future: Value = read("?since=2999-01-01T00:00:00Z")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(future["records"], json!([]));
    assert_problem(
        read("?limit=0").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    assert_problem(
        read("?action=nap").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;

    let as_reader = bearer(app.client.get(app.url("/admin/v1/audit")), READER)
        .send()
        .await
        .unwrap();
    let as_reader_id = request_id(&as_reader);
    assert_problem(as_reader, StatusCode::FORBIDDEN, "forbidden").await;
    let put = bearer(app.client.put(app.entry("default", "k")), READER)
        .header("content-type", "text/plain")
        .body("v")
        .send()
        .await
        .unwrap();
    let put_id = request_id(&put);
    assert_problem(put, StatusCode::FORBIDDEN, "forbidden").await;

    // Other 403s are recorded once each, as `forbidden`.
    let records = file_records(&path);
    for (id, cache) in [(&as_reader_id, Value::Null), (&put_id, json!("default"))] {
        let mine = of_request(&records, id);
        assert_eq!(mine.len(), 1, "{records:?}");
        assert_eq!(mine[0]["principal"], "viewer");
        assert_eq!(mine[0]["action"], "forbidden");
        assert_eq!(mine[0]["outcome"], "forbidden");
        assert_eq!(mine[0]["cache"], cache);
    }
    assert_audited(&records, &forbidden_id, "viewer", "flush", "forbidden");
}

#[tokio::test]
async fn an_unwritable_audit_file_refuses_the_flush() {
    let (app, _dir, path) = spawn_audited().await;
    let put = bearer(app.client.put(app.entry("sessions", "k")), ADMIN)
        .header("content-type", "text/plain")
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();

    let flush = bearer(
        app.client.post(app.url("/admin/v1/caches/sessions/flush")),
        ADMIN,
    )
    .send()
    .await
    .unwrap();
    assert_problem(flush, StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable").await;
    let get = bearer(app.client.get(app.entry("sessions", "k")), ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK, "the cache was not flushed");
    assert_eq!(get.text().await.unwrap(), "v");
}

#[tokio::test]
async fn without_audit_the_read_route_is_404() {
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("ops".into(), api_key(ADMIN, &[("*", "admin")]));
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;
    let r = bearer(app.client.get(app.url("/admin/v1/audit")), ADMIN)
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("audit file is not configured")),
        "{body}"
    );
}

#[tokio::test]
async fn an_unopenable_audit_path_fails_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.grpc_listen = String::new();
    settings.audit = Some(AuditSettings {
        path: dir.path().join("missing").join("audit.jsonl"),
        max_bytes: None,
    });
    let Err(error) = strata::Application::build(settings).await else {
        panic!("start-up succeeded");
    };
    let message = format!("{error:#}");
    assert!(message.contains("[audit] path"), "{message}");
}

#[tokio::test]
async fn a_protected_mode_refusal_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut settings = Settings::load(None).expect("default settings");
    settings.auth = Some(AuthSettings {
        trusted_networks: vec!["127.0.0.1/32".to_owned()],
        ..AuthSettings::default()
    });
    settings.audit = Some(AuditSettings {
        path: path.clone(),
        max_bytes: None,
    });
    let outside = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    let app = crate::helpers::spawn_app_from(settings, Some(outside)).await;
    let r = app
        .client
        .post(app.url("/admin/v1/caches/default/flush"))
        .send()
        .await
        .unwrap();
    let id = request_id(&r);
    assert_problem(r, StatusCode::FORBIDDEN, "protected_mode").await;
    let records = file_records(&path);
    let mine = of_request(&records, &id);
    assert_eq!(mine.len(), 1, "{records:?}");
    assert_eq!(mine[0]["principal"], "anonymous");
    assert_eq!(mine[0]["action"], "forbidden");
    assert_eq!(mine[0]["outcome"], "protected_mode");
    assert!(
        mine[0]["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.2:"))
    );
}
