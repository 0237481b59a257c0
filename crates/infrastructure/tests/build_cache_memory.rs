//! `MemoryBuildStore` against the build-cache ports: round trips, digest
//! verification, the empty blob, instance isolation and flush scopes
//! (with a `ManualClock` for `older_than`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use strata_domain::{
    ActionCache, BuildCacheError, ContentStore, Digest, DigestHash, DigestPrefix, FlushCriteria,
    FlushScope, InstanceName, ReadRange,
};
use strata_infrastructure::MemoryBuildStore;
use strata_testkit::ManualClock;

fn digest_of(data: &[u8]) -> Digest {
    Digest::new(
        DigestHash::from_bytes(Sha256::digest(data).into()),
        data.len() as u64,
    )
}

fn inst(s: &str) -> InstanceName {
    InstanceName::parse(s).unwrap()
}

async fn put_blob(
    store: &MemoryBuildStore,
    instance: &InstanceName,
    data: &'static [u8],
) -> Digest {
    let d = digest_of(data);
    let mut w = ContentStore::begin_write(store, instance, *d.hash(), Some(d.size_bytes()))
        .await
        .unwrap();
    for chunk in data.chunks(3) {
        w.write(Bytes::from_static(chunk)).await.unwrap();
    }
    assert_eq!(w.commit().await.unwrap().digest, d);
    d
}

fn store(clock: &Arc<ManualClock>) -> Arc<MemoryBuildStore> {
    MemoryBuildStore::builder()
        .max_bytes(1 << 20)
        .clock(clock.clone())
        .build()
}

#[tokio::test]
async fn blobs_round_trip_with_ranges_and_isolation() {
    let clock = Arc::new(ManualClock::default());
    let s = store(&clock);
    let a = inst("a");
    let d = put_blob(&s, &a, b"hello, build cache").await;
    let read = s
        .read(&a, d.hash(), ReadRange::FULL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.size_bytes, d.size_bytes());
    assert_eq!(&read.into_bytes().await.unwrap()[..], b"hello, build cache");
    let part = s
        .read(
            &a,
            d.hash(),
            ReadRange {
                offset: 7,
                limit: Some(5),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&part.into_bytes().await.unwrap()[..], b"build");
    assert!(matches!(
        s.read(
            &a,
            d.hash(),
            ReadRange {
                offset: 99,
                limit: None
            }
        )
        .await,
        Err(BuildCacheError::InvalidRange { .. })
    ));
    // Another instance does not see it.
    assert!(
        s.read(&inst("b"), d.hash(), ReadRange::FULL)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.find_missing(&inst("b"), &[d, Digest::EMPTY])
            .await
            .unwrap(),
        vec![d]
    );
    assert!(s.find_missing(&a, &[d]).await.unwrap().is_empty());
    // A second upload reports the blob as already there.
    let mut w = ContentStore::begin_write(&*s, &a, *d.hash(), None)
        .await
        .unwrap();
    w.write(Bytes::from_static(b"hello, build cache"))
        .await
        .unwrap();
    assert!(!w.commit().await.unwrap().created);
}

#[tokio::test]
async fn mismatches_store_nothing_and_the_empty_blob_always_exists() {
    let clock = Arc::new(ManualClock::default());
    let s = store(&clock);
    let a = InstanceName::default();
    let d = digest_of(b"abc");
    let mut w = ContentStore::begin_write(&*s, &a, *d.hash(), Some(3))
        .await
        .unwrap();
    w.write(Bytes::from_static(b"abd")).await.unwrap();
    assert!(matches!(
        w.commit().await,
        Err(BuildCacheError::DigestMismatch { .. })
    ));
    let mut w = ContentStore::begin_write(&*s, &a, *d.hash(), Some(2))
        .await
        .unwrap();
    assert!(w.write(Bytes::from_static(b"abc")).await.is_err());
    let w = ContentStore::begin_write(&*s, &a, *d.hash(), Some(3))
        .await
        .unwrap();
    drop(w);
    assert_eq!(
        ContentStore::contains(&*s, &a, d.hash()).await.unwrap(),
        None
    );
    assert_eq!(
        ContentStore::contains(&*s, &a, &DigestHash::EMPTY)
            .await
            .unwrap(),
        Some(0)
    );
    let empty = s
        .read(&a, &DigestHash::EMPTY, ReadRange::FULL)
        .await
        .unwrap()
        .unwrap();
    assert!(empty.into_bytes().await.unwrap().is_empty());
    assert!(matches!(
        ContentStore::begin_write(&*s, &a, *d.hash(), Some(2 << 20)).await,
        Err(BuildCacheError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn flush_scopes_dry_run_and_older_than() {
    let clock = Arc::new(ManualClock::default());
    let s = store(&clock);
    let (a, b) = (inst("a"), inst("b"));
    let old = put_blob(&s, &a, b"old blob").await;
    clock.advance(Duration::from_secs(100));
    let new = put_blob(&s, &b, b"new blob!").await;

    let dry = FlushCriteria::new(FlushScope::All).dry_run(true);
    let r = ContentStore::flush(&*s, &dry).await.unwrap();
    assert_eq!((r.entries_removed(), r.bytes_reclaimed()), (2, 17));
    assert_eq!(ContentStore::stats(&*s).await.unwrap()[0].entries, 2);

    let older = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(50)));
    let r = ContentStore::flush(&*s, &older).await.unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert_eq!(
        ContentStore::contains(&*s, &a, old.hash()).await.unwrap(),
        None
    );
    assert!(
        ContentStore::contains(&*s, &b, new.hash())
            .await
            .unwrap()
            .is_some()
    );

    let prefix = DigestPrefix::parse(&new.hash().to_string()[..3]).unwrap();
    let wrong_instance =
        FlushCriteria::new(FlushScope::DigestPrefix(prefix.clone())).instance(a.clone());
    assert_eq!(
        ContentStore::flush(&*s, &wrong_instance)
            .await
            .unwrap()
            .entries_removed(),
        0
    );
    let r = ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::DigestPrefix(prefix)))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert_eq!(
        ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::All))
            .await
            .unwrap()
            .entries_removed(),
        0
    );
}

#[tokio::test]
async fn action_cache_entries_are_kept_apart_from_blobs() {
    let clock = Arc::new(ManualClock::default());
    let s = store(&clock);
    let a = inst("a");
    let key = digest_of(b"action");
    s.put(&a, *key.hash(), Bytes::from_static(b"result"))
        .await
        .unwrap();
    assert_eq!(
        &s.get(&a, key.hash()).await.unwrap().unwrap().value[..],
        b"result"
    );
    assert!(s.get(&inst("b"), key.hash()).await.unwrap().is_none());
    assert_eq!(
        ContentStore::contains(&*s, &a, key.hash()).await.unwrap(),
        None
    );
    let usage = ActionCache::stats(&*s).await.unwrap();
    assert_eq!(
        (usage[0].entries, usage[0].hits, usage[0].misses),
        (1, 1, 1)
    );
    let r = ActionCache::flush(&*s, &FlushCriteria::new(FlushScope::Instance(a.clone())))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert!(!ActionCache::contains(&*s, &a, key.hash()).await.unwrap());
}
