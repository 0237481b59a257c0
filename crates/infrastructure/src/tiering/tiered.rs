//! [`TieredStore`]: an in-process memory tier (L1) stacked over a shared
//! tier (L2: Redis, Redis Cluster or Memcached), kept coherent across
//! instances by a [`CoherenceBus`].
//!
//! - **Reads** try L1, then L2. An L2 hit is promoted into L1 with the
//!   remaining L2 TTL (capped by `l1_max_ttl`). Concurrent L1 misses of one
//!   key in this process share a single L2 read (single-flight).
//! - **Writes** are write-through: L2 first, then L1. When L2 fails, the key
//!   is dropped from L1 so that L1 never holds a value L2 refused.
//! - **Deletes, invalidations and flushes** apply to L2, then L1, and are
//!   published on the bus so the other instances drop their L1 copies.
//! - **Degraded mode:** while L2's circuit breaker is not closed, or the
//!   bus has lost its subscription, L1 hits are still served but flagged
//!   [`Lookup::possibly_stale`]; misses fail with L2's error (503).
//! - **Stale-if-error** (RFC 5861, the cache's `stale_if_error`): L1
//!   copies are kept that long past their freshness (their TTL, capped by
//!   `l1_max_ttl`). A copy past its freshness is never an L1 hit: the read
//!   goes to L2. Only when L2 fails may the caller take it, through
//!   [`CacheStore::stale_copy`], and check its window. A delete, write or
//!   invalidation drops L1's copy, and is published to the other
//!   instances, even when L2 refuses it (dropping a copy is always safe),
//!   so a deleted or invalidated entry is never served stale, also when
//!   the coherence channel (`[coherence] backend`) outlives L2.
//!
//! Promotion races: an L2 read that started before a write or invalidation
//! of the same key must not re-install the old value in L1 after the
//! invalidation. Each key hashes to one of [`STRIPES`] generation counters
//! (and one global counter covers pattern, tag and flush invalidations);
//! writers bump the counter after L2 and before touching L1, and a promotion
//! is skipped, or undone, when the counter moved during its L2 read.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use strata_application::SingleFlight;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CircuitState, Clock, HitTier, InsertOutcome,
    InvalidationCount, KeyPattern, Lookup, StoreCapabilities, StoreError, StoreStats, Tag,
    TierStats,
};

use crate::tiering::{CoherenceBus, CoherenceListener, Invalidation};
use crate::{CircuitBreaker, SystemClock};

/// Number of per-key generation counters (see the module docs).
const STRIPES: usize = 256;

/// What an L2 read gives every single-flight waiter.
/// What one single-flight read shares with its waiters: the entry and the
/// tier that held it.
type L2Read = Result<Option<(CacheEntry, HitTier)>, Arc<StoreError>>;

/// Builds a [`TieredStore`].
pub struct TieredStoreBuilder {
    cache: CacheName,
    l1: Arc<dyn CacheStore>,
    l2: Arc<dyn CacheStore>,
    l1_name: String,
    l2_name: String,
    l1_max_ttl: Option<Duration>,
    stale_if_error: Duration,
    clock: Arc<dyn Clock>,
    bus: Option<Arc<CoherenceBus>>,
    breaker: Option<Arc<CircuitBreaker>>,
}

impl TieredStoreBuilder {
    /// How long L1 keeps a copy past its freshness, for stale-if-error
    /// (zero, the default: not at all).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Tier names for stats and metrics (default `memory` and `l2`).
    pub fn tier_names(mut self, l1: impl Into<String>, l2: impl Into<String>) -> Self {
        self.l1_name = l1.into();
        self.l2_name = l2.into();
        self
    }

