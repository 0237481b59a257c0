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
//! The default (empty) instance is the directory `@`. Every write goes to
//! a temporary file, is fsynced, and is renamed to its final name under
//! the index lock, so a digest name never holds a partial blob. The
//! in-memory index (key -> size, last access) is rebuilt at start-up by
//! scanning the tree: last accesses come from the files' modification
//! times, temporary files are deleted, and files with names outside the
//! layout are logged and ignored.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use strata_domain::{
    AcEntry, ActionCache, BlobRead, BlobReader, BlobWriter, BuildCacheError, Clock, Committed,
    ContentStore, Digest, DigestHash, EntryMeta, FlushCriteria, FlushResult, InstanceName,
    ReadRange, StoreFlushReport, StoreKind, StoreUsage, Timestamp,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::DEFAULT_MAX_BLOB_BYTES;
use super::key::{HitCounters, Key};
use super::verify::Verifier;
use crate::clock::SystemClock;

const STORE: &str = "disk";

/// Bytes per chunk of a streamed read: 64 KiB.
pub const DISK_READ_CHUNK_BYTES: usize = 64 << 10;

/// When a write would pass `max_bytes`, the least recently accessed
/// entries are evicted until the store holds at most this share of
/// `max_bytes` (plus the new entry): 90 %, so one eviction pass makes
/// room for many writes.
pub const DISK_LOW_WATERMARK_PERCENT: u64 = 90;

/// AC entries and CAS blobs as files (see the module docs for the
/// layout), bounded by `max_bytes` with eviction of the least recently
/// accessed entries down to [`DISK_LOW_WATERMARK_PERCENT`]. One instance
/// serves both ports, and AC and CAS share its byte budget. Data survives
/// restarts: [`DiskBuildStoreBuilder::build`] rebuilds the index.
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
    index: Mutex<Index>,
    clock: Arc<dyn Clock>,
    capacity: u64,
    max_blob_bytes: u64,
    tmp_seq: AtomicU64,
    counters: HitCounters,
}

#[derive(Clone, Copy)]
struct Meta {
    size: u64,
    last_access: Timestamp,
}

#[derive(Default)]
struct Index {
    map: HashMap<Key, Meta>,
    bytes: u64,
}

