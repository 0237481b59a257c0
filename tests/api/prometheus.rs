//! The files for Prometheus users: the alerting rules
//! (`deploy/prometheus/alerts.yml`) pass `promtool check rules` and their
//! unit tests pass `promtool test rules`, one case where each alert fires
//! and one where it does not; the Grafana dashboard
//! (`deploy/grafana/strata.json`) is valid JSON over the `DS_PROMETHEUS`
//! data source and a `cache` variable, and its queries parse as PromQL.
//! Without `promtool` (Debian's `prometheus` package) the promtool checks
//! are skipped with a notice, or fail under `STRATA_REQUIRE_SERVERS=1`.
//!
//! And the black-box check that keeps both files honest: a real
//! Prometheus scrapes the `strata` binary (a stacked cache over a real
//! Redis, the build cache, some traffic) and must find every metric name
//! the two files read, taken out of the files themselves, so a renamed
//! metric fails the build; it loads `alerts.yml` and reports every rule
//! healthy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use strata_infrastructure::ApiKeyDigest;
use strata_testkit::{PrometheusServer, RedisServer, find_client, require};
use yaml_rust2::{Yaml, YamlLoader};

/// The alerting rules, relative to the repository's root.
pub(crate) const ALERTS: &str = "deploy/prometheus/alerts.yml";
/// The Grafana dashboard, relative to the repository's root.
pub(crate) const DASHBOARD: &str = "deploy/grafana/strata.json";

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `expr` of every rule of [`ALERTS`].
pub(crate) fn alert_exprs() -> Vec<String> {
    let doc = &YamlLoader::load_from_str(&read(ALERTS)).expect("alerts.yml parses")[0];
    doc["groups"]
        .as_vec()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_vec().cloned().unwrap_or_default())
        .map(|r| {
            r["expr"]
                .as_str()
                .expect("every rule has an expr")
                .to_owned()
        })
        .collect()
}

/// [`DASHBOARD`] as JSON.
fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).expect("strata.json is JSON")
}

/// The PromQL of [`DASHBOARD`]: every panel target's `expr` and the
/// template variables' queries, Grafana's variables left in.
pub(crate) fn dashboard_exprs() -> Vec<String> {
    let d = dashboard();
    let mut exprs: Vec<String> = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("every target has an expr")
                .to_owned()
        })
        .collect();
    for var in d["templating"]["list"].as_array().expect("templating") {
        if var["type"] == "query" {
            let query = &var["query"];
            let text = query["query"].as_str().or(query.as_str()).expect("query");
            exprs.push(text.to_owned());
        }
    }
    exprs
}

/// The metric names `expr` reads: identifiers outside quoted strings that
/// start with `strata_`, and `up`.
pub(crate) fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            // Skip a string literal (label values, regexes), escapes too.
            let mut escaped = false;
            for (_, d) in chars.by_ref() {
                match d {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    _ if d == c => break,
                    _ => {}
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if !(d.is_ascii_alphanumeric() || d == '_' || d == ':') {
                    break;
                }
                end = i + d.len_utf8();
                chars.next();
            }
            let word = &expr[start..end];
            if word.starts_with("strata_") || word == "up" {
                names.insert(word.to_owned());
            }
        } else if c.is_ascii_digit() || c == '$' {
            // A number or a duration (`5m`), or a Grafana variable
            // (`$__rate_interval`): not a name.
            while chars
                .peek()
                .is_some_and(|&(_, d)| d.is_ascii_alphanumeric() || d == '_')
            {
                chars.next();
            }
        }
    }
    names
}

/// Runs `promtool` with `args` in the repository's root; panics with its
/// output unless it exits with 0.
fn promtool(promtool: &Path, args: &[&str]) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(root())
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {} exited with {}:\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alerting_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(bin) = require(find_client("promtool")) else {
        return;
    };
    promtool(&bin, &["check", "rules", "deploy/prometheus/alerts.yml"]);
    promtool(
        &bin,
        &["test", "rules", "deploy/prometheus/alerts_test.yml"],
    );
}

