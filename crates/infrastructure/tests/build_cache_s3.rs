//! The build cache's object-store tier against a real S3-compatible
//! server (moto, started on a free port): the contract suite on
//! `memory+s3` and `disk+s3`, two instances sharing one bucket, the
//! existence cache, AC completeness, an outage of the bucket, and
//! abandoned uploads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use secrecy::SecretString;
use std::time::{Duration, Instant};
use strata_domain::{
    ActionCache, BuildCacheError, ContentStore, Digest, FlushCriteria, FlushScope, InstanceName,
    ReadRange,
};

use strata_infrastructure::{
    AcReferences, DiskBuildStore, FastSlowBuildStore, MemoryBuildStore, RedisConnection,
    RedisOptions, S3AccessIndex, S3BuildStore, S3Credentials,
};
use strata_testkit::build_cache_contract::{digest_of, run_build_cache_contract};
use strata_testkit::{ManualClock, MotoServer, RedisServer, require};

const BUCKET: &str = "strata-build-cache";

fn moto() -> Option<MotoServer> {
    let moto = require(MotoServer::spawn())?;
    moto.create_bucket(BUCKET).expect("create the bucket");
    Some(moto)
}

fn credentials() -> S3Credentials {
    S3Credentials {
        access_key_id: "test".into(),
        secret_access_key: SecretString::from("test"),
        session_token: None,
    }
}