/// Builds a [`DiskBuildStore`].
pub struct DiskBuildStoreBuilder {
    dir: PathBuf,
    max_bytes: u64,
    max_blob_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl DiskBuildStoreBuilder {
    /// The byte budget shared by AC and CAS (default 10 GiB).
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The largest blob or AC entry accepted (default: the lesser of
    /// [`DEFAULT_MAX_BLOB_BYTES`] and `max_bytes`).
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

    /// Creates the directory when missing, deletes stale temporary files,
    /// rebuilds the index from the files present and evicts down to the
    /// watermark when they exceed `max_bytes`. Blocking: call it at
    /// start-up (or in `spawn_blocking`).
    ///
    /// # Errors
    /// [`BuildCacheError::Unexpected`] when the directory cannot be
    /// created or read.
    pub fn build(self) -> Result<Arc<DiskBuildStore>, BuildCacheError> {
        let tmp = self.dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| io_err("create the store directory", e))?;
        clear_tmp(&tmp)?;
        let mut index = Index::default();
        scan(&self.dir, &mut index)?;
        let shared = Shared {
            dir: self.dir,
            tmp,
            index: Mutex::new(index),
            clock: self.clock,
            capacity: self.max_bytes,
            max_blob_bytes: self.max_blob_bytes.min(self.max_bytes),
            tmp_seq: AtomicU64::new(0),
            counters: Default::default(),
        };
        {
            let mut index = shared.lock();
            if index.bytes > shared.capacity {
                shared.evict(&mut index, 0);
            }
        }
        Ok(Arc::new(DiskBuildStore {
            shared: Arc::new(shared),
        }))
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

fn clear_tmp(tmp: &Path) -> Result<(), BuildCacheError> {
    for entry in fs::read_dir(tmp).map_err(|e| io_err("read the temporary directory", e))? {
        let entry = entry.map_err(|e| io_err("read the temporary directory", e))?;
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "deleted a stale temporary file"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a temporary file")
            }
        }
    }
    Ok(())
}

fn mtime(meta: &fs::Metadata) -> Timestamp {
    let ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(ms)
}

/// Fills `index` from the files under `dir`; names outside the layout are
/// logged and skipped.
fn scan(dir: &Path, index: &mut Index) -> Result<(), BuildCacheError> {
    let read = |p: &Path| fs::read_dir(p).map_err(|e| io_err("scan the store directory", e));
    for top in read(dir)? {
        let top = top.map_err(|e| io_err("scan the store directory", e))?;
        let name = top.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "tmp" {
            continue;
        }
        let Some(instance) = name
            .strip_prefix('@')
            .and_then(|s| InstanceName::parse(&s.replace('+', "/")).ok())
        else {
            tracing::warn!(path = %top.path().display(), "ignoring a file outside the disk store layout");
            continue;
        };
        for kind in [StoreKind::Ac, StoreKind::Cas] {
            let kdir = top.path().join(kind_dir(kind));
            if !kdir.is_dir() {
                continue;
            }
            for shard in read(&kdir)? {
                let shard = shard.map_err(|e| io_err("scan the store directory", e))?;
                let shard_name = shard.file_name();
                let Some(shard_name) = shard_name.to_str().map(str::to_owned) else {
                    continue;
                };
                if !shard.path().is_dir() {
                    tracing::warn!(path = %shard.path().display(), "ignoring a file outside the disk store layout");
                    continue;
                }
                for file in read(&shard.path())? {
                    let file = file.map_err(|e| io_err("scan the store directory", e))?;
                    let hash = file
                        .file_name()
                        .to_str()
                        .and_then(|s| DigestHash::parse(s).ok())
                        .filter(|h| h.has_hex_prefix(&shard_name) && shard_name.len() == 2);
                    let Some(hash) = hash else {
                        tracing::warn!(path = %file.path().display(), "ignoring a file outside the disk store layout");
                        continue;
                    };
                    let meta = file
                        .metadata()
                        .map_err(|e| io_err("scan the store directory", e))?;
                    if !meta.is_file() {
                        continue;
                    }
                    let size = meta.len();
                    index.bytes += size;
                    index.map.insert(
                        Key::new(kind, &instance, hash),
                        Meta {
                            size,
                            last_access: mtime(&meta),
                        },
                    );
                }
            }
        }
    }
    Ok(())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Index> {
        // A poisoned lock only means another thread panicked mid-update of
        // a plain map; the files remain the truth.
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

    /// The entry's size, refreshing its last access when `touch`; the
    /// last access before the refresh.
    fn lookup(&self, key: &Key, touch: bool) -> Option<Meta> {
        let now = self.clock.now();
        let mut index = self.lock();
        let meta = index.map.get_mut(key)?;
        let before = *meta;
        if touch {
            meta.last_access = now;
        }
        Some(before)
    }

    /// Drops an entry whose file vanished behind the index's back.
    fn forget(&self, key: &Key) {
        let mut index = self.lock();
        if let Some(meta) = index.map.remove(key) {
            index.bytes -= meta.size;
        }
    }

    /// Evicts the least recently accessed entries until `needed` more
    /// bytes fit under the low watermark. Runs under the index lock.
    fn evict(&self, index: &mut Index, needed: u64) {
        let target = (self.capacity / 100 * DISK_LOW_WATERMARK_PERCENT).saturating_sub(needed);
        let mut order: Vec<(Timestamp, Key)> = index
            .map
            .iter()
            .map(|(k, m)| (m.last_access, k.clone()))
            .collect();
        order.sort_unstable();
        for (_, key) in order {
            if index.bytes <= target {
                break;
            }
            let path = self.path(&key);
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot evict a disk entry");
                continue;
            }
            if let Some(meta) = index.map.remove(&key) {
                index.bytes -= meta.size;
            }
        }
    }

    /// Moves the finished temporary file `tmp` (of `size` bytes) to `key`'s
    /// name, evicting as needed; `Ok(false)` when `replace` is off and the
    /// entry already exists (the temporary file is then deleted). Blocking.
    fn install(
        &self,
        key: Key,
        tmp: &Path,
        size: u64,
        replace: bool,
    ) -> Result<bool, BuildCacheError> {
        let now = self.clock.now();
        let mut index = self.lock();
        let present = index.map.get(&key).copied();
        if let Some(meta) = present
            && !replace
        {
            index.map.insert(
                key,
                Meta {
                    last_access: now,
                    ..meta
                },
            );
            drop(index);
            let _ = fs::remove_file(tmp);
            return Ok(false);
        }
        if let Some(meta) = present {
            index.map.remove(&key);
            index.bytes -= meta.size;
        }
        if index.bytes + size > self.capacity {
            self.evict(&mut index, size);
        }
        if index.bytes + size > self.capacity {
            drop(index);
            let _ = fs::remove_file(tmp);
            return Err(BuildCacheError::InsufficientStorage {
                needed_bytes: size,
                capacity_bytes: self.capacity,
            });
        }
        let path = self.path(&key);
        let installed = path
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::rename(tmp, &path));
        if let Err(e) = installed {
            drop(index);
            let _ = fs::remove_file(tmp);
            return Err(io_err("install a disk entry", e));
        }
        index.bytes += size;
        index.map.insert(
            key,
            Meta {
                size,
                last_access: now,
            },
        );
        Ok(true)
    }

