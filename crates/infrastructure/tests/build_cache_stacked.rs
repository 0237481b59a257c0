//! `StackedBuildStore` (memory over disk): read-through fills the memory
//! tier up to the promotion limit, writes reach both tiers, and flushes
//! and stats report each tier.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use strata_domain::{
    ActionCache, ContentStore, Digest, DigestHash, FlushCriteria, FlushScope, InstanceName,
    ReadRange,
};
use strata_infrastructure::{DiskBuildStore, MemoryBuildStore, StackedBuildStore};
use strata_testkit::ManualClock;

fn digest_of(data: &[u8]) -> Digest {
    Digest::new(
        DigestHash::from_bytes(Sha256::digest(data).into()),
        data.len() as u64,
    )
}

async fn put<S: ContentStore + ?Sized>(s: &S, i: &InstanceName, data: &[u8]) -> Digest {
    let d = digest_of(data);
    let mut w = s.begin_write(i, *d.hash(), None).await.unwrap();
    w.write(Bytes::copy_from_slice(data)).await.unwrap();
    w.commit().await.unwrap();
    d
}

/// A 1 MiB memory tier and a 1 MiB disk tier under `dir`, on `clock`.
fn tiers(
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
) -> (Arc<MemoryBuildStore>, Arc<DiskBuildStore>) {
    let disk = DiskBuildStore::builder(dir)
        .max_bytes(1 << 20)
        .clock(clock.clone())
        .build()
        .unwrap();
    let memory = MemoryBuildStore::builder()
        .max_bytes(1 << 20)
        .clock(clock.clone())
        .build();
    (memory, disk)
}

#[tokio::test]
async fn tiers_fill_flush_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let (memory, disk) = tiers(dir.path(), &clock);
    let s = StackedBuildStore::new(memory.clone(), disk.clone()).promote_max_bytes(100);
    let i = InstanceName::default();

    // Written through the stack: small in both tiers, large only on disk.
    let small = put(&s, &i, b"small").await;
    let large = put(&s, &i, &[9u8; 500]).await;
    assert_eq!(
        ContentStore::contains(&*memory, &i, small.hash())
            .await
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        ContentStore::contains(&*memory, &i, large.hash())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ContentStore::contains(&*disk, &i, large.hash())
            .await
            .unwrap(),
        Some(500)
    );

    // Written to disk only: a read fills the memory tier.
    let below = put(&*disk, &i, b"below").await;
    let part = s
        .read(
            &i,
            below.hash(),
            ReadRange {
                offset: 1,
                limit: Some(3),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(part.into_bytes().await.unwrap(), &b"elo"[..]);
    assert_eq!(
        ContentStore::contains(&*memory, &i, below.hash())
            .await
            .unwrap(),
        Some(5)
    );
    let whole = s
        .read(&i, large.hash(), ReadRange::FULL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(whole.into_bytes().await.unwrap().len(), 500);
    assert_eq!(
        ContentStore::contains(&*memory, &i, large.hash())
            .await
            .unwrap(),
        None,
        "over the promotion limit"
    );

    // AC: read-through too.
    let key = *digest_of(b"action").hash();
    ActionCache::put(&*disk, &i, key, Bytes::from_static(b"result"))
        .await
        .unwrap();
    assert!(ActionCache::get(&s, &i, &key).await.unwrap().is_some());
    assert!(ActionCache::contains(&*memory, &i, &key).await.unwrap());

    let usage = ContentStore::stats(&s).await.unwrap();
    let names: Vec<&str> = usage.iter().map(|u| u.store.as_str()).collect();
    assert_eq!(names, ["memory", "disk"]);
    assert_eq!(ContentStore::list(&s, None).await.unwrap().len(), 3);

    let r = ContentStore::flush(&s, &FlushCriteria::new(FlushScope::All))
        .await
        .unwrap();
    let per_tier: Vec<(&str, u64)> = r
        .stores
        .iter()
        .map(|t| (t.store.as_str(), t.entries_removed))
        .collect();
    assert_eq!(per_tier, [("memory", 2), ("disk", 3)]);
    assert!(!r.is_partial());
    assert!(ContentStore::list(&s, None).await.unwrap().is_empty());
    assert!(
        !disk
            .path_of(strata_domain::StoreKind::Cas, &i, small.hash())
            .exists()
    );
}

/// A blob the memory tier keeps serving is not old, even though its disk
/// copy saw no access since it was written: an `older_than` flush leaves
/// it in both tiers, and removes (from both) only what neither tier used.
#[tokio::test]
async fn older_than_removes_only_what_is_old_in_both_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let (memory, disk) = tiers(dir.path(), &clock);
    let s = StackedBuildStore::new(memory.clone(), disk.clone()).clock(clock.clone());
    let i = InstanceName::default();
    let hot = put(&s, &i, b"hot blob").await;
    let cold = put(&s, &i, b"cold blob").await;
    clock.advance(std::time::Duration::from_secs(120));
    // Served by the memory tier: the disk copy's access time stays old.
    assert!(
        s.read(&i, hot.hash(), ReadRange::FULL)
            .await
            .unwrap()
            .is_some()
    );

    let criteria = FlushCriteria::new(FlushScope::OlderThan(std::time::Duration::from_secs(60)));
    let dry = ContentStore::flush(&s, &criteria.clone().dry_run(true))
        .await
        .unwrap();
    assert_eq!(
        dry.stores
            .iter()
            .map(|r| r.entries_removed)
            .collect::<Vec<_>>(),
        vec![1, 1],
        "each tier would drop only the cold blob: {dry:?}"
    );
    let result = ContentStore::flush(&s, &criteria).await.unwrap();
    assert_eq!(result.entries_removed(), 2, "{result:?}");
    for tier in [
        ContentStore::contains(&*memory, &i, hot.hash())
            .await
            .unwrap(),
        ContentStore::contains(&*disk, &i, hot.hash())
            .await
            .unwrap(),
    ] {
        assert_eq!(tier, Some(8), "the hot blob stays in both tiers");
    }
    for tier in [
        ContentStore::contains(&*memory, &i, cold.hash())
            .await
            .unwrap(),
        ContentStore::contains(&*disk, &i, cold.hash())
            .await
            .unwrap(),
    ] {
        assert_eq!(tier, None, "the cold blob is gone from both tiers");
    }
}
