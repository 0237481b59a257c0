use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert!(live.headers().contains_key("x-request-id"));
    let ready: Value = app.get_json("/health/ready").await;
    assert_eq!(ready["status"], "ok");
}

#[tokio::test]
async fn metrics_expose_the_documented_series() {
    let app = spawn_app().await;
    app.create_cache("metered", serde_json::json!({"max_entries": 2}))
        .await;
    for k in ["a", "b", "c"] {
        app.put("metered", k, "v").await;
    }
    app.get("metered", "c").await;
    app.get("metered", "zzz").await;
    let text = app.get_text("/metrics").await;
    for needle in [
        r#"strata_cache_requests_total{cache="metered",op="get",result="miss"} 1"#,
        r#"strata_cache_requests_total{cache="metered",op="put",result="ok"} 3"#,
        r#"strata_cache_evictions_total{cache="metered",cause="capacity"}"#,
        r#"strata_cache_entries{cache="metered"}"#,
        r#"strata_cache_bytes{cache="metered"}"#,
        "strata_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
}

#[tokio::test]
async fn openapi_document_and_swagger_ui_are_served() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json").await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/caches/{cache}/entries/{key}",
        "/v1/caches/{cache}/entries:batchGet",
        "/admin/v1/caches/{cache}",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    // An entry's body is any bytes, and may be absent (the empty value).
    let put = &doc["paths"]["/v1/caches/{cache}/entries/{key}"]["put"]["requestBody"];
    assert_eq!(put["required"], false, "{put}");
    assert_eq!(put["content"]["*/*"]["schema"].get("type"), None, "{put}");
    // The handler reads an explicit null as absent.
    let tags =
        &doc["components"]["schemas"]["InvalidationRequest"]["allOf"][0]["properties"]["tags"];
    assert_eq!(tags["type"], json!(["array", "null"]), "{tags}");
    // An invalidation's count is null where the backend cannot count it.
    let answer = &doc["components"]["schemas"]["InvalidationResponse"];
    assert_eq!(
        answer["properties"]["invalidated"]["type"],
        json!(["integer", "null"]),
        "{answer}"
    );
    assert_eq!(
        answer["properties"]["counted"]["type"], "boolean",
        "{answer}"
    );
    assert!(
        answer["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("counted"))),
        "{answer}"
    );
    let ui = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().to_lowercase().contains("swagger"));
}

/// Whether `node` (a parameter or media type object) carries an example.
fn has_example(node: &Value) -> bool {
    node.get("example").is_some()
        || node
            .get("examples")
            .and_then(Value::as_object)
            .is_some_and(|e| !e.is_empty())
}

/// Every operation of the served document has its own `operationId`
/// (client generators name methods by it, and fail or merge endpoints on a
/// duplicate) and at least one example: of a parameter, its request body,
/// or a response.
#[tokio::test]
async fn every_openapi_operation_has_a_unique_id_and_an_example() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json").await;
    let mut ids: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut without_example = Vec::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "head", "patch", "options"]
                .contains(&method.as_str())
            {
                continue;
            }
            operations += 1;
            let name = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(!id.is_empty(), "{name} has no operationId");
            ids.entry(id).or_default().push(name.clone());
            let media = |v: &Value| {
                v.get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|c| c.values().cloned().collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let body = media(&op["requestBody"]);
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{name} {status} has no description (OpenAPI requires one)"
                );
            }
            let responses: Vec<Value> = op["responses"]
                .as_object()
                .into_iter()
                .flat_map(|r| r.values())
                .flat_map(media)
                .collect();
            if !params
                .iter()
                .chain(&body)
                .chain(&responses)
                .any(has_example)
            {
                without_example.push(name);
            }
        }
    }
    assert!(operations >= 29, "only {operations} operations");
    let duplicates: Vec<_> = ids.iter().filter(|(_, ops)| ops.len() > 1).collect();
    assert!(
        duplicates.is_empty(),
        "duplicate operation ids: {duplicates:?}"
    );
    assert!(
        without_example.is_empty(),
        "operations without an example: {without_example:?}"
    );
    // A HEAD documented with its GET gets its own id.
    assert_eq!(
        doc["paths"]["/cas/{hash}"]["head"]["operationId"],
        "cas_head"
    );
    assert_eq!(doc["paths"]["/ac/{hash}"]["get"]["operationId"], "ac_get");
}

#[tokio::test]
async fn graceful_stop_lets_the_server_future_finish() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("default", "x").await.status(),
        StatusCode::NOT_FOUND
    );
    app.handle.stop(true).await;
    assert!(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .is_err(),
        "the listener is closed after stop"
    );
}

/// `[auth] metrics_role = "reader"`: `/metrics` needs a credential with
/// `reader` (or more) on `*`; a grant on one cache is not enough.
#[tokio::test]
async fn metrics_need_the_metrics_role_on_every_cache_when_configured() {
    use crate::helpers::{api_key, assert_problem, assert_unauthorized, bearer, spawn_app_with};
    use strata::config::{AuthSettings, Settings};

    const SCRAPER: &str = "scraper-key-0123456789";
    const NARROW: &str = "narrow-key-0123456789";
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings {
        metrics_role: Some("reader".to_owned()),
        ..AuthSettings::default()
    };
    auth.api_keys
        .insert("scraper".into(), api_key(SCRAPER, &[("*", "reader")]));
    auth.api_keys
        .insert("narrow".into(), api_key(NARROW, &[("default", "admin")]));
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;
    let url = app.url("/metrics");

    assert_unauthorized(app.client.get(&url).send().await.unwrap()).await;
    assert_unauthorized(bearer(app.client.get(&url), "wrong").send().await.unwrap()).await;
    let r = bearer(app.client.get(&url), NARROW).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = bearer(app.client.get(&url), SCRAPER).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("strata_"));
    // Health stays open.
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
}

/// Without `metrics_role`, `/metrics` stays open even with API keys.
#[tokio::test]
async fn metrics_stay_open_without_a_metrics_role() {
    use crate::helpers::{api_key, spawn_app_with};
    use strata::config::{AuthSettings, Settings};

    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    auth.api_keys.insert(
        "ops".into(),
        api_key("ops-key-0123456789", &[("*", "admin")]),
    );
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
