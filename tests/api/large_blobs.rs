//! Issue 33, constant memory: the real binary on the disk store takes a
//! 512 MiB blob over HTTP and another over ByteStream, and serves both
//! back over HTTP and ByteStream, then takes a 512 MiB action-cache entry
//! of an instance that does not validate (as ccache writes) and serves it
//! back over HTTP, while its resident set (`VmHWM`, the peak, read from
//! `/proc/<pid>/status`) rises by less than 64 MiB over
//! what it was before the first byte. Uploads and downloads stream
//! through bounded buffers, hashed as they go; the client streams too,
//! so neither side ever holds a blob.
//!
//! `LARGE_BLOB_MIB=2048 cargo test --test api -- large_blobs --nocapture`
//! runs it with 2 GiB blobs (and `max_blob_bytes` raised to match) and
//! prints the figures `docs/benchmarks.md` quotes.

use bazel_remote_apis::google::bytestream::byte_stream_client::ByteStreamClient;
use bazel_remote_apis::google::bytestream::{ReadRequest, WriteRequest};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

/// Bytes per blob: 512 MiB, or `LARGE_BLOB_MIB` MiB.
fn size() -> u64 {
    std::env::var("LARGE_BLOB_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(512)
        << 20
}
/// Bytes per piece the client sends.
const PIECE: usize = 1 << 20;
/// The most the server's peak resident set may pass its resident set
/// before the transfers.
const LIMIT: u64 = 64 << 20;

/// Piece `i` of blob `seed`: 1 MiB, different for every `(seed, i)`.
fn piece(seed: u8, i: u64) -> Bytes {
    let mut p = vec![seed; PIECE];
    for (n, chunk) in p.chunks_mut(4096).enumerate() {
        chunk[..8].copy_from_slice(&i.to_le_bytes());
        chunk[8..16].copy_from_slice(&(n as u64).to_le_bytes());
    }
    Bytes::from(p)
}

fn pieces(seed: u8) -> impl Iterator<Item = Bytes> {
    (0..size() / PIECE as u64).map(move |i| piece(seed, i))
}

fn hex_sha(seed: u8) -> String {
    let mut h = Sha256::new();
    for p in pieces(seed) {
        h.update(&p);
    }
    hex::encode(h.finalize())
}

/// `VmRSS` and `VmHWM` of `pid`, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_512_mib_blob_moves_through_http_and_bytestream_in_constant_memory() {
    let blob_bytes = size();
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nformat = \"json\"\nfilter = \"info\"\n\
             [build_cache]\nstore = \"disk\"\ndir = \"{}\"\nmax_bytes = {}\n\
             max_blob_bytes = {blob_bytes}\n\
             [build_cache.instances.ccache]\nvalidate_ac = false\n",
            dir.path().join("bc").display(),
            4 * blob_bytes
        ),
    )
    .expect("config");
    let server = crate::process::start(&config, &[]).await;
    let grpc = tonic::transport::Channel::from_shared(server.grpc_base().await)
        .unwrap()
        .connect()
        .await
        .expect("gRPC connects");
    let mut bs = ByteStreamClient::new(grpc).max_decoding_message_size(8 << 20);
    let client = reqwest::Client::new();
    let (http_blob, grpc_blob) = (hex_sha(1), hex_sha(2));

    // Warm up both faces with a small blob, so lazily grown pools and
    // buffers count in the baseline.
    let small = b"warm-up".to_vec();
    let small_sha = hex::encode(Sha256::digest(&small));
    let url = format!("{}/cas/{small_sha}", server.base);
    let r = client.put(&url).body(small.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        small
    );
    let read = ReadRequest {
        resource_name: format!("blobs/{small_sha}/{}", small.len()),
        ..Default::default()
    };
    let mut stream = bs.read(read).await.unwrap().into_inner();
    while stream.next().await.is_some() {}
    let (before, _) = memory(server.pid());

    // HTTP PUT, streamed.
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        pieces(1).map(Ok::<_, std::io::Error>),
    ));
    let r = client
        .put(format!("{}/cas/{http_blob}", server.base))
        .header("content-length", blob_bytes.to_string())
        .body(body)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), StatusCode::CREATED);

    // ByteStream Write, streamed.
    let name = format!(
        "uploads/{}/blobs/{grpc_blob}/{blob_bytes}",
        uuid::Uuid::new_v4()
    );
    let requests = pieces(2).enumerate().map(move |(i, data)| WriteRequest {
        resource_name: if i == 0 { name.clone() } else { String::new() },
        write_offset: (i * PIECE) as i64,
        finish_write: (i + 1) * PIECE == blob_bytes as usize,
        data: data.to_vec(),
    });
    let written = bs
        .write(futures_util::stream::iter(requests))
        .await
        .expect("Write")
        .into_inner();
    assert_eq!(written.committed_size, blob_bytes as i64);

    // Both back over HTTP and ByteStream, hashed as they arrive.
    for blob in [&http_blob, &grpc_blob] {
        let mut h = Sha256::new();
        let mut got = 0u64;
        let r = client
            .get(format!("{}/cas/{blob}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let mut body = r.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.expect("GET body");
            got += chunk.len() as u64;
            h.update(&chunk);
        }
        assert_eq!(
            (got, hex::encode(h.finalize())),
            (blob_bytes, blob.clone()),
            "HTTP GET"
        );

        let mut h = Sha256::new();
        let mut got = 0u64;
        let read = ReadRequest {
            resource_name: format!("blobs/{blob}/{blob_bytes}"),
            ..Default::default()
        };
        let mut stream = bs.read(read).await.expect("Read").into_inner();
        while let Some(message) = stream.next().await {
            let data = message.expect("Read message").data;
            got += data.len() as u64;
            h.update(&data);
        }
        assert_eq!(
            (got, hex::encode(h.finalize())),
            (blob_bytes, blob.clone()),
            "ByteStream Read"
        );
    }

    // An AC entry of the same size for an instance that does not
    // validate (ccache stores whole results under /ac/), streamed to the
    // disk; its file holds exactly the bytes sent.
    let ac_key = hex_sha(3);
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        pieces(3).map(Ok::<_, std::io::Error>),
    ));
    let r = client
        .put(format!("{}/ccache/ac/{ac_key}", server.base))
        .header("content-length", blob_bytes.to_string())
        .body(body)
        .send()
        .await
        .expect("AC PUT");
    assert_eq!(r.status(), StatusCode::OK);
    let file = dir
        .path()
        .join("bc/@ccache/ac")
        .join(&ac_key[..2])
        .join(&ac_key);
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(&file).expect("the AC entry's file");
    let mut buf = vec![0; PIECE];
    let mut copied = 0u64;
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).expect("read the AC entry");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        copied += n as u64;
    }
    assert_eq!(
        (copied, hex::encode(h.finalize())),
        (blob_bytes, ac_key.clone()),
        "AC PUT"
    );
    // And read back whole over HTTP, streamed from its file.
    let r = client
        .get(format!("{}/ccache/ac/{ac_key}", server.base))
        .send()
        .await
        .expect("AC GET");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.content_length(),
        Some(blob_bytes),
        "AC GET Content-Length"
    );
    let (mut h, mut got) = (Sha256::new(), 0u64);
    let mut body = r.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("AC GET body");
        got += chunk.len() as u64;
        h.update(&chunk);
    }
    assert_eq!(
        (got, hex::encode(h.finalize())),
        (blob_bytes, ac_key.clone()),
        "AC GET"
    );

    let (after, peak) = memory(server.pid());
    eprintln!(
        "server RSS before {} MiB, after {} MiB, peak {} MiB",
        before >> 20,
        after >> 20,
        peak >> 20
    );
    assert!(
        peak.saturating_sub(before) < LIMIT,
        "the peak resident set rose by {} MiB (before {} MiB, peak {} MiB)",
        (peak - before) >> 20,
        before >> 20,
        peak >> 20
    );

    // An instance that validates AC entries decodes them whole, so it
    // takes none over 16 MiB, however high `max_blob_bytes` is: a body
    // sent with no length is refused once it passes the bound.
    let over = 16u64 << 20;
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        (0..=over / PIECE as u64).map(|i| Ok::<_, std::io::Error>(piece(4, i))),
    ));
    let r = client
        .put(format!("{}/ac/{}", server.base, hex_sha(4)))
        .body(body)
        .send()
        .await
        .expect("validated AC PUT");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: serde_json::Value = r.json().await.expect("a problem body");
    assert_eq!(problem["code"], "payload_too_large", "{problem}");
    server.stop().await;
}
