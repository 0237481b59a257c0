//! [`PolicyStore`]: the in-process memory tier with a pluggable eviction
//! policy (any of [`eviction`](crate::eviction)'s, chosen at run time),
//! sharded for concurrency.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::mem;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, Clock, DEFAULT_MAX_VALUE_BYTES, DomainEvent,
    EventPublisher, EvictionCause, InsertOutcome, KeyPattern, MAX_KEY_BYTES, StoreCapabilities,
    StoreError, StoreStats, Tag, Timestamp,
};

use crate::SystemClock;
use crate::eviction::{AnyPolicy, EvictionPolicy as _, LruConfig, PolicyConfig};

/// Fewest entries an object-mode shard may hold: below this, the builder
/// uses fewer shards, so each shard's policy keeps room for its segments
/// (W-TinyLFU's 1% window, S3-FIFO's 10% small queue, ARC's two lists).
const MIN_ENTRIES_PER_SHARD: u64 = 256;

/// Expired entries an insert collects (soonest expiry first) before it
/// writes, so that entries nobody reads again do not pile up.
const EXPIRY_SWEEP_PER_INSERT: usize = 8;

/// Longest content type a [`CacheValue`](strata_domain::CacheValue) can
/// carry, in bytes (`ContentType::parse`'s limit): part of the largest
/// weight an entry can have.
const MAX_CONTENT_TYPE_BYTES: u64 = 255;

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
///   valid entry can have (`max_value_bytes` + [`MAX_KEY_BYTES`] + 255
///   bytes of content type), checked against the policy itself, so
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
    shards: Box<[Mutex<Shard>]>,
    /// `shards.len() - 1`; the length is a power of two.
    mask: usize,
    hasher: RandomState,
    name: CacheName,
    policy: PolicyConfig,
    byte_mode: bool,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventPublisher>>,
}

/// Configures a [`PolicyStore`].
pub struct PolicyStoreBuilder {
    name: CacheName,
    policy: PolicyConfig,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    max_value_bytes: u64,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventPublisher>>,
    shards: Option<usize>,
}

