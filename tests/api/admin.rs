use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn create_read_reconfigure_delete() {
    let app = spawn_app().await;
    let r = app
        .put_json(
            "/admin/v1/caches/sessions",
            json!({"max_entries": 1000, "default_ttl": 60}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["configuration"]["eviction"], "auto");
    assert_eq!(body["configuration"]["tiers"], json!(["memory"]));

    for i in 0..10 {
        app.client
            .put(app.entry("sessions", &format!("s{i}")))
            .body("v")
            .send()
            .await
            .unwrap();
    }
    let r = app
        .client
        .get(app.url("/admin/v1/caches/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["max_entries"], 1000);

    // A capacity change opens a new store and migrates the live entries.
    let r = app
        .put_json(
            "/admin/v1/caches/sessions",
            json!({"max_entries": 500, "default_ttl": 60}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["migrated_entries"], 10);
    assert_eq!(body["configuration"]["max_entries"], 500);
    assert_eq!(app.get("sessions", "s3").await.status(), StatusCode::OK);

    let listed: Value = app.get_json("/v1/caches").await;
    let names: Vec<&str> = listed["caches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["default", "sessions"]);

    let r = app
        .client
        .delete(app.url("/admin/v1/caches/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("sessions", "s3").await,
        StatusCode::NOT_FOUND,
        "cache_not_found",
    )
    .await;
}

#[tokio::test]
async fn invalid_configurations_are_422_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"eviction": "random"}), "eviction"),
        (json!({"max_entries": 0}), "max_entries"),
        (json!({"default_ttl": 0}), "default_ttl"),
        (
            json!({"max_bytes": 100, "max_value_bytes": 1000}),
            "max_value_bytes",
        ),
        (json!({"tiers": []}), "tiers"),
        (json!({"tiers": ["nowhere"]}), "tiers"),
    ];
    for (config, field) in cases {
        let r = app.put_json("/admin/v1/caches/bad", config.clone()).await;
        let body =
            assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration").await;
        assert_eq!(body["field"], field, "{config}");
    }
    let r = app
        .put_json("/admin/v1/caches/bad", json!({"max_entriez": 5}))
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_problem(
        app.get("bad", "k").await,
        StatusCode::NOT_FOUND,
        "cache_not_found",
    )
    .await;
}

#[tokio::test]
async fn flush_empties_one_cache_only() {
    let app = spawn_app().await;
    app.create_cache("other", json!({})).await;
    app.put("default", "k", "v").await;
    app.put("other", "k", "v").await;
    let r = app
        .client
        .post(app.url("/admin/v1/caches/default/flush"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("default", "k").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("other", "k").await.status(), StatusCode::OK);
    let stats: Value = app.get_json("/v1/caches/default/stats").await;
    assert_eq!(stats["entries"], 0);
}

#[tokio::test]
async fn stats_count_hits_misses_and_capacity_evictions() {
    let app = spawn_app().await;
    app.create_cache("tiny", json!({"max_entries": 5})).await;
    for i in 0..50 {
        app.client
            .put(app.entry("tiny", &format!("k{i}")))
            .body("v")
            .send()
            .await
            .unwrap();
    }
    app.get("tiny", "k49").await;
    app.get("tiny", "never").await;
    let stats: Value = app.get_json("/v1/caches/tiny/stats").await;
    assert_eq!(stats["inserts"], 50);
    assert!(stats["entries"].as_u64().unwrap() <= 5, "{stats}");
    assert!(
        stats["evictions"]["capacity"].as_u64().unwrap() >= 45,
        "{stats}"
    );
    assert_eq!(
        stats["misses"].as_u64().unwrap() + stats["hits"].as_u64().unwrap(),
        2
    );
    assert_eq!(stats["backend"], "memory");
}

/// Issue 27 section 4: a cache's `cache_aside` defaults are set, read
/// back exactly and checked like every other setting.
#[tokio::test]
async fn cache_aside_defaults_round_trip_and_are_checked() {
    let app = spawn_app().await;
    let defaults = json!({
        "fail_safe_max_secs": 600,
        "fail_safe_throttle_secs": 5,
        "soft_timeout_ms": 100,
        "hard_timeout_ms": 2000,
        "eager_refresh": 0.8,
        "negative_ttl_secs": 30,
        "ttl_jitter": 0.1
    });
    let r = app
        .put_json("/admin/v1/caches/aside", json!({"cache_aside": defaults}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let read = app.get_json("/admin/v1/caches/aside").await;
    assert_eq!(read["cache_aside"], defaults, "{read}");
    assert_eq!(read["sources"]["cache_aside"], "runtime", "{read}");
    for (bad, field) in [
        (json!({"eager_refresh": 1.0}), "cache_aside.eager_refresh"),
        (json!({"ttl_jitter": 0.0}), "cache_aside.ttl_jitter"),
        (
            json!({"fail_safe_max_secs": 0}),
            "cache_aside.fail_safe_max_secs",
        ),
        (
            json!({"soft_timeout_ms": 500, "hard_timeout_ms": 500}),
            "cache_aside.soft_timeout_ms",
        ),
    ] {
        let r = app
            .put_json("/admin/v1/caches/aside2", json!({"cache_aside": bad}))
            .await;
        let body =
            assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration").await;
        assert_eq!(body["field"], field, "{bad}");
    }
    for bad in [json!({"eager_refresh": 1.5}), json!({"fail_safe_max": 5})] {
        let r = app
            .put_json("/admin/v1/caches/aside2", json!({"cache_aside": bad}))
            .await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
}

/// A `PATCH` with `body` as `application/merge-patch+json`.
async fn patch(
    app: &crate::helpers::TestApp,
    cache: &str,
    if_match: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .patch(app.url(&format!("/admin/v1/caches/{cache}")))
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string());
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_merge_patch_changes_only_the_settings_it_names() {
    let app = spawn_app().await;
    let r = app
        .put_json(
            "/admin/v1/caches/sessions",
            json!({"max_entries": 1000, "default_ttl": 60}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for i in 0..10 {
        app.client
            .put(app.entry("sessions", &format!("s{i}")))
            .body("v")
            .send()
            .await
            .unwrap();
    }

    let r = patch(&app, "sessions", Some("\"1\""), json!({"eviction": "lru"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["version"], 2);
    assert_eq!(body["migrated_entries"], 10);
    let read: Value = app.get_json("/admin/v1/caches/sessions").await;
    assert_eq!(read["eviction"], "lru");
    assert_eq!(read["max_entries"], 1000, "{read}");
    assert_eq!(read["default_ttl"], 60, "{read}");
    assert_eq!(read["sources"]["eviction"], "runtime");
    assert_eq!(read["sources"]["max_entries"], "runtime");
    assert_eq!(read["sources"]["max_value_bytes"], "default");
    assert_eq!(app.get("sessions", "s3").await.status(), StatusCode::OK);

    // `null` returns a setting to its default.
    let r = patch(&app, "sessions", None, json!({"default_ttl": null})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let read: Value = app.get_json("/admin/v1/caches/sessions").await;
    assert!(read.get("default_ttl").is_none(), "{read}");
    assert_eq!(read["sources"]["default_ttl"], "default");
    assert_eq!(read["max_entries"], 1000);
    assert_eq!(read["version"], 3);

    // A stale version is a conflict, and nothing changes.
    let r = patch(&app, "sessions", Some("\"1\""), json!({"max_entries": 5})).await;
    assert_problem(r, StatusCode::CONFLICT, "version_conflict").await;
    let read: Value = app.get_json("/admin/v1/caches/sessions").await;
    assert_eq!(read["max_entries"], 1000);
}

#[tokio::test]
async fn a_merge_patch_is_refused_when_it_cannot_apply() {
    let app = spawn_app().await;
    let r = patch(&app, "missing", None, json!({"eviction": "lru"})).await;
    assert_problem(r, StatusCode::NOT_FOUND, "cache_not_found").await;

    let r = app
        .client
        .patch(app.url("/admin/v1/caches/default"))
        .header("content-type", "application/json")
        .body(json!({"eviction": "lru"}).to_string())
        .send()
        .await
        .unwrap();
    assert_problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = patch(&app, "default", None, json!(["eviction"])).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = patch(&app, "default", None, json!({"evicton": "lru"})).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = patch(&app, "default", None, json!({"eviction": "random"})).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration").await;
    let read: Value = app.get_json("/admin/v1/caches/default").await;
    assert_eq!(read["version"], 1, "{read}");
}