#[test]
fn every_alert_has_a_unit_test_a_for_a_severity_and_annotations() {
    let doc = &YamlLoader::load_from_str(&read(ALERTS)).unwrap()[0];
    let tested = &YamlLoader::load_from_str(&read("deploy/prometheus/alerts_test.yml")).unwrap()[0];
    let mut alerts = 0;
    for group in doc["groups"].as_vec().expect("groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            let name = rule["alert"].as_str().expect("only alerting rules");
            alerts += 1;
            assert!(rule["for"].as_str().is_some(), "{name}: for");
            assert!(
                ["info", "warning", "critical"]
                    .contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
                "{name}: labels.severity"
            );
            for field in ["summary", "description"] {
                assert!(
                    rule["annotations"][field].as_str().is_some(),
                    "{name}: annotations.{field}"
                );
            }
            // One evaluation where it fires and one where it does not.
            let cases: Vec<_> = tested["tests"]
                .as_vec()
                .unwrap()
                .iter()
                .flat_map(|t| t["alert_rule_test"].as_vec().cloned().unwrap_or_default())
                .filter(|c| c["alertname"].as_str() == Some(name))
                .collect();
            let firing = |c: &Yaml| c["exp_alerts"].as_vec().is_some_and(|a| !a.is_empty());
            assert!(cases.iter().any(firing), "{name}: no case where it fires");
            assert!(
                cases.iter().any(|c| !firing(c)),
                "{name}: no case where it stays quiet"
            );
        }
    }
    assert!(alerts >= 9, "{alerts} alerts");
    // Each reads Strata's metrics (which the black-box test then finds).
    for expr in alert_exprs() {
        assert!(!metric_names(&expr).is_empty(), "{expr}");
    }
}

#[test]
fn metric_names_are_read_outside_strings_and_durations() {
    let names = metric_names(
        r#"sum by (cache) (rate(strata_cache_requests_total{cache=~"strata_x",op="get"}[$__rate_interval]))
           / on (cache) up{job=~"strata.*"} > 5m or strata_up_time offset 1h"#,
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(
        names,
        ["strata_cache_requests_total", "strata_up_time", "up"]
    );
}

#[test]
fn the_dashboard_reads_prometheus_through_its_variables_and_covers_the_issue() {
    let d = dashboard();
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    let vars = d["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    assert_eq!(var("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(var("DS_PROMETHEUS")["query"], "prometheus");
    let cache = var("cache");
    assert_eq!(cache["type"], "query");
    assert_eq!(cache["datasource"]["uid"], "${DS_PROMETHEUS}");
    assert!(
        cache["query"]["query"]
            .as_str()
            .unwrap()
            .starts_with("label_values(strata_"),
        "{cache}"
    );
    let mut ids = BTreeSet::new();
    for panel in d["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().expect("title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("id")),
            "{title}: id repeats"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && grid["h"].as_u64().unwrap() > 0,
            "{title}: gridPos {grid}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            assert!(!t["expr"].as_str().unwrap().trim().is_empty(), "{title}");
        }
    }
    // What issue 28 asks the dashboard to show.
    let names: BTreeSet<String> = dashboard_exprs()
        .iter()
        .flat_map(|e| metric_names(e))
        .collect();
    for needed in [
        "strata_cache_requests_total",
        "strata_cache_tier_hits_total",
        "strata_http_request_duration_seconds_bucket",
        "strata_cache_evictions_total",
        "strata_build_cache_requests_total",
        "strata_build_cache_bytes",
        "strata_build_cache_flush_total",
        "strata_alerts_firing",
    ] {
        assert!(
            names.contains(needed),
            "the dashboard lacks {needed}: {names:?}"
        );
    }
}

