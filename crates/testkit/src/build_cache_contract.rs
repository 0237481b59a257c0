//! The build-cache contract suite: every behavioural clause of the
//! [`ActionCache`] and [`ContentStore`] ports, in one call.
//!
//! ```no_run
//! use std::sync::Arc;
//! use strata_testkit::ManualClock;
//! # struct MyStore;
//! # fn my_store(_: Arc<ManualClock>) -> Arc<MyStore> { unimplemented!() }
//! # #[cfg(any())]
//! #[tokio::test]
//! async fn my_store_honours_the_build_cache_contract() {
//!     strata_testkit::build_cache_contract::run_build_cache_contract(|| async {
//!         let clock = Arc::new(ManualClock::default());
//!         (my_store(clock.clone()), clock)
//!     })
//!     .await;
//! }
//! ```
//!
//! The factory returns a fresh, empty store for each clause, with the
//! [`ManualClock`] it stamps accesses with (the `older_than` clause moves
//! it). The store must accept blobs of a few KiB. A failing clause panics
//! with a message starting `[build-cache contract: <clause>]`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use strata_domain::{
    ActionCache, BuildCacheError, ContentStore, Digest, DigestHash, DigestPrefix, FlushCriteria,
    FlushScope, InstanceName, ReadRange,
};

use crate::ManualClock;

/// Runs every clause against stores made by `factory`, one after the other.
///
/// # Panics
/// On the first clause the store breaks, with a message naming it; also
/// when the store fails where the contract expects success.
pub async fn run_build_cache_contract<S, F, Fut>(factory: F)
where
    S: ActionCache + ContentStore,
    F: Fn() -> Fut,
    Fut: Future<Output = (Arc<S>, Arc<ManualClock>)>,
{
    round_trip(&*factory().await.0).await;
    mismatches_store_nothing(&*factory().await.0).await;
    dropped_writer_stores_nothing(&*factory().await.0).await;
    empty_blob_always_exists(&*factory().await.0).await;
    find_missing(&*factory().await.0).await;
    ranged_reads(&*factory().await.0).await;
    flush_scopes(&*factory().await.0).await;
    let (s, clock) = factory().await;
    flush_older_than(&*s, &clock).await;
    instance_isolation(&*factory().await.0).await;
    stats(&*factory().await.0).await;
    action_cache(&*factory().await.0).await;
}

/// The SHA-256 digest of `data`.
pub fn digest_of(data: &[u8]) -> Digest {
    Digest::new(
        DigestHash::from_bytes(Sha256::digest(data).into()),
        data.len() as u64,
    )
}

fn inst(s: &str) -> InstanceName {
    InstanceName::parse(s).expect("a valid instance name")
}

fn blob(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add((i % 251) as u8))
        .collect()
}

async fn put<S: ContentStore + ?Sized>(s: &S, instance: &InstanceName, data: &[u8]) -> Digest {
    let d = digest_of(data);
    let mut w = s
        .begin_write(instance, *d.hash(), Some(d.size_bytes()))
        .await
        .expect("begin_write");
    for chunk in data.chunks(1000) {
        w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
    }
    let c = w.commit().await.expect("commit");
    assert_eq!(
        c.digest, d,
        "[build-cache contract: round trip] committed digest"
    );
    d
}

async fn read<S: ContentStore + ?Sized>(
    s: &S,
    instance: &InstanceName,
    hash: &DigestHash,
    range: ReadRange,
) -> Option<Bytes> {
    match s.read(instance, hash, range).await.expect("read") {
        Some(r) => {
            let len = r.len;
            let bytes = r.into_bytes().await.expect("read body");
            assert_eq!(bytes.len() as u64, len, "[build-cache contract: read] len");
            Some(bytes)
        }
        None => None,
    }
}

async fn round_trip<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let data = blob(1, 5000);
    let d = put(s, &a, &data).await;
    assert_eq!(
        read(s, &a, d.hash(), ReadRange::FULL).await.as_deref(),
        Some(&data[..]),
        "[build-cache contract: round trip]"
    );
    assert_eq!(
        ContentStore::contains(s, &a, d.hash()).await.unwrap(),
        Some(5000),
        "[build-cache contract: round trip] contains"
    );
    let again = digest_of(&data);
    let mut w = s.begin_write(&a, *again.hash(), None).await.unwrap();
    w.write(Bytes::from(data.clone())).await.unwrap();
    let c = w.commit().await.unwrap();
    assert!(
        !c.created,
        "[build-cache contract: round trip] a second upload is not new"
    );
}

