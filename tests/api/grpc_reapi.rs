//! The build cache over gRPC: REAPI v2 `Capabilities`, `ActionCache`,
//! `ContentAddressableStorage` and `google.bytestream.ByteStream`, with
//! tonic clients against the real service, and the same blobs over HTTP.

use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::bytestream::byte_stream_client::ByteStreamClient;
use bazel_remote_apis::google::bytestream::{
    QueryWriteStatusRequest, QueryWriteStatusResponse, ReadRequest, WriteRequest, WriteResponse,
};
use prost::Message as _;
use reapi::action_cache_client::ActionCacheClient;
use reapi::capabilities_client::CapabilitiesClient;
use reapi::compressor::Value as Compressor;
use reapi::content_addressable_storage_client::ContentAddressableStorageClient;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use strata::config::{AuthSettings, Settings};
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::helpers::{TestApp, api_key, eventually, spawn_app_with};

const READER: &str = "grpc-reader-0123456789";
const CAS: &str = "grpc-cas-writer-0123456789";
const WRITER: &str = "grpc-writer-0123456789";
const ADMIN: &str = "grpc-admin-0123456789";
const OTHER: &str = "grpc-sessions-0123456789";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn digest(bytes: &[u8]) -> reapi::Digest {
    reapi::Digest {
        hash: sha(bytes),
        size_bytes: bytes.len() as i64,
    }
}

/// `message` with `Authorization: Bearer <key>`.
pub(crate) fn authed<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("ascii"),
    );
    request
}

pub(crate) async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(app.grpc.clone())
        .expect("url")
        .connect()
        .await
        .expect("gRPC connects")
}

/// The REAPI and ByteStream clients of one app, on one channel:
/// Capabilities, CAS, AC and ByteStream.
async fn clients(
    app: &TestApp,
) -> (
    CapabilitiesClient<Channel>,
    ContentAddressableStorageClient<Channel>,
    ActionCacheClient<Channel>,
    ByteStreamClient<Channel>,
) {
    let ch = channel(app).await;
    (
        CapabilitiesClient::new(ch.clone()),
        ContentAddressableStorageClient::new(ch.clone()),
        ActionCacheClient::new(ch.clone()),
        ByteStreamClient::new(ch),
    )
}

/// The app with one key per role on the build cache, and one without.
async fn app_with_roles() -> TestApp {
    let mut settings = Settings::load(None).expect("default settings");
    let mut auth = AuthSettings::default();
    for (id, secret, caches, role) in [
        ("reader", READER, "build-cache", "reader"),
        ("cas", CAS, "build-*", "cas-writer"),
        ("writer", WRITER, "build-*", "writer"),
        ("admin", ADMIN, "*", "admin"),
        ("other", OTHER, "sessions", "admin"),
    ] {
        let key = api_key(secret, &[(caches, role)]);
        auth.api_keys.insert(id.into(), key);
    }
    settings.auth = Some(auth);
    spawn_app_with(settings).await
}

/// An app without credentials (loopback is trusted).
async fn open_app() -> TestApp {
    spawn_app_with(Settings::load(None).expect("default settings")).await
}

fn update(blobs: &[&[u8]]) -> reapi::BatchUpdateBlobsRequest {
    reapi::BatchUpdateBlobsRequest {
        requests: blobs
            .iter()
            .map(|b| reapi::batch_update_blobs_request::Request {
                digest: Some(digest(b)),
                data: b.to_vec(),
                compressor: Compressor::Identity as i32,
            })
            .collect(),
        ..Default::default()
    }
}

