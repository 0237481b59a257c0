//! One shard of a [`PolicyStore`](super::PolicyStore): its policy (which
//! holds the entries themselves, as [`Record`]s), a tag index and an
//! expiry index behind one lock, with the bookkeeping that keeps them in
//! step.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::mem;
use std::sync::Arc;

use strata_domain::{CacheEntry, CacheKey, Clock, EvictionCause, InsertOutcome, Tag, Timestamp};

use super::record::{ContentTypes, Record};
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

    fn push_record(&mut self, record: &Record, cause: EvictionCause) {
        if self.enabled {
            self.list.push((record.cache_key(), cause));
        }
    }
}

/// One shard. Invariants (checked by `check` in tests): the policy's
/// resident keys are the stored entries (there is no other map); `bytes`
/// is the sum of their weights; `tags` maps each tag to exactly the keys
/// whose entries carry it; `expiries` holds `(expires_at, key)` for
/// exactly the entries with an expiry.
pub(super) struct Shard {
    pub(super) policy: AnyPolicy<Record>,
    pub(super) tags: HashMap<Tag, HashSet<CacheKey>>,
    pub(super) expiries: BTreeSet<(Timestamp, CacheKey)>,
    /// The content types the shard's records are numbered by.
    pub(super) types: ContentTypes,
    /// The empty tag list every entry without tags is handed out with.
    no_tags: Arc<[Tag]>,
    pub(super) bytes: u64,
    pub(super) evictions: u64,
    pub(super) expirations: u64,
    /// Reused buffer for the policy's evicted records.
    scratch: Vec<(Record, u64)>,
}

/// Drops `record` from the tag and expiry indexes and the byte count (not
/// from the policy); the fields are borrowed apart so that `record` may be
/// borrowed from the policy.
fn unindex(
    tags: &mut HashMap<Tag, HashSet<CacheKey>>,
    expiries: &mut BTreeSet<(Timestamp, CacheKey)>,
    bytes: &mut u64,
    types: &ContentTypes,
    record: &Record,
) {
    *bytes -= record.weight(types);
    for tag in record.tags() {
        if let Some(keys) = tags.get_mut(tag) {
            keys.remove(record.key());
            if keys.is_empty() {
                tags.remove(tag);
            }
        }
    }
    if let Some(at) = record.expires_at() {
        expiries.remove(&(at, record.cache_key()));
    }
}

impl Shard {
    pub(super) fn new(policy: AnyPolicy<Record>) -> Self {
        Self {
            policy,
            tags: HashMap::new(),
            expiries: BTreeSet::new(),
            types: ContentTypes::default(),
            no_tags: Arc::from(Vec::new()),
            bytes: 0,
            evictions: 0,
            expirations: 0,
            scratch: Vec::new(),
        }
    }

    /// Number of stored entries.
    pub(super) fn len(&self) -> usize {
        self.policy.len()
    }

    /// Indexes an entry the policy has just admitted.
    fn attach(&mut self, key: CacheKey, entry: &CacheEntry) {
        self.bytes += weight(&key, entry);
        for tag in entry.tags() {
            self.tags
                .entry(tag.clone())
                .or_default()
                .insert(key.clone());
        }
        if let Some(at) = entry.expires_at() {
            self.expiries.insert((at, key));
        }
    }

    /// Removes a key from the indexes and the policy; `Some(expired at
    /// now)` when it was stored. Reads the clock only for entries with a
    /// TTL.
    fn take(&mut self, key: &str, now: impl FnOnce() -> Timestamp) -> Option<bool> {
        let Self {
            policy,
            tags,
            expiries,
            bytes,
            types,
            ..
        } = self;
        let record = policy.get(key)?;
        let expired = record.expires_at().is_some_and(|at| now() >= at);
        unindex(tags, expiries, bytes, types, record);
        policy.remove(key);
        Some(expired)
    }

    /// Removes a key; returns whether a live entry was removed (an expired
    /// one counts as an expiration instead).
    pub(super) fn remove(
        &mut self,
        key: &CacheKey,
        clock: &dyn Clock,
        removals: &mut Removals,
    ) -> bool {
        match self.take(key.as_str(), || clock.now()) {
            Some(true) => {
                self.expirations += 1;
                removals.push(key, EvictionCause::Expired);
                false
            }
            Some(false) => true,
            None => false,
        }
    }

