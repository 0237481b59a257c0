//! `DiskBuildStore` on a real directory: data survives a reopen, dropped
//! writers leave nothing behind, eviction by least recent access down to
//! the watermark, the index rebuild of many blobs, and flushes that
//! remove the files.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use strata_domain::{
    ActionCache, ContentStore, Digest, DigestHash, DigestPrefix, FlushCriteria, FlushScope,
    InstanceName, ReadRange, StoreKind,
};
use strata_infrastructure::DiskBuildStore;
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

fn open(dir: &Path, clock: &Arc<ManualClock>, max_bytes: u64) -> Arc<DiskBuildStore> {
    DiskBuildStore::builder(dir)
        .max_bytes(max_bytes)
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn put_blob(store: &DiskBuildStore, instance: &InstanceName, data: &[u8]) -> Digest {
    let d = digest_of(data);
    let mut w = ContentStore::begin_write(store, instance, *d.hash(), Some(d.size_bytes()))
        .await
        .unwrap();
    for chunk in data.chunks(7) {
        w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(w.commit().await.unwrap().digest, d);
    d
}

async fn read_all(store: &DiskBuildStore, instance: &InstanceName, d: &Digest) -> Option<Bytes> {
    match store
        .read(instance, d.hash(), ReadRange::FULL)
        .await
        .unwrap()
    {
        Some(r) => Some(r.into_bytes().await.unwrap()),
        None => None,
    }
}

fn tmp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("tmp")).unwrap().count()
}

#[tokio::test]
async fn data_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let a = inst("team-a/linux");
    let key = digest_of(b"action");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (d, big_d) = {
        let s = open(dir.path(), &clock, 1 << 20);
        let d = put_blob(&s, &a, b"hello, disk").await;
        let big_d = put_blob(&s, &a, &big).await;
        ActionCache::put(&*s, &a, *key.hash(), Bytes::from_static(b"result"))
            .await
            .unwrap();
        let path = s.path_of(StoreKind::Cas, &a, d.hash());
        assert!(path.is_file(), "{}", path.display());
        assert!(path.to_string_lossy().contains("@team-a+linux"));
        (d, big_d)
    };
    let s = open(dir.path(), &clock, 1 << 20);
    assert_eq!(read_all(&s, &a, &d).await.unwrap(), &b"hello, disk"[..]);
    assert_eq!(read_all(&s, &a, &big_d).await.unwrap(), &big[..]);
    let part = s
        .read(
            &a,
            big_d.hash(),
            ReadRange {
                offset: 70_000,
                limit: Some(100_000),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(part.len, 100_000);
    assert_eq!(
        part.into_bytes().await.unwrap(),
        &big[70_000..170_000],
        "a range spanning several 64 KiB chunks"
    );
    let entry = ActionCache::get(&*s, &a, key.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.value, &b"result"[..]);
    assert_eq!(
        ContentStore::contains(&*s, &inst("other"), d.hash())
            .await
            .unwrap(),
        None
    );
    let usage = ContentStore::stats(&*s).await.unwrap();
    assert_eq!(usage[0].entries, 2);
    assert_eq!(usage[0].bytes, 11 + 200_000);
}

#[tokio::test]
async fn a_dropped_writer_leaves_no_blob_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let a = inst("");
    let d = digest_of(b"never finished");
    {
        let s = open(dir.path(), &clock, 1 << 20);
        let mut w = s.begin_write(&a, *d.hash(), None).await.unwrap();
        w.write(Bytes::from_static(b"never ")).await.unwrap();
        assert_eq!(
            tmp_files(dir.path()),
            1,
            "the upload is in a temporary file"
        );
        drop(w);
        assert_eq!(tmp_files(dir.path()), 0);
        assert_eq!(
            ContentStore::contains(&*s, &a, d.hash()).await.unwrap(),
            None
        );
        assert!(!s.path_of(StoreKind::Cas, &a, d.hash()).exists());
        // A temporary file left by a crash (simulated by hand).
        std::fs::write(dir.path().join("tmp").join("1-1.tmp"), b"never fin").unwrap();
        // And a file with a name outside the layout.
        std::fs::create_dir_all(dir.path().join("@").join("cas").join("ab")).unwrap();
        std::fs::write(dir.path().join("@/cas/ab/not-a-digest"), b"x").unwrap();
    }
    let s = open(dir.path(), &clock, 1 << 20);
    assert_eq!(
        tmp_files(dir.path()),
        0,
        "stale temporary files go at start-up"
    );
    assert_eq!(
        ContentStore::contains(&*s, &a, d.hash()).await.unwrap(),
        None
    );
    assert_eq!(ContentStore::list(&*s, None).await.unwrap().len(), 0);
}

