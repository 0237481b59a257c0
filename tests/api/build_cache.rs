//! The build cache over bazel-remote's HTTP protocol: `/ac/<sha256>` and
//! `/cas/<sha256>`, with an optional instance prefix.

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi_proto;
use prost::Message as _;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use strata::config::{AuthSettings, BuildCacheInstanceSettings, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, api_key, assert_problem, assert_unauthorized, spawn_app_with};

const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn wire(bytes: &[u8]) -> reapi_proto::Digest {
    reapi_proto::Digest {
        hash: sha(bytes),
        size_bytes: bytes.len() as i64,
    }
}

/// A serialized `ActionResult` with one output file and stdout.
fn action_result(output: &[u8], stdout: &[u8]) -> Vec<u8> {
    reapi_proto::ActionResult {
        output_files: vec![reapi_proto::OutputFile {
            path: "out/a.o".into(),
            digest: Some(wire(output)),
            ..Default::default()
        }],
        stdout_digest: Some(wire(stdout)),
        ..Default::default()
    }
    .encode_to_vec()
}

fn settings() -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.build_cache.max_blob_bytes = Some(4096);
    settings.build_cache.instances.insert(
        "ccache".into(),
        BuildCacheInstanceSettings {
            validate_ac: Some(false),
        },
    );
    settings
}

impl TestApp {
    async fn bc_put(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .body(body)
            .send()
            .await
            .expect("PUT sent")
    }

    async fn bc_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET sent")
    }

    /// Sends `head` and then `body` on a raw connection, then `close`s
    /// the writing side (or not) and returns the status line, if any.
    async fn raw(&self, head: String, body: &[u8], finish: bool) -> Option<String> {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("head");
        stream.write_all(body).await.expect("body");
        if !finish {
            // Cut the upload off: the server sees the connection close
            // before the announced body ends.
            drop(stream);
            return None;
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        text.lines().next().map(str::to_owned)
    }
}

