//! `/metrics` labels: only caches that exist get their own `cache` label;
//! requests for made-up names are counted under `cache="_unknown"`. Hits
//! and misses are the application's counters, the same numbers as `/stats`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// The value of the series `line_prefix` (the name and labels), 0 when absent.
fn series(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .map(|v| v.trim().parse::<f64>().expect("a number") as u64)
        .unwrap_or(0)
}

async fn unknown_errors(app: &TestApp, op: &str) -> u64 {
    let text = app.get_text("/metrics").await;
    series(
        &text,
        &format!(r#"strata_cache_requests_total{{cache="_unknown",op="{op}",result="error"}}"#),
    )
}

#[tokio::test]
async fn requests_for_made_up_caches_share_one_unknown_series() {
    let app = spawn_app().await;
    let (gets_before, puts_before) = (
        unknown_errors(&app, "get").await,
        unknown_errors(&app, "put").await,
    );
    let names: Vec<String> = (0..300).map(|i| format!("madeup-{i}-qzx")).collect();
    for name in &names {
        let r = app.get(name, "k").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    for name in &names[..20] {
        assert_eq!(
            app.put(name, "k", "v").await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let text = app.get_text("/metrics").await;
    assert!(
        !text.contains("madeup-"),
        "a made-up cache name got its own series"
    );
    // Other tests in this process may add to the series; it grew by ours at least.
    assert!(unknown_errors(&app, "get").await >= gets_before + 300);
    assert!(unknown_errors(&app, "put").await >= puts_before + 20);
}

#[tokio::test]
async fn hits_and_misses_in_metrics_are_the_stats_counters() {
    let app = spawn_app().await;
    app.create_cache("counted", json!({})).await;
    app.put("counted", "k", "v").await;
    assert_eq!(app.get("counted", "k").await.status(), StatusCode::OK);
    let head = app
        .client
        .head(app.entry("counted", "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        app.get("counted", "nope").await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .post_json(
            "/v1/caches/counted/entries:batchGet",
            json!({"keys": ["k", "gone", "nope"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let stats = app.get_json("/v1/caches/counted/stats").await;
    assert_eq!(
        (stats["hits"].as_u64(), stats["misses"].as_u64()),
        (Some(3), Some(3))
    );
    let text = app.get_text("/metrics").await;
    let counted = |result: &str| {
        series(
            &text,
            &format!(
                r#"strata_cache_requests_total{{cache="counted",op="get",result="{result}"}}"#
            ),
        )
    };
    assert_eq!((counted("hit"), counted("miss")), (3, 3), "{text}");
    // A second scrape carries nothing over twice.
    let again = app.get_text("/metrics").await;
    assert!(
        again.contains(r#"strata_cache_requests_total{cache="counted",op="get",result="hit"} 3"#),
        "{again}"
    );
}