#[tokio::test]
async fn eviction_drops_the_least_recently_accessed_down_to_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let a = inst("a");
    // Ten 100-byte blobs fill a 1000-byte store.
    let s = open(dir.path(), &clock, 1000);
    let mut digests = Vec::new();
    for i in 0..10u8 {
        digests.push(put_blob(&s, &a, &[i; 100]).await);
        clock.advance(Duration::from_secs(1));
    }
    // Blob 0 is read, so blob 1 is now the least recently accessed.
    assert!(read_all(&s, &a, &digests[0]).await.is_some());
    clock.advance(Duration::from_secs(1));
    let new = put_blob(&s, &a, &[42; 100]).await;
    // Room for 100 more bytes under the 900-byte watermark: 800 bytes
    // stay, so the two least recently accessed go.
    let usage = ContentStore::stats(&*s).await.unwrap();
    assert_eq!(usage[0].bytes, 900);
    for gone in &digests[1..3] {
        assert_eq!(
            ContentStore::contains(&*s, &a, gone.hash()).await.unwrap(),
            None
        );
        assert!(!s.path_of(StoreKind::Cas, &a, gone.hash()).exists());
    }
    for kept in digests[3..].iter().chain([&digests[0], &new]) {
        assert_eq!(
            ContentStore::contains(&*s, &a, kept.hash()).await.unwrap(),
            Some(100)
        );
    }
    // A blob over the whole store is refused.
    let huge = vec![7u8; 1001];
    let hd = digest_of(&huge);
    assert!(
        s.begin_write(&a, *hd.hash(), Some(1001)).await.is_err(),
        "over the limit"
    );
}

#[tokio::test]
async fn the_index_of_many_blobs_is_rebuilt() {
    const N: u32 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let a = inst("many");
    {
        // Files laid out by hand (an fsync per blob through the store
        // would make the test slow, and the rebuild reads only files).
        let s = open(dir.path(), &clock, 1 << 30);
        for i in 0..N {
            let data = i.to_le_bytes();
            let path = s.path_of(StoreKind::Cas, &a, digest_of(&data).hash());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
    }
    let started = Instant::now();
    let s = open(dir.path(), &clock, 1 << 30);
    eprintln!("rebuilt the index of {N} blobs in {:?}", started.elapsed());
    let usage = ContentStore::stats(&*s).await.unwrap();
    assert_eq!(usage[0].entries, u64::from(N));
    assert_eq!(usage[0].bytes, u64::from(N) * 4);
    let d = digest_of(&1234u32.to_le_bytes());
    assert_eq!(
        read_all(&s, &a, &d).await.unwrap(),
        &1234u32.to_le_bytes()[..]
    );
}

#[tokio::test]
async fn every_flush_scope_removes_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let s = open(dir.path(), &clock, 1 << 20);
    let a = inst("a");
    let b = inst("b");
    let mut blobs = Vec::new();
    for i in 0..6u8 {
        let instance = if i % 2 == 0 { &a } else { &b };
        blobs.push((instance.clone(), put_blob(&s, instance, &[i; 10]).await));
    }
    let on_disk = |s: &DiskBuildStore| {
        blobs
            .iter()
            .filter(|(i, d)| s.path_of(StoreKind::Cas, i, d.hash()).exists())
            .count()
    };

    let dry = ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::All).dry_run(true))
        .await
        .unwrap();
    assert_eq!(dry.entries_removed(), 6);
    assert_eq!(on_disk(&s), 6, "a dry run removes nothing");

    let (i0, d0) = &blobs[0];
    let r = ContentStore::flush(
        &*s,
        &FlushCriteria::new(FlushScope::Digests(vec![*d0.hash()])),
    )
    .await
    .unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert!(!s.path_of(StoreKind::Cas, i0, d0.hash()).exists());

    let (i1, d1) = &blobs[1];
    let prefix = DigestPrefix::parse(&d1.hash().to_string()[..6]).unwrap();
    let r = ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::DigestPrefix(prefix)))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert!(!s.path_of(StoreKind::Cas, i1, d1.hash()).exists());
    assert_eq!(on_disk(&s), 4);

    // Blobs 2 and 3 get older; 4 and 5 are read after the clock moves.
    clock.advance(Duration::from_secs(120));
    assert!(read_all(&s, &blobs[4].0, &blobs[4].1).await.is_some());
    assert!(read_all(&s, &blobs[5].0, &blobs[5].1).await.is_some());
    let r = ContentStore::flush(
        &*s,
        &FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(60))),
    )
    .await
    .unwrap();
    assert_eq!(r.entries_removed(), 2);
    assert_eq!(on_disk(&s), 2);

    let r = ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::Instance(a.clone())))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1, "blob 4");
    assert_eq!(on_disk(&s), 1);

    ActionCache::put(&*s, &b, *d0.hash(), Bytes::from_static(b"ac"))
        .await
        .unwrap();
    let r = ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::All))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1, "blob 5");
    assert_eq!(r.bytes_reclaimed(), 10);
    assert_eq!(on_disk(&s), 0);
    let ac_path = s.path_of(StoreKind::Ac, &b, d0.hash());
    assert!(ac_path.exists(), "a CAS flush leaves the AC alone");
    let r = ActionCache::flush(&*s, &FlushCriteria::new(FlushScope::All))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert!(!ac_path.exists());

    // Nothing comes back after a reopen.
    drop(s);
    let s = open(dir.path(), &clock, 1 << 20);
    assert!(ContentStore::list(&*s, None).await.unwrap().is_empty());
    assert!(ActionCache::list(&*s, None).await.unwrap().is_empty());
}

