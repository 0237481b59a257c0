//! `FileStore`: a worked Strata plugin, one file per key.
//!
//! `[backends.disk] kind = "files"` with `dir = "/var/lib/strata-files"`
//! keeps each cache in `<dir>/<hex of the cache name>/`, each entry in a
//! file named by the SHA-256 of its key, holding the wire `Envelope`
//! (`strata_infrastructure::Envelope`: the entry, its metadata and the
//! key) through the cache's compression codec. Writes go to a temporary
//! file renamed into place, so a reader never sees half an entry.
//!
//! What it honours and refuses (`FileStoreProvider::open`):
//! - `compression`: honoured, through `ValueCodec`;
//! - `encryption_key_id`: refused (it has no keyring, and will not store
//!   plaintext when encryption is asked for);
//! - `max_entries` / `max_bytes` when it is the only tier: refused (a
//!   directory has no eviction), except the default capacity every cache
//!   gets; under the memory tier they bound L1.
//!
//! Two stores of one cache read the same directory, so the store says
//! `shared: true`. Expiry is read on the `Clock` the factory gets. File
//! I/O runs on tokio's blocking pool; no lock is held across it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use strata::{BackendArgs, BackendError};
use strata_domain::{
    CacheConfiguration, CacheEntry, CacheKey, CacheName, CacheStore, Clock, Compression,
    EntriesPage, InsertOutcome, InvalidationCount, KeyPattern, LeaseStore, ProvisionError,
    StoreCapabilities, StoreError, StoreProvider, StoreStats, Tag,
};
use strata_infrastructure::{Envelope, ValueCodec};

/// The backend's name in errors and metrics.
pub(crate) const BACKEND: &str = "files";

/// `[backends.<name>]` of kind `files`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSettings {
    /// The directory holding every cache's directory; created if missing.
    pub(crate) dir: PathBuf,
}

/// The factory Strata calls for each `[backends.<name>] kind = "files"`.
///
/// # Errors
/// A missing or unknown setting, or a `dir` that cannot be created, named
/// with the file and key.
pub(crate) async fn factory(args: BackendArgs) -> Result<Arc<dyn StoreProvider>, BackendError> {
    let settings: FileSettings = args.settings()?;
    std::fs::create_dir_all(&settings.dir).map_err(|e| args.invalid("dir", e))?;
    Ok(Arc::new(FileStoreProvider::new(settings.dir, args.clock)))
}

/// Opens a [`FileStore`] per cache under one directory.
pub(crate) struct FileStoreProvider {
    root: PathBuf,
    clock: Arc<dyn Clock>,
}

impl FileStoreProvider {
    /// A provider over `root`, reading expiry on `clock`.
    pub(crate) fn new(root: PathBuf, clock: Arc<dyn Clock>) -> Self {
        Self { root, clock }
    }

    /// The store of cache `name`, compressing as `codec` says.
    pub(crate) fn store(&self, name: &CacheName, codec: ValueCodec) -> FileStore {
        FileStore {
            dir: self.root.join(hex::encode(name.as_str())),
            clock: self.clock.clone(),
            codec,
        }
    }
}

#[async_trait]
impl StoreProvider for FileStoreProvider {
    async fn open(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        // Every cache has a capacity (DEFAULT_MAX_ENTRIES when it names
        // none); alone, this backend refuses any other bound rather than
        // ignore it. Under the memory tier the bound is L1's.
        let alone = config.tiers().len() == 1;
        let bounded = config.max_bytes().is_some()
            || config.max_entries() != Some(strata_domain::DEFAULT_MAX_ENTRIES);
        if alone && bounded {
            return Err(ProvisionError::Unsupported(
                "the files backend cannot bound a cache (no eviction): drop max_entries and \
                 max_bytes, or stack it under the memory tier"
                    .into(),
            ));
        }
        if config.encryption_key_id().is_some() {
            return Err(ProvisionError::Unsupported(
                "the files backend cannot encrypt: drop encryption_key_id".into(),
            ));
        }
        let threshold = match config.compression() {
            Compression::None => None,
            Compression::Zstd { threshold_bytes } => {
                Some(usize::try_from(threshold_bytes).unwrap_or(usize::MAX))
            }
        };
        let codec = ValueCodec::new(threshold, None)
            .map_err(|e| ProvisionError::Unsupported(e.to_string()))?;
        Ok(Arc::new(self.store(config.name(), codec)))
    }

