//! Request bodies: content codings decoded as they stream, limits counted
//! in decoded bytes (issue 26).

use std::io::Write;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::json;
use strata::config::{AuthSettings, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, api_key, assert_problem, spawn_app, spawn_app_with};

const READER: &str = "reader-key-0123456789";
const WRITER: &str = "writer-key-0123456789";

/// A raw HTTP/1.1 exchange on a fresh connection: sends `head` (ending in
/// its blank line) and `body`, sends nothing more, and reads the answer's
/// status line, headers and body (by its `Content-Length`). The server
/// must answer without the rest of the body it was promised; a guard of
/// 60 s turns a server that waits for it into a failure instead of a
/// hang.
async fn exchange(app: &TestApp, head: &str, body: &[u8]) -> (String, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let (head, rest) = text.split_at(end + 4);
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if rest.len() >= length || n == 0 {
                    return (head.to_owned(), rest.to_owned());
                }
            }
            assert!(n > 0, "connection closed without an answer: {got:?}");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server answered without waiting for the rest of the body")
}

/// Keys `reader` (reader on `default`) and `writer` (writer on `default`).
async fn spawn_with_keys() -> TestApp {
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("reader".into(), api_key(READER, &[("default", "reader")]));
    auth.api_keys
        .insert("writer".into(), api_key(WRITER, &[("default", "writer")]));
    settings.auth = Some(auth);
    spawn_app_with(settings).await
}

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

#[tokio::test]
async fn a_put_is_refused_before_its_body_is_read() {
    let app = spawn_with_keys().await;
    // 60 MB promised, 16 bytes sent: a reader gets its 403 at once.
    let head = format!(
        "PUT /v1/caches/default/entries/big HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {READER}\r\nContent-Length: 60000000\r\n\r\n"
    );
    let (head, body) = exchange(&app, &head, b"only a few bytes").await;
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    assert!(head.contains("application/problem+json"), "{head}");
    assert!(body.contains("\"forbidden\""), "{body}");

    // A writer declaring more than max_value_bytes (1 MiB by default)
    // gets its 413 before sending any of the body.
    let head = format!(
        "PUT /v1/caches/default/entries/big HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {WRITER}\r\nContent-Length: 60000000\r\n\r\n"
    );
    let (head, body) = exchange(&app, &head, b"").await;
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    assert!(body.contains("\"value_too_large\""), "{body}");
    assert!(body.contains("60000000 bytes"), "{body}");

    // A chunked body (no length declared) stops at the limit.
    let mut chunked = Vec::new();
    let piece = vec![b'x'; 64 * 1024];
    for _ in 0..17 {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(&piece);
        chunked.extend_from_slice(b"\r\n");
    }
    let head = format!(
        "PUT /v1/caches/default/entries/big HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {WRITER}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let (head, body) = exchange(&app, &head, &chunked).await;
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    assert!(body.contains("\"value_too_large\""), "{body}");

    // Within the limit, the writer writes.
    let r = app
        .client
        .put(app.entry("default", "small"))
        .header("authorization", format!("Bearer {WRITER}"))
        .body("fits")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn errors_after_the_head_are_problems_and_malformed_heads_are_bodiless() {
    let app = spawn_app().await;
    // Over the 64 MiB body limit, by its declared length: a problem, at
    // once, for batchPut and batchGet alike.
    for route in ["entries:batchPut", "entries:batchGet"] {
        let head = format!(
            "POST /v1/caches/default/{route} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: 70000000\r\n\r\n"
        );
        let (head, body) = exchange(&app, &head, b"{").await;
        assert!(head.starts_with("HTTP/1.1 413 "), "{route}: {head}");
        assert!(head.contains("application/problem+json"), "{head}");
        assert!(body.contains("\"payload_too_large\""), "{body}");
        assert!(!body.contains("Some("), "{body}");
    }
    // A digest mismatch names the declared size without Rust debug text.
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"x"));
    let r = app
        .client
        .put(app.url(&format!("/cas/{hash}")))
        .body("y")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, StatusCode::BAD_REQUEST, "digest_mismatch").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(!detail.contains("Some("), "{detail}");
    assert!(detail.contains("of 1 bytes"), "{detail}");

    // Before the head is parsed, the HTTP layer answers alone, bodiless,
    // as the README says.
    let (head, body) = exchange(&app, "GARBAGE\r\n\r\n", b"").await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(body.is_empty(), "{body}");
    let huge = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let (head, _) = exchange(&app, &huge, b"").await;
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
}
#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_and_the_connection_closes() {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.body_read_timeout_secs = 1;
    let app = spawn_app_with(settings).await;
    let head = "PUT /v1/caches/default/entries/slow HTTP/1.1\r\nHost: x\r\n\
                Content-Length: 100\r\n\r\n";
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
        .write_all(b"ten bytes.")
        .await
        .expect("part of the body");
    // Read until the server closes the connection: the answer, then EOF.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert_eq!(
        app.get("default", "slow").await.status(),
        StatusCode::NOT_FOUND
    );
}
