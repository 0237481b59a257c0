//! Caches on shared backends, configured in `[backends.<name>]`, against
//! real servers that testkit spawns.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use strata::config::{BackendSettings, Settings};
use strata_testkit::{MemcachedServer, RedisServer, require};

use crate::helpers::{assert_problem, eventually, spawn_app_with};
use crate::invalidation::invalidation;

fn settings_with(name: &str, backend: BackendSettings) -> Settings {
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.insert(name.to_owned(), backend);
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_backed_cache_serves_and_recovers_after_an_outage() {
    let Some(mut redis) = require(RedisServer::spawn()) else {
        return;
    };
    let app = spawn_app_with(settings_with(
        "outage",
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(300),
        },
    ))
    .await;
    app.create_cache("shared", json!({"tiers": ["outage"]}))
        .await;
    assert_eq!(
        app.put("shared", "user:1", "v1").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put("shared", "user:2", "v2").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.get("shared", "user:1").await.text().await.unwrap(),
        "v1"
    );
    let r = app
        .post_json(
            "/v1/caches/shared/invalidations",
            json!({"pattern": "user:*"}),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"invalidated": 2, "counted": true}),
        "Redis counts what it removes"
    );

    redis.stop();
    // Bounded loop: reads and writes answer 503 problem bodies with Retry-After.
    for _ in 0..10 {
        let r = app.get("shared", "user:1").await;
        assert_eq!(
            r.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some("5".to_owned())
        );
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable").await;
        // Opaque: the request id to quote, no backend name or driver text.
        assert_eq!(body["request_id"], request_id.as_str(), "{body}");
        let text = body.to_string().to_lowercase();
        for leak in [
            "outage",
            "redis",
            "refused",
            "os error",
            "broken pipe",
            "timed out",
        ] {
            assert!(!text.contains(leak), "{leak} leaked into {body}");
        }
    }
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["backends"][0]["name"], "outage", "{ready}");
    assert_eq!(ready["backends"][0]["kind"], "redis", "{ready}");
    // Open, or half-open once its cool-down (100-500 ms) has passed: a
    // loaded machine can take that long between the last GET and this read.
    let breaker = ready["backends"][0]["circuit_breaker"].as_str();
    assert!(
        matches!(breaker, Some("open" | "half_open")),
        "the breaker did not open: {ready}"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        [1, 2].iter().any(|state| metrics.contains(&format!(
            r#"strata_backend_circuit_state{{backend="outage",kind="redis"}} {state}"#
        ))),
        "breaker state missing from /metrics"
    );
    let opened = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"strata_backend_breaker_opened_total{backend="outage"} "#))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(
        opened.is_some_and(|n| n >= 1),
        "strata_backend_breaker_opened_total missing or 0"
    );

    redis.restart().expect("redis restarts on the same port");
    let recovered = eventually(Duration::from_secs(20), || async {
        app.put("shared", "user:3", "v3")
            .await
            .status()
            .is_success()
    })
    .await;
    assert!(
        recovered,
        "the service did not serve again after redis came back"
    );
    assert_eq!(
        app.get("shared", "user:3").await.text().await.unwrap(),
        "v3"
    );
    let ready: Value = app.get_json("/health/ready").await;
    assert_eq!(ready["status"], "ok", "{ready}");
    assert_eq!(ready["backends"][0]["circuit_breaker"], "closed", "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_refuses_pattern_invalidation_with_422_naming_the_backend() {
    let Some(memcached) = require(MemcachedServer::spawn()) else {
        return;
    };
    let app = spawn_app_with(settings_with(
        "mc",
        BackendSettings::Memcached {
            servers: vec![format!("127.0.0.1:{}", memcached.port())],
            timeout_ms: None,
        },
    ))
    .await;
    app.create_cache("mcache", json!({"tiers": ["mc"]})).await;
    assert_eq!(
        app.put("mcache", "k", "v").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get("mcache", "k").await.text().await.unwrap(), "v");
    let r = app
        .post_json("/v1/caches/mcache/invalidations", json!({"pattern": "k*"}))
        .await;
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_operation").await;
    assert!(
        body["detail"].as_str().unwrap().contains("memcached"),
        "{body}"
    );
}

#[tokio::test]
async fn a_cache_naming_an_unknown_backend_is_422() {
    let app = spawn_app_with(Settings::load(None).unwrap()).await;
    let r = app
        .put_json("/admin/v1/caches/x", json!({"tiers": ["nowhere"]}))
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration").await;
}

/// Issue 26 item 17: Memcached hides tagged entries by bumping the tag's
/// generation and cannot count them. It used to answer
/// `{"invalidated": 0}` while it removed them; now it says it did not
/// count, alone and under a memory L1, and the entries are really gone.
/// A memory cache counts exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_invalidation_on_memcached_says_it_cannot_count_and_removes_the_entries() {
    let Some(memcached) = require(MemcachedServer::spawn()) else {
        return;
    };
    let app = spawn_app_with(settings_with(
        "mc",
        BackendSettings::Memcached {
            servers: vec![format!("127.0.0.1:{}", memcached.port())],
            timeout_ms: None,
        },
    ))
    .await;
    app.create_cache("mc-only", json!({"tiers": ["mc"]})).await;
    app.create_cache("mc-tiered", json!({"tiers": ["memory", "mc"]}))
        .await;
    app.create_cache("in-memory", json!({"tiers": ["memory"]}))
        .await;
    for cache in ["mc-only", "mc-tiered", "in-memory"] {
        for (key, tags) in [("a", "red,blue"), ("b", "blue"), ("c", "green")] {
            let r = app
                .client
                .put(app.entry(cache, key) + "?tags=" + tags)
                .body("v")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "{cache}/{key}");
            // Read once, so that the tiered cache holds it in L1 too.
            assert_eq!(app.get(cache, key).await.status(), StatusCode::OK);
        }
        let answer = invalidation(&app, cache, json!({"tags": ["blue"]})).await;
        let expected = if cache == "in-memory" {
            json!({"invalidated": 2, "counted": true})
        } else {
            json!({"invalidated": null, "counted": false})
        };
        assert_eq!(answer, expected, "{cache}");
        for (key, status) in [
            ("a", StatusCode::NOT_FOUND),
            ("b", StatusCode::NOT_FOUND),
            ("c", StatusCode::OK),
        ] {
            assert_eq!(app.get(cache, key).await.status(), status, "{cache}/{key}");
        }
        // Keys are counted exactly on every backend.
        let answer = invalidation(&app, cache, json!({"keys": ["c", "zzz"]})).await;
        assert_eq!(
            answer,
            json!({"invalidated": 1, "counted": true}),
            "{cache}"
        );
    }
}
