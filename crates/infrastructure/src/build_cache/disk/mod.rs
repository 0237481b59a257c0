//! [`DiskBuildStore`]: AC and CAS as files in one directory, bounded by bytes.
//!
//! Layout under the store's directory:
//!
//! ```text
//! <dir>/@<instance>/ac/<2 hex>/<64 hex>    AC entries (instance '/' written '+')
//! <dir>/@<instance>/cas/<2 hex>/<64 hex>   CAS blobs, named by their SHA-256
//! <dir>/tmp/<pid>-<n>.tmp                  uploads in progress
//! ```
//!
//! The default (empty) instance is the directory `@`. The store is split
//! by role, as foyer's disk engine is:
//! - `index.rs`: the in-memory index (key -> size, last access), its
//!   recency order (an [`eviction::Lru`](crate::eviction::Lru)) and the
//!   keys with a file operation in flight; plain memory under one mutex.
//! - `eviction.rs`: eviction down to the watermark and flushes: victims
//!   are chosen under the lock, their files unlinked after it.
//! - `recovery.rs`: the start-up rebuild of the index from the files
//!   (last accesses from modification times), in the background: the
//!   store serves meanwhile, a miss of the partial index looks at the
//!   file, and eviction and flushes wait for the end.
//! - `reader.rs` and `writer.rs`: reads, and uploads through fsynced
//!   temporary files renamed to their final name.
//!
//! No lock that an async worker takes is held across a file-system call:
//! the index mutex guards memory only, and every unlink, rename and scan
//! runs with it released, on the blocking pool (or at start-up). So an
//! eviction or flush of many files never stalls a read, a write of another
//! key, or anything else on the worker threads.

mod eviction;
mod index;
mod reader;
mod recovery;
mod writer;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use strata_domain::{
    AcEntry, AcWriter, ActionCache, BlobRead, BlobWriter, BuildCacheError, Clock, ContentStore,
    DigestHash, EntryMeta, FlushCriteria, FlushResult, IndexRebuild, InstanceName, ReadRange,
    StoreKind, StoreUsage,
};

use super::DEFAULT_MAX_BLOB_BYTES;
use super::key::{HitCounters, Key};
use super::verify::Verifier;
use crate::clock::SystemClock;
use crate::eviction::MAX_WEIGHT;
use index::{Index, Meta};
use reader::{Cached, find, open_stream, read_cached, read_small, read_whole};
use writer::{DiskWriter, TmpFile};

const STORE: &str = "disk";

/// Bytes per chunk of a streamed read: 64 KiB.
pub const DISK_READ_CHUNK_BYTES: usize = 64 << 10;

/// When a write would pass `max_bytes`, the least recently accessed
/// entries are evicted until the store holds at most this share of
/// `max_bytes` (plus the new entry): 90 %, so one eviction pass makes
/// room for many writes.
pub const DISK_LOW_WATERMARK_PERCENT: u64 = 90;

/// A function called with the path of each evicted or flushed file just
/// before it is unlinked, on the unlinking (blocking) thread with no lock
/// held. See [`DiskBuildStoreBuilder::before_unlink`].
pub type UnlinkHook = Arc<dyn Fn(&Path) + Send + Sync>;

/// A function called on the index rebuild's thread with the number of
/// files the start-up scan found, after the scan and before its entries
/// join the index. See [`DiskBuildStoreBuilder::rebuild_hook`].
pub type RebuildHook = Arc<dyn Fn(u64) + Send + Sync>;

/// AC entries and CAS blobs as files (see the module docs for the
/// layout), bounded by `max_bytes` with eviction of the least recently
/// accessed entries down to [`DISK_LOW_WATERMARK_PERCENT`]. One instance
/// serves both ports, and AC and CAS share its byte budget. Data survives
/// restarts: [`DiskBuildStoreBuilder::build`] rebuilds the index, in the
/// background with [`DiskBuildStoreBuilder::background_rebuild`] (the
/// store serves at once: a read the partial index misses looks at the
/// file; eviction and flushes wait for the rebuild; stats and listings
/// show only what is indexed so far).
///
/// Eviction and flushes take their victims out of the index first, so a
/// read of a victim is a clean miss while its file is being unlinked, and
/// the disk may briefly hold the victims' bytes beyond `max_bytes` until
/// the unlinks finish. Replacing an AC entry (a second `put` of the same
/// key) makes it a miss for the duration of the rename.
///
/// A directory belongs to one store (one process) at a time.
///
/// ```no_run
/// use strata_infrastructure::DiskBuildStore;
/// let store = DiskBuildStore::builder("/var/cache/strata")
///     .max_bytes(10 << 30)
///     .build()?;
/// # Ok::<_, strata_domain::BuildCacheError>(())
/// ```
pub struct DiskBuildStore {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    tmp: PathBuf,
    /// Memory only: never held across a file-system call.
    index: Mutex<Index>,
    /// Signalled whenever an unlink or install settles a key, for
    /// installers waiting on the same key, and when the rebuild ends.
    settled: Condvar,
    clock: Arc<dyn Clock>,
    capacity: u64,
    max_blob_bytes: u64,
    tmp_seq: AtomicU64,
    counters: HitCounters,
    before_unlink: Option<UnlinkHook>,
    rebuild_hook: Option<RebuildHook>,
    /// Files the start-up rebuild found so far.
    rebuild_found: AtomicU64,
    rebuild_started: Instant,
}

