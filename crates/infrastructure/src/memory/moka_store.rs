//! [`MokaStore`]: the in-process memory tier on moka's concurrent cache
//! (TinyLFU admission over segmented LRU, per-entry TTL via `Expiry`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, Clock, DomainEvent, EntryVersion, EventPublisher,
    EvictionCause, InsertOutcome, InvalidationCount, KeyPattern, StoreCapabilities, StoreError,
    StoreStats, Tag,
};

use crate::SystemClock;

/// An in-process store for one cache on a `moka::future::Cache`.
///
/// - Capacity: `max_bytes` (weighted by [`CacheEntry::weight`]) or
///   `max_entries`; moka bounds by one measure, so a configuration with
///   both is refused by the provider.
/// - TTL: each entry expires at its own `expires_at` (moka `Expiry`).
/// - Evictions and expirations are counted and published as
///   [`DomainEvent::EntryEvicted`] / [`DomainEvent::EntryExpired`] from
///   moka's eviction listener, which runs during maintenance: counts lag
///   until [`CacheStore::stats`] runs pending maintenance.
/// - Tags: an index tag -> keys, updated on insert and by the listener;
///   an index entry is dropped only when the removed entry's version is the
///   indexed one, so a replace never loses the new entry's tags.
pub struct MokaStore {
    cache: Cache<CacheKey, CacheEntry>,
    shared: Arc<Shared>,
    /// What `remove` and invalidations check expiry against.
    clock: Arc<dyn Clock>,
}

struct Shared {
    name: CacheName,
    bytes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    tags: Mutex<TagIndex>,
    any_tags: AtomicBool,
    events: Option<Arc<dyn EventPublisher>>,
}

#[derive(Default)]
struct TagIndex {
    by_tag: HashMap<Tag, HashSet<CacheKey>>,
    by_key: HashMap<CacheKey, (EntryVersion, Arc<[Tag]>)>,
}

impl TagIndex {
    fn unlink(&mut self, key: &CacheKey, tags: &[Tag]) {
        for tag in tags {
            if let Some(keys) = self.by_tag.get_mut(tag) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_tag.remove(tag);
                }
            }
        }
    }

    fn index(&mut self, key: &CacheKey, entry: &CacheEntry) {
        if let Some((_, old)) = self.by_key.remove(key) {
            self.unlink(key, &old);
        }
        if !entry.tags().is_empty() {
            for tag in entry.tags() {
                self.by_tag
                    .entry(tag.clone())
                    .or_default()
                    .insert(key.clone());
            }
            self.by_key
                .insert(key.clone(), (entry.version(), entry.tags().into()));
        }
    }

    fn forget(&mut self, key: &CacheKey, version: EntryVersion) {
        if self.by_key.get(key).is_some_and(|(v, _)| *v == version)
            && let Some((_, tags)) = self.by_key.remove(key)
        {
            self.unlink(key, &tags);
        }
    }
}

/// Configures a [`MokaStore`].
pub struct MokaStoreBuilder {
    name: CacheName,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventPublisher>>,
}

impl MokaStore {
    /// A builder for the store of cache `name`.
    ///
    /// ```
    /// use strata_domain::CacheName;
    /// use strata_infrastructure::MokaStore;
    /// let store = MokaStore::builder(CacheName::parse("c").unwrap())
    ///     .max_entries(Some(10_000))
    ///     .build();
    /// ```
    pub fn builder(name: CacheName) -> MokaStoreBuilder {
        MokaStoreBuilder {
            name,
            max_entries: None,
            max_bytes: None,
            clock: Arc::new(SystemClock),
            events: None,
        }
    }
}