impl PolicyStore {
    /// A builder for the store of cache `name`: LRU, unbounded, values up
    /// to [`DEFAULT_MAX_VALUE_BYTES`], the system clock, no events.
    pub fn builder(name: CacheName) -> PolicyStoreBuilder {
        PolicyStoreBuilder {
            name,
            policy: LruConfig.into(),
            max_entries: None,
            max_bytes: None,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            clock: Arc::new(SystemClock),
            events: None,
            shards: None,
        }
    }

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

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
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

impl PolicyStoreBuilder {
    /// The eviction policy (default: LRU).
    pub fn policy(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
        self
    }
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
    /// The largest value the cache accepts, in bytes (default
    /// [`DEFAULT_MAX_VALUE_BYTES`]); in byte mode, the builder picks the
    /// shard count so that such a value, with the longest key and content
    /// type, fits in one shard.
    pub fn max_value_bytes(mut self, max_value_bytes: u64) -> Self {
        self.max_value_bytes = max_value_bytes;
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
    /// The most shards to use, rounded up to a power of two (default: the
    /// next power of two >= 4 x available parallelism, at least 4). The
    /// builder uses fewer when the capacity is small: see
    /// [`PolicyStore`]'s "Sharding".
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Builds the store.
    pub fn build(self) -> PolicyStore {
        let requested = self
            .shards
            .unwrap_or_else(default_shards)
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(1 << (usize::BITS - 1));
        let (total, byte_mode) = match (self.max_bytes, self.max_entries) {
            (Some(bytes), _) => (Some(bytes), true),
            (None, Some(entries)) => (Some(entries), false),
            (None, None) => (None, false),
        };
        let max_entry_weight = self
            .max_value_bytes
            .saturating_add(MAX_KEY_BYTES as u64 + MAX_CONTENT_TYPE_BYTES);
        let count = match total {
            None => requested,
            Some(total) => {
                let mut count = requested;
                while count > 1
                    && !shard_fits(
                        &self.policy,
                        total / count as u64,
                        byte_mode,
                        max_entry_weight,
                    )
                {
                    count /= 2;
                }
                count
            }
        };
        let shards = (0..count as u64)
            .map(|i| {
                let capacity = total.map_or(u64::MAX, |t| {
                    t / count as u64 + u64::from(i < t % count as u64)
                });
                Mutex::new(Shard::new(self.policy.build(capacity)))
            })
            .collect();
        PolicyStore {
            shards,
            mask: count - 1,
            hasher: RandomState::new(),
            name: self.name,
            policy: self.policy,
            byte_mode,
            clock: self.clock,
            events: self.events,
        }
    }
}

fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .saturating_mul(4)
        .next_power_of_two()
        .max(4)
}

/// Whether a shard of `capacity` is big enough (see "Sharding" on
/// [`PolicyStore`]). Byte mode asks a fresh policy of that capacity whether
/// it admits the heaviest entry, so admission windows are accounted for
/// exactly as the policy computes them.
fn shard_fits(
    policy: &PolicyConfig,
    capacity: u64,
    byte_mode: bool,
    max_entry_weight: u64,
) -> bool {
    if byte_mode {
        policy
            .build::<u8>(capacity)
            .insert(0, max_entry_weight, None, &mut Vec::new())
    } else {
        capacity >= MIN_ENTRIES_PER_SHARD
    }
}

/// Bytes an entry weighs ([`CacheEntry::weight`] of its key).
fn weight(key: &CacheKey, entry: &CacheEntry) -> u64 {
    entry.weight(key.as_str().len())
}

/// Entries that left a shard on their own, to publish once its lock is
/// released. Records nothing when the store has no event publisher.
struct Removals {
    enabled: bool,
    list: Vec<(CacheKey, EvictionCause)>,
}

impl Removals {
    fn push(&mut self, key: &CacheKey, cause: EvictionCause) {
        if self.enabled {
            self.list.push((key.clone(), cause));
        }
    }
}

/// One shard. Invariants (checked by `check` in tests): `map` and `policy`
/// hold the same keys; `bytes` is the sum of the entries' weights; `tags`
/// maps each tag to exactly the keys whose entries carry it; `expiries`
/// holds `(expires_at, key)` for exactly the entries with an expiry.
struct Shard {
    map: HashMap<CacheKey, CacheEntry>,
    policy: AnyPolicy<CacheKey>,
    tags: HashMap<Tag, HashSet<CacheKey>>,
    expiries: BTreeSet<(Timestamp, CacheKey)>,
    bytes: u64,
    evictions: u64,
    expirations: u64,
    /// Reused buffer for the policy's evicted keys.
    scratch: Vec<(CacheKey, u64)>,
}

impl Shard {
    fn new(policy: AnyPolicy<CacheKey>) -> Self {
        Self {
            map: HashMap::new(),
            policy,
            tags: HashMap::new(),
            expiries: BTreeSet::new(),
            bytes: 0,
            evictions: 0,
            expirations: 0,
            scratch: Vec::new(),
        }
    }

    /// Stores an entry the policy has just admitted.
    fn attach(&mut self, key: CacheKey, entry: CacheEntry) {
        self.bytes += weight(&key, &entry);
        for tag in entry.tags() {
            self.tags
                .entry(tag.clone())
                .or_default()
                .insert(key.clone());
        }
        if let Some(at) = entry.expires_at() {
            self.expiries.insert((at, key.clone()));
        }
        self.map.insert(key, entry);
    }

    /// Drops a key from the map and the indexes, but not from the policy
    /// (for keys the policy evicted itself).
    fn detach(&mut self, key: &CacheKey) -> Option<CacheEntry> {
        let entry = self.map.remove(key)?;
        self.bytes -= weight(key, &entry);
        for tag in entry.tags() {
            if let Some(keys) = self.tags.get_mut(tag) {
                keys.remove(key);
                if keys.is_empty() {
                    self.tags.remove(tag);
                }
            }
        }
        if let Some(at) = entry.expires_at() {
            self.expiries.remove(&(at, key.clone()));
        }
        Some(entry)
    }

    /// Removes a key from the map, the indexes and the policy.
    fn take(&mut self, key: &CacheKey) -> Option<CacheEntry> {
        let entry = self.detach(key)?;
        self.policy.remove(key);
        Some(entry)
    }

