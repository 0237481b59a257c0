//! [`PolicyStore`]: the in-process memory tier with a pluggable eviction
//! policy (any of [`eviction`](crate::eviction)'s, chosen at run time),
//! sharded for concurrency.

use std::hash::{BuildHasher, RandomState};
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, Clock, DomainEvent, EventPublisher, EvictionCause,
    InsertOutcome, InvalidationCount, KeyPattern, StoreCapabilities, StoreError, StoreStats, Tag,
};

use super::shard::{Removals, Shard, weight};
use crate::eviction::{EvictionPolicy as _, PolicyConfig};

/// An in-process store for one cache, bounded by entries or bytes, that
/// evicts with a policy chosen at run time from a [`PolicyConfig`] (LRU,
/// FIFO, LFU, CLOCK, SIEVE, S3-FIFO, ARC, W-TinyLFU, TTL-first; each
/// policy's module in [`eviction`](crate::eviction) cites its paper).
///
/// # Capacity
/// - Byte mode (`max_bytes` set): each entry weighs
///   [`CacheEntry::weight`] bytes (key + payload + content type).
/// - Object mode (`max_entries` only): each entry weighs 1.
/// - Neither: unbounded.
///
/// The provider refuses configurations with both bounds; if both are given
/// anyway, `max_bytes` wins. [`StoreStats::bytes`] is the sum of
/// [`CacheEntry::weight`]s in both modes.
///
/// # Sharding
/// Keys are spread by hash over `N` shards (a power of two), each a
/// `Mutex` around its own map, policy, tag index and expiry index, so
/// operations on different shards do not contend and every operation locks
/// one shard at a time (batches lock each shard they touch once).
///
/// The trade-off: capacity is split evenly, so each shard holds
/// `capacity / N` (the remainder goes one unit each to the first shards;
/// the shards' capacities sum to the total, which is never exceeded), and
/// each shard evicts by its own policy's ranking: an entry heavier than its
/// shard's capacity is not admitted even if the whole cache could hold it,
/// and the policy sees `N` smaller caches, which for small shards lowers
/// the hit ratio. The builder therefore starts from the requested shard
/// count (default: the next power of two >= 4 x available parallelism, at
/// least 4) and halves it until
/// - object mode: every shard holds at least 256 entries, and
/// - byte mode: a shard's policy admits an entry of the largest weight a
///   valid entry can have (`max_value_bytes` +
///   [`MAX_KEY_BYTES`](strata_domain::MAX_KEY_BYTES) +
///   [`MAX_CONTENT_TYPE_BYTES`](strata_domain::MAX_CONTENT_TYPE_BYTES)),
///   checked against the policy itself, so
///   W-TinyLFU (which admits at most its 1% window) and S3-FIFO (its 10%
///   small queue) get fewer, larger shards;
///
/// or one shard is left. With one shard, only the policy's own limits
/// apply: W-TinyLFU in byte mode, for one, never admits an entry above
/// 1% of `max_bytes`.
///
/// # Inserts the policy declines
/// An entry the policy does not admit (heavier than the shard, or above an
/// admission window) is handled as if written and immediately evicted: the
/// outcome still says whether a live entry was replaced (it is gone), a
/// later `get` misses, [`StoreStats::evictions_capacity`] counts it and an
/// [`EntryEvicted`](DomainEvent::EntryEvicted) event with cause `Capacity`
/// is published. An entry already expired when inserted is not stored; it
/// counts as an expiration.
///
/// # Expiry
/// Each entry expires at its own `expires_at`, measured on the builder's
/// [`Clock`]. `get` drops an expired entry it finds; each insert also
/// collects up to 8 expired entries of its shard (soonest expiry first,
/// from a per-shard index), and [`CacheStore::stats`] collects all of them,
/// so [`StoreStats::entries`] never counts expired entries. Each collection
/// counts an expiration and publishes
/// [`EntryExpired`](DomainEvent::EntryExpired).
///
/// Events are published after the shard's lock is released.
///
/// ```
/// use strata_domain::CacheName;
/// use strata_infrastructure::PolicyStore;
/// use strata_infrastructure::eviction::PolicyConfig;
///
/// let store = PolicyStore::builder(CacheName::parse("sessions").unwrap())
///     .policy(PolicyConfig::parse("s3fifo")?)
///     .max_entries(Some(100_000))
///     .build();
/// assert_eq!(store.policy_name(), "s3fifo");
/// # Ok::<(), strata_infrastructure::eviction::UnknownPolicy>(())
/// ```
pub struct PolicyStore {
    pub(super) shards: Box<[Mutex<Shard>]>,
    /// `shards.len() - 1`; the length is a power of two.
    pub(super) mask: usize,
    pub(super) hasher: RandomState,
    pub(super) name: CacheName,
    pub(super) policy: PolicyConfig,
    pub(super) byte_mode: bool,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) events: Option<Arc<dyn EventPublisher>>,
}