impl MokaStoreBuilder {
    /// Capacity in entries (ignored when `max_bytes` is set).
    pub fn max_entries(mut self, max_entries: Option<u64>) -> Self {
        self.max_entries = max_entries;
        self
    }
    /// Capacity in bytes, weighing each entry by [`CacheEntry::weight`].
    pub fn max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        self.max_bytes = max_bytes;
        self
    }
    /// The clock TTLs are measured against (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Where eviction and expiry events go.
    pub fn events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = Some(events);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MokaStore {
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            bytes: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            expirations: AtomicU64::new(0),
            tags: Mutex::new(TagIndex::default()),
            any_tags: AtomicBool::new(false),
            events: self.events,
        });
        let listener_state = shared.clone();
        let mut builder = Cache::builder()
            .name(self.name.as_str())
            .expire_after(EntryExpiry {
                clock: self.clock.clone(),
            })
            .eviction_listener(move |key: Arc<CacheKey>, entry: CacheEntry, cause| {
                listener_state.on_removal(&key, &entry, cause);
            });
        builder = match (self.max_bytes, self.max_entries) {
            (Some(bytes), _) => builder
                .weigher(|k: &CacheKey, e: &CacheEntry| {
                    u32::try_from(e.weight(k.as_str().len())).unwrap_or(u32::MAX)
                })
                .max_capacity(bytes),
            (None, Some(entries)) => builder.max_capacity(entries),
            (None, None) => builder,
        };
        MokaStore {
            cache: builder.build(),
            shared,
            clock: self.clock,
        }
    }
}

impl Shared {
    fn on_removal(&self, key: &CacheKey, entry: &CacheEntry, cause: RemovalCause) {
        self.bytes
            .fetch_sub(entry.weight(key.as_str().len()), Ordering::Relaxed);
        if cause != RemovalCause::Replaced && !entry.tags().is_empty() {
            self.tags
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .forget(key, entry.version());
        }
        let event = match cause {
            RemovalCause::Size => {
                self.evictions.fetch_add(1, Ordering::Relaxed);
                DomainEvent::EntryEvicted {
                    cache: self.name.clone(),
                    key: key.clone(),
                    cause: EvictionCause::Capacity,
                }
            }
            RemovalCause::Expired => {
                self.expirations.fetch_add(1, Ordering::Relaxed);
                DomainEvent::EntryExpired {
                    cache: self.name.clone(),
                    key: key.clone(),
                }
            }
            RemovalCause::Explicit | RemovalCause::Replaced => return,
        };
        if let Some(events) = &self.events {
            events.publish(event);
        }
    }
}

/// Per-entry TTL: each entry lives until its own `expires_at`.
struct EntryExpiry {
    clock: Arc<dyn Clock>,
}

impl EntryExpiry {
    fn remaining(&self, entry: &CacheEntry) -> Option<Duration> {
        entry.remaining_ttl(self.clock.now())
    }
}

impl Expiry<CacheKey, CacheEntry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _: &CacheKey,
        entry: &CacheEntry,
        _: Instant,
    ) -> Option<Duration> {
        self.remaining(entry)
    }

    fn expire_after_update(
        &self,
        _: &CacheKey,
        entry: &CacheEntry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.remaining(entry)
    }
}

