use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

/// The answer of an invalidation of `cache` by `body`, as JSON.
pub(crate) async fn invalidation(app: &crate::helpers::TestApp, cache: &str, body: Value) -> Value {
    let r = app
        .post_json(&format!("/v1/caches/{cache}/invalidations"), body)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The exact count an invalidation of `cache` by `body` answers (and
/// says is exact: `"counted": true`).
pub(crate) async fn invalidated(app: &crate::helpers::TestApp, cache: &str, body: Value) -> u64 {
    let answer = invalidation(app, cache, body).await;
    assert_eq!(answer["counted"], true, "{answer}");
    answer["invalidated"]
        .as_u64()
        .unwrap_or_else(|| panic!("no count: {answer}"))
}

#[tokio::test]
async fn invalidate_by_pattern() {
    let app = spawn_app().await;
    for k in ["user:1", "user:2", "order:1"] {
        app.put("default", k, "v").await;
    }
    assert_eq!(
        invalidated(&app, "default", json!({"pattern": "user:*"})).await,
        2
    );
    assert_eq!(
        app.get("default", "user:1").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("default", "user:2").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("default", "order:1").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalidate_by_tag_and_by_keys() {
    let app = spawn_app().await;
    let put = |key: &'static str, tags: &'static str| {
        let app = &app;
        async move {
            app.client
                .put(app.entry("default", key) + "?tags=" + tags)
                .body("v")
                .send()
                .await
                .unwrap()
        }
    };
    put("a", "red,blue").await;
    put("b", "blue").await;
    put("c", "green").await;
    assert_eq!(
        invalidated(&app, "default", json!({"tags": ["blue"]})).await,
        2
    );
    assert_eq!(
        app.get("default", "a").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("default", "c").await.status(), StatusCode::OK);
    assert_eq!(
        invalidated(&app, "default", json!({"keys": ["c", "zzz"]})).await,
        1
    );
    assert_eq!(
        app.get("default", "c").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn selectors_must_be_exactly_one_and_valid() {
    let app = spawn_app().await;
    let r = app
        .post_json(
            "/v1/caches/default/invalidations",
            json!({"keys": ["a"], "pattern": "*"}),
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = app
        .post_json("/v1/caches/default/invalidations", json!({}))
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = app
        .post_json(
            "/v1/caches/default/invalidations",
            json!({"pattern": "a[b"}),
        )
        .await;
    let body = assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    assert_eq!(body["field"], "pattern");
}
