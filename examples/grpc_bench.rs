//! Load generator: CAS reads of the same blobs over HTTP `GET /cas/<hash>`,
//! gRPC `ByteStream.Read` and gRPC `BatchReadBlobs` (one digest a call),
//! against a running Strata (scripts/bench-grpc.sh starts one).
//!
//! ```sh
//! cargo run --release --example grpc_bench -- http://127.0.0.1:8080 http://127.0.0.1:9092
//! ```
//!
//! For each size (1 KiB, 64 KiB, 4 MiB) it uploads one blob, checks every
//! path serves it, then runs `ROUNDS` rounds; each round runs each path
//! for `SECS` seconds with `CONCURRENCY` callers (one HTTP/1.1 keep-alive
//! connection or one HTTP/2 channel each), the paths interleaved so that
//! machine noise hits them alike. It prints the median requests/s of the
//! rounds per path and the ratio to HTTP. `BatchReadBlobs` is skipped for
//! blobs over `max_batch_total_size_bytes`. For profiling, `ONLY_SIZE`
//! (bytes, e.g. `65536`) and `ONLY_PATH` (`http`, `bytestream`, `batch`)
//! narrow the run to one size and one path.

use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use reapi::content_addressable_storage_client::ContentAddressableStorageClient;
use sha2::{Digest as _, Sha256};
// The server's own ByteStream declaration: `data` arrives as `Bytes`,
// as an HTTP client's body does (wire-identical to bazel-remote-apis').
use strata_presentation::grpc::bytestream::pb::ReadRequest;
use strata_presentation::grpc::bytestream::pb::byte_stream_client::ByteStreamClient;
use tonic::transport::Channel;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1 KiB"), (64 << 10, "64 KiB"), (4 << 20, "4 MiB")];
const CONCURRENCY: usize = 8;
const ROUNDS: usize = 3;
/// The largest batch the server accepts (`max_batch_total_size_bytes`).
const MAX_BATCH: usize = (4 << 20) - (64 << 10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Http,
    ByteStream,
    Batch,
}

impl Path {
    fn key(self) -> &'static str {
        match self {
            Path::Http => "http",
            Path::ByteStream => "bytestream",
            Path::Batch => "batch",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Path::Http => "HTTP GET /cas",
            Path::ByteStream => "gRPC ByteStream.Read",
            Path::Batch => "gRPC BatchReadBlobs",
        }
    }
}

struct Target {
    http: String,
    blob: Vec<u8>,
    hash: String,
}

async fn one(
    path: Path,
    t: &Target,
    http: &reqwest::Client,
    ch: &Channel,
) -> anyhow::Result<usize> {
    match path {
        Path::Http => {
            let r = http
                .get(format!("{}/cas/{}", t.http, t.hash))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "HTTP {}", r.status());
            Ok(r.bytes().await?.len())
        }
        Path::ByteStream => {
            let mut client = ByteStreamClient::new(ch.clone()).max_decoding_message_size(8 << 20);
            let mut stream = client
                .read(ReadRequest {
                    resource_name: format!("blobs/{}/{}", t.hash, t.blob.len()),
                    read_offset: 0,
                    read_limit: 0,
                })
                .await?
                .into_inner();
            let mut n = 0;
            while let Some(m) = stream.message().await? {
                n += m.data.len();
            }
            Ok(n)
        }
        Path::Batch => {
            let mut client =
                ContentAddressableStorageClient::new(ch.clone()).max_decoding_message_size(8 << 20);
            let r = client
                .batch_read_blobs(reapi::BatchReadBlobsRequest {
                    digests: vec![reapi::Digest {
                        hash: t.hash.clone(),
                        size_bytes: t.blob.len() as i64,
                    }],
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok(r.responses.iter().map(|x| x.data.len()).sum())
        }
    }
}

/// Requests per second of `path` with `CONCURRENCY` callers for `secs`.
async fn run(path: Path, t: &std::sync::Arc<Target>, grpc: &str, secs: u64) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let t = t.clone();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let ch = channel(grpc).await?;
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let got = one(path, &t, &http, &ch).await?;
                anyhow::ensure!(got == t.blob.len(), "{} returned {got} bytes", path.name());
                n += 1;
            }
            Ok::<u64, anyhow::Error>(n)
        }));
    }
    let started = Instant::now();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// One HTTP/2 channel; `MAX_FRAME` (bytes) sets the SETTINGS_MAX_FRAME_SIZE
/// the client advertises (default: tonic's, 16 KiB, as grpc-java and grpc-go).
async fn channel(url: &str) -> anyhow::Result<Channel> {
    let mut endpoint = Channel::from_shared(url.to_owned())?;
    if let Some(size) = std::env::var("MAX_FRAME")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        endpoint = endpoint.max_frame_size(size);
    }
    Ok(endpoint.connect().await?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest's `rustls-no-provider`: ring, as the server.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let http = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let grpc = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9092".into());
    let secs: u64 = std::env::var("SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let client = reqwest::Client::new();
    #[expect(clippy::print_stdout, reason = "the benchmark's report")]
    {
        println!(
            "| size | path | req/s (median of {ROUNDS}) | MiB/s | vs HTTP |\n| --- | --- | --- | --- | --- |"
        );
    }
    let only_size: Option<usize> = std::env::var("ONLY_SIZE").ok().and_then(|s| s.parse().ok());
    let only_path = std::env::var("ONLY_PATH").ok();
    for (size, label) in SIZES {
        if only_size.is_some_and(|s| s != size) {
            continue;
        }
        let blob: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let hash = hex::encode(Sha256::digest(&blob));
        let r = client
            .put(format!("{http}/cas/{hash}"))
            .body(blob.clone())
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "upload: {}", r.status());
        let t = std::sync::Arc::new(Target {
            http: http.clone(),
            blob,
            hash,
        });
        let mut paths = vec![Path::Http, Path::ByteStream];
        if size <= MAX_BATCH {
            paths.push(Path::Batch);
        }
        if let Some(only) = &only_path {
            paths.retain(|p| p.key() == only);
            anyhow::ensure!(!paths.is_empty(), "ONLY_PATH={only}: no such path");
        }
        // Every path serves the blob before anything is timed.
        let ch = channel(&grpc).await?;
        for p in &paths {
            anyhow::ensure!(
                one(*p, &t, &client, &ch).await? == size,
                "{} check",
                p.name()
            );
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
        for _ in 0..ROUNDS {
            for (i, p) in paths.iter().enumerate() {
                rates[i].push(run(*p, &t, &grpc, secs).await?);
            }
        }
        let http_rate = median(rates[0].clone());
        // (with ONLY_PATH the ratio column compares the path with itself)
        for (i, p) in paths.iter().enumerate() {
            let rate = median(rates[i].clone());
            #[expect(clippy::print_stdout, reason = "the benchmark's report")]
            {
                println!(
                    "| {label} | {} | {rate:.0} | {:.1} | {:.2}x |",
                    p.name(),
                    rate * size as f64 / f64::from(1 << 20),
                    rate / http_rate
                );
            }
        }
    }
    Ok(())
}
