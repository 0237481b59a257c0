//! `GET /admin/v1/caches/{cache}/export` and `POST .../import`: round
//! trips in NDJSON and MessagePack, conflicts, per-line errors, and a
//! backend that cannot enumerate.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use strata::config::{BackendSettings, Settings};
use strata_testkit::{MemcachedServer, require};

use crate::helpers::{TestApp, assert_problem, header, spawn_app};

const NDJSON: &[(&str, &str)] = &[("content-type", "application/x-ndjson")];

async fn fill(app: &TestApp, cache: &str) {
    let r = app
        .post_json(
            &format!("/v1/caches/{cache}/entries:batchPut"),
            json!({"entries": [
                {"key": "plain", "value": "hello"},
                {"key": "json", "value": "{\"a\":1}", "content_type": "application/json", "ttl": 300, "tags": ["t1", "t2"]},
                {"key": "bin", "value_base64": "AAEC/w==", "ttl": 60, "tags": ["t2"]},
            ]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

async fn export(app: &TestApp, cache: &str, accept: &str) -> (String, Vec<u8>) {
    let url = app.url(&format!("/admin/v1/caches/{cache}/export"));
    let r = app.send(Method::GET, url, &[("accept", accept)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = header(&r, "content-type").unwrap_or_default();
    (content_type, r.bytes().await.expect("body").to_vec())
}

/// The NDJSON export of `cache`, by key.
async fn exported(app: &TestApp, cache: &str) -> BTreeMap<String, Value> {
    let (content_type, body) = export(app, cache, "application/x-ndjson").await;
    assert_eq!(content_type, "application/x-ndjson");
    String::from_utf8(body)
        .expect("UTF-8")
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a JSON line");
            (v["key"].as_str().expect("key").to_owned(), v)
        })
        .collect()
}

async fn import(
    app: &TestApp,
    cache: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Value {
    let url = app.url(&format!("/admin/v1/caches/{cache}/import{query}"));
    let r = app
        .send_body(Method::POST, url, &[("content-type", content_type)], body)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("JSON answer")
}

#[tokio::test]
async fn ndjson_round_trip_keeps_values_ttls_tags_and_content_types() {
    let app = spawn_app().await;
    app.create_cache("src", json!({})).await;
    app.create_cache("dst", json!({})).await;
    fill(&app, "src").await;
    let source = exported(&app, "src").await;
    assert_eq!(source.len(), 3, "{source:?}");
    assert_eq!(source["bin"]["value"], "AAEC/w==");
    assert_eq!(source["json"]["content_type"], "application/json");
    assert_eq!(source["json"]["tags"], json!(["t1", "t2"]));
    assert_eq!(source["json"]["ttl_secs"], 300);
    assert!(source["plain"].get("ttl_secs").is_none(), "{source:?}");

    let (_, body) = export(&app, "src", "application/x-ndjson").await;
    let out = import(&app, "dst", "", "application/x-ndjson", body).await;
    assert_eq!(out["imported"], 3, "{out}");
    assert_eq!(out["failed"], 0, "{out}");
    assert_eq!(exported(&app, "dst").await, source);
    assert_eq!(
        app.get("dst", "json").await.text().await.unwrap(),
        "{\"a\":1}"
    );
    // The tags work as tags in the new cache.
    let r = app
        .post_json("/v1/caches/dst/invalidations", json!({"tags": ["t1"]}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get("dst", "json").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("dst", "bin").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn msgpack_round_trip() {
    let app = spawn_app().await;
    app.create_cache("src", json!({})).await;
    app.create_cache("dst", json!({})).await;
    fill(&app, "src").await;
    let (content_type, body) = export(&app, "src", "application/vnd.msgpack").await;
    assert_eq!(content_type, "application/msgpack");
    assert!(!body.is_empty() && body[0] != b'{');
    let out = import(&app, "dst", "", "application/msgpack", body).await;
    assert_eq!(out["imported"], 3, "{out}");
    assert_eq!(exported(&app, "dst").await, exported(&app, "src").await);
}

#[tokio::test]
async fn on_conflict_skip_keeps_present_entries_and_overwrite_replaces_them() {
    let app = spawn_app().await;
    app.create_cache("src", json!({})).await;
    app.create_cache("dst", json!({})).await;
    fill(&app, "src").await;
    assert_eq!(
        app.put("dst", "plain", "mine").await.status(),
        StatusCode::CREATED
    );
    let (_, body) = export(&app, "src", "application/x-ndjson").await;
    let out = import(
        &app,
        "dst",
        "?on_conflict=skip",
        "application/x-ndjson",
        body.clone(),
    )
    .await;
    assert_eq!(
        (out["imported"].as_u64(), out["skipped"].as_u64()),
        (Some(2), Some(1)),
        "{out}"
    );
    assert_eq!(app.get("dst", "plain").await.text().await.unwrap(), "mine");
    let out = import(
        &app,
        "dst",
        "?on_conflict=overwrite",
        "application/x-ndjson",
        body,
    )
    .await;
    assert_eq!(out["imported"], 3, "{out}");
    assert_eq!(app.get("dst", "plain").await.text().await.unwrap(), "hello");
    let url = app.url("/admin/v1/caches/dst/import?on_conflict=merge");
    let r = app.send_body(Method::POST, url, NDJSON, "").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

#[tokio::test]
async fn bad_lines_are_reported_with_their_line_numbers_and_the_rest_imported() {
    let app = spawn_app().await;
    app.create_cache("dst", json!({"max_value_bytes": 4})).await;
    let past = strata_domain::Clock::now(app.clock.as_ref()).as_millis() - 1;
    let body = [
        r#"{"key":"a","value":"YQ=="}"#.to_owned(),
        String::new(),
        "not json".to_owned(),
        r#"{"key":"has space","value":"YQ=="}"#.to_owned(),
        r#"{"key":"b","value":"!!"}"#.to_owned(),
        r#"{"key":"big","value":"AAAAAAAA"}"#.to_owned(),
        format!(r#"{{"key":"old","value":"YQ==","expires_at_ms":{past}}}"#),
        r#"{"key":"c","value":"Yw==","ttl_secs":30,"tags":["x"]}"#.to_owned(),
    ]
    .join("\n");
    let out = import(&app, "dst", "", "application/x-ndjson", body.into_bytes()).await;
    assert_eq!(out["imported"], 2, "{out}");
    assert_eq!(out["skipped"], 1, "{out}");
    assert_eq!(out["failed"], 4, "{out}");
    let lines: Vec<u64> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4, 5, 6], "{out}");
    assert_eq!(app.get("dst", "c").await.text().await.unwrap(), "c");
    app.clock.advance(Duration::from_secs(31));
    assert_eq!(app.get("dst", "c").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("dst", "a").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_media_type_is_415_and_an_unknown_cache_404() {
    let app = spawn_app().await;
    let url = app.url("/admin/v1/caches/default/import");
    let r = app
        .send_body(Method::POST, url, &[("content-type", "text/csv")], "a,b")
        .await;
    assert_problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = app
        .send(Method::GET, app.url("/admin/v1/caches/nope/export"), &[])
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "cache_not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_cannot_export_or_import_422_naming_the_capability() {
    let Some(memcached) = require(MemcachedServer::spawn()) else {
        return;
    };
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.insert(
        "mc".to_owned(),
        BackendSettings::Memcached {
            servers: vec![format!("127.0.0.1:{}", memcached.port())],
            timeout_ms: None,
        },
    );
    let app = crate::helpers::spawn_app_with(settings).await;
    app.create_cache("mcache", json!({"tiers": ["mc"]})).await;
    let r = app
        .send(Method::GET, app.url("/admin/v1/caches/mcache/export"), &[])
        .await;
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_operation").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("export") && detail.contains("memcached"),
        "{body}"
    );
    let url = app.url("/admin/v1/caches/mcache/import");
    let r = app
        .send_body(Method::POST, url, NDJSON, r#"{"key":"a","value":"YQ=="}"#)
        .await;
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_operation").await;
    assert!(
        body["detail"].as_str().unwrap().contains("export"),
        "{body}"
    );
}

/// Runs the `strata` binary with `args`; returns (success, stdout, stderr).
async fn strata(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(&args)
            .env_remove("STRATA_API_KEY")
            .output()
            .expect("strata runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("joined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_to_a_file_and_imports_it_back() {
    let app = spawn_app().await;
    app.create_cache("src", json!({})).await;
    app.create_cache("dst", json!({})).await;
    fill(&app, "src").await;
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [("dump.ndjson", None), ("dump.msgpack", Some("msgpack"))] {
        let file = dir.path().join(name).display().to_string();
        let mut args = vec![
            "export".to_owned(),
            "src".to_owned(),
            "-o".to_owned(),
            file.clone(),
            "--server".to_owned(),
            app.base.clone(),
        ];
        if let Some(f) = format {
            args.extend(["--format".to_owned(), f.to_owned()]);
        }
        let (ok, _, err) = strata(args).await;
        assert!(ok, "{err}");
        let (ok, out, err) = strata(vec![
            "import".to_owned(),
            "dst".to_owned(),
            file,
            "--on-conflict".to_owned(),
            "skip".to_owned(),
            "--server".to_owned(),
            app.base.clone(),
        ])
        .await;
        assert!(ok, "{err}");
        let expected = if format.is_none() {
            "imported 3, skipped 0, failed 0"
        } else {
            "imported 0, skipped 3, failed 0"
        };
        assert!(out.contains(expected), "{out}");
    }
    assert_eq!(exported(&app, "dst").await, exported(&app, "src").await);
    // A refused line fails the command, after it printed the line number.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"key\":\"k\",\"value\":\"YQ==\"}\nnope\n").unwrap();
    let (ok, out, _) = strata(vec![
        "import".to_owned(),
        "dst".to_owned(),
        bad.display().to_string(),
        "--server".to_owned(),
        app.base.clone(),
    ])
    .await;
    assert!(!ok);
    assert!(out.contains("line 2:"), "{out}");
    // A problem answer is an error naming it.
    let (ok, _, err) = strata(vec![
        "export".to_owned(),
        "nope".to_owned(),
        "--server".to_owned(),
        app.base.clone(),
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
}
