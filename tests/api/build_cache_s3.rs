//! The build cache on S3-compatible object storage (`memory+s3`), over
//! HTTP against a real moto server: two instances sharing one bucket,
//! flushes reaching the bucket, and the bucket stopped mid-way.

use std::path::Path;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi_proto;
use prost::Message as _;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use strata::config::{BuildCacheS3Settings, BuildStoreKind, Settings};
use strata_testkit::{MotoServer, require};

use crate::helpers::{TestApp, spawn_app_with};

const BUCKET: &str = "strata-api-build-cache";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn action_result(output: &[u8], stdout: &[u8]) -> Vec<u8> {
    let wire = |b: &[u8]| reapi_proto::Digest {
        hash: sha(b),
        size_bytes: b.len() as i64,
    };
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

/// `memory+s3` on `moto`'s bucket under `prefix`, signing with the keys
/// of a credentials file in `dir`.
fn settings(moto: &MotoServer, prefix: &str, dir: &Path) -> Settings {
    let credentials = dir.join("aws-credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = test\naws_secret_access_key = test-secret\n",
    )
    .unwrap();
    let mut settings = Settings::load(None).expect("default settings");
    settings.build_cache.store = Some(BuildStoreKind::MemoryS3);
    settings.build_cache.s3 = Some(BuildCacheS3Settings {
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        region: "us-east-1".into(),
        endpoint: Some(moto.endpoint()),
        credentials_file: Some(credentials),
        max_bytes: None,
        index_backend: None,
    });
    settings
}

impl TestApp {
    async fn s3_put(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .body(body)
            .send()
            .await
            .expect("PUT sent")
    }

    async fn s3_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET sent")
    }
}

fn moto() -> Option<MotoServer> {
    let moto = require(MotoServer::spawn())?;
    moto.create_bucket(BUCKET).expect("create the bucket");
    Some(moto)
}

