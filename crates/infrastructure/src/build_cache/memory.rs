//! [`MemoryBuildStore`]: AC and CAS in process, bounded by bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use strata_domain::{
    AcEntry, ActionCache, BlobRead, BlobWriter, BuildCacheError, Clock, Committed, ContentStore,
    DigestHash, EntryMeta, FlushCriteria, FlushResult, InstanceName, ReadRange, StoreFlushReport,
    StoreKind, StoreUsage,
};

use super::DEFAULT_MAX_BLOB_BYTES;
use super::key::{HitCounters, Key};
use super::verify::{BufferedUpload, Verified};
use crate::clock::SystemClock;
use crate::eviction::{AnyPolicy, EvictionPolicy, LruConfig, PolicyConfig};

const STORE: &str = "memory";

/// AC entries and CAS blobs in process memory, bounded by bytes, evicted
/// by any of the [`eviction`](crate::eviction) policies (weight = bytes).
/// One instance serves both ports, and AC and CAS share its byte budget.
///
/// A policy with admission (W-TinyLFU, S3-FIFO) may decline a new entry;
/// the write then succeeds without being retained, as in any cache. Use
/// LRU (the default) or SIEVE where a write must be readable at once.
///
/// ```
/// use strata_infrastructure::MemoryBuildStore;
/// let store = MemoryBuildStore::builder().max_bytes(64 << 20).build();
/// # let _ = store;
/// ```
pub struct MemoryBuildStore {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    capacity: u64,
    max_blob_bytes: u64,
    counters: HitCounters,
}

struct Slot {
    value: Bytes,
    last_access: strata_domain::Timestamp,
}

struct Inner {
    policy: AnyPolicy<Key>,
    map: HashMap<Key, Slot>,
}

/// Builds a [`MemoryBuildStore`].
pub struct MemoryBuildStoreBuilder {
    max_bytes: u64,
    max_blob_bytes: u64,
    policy: PolicyConfig,
    clock: Arc<dyn Clock>,
}

impl MemoryBuildStoreBuilder {
    /// The byte budget shared by AC and CAS (default 256 MiB).
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

    /// The eviction policy (default LRU).
    #[must_use]
    pub fn policy(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
        self
    }

    /// The clock that stamps last accesses (default the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store, shared as `Arc` (it serves both ports).
    pub fn build(self) -> Arc<MemoryBuildStore> {
        Arc::new(MemoryBuildStore {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    policy: self.policy.build(self.max_bytes),
                    map: HashMap::new(),
                }),
                clock: self.clock,
                capacity: self.max_bytes,
                max_blob_bytes: self.max_blob_bytes.min(self.max_bytes),
                counters: Default::default(),
            }),
        })
    }
}