    fn list_kind(&self, kind: StoreKind, instance: Option<&InstanceName>) -> Vec<EntryMeta> {
        self.lock()
            .map
            .iter()
            .filter(|(k, _)| k.kind == kind && instance.is_none_or(|i| *i == k.instance))
            .map(|(k, m)| EntryMeta {
                instance: k.instance.clone(),
                hash: k.hash,
                size_bytes: m.size,
                last_access: m.last_access,
            })
            .collect()
    }

    /// Blocking: removes files under the index lock.
    fn flush_kind(&self, kind: StoreKind, criteria: &FlushCriteria) -> FlushResult {
        let started = Instant::now();
        let now = self.clock.now();
        let mut index = self.lock();
        let doomed: Vec<(Key, u64)> = index
            .map
            .iter()
            .filter(|(k, m)| {
                k.kind == kind && criteria.matches(&k.instance, &k.hash, m.last_access, now)
            })
            .map(|(k, m)| (k.clone(), m.size))
            .collect();
        let mut report = StoreFlushReport {
            store: STORE.to_owned(),
            ..Default::default()
        };
        for (key, size) in doomed {
            if !criteria.dry_run {
                let path = self.path(&key);
                if let Err(e) = fs::remove_file(&path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    report
                        .errors
                        .push(format!("cannot remove {}: {e}", path.display()));
                    continue;
                }
                index.map.remove(&key);
                index.bytes -= size;
            }
            report.entries_removed += 1;
            report.bytes_reclaimed += size;
        }
        drop(index);
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        FlushResult::single(kind, criteria.dry_run, report)
    }

    fn usage(&self, kind: StoreKind) -> StoreUsage {
        let (entries, bytes) = self
            .lock()
            .map
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .fold((0, 0), |(n, b), (_, m)| (n + 1, b + m.size));
        self.counters.usage(STORE, kind, entries, bytes)
    }
}

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

/// A temporary file, deleted on drop unless it was installed.
struct TmpFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl TmpFile {
    async fn create(shared: &Shared) -> Result<Self, BuildCacheError> {
        let path = shared.tmp_path();
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io_err("create a temporary file", e))?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<(), BuildCacheError> {
        match &mut self.file {
            Some(f) => f
                .write_all(chunk)
                .await
                .map_err(|e| io_err("write a temporary file", e)),
            None => Ok(()),
        }
    }

    /// Flushes and fsyncs the file, then closes it; the path stays owned.
    async fn finish(&mut self) -> Result<(), BuildCacheError> {
        if let Some(mut f) = self.file.take() {
            f.flush()
                .await
                .map_err(|e| io_err("flush a temporary file", e))?;
            f.sync_all()
                .await
                .map_err(|e| io_err("fsync a temporary file", e))?;
        }
        Ok(())
    }

    /// Installs the file as `key` (see [`Shared::install`]).
    async fn install(
        mut self,
        shared: &Arc<Shared>,
        key: Key,
        size: u64,
        replace: bool,
    ) -> Result<bool, BuildCacheError> {
        self.finish().await?;
        let shared = Arc::clone(shared);
        // From here `install` owns the path: it renames or deletes it.
        let path = std::mem::take(&mut self.path);
        blocking(move || shared.install(key, &path, size, replace)).await
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = fs::remove_file(&self.path);
        }
    }
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
        let found = match self.shared.lookup(&key, true) {
            Some(meta) => read_whole(&self.shared, &key).await?.map(|value| AcEntry {
                value,
                last_access: meta.last_access,
            }),
            None => None,
        };
        self.shared.count(StoreKind::Ac, found.is_some());
        Ok(found)
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        let key = Key::new(StoreKind::Ac, instance, *key);
        if self.shared.lookup(&key, false).is_none() {
            return Ok(None);
        }
        read_whole(&self.shared, &key).await
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

    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        let key = Key::new(StoreKind::Ac, instance, *key);
        Ok(self.shared.lock().map.contains_key(&key))
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

