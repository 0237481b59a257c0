use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn batch_put_then_batch_get_in_json() {
    let app = spawn_app().await;
    app.put("default", "b", "old").await;
    let r = app
        .post_json(
            "/v1/caches/default/entries:batchPut",
            json!({"entries": [
                {"key": "a", "value": "alpha", "ttl": 60, "tags": ["t1"]},
                {"key": "b", "value_base64": "AAH/", "content_type": "application/x-bin"},
            ]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["results"],
        json!([{"key": "a", "status": "created"}, {"key": "b", "status": "replaced"}])
    );

    let r = app
        .post_json(
            "/v1/caches/default/entries:batchGet",
            json!({"keys": ["a", "missing", "b"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["misses"], json!(["missing"]));
    let hits = body["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["key"], "a");
    assert_eq!(hits[0]["value"], "alpha");
    assert_eq!(hits[0]["tags"], json!(["t1"]));
    assert_eq!(hits[0]["ttl"], 60, "the clock has not moved");
    assert_eq!(hits[1]["value_base64"], "AAH/");
    assert_eq!(hits[1]["content_type"], "application/x-bin");

    // The batch wrote what single reads see.
    let single = app.get("default", "b").await;
    assert_eq!(single.bytes().await.unwrap().to_vec(), vec![0u8, 1, 255]);
}

#[tokio::test]
async fn batches_speak_messagepack() {
    let app = spawn_app().await;
    let request =
        rmp_serde::to_vec_named(&json!({"entries": [{"key": "m", "value": "packed"}]})).unwrap();
    let r = app
        .client
        .post(app.url("/v1/caches/default/entries:batchPut"))
        .header("content-type", "application/msgpack")
        .body(request)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/msgpack");
    let body: Value = rmp_serde::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["results"][0]["status"], "created");

    let r = app
        .client
        .post(app.url("/v1/caches/default/entries:batchGet"))
        .header("content-type", "application/json")
        .header("accept", "application/msgpack")
        .body(json!({"keys": ["m"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/msgpack");
    let body: Value = rmp_serde::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["hits"][0]["value"], "packed");
}

#[tokio::test]
async fn an_invalid_item_rejects_the_whole_batch() {
    let app = spawn_app().await;
    let r = app
        .post_json(
            "/v1/caches/default/entries:batchPut",
            json!({"entries": [{"key": "ok", "value": "v"}, {"key": "bad key", "value": "v"}]}),
        )
        .await;
    let body = assert_problem(r, StatusCode::BAD_REQUEST, "invalid_key").await;
    assert_eq!(body["field"], "entries[1]");
    assert_problem(
        app.get("default", "ok").await,
        StatusCode::NOT_FOUND,
        "entry_not_found",
    )
    .await;

    let r = app
        .post_json(
            "/v1/caches/default/entries:batchPut",
            json!({"entries": [{"key": "x", "value": "a", "value_base64": "YQ=="}]}),
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = app
        .post_json("/v1/caches/default/entries:batchGet", json!({"keys": []}))
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_parameter").await;
}