/// Builds a [`DiskBuildStore`].
pub struct DiskBuildStoreBuilder {
    dir: PathBuf,
    max_bytes: u64,
    max_blob_bytes: u64,
    clock: Arc<dyn Clock>,
    before_unlink: Option<UnlinkHook>,
    rebuild_hook: Option<RebuildHook>,
    background_rebuild: bool,
}

impl DiskBuildStoreBuilder {
    /// The byte budget shared by AC and CAS (default 10 GiB).
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The largest blob or AC entry accepted (default: the lesser of
    /// [`DEFAULT_MAX_BLOB_BYTES`] and `max_bytes`; at most 4 GiB - 1, the
    /// largest weight the recency order keeps).
    #[must_use]
    pub fn max_blob_bytes(mut self, bytes: u64) -> Self {
        self.max_blob_bytes = bytes;
        self
    }

    /// The clock that stamps last accesses (default the system clock).
    /// File modification times are read only when the index is rebuilt.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `hook` with each evicted or flushed file's path just before
    /// it is unlinked, on the unlinking thread with no lock held (default
    /// none). For instrumentation and for tests that hold an eviction or
    /// flush mid-unlink.
    #[must_use]
    pub fn before_unlink(mut self, hook: UnlinkHook) -> Self {
        self.before_unlink = Some(hook);
        self
    }

    /// Calls `hook` on the rebuild's thread with the number of files the
    /// start-up scan found, after the scan and before they join the index
    /// (default none). For tests that hold the rebuild at a barrier.
    #[must_use]
    pub fn rebuild_hook(mut self, hook: RebuildHook) -> Self {
        self.rebuild_hook = Some(hook);
        self
    }

    /// Whether [`build`](Self::build) returns before the index is rebuilt
    /// (default false: it returns once every file is indexed). In the
    /// background the store serves at once: a read or `contains` that the
    /// partial index misses looks at the file, eviction waits for the end
    /// (the disk may pass `max_bytes` by what is written meanwhile), a
    /// flush waits for the end, and stats and listings show only what is
    /// indexed so far. [`DiskBuildStore::rebuild`] reports the progress.
    #[must_use]
    pub fn background_rebuild(mut self, background: bool) -> Self {
        self.background_rebuild = background;
        self
    }

    /// Creates the directory when missing, deletes stale temporary files,
    /// and rebuilds the index from the files present on a thread of its
    /// own, evicting down to the watermark when they exceed `max_bytes`;
    /// returns at once with [`background_rebuild`](Self::background_rebuild),
    /// else when the index is rebuilt. Blocking: call it at start-up (or
    /// in `spawn_blocking`).
    ///
    /// # Errors
    /// [`BuildCacheError::Unexpected`] when the directory cannot be
    /// created or read, or the rebuild's thread cannot start.
    pub fn build(self) -> Result<Arc<DiskBuildStore>, BuildCacheError> {
        let tmp = self.dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| io_err("create the store directory", e))?;
        recovery::clear_tmp(&tmp)?;
        fs::read_dir(&self.dir).map_err(|e| io_err("scan the store directory", e))?;
        let shared = Arc::new(Shared {
            dir: self.dir,
            tmp,
            index: Mutex::new(Index::awaiting_rebuild()),
            settled: Condvar::new(),
            clock: self.clock,
            capacity: self.max_bytes,
            max_blob_bytes: self.max_blob_bytes.min(self.max_bytes).min(MAX_WEIGHT),
            tmp_seq: AtomicU64::new(0),
            counters: Default::default(),
            before_unlink: self.before_unlink,
            rebuild_hook: self.rebuild_hook,
            rebuild_found: AtomicU64::new(0),
            rebuild_started: Instant::now(),
        });
        let rebuilder = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("strata-disk-index".to_owned())
                .spawn(move || shared.rebuild_index())
                .map_err(|e| io_err("start the index rebuild", e))?
        };
        if !self.background_rebuild {
            rebuilder.join().map_err(|_| BuildCacheError::Unexpected {
                store: STORE.to_owned(),
                source: "the index rebuild panicked".into(),
            })?;
        }
        Ok(Arc::new(DiskBuildStore { shared }))
    }
}

