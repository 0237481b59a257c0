//! `MemoryBuildStore` against the build-cache ports: round trips, digest
//! verification, the empty blob, instance isolation and flush scopes
//! (with a `ManualClock` for `older_than`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_domain::{
    ActionCache, BuildCacheError, ContentStore, Digest, DigestHash, DigestPrefix, FlushCriteria,
    FlushScope, InstanceName, ReadRange,
};
use strata_infrastructure::MemoryBuildStore;
use strata_testkit::ManualClock;

#[path = "common/build_cache.rs"]
mod common;
use common::*;

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
    let d = put_blob(&*s, &a, b"hello, build cache").await;
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
    assert!(matches!(
        commit_upload(&*s, &a, &d, Some(3), b"abd").await,
        Err(BuildCacheError::DigestMismatch { .. })
    ));
    let mut w = begin(&*s, &a, &d, Some(2)).await;
    assert!(w.write(Bytes::from_static(b"abc")).await.is_err());
    drop(begin(&*s, &a, &d, Some(3)).await);
    assert!(!has_blob(&*s, &a, &d).await);
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
    let old = put_blob(&*s, &a, b"old blob").await;
    clock.advance(Duration::from_secs(100));
    let new = put_blob(&*s, &b, b"new blob!").await;

    let dry = FlushCriteria::new(FlushScope::All).dry_run(true);
    assert_eq!(flush_cas(&*s, &dry).await, (2, 17));
    assert_eq!(ContentStore::stats(&*s).await.unwrap()[0].entries, 2);

    let older = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(50)));
    let r = ContentStore::flush(&*s, &older).await.unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert!(!has_blob(&*s, &a, &old).await);
    assert!(has_blob(&*s, &b, &new).await);

    let prefix = DigestPrefix::parse(&new.hash().to_string()[..3]).unwrap();
    let wrong_instance =
        FlushCriteria::new(FlushScope::DigestPrefix(prefix.clone())).instance(a.clone());
    assert_eq!(flush_cas(&*s, &wrong_instance).await.0, 0);
    let r = ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::DigestPrefix(prefix)))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert_eq!(
        flush_cas(&*s, &FlushCriteria::new(FlushScope::All)).await.0,
        0
    );
}

#[tokio::test]
async fn action_cache_entries_are_kept_apart_from_blobs() {
    let clock = Arc::new(ManualClock::default());
    let s = store(&clock);
    let a = inst("a");
    let key = put_ac(&*s, &a, "action", "result").await;
    assert_eq!(
        &s.get(&a, key.hash()).await.unwrap().unwrap().value[..],
        b"result"
    );
    assert!(s.get(&inst("b"), key.hash()).await.unwrap().is_none());
    assert!(!has_blob(&*s, &a, &key).await);
    let usage = ActionCache::stats(&*s).await.unwrap();
    assert_eq!(
        (usage[0].entries, usage[0].hits, usage[0].misses),
        (1, 1, 1)
    );
    let of_a = FlushCriteria::new(FlushScope::Instance(a.clone()));
    assert_eq!(flush_ac(&*s, &of_a).await.0, 1);
    assert!(!ActionCache::contains(&*s, &a, key.hash()).await.unwrap());
}