fn s3(moto: &MotoServer, prefix: &str, clock: &Arc<ManualClock>) -> Arc<S3BuildStore> {
    S3BuildStore::builder(BUCKET)
        .endpoint(moto.endpoint())
        .prefix(prefix)
        .credentials(credentials())
        .part_bytes(5 << 20)
        .request_timeout(std::time::Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .expect("an S3 client")
}

fn memory(clock: &Arc<ManualClock>) -> Arc<MemoryBuildStore> {
    MemoryBuildStore::builder()
        .max_bytes(64 << 20)
        .clock(clock.clone())
        .build()
}

/// AC values of these tests: `<hex>:<size>` per line, the blobs an entry
/// references (every instance validates).
fn refs() -> AcReferences {
    Arc::new(|_, value| {
        let text = std::str::from_utf8(value).ok()?;
        Some(
            text.lines()
                .filter_map(|l| {
                    let (h, s) = l.split_once(':')?;
                    Digest::parse(h, s.parse().ok()?).ok()
                })
                .collect(),
        )
    })
}

fn ac_value(digests: &[Digest]) -> Bytes {
    Bytes::from(
        digests
            .iter()
            .map(|d| format!("{}:{}\n", d.hash(), d.size_bytes()))
            .collect::<String>(),
    )
}

type MemS3 = FastSlowBuildStore<MemoryBuildStore, S3BuildStore>;

fn mem_s3(moto: &MotoServer, prefix: &str) -> (Arc<MemS3>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let store = FastSlowBuildStore::new(memory(&clock), s3(moto, prefix, &clock))
        .references(refs())
        .clock(clock.clone());
    (Arc::new(store), clock)
}

async fn put_blob<S: ContentStore + ?Sized>(s: &S, instance: &InstanceName, data: &[u8]) -> Digest {
    let d = digest_of(data);
    let mut w = s
        .begin_write(instance, *d.hash(), Some(d.size_bytes()))
        .await
        .unwrap();
    for chunk in data.chunks(64 << 10) {
        w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    w.commit().await.unwrap();
    d
}

async fn read_blob<S: ContentStore + ?Sized>(
    s: &S,
    instance: &InstanceName,
    d: &Digest,
) -> Option<Bytes> {
    let read = s.read(instance, d.hash(), ReadRange::FULL).await.unwrap()?;
    Some(read.into_bytes().await.unwrap())
}

#[tokio::test]
async fn memory_over_s3_honours_the_build_cache_contract() {
    let Some(moto) = moto() else { return };
    let n = AtomicU32::new(0);
    run_build_cache_contract(|| {
        let (store, clock) = mem_s3(&moto, &format!("mem{}", n.fetch_add(1, Ordering::Relaxed)));
        async move { (store, clock) }
    })
    .await;
}

#[tokio::test]
async fn disk_over_s3_honours_the_build_cache_contract() {
    let Some(moto) = moto() else { return };
    let root = tempfile::tempdir().unwrap();
    let n = AtomicU32::new(0);
    run_build_cache_contract(|| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let clock = Arc::new(ManualClock::starting_now());
        let disk = DiskBuildStore::builder(root.path().join(i.to_string()))
            .max_bytes(64 << 20)
            .clock(clock.clone())
            .build()
            .unwrap();
        let store = FastSlowBuildStore::new(disk, s3(&moto, &format!("disk{i}"), &clock))
            .references(refs())
            .clock(clock.clone());
        async move { (Arc::new(store), clock) }
    })
    .await;
}

/// A uploads a blob and an AC entry; B, with an empty local tier on the
/// same bucket, hits both and fills its local tier as it reads.
#[tokio::test]
async fn a_second_instance_hits_what_the_first_uploaded() {
    let Some(moto) = moto() else { return };
    let (a, _) = mem_s3(&moto, "shared");
    let (b, _) = mem_s3(&moto, "shared");
    let i = InstanceName::parse("team-a").unwrap();
    let data: Vec<u8> = (0..(6 << 20)).map(|n: u32| (n % 251) as u8).collect();
    let big = put_blob(&*a, &i, &data).await;
    let small = put_blob(&*a, &i, b"stdout").await;
    let key = *digest_of(b"action").hash();
    ActionCache::put(&*a, &i, key, ac_value(&[big, small]))
        .await
        .unwrap();

    assert!(b.find_missing(&i, &[big, small]).await.unwrap().is_empty());
    let entry = ActionCache::get(&*b, &i, &key).await.unwrap();
    assert_eq!(entry.map(|e| e.value), Some(ac_value(&[big, small])));
    assert_eq!(read_blob(&*b, &i, &big).await.as_deref(), Some(&data[..]));
    assert_eq!(
        ContentStore::contains(&**b.fast(), &i, big.hash())
            .await
            .unwrap(),
        Some(data.len() as u64),
        "B's local tier was filled by the read"
    );
    assert!(
        ActionCache::contains(&**b.fast(), &i, &key).await.unwrap(),
        "B's local tier holds the AC entry"
    );
}

/// An AC entry reaches the bucket only with its blobs: a blob only the
/// local tier holds is copied up first; one nowhere keeps the entry
/// local; an entry whose blob left the bucket is a miss elsewhere.
#[tokio::test]
async fn ac_entries_in_the_bucket_are_complete() {
    let Some(moto) = moto() else { return };
    let (a, _) = mem_s3(&moto, "complete");
    let (b, _) = mem_s3(&moto, "complete");
    let i = InstanceName::default();
    let local_only = put_blob(&**a.fast(), &i, b"only on A's local tier").await;
    let key1 = *digest_of(b"action 1").hash();
    ActionCache::put(&*a, &i, key1, ac_value(&[local_only]))
        .await
        .unwrap();
    assert_eq!(
        ContentStore::contains(&**a.slow(), &i, local_only.hash())
            .await
            .unwrap(),
        Some(local_only.size_bytes()),
        "the blob was copied up before the entry"
    );
    assert!(ActionCache::get(&*b, &i, &key1).await.unwrap().is_some());

    let nowhere = digest_of(b"never uploaded");
    let key2 = *digest_of(b"action 2").hash();
    ActionCache::put(&*a, &i, key2, ac_value(&[nowhere]))
        .await
        .unwrap();
    assert!(!ActionCache::contains(&**a.slow(), &i, &key2).await.unwrap());
    assert!(ActionCache::get(&*b, &i, &key2).await.unwrap().is_none());

    let gone = put_blob(&*a, &i, b"flushed from the bucket").await;
    let key3 = *digest_of(b"action 3").hash();
    ActionCache::put(&*a, &i, key3, ac_value(&[gone]))
        .await
        .unwrap();
    ContentStore::flush(
        &**a.slow(),
        &FlushCriteria::new(FlushScope::Digests(vec![*gone.hash()])),
    )
    .await
    .unwrap();
    assert!(
        ActionCache::get(&*b, &i, &key3).await.unwrap().is_none(),
        "an entry whose blob left the bucket is never served"
    );
}

/// The existence cache answers for blobs seen present, and any miss drops
/// the entry.
#[tokio::test]
async fn the_existence_cache_forgets_a_blob_at_its_first_miss() {
    let Some(moto) = moto() else { return };
    let clock = Arc::new(ManualClock::starting_now());
    let a = s3(&moto, "exists", &clock);
    let b = s3(&moto, "exists", &clock);
    let i = InstanceName::default();
    let d = put_blob(&*a, &i, b"seen by B").await;
    assert!(b.find_missing(&i, &[d]).await.unwrap().is_empty());
    ContentStore::flush(&*a, &FlushCriteria::new(FlushScope::All))
        .await
        .unwrap();
    assert_eq!(
        ContentStore::contains(&*b, &i, d.hash()).await.unwrap(),
        Some(d.size_bytes()),
        "B still believes in the blob (cached)"
    );
    assert!(read_blob(&*b, &i, &d).await.is_none(), "the read misses");
    assert_eq!(
        ContentStore::contains(&*b, &i, d.hash()).await.unwrap(),
        None,
        "the miss dropped the cache entry"
    );
    assert_eq!(b.find_missing(&i, &[d]).await.unwrap(), vec![d]);
}

/// An upload dropped part-way (a client gone, or the server killed) never
/// leaves an object under the digest, also past one multipart part.
#[tokio::test]
async fn an_abandoned_multipart_upload_stores_nothing() {
    let Some(moto) = moto() else { return };
    let clock = Arc::new(ManualClock::starting_now());
    let store = s3(&moto, "abandoned", &clock);
    let i = InstanceName::default();
    let data: Vec<u8> = (0..(11 << 20)).map(|n: u32| (n % 241) as u8).collect();
    let d = digest_of(&data);
    let mut w = store
        .begin_write(&i, *d.hash(), Some(d.size_bytes()))
        .await
        .unwrap();
    for chunk in data[..(7 << 20)].chunks(1 << 20) {
        w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    drop(w);
    assert_eq!(
        ContentStore::contains(&*store, &i, d.hash()).await.unwrap(),
        None
    );
    assert!(ContentStore::list(&*store, None).await.unwrap().is_empty());
    // A wrong body past one part is refused and stores nothing either.
    let mut w = store.begin_write(&i, *d.hash(), None).await.unwrap();
    for chunk in data.chunks(1 << 20) {
        let mut c = chunk.to_vec();
        c[0] ^= 1;
        w.write(Bytes::from(c)).await.unwrap();
    }
    assert!(matches!(
        w.commit().await,
        Err(BuildCacheError::DigestMismatch { .. })
    ));
    assert!(ContentStore::list(&*store, None).await.unwrap().is_empty());
    assert_eq!(put_blob(&*store, &i, &data).await, d);
    assert_eq!(read_blob(&*store, &i, &d).await.as_deref(), Some(&data[..]));
}

/// With the bucket gone: reads answer from the local tier (a miss there
/// is a miss, not an error), uploads and AC writes fail as unavailable,
/// and no AC entry is served that the bucket could not vouch for.
#[tokio::test]
async fn a_bucket_outage_falls_back_to_the_local_tier() {
    let Some(mut moto) = moto() else { return };
    let (a, _) = mem_s3(&moto, "outage");
    let i = InstanceName::default();
    let local = put_blob(&*a, &i, b"uploaded before the outage").await;
    let key = *digest_of(b"an action").hash();
    ActionCache::put(&*a, &i, key, ac_value(&[local]))
        .await
        .unwrap();
    let (b, _) = mem_s3(&moto, "outage");
    moto.stop();

    assert_eq!(
        read_blob(&*a, &i, &local).await.as_deref(),
        Some(&b"uploaded before the outage"[..])
    );
    assert!(ActionCache::get(&*a, &i, &key).await.unwrap().is_some());
    assert!(ActionCache::get(&*b, &i, &key).await.unwrap().is_none());
    assert!(read_blob(&*b, &i, &local).await.is_none());
    assert_eq!(b.find_missing(&i, &[local]).await.unwrap(), vec![local]);

    let d = digest_of(b"uploaded during the outage");
    let upload = async {
        let mut w = a.begin_write(&i, *d.hash(), Some(d.size_bytes())).await?;
        w.write(Bytes::from_static(b"uploaded during the outage"))
            .await?;
        w.commit().await
    }
    .await;
    assert!(
        matches!(upload, Err(BuildCacheError::Unavailable { .. })),
        "{upload:?}"
    );
    assert_eq!(
        ContentStore::contains(&**a.fast(), &i, d.hash())
            .await
            .unwrap(),
        None
    );
    let ac = ActionCache::put(&*a, &i, *digest_of(b"later").hash(), ac_value(&[local])).await;
    assert!(
        matches!(ac, Err(BuildCacheError::Unavailable { .. })),
        "{ac:?}"
    );
}

/// Two instances fill the bucket past `max_bytes`: the sweeps (one at a
/// time, whichever instance wins the lease) evict least recently used
/// first, across both instances' accesses, and the bytes end below the
/// limit.
#[tokio::test]
async fn eviction_across_instances_goes_lru_first_and_ends_below_the_limit() {
    let Some(moto) = moto() else { return };
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let conn = RedisConnection::connect(&redis.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    let clock = Arc::new(ManualClock::starting_now());
    let max: u64 = 20_000;
    let instance = || {
        S3BuildStore::builder(BUCKET)
            .endpoint(moto.endpoint())
            .prefix("evict")
            .credentials(credentials())
            .clock(clock.clone())
            .eviction(S3AccessIndex::new(conn.clone(), "evict"), max)
            .build()
            .unwrap()
    };
    let (a, b) = (instance(), instance());
    let i = InstanceName::default();
    let blob = |n: u8| vec![n; 1000];
    let mut blobs = Vec::new();
    for n in 0..18u8 {
        let s = if n % 2 == 0 { &a } else { &b };
        blobs.push(put_blob(&**s, &i, &blob(n)).await);
        clock.advance(Duration::from_secs(1));
    }
    // The four oldest are read (on B), so they are the most recent now.
    for d in &blobs[..4] {
        assert!(read_blob(&*b, &i, d).await.is_some());
        clock.advance(Duration::from_secs(1));
    }
    for n in 18..26u8 {
        let s = if n % 2 == 0 { &a } else { &b };
        blobs.push(put_blob(&**s, &i, &blob(n)).await);
        clock.advance(Duration::from_secs(1));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let indexed = a.indexed_bytes().await.unwrap().unwrap();
        if indexed <= max {
            break;
        }
        assert!(Instant::now() < deadline, "still {indexed} bytes indexed");
        a.sweep().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held: u64 = ContentStore::list(&*a, None)
        .await
        .unwrap()
        .iter()
        .map(|m| m.size_bytes)
        .sum();
    assert!(held <= max, "the bucket holds {held} bytes");
    // Least recently used order: 4..18, then the four read, then 18..26.
    let order: Vec<Digest> = blobs[4..18]
        .iter()
        .chain(&blobs[..4])
        .chain(&blobs[18..])
        .copied()
        .collect();
    // A fresh instance: its existence cache has seen nothing.
    let c = instance();
    let mut present = Vec::new();
    for d in &order {
        present.push(
            ContentStore::contains(&*c, &i, d.hash())
                .await
                .unwrap()
                .is_some(),
        );
    }
    let first_kept = present.iter().position(|p| *p).unwrap();
    assert!(first_kept >= 6, "at least 6 blobs went: {present:?}");
    assert!(
        present[first_kept..].iter().all(|p| *p),
        "only the least recently used went: {present:?}"
    );
    for d in &blobs[..4] {
        assert!(
            ContentStore::contains(&*c, &i, d.hash())
                .await
                .unwrap()
                .is_some()
        );
    }
}