/// Holds the unlinking thread at its `at`-th unlink until released, and
/// says when it got there.
struct UnlinkBarrier {
    reached: std::sync::mpsc::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
    unlinked: Arc<std::sync::atomic::AtomicUsize>,
}

impl UnlinkBarrier {
    fn hook(at: usize) -> (strata_infrastructure::UnlinkHook, Self) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (reached_tx, reached) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(release_rx);
        let unlinked = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&unlinked);
        let hook: strata_infrastructure::UnlinkHook = Arc::new(move |_path: &Path| {
            if count.fetch_add(1, Ordering::SeqCst) + 1 == at {
                reached_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
            }
        });
        (
            hook,
            Self {
                reached,
                release,
                unlinked,
            },
        )
    }

    /// Waits (off the async workers) until the unlinker is held.
    async fn wait_reached(&self) {
        let reached = &self.reached;
        tokio::task::block_in_place(|| reached.recv().unwrap());
    }

    fn unlinked(&self) -> usize {
        self.unlinked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Lays out `n` distinct CAS blobs of `instance` as files (no fsync per
/// blob), returning their digests in order.
fn lay_out(dir: &Path, instance: &InstanceName, n: u32, tag: &str) -> Vec<Digest> {
    let s = DiskBuildStore::builder(dir).build().unwrap();
    (0..n)
        .map(|i| {
            let data = format!("{tag} {i:08}");
            let d = digest_of(data.as_bytes());
            let path = s.path_of(StoreKind::Cas, instance, d.hash());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
            d
        })
        .collect()
}

/// What must complete while an eviction or flush is held mid-unlink:
/// reads, existence checks and an AC get of entries it does not touch, a
/// write and read of a new blob, stats, and a clean miss (never an error)
/// for a victim not yet unlinked.
///
/// The work runs as its own task, and the test thread waits for it with a
/// deadline outside the runtime, so a regression (a read blocking its
/// worker thread on a lock the held unlinker owns) fails the test instead
/// of hanging it: the barrier is then released before the panic.
async fn unrelated_work_completes(
    s: &Arc<DiskBuildStore>,
    barrier: &UnlinkBarrier,
    hot_instance: &InstanceName,
    hot: &[Digest],
    victim: (&InstanceName, &Digest),
) {
    let (s, hot_instance, hot) = (Arc::clone(s), hot_instance.clone(), hot.to_vec());
    let (vi, vd) = (victim.0.clone(), *victim.1);
    let (done_tx, done) = std::sync::mpsc::channel();
    let work = tokio::spawn(async move {
        for d in &hot {
            assert!(
                read_all(&s, &hot_instance, d).await.is_some(),
                "hot blob read"
            );
            assert_eq!(
                ContentStore::contains(&*s, &hot_instance, d.hash())
                    .await
                    .unwrap(),
                Some(d.size_bytes())
            );
        }
        let ac = ActionCache::get(&*s, &hot_instance, hot[0].hash())
            .await
            .unwrap();
        assert_eq!(ac.unwrap().value, &b"action result"[..]);
        let fresh = put_blob(&s, &hot_instance, b"written while an unlink is held").await;
        assert!(read_all(&s, &hot_instance, &fresh).await.is_some());
        ContentStore::stats(&*s).await.unwrap();
        assert!(
            s.read(&vi, vd.hash(), ReadRange::FULL)
                .await
                .unwrap()
                .is_none(),
            "a victim mid-unlink is a clean miss"
        );
        assert_eq!(
            ContentStore::contains(&*s, &vi, vd.hash()).await.unwrap(),
            None
        );
        done_tx.send(()).unwrap();
    });
    let outcome = tokio::task::block_in_place(|| done.recv_timeout(Duration::from_secs(60)));
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = outcome {
        barrier.release.send(()).unwrap();
        panic!("unrelated work did not complete while the unlinker was held");
    }
    // A failed assertion inside the work surfaces here.
    work.await.unwrap();
}

/// An eviction of 10,000 blobs is held at a barrier halfway through its
/// unlinks; reads, writes and stats of other entries complete meanwhile
/// (the barrier is still held when they finish: ordering, not timing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eviction_held_mid_unlink_stalls_no_read() {
    const OLD: u32 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let a = inst("a");
    let old = lay_out(dir.path(), &a, OLD, "old");
    let old_bytes: u64 = old.iter().map(Digest::size_bytes).sum();
    let capacity = 2 * old_bytes;
    let (hook, barrier) = UnlinkBarrier::hook(OLD as usize / 2);
    let s = DiskBuildStore::builder(dir.path())
        .max_bytes(capacity)
        .before_unlink(hook)
        .build()
        .unwrap();
    let mut hot = Vec::new();
    for i in 0..5u8 {
        hot.push(put_blob(&s, &a, &[i; 100]).await);
    }
    ActionCache::put(
        &*s,
        &a,
        *hot[0].hash(),
        Bytes::from_static(b"action result"),
    )
    .await
    .unwrap();
    let held = ContentStore::stats(&*s).await.unwrap()[0].bytes
        + ActionCache::stats(&*s).await.unwrap()[0].bytes;
    // A blob that needs every old blob's room and no more: the eviction
    // target (90 % of capacity less the blob) lands within the last old
    // blob's size above the hot entries' bytes.
    let hot_bytes = held - old_bytes;
    let big_len = capacity / 100 * 90 - hot_bytes - old[0].size_bytes() / 2;
    let big: Vec<u8> = (0..big_len).map(|i| (i % 253) as u8).collect();
    let writer = {
        let s = Arc::clone(&s);
        let a = a.clone();
        tokio::spawn(async move { put_blob(&s, &a, &big).await })
    };
    barrier.wait_reached().await;
    unrelated_work_completes(&s, &barrier, &a, &hot, (&a, &old[OLD as usize - 1])).await;
    assert_eq!(
        barrier.unlinked(),
        OLD as usize / 2,
        "the eviction was still held while the reads ran"
    );
    barrier.release.send(()).unwrap();
    let big_d = writer.await.unwrap();
    assert_eq!(
        barrier.unlinked(),
        OLD as usize,
        "every old blob was evicted"
    );
    for d in &old {
        assert!(!s.path_of(StoreKind::Cas, &a, d.hash()).exists());
    }
    assert!(read_all(&s, &a, &big_d).await.is_some());
    for d in &hot {
        assert!(read_all(&s, &a, d).await.is_some(), "hot blobs stay");
    }
}

/// A flush of 10,000 blobs is held halfway through its unlinks; other
/// instances' reads and writes complete meanwhile, and the flush reports
/// every blob once released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_held_mid_unlink_stalls_no_read() {
    const N: u32 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let doomed = inst("doomed");
    let kept = inst("kept");
    let blobs = lay_out(dir.path(), &doomed, N, "flushed");
    let (hook, barrier) = UnlinkBarrier::hook(N as usize / 2);
    let s = DiskBuildStore::builder(dir.path())
        .before_unlink(hook)
        .build()
        .unwrap();
    let mut hot = Vec::new();
    for i in 0..5u8 {
        hot.push(put_blob(&s, &kept, &[i; 100]).await);
    }
    ActionCache::put(
        &*s,
        &kept,
        *hot[0].hash(),
        Bytes::from_static(b"action result"),
    )
    .await
    .unwrap();
    let flush = {
        let s = Arc::clone(&s);
        let doomed = doomed.clone();
        tokio::spawn(async move {
            ContentStore::flush(&*s, &FlushCriteria::new(FlushScope::Instance(doomed)))
                .await
                .unwrap()
        })
    };
    barrier.wait_reached().await;
    // Whichever blob is unlinked last is still on disk, and a miss.
    let still_there = blobs
        .iter()
        .find(|d| s.path_of(StoreKind::Cas, &doomed, d.hash()).exists())
        .expect("half the blobs are not unlinked yet");
    unrelated_work_completes(&s, &barrier, &kept, &hot, (&doomed, still_there)).await;
    assert_eq!(
        barrier.unlinked(),
        N as usize / 2,
        "the flush was still held"
    );
    barrier.release.send(()).unwrap();
    let report = flush.await.unwrap();
    assert_eq!(report.entries_removed(), u64::from(N));
    for d in &blobs {
        assert!(!s.path_of(StoreKind::Cas, &doomed, d.hash()).exists());
    }
}