#[async_trait]
impl CacheStore for MokaStore {
    fn backend(&self) -> &str {
        "moka"
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::IN_PROCESS
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        Ok(self.cache.get(key.as_str()).await)
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let weight = entry.weight(key.as_str().len());
        let tagged = !entry.tags().is_empty();
        if tagged || self.shared.any_tags.load(Ordering::Relaxed) {
            self.shared.any_tags.store(true, Ordering::Relaxed);
            self.shared
                .tags
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .index(&key, &entry);
        }
        self.shared.bytes.fetch_add(weight, Ordering::Relaxed);
        // `contains_key` then `insert` rather than `entry().and_upsert_with`:
        // the entry API takes moka's slower per-key locking path (about 3x
        // the insert cost, see benches/store.rs). Two writers racing on one
        // key may both report `Created`; the stored state is the same.
        let present = self.cache.contains_key(key.as_str());
        self.cache.insert(key, entry).await;
        Ok(if present {
            InsertOutcome::Replaced
        } else {
            InsertOutcome::Created
        })
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        // moka hands back an expired value it had not dropped yet: that
        // was no live entry.
        let now = self.clock.now();
        let removed = self.cache.remove(key.as_str()).await;
        Ok(removed.is_some_and(|e| !e.is_expired(now)))
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        let matching: Vec<Arc<CacheKey>> = self
            .cache
            .iter()
            .filter(|(k, _)| pattern.matches(k.as_str()))
            .map(|(k, _)| k)
            .collect();
        let mut removed = 0;
        for key in matching {
            let gone = self.cache.remove(key.as_str()).await;
            removed += u64::from(gone.is_some_and(|e| !e.is_expired(self.clock.now())));
        }
        Ok(removed)
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        let candidates: HashSet<CacheKey> = {
            let index = self.shared.tags.lock().unwrap_or_else(|e| e.into_inner());
            tags.iter()
                .filter_map(|t| index.by_tag.get(t))
                .flatten()
                .cloned()
                .collect()
        };
        let mut removed = 0;
        for key in candidates {
            let carries = self
                .cache
                .get(key.as_str())
                .await
                .is_some_and(|e| tags.iter().any(|t| e.has_tag(t)));
            if carries && self.cache.remove(key.as_str()).await.is_some() {
                removed += 1;
            }
        }
        Ok(InvalidationCount::Exact(removed))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.cache.invalidate_all();
        self.cache.run_pending_tasks().await;
        Ok(())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.cache.run_pending_tasks().await;
        Ok(StoreStats {
            entries: self.cache.entry_count(),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            evictions_capacity: self.shared.evictions.load(Ordering::Relaxed),
            expirations: self.shared.expirations.load(Ordering::Relaxed),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        let mut all: Vec<_> = self.cache.iter().map(|(k, v)| ((*k).clone(), v)).collect();
        all.sort_by_key(|(_, e)| e.created_at());
        Ok(all)
    }

    /// Cursor: the position in moka's iteration order. moka has no
    /// resumable iterator, so each page walks past the earlier ones
    /// (quadratic in pages, constant in memory).
    async fn entries_page(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<strata_domain::EntriesPage, StoreError> {
        let limit = limit.max(1);
        let skip = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut iter = self.cache.iter().skip(skip);
        let entries: Vec<_> = iter
            .by_ref()
            .take(limit)
            .map(|(k, v)| ((*k).clone(), v))
            .collect();
        let next = (entries.len() == limit && iter.next().is_some())
            .then(|| cursor.saturating_add(limit as u64))
            .filter(|&n| n < strata_domain::MAX_ENTRIES_CURSOR);
        Ok(strata_domain::EntriesPage { entries, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use strata_domain::{CacheValue, ContentType, Timestamp};

    fn entry(v: &'static [u8], tags: &[&str], version: u64) -> CacheEntry {
        CacheEntry::new(
            CacheValue::new(Bytes::from_static(v), ContentType::default()),
            SystemClock.now(),
            None,
            tags.iter().map(|t| Tag::parse(t).unwrap()).collect(),
            EntryVersion::new(version),
        )
    }

    fn key(s: &str) -> CacheKey {
        CacheKey::parse(s).unwrap()
    }

    #[tokio::test]
    async fn replacing_an_entry_keeps_its_new_tags_indexed() {
        let store = MokaStore::builder(CacheName::parse("c").unwrap())
            .max_entries(Some(100))
            .build();
        store
            .insert(key("k"), entry(b"1", &["a", "b"], 1))
            .await
            .unwrap();
        store
            .insert(key("k"), entry(b"2", &["b"], 2))
            .await
            .unwrap();
        store.cache.run_pending_tasks().await;
        assert_eq!(
            store
                .invalidate_tags(&[Tag::parse("a").unwrap()])
                .await
                .unwrap(),
            InvalidationCount::Exact(0)
        );
        assert_eq!(
            store
                .invalidate_tags(&[Tag::parse("b").unwrap()])
                .await
                .unwrap(),
            InvalidationCount::Exact(1)
        );
        assert!(store.get(&key("k")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn byte_capacity_evicts_and_counts() {
        let store = MokaStore::builder(CacheName::parse("c").unwrap())
            .max_bytes(Some(10_000))
            .build();
        for i in 0..1000 {
            store
                .insert(key(&format!("k{i}")), entry(&[0; 100], &[], i))
                .await
                .unwrap();
        }
        let stats = store.stats().await.unwrap();
        assert!(stats.bytes <= 10_000, "bytes {} over capacity", stats.bytes);
        assert!(stats.evictions_capacity > 0);
        assert_eq!(stats.expirations, 0);
    }

    #[tokio::test]
    async fn an_entry_past_its_expiry_is_never_returned() {
        let store = MokaStore::builder(CacheName::parse("c").unwrap()).build();
        let mut e = entry(b"v", &[], 1);
        e = CacheEntry::new(
            e.value().clone(),
            Timestamp::from_millis(0),
            Some(Timestamp::from_millis(1)),
            vec![],
            e.version(),
        );
        store.insert(key("old"), e).await.unwrap();
        assert!(store.get(&key("old")).await.unwrap().is_none());
    }
}