impl DiskBuildStore {
    /// A builder for a store in `dir`, with 10 GiB and the system clock.
    pub fn builder(dir: impl Into<PathBuf>) -> DiskBuildStoreBuilder {
        DiskBuildStoreBuilder {
            dir: dir.into(),
            max_bytes: 10 << 30,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            clock: Arc::new(SystemClock),
            before_unlink: None,
            rebuild_hook: None,
            background_rebuild: false,
        }
    }

    /// The start-up index rebuild while it runs, `None` once every file
    /// is indexed.
    pub fn rebuild(&self) -> Option<IndexRebuild> {
        self.shared.lock().rebuilding().then(|| IndexRebuild {
            store: STORE.to_owned(),
            files_found: self.shared.rebuild_found.load(Ordering::Relaxed),
            elapsed_ms: u64::try_from(self.shared.rebuild_started.elapsed().as_millis())
                .unwrap_or(u64::MAX),
        })
    }

    /// Blocks until the start-up index rebuild is over (at once when it
    /// is). For tools and tests that need complete stats or listings.
    pub fn wait_rebuilt(&self) {
        let mut index = self.shared.lock();
        while index.rebuilding() {
            index = self
                .shared
                .settled
                .wait(index)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The file that holds `hash` of `kind` in `instance` (whether or not
    /// it exists), as laid out in the module docs.
    pub fn path_of(&self, kind: StoreKind, instance: &InstanceName, hash: &DigestHash) -> PathBuf {
        self.shared.path(&Key::new(kind, instance, *hash))
    }
}

fn io_err(context: &str, err: io::Error) -> BuildCacheError {
    BuildCacheError::io(STORE, context, err)
}

fn kind_dir(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::Ac => "ac",
        StoreKind::Cas => "cas",
    }
}

fn instance_dir(instance: &InstanceName) -> String {
    format!("@{}", instance.as_str().replace('/', "+"))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Index> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain maps; the files remain the truth.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, key: &Key) -> PathBuf {
        let hex = key.hash.to_string();
        self.dir
            .join(instance_dir(&key.instance))
            .join(kind_dir(key.kind))
            .join(&hex[..2])
            .join(hex)
    }

    fn tmp_path(&self) -> PathBuf {
        let n = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{}-{n}.tmp", std::process::id()))
    }

    fn count(&self, kind: StoreKind, hit: bool) {
        self.counters.count(kind, hit);
    }

    /// Drops the entry `meta` was looked up as, whose file vanished behind
    /// the index's back (a later installation of the key is kept).
    fn forget(&self, key: &Key, meta: &Meta) {
        self.lock().forget(key, meta.generation);
    }

    fn list_kind(&self, kind: StoreKind, instance: Option<&InstanceName>) -> Vec<EntryMeta> {
        self.lock().list(kind, instance)
    }

    fn usage(&self, kind: StoreKind) -> StoreUsage {
        let (entries, bytes) = self.lock().usage(kind);
        self.counters.usage(STORE, kind, entries, bytes)
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BuildCacheError> + Send + 'static,
) -> Result<T, BuildCacheError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BuildCacheError::Unexpected {
            store: STORE.to_owned(),
            source: format!("blocking task failed: {e}").into(),
        })?
}