/// The start-up rebuild takes each entry's last access from its file, so
/// an age-scoped flush and the eviction order still work after a restart.
#[tokio::test]
async fn last_accesses_survive_a_restart_for_older_than_and_eviction() {
    use std::time::SystemTime;
    let dir = tempfile::tempdir().unwrap();
    let a = inst("a");
    let (ancient, old, recent) = {
        let s = DiskBuildStore::builder(dir.path()).build().unwrap();
        (
            put_blob(&s, &a, &[1; 1000]).await,
            put_blob(&s, &a, &[2; 1000]).await,
            put_blob(&s, &a, &[3; 1000]).await,
        )
    };
    let age = |d: &Digest, secs: u64| {
        let s = DiskBuildStore::builder(dir.path()).build().unwrap();
        let path = s.path_of(StoreKind::Cas, &a, d.hash());
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    };
    age(&ancient, 7200);
    age(&old, 1800);
    let s = DiskBuildStore::builder(dir.path()).build().unwrap();
    let r = ContentStore::flush(
        &*s,
        &FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(3600))),
    )
    .await
    .unwrap();
    assert_eq!(r.entries_removed(), 1, "only the two-hour-old blob");
    assert_eq!(
        ContentStore::contains(&*s, &a, ancient.hash())
            .await
            .unwrap(),
        None
    );
    drop(s);
    // 2,000 bytes in a 2,500-byte store: a new blob evicts the least
    // recently modified first (down to 2,250 - 1,000 bytes).
    let s = DiskBuildStore::builder(dir.path())
        .max_bytes(2500)
        .build()
        .unwrap();
    put_blob(&s, &a, &[4; 1000]).await;
    assert_eq!(
        ContentStore::contains(&*s, &a, old.hash()).await.unwrap(),
        None,
        "the older blob is evicted"
    );
    assert_eq!(
        ContentStore::contains(&*s, &a, recent.hash())
            .await
            .unwrap(),
        Some(1000)
    );
}

