//! Alerts (`[alerts]`): a hit-ratio collapse on the injected clock fires
//! a rule within its `for` window and resolves after recovery, with
//! exactly one firing and one resolved webhook notification
//! (Alertmanager's payload) and every transition audited; the built-in
//! flush rule fires on the eleventh flush in an hour, not the tenth; and
//! silences through the admin API.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use strata::config::{AlertRuleSettings, AuditSettings, Settings};
use strata_testkit::WebhookReceiver;

use crate::helpers::{TestApp, assert_problem, eventually, spawn_app_with};

fn settings() -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.analytics.sample_interval_ms = 10;
    settings
}

/// The alerts in `state`.
async fn alerts(app: &TestApp, state: &str) -> Vec<Value> {
    app.get_json(&format!("/admin/v1/alerts?state={state}"))
        .await["alerts"]
        .as_array()
        .cloned()
        .unwrap()
}

/// Runs one 10-s window of traffic on `cache` (`hits` hits and `misses`
/// misses), then moves the clock into the next window and waits until
/// the trends have its point (the sampler runs in the background; the
/// alerts are judged right after it, in the same tick).
async fn window(app: &TestApp, cache: &str, hits: usize, misses: usize) {
    for i in 0..hits {
        let r = app.get(cache, &format!("hot{}", i % 10)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    for i in 0..misses {
        let r = app.get(cache, &format!("cold{i}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let path = format!("/v1/caches/{cache}/trends?series=requests");
    let before = app.get_json(&path).await["series"]["requests"]
        .as_array()
        .map_or(0, Vec::len);
    // A cache's first sample only opens its windows: move on until a
    // point appears (at most three windows).
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(10));
        let appeared = eventually(Duration::from_secs(2), || async {
            app.get_json(&path).await["series"]["requests"]
                .as_array()
                .map_or(0, Vec::len)
                > before
        })
        .await;
        if appeared {
            return;
        }
    }
    panic!("no new trend point of {cache}");
}

/// Waits until the alert of `rule` is in `state` (or fails after 5 s).
async fn wait_for(app: &TestApp, rule: &str, state: &str) -> Value {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = alerts(app, state)
            .await
            .into_iter()
            .find(|a| a["rule"] == rule)
        {
            return found;
        }
        assert!(std::time::Instant::now() < until, "{rule} never {state}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_hit_ratio_collapse_fires_once_and_resolves_once() {
    let WebhookReceiver {
        url,
        bodies: mut notifications,
    } = WebhookReceiver::start(Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let mut settings = settings();
    settings.alerts.builtin = false;
    settings.alerts.webhook_url = Some(url);
    settings.alerts.rules.push(AlertRuleSettings {
        name: "shop-hit-ratio".into(),
        caches: "shop*".into(),
        series: "hit_ratio".into(),
        condition: "< 0.5".into(),
        for_secs: 20,
        severity: "critical".into(),
    });
    settings.audit = Some(AuditSettings {
        path: audit_path.clone(),
        max_bytes: None,
    });
    let app = spawn_app_with(settings).await;
    app.create_cache("shop", json!({"max_entries": 100})).await;
    for i in 0..10 {
        let r = app.put("shop", &format!("hot{i}"), "v").await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Steady: a hit ratio of 0.9.
    for _ in 0..3 {
        window(&app, "shop", 90, 10).await;
    }
    assert!(alerts(&app, "pending").await.is_empty());
    // The working set moves: 0.1. Pending at once, firing after 20 s.
    window(&app, "shop", 10, 90).await;
    let pending = wait_for(&app, "shop-hit-ratio", "pending").await;
    assert_eq!(pending["cache"], "shop");
    assert!(alerts(&app, "firing").await.is_empty());
    window(&app, "shop", 10, 90).await;
    window(&app, "shop", 10, 90).await;
    let firing = wait_for(&app, "shop-hit-ratio", "firing").await;
    assert_eq!(firing["severity"], "critical");
    assert!(
        (firing["value"].as_f64().unwrap() - 0.1).abs() < 1e-6,
        "{firing}"
    );
    assert_eq!(
        firing["fired_at_ms"].as_u64().unwrap() - firing["active_since_ms"].as_u64().unwrap(),
        20_000
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("strata_alerts_firing{severity=\"critical\"} 1"),
        "{metrics}"
    );
    // Recovery resolves it.
    window(&app, "shop", 90, 10).await;
    let resolved = wait_for(&app, "shop-hit-ratio", "resolved").await;
    assert!(resolved["resolved_at_ms"].as_u64().is_some());
    assert!(alerts(&app, "firing").await.is_empty());

    // Exactly one firing and one resolved notification, in order.
    let body = |raw: Vec<u8>| serde_json::from_slice::<Value>(&raw).unwrap();
    let first = body(notifications.recv().await.unwrap());
    let second = body(notifications.recv().await.unwrap());
    assert_eq!(first["status"], "firing", "{first}");
    assert_eq!(first["version"], "4");
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "shop-hit-ratio");
    assert_eq!(first["alerts"][0]["labels"]["cache"], "shop");
    assert_eq!(second["status"], "resolved", "{second}");
    assert_eq!(
        first["alerts"][0]["fingerprint"],
        second["alerts"][0]["fingerprint"]
    );
    // Nothing more is on its way: a further quiet window sends nothing.
    window(&app, "shop", 90, 10).await;
    assert!(notifications.try_recv().is_err());

    // Every transition is audited, under the principal `alerts`.
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    let transitions: Vec<(String, String)> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["action"] == "alert")
        .map(|r| {
            assert_eq!(r["principal"], "alerts");
            let param = |name: &str| {
                r["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p[0] == name)
                    .map(|p| p[1].as_str().unwrap().to_owned())
                    .unwrap()
            };
            (param("from"), param("to"))
        })
        .collect();
    assert_eq!(
        transitions,
        [
            ("inactive".to_owned(), "pending".to_owned()),
            ("pending".to_owned(), "firing".to_owned()),
            ("firing".to_owned(), "resolved".to_owned()),
        ]
    );
}

#[tokio::test]
async fn the_eleventh_flush_in_an_hour_fires_the_flush_rule_and_the_tenth_does_not() {
    let app = spawn_app_with(settings()).await;
    // Empty, so no flush removes a share of it.
    app.create_cache("flushy", json!({"max_entries": 100}))
        .await;
    window(&app, "flushy", 0, 0).await;
    for _ in 0..10 {
        let r = app
            .post_json("/admin/v1/caches/flushy/flush", json!({}))
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    // Flushes count once their 10-s window has closed: the window just
    // judged saw ten, and the eleventh, made now, counts at the next.
    window(&app, "flushy", 0, 0).await;
    let judged_ten_at = strata_domain::Clock::now(app.clock.as_ref()).as_millis();
    let r = app
        .post_json("/admin/v1/caches/flushy/flush", json!({}))
        .await;
    assert!(r.status().is_success());
    window(&app, "flushy", 0, 0).await;
    let firing = wait_for(&app, "flush_pattern", "firing").await;
    assert_eq!(firing["cache"], "flushy");
    assert_eq!(firing["value"], 11.0);
    // Not already at the window that saw ten.
    assert!(
        firing["active_since_ms"].as_u64().unwrap() > judged_ten_at,
        "{firing}"
    );
}

#[tokio::test]
async fn a_flush_removing_more_than_half_a_cache_fires_the_flush_rule() {
    let app = spawn_app_with(settings()).await;
    app.create_cache("big", json!({"max_entries": 100})).await;
    for i in 0..10 {
        app.put("big", &format!("hot{i}"), "v").await;
    }
    window(&app, "big", 10, 0).await;
    let r = app.post_json("/admin/v1/caches/big/flush", json!({})).await;
    assert!(r.status().is_success());
    window(&app, "big", 0, 0).await;
    let firing = wait_for(&app, "flush_pattern", "firing").await;
    assert_eq!(firing["cache"], "big");
    assert_eq!(firing["value"], 1.0);
}

#[tokio::test]
async fn silences_are_created_listed_and_removed() {
    let app = spawn_app_with(settings()).await;
    let r = app
        .post_json(
            "/admin/v1/alerts/silences",
            json!({"rule": "flush_pattern", "caches": "orders*", "duration_secs": 3600, "comment": "planned"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let silence: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        format!(
            "/admin/v1/alerts/silences/{}",
            silence["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        silence["ends_at_ms"].as_u64().unwrap() - silence["starts_at_ms"].as_u64().unwrap(),
        3_600_000
    );
    let listed = app.get_json("/admin/v1/alerts/silences").await;
    assert_eq!(listed["silences"][0]["id"], silence["id"]);
    assert_eq!(listed["silences"][0]["caches"], "orders*");

    let r = app
        .post_json(
            "/admin/v1/alerts/silences",
            json!({"rule": "nope", "duration_secs": 60}),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_alert_rule").await;
    let r = app
        .post_json(
            "/admin/v1/alerts/silences",
            json!({"rule": "flush_pattern", "duration_secs": 0}),
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    let r = app
        .post_json(
            "/admin/v1/alerts/silences",
            json!({"rule": "flush_pattern"}),
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = app
        .client
        .get(app.url("/admin/v1/alerts?state=sleeping"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;

    let r = app.client.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.client.delete(app.url(&location)).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        app.get_json("/admin/v1/alerts/silences").await["silences"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
