//! Live miss-ratio curves: `GET /v1/caches/{cache}/mrc` (reader), the
//! `strata_cache_mrc_miss_ratio` gauges and
//! `GET /admin/v1/caches/{cache}/recommendation` (admin).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use strata::config::{AuthSettings, Settings};

use crate::helpers::{
    TestApp, api_key, assert_problem, bearer, eventually, spawn_app, spawn_app_with,
};

/// Reads `keys` keys in a loop `loops` times through batchGet.
async fn read_loop(
    app: &TestApp,
    cache: &str,
    keys: usize,
    loops: usize,
    credential: Option<&str>,
) {
    let names: Vec<String> = (0..keys).map(|i| format!("k{i}")).collect();
    for _ in 0..loops {
        for chunk in names.chunks(500) {
            let request = app
                .client
                .post(app.url(&format!("/v1/caches/{cache}/entries:batchGet")))
                .json(&json!({ "keys": chunk }));
            let request = match credential {
                Some(c) => bearer(request, c),
                None => request,
            };
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
}

fn miss_ratio(body: &Value, policy: &str, factor: f64) -> f64 {
    body["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["policy"] == policy)
        .and_then(|c| {
            c["points"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["capacity_factor"].as_f64() == Some(factor))
        })
        .and_then(|p| p["miss_ratio"].as_f64())
        .unwrap_or_else(|| panic!("no {policy} x{factor} in {body}"))
}

#[tokio::test]
async fn a_loop_larger_than_the_cache_shows_on_the_curve_and_in_the_gauges() {
    let app = spawn_app().await;
    app.create_cache("loop", json!({"eviction": "lru", "max_entries": 1000}))
        .await;
    read_loop(&app, "loop", 1500, 10, None).await;
    let path = "/v1/caches/loop/mrc";
    assert!(
        eventually(Duration::from_secs(30), || async {
            app.get_json(path).await["sampled_requests"].as_u64() == Some(15_000)
        })
        .await,
        "{}",
        app.get_json(path).await
    );
    let body = app.get_json(path).await;
    assert_eq!(body["sampling_rate"], 1.0, "{body}");
    assert_eq!(body["capacity"], 1000);
    assert_eq!(body["capacity_unit"], "entries");
    assert_eq!(body["active_policy"], "lru");
    assert_eq!(body["dropped_samples"], 0);
    assert_eq!(body["observed_miss_ratio"], 1.0);
    assert!(body["memory_bytes"].as_u64().unwrap() > 0);
    assert!(miss_ratio(&body, "lru", 1.0) > 0.95, "{body}");
    assert!(miss_ratio(&body, "lru", 2.0) < 0.15, "{body}");
    assert_eq!(body["curves"].as_array().unwrap().len(), 8);

    let metrics = app.get_text("/metrics").await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("strata_cache_mrc_miss_ratio{")
                && l.contains("cache=\"loop\"")
                && l.contains("policy=\"lru\"")
                && l.contains("capacity_factor=\"2\"")
        })
        .unwrap_or_else(|| panic!("no gauge in {metrics}"));
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value < 0.15, "{line}");

    // 15 miniature capacities of sampled reads: the fresh start of every
    // policy has warmed up (restarted at 8, measured from 10). On a
    // stationary loop a fresh LRU misses every read too: no rebuild.
    let lru = body["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["policy"] == "lru")
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        lru["fresh_start"]["miss_ratio"].as_f64().unwrap() > 0.95,
        "{lru}"
    );
    assert!(
        lru["fresh_start"]["running_miss_ratio"].as_f64().unwrap() > 0.95,
        "{lru}"
    );
    assert!(
        lru["fresh_start"]["samples"].as_u64().unwrap() >= 2_000,
        "{lru}"
    );

    let advice = app.get_json("/admin/v1/caches/loop/recommendation").await;
    assert_eq!(advice["active_policy"], "lru", "{advice}");
    assert_eq!(advice["rebuild"], false, "{advice}");
    assert!(advice["rebuild_gain"].as_f64().unwrap() < 0.05, "{advice}");
    let estimate = advice["estimates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["policy"] == "lru")
        .unwrap_or_else(|| panic!("{advice}"));
    assert!(
        estimate["fresh_start"]["miss_ratio"].as_f64().unwrap() > 0.95,
        "{advice}"
    );
    let doubling = advice["capacity_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capacity_factor"] == 2.0)
        .unwrap_or_else(|| panic!("{advice}"));
    assert!(
        doubling["summary"]
            .as_str()
            .unwrap()
            .starts_with("doubling max_entries (1000 to 2000) lowers the estimated miss ratio"),
        "{doubling}"
    );
}