    async fn open_leases(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Option<Arc<dyn LeaseStore>>, ProvisionError> {
        if config.stale().lease_ttl().is_none() {
            return Ok(None);
        }
        Err(ProvisionError::Unsupported(
            "the files backend cannot hold leases: set lease_ttl = 0".into(),
        ))
    }
}

/// One cache's directory.
pub(crate) struct FileStore {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    codec: ValueCodec,
}

/// A decoded file: its path and envelope.
struct Found {
    path: PathBuf,
    key: CacheKey,
    entry: CacheEntry,
}

fn io_error(e: std::io::Error) -> StoreError {
    match e.kind() {
        ErrorKind::InvalidData => StoreError::Unexpected(Box::new(e)),
        _ => StoreError::Unavailable {
            backend: BACKEND.into(),
            source: Box::new(e),
        },
    }
}

/// Temporary-file names, unique in the process.
static TEMP: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir
            .join(hex::encode(Sha256::digest(key.as_str().as_bytes())))
    }

    /// Runs `f` on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &ValueCodec) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (dir, codec) = (self.dir.clone(), self.codec.clone());
        tokio::task::spawn_blocking(move || f(&dir, &codec))
            .await
            .map_err(|e| StoreError::Unexpected(Box::new(e)))?
    }

    fn read(path: &Path, codec: &ValueCodec) -> Result<Option<Found>, StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        let envelope = Envelope::decode_owned(bytes, codec)
            .map_err(|e| StoreError::Unexpected(Box::new(e)))?;
        let Some(key) = envelope
            .key
            .as_deref()
            .and_then(|k| CacheKey::parse(k).ok())
        else {
            return Err(StoreError::Unexpected(
                "an entry file without its key".into(),
            ));
        };
        Ok(Some(Found {
            path: path.to_owned(),
            key,
            entry: envelope.entry,
        }))
    }

    /// Every entry file of the directory, sorted by file name.
    fn scan(dir: &Path, codec: &ValueCodec) -> Result<Vec<Found>, StoreError> {
        let listing = match std::fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(e)),
        };
        let mut paths = Vec::new();
        for item in listing {
            let item = item.map_err(io_error)?;
            if !item.file_name().to_string_lossy().starts_with('.') {
                paths.push(item.path());
            }
        }
        paths.sort();
        let mut found = Vec::new();
        for path in paths {
            found.extend(Self::read(&path, codec)?);
        }
        Ok(found)
    }

    /// Removes the files of `doomed` entries; counts the live ones.
    fn remove_where(
        dir: &Path,
        codec: &ValueCodec,
        now: strata_domain::Timestamp,
        doomed: impl Fn(&Found) -> bool,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for found in Self::scan(dir, codec)? {
            if doomed(&found) {
                match std::fs::remove_file(&found.path) {
                    Ok(()) => removed += u64::from(!found.entry.is_expired(now)),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(e)),
                }
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl CacheStore for FileStore {
    fn backend(&self) -> &str {
        BACKEND
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities {
            pattern_invalidation: true,
            tag_invalidation: true,
            export: true,
            exact_len: true,
            // Two stores of one cache read the same directory.
            shared: true,
        }
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let path = self.path(key);
        let now = self.clock.now();
        let found = self
            .blocking(move |_, codec| Self::read(&path, codec))
            .await?;
        Ok(found
            .map(|f| f.entry)
            .filter(|entry| !entry.is_expired(now)))
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let path = self.path(&key);
        let now = self.clock.now();
        self.blocking(move |dir, codec| {
            let previous = Self::read(&path, codec)?;
            let replaced = previous.is_some_and(|f| !f.entry.is_expired(now));
            let outcome = if replaced {
                InsertOutcome::Replaced
            } else {
                InsertOutcome::Created
            };
            if entry.is_expired(now) {
                // Never readable: drop the old value instead of writing it.
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(e)),
                }
                return Ok(outcome);
            }
            let mut envelope = Envelope::new(entry);
            envelope.key = Some(key.as_str().to_owned());
            let bytes = envelope.encode_with(codec)?;
            std::fs::create_dir_all(dir).map_err(io_error)?;
            let temp = dir.join(format!(
                ".tmp-{}-{}",
                std::process::id(),
                TEMP.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&temp, bytes).map_err(io_error)?;
            std::fs::rename(&temp, &path).map_err(io_error)?;
            Ok(outcome)
        })
        .await
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let path = self.path(key);
        let now = self.clock.now();
        self.blocking(move |_, codec| {
            let Some(found) = Self::read(&path, codec)? else {
                return Ok(false);
            };
            match std::fs::remove_file(&path) {
                Ok(()) => Ok(!found.entry.is_expired(now)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_error(e)),
            }
        })
        .await
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        let pattern = pattern.clone();
        let now = self.clock.now();
        self.blocking(move |dir, codec| {
            Self::remove_where(dir, codec, now, |f| pattern.matches(f.key.as_str()))
        })
        .await
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        let tags = tags.to_vec();
        let now = self.clock.now();
        let n = self
            .blocking(move |dir, codec| {
                Self::remove_where(dir, codec, now, |f| tags.iter().any(|t| f.entry.has_tag(t)))
            })
            .await?;
        Ok(InvalidationCount::Exact(n))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.blocking(move |dir, codec| Self::remove_where(dir, codec, now, |_| true))
            .await
            .map(|_| ())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let now = self.clock.now();
        self.blocking(move |dir, codec| {
            let mut stats = StoreStats::default();
            for f in Self::scan(dir, codec)? {
                if !f.entry.is_expired(now) {
                    stats.entries += 1;
                    stats.bytes += f.entry.weight(f.key.as_str().len());
                }
            }
            Ok(stats)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|dir, _| {
            std::fs::create_dir_all(dir).map_err(io_error)?;
            std::fs::read_dir(dir).map(|_| ()).map_err(io_error)
        })
        .await
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        let now = self.clock.now();
        self.blocking(move |dir, codec| {
            Ok(Self::scan(dir, codec)?
                .into_iter()
                .filter(|f| !f.entry.is_expired(now))
                .map(|f| (f.key, f.entry))
                .collect())
        })
        .await
    }

    /// The cursor is a position in the sorted file names: an entry live
    /// during the whole enumeration is listed once; one written meanwhile
    /// may shift the rest by one (a duplicate, or, for a write before the
    /// cursor, a later entry seen twice), which the port allows.
    async fn entries_page(&self, cursor: u64, limit: usize) -> Result<EntriesPage, StoreError> {
        let now = self.clock.now();
        self.blocking(move |dir, codec| {
            let all = Self::scan(dir, codec)?;
            let start = usize::try_from(cursor).unwrap_or(usize::MAX).min(all.len());
            let end = start.saturating_add(limit.max(1)).min(all.len());
            let entries = all[start..end]
                .iter()
                .filter(|f| !f.entry.is_expired(now))
                .map(|f| (f.key.clone(), f.entry.clone()))
                .collect();
            let next = (end < all.len()).then_some(end as u64);
            Ok(EntriesPage { entries, next })
        })
        .await
    }
}