impl PolicyStore {
    /// The eviction policy's configuration name (one of
    /// [`PolicyConfig::NAMES`]).
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// The number of shards the builder chose (a power of two).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn shard_index(&self, key: &CacheKey) -> usize {
        // Truncating the hash is fine: only its low bits are used.
        (self.hasher.hash_one(key.as_str()) as usize) & self.mask
    }

    pub(super) fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn removals(&self) -> Removals {
        Removals {
            enabled: self.events.is_some(),
            list: Vec::new(),
        }
    }

    /// Runs `f` on shard `index` with a fresh [`Removals`], then publishes
    /// what it removed once the shard's lock is released.
    fn in_shard<R>(&self, index: usize, f: impl FnOnce(&mut Shard, &mut Removals) -> R) -> R {
        let mut removals = self.removals();
        let out = f(&mut self.lock(index), &mut removals);
        self.publish(removals);
        out
    }

    fn publish(&self, removals: Removals) {
        let Some(events) = &self.events else { return };
        for (key, cause) in removals.list {
            events.publish(match cause {
                EvictionCause::Expired => DomainEvent::EntryExpired {
                    cache: self.name.clone(),
                    key,
                },
                EvictionCause::Capacity => DomainEvent::EntryEvicted {
                    cache: self.name.clone(),
                    key,
                    cause,
                },
            });
        }
    }

    /// The weight of an entry for the policy: bytes in byte mode, else 1.
    fn policy_weight(&self, key: &CacheKey, entry: &CacheEntry) -> u64 {
        if self.byte_mode {
            weight(key, entry)
        } else {
            1
        }
    }

    /// Keys' positions grouped by shard, positions ascending within a shard.
    fn by_shard<'k>(&self, keys: impl Iterator<Item = &'k CacheKey>) -> Vec<(usize, usize)> {
        let mut order: Vec<(usize, usize)> = keys
            .enumerate()
            .map(|(i, key)| (self.shard_index(key), i))
            .collect();
        order.sort_unstable();
        order
    }
}

#[async_trait]
impl CacheStore for PolicyStore {
    fn backend(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::IN_PROCESS
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        Ok(self.in_shard(self.shard_index(key), |shard, removals| {
            shard.get(key, &*self.clock, removals)
        }))
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let policy_weight = self.policy_weight(&key, &entry);
        let now = self.clock.now();
        Ok(self.in_shard(self.shard_index(&key), |shard, removals| {
            shard.insert(key, entry, policy_weight, now, removals)
        }))
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        Ok(self.in_shard(self.shard_index(key), |shard, removals| {
            shard.remove(key, &*self.clock, removals)
        }))
    }

    async fn frequency_hint(&self, key: &CacheKey) -> u32 {
        let shard = self.lock(self.shard_index(key));
        shard
            .policy
            .get(key.as_str())
            .map_or(0, |record| shard.policy.frequency_hint(record))
    }