async fn mismatches_store_nothing<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let claimed = digest_of(b"the real content");
    let mut w = s.begin_write(&a, *claimed.hash(), None).await.unwrap();
    w.write(Bytes::from_static(b"other content")).await.unwrap();
    assert!(
        matches!(
            w.commit().await,
            Err(BuildCacheError::DigestMismatch { .. })
        ),
        "[build-cache contract: digest mismatch]"
    );
    let mut w = s.begin_write(&a, *claimed.hash(), Some(3)).await.unwrap();
    let res = w.write(Bytes::from_static(b"the real content")).await;
    let res = match res {
        Ok(()) => w.commit().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        matches!(res, Err(BuildCacheError::DigestMismatch { .. })),
        "[build-cache contract: size mismatch] {res:?}"
    );
    assert_eq!(
        ContentStore::contains(s, &a, claimed.hash()).await.unwrap(),
        None,
        "[build-cache contract: mismatches store nothing]"
    );
    assert!(ContentStore::list(s, None).await.unwrap().is_empty());
}

async fn dropped_writer_stores_nothing<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let data = blob(2, 3000);
    let d = digest_of(&data);
    let mut w = s.begin_write(&a, *d.hash(), Some(3000)).await.unwrap();
    w.write(Bytes::copy_from_slice(&data[..1500]))
        .await
        .unwrap();
    drop(w);
    assert_eq!(
        ContentStore::contains(s, &a, d.hash()).await.unwrap(),
        None,
        "[build-cache contract: dropped writer]"
    );
    assert!(
        read(s, &a, d.hash(), ReadRange::FULL).await.is_none(),
        "[build-cache contract: dropped writer] read"
    );
}

async fn empty_blob_always_exists<S: ActionCache + ContentStore>(s: &S) {
    for i in [inst(""), inst("fresh/instance")] {
        assert_eq!(
            ContentStore::contains(s, &i, &DigestHash::EMPTY)
                .await
                .unwrap(),
            Some(0),
            "[build-cache contract: empty blob] contains"
        );
        assert_eq!(
            read(s, &i, &DigestHash::EMPTY, ReadRange::FULL)
                .await
                .as_deref(),
            Some(&b""[..]),
            "[build-cache contract: empty blob] read"
        );
        assert!(
            s.find_missing(&i, &[Digest::EMPTY])
                .await
                .unwrap()
                .is_empty(),
            "[build-cache contract: empty blob] find_missing"
        );
        let w = s.begin_write(&i, DigestHash::EMPTY, Some(0)).await.unwrap();
        let c = w.commit().await.unwrap();
        assert_eq!(c.digest, Digest::EMPTY);
    }
    assert!(
        ContentStore::list(s, None).await.unwrap().is_empty(),
        "[build-cache contract: empty blob] writing it stores nothing"
    );
}

async fn find_missing<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let d1 = put(s, &a, &blob(3, 100)).await;
    let d2 = digest_of(&blob(4, 100));
    let wrong_size = Digest::new(*d1.hash(), 99);
    let missing = s
        .find_missing(&a, &[d2, d1, Digest::EMPTY, wrong_size])
        .await
        .unwrap();
    assert_eq!(
        missing,
        vec![d2, wrong_size],
        "[build-cache contract: find_missing] in order, wrong size is missing"
    );
    assert_eq!(
        s.find_missing(&inst("b"), &[d1]).await.unwrap(),
        vec![d1],
        "[build-cache contract: find_missing] per instance"
    );
}

async fn ranged_reads<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let data = blob(5, 4000);
    let d = put(s, &a, &data).await;
    let r = |offset, limit| ReadRange { offset, limit };
    let cases: [(u64, Option<u64>, &[u8]); 4] = [
        (0, Some(10), &data[..10]),
        (1000, Some(2000), &data[1000..3000]),
        (3990, None, &data[3990..]),
        (4000, None, &[]),
    ];
    for (offset, limit, want) in cases {
        assert_eq!(
            read(s, &a, d.hash(), r(offset, limit)).await.as_deref(),
            Some(want),
            "[build-cache contract: ranged read] offset {offset} limit {limit:?}"
        );
    }
    assert!(
        matches!(
            s.read(&a, d.hash(), r(4001, None)).await,
            Err(BuildCacheError::InvalidRange { .. })
        ),
        "[build-cache contract: ranged read] past the end"
    );
}