#[tokio::test]
async fn bazel_round_trip_and_a_404_once_a_blob_is_missing() {
    let app = spawn_app_with(settings()).await;
    let output = b"object code".to_vec();
    let stdout = b"compiled\n".to_vec();

    let r = app
        .bc_put(&format!("/cas/{}", sha(&output)), output.clone())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Bazel re-uploads: an existing blob is a 2xx without a rewrite.
    let r = app
        .bc_put(&format!("/cas/{}", sha(&output)), output.clone())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .bc_put(&format!("/cas/{}", sha(&stdout)), stdout.clone())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = app.bc_get(&format!("/cas/{}", sha(&output))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.content_length(), Some(output.len() as u64));
    assert_eq!(r.bytes().await.unwrap(), output);
    let r = app
        .client
        .head(app.url(&format!("/cas/{}", sha(&output))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(output.len().to_string().as_str())
    );

    let ar = action_result(&output, &stdout);
    let action = sha(b"the action");
    let r = app.bc_put(&format!("/ac/{action}"), ar.clone()).await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = app.bc_get(&format!("/ac/{action}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), ar);

    // An entry whose stdout was never uploaded is a miss.
    let dangling = action_result(&output, b"never uploaded");
    let other = sha(b"another action");
    let r = app.bc_put(&format!("/ac/{other}"), dangling).await;
    assert!(r.status().is_success());
    assert_problem(
        app.bc_get(&format!("/ac/{other}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let r = app
        .client
        .head(app.url(&format!("/ac/{other}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics
            .contains("strata_build_cache_requests_total{kind=\"ac\",op=\"get\",result=\"miss\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("strata_build_cache_bytes{store=\"memory\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_empty_blob_always_exists() {
    let app = spawn_app_with(settings()).await;
    let r = app.bc_get(&format!("/cas/{EMPTY}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = app.bc_get(&format!("/some/instance/cas/{EMPTY}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.bc_put(&format!("/cas/{EMPTY}"), Vec::new()).await;
    assert!(r.status().is_success());
    // A body under the empty digest is not the empty blob.
    let r = app.bc_put(&format!("/cas/{EMPTY}"), b"x".to_vec()).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "digest_mismatch").await;
}

#[tokio::test]
async fn bad_digests_and_bodies_are_rejected_and_store_nothing() {
    let app = spawn_app_with(settings()).await;
    let body = b"content".to_vec();
    let wrong = sha(b"other content");
    let r = app.bc_put(&format!("/cas/{wrong}"), body.clone()).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "digest_mismatch").await;
    assert_eq!(
        app.bc_get(&format!("/cas/{wrong}")).await.status(),
        StatusCode::NOT_FOUND
    );

    for bad in [
        "abc",
        &"a".repeat(65),
        &"g".repeat(64),
        &sha(&body).to_uppercase(),
    ] {
        let r = app.bc_put(&format!("/cas/{bad}"), body.clone()).await;
        let p = assert_problem(r, StatusCode::BAD_REQUEST, "invalid_digest").await;
        assert_eq!(p["field"], "hash");
        let r = app.bc_get(&format!("/ac/{bad}")).await;
        assert_problem(r, StatusCode::BAD_REQUEST, "invalid_digest").await;
    }
    let r = app.bc_get(&format!("/a%20b/cas/{}", sha(&body))).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_instance").await;

    // Over max_blob_bytes (4096): announced, and chunked.
    let big = vec![1u8; 5000];
    let r = app
        .bc_put(&format!("/cas/{}", sha(&big)), big.clone())
        .await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let mut chunked = Vec::new();
    for piece in big.chunks(1000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "PUT /cas/{} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        sha(&big)
    );
    let status = app.raw(head, &chunked, true).await.unwrap_or_default();
    assert!(status.contains(" 413 "), "{status}");
    assert_eq!(
        app.bc_get(&format!("/cas/{}", sha(&big))).await.status(),
        StatusCode::NOT_FOUND
    );

    // A chunked body that fits is stored.
    let small = b"chunked content".to_vec();
    let head = format!(
        "PUT /cas/{} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        sha(&small)
    );
    let mut body = format!("{:x}\r\n", small.len()).into_bytes();
    body.extend_from_slice(&small);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let status = app.raw(head, &body, true).await.unwrap_or_default();
    assert!(status.contains(" 201 "), "{status}");

    // Cut off mid-upload: nothing is stored under the digest.
    let cut = vec![9u8; 2000];
    let head = format!(
        "PUT /cas/{} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        sha(&cut),
        cut.len()
    );
    app.raw(head, &cut[..1000], false).await;
    let r = app.bc_get(&format!("/cas/{}", sha(&cut))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A validated AC entry must be an ActionResult.
    let r = app
        .bc_put(&format!("/ac/{}", sha(b"a")), b"\xff\xff\xff\xff".to_vec())
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_action_result").await;
    // ccache's instance stores raw bytes.
    let r = app
        .bc_put(
            &format!("/ccache/ac/{}", sha(b"a")),
            b"\xff\xff\xff\xff".to_vec(),
        )
        .await;
    assert!(r.status().is_success());
    let r = app.bc_get(&format!("/ccache/ac/{}", sha(b"a"))).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"\xff\xff\xff\xff");
}

#[tokio::test]
async fn zstd_bodies_round_trip_and_are_checked_uncompressed() {
    let app = spawn_app_with(settings()).await;
    let content = b"zstd zstd zstd zstd zstd zstd zstd zstd".repeat(20);
    let compressed = zstd::bulk::compress(&content, 3).unwrap();
    let path = format!("/cas/{}", sha(&content));
    let r = app
        .client
        .put(app.url(&path))
        .header("content-encoding", "zstd")
        .body(compressed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = app.bc_get(&path).await;
    assert_eq!(r.bytes().await.unwrap(), content);
    let r = app
        .client
        .get(app.url(&path))
        .header("accept-encoding", "zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("zstd")
    );
    let body = r.bytes().await.unwrap();
    assert_eq!(zstd::stream::decode_all(&body[..]).unwrap(), content);

    // The digest is of the uncompressed content: a compressed body of
    // other content, or a truncated one, is refused.
    let other = zstd::bulk::compress(b"other", 3).unwrap();
    let wrong = format!("/cas/{}", sha(b"yet another"));
    let r = app
        .client
        .put(app.url(&wrong))
        .header("content-encoding", "zstd")
        .body(other)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "digest_mismatch").await;
    let fresh = b"fresh content, never stored".repeat(10);
    let truncated = zstd::bulk::compress(&fresh, 3).unwrap();
    let r = app
        .client
        .put(app.url(&format!("/cas/{}", sha(&fresh))))
        .header("content-encoding", "zstd")
        .body(truncated[..truncated.len() - 3].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.bc_get(&format!("/cas/{}", sha(&fresh))).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .client
        .put(app.url(&wrong))
        .header("content-encoding", "br")
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn instances_are_isolated_and_other_routes_keep_working() {
    let app = spawn_app_with(settings()).await;
    let blob = b"team a's object".to_vec();
    let r = app
        .bc_put(&format!("/team-a/linux/cas/{}", sha(&blob)), blob.clone())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        app.bc_get(&format!("/team-a/linux/cas/{}", sha(&blob)))
            .await
            .status(),
        StatusCode::OK
    );
    for other in ["/team-b", "", "/team-a"] {
        let r = app.bc_get(&format!("{other}/cas/{}", sha(&blob))).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{other}");
    }
    assert_eq!(app.bc_get("/health/live").await.status(), StatusCode::OK);
    let doc = app.get_json("/openapi.json").await;
    for path in [
        "/ac/{hash}",
        "/cas/{hash}",
        "/admin/v1/cache/ac/flush",
        "/admin/v1/cache/cas/flush",
        "/admin/v1/cache/stats",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    // The alias is served, not documented: one operation, one path.
    assert!(doc["paths"].get("/admin/v1/cache/action/flush").is_none());
    assert!(doc["paths"]["/cas/{hash}"].get("head").is_some());
    assert!(
        doc["components"]["schemas"]["FlushRequest"]
            .get("example")
            .is_some(),
        "{}",
        doc["components"]["schemas"]["FlushRequest"]
    );
    assert_eq!(
        app.put("default", "k", "v").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get("default", "k").await.status(), StatusCode::OK);
    let r = app
        .client
        .delete(app.url(&format!("/cas/{}", sha(&blob))))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn a_disabled_build_cache_answers_404() {
    let mut settings = settings();
    settings.build_cache.enabled = false;
    let app = spawn_app_with(settings).await;
    let r = app.bc_get(&format!("/cas/{EMPTY}")).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
}

const READER: &str = "bc-reader-0123456789";
const CAS: &str = "bc-cas-writer-0123456789";
const WRITER: &str = "bc-writer-0123456789";
const SESSIONS: &str = "bc-sessions-admin-0123456789";

#[tokio::test]
async fn roles_decide_who_reads_and_writes() {
    let mut settings = settings();
    let mut auth = AuthSettings::default();
    auth.api_keys.insert(
        "reader".into(),
        api_key(READER, &[("build-cache", "reader")]),
    );
    auth.api_keys
        .insert("cas".into(), api_key(CAS, &[("build-*", "cas-writer")]));
    auth.api_keys
        .insert("writer".into(), api_key(WRITER, &[("build-*", "writer")]));
    auth.api_keys.insert(
        "sessions".into(),
        api_key(SESSIONS, &[("sessions", "admin")]),
    );
    settings.auth = Some(auth);
    let app = spawn_app_with(settings).await;
    let blob = b"a blob".to_vec();
    let cas_path = format!("/cas/{}", sha(&blob));
    let ac_path = format!("/ac/{}", sha(b"action"));
    let ar = action_result(b"", b"");

    assert_unauthorized(app.bc_get(&cas_path).await).await;
    let put = |key: &'static str, path: String, body: Vec<u8>| {
        let request = app.client.put(app.url(&path)).body(body);
        // Bazel sends the key as the password of http://user:key@host.
        request.basic_auth("bazel", Some(key)).send()
    };
    let r = put(READER, cas_path.clone(), blob.clone()).await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = put(SESSIONS, cas_path.clone(), blob.clone()).await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = put(CAS, cas_path.clone(), blob.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = put(CAS, ac_path.clone(), ar.clone()).await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = put(WRITER, ac_path.clone(), ar.clone()).await.unwrap();
    assert!(r.status().is_success());

    let r = app
        .client
        .get(app.url(&ac_path))
        .header("x-api-key", READER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), ar);
    let r = app
        .client
        .get(app.url(&cas_path))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), blob);
}

#[tokio::test]
async fn a_cas_flush_by_digest_turns_its_ac_entries_into_misses() {
    let app = spawn_app_with(settings()).await;
    let output = b"flushed object".to_vec();
    let stdout = b"kept stdout".to_vec();
    for blob in [&output, &stdout] {
        let r = app
            .bc_put(&format!("/cas/{}", sha(blob)), blob.clone())
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let action = format!("/ac/{}", sha(b"flush action"));
    let r = app.bc_put(&action, action_result(&output, &stdout)).await;
    assert!(r.status().is_success());
    assert_eq!(app.bc_get(&action).await.status(), StatusCode::OK);

    let body = serde_json::json!({"scope": "digests", "digests": [sha(&output)], "dry_run": true});
    let r = app.post_json("/admin/v1/cache/cas/flush", body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let dry: serde_json::Value = r.json().await.unwrap();
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["totals"]["entries_removed"], 1, "{dry}");
    assert_eq!(app.bc_get(&action).await.status(), StatusCode::OK);

    let body = serde_json::json!({"scope": "digests", "digests": [sha(&output)]});
    let r = app.post_json("/admin/v1/cache/cas/flush", body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["target"], "cas", "{done}");
    assert_eq!(done["partial"], false, "{done}");
    assert_eq!(done["stores"][0]["store"], "memory", "{done}");
    assert_eq!(done["totals"]["entries_removed"], 1, "{done}");
    assert_eq!(
        done["totals"]["bytes_reclaimed"],
        output.len() as u64,
        "{done}"
    );
    assert_eq!(done["dangling_ac_entries"], 1, "{done}");
    assert_eq!(
        app.bc_get(&format!("/cas/{}", sha(&output))).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.bc_get(&action).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.bc_get(&format!("/cas/{}", sha(&stdout))).await.status(),
        StatusCode::OK
    );

    // An AC flush of everything.
    let r = app
        .post_json(
            "/admin/v1/cache/action/flush",
            serde_json::json!({"scope": "all"}),
        )
        .await;
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["target"], "ac", "{done}");
    assert_eq!(done["totals"]["entries_removed"], 1, "{done}");
    assert!(done.get("dangling_ac_entries").is_none(), "{done}");

    let stats = app.get_json("/admin/v1/cache/stats").await;
    assert_eq!(stats["ac"]["entries"], 0, "{stats}");
    assert_eq!(stats["cas"]["entries"], 1, "{stats}");
    assert!(stats["cas"]["hits"].as_u64().unwrap() >= 1, "{stats}");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(
            "strata_build_cache_flush_total{target=\"cas\",scope=\"digests\",result=\"ok\"}"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn flush_requests_are_validated_naming_the_field() {
    let app = spawn_app_with(settings()).await;
    for (body, field) in [
        (serde_json::json!({"scope": "everything"}), "scope"),
        (serde_json::json!({"scope": "instance"}), "instance_name"),
        (
            serde_json::json!({"scope": "digests", "digests": ["nothex"]}),
            "digests",
        ),
        (
            serde_json::json!({"scope": "digest_prefix", "digest_prefix": "xyz"}),
            "digest_prefix",
        ),
        (
            serde_json::json!({"scope": "older_than"}),
            "older_than_secs",
        ),
    ] {
        let r = app
            .post_json("/admin/v1/cache/cas/flush", body.clone())
            .await;
        let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_flush_request").await;
        assert_eq!(p["field"], field, "{body}");
    }
    let r = app
        .post_json(
            "/admin/v1/cache/action/flush",
            serde_json::json!({"scope": "all", "extra": 1}),
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_body").await;
}

/// The flush paths use REAPI's names (`ac`, `cas`) like the answers'
/// `target`; `/action/flush` stays an alias; an unknown admin path is 404,
/// not the prefixed build-cache route's 405.
#[tokio::test]
async fn flush_paths_use_reapi_names_and_unknown_admin_paths_are_not_found() {
    let app = spawn_app_with(settings()).await;
    for path in ["/admin/v1/cache/ac/flush", "/admin/v1/cache/action/flush"] {
        let r = app
            .post_json(path, serde_json::json!({"scope": "all", "dry_run": true}))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let done: serde_json::Value = r.json().await.unwrap();
        assert_eq!(done["target"], "ac", "{path}: {done}");
    }
    let r = app
        .post_json(
            "/admin/v1/cache/cas/flush",
            serde_json::json!({"scope": "all", "dry_run": true}),
        )
        .await;
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["target"], "cas", "{done}");
    // A method the flush lacks is still 405 naming POST.
    let r = app
        .client
        .get(app.url("/admin/v1/cache/ac/flush"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    for path in [
        "/admin/v1/cache/actions/flush",
        "/admin/v1/cache/xyz/flush",
        &format!("/admin/v1/cache/ac/{EMPTY}"),
        &format!("/admin/cas/{EMPTY}"),
        "/admin/v2/caches/default",
    ] {
        let r = app
            .post_json(path, serde_json::json!({"scope": "all"}))
            .await;
        assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Other instance prefixes still reach the build cache.
    let r = app.bc_get(&format!("/team-a/cas/{EMPTY}")).await;
    assert_ne!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// An empty `digests` list is explained, not reported as `digests: length`.
#[tokio::test]
async fn an_empty_digest_list_gets_a_sentence() {
    let app = spawn_app_with(settings()).await;
    let r = app
        .post_json(
            "/admin/v1/cache/ac/flush",
            serde_json::json!({"scope": "digests", "digests": []}),
        )
        .await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_flush_request").await;
    assert_eq!(p["field"], "digests", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("empty list") && detail.contains("scope \"all\""),
        "{detail}"
    );
}

#[tokio::test]
async fn only_admins_flush_and_flushes_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings();
    let mut auth = AuthSettings::default();
    auth.api_keys
        .insert("writer".into(), api_key(WRITER, &[("build-*", "writer")]));
    auth.api_keys.insert(
        "admin".into(),
        api_key(SESSIONS, &[("build-cache", "admin")]),
    );
    settings.auth = Some(auth);
    settings.audit = Some(strata::config::AuditSettings {
        path: dir.path().join("audit.jsonl"),
        max_bytes: None,
    });
    let app = spawn_app_with(settings).await;
    let flush = |key: &'static str| {
        app.client
            .post(app.url("/admin/v1/cache/action/flush"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(r#"{"scope": "instance", "instance_name": "team-a", "dry_run": true}"#)
            .send()
    };
    let r = flush(WRITER).await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = flush(SESSIONS).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let ok = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["action"] == "flush" && r["outcome"] == "ok")
        .unwrap_or_else(|| panic!("no flush record in {log}"));
    let text = ok.to_string();
    for needle in ["build-cache", "instance", "dry_run", "entries_removed"] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

/// Uploaders, readers that check the SHA-256 of every 200 body, and
/// repeated flushes of every scope, run together: no read is ever
/// corrupt, and once everything stops every blob is complete or absent.
#[tokio::test]
async fn flushes_beside_uploads_and_reads_never_serve_wrong_content() {
    let app = std::sync::Arc::new(spawn_app_with(settings()).await);
    let blobs: Vec<Vec<u8>> = (0..24u32)
        .map(|i| format!("blob {i} ").repeat(1 + i as usize * 7).into_bytes())
        .collect();
    let blobs = std::sync::Arc::new(blobs);
    let mut tasks = Vec::new();
    for worker in 0..3usize {
        let (app, blobs) = (app.clone(), blobs.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..4 {
                for (i, blob) in blobs.iter().enumerate() {
                    if (i + worker + round) % 3 != 0 {
                        continue;
                    }
                    let r = app
                        .bc_put(&format!("/cas/{}", sha(blob)), blob.clone())
                        .await;
                    assert!(r.status().is_success(), "{}", r.status());
                }
            }
            0usize
        }));
    }
    for _ in 0..3 {
        let (app, blobs) = (app.clone(), blobs.clone());
        tasks.push(tokio::spawn(async move {
            let mut hits = 0;
            for _ in 0..4 {
                for blob in blobs.iter() {
                    let hash = sha(blob);
                    let r = app.bc_get(&format!("/cas/{hash}")).await;
                    match r.status() {
                        StatusCode::OK => {
                            let body = r.bytes().await.unwrap();
                            assert_eq!(sha(&body), hash, "a corrupt read");
                            hits += 1;
                        }
                        StatusCode::NOT_FOUND => {}
                        other => panic!("unexpected {other}"),
                    }
                }
            }
            hits
        }));
    }
    {
        let (app, blobs) = (app.clone(), blobs.clone());
        tasks.push(tokio::spawn(async move {
            let scopes = [
                serde_json::json!({"scope": "digests", "digests": [sha(&blobs[0]), sha(&blobs[5])]}),
                serde_json::json!({"scope": "digest_prefix", "digest_prefix": &sha(&blobs[3])[..1]}),
                serde_json::json!({"scope": "older_than", "older_than_secs": 1}),
                serde_json::json!({"scope": "instance", "instance_name": ""}),
                serde_json::json!({"scope": "all"}),
            ];
            for _ in 0..3 {
                for scope in &scopes {
                    let r = app.post_json("/admin/v1/cache/cas/flush", scope.clone()).await;
                    assert_eq!(r.status(), StatusCode::OK);
                    let body: serde_json::Value = r.json().await.unwrap();
                    assert_eq!(body["partial"], false, "{body}");
                }
            }
            0
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    // Quiet now: every blob is complete under its digest or absent, and the
    // stats count exactly the blobs that answer.
    let mut present = 0;
    for blob in blobs.iter() {
        let r = app.bc_get(&format!("/cas/{}", sha(blob))).await;
        if r.status() == StatusCode::OK {
            assert_eq!(r.bytes().await.unwrap(), *blob);
            present += 1;
        }
    }
    let stats = app.get_json("/admin/v1/cache/stats").await;
    assert_eq!(stats["cas"]["entries"], present, "{stats}");
}

/// `store = "disk"` and `"memory+disk"`: blobs and AC entries written
/// through one server are served by a new server over the same `dir`
/// (the index is rebuilt from the files), and `disk` without `dir` stops
/// start-up with an error naming the key.
#[tokio::test]
async fn the_disk_stores_keep_blobs_and_action_results_across_restarts() {
    for store in ["disk", "memory+disk"] {
        let dir = tempfile::tempdir().expect("build-cache dir");
        let disk_settings = || {
            let mut settings = settings();
            settings.build_cache.store = Some(serde_json::from_value(store.into()).unwrap());
            settings.build_cache.dir = Some(dir.path().to_owned());
            settings
        };
        let output = format!("output of {store}").into_bytes();
        let result = action_result(&output, b"");
        let action = sha(b"the action");

        let first = spawn_app_with(disk_settings()).await;
        let r = first
            .bc_put(&format!("/team/cas/{}", sha(&output)), output.clone())
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{store}");
        let r = first
            .bc_put(&format!("/team/ac/{action}"), result.clone())
            .await;
        assert!(r.status().is_success(), "{store}: {}", r.status());
        first.handle.stop(true).await;

        let second = spawn_app_with(disk_settings()).await;
        let r = second.bc_get(&format!("/team/cas/{}", sha(&output))).await;
        assert_eq!(r.status(), StatusCode::OK, "{store}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), output.as_slice());
        let r = second.bc_get(&format!("/team/ac/{action}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{store}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), result.as_slice());
        second.handle.stop(true).await;
    }

    let mut no_dir = settings();
    no_dir.server.listen = "127.0.0.1:0".into();
    no_dir.server.grpc_listen = String::new();
    no_dir.build_cache.store = Some(serde_json::from_value("disk".into()).unwrap());
    let err = strata::Application::build(no_dir)
        .await
        .err()
        .expect("disk without dir fails start-up");
    assert!(format!("{err:#}").contains("needs dir"), "{err:#}");
}

/// [`settings`] with `[backends.main]` on `redis` holding the AC.
fn on_redis(redis: &strata_testkit::RedisServer) -> Settings {
    let mut settings = settings();
    settings.backends.insert(
        "main".to_owned(),
        strata::config::BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(2000),
        },
    );
    settings.build_cache.ac_backend = Some("main".to_owned());
    settings
}

/// `ac_backend` puts the action cache on Redis: an entry written through
/// one server is read through another that shares only the Redis (each
/// has its own memory CAS, so the instance runs without AC validation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ac_backend_shares_action_results_between_servers_through_redis() {
    let Some(redis) = strata_testkit::require(strata_testkit::RedisServer::spawn()) else {
        return;
    };
    let shared = || on_redis(&redis);
    let a = spawn_app_with(shared()).await;
    let b = spawn_app_with(shared()).await;
    let action = sha(b"shared action");
    let entry = b"raw bytes from ccache".to_vec();
    let r = a
        .bc_put(&format!("/ccache/ac/{action}"), entry.clone())
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = b.bc_get(&format!("/ccache/ac/{action}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), entry.as_slice());
    // The CAS is not shared: a blob written to A is a miss on B.
    let blob = b"only on a".to_vec();
    let r = a
        .bc_put(&format!("/cas/{}", sha(&blob)), blob.clone())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = b.bc_get(&format!("/cas/{}", sha(&blob))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let mut bad = settings();
    bad.server.listen = "127.0.0.1:0".into();
    bad.server.grpc_listen = String::new();
    bad.build_cache.ac_backend = Some("nowhere".to_owned());
    let err = strata::Application::build(bad)
        .await
        .err()
        .expect("unknown backend fails");
    assert!(
        format!("{err:#}").contains("no [backends.nowhere]"),
        "{err:#}"
    );
}

/// `cas_backend` puts small CAS blobs on the same Redis as the AC: a
/// validated action result written through one server resolves on
/// another, as long as the blobs it references are small enough to be
/// shared; a large blob stays on the server that took it. A CAS flush
/// through either server removes the shared blobs for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_backend_shares_small_blobs_so_action_results_resolve_on_every_server() {
    let Some(redis) = strata_testkit::require(strata_testkit::RedisServer::spawn()) else {
        return;
    };
    let shared = || {
        let mut settings = on_redis(&redis);
        settings.build_cache.cas_backend = Some("main".to_owned());
        settings.build_cache.cas_backend_max_blob_bytes = 1024;
        settings
    };
    let a = spawn_app_with(shared()).await;
    let b = spawn_app_with(shared()).await;
    let small = vec![7u8; 1000];
    let stdout = b"compiled".to_vec();
    let large = vec![8u8; 3000];
    for blob in [&small, &stdout, &large] {
        let r = a.bc_put(&format!("/cas/{}", sha(blob)), blob.clone()).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // The small blobs are on Redis, the large one in A's memory store.
    assert_eq!(
        b.bc_get(&format!("/cas/{}", sha(&small)))
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        small.as_slice()
    );
    assert_eq!(
        b.bc_get(&format!("/cas/{}", sha(&large))).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.bc_get(&format!("/cas/{}", sha(&large))).await.status(),
        StatusCode::OK
    );

    let shared_action = format!("/ac/{}", sha(b"small outputs"));
    let r = a
        .bc_put(&shared_action, action_result(&small, &stdout))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(b.bc_get(&shared_action).await.status(), StatusCode::OK);
    let local_action = format!("/ac/{}", sha(b"large output"));
    let r = a
        .bc_put(&local_action, action_result(&large, &stdout))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(a.bc_get(&local_action).await.status(), StatusCode::OK);
    assert_eq!(
        b.bc_get(&local_action).await.status(),
        StatusCode::NOT_FOUND,
        "B cannot see the large output, so the entry is incomplete there"
    );

    let r = b
        .post_json(
            "/admin/v1/cache/cas/flush",
            serde_json::json!({"scope": "digests", "digests": [sha(&small)]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["stores"][0]["store"], "redis", "{done}");
    assert_eq!(done["stores"][0]["entries_removed"], 1, "{done}");
    assert_eq!(
        a.bc_get(&shared_action).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.bc_get(&format!("/cas/{}", sha(&small))).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Keep-alive without stalls (issue 11): on one connection, with Nagle on
/// the client and headers and body written separately, every response to
/// a small blob arrives whole in one read: the server writes headers and
/// body together, so no delayed ACK can hold a second small segment back
/// for 40 ms.
#[tokio::test]
async fn small_blobs_are_answered_in_one_write_on_a_keep_alive_connection() {
    // The disk store: its reads go through the blocking pool, so a body
    // streamed after the headers would be a second, later write.
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = settings();
    settings.build_cache.store = Some(strata::config::BuildStoreKind::Disk);
    settings.build_cache.dir = Some(dir.path().to_owned());
    let app = spawn_app_with(settings).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    stream.set_nodelay(false).unwrap();
    for i in 0..20u8 {
        let blob = vec![i; 100 + usize::from(i)];
        let hash = sha(&blob);
        let head = format!(
            "PUT /cas/{hash} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
            blob.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&blob).await.unwrap();
        let put = read_response(&mut stream).await;
        assert!(put.starts_with("HTTP/1.1 201"), "{put}");
        let get = format!("GET /cas/{hash} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(get.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 64 << 10];
        // One read: everything the server wrote in one go.
        let n = stream.read(&mut buf).await.unwrap();
        let text = &buf[..n];
        let split = text
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("headers end in the first read");
        assert!(
            text.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(text)
        );
        assert_eq!(
            &text[split + 4..],
            blob.as_slice(),
            "the body came with the headers"
        );
    }
}

/// Reads one response with a `Content-Length` (or none) off `stream`.
async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

/// A crash mid-upload (issue 11, "Crash"): the real binary on the disk
/// store is SIGKILLed while a CAS upload is half sent. Restarted over the
/// same `dir`, it serves the old blob, has no blob under the cut digest,
/// and has removed the upload's temporary file.
#[tokio::test]
async fn a_server_killed_mid_upload_leaves_no_partial_blob_and_serves_old_ones() {
    let dir = tempfile::tempdir().expect("dir");
    let store = dir.path().join("bc");
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nformat = \"json\"\nfilter = \"info\"\n\
             [build_cache]\nstore = \"disk\"\ndir = \"{}\"\n",
            store.display()
        ),
    )
    .expect("config");
    let old = b"a blob from before the crash".to_vec();
    let cut = vec![7u8; 1 << 20];

    let first = crate::process::start(&config, &[]).await;
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/cas/{}", first.base, sha(&old)))
        .body(old.clone())
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), StatusCode::CREATED);

    // Half of a 1 MiB upload, then wait until its temporary file exists.
    let addr = first.base.trim_start_matches("http://").to_owned();
    let mut upload = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "PUT /cas/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        sha(&cut),
        cut.len()
    );
    upload.write_all(head.as_bytes()).await.expect("head");
    upload.write_all(&cut[..cut.len() / 2]).await.expect("half");
    upload.flush().await.expect("flush");
    let tmp = store.join("tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&tmp).map_or(0, |d| d.count()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no temporary file appeared"
        );
        tokio::task::yield_now().await;
    }
    let log = first.kill();
    drop(upload);

    let second = crate::process::start(&config, &[]).await;
    let r = client
        .get(format!("{}/cas/{}", second.base, sha(&old)))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK, "{log}");
    assert_eq!(r.bytes().await.unwrap().as_ref(), old.as_slice());
    let r = client
        .head(format!("{}/cas/{}", second.base, sha(&cut)))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        std::fs::read_dir(&tmp).map_or(0, |d| d.count()),
        0,
        "the upload's temporary file is gone after the restart"
    );
    second.stop().await;
}

/// Issue 25: a CAS flush of 10,000 blobs on the disk store, held at a
/// barrier halfway through its unlinks, stalls nothing else: `/health/live`,
/// a build-cache read of another instance, a cache read and write all
/// answer while the barrier still holds (ordering, not timing; a
/// deadline only turns a regression into a failure instead of a hang).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_flush_held_mid_unlink_stalls_no_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use strata_domain::{DigestHash, InstanceName, StoreKind};
    use strata_infrastructure::{DiskBuildStore, UnlinkHook};
    const N: usize = 10_000;

    let dir = tempfile::tempdir().expect("build-cache dir");
    {
        let layout = DiskBuildStore::builder(dir.path()).build().unwrap();
        let doomed = InstanceName::parse("doomed").unwrap();
        for i in 0..N {
            let data = format!("flushed blob {i:08}");
            let hash = DigestHash::parse(&sha(data.as_bytes())).unwrap();
            let path = layout.path_of(StoreKind::Cas, &doomed, &hash);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
    }
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let unlinked = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&unlinked);
    let hook: UnlinkHook = Arc::new(move |_| {
        if count.fetch_add(1, Ordering::SeqCst) + 1 == N / 2 {
            reached_tx.send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        }
    });
    let mut settings = settings();
    settings.build_cache.store = Some(serde_json::from_value("disk".into()).unwrap());
    settings.build_cache.dir = Some(dir.path().to_owned());
    let app = Arc::new(
        crate::helpers::spawn_app_built(settings, None, |b| b.disk_before_unlink(hook)).await,
    );
    let kept = b"a blob of another instance".to_vec();
    let r = app
        .bc_put(&format!("/kept/cas/{}", sha(&kept)), kept.clone())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let flush = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let body = serde_json::json!({"scope": "instance", "instance_name": "doomed"});
            let r = app.post_json("/admin/v1/cache/cas/flush", body).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<serde_json::Value>().await.unwrap()
        })
    };
    tokio::task::block_in_place(|| reached.recv().unwrap());

    let (done_tx, done) = mpsc::channel();
    let work = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            for _ in 0..4 {
                let r = app
                    .client
                    .get(app.url("/health/live"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let r = app.bc_get(&format!("/kept/cas/{}", sha(&kept))).await;
                assert_eq!(r.status(), StatusCode::OK);
                assert_eq!(r.bytes().await.unwrap().as_ref(), kept.as_slice());
            }
            let r = app
                .client
                .put(app.url("/v1/caches/default/entries/during-flush"))
                .body("v")
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            let r = app
                .client
                .get(app.url("/v1/caches/default/entries/during-flush"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            done_tx.send(()).unwrap();
        })
    };
    let outcome =
        tokio::task::block_in_place(|| done.recv_timeout(std::time::Duration::from_secs(60)));
    let held = unlinked.load(Ordering::SeqCst);
    release.send(()).unwrap();
    assert!(
        !matches!(outcome, Err(mpsc::RecvTimeoutError::Timeout)),
        "requests stalled while the flush was held mid-unlink"
    );
    work.await.unwrap();
    assert_eq!(held, N / 2, "the flush was still held while they ran");
    let report = flush.await.unwrap();
    assert_eq!(report["totals"]["entries_removed"], N, "{report}");
}

/// Issue 33: the disk store serves at once after a restart. Its index
/// rebuild is held at a barrier (after the scan, before the found entries
/// join the index) while a GET and a HEAD of blobs from before the
/// restart are hits with the exact bytes, a never-stored digest is a
/// clean 404, and `/health/ready` is 200 and reports the rebuild; once
/// released, `/health/ready` stops reporting it and the stats count every
/// blob (ordering, not timing: the deadlines only turn a hang into a
/// failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_disk_store_serves_hits_before_its_index_is_rebuilt() {
    use std::sync::{Arc, Mutex, mpsc};
    use strata_domain::{DigestHash, InstanceName, StoreKind};
    use strata_infrastructure::{DiskBuildStore, RebuildHook};
    const N: usize = 500;

    let dir = tempfile::tempdir().expect("build-cache dir");
    let content = |i: usize| format!("blob {i:06} from before the restart").into_bytes();
    {
        let layout = DiskBuildStore::builder(dir.path()).build().unwrap();
        for i in 0..N {
            let hash = DigestHash::parse(&sha(&content(i))).unwrap();
            let path = layout.path_of(StoreKind::Cas, &InstanceName::default(), &hash);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content(i)).unwrap();
        }
    }
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let hook: RebuildHook = Arc::new(move |found| {
        reached_tx.send(found).unwrap();
        // A failing test drops the sender: the rebuild then goes on.
        let _ = release_rx.lock().unwrap().recv();
    });
    let mut settings = settings();
    settings.build_cache.store = Some(serde_json::from_value("disk".into()).unwrap());
    settings.build_cache.dir = Some(dir.path().to_owned());
    let app = crate::helpers::spawn_app_built(settings, None, |b| b.disk_rebuild_hook(hook)).await;
    let found =
        tokio::task::block_in_place(|| reached.recv_timeout(std::time::Duration::from_secs(60)))
            .expect("the rebuild reached its barrier");
    assert_eq!(found, N as u64);

    // Held: the service is ready, says so, and serves hits.
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["index_rebuild"]["state"], "running", "{ready}");
    assert_eq!(ready["index_rebuild"]["files_found"], N, "{ready}");
    let r = app.bc_get(&format!("/cas/{}", sha(&content(7)))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), content(7).as_slice());
    let r = app
        .client
        .head(app.url(&format!("/cas/{}", sha(&content(8)))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-length"].to_str().unwrap(),
        content(8).len().to_string()
    );
    let r = app.bc_get(&format!("/cas/{}", sha(b"never stored"))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        app.get_json("/health/ready")
            .await
            .get("index_rebuild")
            .is_some(),
        "the rebuild was still held while the hits were served"
    );
    release.send(()).unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while app
        .get_json("/health/ready")
        .await
        .get("index_rebuild")
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the rebuild never ended"
        );
        tokio::task::yield_now().await;
    }
    let stats = app.get_json("/admin/v1/cache/stats").await;
    assert_eq!(stats["cas"]["entries"], N, "{stats}");
    app.handle.stop(true).await;
}