/// A whole file's bytes; `None` (and the entry forgotten) when it vanished.
async fn read_whole(shared: &Shared, key: &Key) -> Result<Option<Bytes>, BuildCacheError> {
    match tokio::fs::read(shared.path(key)).await {
        Ok(v) => Ok(Some(Bytes::from(v))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            shared.forget(key);
            Ok(None)
        }
        Err(e) => Err(io_err("read a disk entry", e)),
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
        Ok(self.shared.lock().map.get(&key).map(|m| m.size))
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
        let key = Key::new(StoreKind::Cas, instance, *hash);
        let Some(meta) = self.shared.lookup(&key, true) else {
            self.shared.count(StoreKind::Cas, false);
            return Ok(None);
        };
        // Checked before opening so a bad range counts no hit.
        let (start, len) = range.resolve(meta.size)?;
        if len <= DISK_READ_CHUNK_BYTES as u64 {
            // One trip to the blocking pool (open, seek, read) instead of
            // one per step: the whole read is one chunk.
            let path = self.shared.path(&key);
            let chunk = match read_cached(&path, start, len) {
                Cached::Read(chunk) => Some(chunk),
                Cached::Gone => None,
                Cached::Uncached => blocking(move || read_small(&path, start, len)).await?,
            };
            let Some(chunk) = chunk else {
                // Flushed or evicted between the lookup and the open.
                self.shared.forget(&key);
                self.shared.count(StoreKind::Cas, false);
                return Ok(None);
            };
            self.shared.count(StoreKind::Cas, true);
            return Ok(Some(BlobRead::from_chunk(meta.size, chunk)));
        }
        let mut file = match tokio::fs::File::open(self.shared.path(&key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Flushed or evicted between the lookup and the open.
                self.shared.forget(&key);
                self.shared.count(StoreKind::Cas, false);
                return Ok(None);
            }
            Err(e) => return Err(io_err("open a blob", e)),
        };
        if start > 0 {
            file.seek(io::SeekFrom::Start(start))
                .await
                .map_err(|e| io_err("seek in a blob", e))?;
        }
        self.shared.count(StoreKind::Cas, true);
        Ok(Some(BlobRead {
            size_bytes: meta.size,
            len,
            reader: Box::new(FileReader {
                file,
                remaining: len,
            }),
        }))
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
}

/// What [`read_cached`] found.
enum Cached {
    /// The bytes, read without blocking.
    Read(Bytes),
    /// No such file (flushed or evicted).
    Gone,
    /// Not (all) in the page cache, or the attempt is not possible here:
    /// read on the blocking pool instead.
    Uncached,
}

/// Reads `len` bytes at `start` of the blob file at `path` on the calling
/// (async) thread, but only if they are in the page cache: `preadv2`
/// with `RWF_NOWAIT` (Linux 4.14+, `preadv2(2)`) fails with `EAGAIN`
/// instead of waiting for the disk, as nginx's thread-pool reads try
/// first. A hot blob then costs no trip to the blocking pool (two thread
/// wake-ups, the largest cost of a small GET). The `open` itself runs
/// here too, as nginx's does.
#[cfg(target_os = "linux")]
fn read_cached(path: &Path, start: u64, len: u64) -> Cached {
    use std::sync::atomic::AtomicBool;
    /// Cleared once the file system refuses `RWF_NOWAIT`.
    static SUPPORTED: AtomicBool = AtomicBool::new(true);
    if !SUPPORTED.load(Ordering::Relaxed) {
        return Cached::Uncached;
    }
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Cached::Gone,
        Err(_) => return Cached::Uncached,
    };
    // `len` is at most DISK_READ_CHUNK_BYTES (the caller checks).
    let mut buf = BytesMut::zeroed(usize::try_from(len).unwrap_or(DISK_READ_CHUNK_BYTES));
    let mut slices = [io::IoSliceMut::new(&mut buf)];
    match rustix::io::preadv2(
        &file,
        &mut slices,
        start,
        rustix::io::ReadWriteFlags::NOWAIT,
    ) {
        Ok(n) if n as u64 == len => Cached::Read(buf.freeze()),
        Ok(_) => Cached::Uncached,
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            SUPPORTED.store(false, Ordering::Relaxed);
            Cached::Uncached
        }
        Err(_) => Cached::Uncached,
    }
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
fn read_cached(_: &Path, _: u64, _: u64) -> Cached {
    Cached::Uncached
}

