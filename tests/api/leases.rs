//! Leases and stale-while-revalidate over REST (issue 27, sections 2 and
//! 3): one client recomputes a missing or expired key, the others wait or
//! get the stale value, and a fill whose lease was invalidated stores
//! nothing. In process (memory tier) and across two instances sharing one
//! Redis.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use strata::config::{BackendSettings, Settings};
use strata_testkit::{RedisServer, require};

use crate::helpers::{TestApp, assert_problem, header, spawn_app, spawn_app_with};

/// Concurrent clients that miss one key together.
const CLIENTS: usize = 50;

async fn get(app: &TestApp, cache: &str, key: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.get(app.entry(cache, key));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET answered")
}

async fn put(
    app: &TestApp,
    cache: &str,
    key: &str,
    body: &'static str,
    lease: Option<&str>,
) -> Response {
    let mut request = app.client.put(app.entry(cache, key)).body(body);
    if let Some(token) = lease {
        request = request.header("x-cache-lease", token);
    }
    request.send().await.expect("PUT answered")
}

/// `CLIENTS` GETs of `key` spread over `apps`, started together.
async fn stampede(apps: &[&TestApp], cache: &str, key: &str) -> Vec<Response> {
    join_all((0..CLIENTS).map(|i| get(apps[i % apps.len()], cache, key, &[]))).await
}

/// The leases among `responses`, and how many answered `lease_pending`
/// with both retry headers.
fn leases_and_pending(responses: &[Response]) -> (Vec<String>, usize) {
    let leases: Vec<String> = responses
        .iter()
        .filter_map(|r| header(r, "x-cache-lease"))
        .collect();
    let pending = responses
        .iter()
        .filter(|r| {
            r.status() == StatusCode::NOT_FOUND
                && header(r, "x-cache-lease").is_none()
                && header(r, "retry-after").as_deref() == Some("1")
                && header(r, "strata-retry-after-ms")
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .is_some_and(|ms| (1..=100).contains(&ms))
        })
        .count();
    (leases, pending)
}

fn leased(extra: Value) -> Value {
    let mut config = json!({"lease_ttl": 5, "default_ttl": 60});
    config
        .as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    config
}

