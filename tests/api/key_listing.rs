//! `GET /v1/caches/{cache}/keys` (SCAN semantics on memory, Redis and
//! tiered caches; 422 on Memcached), `"dry_run": true` in the invalidation
//! body, and `confirm_destructive` (428 `confirmation_required` without
//! `confirm=<cache name>`).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use strata::config::{BackendSettings, Settings};
use strata_testkit::{MemcachedServer, RedisServer, require};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// Puts `n` keys `prefix0..prefix{n}` into `cache` in batches.
async fn fill(app: &TestApp, cache: &str, prefix: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"key": format!("{prefix}{i}"), "value": "v", "tags": ["t"]}))
            .collect();
        let r = app
            .post_json(
                &format!("/v1/caches/{cache}/entries:batchPut"),
                json!({ "entries": entries }),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
}

/// Every key the scan returns, following the cursor to the end.
async fn scan(app: &TestApp, cache: &str, query: &str) -> (BTreeSet<String>, usize) {
    let mut keys = BTreeSet::new();
    let mut pages = 0;
    let mut cursor = "0".to_owned();
    loop {
        let page = app
            .get_json(&format!("/v1/caches/{cache}/keys?cursor={cursor}{query}"))
            .await;
        pages += 1;
        let listed = page["keys"].as_array().unwrap_or_else(|| panic!("{page}"));
        keys.extend(listed.iter().map(|k| k["key"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 10_000, "the scan ends");
    }
    (keys, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_cache_lists_every_key_page_by_page_and_filters_by_glob() {
    let app = spawn_app().await;
    app.create_cache("kl-mem", json!({"max_entries": 10000}))
        .await;
    fill(&app, "kl-mem", "user:", 250).await;
    fill(&app, "kl-mem", "order:", 50).await;
    let (all, pages) = scan(&app, "kl-mem", "&limit=100").await;
    assert_eq!(all.len(), 300);
    assert!(pages >= 3, "{pages} pages of at most 100");
    let first = app.get_json("/v1/caches/kl-mem/keys?limit=7").await;
    assert_eq!(first["keys"].as_array().unwrap().len(), 7);
    assert_eq!(first["keys"][0]["size_bytes"], 1);
    assert_eq!(first["keys"][0]["tags"], json!(["t"]));
    let (orders, _) = scan(&app, "kl-mem", "&match=order:*&limit=1000").await;
    assert_eq!(orders.len(), 50);
    assert!(orders.iter().all(|k| k.starts_with("order:")));
    for bad in ["limit=0", "limit=1001", "cursor=x", "match=", "foo=1"] {
        let r = app
            .send(
                Method::GET,
                app.url(&format!("/v1/caches/kl-mem/keys?{bad}")),
                &[],
            )
            .await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_and_tiered_caches_list_their_keys_and_memcached_answers_422() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let Some(memcached) = require(MemcachedServer::spawn()) else {
        return;
    };
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.insert(
        "r".to_owned(),
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: None,
        },
    );
    settings.backends.insert(
        "mc".to_owned(),
        BackendSettings::Memcached {
            servers: vec![format!("127.0.0.1:{}", memcached.port())],
            timeout_ms: None,
        },
    );
    let app = spawn_app_with(settings).await;
    app.create_cache("kl-redis", json!({"tiers": ["r"]})).await;
    app.create_cache("kl-tiered", json!({"tiers": ["memory", "r"]}))
        .await;
    app.create_cache("kl-mc", json!({"tiers": ["mc"]})).await;
    fill(&app, "kl-redis", "a:", 300).await;
    fill(&app, "kl-tiered", "b:", 120).await;
    let (keys, _) = scan(&app, "kl-redis", "&limit=50").await;
    assert_eq!(keys.len(), 300, "every key at least once");
    let (keys, _) = scan(&app, "kl-redis", "&match=a:1?&limit=50").await;
    assert_eq!(keys.len(), 10);
    let (keys, _) = scan(&app, "kl-tiered", "&limit=50").await;
    assert_eq!(keys.len(), 120);
    let r = app
        .send(Method::GET, app.url("/v1/caches/kl-mc/keys"), &[])
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_operation").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_and_removes_nothing() {
    let app = spawn_app().await;
    app.create_cache("kl-dry", json!({})).await;
    fill(&app, "kl-dry", "user:", 30).await;
    let r = app
        .post_json(
            "/v1/caches/kl-dry/invalidations",
            json!({"pattern": "user:1*", "dry_run": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"invalidated": 11, "counted": true})
    );
    let r = app
        .post_json(
            "/v1/caches/kl-dry/invalidations",
            json!({"tags": ["t"], "dry_run": true}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["invalidated"], 30);
    let (left, _) = scan(&app, "kl-dry", "&limit=1000").await;
    assert_eq!(left.len(), 30, "nothing removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_destructive_refuses_unconfirmed_flush_delete_and_pattern_with_428() {
    let app = spawn_app().await;
    app.create_cache("kl-prod", json!({"confirm_destructive": true}))
        .await;
    let config = app.get_json("/admin/v1/caches/kl-prod").await;
    assert_eq!(config["confirm_destructive"], true, "{config}");
    fill(&app, "kl-prod", "k", 5).await;
    let refused = [
        (Method::POST, "/admin/v1/caches/kl-prod/flush"),
        (Method::POST, "/admin/v1/caches/kl-prod/flush?confirm=other"),
        (Method::DELETE, "/admin/v1/caches/kl-prod"),
    ];
    for (method, path) in refused {
        let r = app.send(method, app.url(path), &[]).await;
        let body = assert_problem(
            r,
            StatusCode::PRECONDITION_REQUIRED,
            "confirmation_required",
        )
        .await;
        assert_eq!(body["field"], "confirm");
    }
    let r = app
        .post_json("/v1/caches/kl-prod/invalidations", json!({"pattern": "k*"}))
        .await;
    assert_problem(
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "confirmation_required",
    )
    .await;
    // Keys need no confirmation; a dry run neither.
    let r = app
        .post_json("/v1/caches/kl-prod/invalidations", json!({"keys": ["k0"]}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .post_json(
            "/v1/caches/kl-prod/invalidations?confirm=kl-prod",
            json!({"pattern": "k*"}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["invalidated"], 4);
    let r = app
        .send(
            Method::POST,
            app.url("/admin/v1/caches/kl-prod/flush?confirm=kl-prod"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .send(
            Method::DELETE,
            app.url("/admin/v1/caches/kl-prod?confirm=kl-prod"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A cache without the setting ignores `confirm`.
    let r = app
        .send(Method::POST, app.url("/admin/v1/caches/default/flush"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A cache on Redis Cluster lists every key across the nodes, page by
/// page, with SCAN semantics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_cache_lists_every_key() {
    let Some(cluster) = require(strata_testkit::RedisCluster::spawn(3)) else {
        return;
    };
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.insert(
        "rc".to_owned(),
        BackendSettings::RedisCluster {
            urls: cluster.urls(),
            timeout_ms: None,
        },
    );
    let app = spawn_app_with(settings).await;
    app.create_cache("kl-cluster", json!({"tiers": ["rc"]}))
        .await;
    fill(&app, "kl-cluster", "c:", 200).await;
    let (keys, _) = scan(&app, "kl-cluster", "&limit=30").await;
    assert_eq!(keys.len(), 200, "every key at least once");
    let (keys, _) = scan(&app, "kl-cluster", "&match=c:1?&limit=30").await;
    assert_eq!(keys.len(), 10);
}
