//! Keys in URLs: a path key is percent-decoded exactly once (RFC 3986), so
//! a key written in a JSON body (batchPut) is addressed at its
//! percent-encoded path, and a key written at a path is the same key in a
//! body (batchGet, invalidation). `+` is a literal plus.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::invalidation::invalidated;

/// Keys with the characters a path must escape, or that a decoder could
/// mistake.
const KEYS: &[&str] = &[
    "a/b",
    "dir/sub/leaf",
    "100%",
    "%41",
    "what?",
    "frag#1",
    "a+b",
    "café",
    "日本",
    "mixed/%2F?#+é",
];

/// Percent-encodes every octet outside RFC 3986's unreserved set.
fn encoded(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn batch_get(app: &TestApp, cache: &str, keys: &[&str]) -> Value {
    let r = app
        .post_json(
            &format!("/v1/caches/{cache}/entries:batchGet"),
            json!({ "keys": keys }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_key_put_at_its_encoded_path_is_the_same_key_in_bodies() {
    let app = spawn_app().await;
    app.create_cache("paths", json!({})).await;
    for key in KEYS {
        let path = encoded(key);
        let r = app.put("paths", &path, "v").await;
        assert_eq!(r.status(), StatusCode::CREATED, "PUT {path}");
        let r = app.get("paths", &path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        assert_eq!(r.text().await.unwrap(), "v");
    }
    let body = batch_get(&app, "paths", KEYS).await;
    assert_eq!(body["misses"], json!([]), "{body}");
    let hits: Vec<&str> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["key"].as_str().unwrap())
        .collect();
    assert_eq!(hits, KEYS, "the decoded keys are the stored keys");
    for key in KEYS {
        let r = app
            .client
            .delete(app.entry("paths", &encoded(key)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "DELETE {key}");
        assert_eq!(
            app.get("paths", &encoded(key)).await.status(),
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn a_key_written_by_batch_put_is_readable_at_its_encoded_path() {
    let app = spawn_app().await;
    app.create_cache("bodies", json!({})).await;
    let entries: Vec<Value> = KEYS
        .iter()
        .map(|k| json!({"key": k, "value": format!("value of {k}")}))
        .collect();
    let r = app
        .post_json(
            "/v1/caches/bodies/entries:batchPut",
            json!({ "entries": entries }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for key in KEYS {
        let r = app.get("bodies", &encoded(key)).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {}", encoded(key));
        assert_eq!(r.text().await.unwrap(), format!("value of {key}"));
        let r = app
            .client
            .head(app.entry("bodies", &encoded(key)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "HEAD {key}");
    }
}

#[tokio::test]
async fn plus_is_a_literal_plus_and_unicode_may_go_unescaped() {
    let app = spawn_app().await;
    app.create_cache("plus", json!({})).await;
    assert_eq!(
        app.put("plus", "x+y", "p").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get("plus", "x%2By").await.text().await.unwrap(), "p");
    assert_eq!(
        app.get("plus", "x%20y").await.status(),
        StatusCode::BAD_REQUEST
    );
    // The client escapes non-ASCII itself; the server decodes it once.
    assert_eq!(
        app.put("plus", "日本", "n").await.status(),
        StatusCode::CREATED
    );
    let body = batch_get(&app, "plus", &["x+y", "日本"]).await;
    assert_eq!(body["hits"][0]["key"], "x+y", "{body}");
    assert_eq!(body["hits"][1]["key"], "日本", "{body}");
}

#[tokio::test]
async fn decoding_errors_are_invalid_key_problems() {
    let app = spawn_app().await;
    for raw in ["bad%zz", "bad%", "bad%C3", "bad%FF"] {
        let r = app.get("default", raw).await;
        let body = crate::helpers::assert_problem(r, StatusCode::BAD_REQUEST, "invalid_key").await;
        assert_eq!(body["field"], "key", "{raw}: {body}");
    }
}

#[tokio::test]
async fn keys_with_escaped_characters_are_invalidated_by_keys_and_by_pattern() {
    let app = spawn_app().await;
    app.create_cache("inval", json!({})).await;
    for key in ["dir/a", "dir/b", "dirx", "p%1", "p%2", "q?1", "q#2"] {
        assert_eq!(
            app.put("inval", &encoded(key), "v").await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        invalidated(&app, "inval", json!({"pattern": "dir/*"})).await,
        2
    );
    assert_eq!(
        app.get("inval", "dir%2Fa").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("inval", "dirx").await.status(), StatusCode::OK);
    assert_eq!(
        invalidated(&app, "inval", json!({"pattern": "p%*"})).await,
        2
    );
    assert_eq!(
        invalidated(&app, "inval", json!({"keys": ["q?1", "q#2", "dirx"]})).await,
        3
    );
    for key in ["p%1", "q?1", "q#2", "dirx"] {
        assert_eq!(
            app.get("inval", &encoded(key)).await.status(),
            StatusCode::NOT_FOUND,
            "{key}"
        );
    }
}