    /// Removes a key; returns whether a live entry was removed (an expired
    /// one counts as an expiration instead).
    fn remove(&mut self, key: &CacheKey, clock: &dyn Clock, removals: &mut Removals) -> bool {
        match self.take(key) {
            Some(entry) if is_expired(&entry, clock) => {
                self.expirations += 1;
                removals.push(key, EvictionCause::Expired);
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    fn get(
        &mut self,
        key: &CacheKey,
        clock: &dyn Clock,
        removals: &mut Removals,
    ) -> Option<CacheEntry> {
        let entry = self.map.get(key)?;
        if is_expired(entry, clock) {
            self.take(key);
            self.expirations += 1;
            removals.push(key, EvictionCause::Expired);
            return None;
        }
        let entry = entry.clone();
        self.policy.access(key);
        Some(entry)
    }

    fn insert(
        &mut self,
        key: CacheKey,
        entry: CacheEntry,
        policy_weight: u64,
        now: Timestamp,
        removals: &mut Removals,
    ) -> InsertOutcome {
        let outcome = match self.take(&key) {
            Some(old) if old.is_expired(now) => {
                self.expirations += 1;
                removals.push(&key, EvictionCause::Expired);
                InsertOutcome::Created
            }
            Some(_) => InsertOutcome::Replaced,
            None => InsertOutcome::Created,
        };
        if entry.is_expired(now) {
            self.expirations += 1;
            removals.push(&key, EvictionCause::Expired);
            return outcome;
        }
        self.sweep(now, EXPIRY_SWEEP_PER_INSERT, removals);
        let mut evicted = mem::take(&mut self.scratch);
        let expires_at_ms = entry.expires_at().map(Timestamp::as_millis);
        let admitted = self
            .policy
            .insert(key.clone(), policy_weight, expires_at_ms, &mut evicted);
        for (gone, _) in evicted.drain(..) {
            self.detach(&gone);
            self.evictions += 1;
            removals.push(&gone, EvictionCause::Capacity);
        }
        self.scratch = evicted;
        if admitted {
            self.attach(key, entry);
        } else {
            self.evictions += 1;
            removals.push(&key, EvictionCause::Capacity);
        }
        outcome
    }

    /// Collects up to `limit` entries expired at `now`, soonest first.
    fn sweep(&mut self, now: Timestamp, limit: usize, removals: &mut Removals) {
        for _ in 0..limit {
            let key = match self.expiries.first() {
                Some((at, key)) if *at <= now => key.clone(),
                _ => return,
            };
            self.take(&key);
            self.expirations += 1;
            removals.push(&key, EvictionCause::Expired);
        }
    }

    /// Removes every entry carrying one of `tags`; returns how many live
    /// entries were removed.
    fn invalidate_tags(&mut self, tags: &[Tag], clock: &dyn Clock, removals: &mut Removals) -> u64 {
        let keys: HashSet<CacheKey> = tags
            .iter()
            .filter_map(|tag| self.tags.get(tag))
            .flatten()
            .cloned()
            .collect();
        keys.iter()
            .map(|key| u64::from(self.remove(key, clock, removals)))
            .sum()
    }

    /// Checks the invariants listed on the type.
    #[cfg(test)]
    fn check(&self, byte_mode: bool) {
        self.policy.check_invariants();
        assert_eq!(self.map.len(), self.policy.len(), "map and policy disagree");
        let mut bytes = 0;
        let mut expiring = 0;
        for (key, entry) in &self.map {
            assert!(
                self.policy.contains(key),
                "{key:?} stored but not in the policy"
            );
            bytes += weight(key, entry);
            for tag in entry.tags() {
                assert!(self.tags.get(tag).is_some_and(|keys| keys.contains(key)));
            }
            if let Some(at) = entry.expires_at() {
                expiring += 1;
                assert!(self.expiries.contains(&(at, key.clone())));
            }
        }
        assert_eq!(bytes, self.bytes);
        assert_eq!(expiring, self.expiries.len());
        for (tag, keys) in &self.tags {
            assert!(!keys.is_empty());
            for key in keys {
                assert!(self.map.get(key).is_some_and(|e| e.has_tag(tag)));
            }
        }
        assert!(self.policy.used() <= self.policy.capacity());
        if byte_mode {
            assert_eq!(self.policy.used(), self.bytes);
        } else {
            assert_eq!(self.policy.used(), self.map.len() as u64);
        }
    }
}

/// Whether `entry` has expired; reads the clock only for entries with a TTL.
fn is_expired(entry: &CacheEntry, clock: &dyn Clock) -> bool {
    entry.expires_at().is_some_and(|at| clock.now() >= at)
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
        let mut removals = self.removals();
        let found = self
            .lock(self.shard_index(key))
            .get(key, &*self.clock, &mut removals);
        self.publish(removals);
        Ok(found)
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let policy_weight = self.policy_weight(&key, &entry);
        let now = self.clock.now();
        let mut removals = self.removals();
        let index = self.shard_index(&key);
        let outcome = self
            .lock(index)
            .insert(key, entry, policy_weight, now, &mut removals);
        self.publish(removals);
        Ok(outcome)
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let mut removals = self.removals();
        let removed = self
            .lock(self.shard_index(key))
            .remove(key, &*self.clock, &mut removals);
        self.publish(removals);
        Ok(removed)
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
            let keys: Vec<CacheKey> = self.lock(index).map.keys().cloned().collect();
            let matching: Vec<CacheKey> = keys
                .into_iter()
                .filter(|key| pattern.matches(key.as_str()))
                .collect();
            if matching.is_empty() {
                continue;
            }
            let mut removals = self.removals();
            {
                let mut shard = self.lock(index);
                for key in &matching {
                    removed += u64::from(shard.remove(key, &*self.clock, &mut removals));
                }
            }
            self.publish(removals);
        }
        Ok(removed)
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for index in 0..self.shards.len() {
            let mut removals = self.removals();
            removed += self
                .lock(index)
                .invalidate_tags(tags, &*self.clock, &mut removals);
            self.publish(removals);
        }
        Ok(removed)
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
            let mut removals = self.removals();
            {
                let mut shard = self.lock(index);
                shard.sweep(now, usize::MAX, &mut removals);
                stats.entries += shard.map.len() as u64;
                stats.bytes += shard.bytes;
                stats.evictions_capacity += shard.evictions;
                stats.expirations += shard.expirations;
            }
            self.publish(removals);
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
            let shard = self.lock(index);
            all.extend(
                shard
                    .map
                    .iter()
                    .filter(|(_, entry)| !entry.is_expired(now))
                    .map(|(key, entry)| (key.clone(), entry.clone())),
            );
        }
        all.sort_by_key(|(_, entry)| entry.created_at());
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use proptest::prelude::*;
    use strata_domain::{CacheValue, ContentType, EntryVersion};

    use super::*;

    /// A clock that moves only when told to.
    #[derive(Default)]
    struct FakeClock(AtomicU64);

    impl FakeClock {
        fn advance(&self, ms: u64) {
            self.0.fetch_add(ms, Ordering::SeqCst);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    /// Records every published event.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<DomainEvent>>);

    impl Recorder {
        fn take(&self) -> Vec<DomainEvent> {
            mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl EventPublisher for Recorder {
        fn publish(&self, event: DomainEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    fn key(s: &str) -> CacheKey {
        CacheKey::parse(s).unwrap()
    }

    fn tag(s: &str) -> Tag {
        Tag::parse(s).unwrap()
    }

    fn name() -> CacheName {
        CacheName::parse("c").unwrap()
    }

    fn entry_at(len: usize, created_ms: u64, expires_ms: Option<u64>, tags: &[&str]) -> CacheEntry {
        CacheEntry::new(
            CacheValue::new(Bytes::from(vec![7; len]), ContentType::default()),
            Timestamp::from_millis(created_ms),
            expires_ms.map(Timestamp::from_millis),
            tags.iter().map(|t| tag(t)).collect(),
            EntryVersion::new(created_ms),
        )
    }

    fn entry(len: usize, tags: &[&str]) -> CacheEntry {
        entry_at(len, 0, None, tags)
    }

    fn check(store: &PolicyStore) {
        for index in 0..store.shard_count() {
            store.lock(index).check(store.byte_mode);
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn an_expired_entry_is_dropped_counted_and_published() {
        let clock = Arc::new(FakeClock::default());
        let events = Arc::new(Recorder::default());
        let store = PolicyStore::builder(name())
            .max_entries(Some(100))
            .clock(clock.clone())
            .events(events.clone())
            .build();
        store
            .insert(key("k"), entry_at(1, 0, Some(1_000), &["t"]))
            .await
            .unwrap();
        clock.advance(999);
        assert!(store.get(&key("k")).await.unwrap().is_some());
        clock.advance(1);
        assert!(store.get(&key("k")).await.unwrap().is_none());
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.entries, stats.bytes, stats.expirations), (0, 0, 1));
        assert_eq!(
            events.take(),
            vec![DomainEvent::EntryExpired {
                cache: name(),
                key: key("k")
            }]
        );
        // Already expired on arrival: not stored, counted once.
        let outcome = store
            .insert(key("old"), entry_at(1, 0, Some(500), &[]))
            .await
            .unwrap();
        assert_eq!(outcome, InsertOutcome::Created);
        assert!(store.get(&key("old")).await.unwrap().is_none());
        assert_eq!(store.stats().await.unwrap().expirations, 2);
        check(&store);
    }

    #[tokio::test]
    async fn stats_and_inserts_collect_expired_entries_nobody_reads() {
        let clock = Arc::new(FakeClock::default());
        let store = PolicyStore::builder(name())
            .max_entries(Some(10_000))
            .shards(1)
            .clock(clock.clone())
            .build();
        for i in 0..100 {
            store
                .insert(key(&format!("k{i}")), entry_at(1, 0, Some(10 + i), &[]))
                .await
                .unwrap();
        }
        clock.advance(50); // k0 (expires at 10) to k40 (at 50) have expired.
        // One insert collects a bounded number of the expired entries...
        store.insert(key("fresh"), entry(1, &[])).await.unwrap();
        assert_eq!(store.lock(0).map.len(), 101 - EXPIRY_SWEEP_PER_INSERT);
        // ...and stats collects the rest.
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.entries, stats.expirations), (60, 41));
        assert_eq!(store.entries().await.unwrap().len(), 60);
        check(&store);
    }

    #[tokio::test]
    async fn replacing_an_entry_reindexes_its_tags() {
        let store = PolicyStore::builder(name()).max_entries(Some(100)).build();
        store.insert(key("k"), entry(1, &["a", "b"])).await.unwrap();
        let outcome = store.insert(key("k"), entry(2, &["b"])).await.unwrap();
        assert_eq!(outcome, InsertOutcome::Replaced);
        check(&store);
        assert_eq!(store.invalidate_tags(&[tag("a")]).await.unwrap(), 0);
        assert!(store.get(&key("k")).await.unwrap().is_some());
        assert_eq!(
            store.invalidate_tags(&[tag("b"), tag("a")]).await.unwrap(),
            1
        );
        assert!(store.get(&key("k")).await.unwrap().is_none());
        check(&store);
    }

    #[tokio::test]
    async fn an_entry_the_policy_declines_counts_as_an_eviction() {
        let events = Arc::new(Recorder::default());
        let store = PolicyStore::builder(name())
            .max_bytes(Some(1_000))
            .max_value_bytes(100)
            .events(events.clone())
            .build();
        store.insert(key("big"), entry(10, &[])).await.unwrap();
        let outcome = store
            .insert(key("big"), entry(2_000, &["t"]))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            InsertOutcome::Replaced,
            "the live entry was replaced"
        );
        assert!(store.get(&key("big")).await.unwrap().is_none());
        let stats = store.stats().await.unwrap();
        assert_eq!(
            (stats.entries, stats.bytes, stats.evictions_capacity),
            (0, 0, 1)
        );
        assert_eq!(
            events.take(),
            vec![DomainEvent::EntryEvicted {
                cache: name(),
                key: key("big"),
                cause: EvictionCause::Capacity,
            }]
        );
        check(&store);
    }

    #[test]
    fn small_caches_get_fewer_shards_and_every_valid_entry_fits_a_shard() {
        let objects = |n| {
            PolicyStore::builder(name())
                .max_entries(Some(n))
                .shards(16)
                .build()
        };
        assert_eq!(objects(100).shard_count(), 1);
        assert_eq!(objects(4 * MIN_ENTRIES_PER_SHARD).shard_count(), 4);
        assert_eq!(objects(1_000_000).shard_count(), 16);
        assert_eq!(
            PolicyStore::builder(name()).shards(5).build().shard_count(),
            8,
            "unbounded, rounded up to a power of two"
        );
        let rt = runtime();
        for config in PolicyConfig::all() {
            for max_bytes in [10_000, 1 << 20, 64 << 20] {
                let max_value_bytes = 4_096;
                let store = PolicyStore::builder(name())
                    .policy(config.clone())
                    .max_bytes(Some(max_bytes))
                    .max_value_bytes(max_value_bytes)
                    .shards(64)
                    .build();
                let heaviest = CacheEntry::new(
                    CacheValue::new(
                        Bytes::from(vec![0; max_value_bytes as usize]),
                        ContentType::parse(&format!("a/{}", "b".repeat(253))).unwrap(),
                    ),
                    Timestamp::from_millis(0),
                    None,
                    vec![],
                    EntryVersion::new(1),
                );
                let k = key(&"k".repeat(MAX_KEY_BYTES));
                rt.block_on(store.insert(k.clone(), heaviest)).unwrap();
                let stored = rt.block_on(store.get(&k)).unwrap().is_some();
                // Only a policy's own admission limit can refuse it, and
                // then only with one shard left.
                assert!(stored || store.shard_count() == 1, "{config} {max_bytes}");
                if max_bytes == 64 << 20 {
                    assert!(stored, "{config}: {} shards", store.shard_count());
                    assert!(store.shard_count() > 1, "{config}");
                }
            }
        }
    }

    #[tokio::test]
    async fn every_policy_builds_a_working_store() {
        for config in PolicyConfig::all() {
            let events = Arc::new(Recorder::default());
            let store = PolicyStore::builder(name())
                .policy(config.clone())
                .max_entries(Some(1_000))
                .shards(4)
                .events(events.clone())
                .build();
            assert_eq!(store.policy_name(), config.name());
            for i in 0..3_000u64 {
                let k = key(&format!("k{:04}", i % 1_500));
                if store.get(&k).await.unwrap().is_none() {
                    store.insert(k, entry_at(8, i, None, &[])).await.unwrap();
                }
            }
            let stats = store.stats().await.unwrap();
            assert!(
                stats.entries <= 1_000 && stats.entries >= 500,
                "{config}: {stats:?}"
            );
            assert_eq!(
                stats.bytes,
                stats.entries * entry(8, &[]).weight(5),
                "{config}"
            );
            assert!(stats.evictions_capacity >= 500, "{config}: {stats:?}");
            let evicted = events
                .take()
                .into_iter()
                .filter(|e| matches!(e, DomainEvent::EntryEvicted { .. }))
                .count();
            assert_eq!(evicted as u64, stats.evictions_capacity, "{config}");
            let exported = store.entries().await.unwrap();
            assert_eq!(exported.len() as u64, stats.entries);
            assert!(exported.is_sorted_by_key(|(_, e)| e.created_at()));
            check(&store);
            store.flush().await.unwrap();
            let flushed = store.stats().await.unwrap();
            assert_eq!((flushed.entries, flushed.bytes), (0, 0), "{config}");
            assert_eq!(flushed.evictions_capacity, stats.evictions_capacity);
            store.insert(key("again"), entry(1, &[])).await.unwrap();
            assert!(
                store.get(&key("again")).await.unwrap().is_some(),
                "{config}"
            );
        }
    }

    #[tokio::test]
    async fn batches_match_single_operations_and_patterns_select_keys() {
        let store = PolicyStore::builder(name())
            .max_entries(Some(10_000))
            .shards(8)
            .build();
        let batch: Vec<_> = ["a:1", "b:1", "a:2", "a:1", "c:1"]
            .iter()
            .enumerate()
            .map(|(i, k)| (key(k), entry(i, &[])))
            .collect();
        let outcomes = store.insert_many(batch).await.unwrap();
        use InsertOutcome::{Created, Replaced};
        assert_eq!(outcomes, vec![Created, Created, Created, Replaced, Created]);
        let keys: Vec<_> = ["a:1", "zz", "a:2", "a:1"].iter().map(|k| key(k)).collect();
        let got: Vec<Option<usize>> = store
            .get_many(&keys)
            .await
            .unwrap()
            .iter()
            .map(|e| e.as_ref().map(|e| e.value().len()))
            .collect();
        assert_eq!(got, vec![Some(3), None, Some(2), Some(3)]);
        let pattern = KeyPattern::parse("a:*").unwrap();
        assert_eq!(store.invalidate_pattern(&pattern).await.unwrap(), 2);
        assert_eq!(store.stats().await.unwrap().entries, 2);
        assert!(store.remove(&key("b:1")).await.unwrap());
        assert!(!store.remove(&key("b:1")).await.unwrap());
        check(&store);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_inserts_stay_within_capacity() {
        let store = Arc::new(
            PolicyStore::builder(name())
                .policy(PolicyConfig::parse("s3fifo").unwrap())
                .max_entries(Some(4_096))
                .shards(8)
                .build(),
        );
        assert_eq!(store.shard_count(), 8);
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..3_000u64 {
                        let k = key(&format!("k{}", (i * 7 + t * 1_000) % 6_000));
                        store
                            .insert(k.clone(), entry_at(4, i, None, &["t"]))
                            .await
                            .unwrap();
                        store.get(&k).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let stats = store.stats().await.unwrap();
        assert!(stats.entries <= 4_096, "{stats:?}");
        check(&store);
        assert_eq!(
            store.invalidate_tags(&[tag("t")]).await.unwrap(),
            stats.entries
        );
        assert_eq!(store.stats().await.unwrap().entries, 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert {
            key: u8,
            len: u16,
            ttl_ms: Option<u8>,
        },
        Get {
            key: u8,
        },
        Remove {
            key: u8,
        },
        Advance {
            ms: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            10 => (0u8..80, 0u16..300, prop::option::of(1u8..50))
                .prop_map(|(key, len, ttl_ms)| Op::Insert { key, len, ttl_ms }),
            6 => (0u8..80).prop_map(|key| Op::Get { key }),
            2 => (0u8..80).prop_map(|key| Op::Remove { key }),
            1 => (0u8..30).prop_map(|ms| Op::Advance { ms }),
        ]
    }

    /// Replays `ops` on a store, checking after each that the bound holds,
    /// the shards are consistent, and keys evicted by an insert are gone.
    fn replay(
        rt: &tokio::runtime::Runtime,
        config: &PolicyConfig,
        byte_mode: bool,
        capacity: u64,
        ops: &[Op],
    ) {
        let clock = Arc::new(FakeClock::default());
        let events = Arc::new(Recorder::default());
        let builder = PolicyStore::builder(name())
            .policy(config.clone())
            .max_value_bytes(300)
            .shards(4)
            .clock(clock.clone())
            .events(events.clone());
        let store = if byte_mode {
            builder.max_bytes(Some(capacity)).build()
        } else {
            builder.max_entries(Some(capacity)).build()
        };
        for op in ops {
            match *op {
                Op::Insert {
                    key: k,
                    len,
                    ttl_ms,
                } => {
                    let now = clock.now().as_millis();
                    let e = entry_at(
                        usize::from(len),
                        now,
                        ttl_ms.map(|t| now + u64::from(t)),
                        &["t"],
                    );
                    let k = key(&format!("k{k}"));
                    rt.block_on(store.insert(k, e)).unwrap();
                    for event in events.take() {
                        if let DomainEvent::EntryEvicted { key: gone, .. } = event {
                            assert!(
                                rt.block_on(store.get(&gone)).unwrap().is_none(),
                                "{config}: evicted {gone:?} returned"
                            );
                        }
                    }
                }
                Op::Get { key: k } => {
                    let now = clock.now();
                    if let Some(e) = rt.block_on(store.get(&key(&format!("k{k}")))).unwrap() {
                        assert!(!e.is_expired(now), "{config}: expired entry returned");
                    }
                }
                Op::Remove { key: k } => {
                    rt.block_on(store.remove(&key(&format!("k{k}")))).unwrap();
                }
                Op::Advance { ms } => clock.advance(u64::from(ms)),
            }
            let stats = rt.block_on(store.stats()).unwrap();
            if byte_mode {
                assert!(
                    stats.bytes <= capacity,
                    "{config}: {} bytes > {capacity}",
                    stats.bytes
                );
            } else {
                assert!(
                    stats.entries <= capacity,
                    "{config}: {} entries > {capacity}",
                    stats.entries
                );
            }
            check(&store);
            events.take();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn capacity_is_never_exceeded(
            entries in 1u64..1_200,
            bytes in 1_000u64..40_000,
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let rt = runtime();
            for config in PolicyConfig::all() {
                replay(&rt, &config, false, entries, &ops);
                replay(&rt, &config, true, bytes, &ops);
            }
        }
    }
}