    pub(super) fn get(
        &mut self,
        key: &CacheKey,
        clock: &dyn Clock,
        removals: &mut Removals,
    ) -> Option<CacheEntry> {
        let record = self.policy.get(key.as_str())?;
        if record.expires_at().is_some_and(|at| clock.now() >= at) {
            self.take(key.as_str(), || Timestamp::from_millis(0));
            self.expirations += 1;
            removals.push(key, EvictionCause::Expired);
            return None;
        }
        let entry = record.entry(&self.types, &self.no_tags);
        self.policy.access(key.as_str());
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
        let outcome = match self.take(key.as_str(), || now) {
            Some(true) => {
                self.expirations += 1;
                removals.push(&key, EvictionCause::Expired);
                InsertOutcome::Created
            }
            Some(false) => InsertOutcome::Replaced,
            None => InsertOutcome::Created,
        };
        if entry.is_expired(now) {
            self.expirations += 1;
            removals.push(&key, EvictionCause::Expired);
            return outcome;
        }
        self.sweep(now, EXPIRY_SWEEP_PER_INSERT, removals);
        let Some(record) = Record::new(&key, &entry, &mut self.types) else {
            // Longer than any valid value: declined, as by the policy.
            self.evictions += 1;
            removals.push(&key, EvictionCause::Capacity);
            return outcome;
        };
        let mut evicted = mem::take(&mut self.scratch);
        let expires_at_ms = entry.expires_at().map(Timestamp::as_millis);
        let admitted = self
            .policy
            .insert(record, policy_weight, expires_at_ms, &mut evicted);
        for (gone, _) in evicted.drain(..) {
            unindex(
                &mut self.tags,
                &mut self.expiries,
                &mut self.bytes,
                &self.types,
                &gone,
            );
            self.evictions += 1;
            removals.push_record(&gone, EvictionCause::Capacity);
        }
        self.scratch = evicted;
        if admitted {
            self.attach(key, &entry);
        } else {
            self.evictions += 1;
            removals.push(&key, EvictionCause::Capacity);
        }
        outcome
    }

    /// Every stored key, in no particular order.
    pub(super) fn keys(&self) -> Vec<String> {
        let mut keys = Vec::with_capacity(self.len());
        self.policy
            .for_each_resident(&mut |record, _| keys.push(record.key().to_owned()));
        keys
    }

    /// Every stored entry not expired at `now`, with its key.
    pub(super) fn entries(&self, now: Timestamp) -> Vec<(CacheKey, CacheEntry)> {
        let mut out = Vec::with_capacity(self.len());
        self.policy.for_each_resident(&mut |record, _| {
            if !record.is_expired(now) {
                out.push((record.cache_key(), record.entry(&self.types, &self.no_tags)));
            }
        });
        out
    }

    /// The entries at positions `offset..offset + limit` of the policy's
    /// resident order, those not expired at `now`, with their keys (a page
    /// of an export: positions shift when the shard changes between pages).
    pub(super) fn entries_window(
        &self,
        now: Timestamp,
        offset: usize,
        limit: usize,
    ) -> Vec<(CacheKey, CacheEntry)> {
        let mut out = Vec::with_capacity(limit.min(self.len()));
        let mut position = 0usize;
        self.policy.for_each_resident(&mut |record, _| {
            if position >= offset && position - offset < limit && !record.is_expired(now) {
                out.push((record.cache_key(), record.entry(&self.types, &self.no_tags)));
            }
            position += 1;
        });
        out
    }

    /// Collects up to `limit` entries expired at `now`, soonest first.
    pub(super) fn sweep(&mut self, now: Timestamp, limit: usize, removals: &mut Removals) {
        for _ in 0..limit {
            let key = match self.expiries.first() {
                Some((at, key)) if *at <= now => key.clone(),
                _ => return,
            };
            self.take(key.as_str(), || now);
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
        let mut bytes = 0;
        let mut expiring = 0;
        let mut stored = 0;
        self.policy.for_each_resident(&mut |record, policy_weight| {
            stored += 1;
            let weight = record.weight(&self.types);
            bytes += weight;
            assert_eq!(policy_weight, if byte_mode { weight } else { 1 });
            for tag in record.tags() {
                assert!(
                    self.tags
                        .get(tag)
                        .is_some_and(|keys| keys.contains(record.key()))
                );
            }
            if let Some(at) = record.expires_at() {
                expiring += 1;
                assert!(self.expiries.contains(&(at, record.cache_key())));
            }
        });
        assert_eq!(stored, self.policy.len(), "resident keys vs len");
        assert_eq!(bytes, self.bytes);
        assert_eq!(expiring, self.expiries.len());
        for (tag, keys) in &self.tags {
            assert!(!keys.is_empty());
            for key in keys {
                assert!(
                    self.policy
                        .get(key.as_str())
                        .is_some_and(|record| record.tags().contains(tag))
                );
            }
        }
        assert!(self.policy.used() <= self.policy.capacity());
        if byte_mode {
            assert_eq!(self.policy.used(), self.bytes);
        } else {
            assert_eq!(self.policy.used(), self.policy.len() as u64);
        }
    }
}