#[tokio::test]
async fn a_second_instance_hits_what_the_first_uploaded_and_flushes_reach_the_bucket() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = spawn_app_with(settings(&moto, "shared", dir.path())).await;
    let b = spawn_app_with(settings(&moto, "shared", dir.path())).await;
    let output = b"an object file".to_vec();
    let stdout = b"compiler output".to_vec();
    for blob in [&output, &stdout] {
        let r = a
            .s3_put(&format!("/team-a/cas/{}", sha(blob)), blob.clone())
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let action = format!("/team-a/ac/{}", sha(b"an action"));
    let r = a.s3_put(&action, action_result(&output, &stdout)).await;
    assert!(r.status().is_success(), "{}", r.status());

    let r = b.s3_get(&action).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), action_result(&output, &stdout));
    let r = b.s3_get(&format!("/team-a/cas/{}", sha(&output))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), output);

    let r = b
        .post_json(
            "/admin/v1/cache/cas/flush",
            serde_json::json!({"scope": "digests", "digests": [sha(&output)]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done: serde_json::Value = r.json().await.unwrap();
    let stores: Vec<&str> = done["stores"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["store"].as_str())
        .collect();
    assert_eq!(stores, ["memory", "s3"], "{done}");
    assert_eq!(done["stores"][1]["entries_removed"], 1, "{done}");
    // Gone from the bucket: A, whose memory tier still holds the blob,
    // serves it, but a third instance misses it and the AC entry.
    let c = spawn_app_with(settings(&moto, "shared", dir.path())).await;
    assert_eq!(
        c.s3_get(&format!("/team-a/cas/{}", sha(&output)))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.s3_get(&action).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_the_bucket_stopped_reads_fall_back_and_uploads_fail_cleanly() {
    let Some(mut moto) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = spawn_app_with(settings(&moto, "outage", dir.path())).await;
    let b = spawn_app_with(settings(&moto, "outage", dir.path())).await;
    let output = b"built before the outage".to_vec();
    let stdout = b"ok".to_vec();
    for blob in [&output, &stdout] {
        let r = a.s3_put(&format!("/cas/{}", sha(blob)), blob.clone()).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let action = format!("/ac/{}", sha(b"built action"));
    assert!(
        a.s3_put(&action, action_result(&output, &stdout))
            .await
            .status()
            .is_success()
    );
    moto.stop();

    // A serves from its local tier; B has nothing local and misses.
    assert_eq!(a.s3_get(&action).await.status(), StatusCode::OK);
    let r = a.s3_get(&format!("/cas/{}", sha(&output))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), output);
    assert_eq!(b.s3_get(&action).await.status(), StatusCode::NOT_FOUND);

    // An upload is refused with an opaque 503.
    let late = b"built during the outage".to_vec();
    let r = a
        .s3_put(&format!("/cas/{}", sha(&late)), late.clone())
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("127.0.0.1") && !body.contains("moto"),
        "{body}"
    );
    assert_eq!(
        a.s3_get(&format!("/cas/{}", sha(&late))).await.status(),
        StatusCode::NOT_FOUND,
        "a refused upload is not served from the local tier either"
    );
    let r = a
        .s3_put(
            &format!("/ac/{}", sha(b"late action")),
            action_result(&late, &stdout),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);

    // gRPC, the same composition: UNAVAILABLE for an AC write, NOT_FOUND
    // for an entry only the bucket could vouch for.
    use reapi_proto::action_cache_client::ActionCacheClient;
    let mut ac_a = ActionCacheClient::new(crate::grpc_reapi::channel(&a).await);
    let e = ac_a
        .update_action_result(reapi_proto::UpdateActionResultRequest {
            action_digest: Some(crate::grpc_reapi::digest(b"late grpc action")),
            action_result: Some(
                reapi_proto::ActionResult::decode(action_result(&output, &stdout).as_slice())
                    .unwrap(),
            ),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    let mut ac_b = ActionCacheClient::new(crate::grpc_reapi::channel(&b).await);
    let e = ac_b
        .get_action_result(reapi_proto::GetActionResultRequest {
            action_digest: Some(crate::grpc_reapi::digest(b"built action")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
}

/// The real binary on `disk+s3` is SIGKILLed while a CAS upload is past
/// its first multipart part. Restarted over the same `dir` and bucket, it
/// serves the blob from before, and neither tier has anything under the
/// cut digest.
#[tokio::test]
async fn a_server_killed_mid_upload_leaves_no_partial_blob_in_either_tier() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("bc");
    let credentials = dir.path().join("aws-credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = test\naws_secret_access_key = test-secret\n",
    )
    .unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nformat = \"json\"\nfilter = \"info\"\n\
             [build_cache]\nstore = \"disk+s3\"\ndir = \"{}\"\n\
             [build_cache.s3]\nbucket = \"{BUCKET}\"\nprefix = \"crash\"\n\
             endpoint = \"{}\"\ncredentials_file = \"{}\"\n",
            store.display(),
            moto.endpoint(),
            credentials.display()
        ),
    )
    .unwrap();
    let old = b"a blob from before the crash".to_vec();
    let cut: Vec<u8> = (0..(12u32 << 20)).map(|n| (n % 253) as u8).collect();

    let first = crate::process::start(&config, &[]).await;
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/cas/{}", first.base, sha(&old)))
        .body(old.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // 9 of 12 MiB: past the first 8 MiB part of the multipart upload.
    let addr = first.base.trim_start_matches("http://").to_owned();
    let mut upload = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /cas/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        sha(&cut),
        cut.len()
    );
    use tokio::io::AsyncWriteExt as _;
    upload.write_all(head.as_bytes()).await.unwrap();
    upload.write_all(&cut[..9 << 20]).await.unwrap();
    upload.flush().await.unwrap();
    // The local tier's temporary file grows chunk by chunk beside the
    // shared tier's upload: wait until it is past one part.
    let tmp = store.join("tmp");
    let size_of_tmp = || {
        std::fs::read_dir(&tmp).map_or(0, |d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while size_of_tmp() < (8 << 20) + (512 << 10) {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload did not get past one part"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = first.kill();
    drop(upload);

    let second = crate::process::start(&config, &[]).await;
    let r = client
        .get(format!("{}/cas/{}", second.base, sha(&old)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{log}");
    assert_eq!(r.bytes().await.unwrap().as_ref(), old.as_slice());
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let r = client
            .request(method, format!("{}/cas/{}", second.base, sha(&cut)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    second.stop().await;
}