async fn flush_scopes<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let b = inst("b");
    let mut blobs = Vec::new();
    for i in 0..6u8 {
        let instance = if i % 2 == 0 { a.clone() } else { b.clone() };
        let d = put(s, &instance, &blob(10 + i, 50)).await;
        blobs.push((instance, d));
    }
    let present = |i: usize| {
        let (inst, d) = &blobs[i];
        async move {
            ContentStore::contains(s, inst, d.hash())
                .await
                .unwrap()
                .is_some()
        }
    };
    let dry = ContentStore::flush(s, &FlushCriteria::new(FlushScope::All).dry_run(true))
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert!(
        dry.entries_removed() >= 6,
        "[build-cache contract: flush dry run] reports"
    );
    for i in 0..6 {
        assert!(
            present(i).await,
            "[build-cache contract: flush dry run] removes nothing"
        );
    }
    let flush = |c: FlushCriteria| async move { ContentStore::flush(s, &c).await.unwrap() };
    let r = flush(FlushCriteria::new(FlushScope::Digests(vec![
        *blobs[0].1.hash(),
    ])))
    .await;
    assert!(
        r.entries_removed() >= 1 && !present(0).await && present(2).await,
        "[build-cache contract: flush digests]"
    );
    let prefix = DigestPrefix::parse(&blobs[1].1.hash().to_string()[..8]).unwrap();
    flush(FlushCriteria::new(FlushScope::DigestPrefix(prefix))).await;
    assert!(
        !present(1).await && present(3).await,
        "[build-cache contract: flush digest_prefix]"
    );
    flush(FlushCriteria::new(FlushScope::All).instance(b.clone())).await;
    assert!(
        !present(3).await && !present(5).await && present(2).await,
        "[build-cache contract: flush all of one instance]"
    );
    flush(FlushCriteria::new(FlushScope::Instance(a.clone()))).await;
    assert!(
        !present(2).await && !present(4).await,
        "[build-cache contract: flush instance]"
    );
    put(s, &a, &blob(20, 50)).await;
    ActionCache::put(s, &a, *blobs[0].1.hash(), Bytes::from_static(b"ac"))
        .await
        .unwrap();
    flush(FlushCriteria::new(FlushScope::All)).await;
    assert!(
        ContentStore::list(s, None).await.unwrap().is_empty(),
        "[build-cache contract: flush all]"
    );
    assert!(
        ActionCache::contains(s, &a, blobs[0].1.hash())
            .await
            .unwrap(),
        "[build-cache contract: flush] a CAS flush leaves the AC alone"
    );
}

async fn flush_older_than<S: ActionCache + ContentStore>(s: &S, clock: &ManualClock) {
    let a = inst("a");
    let old = put(s, &a, &blob(30, 50)).await;
    let read_later = put(s, &a, &blob(31, 50)).await;
    ActionCache::put(s, &a, *old.hash(), Bytes::from_static(b"old"))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(120));
    let fresh = put(s, &a, &blob(32, 50)).await;
    assert!(
        read(s, &a, read_later.hash(), ReadRange::FULL)
            .await
            .is_some()
    );
    let criteria = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(60)));
    let dry = ContentStore::flush(s, &criteria.clone().dry_run(true))
        .await
        .unwrap();
    assert!(dry.entries_removed() >= 1);
    assert!(
        ContentStore::contains(s, &a, old.hash())
            .await
            .unwrap()
            .is_some()
    );
    ContentStore::flush(s, &criteria).await.unwrap();
    assert_eq!(
        ContentStore::contains(s, &a, old.hash()).await.unwrap(),
        None,
        "[build-cache contract: flush older_than] the old blob goes"
    );
    for kept in [read_later, fresh] {
        assert!(
            ContentStore::contains(s, &a, kept.hash())
                .await
                .unwrap()
                .is_some(),
            "[build-cache contract: flush older_than] a fresh or recently read blob stays"
        );
    }
    ActionCache::flush(s, &criteria).await.unwrap();
    assert!(
        !ActionCache::contains(s, &a, old.hash()).await.unwrap(),
        "[build-cache contract: flush older_than] AC"
    );
}

