use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{assert_problem, eventually, spawn_app};

#[tokio::test]
async fn put_get_replace_delete_round_trip() {
    let app = spawn_app().await;
    let created = app.put("default", "user:1", "alice").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let etag1 = created.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        created.headers()["location"],
        "/v1/caches/default/entries/user:1"
    );

    let got = app.get("default", "user:1").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.headers()["etag"].to_str().unwrap(), etag1);
    assert_eq!(got.headers()["age"], "0");
    assert!(
        got.headers().get("cache-control").is_none(),
        "no TTL, no max-age"
    );
    assert_eq!(got.text().await.unwrap(), "alice");

    let replaced = app.put("default", "user:1", "bob").await;
    assert_eq!(replaced.status(), StatusCode::NO_CONTENT);
    assert_ne!(replaced.headers()["etag"].to_str().unwrap(), etag1);
    assert_eq!(
        app.get("default", "user:1").await.text().await.unwrap(),
        "bob"
    );

    let deleted = app
        .client
        .delete(app.entry("default", "user:1"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = app
        .client
        .delete(app.entry("default", "user:1"))
        .send()
        .await
        .unwrap();
    assert_problem(again, StatusCode::NOT_FOUND, "entry_not_found").await;
    assert_problem(
        app.get("default", "user:1").await,
        StatusCode::NOT_FOUND,
        "entry_not_found",
    )
    .await;
}

#[tokio::test]
async fn binary_values_and_unicode_keys_round_trip() {
    let app = spawn_app().await;
    let bytes: Vec<u8> = (0..=255).collect();
    let r = app
        .client
        .put(app.entry("default", "%D0%BA%D0%BB%D1%8E%D1%87:%F0%9F%98%80"))
        .header("content-type", "application/x-thing")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = app.get("default", "ключ:😀").await;
    assert_eq!(got.headers()["content-type"], "application/x-thing");
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    // Empty values are values.
    let r = app
        .client
        .put(app.entry("default", "empty"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = app.get("default", "empty").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    assert!(got.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn head_and_conditional_get() {
    let app = spawn_app().await;
    let etag = app.put("default", "k", "value").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let head = app
        .client
        .head(app.entry("default", "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert!(head.bytes().await.unwrap().is_empty());

    let not_modified = app
        .client
        .get(app.entry("default", "k"))
        .header("if-none-match", format!("\"other\", {etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers()["etag"].to_str().unwrap(), etag);
    let modified = app
        .client
        .get(app.entry("default", "k"))
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(modified.status(), StatusCode::OK);
    let head_miss = app
        .client
        .head(app.entry("default", "nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(head_miss.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let app = spawn_app().await;
    let r = app
        .client
        .put(app.entry("default", "short") + "?ttl=1")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let first = app.get("default", "short").await;
    if first.status() == StatusCode::OK {
        let max_age: u64 = first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .trim_start_matches("max-age=")
            .parse()
            .unwrap();
        assert!(max_age <= 1);
    }
    let gone = eventually(Duration::from_secs(10), || async {
        app.get("default", "short").await.status() == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "an entry with ttl=1 was still readable after 10 s");
}

#[tokio::test]
async fn default_ttl_applies_and_is_reported_as_max_age() {
    let app = spawn_app().await;
    app.create_cache("ttl-cache", serde_json::json!({"default_ttl": 3600}))
        .await;
    app.put("ttl-cache", "k", "v").await;
    let got = app.get("ttl-cache", "k").await;
    let cc = got.headers()["cache-control"].to_str().unwrap().to_owned();
    let secs: u64 = cc.trim_start_matches("max-age=").parse().unwrap();
    assert!((3590..=3600).contains(&secs), "{cc}");
}
