//! `FindMissingBlobs` of 10,000 digests against the build cache's
//! object-store tier ([`S3BuildStore`]) on loopback, beside the object
//! store's own `HEAD` rate measured in the same run.
//!
//! A real moto server (`moto_server`, started by the testkit on a free
//! port) holds 5,000 blobs of 64 bytes; the 10,000 digests asked are
//! those 5,000 and 5,000 absent ones, interleaved. Measured, in order:
//!
//! - `head 1-at-a-time`: 2,000 `HEAD`s through `object_store`'s S3
//!   client, one after the other (moto's own rate, no Strata code);
//! - `head 64 in flight`: 10,000 `HEAD`s, 64 at a time (the same
//!   concurrency as the store's default bound);
//! - `find_missing cold`: the store's `find_missing` with an empty
//!   existence cache (every digest is a `HEAD`, at most 64 in flight);
//! - `find_missing warm`: again, with the 5,000 present blobs in the
//!   existence cache (only the 5,000 absent ones are asked: misses are
//!   never cached).
//!
//! Run with (a plain `main`, no harness; moto, not Strata, is the
//! bottleneck, so the dev profile reuses the test build):
//!
//! ```text
//! cargo bench -p strata-infrastructure --bench s3_find_missing --profile dev
//! ```
//!
//! Last results (2026-12-07, 2 cores shared with other jobs, moto's
//! single-process Werkzeug server on Python 3.11, dev profile):
//!
//! | step | requests | seconds | per second |
//! |---|---|---|---|
//! | head 1-at-a-time | 2000 | 10.43 | 192 |
//! | head 64 in flight | 10000 | 54.53 | 183 |
//! | find_missing cold | 10000 | 49.44 | 202 |
//! | find_missing warm | 10000 | 25.61 | 390 |

#![expect(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use strata_domain::{ContentStore, Digest, DigestHash, InstanceName};
use strata_infrastructure::{S3BuildStore, S3Credentials};
use strata_testkit::MotoServer;

const BUCKET: &str = "bench-build-cache";
const PRESENT: usize = 5_000;

fn digest_of(data: &[u8]) -> Digest {
    Digest::new(
        DigestHash::from_bytes(Sha256::digest(data).into()),
        data.len() as u64,
    )
}

fn store(moto: &MotoServer) -> Arc<S3BuildStore> {
    S3BuildStore::builder(BUCKET)
        .endpoint(moto.endpoint())
        .prefix("bench")
        .credentials(S3Credentials {
            access_key_id: "test".into(),
            secret_access_key: SecretString::from("test"),
            session_token: None,
        })
        .build()
        .expect("an S3 client")
}

fn row(step: &str, requests: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for a table")]
    let rate = requests as f64 / secs;
    println!("| {step} | {requests} | {secs:.2} | {rate:.0} |");
}

fn main() {
    let moto = match MotoServer::spawn() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("moto_server is needed: {e}");
            return;
        }
    };
    moto.create_bucket(BUCKET).expect("create the bucket");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let instance = InstanceName::default();
        let blobs: Vec<Vec<u8>> = (0..PRESENT * 2)
            .map(|n| format!("{n:064}").into_bytes())
            .collect();
        let digests: Vec<Digest> = blobs.iter().map(|b| digest_of(b)).collect();
        let loader = store(&moto);
        futures_util::stream::iter(blobs.iter().step_by(2))
            .map(|b| {
                let (loader, instance) = (loader.clone(), instance.clone());
                async move {
                    let d = digest_of(b);
                    let mut w = loader
                        .begin_write(&instance, *d.hash(), Some(d.size_bytes()))
                        .await
                        .expect("begin");
                    w.write(Bytes::copy_from_slice(b)).await.expect("write");
                    w.commit().await.expect("commit");
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;

        let raw = Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(BUCKET)
                .with_region("us-east-1")
                .with_endpoint(moto.endpoint())
                .with_allow_http(true)
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .expect("an S3 client"),
        );
        let path = |d: &Digest| Path::from(format!("bench/cas/!/{}", d.hash()));
        println!("| step | requests | seconds | per second |\n|---|---|---|---|");
        let started = Instant::now();
        for d in &digests[..2_000] {
            let _ = raw.head(&path(d)).await;
        }
        row("head 1-at-a-time", 2_000, started);
        let started = Instant::now();
        futures_util::stream::iter(digests.iter())
            .map(|d| {
                let raw = raw.clone();
                let p = path(d);
                async move {
                    let _ = raw.head(&p).await;
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
        row("head 64 in flight", digests.len(), started);

        let fresh = store(&moto);
        let started = Instant::now();
        let missing = fresh.find_missing(&instance, &digests).await.expect("cold");
        row("find_missing cold", digests.len(), started);
        assert_eq!(missing.len(), PRESENT);
        let started = Instant::now();
        let missing = fresh.find_missing(&instance, &digests).await.expect("warm");
        row("find_missing warm", digests.len(), started);
        assert_eq!(missing.len(), PRESENT);
    });
}
