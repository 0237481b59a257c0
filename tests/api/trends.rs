//! Trends (`[analytics]`): windowed series sampled off the request path
//! on the injected clock, annotations of configuration changes, the
//! build cache's stores, the switch, and a restart with `data_dir`; and
//! the usage report's hot keys (`GET /v1/caches/{cache}/report`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use strata::config::Settings;

use crate::helpers::{TestApp, assert_problem, eventually, spawn_app_with};

/// Default settings, sampling every 10 ms of real time (a sample is
/// still taken once per 10 s of the test's clock).
fn settings() -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.analytics.sample_interval_ms = 10;
    settings
}

async fn trends(app: &TestApp, path: &str) -> Value {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

fn points(body: &Value, series: &str) -> Vec<Value> {
    body["series"][series]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Moves the clock on 10 s at a time until `path`'s `series` has more
/// than `seen` points (the sampler runs in the background, so each step
/// waits for it, with a deadline); returns the trends then.
async fn next_window(app: &TestApp, path: &str, series: &str, seen: usize) -> Value {
    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(10));
        // Poll with a deadline (the sampler runs in the background).
        let until = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < until {
            let body = trends(app, path).await;
            if points(&body, series).len() > seen {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    panic!("no new point of {series} at {path}");
}

#[tokio::test]
async fn a_cache_s_trends_are_per_window_and_annotated() {
    let app = spawn_app_with(settings()).await;
    app.create_cache("t", json!({"max_entries": 100, "eviction": "sieve"}))
        .await;
    let path = "/v1/caches/t/trends?series=hit_ratio,hits,misses,requests,p50,p99,bytes_written,bytes_read,entries&range=1h";
    let body = next_window(&app, path, "hit_ratio", 0).await;
    let mut seen = points(&body, "hit_ratio").len();

    // A window of hits only.
    for i in 0..10 {
        let r = app
            .client
            .put(app.entry("t", &format!("k{i}")))
            .body("12345")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        for _ in 0..9 {
            assert_eq!(
                app.get("t", &format!("k{i}")).await.status(),
                StatusCode::OK
            );
        }
    }
    let body = next_window(&app, path, "hit_ratio", seen).await;
    seen = points(&body, "hit_ratio").len();
    let last = |series: &str| points(&body, series).last().cloned().unwrap();
    assert_eq!(last("hit_ratio")[1], 1.0, "{body}");
    assert_eq!(last("hits")[1], 90.0, "{body}");
    assert_eq!(last("requests")[1], 100.0, "{body}");
    assert_eq!(last("bytes_written")[1], 50.0, "{body}");
    assert_eq!(last("bytes_read")[1], 450.0, "{body}");
    assert_eq!(last("entries")[1], 10.0, "{body}");
    let (p50, p99) = (
        last("p50")[1].as_f64().unwrap(),
        last("p99")[1].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99, "{body}");
    assert_eq!(body["resolution_secs"], 10);
    assert_eq!(
        body["series"].as_object().unwrap().len(),
        9,
        "only the series asked for: {body}"
    );

    // Then a window of misses only: the hit ratio is the window's (0),
    // not the 0.9 since start.
    for i in 0..10 {
        assert_eq!(
            app.get("t", &format!("absent{i}")).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let body = next_window(&app, path, "hit_ratio", seen).await;
    let last = points(&body, "hit_ratio").last().cloned().unwrap();
    assert_eq!(last[1], 0.0, "{body}");
    assert_eq!(points(&body, "misses").last().unwrap()[1], 10.0);
    // A window without reads has no hit ratio, and no latency.
    let seen = points(&body, "hit_ratio").len();
    let body = next_window(&app, path, "hit_ratio", seen).await;
    assert_eq!(points(&body, "hit_ratio").last().unwrap()[1], Value::Null);
    assert_eq!(points(&body, "p99").last().unwrap()[1], Value::Null);

    // Configuration changes are annotated with what changed.
    let r = app
        .client
        .patch(app.url("/admin/v1/caches/t"))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"eviction": "lru"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = trends(&app, "/v1/caches/t/trends").await;
    let annotations = body["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 2, "{body}");
    assert_eq!(annotations[0]["summary"], "created");
    assert_eq!(annotations[1]["kind"], "configuration");
    assert_eq!(annotations[1]["cause"], "admin");
    assert!(
        annotations[1]["summary"]
            .as_str()
            .unwrap()
            .contains("eviction: sieve -> lru"),
        "{body}"
    );
    // Every series by default; memory is reported and bounded.
    assert_eq!(body["series"].as_object().unwrap().len(), 15, "{body}");
    let memory = body["memory_bytes"].as_u64().unwrap();
    assert!(memory > 0 && memory < 256 * 1024, "{memory}");
    let day = trends(&app, "/v1/caches/t/trends?range=24h&series=hits").await;
    assert_eq!(day["resolution_secs"], 60);
}

#[tokio::test]
async fn bad_trend_queries_are_400_and_unknown_caches_404() {
    let app = spawn_app_with(settings()).await;
    for (query, field) in [
        ("series=p95", "series"),
        ("range=7d", "range"),
        ("series=hits&window=1", "window"),
    ] {
        let r = app
            .client
            .get(app.url(&format!("/v1/caches/default/trends?{query}")))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        assert!(problem.to_string().contains(field), "{problem}");
    }
    let r = app
        .client
        .get(app.url("/v1/caches/missing/trends"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "cache_not_found").await;
    let r = app
        .client
        .get(app.url("/admin/v1/cache/trends?instance=cas/nope"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn analytics_off_keeps_no_trends() {
    let mut settings = settings();
    settings.analytics.enabled = false;
    let app = spawn_app_with(settings).await;
    let r = app
        .client
        .get(app.url("/v1/caches/default/trends"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn build_cache_stores_have_trends() {
    let app = spawn_app_with(settings()).await;
    let path =
        "/admin/v1/cache/trends?instance=cas/memory&series=hits,misses,hit_ratio,entries,bytes";
    // Wait for the store's first sample (its history then exists).
    let mut seen = 0;
    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(10));
        let exists = eventually(Duration::from_secs(2), || async {
            app.client.get(app.url(path)).send().await.unwrap().status() == StatusCode::OK
        })
        .await;
        if exists {
            seen = points(&trends(&app, path).await, "hits").len();
            break;
        }
    }
    let blob = b"trend me".to_vec();
    let hash = hex::encode(sha2::Sha256::digest(&blob));
    let r = app
        .client
        .put(app.url(&format!("/cas/{hash}")))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    for _ in 0..3 {
        let r = app
            .client
            .get(app.url(&format!("/cas/{hash}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let body = next_window(&app, path, "hits", seen).await;
    let last = |series: &str| points(&body, series).last().cloned().unwrap();
    assert_eq!(last("hits")[1], 3.0, "{body}");
    assert_eq!(last("entries")[1], 1.0, "{body}");
    assert_eq!(last("bytes")[1], blob.len() as f64, "{body}");
}

#[tokio::test]
async fn trends_survive_a_restart_with_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings();
    settings.server.data_dir = Some(dir.path().to_owned());
    settings.analytics.save_interval_secs = 10;
    let app = spawn_app_with(settings.clone()).await;
    let path = "/v1/caches/default/trends?series=hits";
    let body = next_window(&app, path, "hits", 0).await;
    let seen = points(&body, "hits").len();
    for _ in 0..4 {
        app.put("default", "k", "v").await;
        assert_eq!(app.get("default", "k").await.status(), StatusCode::OK);
    }
    let body = next_window(&app, path, "hits", seen).await;
    let before = points(&body, "hits");
    assert_eq!(before.last().unwrap()[1], 4.0, "{body}");
    // The sampler saves after it samples, once per 10 s of the clock
    // here; one more window means the save after `before` has run.
    next_window(&app, path, "hits", before.len()).await;
    assert!(dir.path().join("trends.msgpack").exists());
    app.handle.stop(true).await;

    let app = spawn_app_with(settings).await;
    let body = trends(&app, path).await;
    let after = points(&body, "hits");
    assert!(
        after.len() >= before.len(),
        "the history came back: {} of {} points",
        after.len(),
        before.len()
    );
    assert_eq!(after[before.len() - 1], before[before.len() - 1], "{body}");
}

/// A deterministic Zipf(1.0) stream of `n` draws over `keys` keys.
fn zipf(keys: usize, n: usize) -> Vec<usize> {
    let total: f64 = (1..=keys).map(|k| 1.0 / k as f64).sum();
    let mut acc = 0.0;
    let cdf: Vec<f64> = (1..=keys)
        .map(|k| {
            acc += 1.0 / k as f64 / total;
            acc
        })
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            cdf.partition_point(|&c| c < u).min(keys - 1)
        })
        .collect()
}

#[tokio::test]
async fn the_usage_report_finds_the_hot_keys_within_its_error_bound() {
    let mut settings = settings();
    settings.analytics.report_sample_rate = 1.0;
    let app = spawn_app_with(settings).await;
    app.create_cache("z", json!({"max_entries": 1000})).await;
    const KEYS: usize = 300;
    for k in 0..KEYS {
        let r = app
            .client
            .put(app.entry("z", &format!("z{k}")))
            .body(format!("value-{k:04}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut truth = vec![0.0_f64; KEYS];
    for k in zipf(KEYS, 2000) {
        truth[k] += 1.0;
        assert_eq!(
            app.get("z", &format!("z{k}")).await.status(),
            StatusCode::OK
        );
    }
    let report: Value = app.get_json("/v1/caches/z/report").await;
    assert_eq!(report["sampling_rate"], 1.0);
    assert_eq!(report["sampled_reads"], 2000, "{report}");
    assert_eq!(report["sampled_writes"], KEYS, "{report}");
    assert_eq!(report["reads"], 2000);
    assert_eq!(report["writes"], KEYS);
    let ratio = report["read_write_ratio"].as_f64().unwrap();
    assert!((ratio - 2000.0 / KEYS as f64).abs() < 1e-9, "{report}");
    let hot = report["hot_keys"].as_array().unwrap();
    assert_eq!(hot.len(), 20);
    let bound = report["error_bound"].as_f64().unwrap();
    assert_eq!(bound, 10.0, "2000 reads over 200 counters");
    let reported: Vec<&str> = hot.iter().map(|h| h["key"].as_str().unwrap()).collect();
    let mut ranked: Vec<usize> = (0..KEYS).collect();
    ranked.sort_by(|a, b| truth[*b].total_cmp(&truth[*a]));
    for k in &ranked[..10] {
        assert!(
            reported.contains(&format!("z{k}").as_str()),
            "z{k} ({} reads) is not reported: {report}",
            truth[*k]
        );
    }
    for h in hot {
        let k: usize = h["key"].as_str().unwrap()[1..].parse().unwrap();
        let (reads, error) = (h["reads"].as_f64().unwrap(), h["error"].as_f64().unwrap());
        assert!(error <= bound, "{h}");
        assert!(
            truth[k] <= reads && reads <= truth[k] + error,
            "{h} against {} true reads",
            truth[k]
        );
    }
    assert_eq!(
        report["value_size_bytes"],
        json!([{"le_bytes": 15, "count": 2000 + KEYS}])
    );
    assert!(!report["key_size_bytes"].as_array().unwrap().is_empty());
}

/// The usage report probes one write in 64 with zstd: compressible
/// values on a Redis tier without compression get a recommendation to
/// turn it on, and a memory-only cache (where compression never
/// applies) gets none.
#[tokio::test]
async fn compressible_values_on_a_shared_tier_get_a_compression_recommendation() {
    use strata::config::BackendSettings;
    use strata_testkit::{RedisServer, require};
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let mut settings = settings();
    settings.backends.insert(
        "main".to_owned(),
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(2000),
        },
    );
    let app = spawn_app_with(settings).await;
    app.create_cache("plain", json!({"tiers": ["main"], "compression": "none"}))
        .await;
    app.create_cache("local", json!({"max_entries": 10_000}))
        .await;
    // 25 probes: 1600 writes of 2 KiB of JSON-like text.
    let value = "{\"user\": 42, \"name\": \"Ada Lovelace\", \"roles\": [\"admin\"]} ".repeat(34);
    for cache in ["plain", "local"] {
        for batch in 0..2 {
            let entries: Vec<Value> = (0..800)
                .map(|i| json!({"key": format!("k{batch}-{i}"), "value": value}))
                .collect();
            let r = app
                .post_json(
                    &format!("/v1/caches/{cache}/entries:batchPut"),
                    json!({ "entries": entries }),
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
    let report = app.get_json("/v1/caches/plain/report").await;
    assert_eq!(report["compression_probes"], 25, "{report}");
    assert!(
        report["compression_ratio"].as_f64().unwrap() < 0.2,
        "{report}"
    );
    let recommendation = &report["recommendations"][0];
    assert_eq!(recommendation["setting"], "compression", "{report}");
    assert_eq!(recommendation["current"], "none");
    assert!(
        recommendation["suggested"]
            .as_str()
            .unwrap()
            .starts_with("zstd"),
        "{report}"
    );
    let local = app.get_json("/v1/caches/local/report").await;
    assert_eq!(local["compression_probes"], 25, "{local}");
    assert_eq!(local["recommendations"], json!([]), "{local}");
}

#[tokio::test]
async fn the_usage_report_counts_ttls_and_the_entries_that_end_unread() {
    let app = spawn_app_with(settings()).await;
    app.create_cache("lifetimes", json!({"max_entries": 1000}))
        .await;
    // Ten entries for a minute (four of them read), five for an hour,
    // two without a TTL.
    let puts = (0..10)
        .map(|k| (format!("m{k}"), "?ttl=60"))
        .chain((0..5).map(|k| (format!("h{k}"), "?ttl=3600")))
        .chain((0..2).map(|k| (format!("n{k}"), "")));
    for (key, ttl) in puts {
        let url = format!("{}{ttl}", app.entry("lifetimes", &key));
        let r = app.client.put(url).body("v").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{key}");
    }
    for k in 0..4 {
        let r = app.get("lifetimes", &format!("m{k}")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // One of the hour's entries is read, then deleted, then missed: ended
    // before its expiry, read. One without a TTL is deleted and missed
    // unread. A write replaces another.
    assert_eq!(app.get("lifetimes", "h0").await.status(), StatusCode::OK);
    for key in ["h0", "n0"] {
        let r = app
            .client
            .delete(app.entry("lifetimes", key))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        assert_eq!(
            app.get("lifetimes", key).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        app.put("lifetimes", "n1", "w").await.status(),
        StatusCode::NO_CONTENT
    );

    let report: Value = app.get_json("/v1/caches/lifetimes/report").await;
    let l = &report["lifetimes"];
    assert_eq!(l["expired"], 0, "nothing expired yet: {l}");
    assert_eq!(
        (l["evicted"].clone(), l["evicted_unread"].clone()),
        (json!(2), json!(1)),
        "{l}"
    );
    assert_eq!(l["one_hit_wonder_share"], 0.5, "{l}");

    // The minute passes: the ten expire, six of them unread.
    app.clock.advance(Duration::from_secs(61));
    let report: Value = app.get_json("/v1/caches/lifetimes/report").await;
    let l = &report["lifetimes"];
    assert_eq!(l["sampling_rate"], 1.0, "{l}");
    assert_eq!(
        l["ttl_secs"],
        json!([{"le_secs": 63, "count": 10}, {"le_secs": 4095, "count": 5}]),
        "{l}"
    );
    assert_eq!(l["no_ttl"], 3, "two writes and a rewrite: {l}");
    assert_eq!(
        (l["expired"].clone(), l["expired_unread"].clone()),
        (json!(10), json!(6)),
        "{l}"
    );
    assert_eq!(l["replaced"], 1, "{l}");
    let share = l["one_hit_wonder_share"].as_f64().unwrap();
    assert!((share - 7.0 / 12.0).abs() < 1e-9, "{l}");
}

/// Entries asked for again soon after they expired make the usage
/// report recommend a longer `default_ttl` (on the injected clock).
#[tokio::test]
async fn entries_wanted_after_their_expiry_get_a_longer_ttl_recommended() {
    let app = spawn_app_with(settings()).await;
    app.create_cache("short", json!({"max_entries": 1000, "default_ttl": 60}))
        .await;
    for i in 0..60 {
        let r = app.put("short", &format!("k{i}"), "v").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(
            app.get("short", &format!("k{i}")).await.status(),
            StatusCode::OK
        );
    }
    // Expired at 60 s; every key is asked for again at 90 s.
    app.clock.advance(Duration::from_secs(90));
    for i in 0..60 {
        let r = app.get("short", &format!("k{i}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let report = app.get_json("/v1/caches/short/report").await;
    assert_eq!(
        report["lifetimes"]["requested_after_expiry"], 60,
        "{report}"
    );
    assert_eq!(report["lifetimes"]["expired"], 60, "{report}");
    let advice = report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == "default_ttl")
        .cloned()
        .unwrap_or_else(|| panic!("no TTL recommendation: {report}"));
    assert_eq!(advice["current"], "60");
    assert_eq!(advice["suggested"], "120");
}

/// Each REAPI instance has its own build-cache trends (requests, hits,
/// misses, bytes), apart from the stores' and the other instances'.
#[tokio::test]
async fn build_cache_instances_have_trends() {
    let app = spawn_app_with(settings()).await;
    let blob = b"instance trends".to_vec();
    let hash = hex::encode(sha2::Sha256::digest(&blob));
    let put = |prefix: &'static str| {
        let url = app.url(&format!("{prefix}/cas/{hash}"));
        let body = blob.clone();
        let client = app.client.clone();
        async move {
            let r = client.put(url).body(body).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    let get = |prefix: &'static str, hash: String| {
        let url = app.url(&format!("{prefix}/cas/{hash}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().status() }
    };
    // team-a: an upload, two hits, a miss, and a PUT of a blob stored.
    put("/team-a").await;
    assert_eq!(get("/team-a", hash.clone()).await, StatusCode::OK);
    assert_eq!(get("/team-a", hash.clone()).await, StatusCode::OK);
    assert_eq!(get("/team-a", "0".repeat(64)).await, StatusCode::NOT_FOUND);
    put("/team-a").await;
    // The unnamed instance: one read, a miss (its CAS is its own).
    assert_eq!(get("", hash.clone()).await, StatusCode::NOT_FOUND);
    let path = "/admin/v1/cache/trends?instance=team-a&series=requests,hits,misses,hit_ratio,bytes_read,bytes_written";
    // The first sample opens the window (counting from zero), the next
    // closes it into a point; before the first, team-a has no trends.
    let mut body = Value::Null;
    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(10));
        let found = eventually(Duration::from_secs(2), || async {
            let r = app.client.get(app.url(path)).send().await.unwrap();
            r.status() == StatusCode::OK
                && !points(&r.json::<Value>().await.unwrap(), "requests").is_empty()
        })
        .await;
        if found {
            body = trends(&app, path).await;
            break;
        }
    }
    let last = |series: &str| points(&body, series).last().cloned().unwrap();
    assert_eq!(last("requests")[1], 5.0, "{body}");
    assert_eq!(last("hits")[1], 2.0, "{body}");
    assert_eq!(last("misses")[1], 1.0, "{body}");
    assert_eq!(last("bytes_read")[1], 2.0 * blob.len() as f64, "{body}");
    // One upload: the second PUT found the blob stored.
    assert_eq!(last("bytes_written")[1], blob.len() as f64, "{body}");
    let default = trends(
        &app,
        "/admin/v1/cache/trends?instance=default&series=requests,misses",
    )
    .await;
    assert_eq!(
        points(&default, "requests").last().unwrap()[1],
        1.0,
        "{default}"
    );
    assert_eq!(
        points(&default, "misses").last().unwrap()[1],
        1.0,
        "{default}"
    );
}