/// Reads `key` (AC or CAS) within `range` as a stream, counting a hit or a
/// miss of its kind and refreshing its last access: a read of at most one
/// chunk ([`DISK_READ_CHUNK_BYTES`]) in one trip to the blocking pool,
/// longer ones chunk by chunk as the caller pulls.
async fn read_counted(
    shared: &Arc<Shared>,
    key: Key,
    range: ReadRange,
) -> Result<Option<BlobRead>, BuildCacheError> {
    let Some(meta) = find(shared, &key, true).await? else {
        shared.count(key.kind, false);
        return Ok(None);
    };
    // Checked before opening so a bad range counts no hit.
    let (start, len) = range.resolve(meta.size)?;
    if len <= DISK_READ_CHUNK_BYTES as u64 {
        // One trip to the blocking pool (open, seek, read) instead of
        // one per step: the whole read is one chunk.
        let path = shared.path(&key);
        let chunk = match read_cached(&path, start, len) {
            Cached::Read(chunk) => Some(chunk),
            Cached::Gone => None,
            Cached::Uncached => blocking(move || read_small(&path, start, len)).await?,
        };
        let Some(chunk) = chunk else {
            // Flushed or evicted between the lookup and the open.
            shared.forget(&key, &meta);
            shared.count(key.kind, false);
            return Ok(None);
        };
        shared.count(key.kind, true);
        return Ok(Some(BlobRead::from_chunk(meta.size, chunk)));
    }
    let Some(reader) = open_stream(&shared.path(&key), start, len)? else {
        // Flushed or evicted between the lookup and the open.
        shared.forget(&key, &meta);
        shared.count(key.kind, false);
        return Ok(None);
    };
    shared.count(key.kind, true);
    Ok(Some(BlobRead {
        size_bytes: meta.size,
        len,
        reader: Box::new(reader),
    }))
}

#[async_trait]
impl ActionCache for DiskBuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        let key = Key::new(StoreKind::Ac, instance, *key);
        let found = match find(&self.shared, &key, true).await? {
            Some(meta) => read_whole(&self.shared, &key, &meta)
                .await?
                .map(|value| AcEntry {
                    value,
                    last_access: meta.last_access,
                }),
            None => None,
        };
        self.shared.count(StoreKind::Ac, found.is_some());
        Ok(found)
    }

    async fn get_streamed(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        let key = Key::new(StoreKind::Ac, instance, *key);
        read_counted(&self.shared, key, ReadRange::FULL).await
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        let key = Key::new(StoreKind::Ac, instance, *key);
        match find(&self.shared, &key, false).await? {
            Some(meta) => read_whole(&self.shared, &key, &meta).await,
            None => Ok(None),
        }
    }

    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError> {
        let size = value.len() as u64;
        if size > self.shared.max_blob_bytes {
            return Err(BuildCacheError::TooLarge {
                size_bytes: size,
                limit_bytes: self.shared.max_blob_bytes,
            });
        }
        let mut tmp = TmpFile::create(&self.shared).await?;
        tmp.write(&value).await?;
        tmp.install(
            &self.shared,
            Key::new(StoreKind::Ac, instance, key),
            size,
            true,
        )
        .await
        .map(|_| ())
    }

    async fn begin_put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
    ) -> Result<Option<Box<dyn AcWriter>>, BuildCacheError> {
        Ok(Some(Box::new(writer::DiskAcWriter {
            shared: Arc::clone(&self.shared),
            key: Key::new(StoreKind::Ac, instance, key),
            size: 0,
            tmp: TmpFile::create(&self.shared).await?,
        })))
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        let key = Key::new(StoreKind::Ac, instance, *key);
        Ok(find(&self.shared, &key, false).await?.is_some())
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        Ok(self.shared.list_kind(StoreKind::Ac, instance))
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        let shared = Arc::clone(&self.shared);
        let criteria = criteria.clone();
        blocking(move || Ok(shared.flush_kind(StoreKind::Ac, &criteria))).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Ac)])
    }
}

#[async_trait]
impl ContentStore for DiskBuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    fn max_blob_bytes(&self) -> u64 {
        self.shared.max_blob_bytes
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        if *hash == DigestHash::EMPTY {
            return Ok(Some(0));
        }
        let key = Key::new(StoreKind::Cas, instance, *hash);
        Ok(find(&self.shared, &key, false).await?.map(|m| m.size))
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if *hash == DigestHash::EMPTY {
            self.shared.count(StoreKind::Cas, true);
            return BlobRead::from_bytes(Bytes::new(), range).map(Some);
        }
        read_counted(
            &self.shared,
            Key::new(StoreKind::Cas, instance, *hash),
            range,
        )
        .await
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        let verifier = Verifier::new(hash, expected_size, self.shared.max_blob_bytes)?;
        Ok(Box::new(DiskWriter {
            shared: Arc::clone(&self.shared),
            key: Key::new(StoreKind::Cas, instance, hash),
            verifier,
            tmp: None,
        }))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        Ok(self.shared.list_kind(StoreKind::Cas, instance))
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        let shared = Arc::clone(&self.shared);
        let criteria = criteria.clone();
        blocking(move || Ok(shared.flush_kind(StoreKind::Cas, &criteria))).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Cas)])
    }

    fn index_rebuild(&self) -> Option<IndexRebuild> {
        self.rebuild()
    }
}