/// The value of counter `name` with `labels` in `/metrics` (0 when absent).
async fn counter(app: &TestApp, name: &str, labels: &str) -> u64 {
    let metrics = app.get_text("/metrics").await;
    let prefix = format!("{name}{{{labels}}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_fifty_concurrent_misses_one_gets_the_lease_and_the_others_wait() {
    let app = spawn_app().await;
    app.create_cache("stampede", leased(json!({}))).await;
    let responses = stampede(&[&app], "stampede", "k").await;
    let (leases, pending) = leases_and_pending(&responses);
    assert_eq!(leases.len(), 1, "exactly one lease");
    assert_eq!(pending, CLIENTS - 1, "the others are told to wait");
    let body = assert_problem(
        get(&app, "stampede", "k", &[]).await,
        StatusCode::NOT_FOUND,
        "lease_pending",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("read again"));
    assert_eq!(
        put(&app, "stampede", "k", "computed", Some(&leases[0]))
            .await
            .status(),
        StatusCode::CREATED
    );
    let hit = get(&app, "stampede", "k", &[]).await;
    assert_eq!(hit.status(), StatusCode::OK);
    assert_eq!(hit.text().await.unwrap(), "computed");
    // The token filled once; a second fill with it is refused.
    assert_problem(
        put(&app, "stampede", "k", "again", Some(&leases[0])).await,
        StatusCode::CONFLICT,
        "lease_invalidated",
    )
    .await;
    assert_eq!(
        counter(
            &app,
            "strata_cache_leases_total",
            "cache=\"stampede\",outcome=\"granted\""
        )
        .await,
        1
    );
    assert_eq!(
        counter(
            &app,
            "strata_cache_leases_total",
            "cache=\"stampede\",outcome=\"pending\""
        )
        .await,
        CLIENTS as u64
    );
    assert_eq!(
        counter(
            &app,
            "strata_cache_leases_total",
            "cache=\"stampede\",outcome=\"filled\""
        )
        .await,
        1
    );
    assert_eq!(
        counter(
            &app,
            "strata_cache_leases_total",
            "cache=\"stampede\",outcome=\"invalidated\""
        )
        .await,
        1
    );
    // The lease runs out: the next miss gets a new one.
    app.clock.advance(Duration::from_secs(6));
    let other = get(&app, "stampede", "other", &[]).await;
    let token = header(&other, "x-cache-lease").expect("a lease");
    app.clock.advance(Duration::from_secs(6));
    assert_problem(
        put(&app, "stampede", "other", "late", Some(&token)).await,
        StatusCode::CONFLICT,
        "lease_invalidated",
    )
    .await;
    assert_eq!(
        get(&app, "stampede", "other", &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    // A malformed token is a 400 naming the header, and stores nothing.
    let bad = assert_problem(
        put(&app, "stampede", "x", "v", Some("not a token")).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    assert_eq!(bad["field"], "X-Cache-Lease");
    app.handle.stop(true).await;
}

/// Each way of invalidating a key between a miss and its fill: the fill
/// is refused and what the invalidation left stands.
#[derive(Clone, Copy, Debug)]
enum Between {
    NewerPut,
    Delete,
    ByKey,
    ByPattern,
    ByTag,
}

impl Between {
    /// Invalidates `key` of `cache` via `app`, this way.
    async fn run(self, app: &TestApp, cache: &str, key: &str) {
        let invalidations = app.url(&format!("/v1/caches/{cache}/invalidations"));
        let request = match self {
            Self::NewerPut => app.client.put(app.entry(cache, key)).body("newer"),
            Self::Delete => app.client.delete(app.entry(cache, key)),
            Self::ByKey => app
                .client
                .post(&invalidations)
                .json(&json!({"keys": [key]})),
            Self::ByPattern => app
                .client
                .post(&invalidations)
                .json(&json!({"pattern": format!("{key}*")})),
            Self::ByTag => app
                .client
                .post(&invalidations)
                .json(&json!({"tags": ["t1"]})),
        };
        let done = request.send().await.expect("invalidation answered");
        // A delete of a key nobody wrote is a 404: the invalidation still
        // ended the lease.
        assert!(
            done.status().is_success() || done.status() == StatusCode::NOT_FOUND,
            "{self:?}: {}",
            done.status()
        );
    }
}

async fn fills_after_invalidations_are_refused(a: &TestApp, b: &TestApp, cache: &str) {
    for between in [
        Between::NewerPut,
        Between::Delete,
        Between::ByKey,
        Between::ByPattern,
        Between::ByTag,
    ] {
        let key = format!("fill-{between:?}");
        let miss = get(a, cache, &key, &[]).await;
        assert_eq!(miss.status(), StatusCode::NOT_FOUND, "{between:?}");
        let token =
            header(&miss, "x-cache-lease").unwrap_or_else(|| panic!("{between:?}: a lease"));
        between.run(b, cache, &key).await;
        assert_problem(
            put(a, cache, &key, "older", Some(&token)).await,
            StatusCode::CONFLICT,
            "lease_invalidated",
        )
        .await;
        let after = get(b, cache, &key, &[]).await;
        if matches!(between, Between::NewerPut) {
            assert_eq!(after.status(), StatusCode::OK, "{between:?}");
            assert_eq!(
                after.text().await.unwrap(),
                "newer",
                "the newer value survives"
            );
        } else {
            assert_eq!(
                after.status(),
                StatusCode::NOT_FOUND,
                "{between:?}: nothing stored"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_after_an_invalidation_is_refused_and_the_newer_value_survives() {
    let app = spawn_app().await;
    app.create_cache("fills", leased(json!({}))).await;
    fills_after_invalidations_are_refused(&app, &app, "fills").await;
    app.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_serves_everyone_and_leases_one_refresh() {
    let app = spawn_app().await;
    app.create_cache(
        "swr",
        leased(json!({"default_ttl": 10, "stale_while_revalidate": 30})),
    )
    .await;
    assert_eq!(
        put(&app, "swr", "k", "old", None).await.status(),
        StatusCode::CREATED
    );
    let fresh = get(&app, "swr", "k", &[]).await;
    assert_eq!(header(&fresh, "x-cache").as_deref(), Some("HIT-L1"));
    assert_eq!(
        header(&fresh, "cache-control").as_deref(),
        Some("max-age=10")
    );

    app.clock.advance(Duration::from_secs(11));
    let responses = stampede(&[&app], "swr", "k").await;
    for r in &responses {
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(r, "x-cache").as_deref(), Some("STALE"));
        assert_eq!(
            header(r, "cache-status").as_deref(),
            Some("Strata; fwd=stale; detail=expired")
        );
        assert_eq!(header(r, "age").as_deref(), Some("11"));
    }
    let (leases, _) = leases_and_pending(&responses);
    assert_eq!(leases.len(), 1, "one client refreshes");
    // A client that refuses stale answers waits instead.
    assert_problem(
        get(&app, "swr", "k", &[("cache-control", "no-cache")]).await,
        StatusCode::NOT_FOUND,
        "lease_pending",
    )
    .await;
    // max-stale below the entry's staleness (1 s past expiry): not served
    // stale either.
    assert_eq!(
        get(&app, "swr", "k", &[("cache-control", "max-stale=0")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "swr", "k", &[("cache-control", "max-stale=20")])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        put(&app, "swr", "k", "new", Some(&leases[0]))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let refreshed = get(&app, "swr", "k", &[]).await;
    assert_eq!(header(&refreshed, "x-cache").as_deref(), Some("HIT-L1"));
    assert_eq!(refreshed.text().await.unwrap(), "new");
    assert_eq!(
        counter(
            &app,
            "strata_cache_stale_served_total",
            "cache=\"swr\",reason=\"expired\""
        )
        .await,
        CLIENTS as u64 + 1
    );
    // Past the window the entry is gone: a plain miss, with a lease.
    app.clock.advance(Duration::from_secs(41));
    let gone = get(&app, "swr", "k", &[]).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert!(header(&gone, "x-cache-lease").is_some());
    // Batch reads and exports never see the stale copy as a value.
    assert_eq!(
        put(&app, "swr", "b", "v", None).await.status(),
        StatusCode::CREATED
    );
    app.clock.advance(Duration::from_secs(11));
    let batch = app
        .post_json("/v1/caches/swr/entries:batchGet", json!({"keys": ["b"]}))
        .await;
    let batch: Value = batch.json().await.unwrap();
    assert_eq!(batch["misses"], json!(["b"]), "{batch}");
    app.handle.stop(true).await;
}

#[tokio::test]
async fn revalidation_without_leases_is_refused_with_its_reason() {
    let app = spawn_app().await;
    for (config, field) in [
        (
            json!({"stale_while_revalidate": 30}),
            "stale_while_revalidate",
        ),
        (json!({"lease_ttl": 3601}), "lease_ttl"),
    ] {
        let response = app.put_json("/admin/v1/caches/bad", config).await;
        let body = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_configuration",
        )
        .await;
        assert_eq!(body["field"], field);
    }
    app.handle.stop(true).await;
}

fn on_redis(redis: &RedisServer) -> Settings {
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.insert(
        "main".to_owned(),
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(1000),
        },
    );
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_leases_and_stale_values() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let a = spawn_app_with(on_redis(&redis)).await;
    let b = spawn_app_with(on_redis(&redis)).await;
    for tiers in [json!(["main"]), json!(["memory", "main"])] {
        let cache = if tiers.as_array().unwrap().len() == 1 {
            "remote"
        } else {
            "stacked"
        };
        let config =
            leased(json!({"tiers": tiers, "default_ttl": 10, "stale_while_revalidate": 60}));
        a.create_cache(cache, config.clone()).await;
        b.create_cache(cache, config).await;

        let responses = stampede(&[&a, &b], cache, "k").await;
        let (leases, pending) = leases_and_pending(&responses);
        assert_eq!(leases.len(), 1, "{cache}: one lease across both instances");
        assert_eq!(pending, CLIENTS - 1, "{cache}");

        fills_after_invalidations_are_refused(&a, &b, cache).await;

        // Stale values and their lease live in Redis: an entry written via
        // A is served stale via B once both clocks pass its TTL.
        assert_eq!(
            put(&a, cache, "s", "old", None).await.status(),
            StatusCode::CREATED
        );
        a.clock.advance(Duration::from_secs(11));
        b.clock.advance(Duration::from_secs(11));
        let via_b = get(&b, cache, "s", &[]).await;
        assert_eq!(via_b.status(), StatusCode::OK, "{cache}");
        assert_eq!(
            header(&via_b, "x-cache").as_deref(),
            Some("STALE"),
            "{cache}"
        );
        let token = header(&via_b, "x-cache-lease").expect("the refresher's lease");
        let via_a = get(&a, cache, "s", &[]).await;
        assert_eq!(
            header(&via_a, "x-cache").as_deref(),
            Some("STALE"),
            "{cache}"
        );
        assert!(
            header(&via_a, "x-cache-lease").is_none(),
            "{cache}: one refresher"
        );
        assert_eq!(
            put(&b, cache, "s", "new", Some(&token)).await.status(),
            StatusCode::NO_CONTENT
        );
        let refreshed = get(&a, cache, "s", &[]).await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        assert!(
            header(&refreshed, "x-cache").unwrap().starts_with("HIT"),
            "{cache}"
        );
        assert_eq!(refreshed.text().await.unwrap(), "new", "{cache}");
    }
    a.handle.stop(true).await;
    b.handle.stop(true).await;
}