fn codes(response: &reapi::BatchUpdateBlobsResponse) -> Vec<i32> {
    response
        .responses
        .iter()
        .map(|r| r.status.as_ref().map_or(-1, |s| s.code))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_and_every_rpc_follow_the_callers_role() {
    let app = app_with_roles().await;
    let (mut caps, mut cas, mut ac, mut bs) = clients(&app).await;

    let none = caps
        .get_capabilities(reapi::GetCapabilitiesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated, "{none:?}");
    let bad = caps
        .get_capabilities(authed(
            reapi::GetCapabilitiesRequest::default(),
            "nope-0123456789",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::Unauthenticated, "{bad:?}");
    let other = caps
        .get_capabilities(authed(reapi::GetCapabilitiesRequest::default(), OTHER))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied, "{other:?}");

    let mut basic = Request::new(reapi::GetCapabilitiesRequest::default());
    basic.metadata_mut().insert(
        "authorization",
        format!("Basic {}", base64_user("bazel", READER))
            .parse()
            .unwrap(),
    );
    let reader = caps.get_capabilities(basic).await.unwrap().into_inner();
    let c = reader.cache_capabilities.expect("cache capabilities");
    assert_eq!(
        c.digest_functions,
        vec![reapi::digest_function::Value::Sha256 as i32]
    );
    assert!(c.supported_compressors.contains(&(Compressor::Zstd as i32)));
    assert!(
        c.supported_batch_update_compressors
            .contains(&(Compressor::Zstd as i32))
    );
    assert!(c.max_batch_total_size_bytes > 0);
    assert!(!c.action_cache_update_capabilities.unwrap().update_enabled);
    assert!(reader.execution_capabilities.is_none());
    for (key, enabled) in [(CAS, false), (WRITER, true), (ADMIN, true)] {
        let c = caps
            .get_capabilities(authed(reapi::GetCapabilitiesRequest::default(), key))
            .await
            .unwrap()
            .into_inner()
            .cache_capabilities
            .unwrap();
        assert_eq!(
            c.action_cache_update_capabilities.unwrap().update_enabled,
            enabled,
            "{key}"
        );
    }

    let blob = b"role blob".as_slice();
    let ar = reapi::ActionResult {
        stdout_digest: Some(digest(blob)),
        ..Default::default()
    };
    let update_ac = |key: &str| {
        authed(
            reapi::UpdateActionResultRequest {
                action_digest: Some(digest(b"role action")),
                action_result: Some(ar.clone()),
                ..Default::default()
            },
            key,
        )
    };
    let write = |key: &str| {
        authed(
            futures_util::stream::iter([WriteRequest {
                resource_name: format!("uploads/{}/blobs/{}/{}", uuid(), sha(blob), blob.len()),
                write_offset: 0,
                finish_write: true,
                data: blob.to_vec(),
            }]),
            key,
        )
    };
    // Readers write nothing.
    for key in [READER, OTHER] {
        let e = cas.batch_update_blobs(authed(update(&[blob]), key)).await;
        assert_eq!(e.unwrap_err().code(), Code::PermissionDenied, "{key}");
        let e = bs.write(write(key)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{key}");
        let e = ac.update_action_result(update_ac(key)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{key}");
    }
    // A cas-writer uploads blobs but writes no AC entry.
    let r = cas
        .batch_update_blobs(authed(update(&[blob]), CAS))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&r), vec![0]);
    let w = bs.write(write(CAS)).await.unwrap().into_inner();
    assert_eq!(w.committed_size, blob.len() as i64);
    let e = ac.update_action_result(update_ac(CAS)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("forbidden"), "{e:?}");
    // A writer does both; a reader reads.
    ac.update_action_result(update_ac(WRITER)).await.unwrap();
    let got = ac
        .get_action_result(authed(
            reapi::GetActionResultRequest {
                action_digest: Some(digest(b"role action")),
                ..Default::default()
            },
            READER,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, ar);
    let missing = cas
        .find_missing_blobs(authed(
            reapi::FindMissingBlobsRequest {
                blob_digests: vec![digest(blob), digest(b"absent")],
                ..Default::default()
            },
            READER,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(missing.missing_blob_digests, vec![digest(b"absent")]);
    let read = read(&mut bs, authed(whole(blob_name(blob)), READER)).await;
    assert_eq!(read.unwrap(), blob);
    let e = cas
        .find_missing_blobs(authed(reapi::FindMissingBlobsRequest::default(), OTHER))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    app.handle.stop(true).await;
}

fn base64_user(user: &str, key: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"))
}

pub(crate) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Every `data` of a read stream, concatenated, or its status.
pub(crate) async fn collect(
    mut stream: tonic::Streaming<bazel_remote_apis::google::bytestream::ReadResponse>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        out.extend_from_slice(&m.data);
    }
    Ok(out)
}

/// `blobs/<sha256>/<size>`: the ByteStream resource of `data` in the
/// default instance.
fn blob_name(data: &[u8]) -> String {
    format!("blobs/{}/{}", sha(data), data.len())
}

/// A fresh `uploads/<uuid>/blobs/<sha256>/<size>` for `data`.
fn upload_name(data: &[u8]) -> String {
    format!("uploads/{}/{}", uuid(), blob_name(data))
}

/// A read of the whole of `resource`.
fn whole(resource: String) -> ReadRequest {
    ReadRequest {
        resource_name: resource,
        ..Default::default()
    }
}

/// `request` read to its end: the bytes, or the status that the call or
/// its stream ended with.
async fn read(
    bs: &mut ByteStreamClient<Channel>,
    request: impl tonic::IntoRequest<ReadRequest>,
) -> Result<Vec<u8>, tonic::Status> {
    collect(bs.read(request).await?.into_inner()).await
}

/// Uploads `data[from..]` to `name` in `chunk`-byte messages, the last
/// finishing the write.
async fn write(
    bs: &mut ByteStreamClient<Channel>,
    name: &str,
    data: &[u8],
    from: usize,
    chunk: usize,
) -> Result<WriteResponse, tonic::Status> {
    let requests = write_requests(name, data, from, chunk, true);
    let response = bs.write(futures_util::stream::iter(requests)).await?;
    Ok(response.into_inner())
}

/// Whether the upload `name` has `size` bytes committed within 10 s.
async fn commits(bs: &ByteStreamClient<Channel>, name: &str, size: usize) -> bool {
    eventually(Duration::from_secs(10), || {
        let mut bs = bs.clone();
        async move {
            write_status(&mut bs, name)
                .await
                .is_ok_and(|s| s.committed_size == size as i64)
        }
    })
    .await
}

/// `QueryWriteStatus` of the upload `name`.
async fn write_status(
    bs: &mut ByteStreamClient<Channel>,
    name: &str,
) -> Result<QueryWriteStatusResponse, tonic::Status> {
    let request = QueryWriteStatusRequest {
        resource_name: name.to_owned(),
    };
    Ok(bs.query_write_status(request).await?.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_cache_checks_completeness_and_inlines_on_request() {
    let app = open_app().await;
    let (_, mut cas, mut ac, _) = clients(&app).await;
    let (stdout, stderr, out) = (
        b"stdout text".as_slice(),
        b"stderr text".as_slice(),
        b"object file".as_slice(),
    );
    let r = cas
        .batch_update_blobs(reapi::BatchUpdateBlobsRequest {
            instance_name: "team-a".into(),
            ..update(&[stdout, stderr, out])
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&r), vec![0, 0, 0]);
    let ar = reapi::ActionResult {
        output_files: vec![
            reapi::OutputFile {
                path: "out/a.o".into(),
                digest: Some(digest(out)),
                ..Default::default()
            },
            reapi::OutputFile {
                path: "out/b.o".into(),
                digest: Some(digest(out)),
                ..Default::default()
            },
        ],
        stdout_digest: Some(digest(stdout)),
        stderr_digest: Some(digest(stderr)),
        exit_code: 0,
        ..Default::default()
    };
    let action = digest(b"compile a.c");
    let stored = ac
        .update_action_result(reapi::UpdateActionResultRequest {
            instance_name: "team-a".into(),
            action_digest: Some(action.clone()),
            action_result: Some(ar.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, ar);
    let get = |inline: bool, files: Vec<String>, instance: &str| reapi::GetActionResultRequest {
        instance_name: instance.into(),
        action_digest: Some(action.clone()),
        inline_stdout: inline,
        inline_stderr: inline,
        inline_output_files: files,
        ..Default::default()
    };
    let plain = ac
        .get_action_result(get(false, vec![], "team-a"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plain, ar);
    let inlined = ac
        .get_action_result(get(true, vec!["out/b.o".into()], "team-a"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inlined.stdout_raw, stdout);
    assert_eq!(inlined.stderr_raw, stderr);
    assert!(inlined.output_files[0].contents.is_empty());
    assert_eq!(inlined.output_files[1].contents, out);
    // Another instance has no such entry.
    let e = ac
        .get_action_result(get(false, vec![], ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // An entry whose blob is missing is a miss.
    let dangling = reapi::ActionResult {
        stdout_digest: Some(digest(b"never uploaded")),
        ..Default::default()
    };
    ac.update_action_result(reapi::UpdateActionResultRequest {
        action_digest: Some(digest(b"dangling")),
        action_result: Some(dangling),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = ac
        .get_action_result(reapi::GetActionResultRequest {
            action_digest: Some(digest(b"dangling")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    // Bad input names its field.
    for (request, field) in [
        (
            reapi::GetActionResultRequest {
                action_digest: Some(reapi::Digest {
                    hash: "abc".into(),
                    size_bytes: 1,
                }),
                ..Default::default()
            },
            "action_digest",
        ),
        (
            reapi::GetActionResultRequest {
                action_digest: None,
                ..Default::default()
            },
            "action_digest",
        ),
        (
            reapi::GetActionResultRequest {
                instance_name: "a//b".into(),
                action_digest: Some(action.clone()),
                ..Default::default()
            },
            "instance_name",
        ),
        (
            reapi::GetActionResultRequest {
                action_digest: Some(action.clone()),
                digest_function: reapi::digest_function::Value::Sha1 as i32,
                ..Default::default()
            },
            "digest_function",
        ),
    ] {
        let e = ac.get_action_result(request).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(field), "{e:?}");
    }
    let e = ac
        .update_action_result(reapi::UpdateActionResultRequest {
            action_digest: Some(action.clone()),
            action_result: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    app.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_batches_give_each_blob_its_status_and_speak_zstd() {
    let app = open_app().await;
    let (mut capabilities, mut cas, _, _) = clients(&app).await;
    let good = b"good blob".as_slice();
    let text = "compressible ".repeat(1000).into_bytes();
    let mut request = update(&[good]);
    // A digest mismatch, then a wrong size: those two blobs only fail.
    request
        .requests
        .push(reapi::batch_update_blobs_request::Request {
            digest: Some(digest(b"something else")),
            data: b"not that".to_vec(),
            compressor: 0,
        });
    request
        .requests
        .push(reapi::batch_update_blobs_request::Request {
            digest: Some(reapi::Digest {
                hash: sha(b"sized"),
                size_bytes: 99,
            }),
            data: b"sized".to_vec(),
            compressor: 0,
        });
    request
        .requests
        .push(reapi::batch_update_blobs_request::Request {
            digest: Some(digest(&text)),
            data: zstd::bulk::compress(&text, 3).unwrap(),
            compressor: Compressor::Zstd as i32,
        });
    let r = cas.batch_update_blobs(request).await.unwrap().into_inner();
    let arg = Code::InvalidArgument as i32;
    assert_eq!(codes(&r), vec![0, arg, arg, 0], "{r:?}");
    assert!(
        r.responses[1]
            .status
            .as_ref()
            .unwrap()
            .message
            .contains("digest"),
        "{r:?}"
    );
    let missing = cas
        .find_missing_blobs(reapi::FindMissingBlobsRequest {
            blob_digests: vec![digest(good), digest(b"not that"), digest(&text)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(missing.missing_blob_digests, vec![digest(b"not that")]);

    let read = |compressors: Vec<i32>| reapi::BatchReadBlobsRequest {
        digests: vec![digest(good), digest(b"absent"), digest(&text)],
        acceptable_compressors: compressors,
        ..Default::default()
    };
    let r = cas
        .batch_read_blobs(read(vec![]))
        .await
        .unwrap()
        .into_inner();
    let status: Vec<i32> = r
        .responses
        .iter()
        .map(|x| x.status.as_ref().unwrap().code)
        .collect();
    assert_eq!(status, vec![0, Code::NotFound as i32, 0]);
    assert_eq!(r.responses[0].data, good);
    assert_eq!(r.responses[2].data, text);
    let r = cas
        .batch_read_blobs(read(vec![Compressor::Zstd as i32]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.responses[2].compressor, Compressor::Zstd as i32);
    assert!(r.responses[2].data.len() < text.len());
    assert_eq!(
        zstd::decode_all(r.responses[2].data.as_slice()).unwrap(),
        text
    );

    // Over max_batch_total_size_bytes: the whole call is refused.
    let caps = capabilities
        .get_capabilities(reapi::GetCapabilitiesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cache_capabilities
        .unwrap();
    let half = vec![7u8; (caps.max_batch_total_size_bytes / 2 + 1) as usize];
    let mut other = half.clone();
    other[0] = 8;
    let e = cas
        .batch_update_blobs(update(&[&half, &other]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("max_batch_total_size_bytes"), "{e:?}");
    let e = cas
        .batch_read_blobs(reapi::BatchReadBlobsRequest {
            digests: vec![digest(&half), digest(&other)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    app.handle.stop(true).await;
}

fn write_requests(
    name: &str,
    data: &[u8],
    from: usize,
    chunk: usize,
    finish: bool,
) -> Vec<WriteRequest> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < data.len() {
        let end = (offset + chunk).min(data.len());
        out.push(WriteRequest {
            resource_name: if out.is_empty() {
                name.to_owned()
            } else {
                String::new()
            },
            write_offset: offset as i64,
            finish_write: finish && end == data.len(),
            data: data[offset..end].to_vec(),
        });
        offset = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytestream_reads_windows_and_verifies_writes() {
    let app = open_app().await;
    let (_, mut cas, _, mut bs) = clients(&app).await;
    let blob: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    let name = format!("ci/{}", upload_name(&blob));
    let w = write(&mut bs, &name, &blob, 0, 64 << 10).await.unwrap();
    assert_eq!(w.committed_size, blob.len() as i64);
    let resource = format!("ci/{}", blob_name(&blob));
    let window = |offset: i64, limit: i64| ReadRequest {
        resource_name: resource.clone(),
        read_offset: offset,
        read_limit: limit,
    };
    let len = blob.len() as i64;
    for (offset, limit, want) in [
        (0, 0, &blob[..]),
        (1000, 5000, &blob[1000..6000]),
        (len - 10, 0, &blob[blob.len() - 10..]),
    ] {
        let got = read(&mut bs, window(offset, limit)).await.unwrap();
        assert_eq!(got, want, "offset {offset} limit {limit}");
    }
    for (request, code) in [
        (window(len + 1, 0), Code::OutOfRange),
        (window(-1, 0), Code::InvalidArgument),
        (whole(format!("ci/blobs/{}/3", sha(b"abc"))), Code::NotFound),
        // The default instance has no such blob.
        (whole(blob_name(&blob)), Code::NotFound),
    ] {
        let what = format!("{request:?}");
        let e = read(&mut bs, request).await.unwrap_err();
        assert_eq!(e.code(), code, "{what}: {e:?}");
    }

    // zstd both ways: a compressed upload, read back plain and compressed.
    let text = "a line of a build log\n".repeat(20_000).into_bytes();
    let packed = zstd::bulk::compress(&text, 3).unwrap();
    let zstd_name = || {
        let (hash, size) = (sha(&text), text.len());
        format!("uploads/{}/compressed-blobs/zstd/{hash}/{size}", uuid())
    };
    let w = write(&mut bs, &zstd_name(), &packed, 0, 1000)
        .await
        .unwrap();
    assert_eq!(w.committed_size, packed.len() as i64);
    let plain = read(&mut bs, whole(blob_name(&text))).await.unwrap();
    assert_eq!(plain, text);
    let compressed = format!("compressed-blobs/zstd/{}/{}", sha(&text), text.len());
    let compressed = read(&mut bs, whole(compressed)).await.unwrap();
    assert!(compressed.len() < text.len() / 10);
    assert_eq!(zstd::decode_all(compressed.as_slice()).unwrap(), text);
    // Writing a blob that exists ends at once with its full size (-1 compressed).
    let w = write(&mut bs, &upload_name(&text), &text, 0, 1 << 20).await;
    assert_eq!(w.unwrap().committed_size, text.len() as i64);
    let w = write(&mut bs, &zstd_name(), &packed, 0, 1 << 20).await;
    assert_eq!(w.unwrap().committed_size, -1);

    // A digest mismatch and a wrong size store nothing.
    let data = b"what was sent".to_vec();
    let lie = digest(b"what was promised");
    let name = format!("uploads/{}/blobs/{}/{}", uuid(), lie.hash, data.len());
    let e = write(&mut bs, &name, &data, 0, 4).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("digest"), "{e:?}");
    for size in [data.len() - 1, data.len() + 1] {
        let name = format!("uploads/{}/blobs/{}/{}", uuid(), sha(&data), size);
        let e = write(&mut bs, &name, &data, 0, 4).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{size}: {e:?}");
    }
    let missing = cas
        .find_missing_blobs(reapi::FindMissingBlobsRequest {
            blob_digests: vec![digest(&data), lie],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(missing.missing_blob_digests.len(), 2);
    // Bad resource names.
    for bad in ["", "blobs/abc/3", "uploads/x/blobs/abc/3"] {
        let e = write(&mut bs, bad, &data, 0, 64).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad}");
    }
    app.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_write_resumes_at_the_committed_offset() {
    let app = open_app().await;
    let (_, _, _, mut bs) = clients(&app).await;
    let blob: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let half = blob.len() / 2;
    let name = upload_name(&blob);
    let e = write_status(&mut bs, &name).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Half the data, then the call is dropped: the stream breaks.
    let (call, tx) = write_half(&bs, &name, &blob[..half]).await;
    call.abort();
    let _ = call.await;
    drop(tx);

    let status = write_status(&mut bs, &name).await.unwrap();
    assert_eq!(status.committed_size, half as i64);
    assert!(!status.complete);
    // A wrong offset is refused; the committed one continues.
    let e = write(&mut bs, &name, &blob, half + 1, 100_000).await;
    let e = e.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let w = write(&mut bs, &name, &blob, half, 100_000).await.unwrap();
    assert_eq!(w.committed_size, blob.len() as i64);
    let status = write_status(&mut bs, &name).await.unwrap();
    assert!(status.complete);
    assert_eq!(status.committed_size, blob.len() as i64);
    assert_eq!(read(&mut bs, whole(blob_name(&blob))).await.unwrap(), blob);
    app.handle.stop(true).await;
}

/// A `Write` of `name` left open after `first` (in 100,000-byte
/// messages) is committed: the call, and the sender of the rest.
async fn write_half(
    bs: &ByteStreamClient<Channel>,
    name: &str,
    first: &[u8],
) -> (
    tokio::task::JoinHandle<Result<tonic::Response<WriteResponse>, tonic::Status>>,
    tokio::sync::mpsc::Sender<WriteRequest>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<WriteRequest>(16);
    let mut client = bs.clone();
    let call = tokio::spawn(async move { client.write(tokio_stream_from(rx)).await });
    for request in write_requests(name, first, 0, 100_000, false) {
        tx.send(request).await.unwrap();
    }
    let committed = commits(bs, name, first.len()).await;
    assert!(committed, "the first half was not committed");
    (call, tx)
}

/// The receiver as a stream of requests.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<WriteRequest>,
) -> impl futures_util::Stream<Item = WriteRequest> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_and_action_results_cross_between_grpc_and_http() {
    let app = open_app().await;
    let (_, mut cas, mut ac, mut bs) = clients(&app).await;

    // gRPC writes, HTTP reads.
    let blob = b"written over grpc".as_slice();
    let r = cas
        .batch_update_blobs(update(&[blob]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&r), vec![0]);
    let ar = reapi::ActionResult {
        stdout_digest: Some(digest(blob)),
        exit_code: 0,
        ..Default::default()
    };
    ac.update_action_result(reapi::UpdateActionResultRequest {
        instance_name: "x".into(),
        action_digest: Some(digest(b"grpc action")),
        action_result: Some(ar.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = app
        .client
        .get(app.url(&format!("/cas/{}", sha(blob))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), blob);
    // The AC entry was written to instance `x`, with its blob in the default one.
    let r = cas
        .batch_update_blobs(reapi::BatchUpdateBlobsRequest {
            instance_name: "x".into(),
            ..update(&[blob])
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&r), vec![0]);
    let r = app
        .client
        .get(app.url(&format!("/x/ac/{}", sha(b"grpc action"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        reapi::ActionResult::decode(r.bytes().await.unwrap()).unwrap(),
        ar
    );

    // HTTP writes, gRPC reads.
    let blob2 = b"written over http".to_vec();
    let r = app
        .client
        .put(app.url(&format!("/cas/{}", sha(&blob2))))
        .body(blob2.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ar2 = reapi::ActionResult {
        stdout_digest: Some(digest(&blob2)),
        exit_code: 1,
        ..Default::default()
    };
    let r = app
        .client
        .put(app.url(&format!("/ac/{}", sha(b"http action"))))
        .body(ar2.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let got = read(&mut bs, whole(blob_name(&blob2))).await.unwrap();
    assert_eq!(got, blob2);
    let got = ac
        .get_action_result(reapi::GetActionResultRequest {
            action_digest: Some(digest(b"http action")),
            inline_stdout: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.exit_code, 1);
    assert_eq!(got.stdout_raw, blob2);

    // An HTTP flush of the CAS is seen over gRPC.
    let r = app
        .post_json(
            "/admin/v1/cache/cas/flush",
            serde_json::json!({"scope": "all"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let missing = cas
        .find_missing_blobs(reapi::FindMissingBlobsRequest {
            blob_digests: vec![digest(&blob2)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(missing.missing_blob_digests, vec![digest(&blob2)]);
    let e = ac
        .get_action_result(reapi::GetActionResultRequest {
            action_digest: Some(digest(b"http action")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::NotFound,
        "the AC entry's blob is gone: a miss"
    );

    app.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_tree_walks_breadth_first_in_pages() {
    let app = open_app().await;
    let (_, mut cas, _, _) = clients(&app).await;
    let dir = |name: &str, children: &[(&str, &reapi::Directory)]| reapi::Directory {
        files: vec![reapi::FileNode {
            name: format!("{name}.txt"),
            digest: Some(digest(name.as_bytes())),
            ..Default::default()
        }],
        directories: children
            .iter()
            .map(|(n, d)| reapi::DirectoryNode {
                name: (*n).into(),
                digest: Some(digest(&d.encode_to_vec())),
            })
            .collect(),
        ..Default::default()
    };
    let c = dir("c", &[]);
    let missing = dir("never-uploaded", &[]);
    let a = dir("a", &[("c", &c)]);
    let b = dir("b", &[("c", &c), ("gone", &missing)]);
    let root = dir("root", &[("a", &a), ("b", &b)]);
    let blobs: Vec<Vec<u8>> = [&root, &a, &b, &c]
        .iter()
        .map(|d| d.encode_to_vec())
        .collect();
    let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    let r = cas
        .batch_update_blobs(update(&refs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&r), vec![0; 4]);

    let tree = |page_size: i32, page_token: String| reapi::GetTreeRequest {
        root_digest: Some(digest(&blobs[0])),
        page_size,
        page_token,
        ..Default::default()
    };
    let mut all = Vec::new();
    let mut stream = cas
        .get_tree(tree(0, String::new()))
        .await
        .unwrap()
        .into_inner();
    while let Some(m) = stream.message().await.unwrap() {
        assert!(m.next_page_token.is_empty());
        all.extend(m.directories);
    }
    assert_eq!(all, vec![root.clone(), a.clone(), b.clone(), c.clone()]);

    let mut paged = Vec::new();
    let mut token = String::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let mut stream = cas
            .get_tree(tree(3, token.clone()))
            .await
            .unwrap()
            .into_inner();
        let mut next = String::new();
        while let Some(m) = stream.message().await.unwrap() {
            paged.extend(m.directories);
            next = m.next_page_token;
        }
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(calls, 2);
    assert_eq!(paged, all);

    let e = match cas
        .get_tree(reapi::GetTreeRequest {
            root_digest: Some(digest(b"no such root")),
            ..Default::default()
        })
        .await
    {
        Ok(s) => s.into_inner().message().await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(e.code(), Code::NotFound);
    app.handle.stop(true).await;
}

/// `strata_build_cache_requests_total{kind,op,result}` as `/metrics`
/// shows it now (0 when absent).
async fn requests_total(app: &TestApp, kind: &str, op: &str, result: &str) -> u64 {
    let metrics = app.get_text("/metrics").await;
    let line = format!(
        "strata_build_cache_requests_total{{kind=\"{kind}\",op=\"{op}\",result=\"{result}\"}} "
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// gRPC calls are counted in the build-cache request metrics, blob by
/// blob, as HTTP requests are. The recorder is shared by every app of
/// this test process, so the checks are on increases of at least N
/// (other tests add a handful at most, never hundreds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_counted_beside_http_requests() {
    const N: usize = 300;
    let app = open_app().await;
    let (_, mut cas, mut ac, mut bs) = clients(&app).await;
    let blobs: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("counted blob {i} {}", uuid()).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    let total = async |kind, op, result| requests_total(&app, kind, op, result).await;

    let before = total("cas", "put", "created").await;
    cas.batch_update_blobs(update(&refs)).await.unwrap();
    assert!(total("cas", "put", "created").await >= before + N as u64);
    let before = total("cas", "put", "exists").await;
    cas.batch_update_blobs(update(&refs)).await.unwrap();
    assert!(total("cas", "put", "exists").await >= before + N as u64);

    let absent: Vec<reapi::Digest> = (0..N)
        .map(|i| digest(format!("absent {i} {}", uuid()).as_bytes()))
        .collect();
    let present_and_absent: Vec<reapi::Digest> = refs
        .iter()
        .map(|b| digest(b))
        .chain(absent.clone())
        .collect();
    // The hit and miss counters of `kind`'s `op`, and a check that both
    // grew by at least `n` since `before`.
    let hits_misses = async |kind: &'static str, op: &'static str| {
        (total(kind, op, "hit").await, total(kind, op, "miss").await)
    };
    let assert_grew = async |kind: &'static str, op: &'static str, before: (u64, u64), n: usize| {
        let (hit, miss) = hits_misses(kind, op).await;
        assert!(hit >= before.0 + n as u64, "{kind} {op} hits");
        assert!(miss >= before.1 + n as u64, "{kind} {op} misses");
    };

    let before = hits_misses("cas", "head").await;
    cas.find_missing_blobs(reapi::FindMissingBlobsRequest {
        blob_digests: present_and_absent.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_grew("cas", "head", before, N).await;

    let before = hits_misses("cas", "get").await;
    cas.batch_read_blobs(reapi::BatchReadBlobsRequest {
        digests: present_and_absent,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_grew("cas", "get", before, N).await;

    let before = hits_misses("cas", "get").await;
    for (blob, gone) in refs.iter().zip(&absent).take(N / 3) {
        let resource = |d: &reapi::Digest| whole(format!("blobs/{}/{}", d.hash, d.size_bytes));
        read(&mut bs, resource(&digest(blob))).await.unwrap();
        let e = bs.read(resource(gone)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
    }
    assert_grew("cas", "get", before, N / 3).await;

    let before = total("cas", "put", "created").await;
    for i in 0..N / 3 {
        let data = format!("streamed blob {i} {}", uuid()).into_bytes();
        write(&mut bs, &upload_name(&data), &data, 0, 1024)
            .await
            .unwrap();
    }
    assert!(total("cas", "put", "created").await >= before + (N / 3) as u64);

    let ok = total("ac", "put", "ok").await;
    let before = hits_misses("ac", "get").await;
    for i in 0..N / 3 {
        let key = digest(format!("counted action {i} {}", uuid()).as_bytes());
        ac.update_action_result(reapi::UpdateActionResultRequest {
            action_digest: Some(key.clone()),
            action_result: Some(reapi::ActionResult::default()),
            ..Default::default()
        })
        .await
        .unwrap();
        let get = |d: reapi::Digest| reapi::GetActionResultRequest {
            action_digest: Some(d),
            ..Default::default()
        };
        ac.get_action_result(get(key)).await.unwrap();
        let gone = digest(format!("absent action {i} {}", uuid()).as_bytes());
        let e = ac.get_action_result(get(gone)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
    }
    assert!(total("ac", "put", "ok").await >= ok + (N / 3) as u64);
    assert_grew("ac", "get", before, N / 3).await;
    app.handle.stop(true).await;
}

/// Graceful shutdown drains gRPC: once the server stops accepting
/// connections, a `Write` already streaming still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_a_write_in_flight() {
    let app = open_app().await;
    let (_, _, _, bs) = clients(&app).await;
    let blob: Vec<u8> = (0..600_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let half = blob.len() / 2;
    let name = upload_name(&blob);
    let (call, tx) = write_half(&bs, &name, &blob[..half]).await;

    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop(true).await });
    let addr = app.grpc.trim_start_matches("http://").to_owned();
    let refused = eventually(Duration::from_secs(10), || {
        let addr = addr.clone();
        async move { tokio::net::TcpStream::connect(addr).await.is_err() }
    })
    .await;
    assert!(refused, "the gRPC listener still accepts after stop");

    for request in write_requests(&name, &blob, half, 100_000, true) {
        tx.send(request).await.unwrap();
    }
    drop(tx);
    let done = call.await.unwrap().expect("the write in flight completes");
    assert_eq!(done.into_inner().committed_size, blob.len() as i64);
    stopping.await.unwrap();
}

/// A zstd read is the same bytes every time (a frame per MiB of the
/// blob), so a read resumed at a compressed offset continues the stream
/// it broke off, and a window of it is a slice of the whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_reads_resume_at_a_compressed_offset() {
    let app = open_app().await;
    let (_, _, _, mut bs) = clients(&app).await;
    let blob: Vec<u8> = (0..120_000)
        .flat_map(|i| format!("line {i} of a build log\n").into_bytes())
        .collect();
    assert!(blob.len() > 2 << 20, "several frames: {}", blob.len());
    let w = write(&mut bs, &upload_name(&blob), &blob, 0, 1 << 20)
        .await
        .unwrap();
    assert_eq!(w.committed_size, blob.len() as i64);
    let resource = format!("compressed-blobs/zstd/{}/{}", sha(&blob), blob.len());
    let window = |offset: usize, limit: usize| ReadRequest {
        resource_name: resource.clone(),
        read_offset: offset as i64,
        read_limit: limit as i64,
    };
    let all = read(&mut bs, window(0, 0)).await.unwrap();
    assert_eq!(zstd::decode_all(all.as_slice()).unwrap(), blob);
    assert_eq!(read(&mut bs, window(0, 0)).await.unwrap(), all, "stable");
    for (offset, limit) in [(1, 0), (1000, 0), (all.len() - 5, 0), (100, 2000), (0, 7)] {
        let got = read(&mut bs, window(offset, limit)).await.unwrap();
        let end = if limit == 0 {
            all.len()
        } else {
            offset + limit
        };
        assert_eq!(got, all[offset..end], "offset {offset} limit {limit}");
    }
    // A read broken off and resumed decodes to the blob.
    let head = read(&mut bs, window(0, all.len() / 3)).await.unwrap();
    let tail = read(&mut bs, window(head.len(), 0)).await.unwrap();
    let joined = [head, tail].concat();
    assert_eq!(zstd::decode_all(joined.as_slice()).unwrap(), blob);
    assert!(
        read(&mut bs, window(all.len(), 0))
            .await
            .unwrap()
            .is_empty()
    );
    let e = read(&mut bs, window(all.len() + 1, 0)).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
}