#[test]
fn the_dashboard_queries_parse_as_promql() {
    let Some(bin) = require(find_client("promtool")) else {
        return;
    };
    // Each query as a recording rule, Grafana's variables given values,
    // so that `promtool check rules` parses it.
    let rules: Vec<String> = dashboard_exprs()
        .iter()
        .filter(|e| !e.starts_with("label_values("))
        .enumerate()
        .map(|(i, e)| {
            let e = e.replace("$__rate_interval", "1m").replace("$cache", ".*");
            format!(
                "      - record: dashboard:query{i}\n        expr: {}\n",
                serde_json::to_string(&e).unwrap()
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.yml");
    std::fs::write(
        &file,
        format!(
            "groups:\n  - name: dashboard\n    rules:\n{}",
            rules.concat()
        ),
    )
    .unwrap();
    promtool(&bin, &["check", "rules", file.to_str().unwrap()]);
}

/// How long Prometheus may take to scrape the service and evaluate its
/// rules once (both every second).
const SCRAPE_DEADLINE: Duration = Duration::from_secs(60);

/// The admin key of the scraped service.
const KEY: &str = "prometheus-test-admin-key";

/// The configuration of the scraped service: a memory tier over Redis (so
/// the tier series exist), the memory build cache, and an API key (so a
/// refused credential counts as a failed authentication).
fn scraped_config(redis: &str) -> String {
    let digest = ApiKeyDigest::of(KEY).to_hex();
    format!(
        "[log]\nformat = \"json\"\n\n\
         [backends.main]\nkind = \"redis\"\nurl = {redis:?}\n\n\
         [caches.prom-tiered]\ntiers = [\"memory\", \"main\"]\n\n\
         [build_cache]\nenabled = true\nstore = \"memory\"\n\n\
         [auth.api_keys.ops]\nsha256 = \"{digest}\"\n\
         grants = [{{ caches = \"*\", role = \"admin\" }}]\n"
    )
}

/// Traffic after which every series the files read exists: cache hits
/// and misses (and tier hits), a flush of the cache and of the action
/// cache, a CAS upload and read and an AC miss, and a refused credential.
async fn traffic(client: &Client, base: &str) {
    let send = |method: reqwest::Method, path: &str, body: Vec<u8>| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(KEY)
            .body(body)
            .send()
    };
    let entry = "/v1/caches/prom-tiered/entries";
    let r = send(reqwest::Method::PUT, &format!("{entry}/k1"), b"v".to_vec())
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    for path in [format!("{entry}/k1"), format!("{entry}/absent")] {
        send(reqwest::Method::GET, &path, Vec::new()).await.unwrap();
    }
    let blob = b"prometheus test blob".to_vec();
    let cas = format!("/cas/{}", hex::encode(Sha256::digest(&blob)));
    let r = send(reqwest::Method::PUT, &cas, blob).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        send(reqwest::Method::GET, &cas, Vec::new())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let ac = format!("/ac/{}", hex::encode(Sha256::digest(b"no such action")));
    assert_eq!(
        send(reqwest::Method::GET, &ac, Vec::new())
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = send(
        reqwest::Method::POST,
        "/admin/v1/caches/prom-tiered/flush",
        Vec::new(),
    )
    .await
    .unwrap();
    assert!(r.status().is_success(), "cache flush: {}", r.status());
    let r = client
        .post(format!("{base}/admin/v1/cache/ac/flush"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"scope": "all"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "AC flush: {}", r.status());
    let r = client
        .get(format!("{base}{entry}/k1"))
        .bearer_auth("not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// The `data` of a Prometheus API answer to `GET <url>`.
async fn api(client: &Client, url: &str) -> Value {
    let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "success", "{url}: {body}");
    body["data"].clone()
}

/// The samples an instant query of `query` returns now.
async fn instant(client: &Client, prometheus: &PrometheusServer, query: &str) -> Vec<Value> {
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/v1/query", prometheus.url()),
        [("query", query)],
    )
    .unwrap();
    let data = api(client, url.as_str()).await;
    data["result"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_real_prometheus_finds_every_metric_the_dashboard_and_the_alerts_read() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let Some(_) = require(find_client("prometheus")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, scraped_config(&redis.url())).unwrap();
    let service = crate::process::start(&config, &[]).await;
    let client = Client::new();
    traffic(&client, &service.base).await;
    let target = service.base.trim_start_matches("http://").to_owned();
    let prometheus = PrometheusServer::spawn("strata", &target, &[root().join(ALERTS)])
        .unwrap_or_else(|e| panic!("{e}"));

    // The first scrape that reached the service: everything the traffic
    // made is in it (every series is exported from the first request or
    // at every scrape).
    let until = Instant::now() + SCRAPE_DEADLINE;
    loop {
        let up = instant(&client, &prometheus, r#"up{job="strata"}"#).await;
        if up.first().is_some_and(|s| s["value"][1] == "1") {
            break;
        }
        assert!(
            Instant::now() < until,
            "no successful scrape: {up:?}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut names: BTreeSet<String> = BTreeSet::new();
    for expr in dashboard_exprs().iter().chain(&alert_exprs()) {
        names.extend(metric_names(expr));
    }
    assert!(names.len() >= 15, "{names:?}");
    let mut missing = Vec::new();
    for name in &names {
        // A histogram's name stands for its `_bucket` series.
        let mut found = false;
        for series in [name.clone(), format!("{name}_bucket")] {
            if !instant(&client, &prometheus, &series).await.is_empty() {
                found = true;
                break;
            }
        }
        if !found {
            missing.push(name.as_str());
        }
    }
    assert!(
        missing.is_empty(),
        "Prometheus has no data for {missing:?}, which {DASHBOARD} or {ALERTS} read"
    );

    // alerts.yml loaded, every rule evaluated without error.
    let expected = alert_exprs().len();
    let until = Instant::now() + SCRAPE_DEADLINE;
    loop {
        let data = api(&client, &format!("{}/api/v1/rules", prometheus.url())).await;
        let rules: Vec<Value> = data["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        assert_eq!(rules.len(), expected, "{data}");
        if let Some(bad) = rules.iter().find(|r| r["health"] == "err") {
            panic!("rule {} fails: {}", bad["name"], bad["lastError"]);
        }
        if rules
            .iter()
            .all(|r| r["health"] == "ok" && r["type"] == "alerting")
        {
            break;
        }
        assert!(Instant::now() < until, "rules not evaluated: {data}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(service);
}
