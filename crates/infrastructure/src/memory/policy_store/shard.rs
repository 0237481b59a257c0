//! One shard of a [`PolicyStore`](super::PolicyStore): a map, its policy,
//! a tag index and an expiry index behind one lock, with the bookkeeping
//! that keeps them in step.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::mem;

use strata_domain::{CacheEntry, CacheKey, Clock, EvictionCause, InsertOutcome, Tag, Timestamp};

use crate::eviction::{AnyPolicy, EvictionPolicy as _};

/// Expired entries an insert collects (soonest expiry first) before it
/// writes, so that entries nobody reads again do not pile up.
pub(super) const EXPIRY_SWEEP_PER_INSERT: usize = 8;

/// Bytes an entry weighs ([`CacheEntry::weight`] of its key).
pub(super) fn weight(key: &CacheKey, entry: &CacheEntry) -> u64 {
    entry.weight(key.as_str().len())
}

/// Entries that left a shard on their own, to publish once its lock is
/// released. Records nothing when the store has no event publisher.
pub(super) struct Removals {
    pub(super) enabled: bool,
    pub(super) list: Vec<(CacheKey, EvictionCause)>,
}

impl Removals {
    pub(super) fn push(&mut self, key: &CacheKey, cause: EvictionCause) {
        if self.enabled {
            self.list.push((key.clone(), cause));
        }
    }
}

/// One shard. Invariants (checked by `check` in tests): `map` and `policy`
/// hold the same keys; `bytes` is the sum of the entries' weights; `tags`
/// maps each tag to exactly the keys whose entries carry it; `expiries`
/// holds `(expires_at, key)` for exactly the entries with an expiry.
pub(super) struct Shard {
    pub(super) map: HashMap<CacheKey, CacheEntry>,
    pub(super) policy: AnyPolicy<CacheKey>,
    pub(super) tags: HashMap<Tag, HashSet<CacheKey>>,
    pub(super) expiries: BTreeSet<(Timestamp, CacheKey)>,
    pub(super) bytes: u64,
    pub(super) evictions: u64,
    pub(super) expirations: u64,
    /// Reused buffer for the policy's evicted keys.
    pub(super) scratch: Vec<(CacheKey, u64)>,
}

impl Shard {
    pub(super) fn new(policy: AnyPolicy<CacheKey>) -> Self {
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
    pub(super) fn attach(&mut self, key: CacheKey, entry: CacheEntry) {
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
    pub(super) fn detach(&mut self, key: &CacheKey) -> Option<CacheEntry> {
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
    pub(super) fn take(&mut self, key: &CacheKey) -> Option<CacheEntry> {
        let entry = self.detach(key)?;
        self.policy.remove(key);
        Some(entry)
    }

    /// Removes a key; returns whether a live entry was removed (an expired
    /// one counts as an expiration instead).
    pub(super) fn remove(
        &mut self,
        key: &CacheKey,
        clock: &dyn Clock,
        removals: &mut Removals,
    ) -> bool {
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

    pub(super) fn get(
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

    pub(super) fn insert(
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
    pub(super) fn sweep(&mut self, now: Timestamp, limit: usize, removals: &mut Removals) {
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
    pub(super) fn invalidate_tags(
        &mut self,
        tags: &[Tag],
        clock: &dyn Clock,
        removals: &mut Removals,
    ) -> u64 {
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
    pub(super) fn check(&self, byte_mode: bool) {
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
pub(super) fn is_expired(entry: &CacheEntry, clock: &dyn Clock) -> bool {
    entry.expires_at().is_some_and(|at| clock.now() >= at)
}