    async fn seed_frequency(&self, key: &CacheKey, hint: u32) {
        self.lock(self.shard_index(key))
            .policy
            .seed_frequency(key.as_str(), hint);
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        let mut out = vec![None; keys.len()];
        let mut removals = self.removals();
        for group in self.by_shard(keys.iter()).chunk_by(|a, b| a.0 == b.0) {
            let mut shard = self.lock(group[0].0);
            for &(_, i) in group {
                out[i] = shard.get(&keys[i], &*self.clock, &mut removals);
            }
        }
        self.publish(removals);
        Ok(out)
    }

    async fn insert_many(
        &self,
        entries: Vec<(CacheKey, CacheEntry)>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let order = self.by_shard(entries.iter().map(|(key, _)| key));
        let mut out = vec![InsertOutcome::Created; entries.len()];
        let mut slots: Vec<Option<(CacheKey, CacheEntry)>> =
            entries.into_iter().map(Some).collect();
        let now = self.clock.now();
        let mut removals = self.removals();
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let mut shard = self.lock(group[0].0);
            for &(_, i) in group {
                if let Some((key, entry)) = slots[i].take() {
                    let policy_weight = self.policy_weight(&key, &entry);
                    out[i] = shard.insert(key, entry, policy_weight, now, &mut removals);
                }
            }
        }
        self.publish(removals);
        Ok(out)
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        let mut removed = 0;
        for index in 0..self.shards.len() {
            // Match outside the lock: a key matches whatever its value.
            let keys = self.lock(index).keys();
            let matching: Vec<CacheKey> = keys
                .into_iter()
                .filter(|key| pattern.matches(key))
                .filter_map(|key| CacheKey::parse(&key).ok())
                .collect();
            if matching.is_empty() {
                continue;
            }
            removed += self.in_shard(index, |shard, removals| {
                matching
                    .iter()
                    .map(|key| u64::from(shard.remove(key, &*self.clock, removals)))
                    .sum::<u64>()
            });
        }
        Ok(removed)
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        let mut removed = 0;
        for index in 0..self.shards.len() {
            removed += self.in_shard(index, |shard, removals| {
                shard.invalidate_tags(tags, &*self.clock, removals)
            });
        }
        Ok(InvalidationCount::Exact(removed))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        for index in 0..self.shards.len() {
            let old = {
                let mut shard = self.lock(index);
                let mut fresh = Shard::new(self.policy.build(shard.policy.capacity()));
                fresh.evictions = shard.evictions;
                fresh.expirations = shard.expirations;
                mem::replace(&mut *shard, fresh)
            };
            // The old shard is freed outside the lock.
            drop(old);
        }
        Ok(())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let now = self.clock.now();
        let mut stats = StoreStats::default();
        for index in 0..self.shards.len() {
            self.in_shard(index, |shard, removals| {
                shard.sweep(now, usize::MAX, removals);
                stats.entries += shard.len() as u64;
                stats.bytes += shard.bytes;
                stats.evictions_capacity += shard.evictions;
                stats.expirations += shard.expirations;
            });
        }
        Ok(stats)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        let now = self.clock.now();
        let mut all = Vec::new();
        for index in 0..self.shards.len() {
            all.extend(self.lock(index).entries(now));
        }
        all.sort_by_key(|(_, entry)| entry.created_at());
        Ok(all)
    }

    /// Cursor: shard index in the high 31 bits, position in the shard's
    /// resident order in the low 32. Each page locks one shard once.
    async fn entries_page(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<strata_domain::EntriesPage, StoreError> {
        let now = self.clock.now();
        let limit = limit.max(1);
        let (index, offset) = ((cursor >> 32) as usize, (cursor & 0xFFFF_FFFF) as usize);
        if index >= self.shards.len() {
            return Ok(strata_domain::EntriesPage::default());
        }
        let shard = self.lock(index);
        let entries = shard.entries_window(now, offset, limit);
        let seen = offset.saturating_add(limit);
        let next = if seen < shard.len() && seen <= 0xFFFF_FFFF {
            Some(((index as u64) << 32) | seen as u64)
        } else if index + 1 < self.shards.len() {
            Some(((index as u64) + 1) << 32)
        } else {
            None
        };
        Ok(strata_domain::EntriesPage { entries, next })
    }
}