/// Issue 33: with `background_rebuild`, the store serves before its index
/// is rebuilt. The rebuild is held at its barrier (after the scan, before
/// the found entries join the index) while reads of files it has not
/// indexed yet get their exact bytes, racing reads of every blob are
/// exact, a file deleted behind the store's back is a clean miss, a
/// rewrite of an unindexed blob is no new blob, a new upload lands, and a
/// flush waits for the end. Released, every blob is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_held_at_its_barrier_serves_and_then_counts_each_blob_once() {
    use std::sync::mpsc;
    const N: u32 = 300;
    let dir = tempfile::tempdir().unwrap();
    let old = inst("old");
    let blobs = lay_out(dir.path(), &old, N, "before the restart");
    let content = |i: usize| format!("before the restart {i:08}").into_bytes();
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let hook: strata_infrastructure::RebuildHook = Arc::new(move |found| {
        reached_tx.send(found).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
    });
    let s = DiskBuildStore::builder(dir.path())
        .background_rebuild(true)
        .rebuild_hook(hook)
        .build()
        .unwrap();
    let found = tokio::task::block_in_place(|| reached.recv().unwrap());
    assert_eq!(found, u64::from(N));
    let progress = s.rebuild().expect("the rebuild is held");
    assert_eq!(progress.files_found, u64::from(N));
    assert_eq!(ContentStore::stats(&*s).await.unwrap()[0].entries, 0);

    // Held: reads look at the files.
    assert_eq!(read_all(&s, &old, &blobs[0]).await.unwrap(), content(0));
    assert_eq!(
        ContentStore::contains(&*s, &old, blobs[1].hash())
            .await
            .unwrap(),
        Some(blobs[1].size_bytes())
    );
    let absent = digest_of(b"never stored");
    assert_eq!(read_all(&s, &old, &absent).await, None);
    let gone = blobs[N as usize - 1];
    std::fs::remove_file(s.path_of(StoreKind::Cas, &old, gone.hash())).unwrap();
    assert_eq!(read_all(&s, &old, &gone).await, None, "a clean miss");
    let again = &blobs[2];
    let mut w = ContentStore::begin_write(&*s, &old, *again.hash(), Some(again.size_bytes()))
        .await
        .unwrap();
    w.write(Bytes::from(content(2))).await.unwrap();
    assert!(!w.commit().await.unwrap().created, "already on disk");
    let new = put_blob(&s, &inst("new"), b"written during the rebuild").await;
    let flush = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let scope = FlushScope::Instance(inst("old"));
            ContentStore::flush(&*s, &FlushCriteria::new(scope))
                .await
                .unwrap()
        })
    };

    // Reads of every blob race the release of the barrier.
    let readers: Vec<_> = (0..N as usize - 1)
        .map(|i| {
            let (s, old, d) = (Arc::clone(&s), old.clone(), blobs[i]);
            tokio::spawn(async move { (i, read_all(&s, &old, &d).await) })
        })
        .collect();
    release.send(()).unwrap();
    for reader in readers {
        let (i, got) = reader.await.unwrap();
        // Exact bytes, or a clean miss once the flush removed it.
        if let Some(got) = got {
            assert_eq!(got, content(i), "blob {i}");
        }
    }
    let s2 = Arc::clone(&s);
    tokio::task::block_in_place(move || s2.wait_rebuilt());
    assert!(s.rebuild().is_none());
    let report = flush.await.unwrap();
    assert_eq!(
        report.entries_removed(),
        u64::from(N),
        "the flush saw every file, not only the indexed ones"
    );
    let usage = ContentStore::stats(&*s).await.unwrap();
    assert_eq!(usage[0].entries, 1, "{usage:?}");
    assert_eq!(usage[0].bytes, new.size_bytes());
    assert_eq!(
        read_all(&s, &inst("new"), &new).await.unwrap(),
        &b"written during the rebuild"[..]
    );
}

/// Without the barrier: a store opened in the background over existing
/// blobs counts each once when the rebuild ends, however many reads
/// adopted files first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_rebuild_counts_what_reads_adopted_once() {
    const N: u32 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let a = inst("a");
    let blobs = lay_out(dir.path(), &a, N, "blob");
    let s = DiskBuildStore::builder(dir.path())
        .background_rebuild(true)
        .build()
        .unwrap();
    for d in blobs.iter().step_by(7) {
        assert!(read_all(&s, &a, d).await.is_some());
    }
    let s2 = Arc::clone(&s);
    tokio::task::block_in_place(move || s2.wait_rebuilt());
    let usage = ContentStore::stats(&*s).await.unwrap();
    assert_eq!(usage[0].entries, u64::from(N));
    assert_eq!(
        usage[0].bytes,
        blobs.iter().map(Digest::size_bytes).sum::<u64>()
    );
}