#[tokio::test]
async fn curves_need_the_reader_role_and_the_recommendation_the_admin_role() {
    const READER: &str = "mrc-reader-key-0123456789";
    const ADMIN: &str = "mrc-admin-key-0123456789";
    let mut settings = Settings::load(None).expect("default settings");
    settings
        .caches
        .insert("secret".to_owned(), Default::default());
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("reader".into(), api_key(READER, &[("default", "reader")]));
    auth.api_keys
        .insert("admin".into(), api_key(ADMIN, &[("*", "admin")]));
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;
    let get = |path: &str, key: &str| bearer(app.client.get(app.url(path)), key).send();

    let r = get("/v1/caches/default/mrc", READER).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["sampled_requests"], 0);
    assert_eq!(body["observed_miss_ratio"], Value::Null);
    assert_problem(
        get("/v1/caches/secret/mrc", READER).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        get("/admin/v1/caches/default/recommendation", READER)
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = get("/admin/v1/caches/default/recommendation", ADMIN)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(
        get("/v1/caches/missing/mrc", ADMIN).await.unwrap(),
        StatusCode::NOT_FOUND,
        "cache_not_found",
    )
    .await;
    assert_problem(
        get("/v1/caches/bad%20name/mrc", ADMIN).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
}

#[tokio::test]
async fn with_analysis_off_no_cache_is_analyzed() {
    let mut settings = Settings::load(None).expect("default settings");
    settings.analysis.enabled = false;
    let app = spawn_app_with(settings).await;
    assert_problem(
        app.client
            .get(app.url("/v1/caches/default/mrc"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_operation",
    )
    .await;
}

#[tokio::test]
async fn an_auto_cache_switches_to_the_policy_its_curves_favour_and_audits_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut settings = Settings::load(None).expect("default settings");
    settings.analysis.auto_interval_ms = 50;
    settings.audit = Some(strata::config::AuditSettings {
        path: path.clone(),
        max_bytes: None,
    });
    let app = spawn_app_with(settings).await;
    app.create_cache("auto", json!({"eviction": "auto", "max_entries": 1000}))
        .await;
    let stats = app.get_json("/v1/caches/auto/stats").await;
    assert_eq!(stats["active_policy"], "w-tinylfu", "{stats}");
    assert!(stats["analysis_memory_bytes"].is_u64(), "{stats}");
    // A hot set of 800 keys read ten times over, then another: W-TinyLFU's
    // admission keeps the old set's counts and refuses the new keys for
    // rounds, where recency-based policies miss only the first round.
    let mut phase = 0;
    let switched = eventually(Duration::from_secs(60), || {
        phase += 1;
        let app = &app;
        let phase = phase;
        async move {
            let names: Vec<String> = (0..800).map(|i| format!("p{phase}-k{i}")).collect();
            for _ in 0..10 {
                for chunk in names.chunks(400) {
                    let r = app
                        .client
                        .post(app.url("/v1/caches/auto/entries:batchGet"))
                        .json(&json!({ "keys": chunk }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                }
            }
            app.get_json("/v1/caches/auto/stats").await["active_policy"] != "w-tinylfu"
        }
    })
    .await;
    let stats = app.get_json("/v1/caches/auto/stats").await;
    assert!(switched, "{stats}");
    let to = stats["active_policy"].as_str().unwrap().to_owned();
    let curves = app.get_json("/v1/caches/auto/mrc").await;
    assert_eq!(curves["eviction"], "auto");
    assert_eq!(curves["active_policy"], to.as_str());
    // The configuration still says auto.
    let config = app.get_json("/admin/v1/caches/auto").await;
    assert_eq!(config["eviction"], "auto", "{config}");
    let records: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let switch = records
        .iter()
        .find(|r| r["principal"] == "auto_tune")
        .unwrap_or_else(|| panic!("no auto_tune record in {records:?}"));
    assert_eq!(switch["action"], "configure", "{switch}");
    assert_eq!(switch["cache"], "auto", "{switch}");
    let params = switch["params"].to_string();
    assert!(
        params.contains("auto_tune") && params.contains(to.as_str()),
        "{switch}"
    );
    assert!(params.contains("estimate.w-tinylfu"), "{switch}");
    // The switch is annotated on the cache's trends, with its estimates.
    let trends = app
        .get_json("/v1/caches/auto/trends?series=hit_ratio")
        .await;
    let annotation = trends["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "auto_switch")
        .unwrap_or_else(|| panic!("no auto_switch annotation: {trends}"))
        .clone();
    assert_eq!(annotation["cause"], "auto_tune", "{annotation}");
    assert!(
        annotation["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("active_policy: w-tinylfu -> {to}")),
        "{annotation}"
    );
    assert!(
        annotation["estimates"]["w-tinylfu"].is_f64(),
        "{annotation}"
    );
}

/// Reads `keys` in order through batchGet, cache-aside: each chunk's
/// misses are written back before the next chunk. Returns the hits.
async fn read_through(app: &TestApp, cache: &str, keys: &[String]) -> usize {
    let mut hits = 0;
    for chunk in keys.chunks(250) {
        let r = app
            .client
            .post(app.url(&format!("/v1/caches/{cache}/entries:batchGet")))
            .json(&json!({ "keys": chunk }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        hits += body["hits"].as_array().unwrap().len();
        let mut misses: Vec<&str> = body["misses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str())
            .collect();
        misses.sort_unstable();
        misses.dedup();
        if misses.is_empty() {
            continue;
        }
        let entries: Vec<Value> = misses
            .iter()
            .map(|k| json!({ "key": k, "value": "v" }))
            .collect();
        let r = app
            .client
            .post(app.url(&format!("/v1/caches/{cache}/entries:batchPut")))
            .json(&json!({ "entries": entries }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    hits
}

/// Waits until the analyzer of `cache` has replayed `reads` sampled reads
/// (every read, at sampling rate 1): the curves then depend on the order of
/// the reads alone, not on when they are looked at.
async fn analysed(app: &TestApp, cache: &str, reads: u64) {
    let path = format!("/v1/caches/{cache}/mrc");
    assert!(
        eventually(Duration::from_secs(30), || async {
            app.get_json(&path).await["sampled_requests"].as_u64() == Some(reads)
        })
        .await,
        "{}",
        app.get_json(&path).await
    );
}

/// Issue 31: a live default cache that served a Zipf-plus-scans phase and
/// then a loop over 1.2x its capacity is advised to rebuild its W-TinyLFU
/// (or to switch) within 12 rounds of the loop (about 14 capacities of
/// reads; the curves once said "keep, gain 0" through the whole loop);
/// before the loop it is advised to keep it. `auto` never acts here (its
/// interval is an hour) and each round waits for the analyzer, so the
/// advice depends on the order of the reads alone (measured: a rebuild at
/// round 9, a fresh start missing 0.23 against the running 0.59). Whether
/// the rebuild then lifts the hit ratio depends on when `auto` evaluates,
/// so that is left to the offline suite (`eviction::auto::suite`).
#[tokio::test]
async fn a_regime_change_gets_a_rebuild_recommended_within_a_few_loops() {
    const CAPACITY: u64 = 500;
    let mut settings = Settings::load(None).expect("default settings");
    settings.analysis.auto_interval_ms = 3_600_000;
    let app = spawn_app_with(settings).await;
    app.create_cache("regime", json!({ "max_entries": CAPACITY }))
        .await;
    // Zipf 0.9 over 10x the capacity with a scan of 2x the capacity every
    // 10x the capacity, 50x the capacity long (the workload-family suite's
    // first phase).
    let first = (50 * CAPACITY) as usize;
    let phase: Vec<String> = strata_infrastructure::eviction::synthetic::zipf_scans_then_loop(
        10 * CAPACITY,
        0.9,
        10 * CAPACITY as usize,
        2 * CAPACITY as usize,
        first,
        CAPACITY * 6 / 5,
        first,
        31,
    )
    .iter()
    .map(|r| format!("z{}", r.key))
    .collect();
    let mut reads = 0;
    for part in phase.chunks(2_500) {
        read_through(&app, "regime", part).await;
        reads += part.len() as u64;
        analysed(&app, "regime", reads).await;
    }
    let advice = app.get_json("/admin/v1/caches/regime/recommendation").await;
    assert_eq!(advice["active_policy"], "w-tinylfu", "{advice}");
    assert_eq!(advice["rebuild"], false, "{advice}");

    let looped: Vec<String> = (0..CAPACITY * 6 / 5).map(|i| format!("loop{i}")).collect();
    let mut advised = None;
    for _round in 1..=12 {
        read_through(&app, "regime", &looped).await;
        reads += looped.len() as u64;
        analysed(&app, "regime", reads).await;
        let advice = app.get_json("/admin/v1/caches/regime/recommendation").await;
        if advice["rebuild"] == true || advice["auto_would_act"] == true {
            advised = Some(advice);
            break;
        }
    }
    let advice =
        advised.unwrap_or_else(|| panic!("no rebuild or switch advised in 12 loop rounds"));
    // What it advises gains at least 0.1 in miss ratio.
    let gain = if advice["rebuild"] == true {
        advice["rebuild_gain"].as_f64()
    } else {
        advice["estimated_gain"].as_f64()
    };
    assert!(gain.unwrap() > 0.1, "{advice}");
    let curves = app.get_json("/v1/caches/regime/mrc").await;
    assert_eq!(curves["sampling_rate"], 1.0, "{curves}");
    assert_eq!(curves["dropped_samples"], 0, "{curves}");
}
