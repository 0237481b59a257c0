use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

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
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "max-age=1");
    // One millisecond before the TTL ends the entry is still served.
    app.clock.advance(Duration::from_millis(999));
    let last = app.get("default", "short").await;
    assert_eq!(last.status(), StatusCode::OK);
    assert_eq!(last.headers()["cache-control"], "max-age=0");
    app.clock.advance(Duration::from_millis(1));
    let gone = app.get("default", "short").await;
    assert_problem(gone, StatusCode::NOT_FOUND, "entry_not_found").await;
    let head = app
        .client
        .head(app.entry("default", "short"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn default_ttl_applies_and_is_reported_as_max_age() {
    let app = spawn_app().await;
    app.create_cache("ttl-cache", serde_json::json!({"default_ttl": 3600}))
        .await;
    app.put("ttl-cache", "k", "v").await;
    let got = app.get("ttl-cache", "k").await;
    assert_eq!(got.headers()["cache-control"], "max-age=3600");
    assert_eq!(got.headers()["age"], "0");
    // Age grows and max-age shrinks with the clock, whole seconds.
    app.clock.advance(Duration::from_millis(1_800_500));
    let later = app.get("ttl-cache", "k").await;
    assert_eq!(later.status(), StatusCode::OK);
    assert_eq!(later.headers()["age"], "1800");
    assert_eq!(later.headers()["cache-control"], "max-age=1799");
    app.clock.advance(Duration::from_millis(1_799_500));
    let gone = app.get("ttl-cache", "k").await;
    assert_problem(gone, StatusCode::NOT_FOUND, "entry_not_found").await;
}