impl MemoryBuildStore {
    /// A builder with 256 MiB, LRU and the system clock.
    pub fn builder() -> MemoryBuildStoreBuilder {
        MemoryBuildStoreBuilder {
            max_bytes: 256 << 20,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            policy: PolicyConfig::Lru(LruConfig),
            clock: Arc::new(SystemClock),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another task panicked mid-update of
        // plain maps; the data is still consistent enough for a cache.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get_value(&self, key: &Key, touch: bool) -> Option<(Bytes, strata_domain::Timestamp)> {
        let now = self.clock.now();
        let mut inner = self.lock();
        if touch {
            inner.policy.access(key);
        }
        let slot = inner.map.get_mut(key)?;
        let before = slot.last_access;
        if touch {
            slot.last_access = now;
        }
        Some((slot.value.clone(), before))
    }

    fn count(&self, kind: StoreKind, hit: bool) {
        self.counters.count(kind, hit);
    }

    /// Stores `value` under `key`; `Ok(false)` when a CAS blob was already there.
    fn insert(&self, key: Key, value: Bytes, replace: bool) -> Result<bool, BuildCacheError> {
        let weight = (value.len() as u64).max(1);
        if weight > self.capacity {
            return Err(BuildCacheError::InsufficientStorage {
                needed_bytes: weight,
                capacity_bytes: self.capacity,
            });
        }
        let now = self.clock.now();
        let mut inner = self.lock();
        if !replace && inner.map.contains_key(&key) {
            inner.policy.access(&key);
            if let Some(slot) = inner.map.get_mut(&key) {
                slot.last_access = now;
            }
            return Ok(false);
        }
        let mut evicted = Vec::new();
        let admitted = inner.policy.insert(key.clone(), weight, None, &mut evicted);
        for (gone, _) in evicted {
            inner.map.remove(&gone);
        }
        if admitted {
            inner.map.insert(
                key,
                Slot {
                    value,
                    last_access: now,
                },
            );
        } else {
            inner.map.remove(&key);
        }
        Ok(true)
    }

    fn list_kind(&self, kind: StoreKind, instance: Option<&InstanceName>) -> Vec<EntryMeta> {
        let inner = self.lock();
        inner
            .map
            .iter()
            .filter(|(k, _)| k.kind == kind && instance.is_none_or(|i| *i == k.instance))
            .map(|(k, s)| EntryMeta {
                instance: k.instance.clone(),
                hash: k.hash,
                size_bytes: s.value.len() as u64,
                last_access: s.last_access,
            })
            .collect()
    }

    fn flush_kind(&self, kind: StoreKind, criteria: &FlushCriteria) -> FlushResult {
        let started = Instant::now();
        let now = self.clock.now();
        let mut inner = self.lock();
        let doomed: Vec<Key> = inner
            .map
            .iter()
            .filter(|(k, s)| {
                k.kind == kind && criteria.matches(&k.instance, &k.hash, s.last_access, now)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut report = StoreFlushReport {
            store: STORE.to_owned(),
            ..Default::default()
        };
        for key in doomed {
            let size = inner.map.get(&key).map_or(0, |s| s.value.len() as u64);
            if !criteria.dry_run {
                inner.map.remove(&key);
                inner.policy.remove(&key);
            }
            report.entries_removed += 1;
            report.bytes_reclaimed += size;
        }
        drop(inner);
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        FlushResult::single(kind, criteria.dry_run, report)
    }

    fn usage(&self, kind: StoreKind) -> StoreUsage {
        let inner = self.lock();
        let (entries, bytes) = inner
            .map
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .fold((0, 0), |(n, b), (_, s)| (n + 1, b + s.value.len() as u64));
        self.counters.usage(STORE, kind, entries, bytes)
    }
}

#[async_trait]
impl ActionCache for MemoryBuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        let found = self
            .shared
            .get_value(&Key::new(StoreKind::Ac, instance, *key), true);
        self.shared.count(StoreKind::Ac, found.is_some());
        Ok(found.map(|(value, last_access)| AcEntry { value, last_access }))
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        Ok(self
            .shared
            .get_value(&Key::new(StoreKind::Ac, instance, *key), false)
            .map(|(v, _)| v))
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
        self.shared
            .insert(Key::new(StoreKind::Ac, instance, key), value, true)
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
        Ok(self.shared.flush_kind(StoreKind::Ac, criteria))
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Ac)])
    }
}

#[async_trait]
impl ContentStore for MemoryBuildStore {
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
        Ok(self
            .shared
            .lock()
            .map
            .get(&key)
            .map(|s| s.value.len() as u64))
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        let value = if *hash == DigestHash::EMPTY {
            Some(Bytes::new())
        } else {
            self.shared
                .get_value(&Key::new(StoreKind::Cas, instance, *hash), true)
                .map(|(v, _)| v)
        };
        self.shared.count(StoreKind::Cas, value.is_some());
        value.map(|v| BlobRead::from_bytes(v, range)).transpose()
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        Ok(Box::new(MemoryWriter {
            store: Arc::clone(&self.shared),
            key: Key::new(StoreKind::Cas, instance, hash),
            upload: BufferedUpload::new(hash, expected_size, self.shared.max_blob_bytes)?,
        }))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        Ok(self.shared.list_kind(StoreKind::Cas, instance))
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        Ok(self.shared.flush_kind(StoreKind::Cas, criteria))
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Cas)])
    }
}

/// A CAS upload into memory: the chunks are kept (the blob lives in
/// memory anyway) and stored at commit.
struct MemoryWriter {
    store: Arc<Shared>,
    key: Key,
    upload: BufferedUpload,
}

#[async_trait]
impl BlobWriter for MemoryWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        self.upload.push(&chunk)
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        match self.upload.finish()? {
            Verified::Empty(digest) => Ok(Committed {
                digest,
                created: false,
            }),
            Verified::Content(digest, bytes) => {
                let created = self.store.insert(self.key, bytes, false)?;
                Ok(Committed { digest, created })
            }
        }
    }
}