async fn instance_isolation<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("team-a");
    let b = inst("team-a/linux");
    let d = put(s, &a, &blob(40, 64)).await;
    assert_eq!(
        ContentStore::contains(s, &b, d.hash()).await.unwrap(),
        None,
        "[build-cache contract: instance isolation] CAS"
    );
    assert!(read(s, &b, d.hash(), ReadRange::FULL).await.is_none());
    ActionCache::put(s, &a, *d.hash(), Bytes::from_static(b"a"))
        .await
        .unwrap();
    assert!(
        ActionCache::get(s, &b, d.hash()).await.unwrap().is_none(),
        "[build-cache contract: instance isolation] AC"
    );
    assert_eq!(ContentStore::list(s, Some(&b)).await.unwrap().len(), 0);
    assert_eq!(ContentStore::list(s, Some(&a)).await.unwrap().len(), 1);
}

async fn stats<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let d1 = put(s, &a, &blob(50, 100)).await;
    put(s, &a, &blob(51, 200)).await;
    assert!(read(s, &a, d1.hash(), ReadRange::FULL).await.is_some());
    assert!(
        read(s, &a, digest_of(b"absent").hash(), ReadRange::FULL)
            .await
            .is_none()
    );
    let usage = ContentStore::stats(s).await.unwrap();
    assert!(
        !usage.is_empty(),
        "[build-cache contract: stats] one report per tier"
    );
    assert!(
        usage.iter().any(|u| u.entries == 2 && u.bytes == 300),
        "[build-cache contract: stats] entries and bytes: {usage:?}"
    );
    assert!(usage.iter().map(|u| u.hits).sum::<u64>() >= 1, "{usage:?}");
    assert!(
        usage.iter().map(|u| u.misses).sum::<u64>() >= 1,
        "{usage:?}"
    );
}

async fn action_cache<S: ActionCache + ContentStore>(s: &S) {
    let a = inst("a");
    let key = *digest_of(b"an action").hash();
    assert!(ActionCache::get(s, &a, &key).await.unwrap().is_none());
    ActionCache::put(s, &a, key, Bytes::from_static(b"v1"))
        .await
        .unwrap();
    ActionCache::put(s, &a, key, Bytes::from_static(b"v2"))
        .await
        .unwrap();
    let got = ActionCache::get(s, &a, &key).await.unwrap();
    assert_eq!(
        got.map(|e| e.value).as_deref(),
        Some(&b"v2"[..]),
        "[build-cache contract: AC] put replaces"
    );
    assert_eq!(
        s.peek(&a, &key).await.unwrap().as_deref(),
        Some(&b"v2"[..]),
        "[build-cache contract: AC] peek"
    );
    assert!(ActionCache::contains(s, &a, &key).await.unwrap());
    // A streamed read yields the same bytes, whole, and misses alike.
    let hits_before: u64 = ActionCache::stats(s)
        .await
        .unwrap()
        .iter()
        .map(|u| u.hits)
        .sum();
    let big = Bytes::from(blob(9, 200_000));
    let big_key = *digest_of(b"a large action").hash();
    ActionCache::put(s, &a, big_key, big.clone()).await.unwrap();
    let read = s
        .get_streamed(&a, &big_key)
        .await
        .unwrap()
        .expect("[build-cache contract: AC] get_streamed finds a stored entry");
    assert_eq!(
        (read.size_bytes, read.len),
        (200_000, 200_000),
        "[build-cache contract: AC] get_streamed sizes"
    );
    assert_eq!(
        read.into_bytes().await.unwrap(),
        big,
        "[build-cache contract: AC] get_streamed yields the entry"
    );
    let hits_after: u64 = ActionCache::stats(s)
        .await
        .unwrap()
        .iter()
        .map(|u| u.hits)
        .sum();
    assert!(
        hits_after > hits_before,
        "[build-cache contract: AC] get_streamed counts a hit"
    );
    let absent = *digest_of(b"no such action").hash();
    assert!(
        s.get_streamed(&a, &absent).await.unwrap().is_none(),
        "[build-cache contract: AC] get_streamed misses"
    );
    let listed = ActionCache::list(s, Some(&a)).await.unwrap();
    assert_eq!(listed.len(), 2, "[build-cache contract: AC] list");
    let small = listed.iter().find(|m| m.hash == key).expect("listed");
    assert_eq!(small.size_bytes, 2);
    let usage = ActionCache::stats(s).await.unwrap();
    assert!(
        usage.iter().map(|u| u.hits).sum::<u64>() >= 1,
        "[build-cache contract: AC] hits"
    );
    assert!(
        usage.iter().map(|u| u.misses).sum::<u64>() >= 1,
        "[build-cache contract: AC] misses"
    );
}
