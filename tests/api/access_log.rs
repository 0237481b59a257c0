//! What a request leaves in the log (issue 15, "misses flood the log"):
//! the real binary at `info` writes nothing for hits, misses and bad input,
//! and no key reaches its log; with `strata::access=debug` every request
//! has one access event (method, route pattern, status, latency) under the
//! id it returned as `X-Request-Id`.

use serde_json::Value;

use crate::process::start;

const KEY: &str = "customer-4711-private-key";

/// Runs a hit, a miss, a bad request and a 405 against a binary logging
/// with `filter`, and returns its log lines as JSON plus the miss's
/// `X-Request-Id`.
async fn scenario(filter: &str) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nformat = \"json\"\nfilter = \"{filter}\"\n[caches.sessions]\nmax_entries = 100\n"
        ),
    )
    .expect("config");
    let service = start(&config, &[]).await;
    let client = reqwest::Client::new();
    let entry = |key: &str| format!("{}/v1/caches/sessions/entries/{key}", service.base);
    let put = client.put(entry(KEY)).body("v").send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let hit = client.get(entry(KEY)).send().await.unwrap();
    assert_eq!(hit.status(), 200);
    let miss = client
        .get(entry(&format!("{KEY}-missing")))
        .send()
        .await
        .unwrap();
    assert_eq!(miss.status(), 404);
    let id = miss.headers()["x-request-id"].to_str().unwrap().to_owned();
    let bad = client
        .get(format!(
            "{}/v1/caches/-bad-name/entries/{KEY}",
            service.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let not_allowed = client.post(entry(KEY)).send().await.unwrap();
    assert_eq!(not_allowed.status(), 405);
    let output = service.stop().await;
    let lines = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    (lines, id)
}

#[tokio::test]
async fn at_info_requests_log_nothing_and_keys_never_reach_the_log() {
    let (lines, _) = scenario("info").await;
    for line in &lines {
        let text = line.to_string();
        assert!(!text.contains(KEY), "a key reached the log: {text}");
        assert!(
            !matches!(line["level"].as_str(), Some("WARN" | "ERROR")),
            "a 2xx or 4xx logged above info: {text}"
        );
        assert_ne!(line["target"], "strata::access", "{text}");
    }
}

#[tokio::test]
async fn the_access_log_has_one_event_per_request_under_its_id() {
    let (lines, miss_id) = scenario("info,strata::access=debug").await;
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "strata::access")
        .collect();
    assert_eq!(access.len(), 5, "one per request: {access:?}");
    let miss: Vec<&&Value> = access
        .iter()
        .filter(|l| l["request_id"] == miss_id.as_str())
        .collect();
    assert_eq!(miss.len(), 1, "{access:?}");
    assert_eq!(miss[0]["status"], 404);
    assert_eq!(miss[0]["method"], "GET");
    assert_eq!(miss[0]["route"], "/v1/caches/{cache}/entries/{key:.+}");
    assert!(miss[0]["latency_us"].is_u64(), "{}", miss[0]);
    for line in &lines {
        assert!(
            !line.to_string().contains(KEY),
            "a key reached the log: {line}"
        );
    }
}
