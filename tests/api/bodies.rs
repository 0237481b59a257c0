//! Request bodies: content codings decoded as they stream, limits counted
//! in decoded bytes (issue 26).

use std::io::Write;

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// `mebibytes` MiB of zeros in `coding` (`zstd` or `gzip`): one MiB
/// compressed, repeated (zstd frames and gzip members concatenate), so a
/// large bomb costs the test little.
fn bomb(coding: &str, mebibytes: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let one = encode(coding, &zeros);
    one.repeat(mebibytes)
}

fn encode(coding: &str, content: &[u8]) -> Vec<u8> {
    match coding {
        "zstd" => zstd::bulk::compress(content, 19).unwrap(),
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(content).unwrap();
            e.finish().unwrap()
        }
        other => panic!("no coding {other}"),
    }
}

async fn batch_get(app: &TestApp, coding: &str, body: Vec<u8>) -> Response {
    app.client
        .post(app.url("/v1/caches/default/entries:batchGet"))
        .header("content-type", "application/json")
        .header("content-encoding", coding)
        .body(body)
        .send()
        .await
        .expect("batchGet sent")
}

async fn put_encoded(app: &TestApp, key: &str, coding: &str, body: Vec<u8>) -> Response {
    app.client
        .put(app.entry("default", key))
        .header("content-type", "application/octet-stream")
        .header("content-encoding", coding)
        .body(body)
        .send()
        .await
        .expect("PUT sent")
}

fn is_problem(r: &Response) -> bool {
    r.headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json")
}

#[tokio::test]
async fn decompression_bombs_get_a_413_problem_on_batch_get_and_put() {
    let app = spawn_app().await;
    for coding in ["zstd", "gzip"] {
        // 256 MiB decoded, far over the 65 MiB body limit.
        let body = bomb(coding, 256);
        assert!(body.len() < 1 << 20, "{coding}: {}", body.len());
        let r = batch_get(&app, coding, body.clone()).await;
        let problem = assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(!detail.contains("Some("), "{detail}");

        let r = put_encoded(&app, "bomb", coding, body).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{coding}");
        assert!(is_problem(&r), "{coding}: {:?}", r.headers());
        assert_eq!(
            app.get("default", "bomb").await.status(),
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn encoded_bodies_are_stored_decoded_and_unknown_codings_are_415() {
    let app = spawn_app().await;
    for coding in ["zstd", "gzip"] {
        let content = format!("a value sent as {coding} ").repeat(100);
        let r = put_encoded(&app, coding, coding, encode(coding, content.as_bytes())).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{coding}");
        let r = app.get("default", coding).await;
        assert_eq!(r.text().await.unwrap(), content, "{coding}");

        let keys = json!({"keys": [coding, "absent"]}).to_string();
        let r = batch_get(&app, coding, encode(coding, keys.as_bytes())).await;
        assert_eq!(r.status(), StatusCode::OK, "{coding}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["hits"][0]["value"], content.as_str(), "{coding}");
        assert_eq!(body["misses"], json!(["absent"]), "{coding}");

        // A body that does not decode is refused, not stored as is.
        let r = put_encoded(&app, "raw", coding, b"not encoded at all".to_vec()).await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    for coding in ["br", "deflate", "gzip, zstd"] {
        let r = put_encoded(&app, "raw", coding, b"whatever".to_vec()).await;
        assert_problem(
            r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        let r = batch_get(&app, coding, b"{\"keys\":[\"k\"]}".to_vec()).await;
        assert_problem(
            r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    assert_eq!(
        app.get("default", "raw").await.status(),
        StatusCode::NOT_FOUND
    );
}