/// `len` bytes (at most [`DISK_READ_CHUNK_BYTES`]) of the blob file at
/// `path` from `start`, or `None` when the file is gone.
fn read_small(path: &Path, start: u64, len: u64) -> Result<Option<Bytes>, BuildCacheError> {
    use std::io::{Read, Seek};
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open a blob", e)),
    };
    if start > 0 {
        file.seek(io::SeekFrom::Start(start))
            .map_err(|e| io_err("seek in a blob", e))?;
    }
    // `len` is at most DISK_READ_CHUNK_BYTES, so it fits in usize.
    let mut buf = BytesMut::zeroed(usize::try_from(len).unwrap_or(DISK_READ_CHUNK_BYTES));
    file.read_exact(&mut buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io_err(
                "read a blob",
                io::Error::new(e.kind(), "blob file shorter than its index entry"),
            )
        } else {
            io_err("read a blob", e)
        }
    })?;
    Ok(Some(buf.freeze()))
}

/// Streams `remaining` bytes of an open blob file in
/// [`DISK_READ_CHUNK_BYTES`] chunks. An open file stays readable when a
/// flush unlinks it, so a read never yields partial content.
struct FileReader {
    file: tokio::fs::File,
    remaining: u64,
}

#[async_trait]
impl BlobReader for FileReader {
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(DISK_READ_CHUNK_BYTES);
        let mut buf = BytesMut::zeroed(want);
        let mut filled = 0;
        while filled < want {
            let n = self.file.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob file shorter than its index entry",
                ));
            }
            filled += n;
        }
        self.remaining -= want as u64;
        Ok(Some(buf.freeze()))
    }
}

/// A CAS upload to a temporary file, renamed to the digest's name at
/// commit; dropping it deletes the temporary file.
struct DiskWriter {
    shared: Arc<Shared>,
    key: Key,
    verifier: Verifier,
    tmp: Option<TmpFile>,
}

#[async_trait]
impl BlobWriter for DiskWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        self.verifier.update(&chunk)?;
        if chunk.is_empty() {
            return Ok(());
        }
        let tmp = match &mut self.tmp {
            Some(t) => t,
            None => self.tmp.insert(TmpFile::create(&self.shared).await?),
        };
        tmp.write(&chunk).await
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        let DiskWriter {
            shared,
            key,
            verifier,
            tmp,
        } = *self;
        let digest: Digest = verifier.finish()?;
        if digest.is_empty_blob() {
            return Ok(Committed {
                digest,
                created: false,
            });
        }
        let Some(tmp) = tmp else {
            // Unreachable: a non-empty verified blob had chunks written.
            return Err(BuildCacheError::Unexpected {
                store: STORE.to_owned(),
                source: "a non-empty upload has no temporary file".into(),
            });
        };
        if shared.lookup(&key, true).is_some() {
            // Already stored: no rewrite; `tmp` is deleted on drop.
            return Ok(Committed {
                digest,
                created: false,
            });
        }
        let created = tmp
            .install(&shared, key, digest.size_bytes(), false)
            .await?;
        Ok(Committed { digest, created })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page-cache path and the blocking-pool path read the same bytes
    /// (whole or ranged), and both tell a missing file from an error.
    #[test]
    fn both_small_read_paths_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        for (start, len) in [(0, 5000), (100, 900), (4999, 1), (0, 0)] {
            let want = &data[start as usize..(start + len) as usize];
            let slow = read_small(&path, start, len).unwrap().unwrap();
            assert_eq!(slow.as_ref(), want, "blocking read at {start}+{len}");
            match read_cached(&path, start, len) {
                Cached::Read(fast) => {
                    assert_eq!(fast.as_ref(), want, "cached read at {start}+{len}")
                }
                // Allowed (a file system without RWF_NOWAIT, or not cached).
                Cached::Uncached => {}
                Cached::Gone => panic!("the file exists"),
            }
        }
        let gone = dir.path().join("gone");
        assert!(read_small(&gone, 0, 1).unwrap().is_none());
        assert!(matches!(
            read_cached(&gone, 0, 1),
            Cached::Gone | Cached::Uncached
        ));
        // A file shorter than its index entry is an error, not short data.
        assert!(read_small(&path, 4990, 20).is_err());
        assert!(!matches!(read_cached(&path, 4990, 20), Cached::Read(_)));
    }
}