    /// Longest time an entry stays in L1, whatever its TTL in L2.
    pub fn l1_max_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.l1_max_ttl = ttl;
        self
    }

    /// The clock that `l1_max_ttl` is measured against.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Publish this cache's invalidations on `bus` and apply the other
    /// instances' to L1.
    pub fn bus(mut self, bus: Arc<CoherenceBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// L2's circuit breaker: while it is not closed, L1 hits are flagged
    /// possibly stale.
    pub fn breaker(mut self, breaker: Arc<CircuitBreaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Builds the store and registers it with the bus.
    pub fn build(self) -> TieredStore {
        let shared = Arc::new(Shared {
            cache: self.cache,
            l1: self.l1,
            l2: self.l2,
            l1_name: self.l1_name,
            l2_name: self.l2_name,
            l1_max_ttl: self.l1_max_ttl,
            stale_if_error: self.stale_if_error,
            clock: self.clock,
            bus: self.bus,
            breaker: self.breaker,
            generations: Generations::new(),
            flights: SingleFlight::default(),
            counters: Counters::default(),
            probing: AtomicBool::new(false),
        });
        if let Some(bus) = &shared.bus {
            let listener: Weak<dyn CoherenceListener> =
                Arc::downgrade(&(shared.clone() as Arc<dyn CoherenceListener>));
            bus.register(&shared.cache, listener);
        }
        TieredStore { shared }
    }
}

/// A memory tier over a shared tier; see the module docs.
pub struct TieredStore {
    shared: Arc<Shared>,
}

impl TieredStore {
    /// A builder for cache `cache` with `l1` (in-process) over `l2` (shared).
    pub fn builder(
        cache: CacheName,
        l1: Arc<dyn CacheStore>,
        l2: Arc<dyn CacheStore>,
    ) -> TieredStoreBuilder {
        TieredStoreBuilder {
            cache,
            l1,
            l2,
            l1_name: "memory".to_owned(),
            l2_name: "l2".to_owned(),
            l1_max_ttl: None,
            stale_if_error: Duration::ZERO,
            clock: Arc::new(SystemClock),
            bus: None,
            breaker: None,
        }
    }

    /// The L1 store.
    pub fn l1(&self) -> &Arc<dyn CacheStore> {
        &self.shared.l1
    }

    /// In degraded mode only L1 answers, so nothing would ever call L2 and
    /// let its breaker's half-open probe close it again: once the
    /// cool-down has passed, ping L2 in the background (one probe at a
    /// time).
    fn probe_l2(&self) {
        let s = &self.shared;
        let half_open = s
            .breaker
            .as_ref()
            .is_some_and(|b| b.state() == CircuitState::HalfOpen);
        if !half_open || s.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            s.probing.store(false, Ordering::Release);
            return;
        };
        let shared = s.clone();
        runtime.spawn(async move {
            if let Err(e) = shared.l2.ping().await {
                tracing::debug!(cache = %shared.cache, error = %e, "L2 probe failed");
            }
            shared.probing.store(false, Ordering::Release);
        });
    }

    /// [`Shared::read_through`] with single-flight: concurrent L1 misses of
    /// `key` share one L2 read.
    async fn load(&self, key: &CacheKey) -> Result<Option<(CacheEntry, HitTier)>, StoreError> {
        let (shared, owned) = (self.shared.clone(), key.clone());
        self.shared
            .flights
            .run(key, move || {
                async move { shared.read_through(&owned).await.map_err(Arc::new) }.boxed()
            })
            .await
            .map_err(|e| copy_error(&e))
    }

    /// Reads of L2 so far (single-flight leaders and batch reads).
    pub fn l2_reads(&self) -> u64 {
        let c = &self.shared.counters;
        c.l2_hits.load(Ordering::Relaxed) + c.l2_misses.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Counters {
    l1_hits: AtomicU64,
    l1_misses: AtomicU64,
    l2_hits: AtomicU64,
    l2_misses: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Invalidation generations: one global counter and [`STRIPES`] per-key ones.
struct Generations {
    hasher: RandomState,
    global: AtomicU64,
    stripes: Box<[AtomicU64]>,
}

impl Generations {
    fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            global: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn stripe(&self, key: &CacheKey) -> &AtomicU64 {
        let i = self.hasher.hash_one(key.as_str()) as usize % STRIPES;
        &self.stripes[i]
    }

    fn snapshot(&self, key: &CacheKey) -> (u64, u64) {
        (
            self.global.load(Ordering::SeqCst),
            self.stripe(key).load(Ordering::SeqCst),
        )
    }

    fn bump_key(&self, key: &CacheKey) {
        self.stripe(key).fetch_add(1, Ordering::SeqCst);
    }

    fn bump_all(&self) {
        self.global.fetch_add(1, Ordering::SeqCst);
    }
}

struct Shared {
    cache: CacheName,
    l1: Arc<dyn CacheStore>,
    l2: Arc<dyn CacheStore>,
    l1_name: String,
    l2_name: String,
    l1_max_ttl: Option<Duration>,
    stale_if_error: Duration,
    clock: Arc<dyn Clock>,
    bus: Option<Arc<CoherenceBus>>,
    breaker: Option<Arc<CircuitBreaker>>,
    generations: Generations,
    flights: SingleFlight<CacheKey, L2Read>,
    counters: Counters,
    probing: AtomicBool,
}

/// A copy of a store error for single-flight waiters (driver errors are
/// not `Clone`; their text is kept, the variant decides the HTTP status).
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable { backend, source } => StoreError::Unavailable {
            backend: backend.clone(),
            source: source.to_string().into(),
        },
        StoreError::Timeout {
            backend,
            timeout_ms,
        } => StoreError::Timeout {
            backend: backend.clone(),
            timeout_ms: *timeout_ms,
        },
        StoreError::Unsupported { backend, operation } => StoreError::Unsupported {
            backend: backend.clone(),
            operation,
        },
        StoreError::Unexpected(source) => StoreError::Unexpected(source.to_string().into()),
    }
}

impl Shared {
    /// Whether L1 answers may miss other instances' writes.
    fn degraded(&self) -> bool {
        self.breaker.as_ref().is_some_and(|b| !b.is_closed())
            || self.bus.as_ref().is_some_and(|b| !b.is_subscribed())
    }

    /// The copy of `entry` that L1 holds: fresh for `l1_max_ttl` at most,
    /// then kept `stale_if_error` longer.
    fn for_l1(&self, entry: &CacheEntry) -> CacheEntry {
        let capped = match self.l1_max_ttl {
            Some(max) => entry.expiring_by(self.clock.now().saturating_add(max)),
            None => entry.clone(),
        };
        capped.kept_stale_for(self.stale_if_error)
    }

    /// L1's copy of `key` while it is fresh: a copy kept past its
    /// freshness for stale-if-error is not a hit.
    async fn l1_fresh(&self, key: &CacheKey) -> Option<CacheEntry> {
        match self.l1.get(key).await {
            Ok(Some(entry)) if !entry.is_stale(self.clock.now()) => Some(entry),
            _ => None,
        }
    }

    /// Installs an L2 hit in L1 unless the key was invalidated since
    /// `before` was taken (then the promotion is skipped or undone).
    async fn promote(&self, key: &CacheKey, entry: &CacheEntry, before: (u64, u64)) {
        if self.generations.snapshot(key) != before {
            return;
        }
        if let Err(e) = self.l1.insert(key.clone(), self.for_l1(entry)).await {
            tracing::debug!(cache = %self.cache, error = %e, "L1 refused a promotion");
            return;
        }
        if self.generations.snapshot(key) != before {
            let _ = self.l1.remove(key).await;
        }
    }

    /// One L2 read, promoting a hit.
    ///
    /// It looks in L1 once more first: a request that missed L1 just
    /// before an earlier flight promoted the key, and reached the flight map
    /// after that flight had finished, finds the promoted copy instead of
    /// reading L2 a second time. Such a request counts as an L1 miss (its
    /// first look) and no L2 read, and answers `HitTier::L1`.
    async fn read_through(
        &self,
        key: &CacheKey,
    ) -> Result<Option<(CacheEntry, HitTier)>, StoreError> {
        if let Some(entry) = self.l1_fresh(key).await {
            return Ok(Some((entry, HitTier::L1)));
        }
        let before = self.generations.snapshot(key);
        let found = self.l2.get(key).await?;
        match &found {
            Some(entry) => {
                bump(&self.counters.l2_hits);
                self.promote(key, entry, before).await;
            }
            None => bump(&self.counters.l2_misses),
        }
        Ok(found.map(|entry| (entry, HitTier::L2)))
    }

    async fn publish(&self, invalidation: Invalidation) {
        if let Some(bus) = &self.bus {
            // The bus logs and counts failures; the write itself succeeded,
            // and l1_max_ttl bounds how long another instance may lag.
            let _ = bus.publish(&self.cache, invalidation).await;
        }
    }

    async fn drop_from_l1(&self, invalidation: &Invalidation) {
        let result = match invalidation {
            Invalidation::Keys(keys) => {
                for key in keys {
                    self.generations.bump_key(key);
                    let _ = self.l1.remove(key).await;
                }
                Ok(())
            }
            Invalidation::Pattern(pattern) => {
                self.generations.bump_all();
                self.l1.invalidate_pattern(pattern).await.map(drop)
            }
            Invalidation::Tags(tags) => {
                self.generations.bump_all();
                self.l1.invalidate_tags(tags).await.map(drop)
            }
            Invalidation::Flush | Invalidation::Reconfigure => {
                self.generations.bump_all();
                self.l1.flush().await
            }
        };
        if let Err(e) = result {
            tracing::warn!(cache = %self.cache, error = %e, "could not apply an invalidation to L1");
        }
    }
}

#[async_trait]
impl CoherenceListener for Shared {
    async fn invalidate(&self, invalidation: &Invalidation) {
        self.drop_from_l1(invalidation).await;
    }

    async fn clear(&self) {
        self.drop_from_l1(&Invalidation::Flush).await;
    }
}

#[async_trait]
impl CacheStore for TieredStore {
    fn backend(&self) -> &str {
        self.shared.l2.backend()
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities {
            shared: true,
            ..self.shared.l2.capabilities()
        }
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        Ok(self.lookup(key).await?.map(|hit| hit.entry))
    }

    async fn lookup(&self, key: &CacheKey) -> Result<Option<Lookup>, StoreError> {
        let s = &self.shared;
        if let Some(entry) = s.l1_fresh(key).await {
            bump(&s.counters.l1_hits);
            let possibly_stale = s.degraded();
            if possibly_stale {
                self.probe_l2();
            }
            return Ok(Some(Lookup {
                entry,
                tier: HitTier::L1,
                possibly_stale,
            }));
        }
        bump(&s.counters.l1_misses);
        Ok(self.load(key).await?.map(|(entry, tier)| Lookup {
            entry,
            tier,
            possibly_stale: false,
        }))
    }

    /// L1's copy whatever its freshness: one kept for stale-if-error.
    async fn stale_copy(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        Ok(self.shared.l1.get(key).await.ok().flatten())
    }

    /// Reads L2 past any L1 copy, and promotes what it finds into L1
    /// (unless the key was invalidated meanwhile).
    async fn get_shared(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let s = &self.shared;
        let before = s.generations.snapshot(key);
        let found = s.l2.get(key).await?;
        match &found {
            Some(entry) => {
                bump(&s.counters.l2_hits);
                s.promote(key, entry, before).await;
            }
            None => bump(&s.counters.l2_misses),
        }
        Ok(found)
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        let s = &self.shared;
        let now = s.clock.now();
        let mut found: Vec<Option<CacheEntry>> = match s.l1.get_many(keys).await {
            Ok(found) => found
                .into_iter()
                .map(|entry| entry.filter(|e| !e.is_stale(now)))
                .collect(),
            Err(_) => vec![None; keys.len()],
        };
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| found[i].is_none()).collect();
        s.counters
            .l1_hits
            .fetch_add((keys.len() - missing.len()) as u64, Ordering::Relaxed);
        s.counters
            .l1_misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        if missing.is_empty() {
            return Ok(found);
        }
        let wanted: Vec<CacheKey> = missing.iter().map(|&i| keys[i].clone()).collect();
        let before: Vec<(u64, u64)> = wanted.iter().map(|k| s.generations.snapshot(k)).collect();
        let fetched = s.l2.get_many(&wanted).await?;
        for ((i, entry), before) in missing.into_iter().zip(fetched).zip(before) {
            match &entry {
                Some(entry) => {
                    bump(&s.counters.l2_hits);
                    s.promote(&keys[i], entry, before).await;
                }
                None => bump(&s.counters.l2_misses),
            }
            found[i] = entry;
        }
        Ok(found)
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let s = &self.shared;
        let outcome = s.l2.insert(key.clone(), entry.clone()).await;
        s.generations.bump_key(&key);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                let _ = s.l1.remove(&key).await;
                s.publish(Invalidation::Keys(vec![key])).await;
                return Err(e);
            }
        };
        if s.l1.insert(key.clone(), s.for_l1(&entry)).await.is_err() {
            let _ = s.l1.remove(&key).await;
        }
        s.publish(Invalidation::Keys(vec![key])).await;
        Ok(outcome)
    }

    async fn insert_many(
        &self,
        entries: Vec<(CacheKey, CacheEntry)>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let s = &self.shared;
        let keys: Vec<CacheKey> = entries.iter().map(|(k, _)| k.clone()).collect();
        let l1_entries: Vec<(CacheKey, CacheEntry)> = entries
            .iter()
            .map(|(k, e)| (k.clone(), s.for_l1(e)))
            .collect();
        let outcome = s.l2.insert_many(entries).await;
        for key in &keys {
            s.generations.bump_key(key);
        }
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                for key in &keys {
                    let _ = s.l1.remove(key).await;
                }
                s.publish(Invalidation::Keys(keys)).await;
                return Err(e);
            }
        };
        if s.l1.insert_many(l1_entries).await.is_err() {
            for key in &keys {
                let _ = s.l1.remove(key).await;
            }
        }
        s.publish(Invalidation::Keys(keys)).await;
        Ok(outcome)
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let s = &self.shared;
        let removed = s.l2.remove(key).await;
        s.generations.bump_key(key);
        let _ = s.l1.remove(key).await;
        s.publish(Invalidation::Keys(vec![key.clone()])).await;
        removed
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        let s = &self.shared;
        // L1 drops its copies even when L2 fails: they are never served
        // stale after an invalidation was asked for.
        let removed = s.l2.invalidate_pattern(pattern).await;
        s.drop_from_l1(&Invalidation::Pattern(pattern.clone()))
            .await;
        s.publish(Invalidation::Pattern(pattern.clone())).await;
        removed
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        let s = &self.shared;
        // L2 holds every entry L1 does: its count (or its not knowing)
        // is the answer; L1's removals are a subset and count nothing.
        let removed = s.l2.invalidate_tags(tags).await;
        s.drop_from_l1(&Invalidation::Tags(tags.to_vec())).await;
        s.publish(Invalidation::Tags(tags.to_vec())).await;
        removed
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let s = &self.shared;
        let flushed = s.l2.flush().await;
        s.drop_from_l1(&Invalidation::Flush).await;
        s.publish(Invalidation::Flush).await;
        flushed
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.shared.l2.stats().await
    }

    async fn tier_stats(&self) -> Result<Vec<TierStats>, StoreError> {
        let s = &self.shared;
        let c = &s.counters;
        Ok(vec![
            TierStats {
                tier: s.l1_name.clone(),
                hits: c.l1_hits.load(Ordering::Relaxed),
                misses: c.l1_misses.load(Ordering::Relaxed),
                store: s.l1.stats().await.unwrap_or_default(),
            },
            TierStats {
                tier: s.l2_name.clone(),
                hits: c.l2_hits.load(Ordering::Relaxed),
                misses: c.l2_misses.load(Ordering::Relaxed),
                store: s.l2.stats().await?,
            },
        ])
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.shared.l2.ping().await
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        self.shared.l2.entries().await
    }

    /// L1's resident keys, in its enumeration order: what its eviction
    /// policy kept is the hot set.
    async fn hot_keys(&self, limit: usize) -> Result<Vec<CacheKey>, StoreError> {
        let mut keys = Vec::new();
        let mut cursor = Some(0);
        while let Some(at) = cursor
            && keys.len() < limit
        {
            let page = self.shared.l1.entries_page(at, 512).await?;
            cursor = page.next;
            keys.extend(page.entries.into_iter().map(|(k, _)| k));
        }
        keys.truncate(limit);
        Ok(keys)
    }

    /// From L2, the tier that holds every entry (L1 holds a subset, with
    /// expiries capped by `l1_ttl`); an L2 that cannot enumerate
    /// (Memcached) answers `Unsupported`.
    async fn entries_page(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<strata_domain::EntriesPage, StoreError> {
        self.shared.l2.entries_page(cursor, limit).await
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use strata_domain::{CacheValue, ContentType, EntryVersion, Timestamp};

    use super::*;
    use crate::PolicyStore;

    fn entry(byte: u8) -> CacheEntry {
        CacheEntry::new(
            CacheValue::new(Bytes::from(vec![byte; 8]), ContentType::default()),
            Timestamp::from_millis(0),
            None,
            vec![],
            EntryVersion::new(1),
        )
    }

    /// The race a stampede can hit: a request misses L1, an earlier flight
    /// promotes the key and finishes, then the request starts a flight of
    /// its own. That flight must find the promoted copy, not read L2 again.
    #[tokio::test]
    async fn a_flight_after_a_promotion_reads_l1_not_l2() {
        let cache = CacheName::parse("t").unwrap();
        let l1: Arc<dyn CacheStore> = Arc::new(PolicyStore::builder(cache.clone()).build());
        let l2: Arc<dyn CacheStore> = Arc::new(PolicyStore::builder(cache.clone()).build());
        let store = TieredStore::builder(cache, l1.clone(), l2.clone()).build();
        let key = CacheKey::parse("k").unwrap();
        l2.insert(key.clone(), entry(2)).await.unwrap();
        l1.insert(key.clone(), entry(1)).await.unwrap();

        let (found, tier) = store.load(&key).await.unwrap().expect("found");
        assert_eq!(tier, HitTier::L1);
        assert_eq!(found.value().bytes().as_ref(), &[1; 8]);
        assert_eq!(store.l2_reads(), 0, "L2 was read although L1 held the key");

        // Without the copy in L1, the flight reads L2 once and promotes.
        l1.remove(&key).await.unwrap();
        let (found, tier) = store.load(&key).await.unwrap().expect("found");
        assert_eq!(tier, HitTier::L2);
        assert_eq!(found.value().bytes().as_ref(), &[2; 8]);
        assert_eq!(store.l2_reads(), 1);
        assert!(
            l1.get(&key).await.unwrap().is_some(),
            "an L2 hit is promoted"
        );
    }

    /// Eager refresh asks whether another instance wrote a newer value:
    /// `get_shared` must answer from L2 even when L1 holds an older copy,
    /// and refill L1 with what it found.
    #[tokio::test]
    async fn get_shared_reads_l2_past_an_l1_copy_and_refills_l1() {
        let cache = CacheName::parse("t").unwrap();
        let l1: Arc<dyn CacheStore> = Arc::new(PolicyStore::builder(cache.clone()).build());
        let l2: Arc<dyn CacheStore> = Arc::new(PolicyStore::builder(cache.clone()).build());
        let store = TieredStore::builder(cache, l1.clone(), l2.clone()).build();
        let key = CacheKey::parse("k").unwrap();
        l1.insert(key.clone(), entry(1)).await.unwrap();
        l2.insert(key.clone(), entry(2)).await.unwrap();

        assert_eq!(
            store
                .get(&key)
                .await
                .unwrap()
                .unwrap()
                .value()
                .bytes()
                .as_ref(),
            &[1; 8]
        );
        let shared = store.get_shared(&key).await.unwrap().expect("L2 holds it");
        assert_eq!(shared.value().bytes().as_ref(), &[2; 8]);
        assert_eq!(store.l2_reads(), 1);
        assert_eq!(
            l1.get(&key)
                .await
                .unwrap()
                .unwrap()
                .value()
                .bytes()
                .as_ref(),
            &[2; 8]
        );
    }
}
