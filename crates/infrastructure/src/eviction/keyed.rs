//! The bookkeeping every policy shares, written once.
//!
//! - [`Entries`]: the key → slab-index map, the slab of entries (key,
//!   weight, per-policy state) and the sum of their weights. Every policy
//!   keeps its keys here; ARC and S3-FIFO keep their ghosts here too.
//! - [`Keyed`]: [`Entries`] plus a capacity and a [`Ranking`], implementing
//!   the whole [`EvictionPolicy`](super::EvictionPolicy) contract (access,
//!   insert with evict-until-it-fits, remove, contains, len, used, drain).
//!   A policy that ranks resident keys in one structure (FIFO, LRU, CLOCK,
//!   SIEVE, LFU's frequency buckets, TTL-first's expiry order) is only a
//!   [`Ranking`]: how a new key is linked, what a hit does, which key goes.
//! - [`Queue`]: the [`Ranking`] of the single-queue policies (FIFO, LRU,
//!   CLOCK, SIEVE): new keys at the front, the victim chosen from the back
//!   by a [`Discipline`].
//! - [`Segments`]: several queues over one [`Entries`] with a weight sum
//!   per queue, for the policies that move keys between queues (ARC,
//!   S3-FIFO, W-TinyLFU).
//!
//! Everything is generic and monomorphised: no `dyn`, no boxing per access.
//!
//! Invariants ([`Keyed::check_invariants`] and [`Entries::check`] assert
//! them in tests): every key in the map names a live slab node holding that
//! key; the slab has no other live node; `weight` is the sum of the live
//! nodes' weights; in a [`Keyed`], every entry is ranked exactly once and
//! `weight <= capacity`.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use super::PolicyKey;
use super::key_hash::KeyHasher;
use super::list::{List, Slab};

/// One tracked key: its weight and the policy's state for it.
///
/// The weight is kept in 32 bits (a slab node of a pointer-sized key and a
/// small state is then 24 bytes); [`MAX_WEIGHT`](super::MAX_WEIGHT) is
/// the largest weight a policy admits.
#[derive(Debug)]
pub(crate) struct Entry<K, S> {
    pub(crate) key: K,
    weight: u32,
    pub(crate) state: S,
}

// The memory store's node: a thin-pointer key, the links and SIEVE's bit.
const _: () = assert!(size_of::<Option<super::list::Node<Entry<Box<u8>, bool>>>>() == 24);

impl<K, S> Entry<K, S> {
    /// The entry's weight.
    #[inline]
    pub(crate) fn weight(&self) -> u64 {
        u64::from(self.weight)
    }

    /// The key and its weight.
    #[inline]
    pub(crate) fn into_parts(self) -> (K, u64) {
        (self.key, u64::from(self.weight))
    }
}

/// Keys indexed into a slab of entries, with their total weight.
///
/// Each key is stored once, in its slab entry: the index is a table of
/// slab positions (`u32`) hashed by the key they point at, so a lookup by
/// any borrowed form of the key (`&str` for a string-like key) works.
pub(crate) struct Entries<K, S> {
    map: HashTable<u32>,
    hasher: KeyHasher,
    slab: Slab<Entry<K, S>>,
    weight: u64,
}

impl<K: std::fmt::Debug, S: std::fmt::Debug> std::fmt::Debug for Entries<K, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries")
            .field("len", &self.map.len())
            .field("slab", &self.slab)
            .field("weight", &self.weight)
            .finish()
    }
}

impl<K, S> Default for Entries<K, S> {
    fn default() -> Self {
        Self {
            map: HashTable::new(),
            hasher: KeyHasher::default(),
            slab: Slab::default(),
            weight: 0,
        }
    }
}

impl<K, S> Entries<K, S> {
    #[inline]
    pub(crate) fn get(&self, idx: u32) -> &Entry<K, S> {
        self.slab.get(idx)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, idx: u32) -> &mut Entry<K, S> {
        self.slab.get_mut(idx)
    }

    /// The slab, for threading nodes through [`List`]s.
    #[inline]
    pub(crate) fn slab(&self) -> &Slab<Entry<K, S>> {
        &self.slab
    }

    /// The slab, for threading nodes through [`List`]s.
    #[inline]
    pub(crate) fn slab_mut(&mut self) -> &mut Slab<Entry<K, S>> {
        &mut self.slab
    }

    /// Every tracked entry (resident or ghost), in slab order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry<K, S>> {
        self.slab.iter()
    }

    /// Number of tracked keys.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Sum of the weights of tracked keys.
    #[inline]
    pub(crate) fn weight(&self) -> u64 {
        self.weight
    }

    /// Forgets every key (the caller clears its lists).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.slab.clear();
        self.weight = 0;
    }
}

impl<K: Hash + Eq, S> Entries<K, S> {
    /// The slab index of `key`, if tracked.
    #[inline]
    pub(crate) fn index<Q>(&self, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let slab = &self.slab;
        self.map
            .find(hash, |&idx| slab.get(idx).key.borrow() == key)
            .copied()
    }

    /// Whether `key` is tracked.
    #[inline]
    pub(crate) fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index(key).is_some()
    }

    /// Tracks `key` (which MUST NOT be tracked yet) in a new, unlinked node.
    #[inline]
    pub(crate) fn alloc(&mut self, key: K, weight: u64, state: S) -> u32 {
        let hash = self.hasher.hash_one(&key);
        let idx = self.slab.alloc(Entry {
            key,
            weight: u32::try_from(weight)
                .unwrap_or_else(|_| panic!("weights above MAX_WEIGHT are never admitted")),
            state,
        });
        let Self {
            map, hasher, slab, ..
        } = self;
        map.insert_unique(hash, idx, |&i| hasher.hash_one(&slab.get(i).key));
        self.weight += weight;
        idx
    }

    /// Stops tracking the node `idx`, which MUST be unlinked from every
    /// list, and returns its entry.
    #[inline]
    pub(crate) fn free(&mut self, idx: u32) -> Entry<K, S> {
        let hash = self.hasher.hash_one(&self.slab.get(idx).key);
        if let Ok(found) = self.map.find_entry(hash, |&i| i == idx) {
            found.remove();
        }
        let entry = self.slab.free(idx);
        self.weight -= entry.weight();
        entry
    }

    /// Checks the index against `linked`, every node the lists reach.
    #[cfg(test)]
    pub(crate) fn check(&self, linked: &[u32]) {
        assert_eq!(linked.len(), self.map.len(), "linked nodes vs index");
        assert_eq!(self.slab.live(), self.map.len(), "live nodes vs index");
        let mut sum = 0;
        for &idx in linked {
            let entry = self.slab.get(idx);
            assert_eq!(self.index(&entry.key), Some(idx));
            sum += entry.weight();
        }
        assert_eq!(sum, self.weight, "weight sum");
    }
}

impl<K: PolicyKey, S> Entries<K, S> {
    /// Swaps the key of `idx` for [`PolicyKey::key_copy`] of it (a ghost
    /// keeps only what identifies the key) and returns the original.
    #[inline]
    pub(crate) fn take_key(&mut self, idx: u32) -> K {
        let entry = self.slab.get_mut(idx);
        let copy = entry.key.key_copy();
        std::mem::replace(&mut entry.key, copy)
    }
}

/// How a [`Keyed`] policy ranks its entries; the ranking holds every entry
/// exactly once.
pub(crate) trait Ranking<K>: Send {
    /// Per-entry state.
    type State;

    /// The state of a key about to be inserted with this expiry hint.
    fn new_state(&mut self, expires_at_ms: Option<u64>) -> Self::State;

    /// Ranks the new, unranked entry `idx`.
    fn link(&mut self, entries: &mut Entries<K, Self::State>, idx: u32);

    /// Unranks the ranked entry `idx` (explicit remove).
    fn unlink(&mut self, entries: &mut Entries<K, Self::State>, idx: u32);

    /// Records a hit on the ranked entry `idx`.
    fn hit(&mut self, entries: &mut Entries<K, Self::State>, idx: u32);

    /// Chooses the next victim, unranks it and returns it (`None` when
    /// empty).
    fn evict(&mut self, entries: &mut Entries<K, Self::State>) -> Option<u32>;

    /// Unranks and returns the entry nearest eviction without updating any
    /// state (for `drain`).
    fn pop_oldest(&mut self, entries: &mut Entries<K, Self::State>) -> Option<u32>;

    /// Forgets every entry (the entries are cleared by the caller).
    fn clear(&mut self);

    /// How often the ranked entry `idx` was requested, as far as the
    /// ranking knows ([`EvictionPolicy::frequency_hint`](super::EvictionPolicy::frequency_hint)); 0 by default.
    fn hint(&self, entries: &Entries<K, Self::State>, idx: u32) -> u32 {
        let _ = (entries, idx);
        0
    }

    /// Checks the ranking's own invariants; returns every ranked entry.
    #[cfg(test)]
    fn check(&self, entries: &Entries<K, Self::State>) -> Vec<u32>;
}

/// A policy over keys `K`: [`Entries`] ranked by `R`, within a capacity.
#[derive(Debug)]
pub(crate) struct Keyed<K, R: Ranking<K>> {
    entries: Entries<K, R::State>,
    ranking: R,
    capacity: u64,
}

impl<K: PolicyKey, R: Ranking<K>> Keyed<K, R> {
    pub(crate) fn new(capacity: u64, ranking: R) -> Self {
        Self {
            entries: Entries::default(),
            ranking,
            capacity,
        }
    }

    /// Unranks and frees `idx`.
    #[inline]
    fn take(&mut self, idx: u32) -> Entry<K, R::State> {
        self.ranking.unlink(&mut self.entries, idx);
        self.entries.free(idx)
    }

    #[inline]
    pub(crate) fn access<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.entries.index(key) {
            Some(idx) => {
                self.ranking.hit(&mut self.entries, idx);
                true
            }
            None => false,
        }
    }

    #[inline]
    pub(crate) fn insert(
        &mut self,
        key: K,
        weight: u64,
        expires_at_ms: Option<u64>,
        evicted: &mut Vec<(K, u64)>,
    ) -> bool {
        self.remove(&key);
        if weight > self.capacity || weight > super::MAX_WEIGHT {
            return false;
        }
        while self.entries.weight() + weight > self.capacity {
            let Some(idx) = self.ranking.evict(&mut self.entries) else {
                break;
            };
            let entry = self.entries.free(idx);
            evicted.push(entry.into_parts());
        }
        let state = self.ranking.new_state(expires_at_ms);
        let idx = self.entries.alloc(key, weight, state);
        self.ranking.link(&mut self.entries, idx);
        true
    }

    #[inline]
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = self.entries.index(key)?;
        Some(self.take(idx).weight())
    }

    #[inline]
    pub(crate) fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.contains(key)
    }

    #[inline]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .index(key)
            .map(|idx| &self.entries.get(idx).key)
    }

    pub(crate) fn frequency_hint(&self, key: &K) -> u32 {
        self.entries
            .index(key)
            .map_or(0, |idx| self.ranking.hint(&self.entries, idx))
    }

    pub(crate) fn for_each_resident(&self, f: &mut dyn FnMut(&K, u64)) {
        for entry in self.entries.iter() {
            f(&entry.key, entry.weight());
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub(crate) fn used(&self) -> u64 {
        self.entries.weight()
    }

    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Removes and returns the entry the ranking would evict next, or
    /// `None` when none is resident. For a store that decides itself when
    /// to evict (the disk build store evicts down to a watermark).
    pub(crate) fn pop_victim(&mut self) -> Option<(K, u64)> {
        let idx = self.ranking.evict(&mut self.entries)?;
        Some(self.entries.free(idx).into_parts())
    }

    pub(crate) fn drain(&mut self) -> Vec<(K, u64)> {
        let mut out = Vec::with_capacity(self.entries.len());
        while let Some(idx) = self.ranking.pop_oldest(&mut self.entries) {
            let entry = self.entries.free(idx);
            out.push(entry.into_parts());
        }
        self.entries.clear();
        self.ranking.clear();
        out
    }

    /// Checks the ranking, the index and the capacity.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let ranked = self.ranking.check(&self.entries);
        self.entries.check(&ranked);
        assert!(self.entries.weight() <= self.capacity, "over capacity");
    }
}

/// Implements [`EvictionPolicy`](super::EvictionPolicy) for a newtype
/// `$policy<K>(Keyed<K, _>)` by forwarding to the [`Keyed`] inside.
macro_rules! keyed_policy {
    ($policy:ident) => {
        impl<K: super::PolicyKey> super::EvictionPolicy<K> for $policy<K> {
            #[inline]
            fn access<Q>(&mut self, key: &Q) -> bool
            where
                K: std::borrow::Borrow<Q>,
                Q: std::hash::Hash + Eq + ?Sized,
            {
                self.0.access(key)
            }

            #[inline]
            fn insert(
                &mut self,
                key: K,
                weight: u64,
                expires_at_ms: Option<u64>,
                evicted: &mut Vec<(K, u64)>,
            ) -> bool {
                self.0.insert(key, weight, expires_at_ms, evicted)
            }

            #[inline]
            fn remove<Q>(&mut self, key: &Q) -> Option<u64>
            where
                K: std::borrow::Borrow<Q>,
                Q: std::hash::Hash + Eq + ?Sized,
            {
                self.0.remove(key)
            }

            #[inline]
            fn contains<Q>(&self, key: &Q) -> bool
            where
                K: std::borrow::Borrow<Q>,
                Q: std::hash::Hash + Eq + ?Sized,
            {
                self.0.contains(key)
            }

            #[inline]
            fn get<Q>(&self, key: &Q) -> Option<&K>
            where
                K: std::borrow::Borrow<Q>,
                Q: std::hash::Hash + Eq + ?Sized,
            {
                self.0.get(key)
            }

            fn for_each_resident(&self, f: &mut dyn FnMut(&K, u64)) {
                self.0.for_each_resident(f)
            }

            fn frequency_hint(&self, key: &K) -> u32 {
                self.0.frequency_hint(key)
            }

            #[inline]
            fn len(&self) -> usize {
                self.0.len()
            }

            #[inline]
            fn used(&self) -> u64 {
                self.0.used()
            }

            #[inline]
            fn capacity(&self) -> u64 {
                self.0.capacity()
            }

            fn drain(&mut self) -> Vec<(K, u64)> {
                self.0.drain()
            }
        }

        #[cfg(test)]
        impl<K: super::PolicyKey> $policy<K> {
            /// Checks the policy's invariants (see [`Keyed::check_invariants`]).
            pub(crate) fn check_invariants(&self) {
                self.0.check_invariants();
            }
        }
    };
}

pub(crate) use keyed_policy;

/// What distinguishes one single-queue policy from another: the per-entry
/// state, what a hit does and which entry the eviction hand picks.
pub(crate) trait Discipline<K>: Send {
    /// Per-entry state; new entries start at its default.
    type State: Default;

    /// Records a hit on `idx`, linked in `queue`.
    fn hit(&mut self, queue: &mut List, entries: &mut Entries<K, Self::State>, idx: u32);

    /// Chooses the victim, still linked in `queue`; the oldest by default.
    #[inline]
    fn victim(&mut self, queue: &mut List, entries: &mut Entries<K, Self::State>) -> Option<u32> {
        let _ = entries;
        queue.back()
    }

    /// Called before `idx` is unlinked from the queue.
    #[inline]
    fn unlinking(&mut self, entries: &Entries<K, Self::State>, idx: u32) {
        let _ = (entries, idx);
    }

    /// Forgets any position state.
    #[inline]
    fn clear(&mut self) {}

    /// How often an entry in `state` was requested, as far as the
    /// discipline knows (a reference bit or counter); 0 by default.
    fn hint(&self, state: &Self::State) -> u32 {
        let _ = state;
        0
    }

    /// Checks the discipline's invariants over the queue, front to back.
    #[cfg(test)]
    fn check(&self, entries: &Entries<K, Self::State>, order: &[u32]) {
        let _ = (entries, order);
    }
}

/// One queue threaded through the entries: new entries at the front, the
/// oldest at the back; `D` decides what a hit does and which entry goes.
#[derive(Debug)]
pub(crate) struct Queue<D> {
    queue: List,
    discipline: D,
}

impl<D> Queue<D> {
    pub(crate) fn new(discipline: D) -> Self {
        Self {
            queue: List::default(),
            discipline,
        }
    }
}

impl<K, D: Discipline<K>> Ranking<K> for Queue<D> {
    type State = D::State;

    #[inline]
    fn new_state(&mut self, _expires_at_ms: Option<u64>) -> Self::State {
        D::State::default()
    }

    #[inline]
    fn link(&mut self, entries: &mut Entries<K, Self::State>, idx: u32) {
        self.queue.push_front(entries.slab_mut(), idx);
    }

    fn hint(&self, entries: &Entries<K, Self::State>, idx: u32) -> u32 {
        self.discipline.hint(&entries.get(idx).state)
    }

    #[inline]
    fn unlink(&mut self, entries: &mut Entries<K, Self::State>, idx: u32) {
        self.discipline.unlinking(entries, idx);
        self.queue.unlink(entries.slab_mut(), idx);
    }

    #[inline]
    fn hit(&mut self, entries: &mut Entries<K, Self::State>, idx: u32) {
        self.discipline.hit(&mut self.queue, entries, idx);
    }

    #[inline]
    fn evict(&mut self, entries: &mut Entries<K, Self::State>) -> Option<u32> {
        let idx = self.discipline.victim(&mut self.queue, entries)?;
        self.unlink(entries, idx);
        Some(idx)
    }

    fn pop_oldest(&mut self, entries: &mut Entries<K, Self::State>) -> Option<u32> {
        let idx = self.queue.back()?;
        self.unlink(entries, idx);
        Some(idx)
    }

    fn clear(&mut self) {
        self.queue.clear();
        self.discipline.clear();
    }

    #[cfg(test)]
    fn check(&self, entries: &Entries<K, Self::State>) -> Vec<u32> {
        let order = self.queue.check(entries.slab());
        self.discipline.check(entries, &order);
        order
    }
}

/// One queue of a [`Segments`]: a small `Copy` enum naming it.
pub(crate) trait Segment: Copy + Eq {
    /// The segment's index, in `0..N` for a `Segments<_, N>`.
    fn slot(self) -> usize;
}

/// The entry state of a policy with several queues: which queue holds it.
pub(crate) trait InSegment<Q> {
    /// The queue holding the entry.
    fn segment(&self) -> Q;

    /// Records that queue `segment` now holds the entry.
    fn set_segment(&mut self, segment: Q);
}

/// `N` queues (named by `Q`) threaded through one [`Entries`], with the
/// weight sum of each (ghost queues included: a segment's weight is that of
/// the keys it holds).
#[derive(Debug)]
pub(crate) struct Segments<Q, const N: usize> {
    lists: [List; N],
    sizes: [u64; N],
    names: std::marker::PhantomData<Q>,
}

impl<Q, const N: usize> Default for Segments<Q, N> {
    fn default() -> Self {
        Self {
            lists: [List::default(); N],
            sizes: [0; N],
            names: std::marker::PhantomData,
        }
    }
}

impl<Q: Segment, const N: usize> Segments<Q, N> {
    /// The weight held by `segment`.
    #[inline]
    pub(crate) fn size(&self, segment: Q) -> u64 {
        self.sizes[segment.slot()]
    }

    /// The number of entries held by `segment`.
    #[inline]
    pub(crate) fn len(&self, segment: Q) -> usize {
        self.lists[segment.slot()].len()
    }

    /// The oldest entry of `segment`.
    #[inline]
    pub(crate) fn back(&self, segment: Q) -> Option<u32> {
        self.lists[segment.slot()].back()
    }

    /// Unlinks `idx` from the segment holding it.
    #[inline]
    pub(crate) fn unlink<K, S: InSegment<Q>>(&mut self, entries: &mut Entries<K, S>, idx: u32) {
        let (slot, weight) = {
            let entry = entries.get(idx);
            (entry.state.segment().slot(), entry.weight())
        };
        self.lists[slot].unlink(entries.slab_mut(), idx);
        self.sizes[slot] -= weight;
    }

    /// Links the unlinked `idx` at the front of `segment`.
    #[inline]
    pub(crate) fn push_front<K, S: InSegment<Q>>(
        &mut self,
        entries: &mut Entries<K, S>,
        idx: u32,
        segment: Q,
    ) {
        let entry = entries.get_mut(idx);
        entry.state.set_segment(segment);
        let weight = entry.weight();
        let slot = segment.slot();
        self.lists[slot].push_front(entries.slab_mut(), idx);
        self.sizes[slot] += weight;
    }

    /// Moves `idx` from the segment holding it to the front of `segment`.
    #[inline]
    pub(crate) fn relink<K, S: InSegment<Q>>(
        &mut self,
        entries: &mut Entries<K, S>,
        idx: u32,
        segment: Q,
    ) {
        self.unlink(entries, idx);
        self.push_front(entries, idx, segment);
    }

    /// Moves `idx`, linked in `segment`, to that segment's front.
    #[inline]
    pub(crate) fn move_to_front<K, S>(
        &mut self,
        entries: &mut Entries<K, S>,
        segment: Q,
        idx: u32,
    ) {
        self.lists[segment.slot()].move_to_front(entries.slab_mut(), idx);
    }

    /// Unlinks and frees `idx`.
    #[inline]
    pub(crate) fn delete<K: Hash + Eq, S: InSegment<Q>>(
        &mut self,
        entries: &mut Entries<K, S>,
        idx: u32,
    ) -> Entry<K, S> {
        self.unlink(entries, idx);
        entries.free(idx)
    }

    /// The `(key, weight)` of every entry of `segments`, oldest first, one
    /// segment after the other (keys as [`PolicyKey::key_copy`]); changes
    /// nothing.
    pub(crate) fn collect<K: PolicyKey, S>(
        &self,
        entries: &Entries<K, S>,
        segments: &[Q],
    ) -> Vec<(K, u64)> {
        let mut out = Vec::with_capacity(segments.iter().map(|&s| self.len(s)).sum());
        for segment in segments {
            for idx in self.lists[segment.slot()].iter_from_back(entries.slab()) {
                let entry = entries.get(idx);
                out.push((entry.key.key_copy(), entry.weight()));
            }
        }
        out
    }

    /// Forgets every entry (the caller clears the entries).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Walks every segment and checks it against the entries' segment tags,
    /// the sizes and the index.
    #[cfg(test)]
    pub(crate) fn check<K: Hash + Eq, S: InSegment<Q>>(&self, entries: &Entries<K, S>) {
        let mut linked = Vec::new();
        for (slot, list) in self.lists.iter().enumerate() {
            let mut sum = 0;
            for idx in list.check(entries.slab()) {
                let entry = entries.get(idx);
                assert_eq!(entry.state.segment().slot(), slot, "segment tag");
                sum += entry.weight();
                linked.push(idx);
            }
            assert_eq!(sum, self.sizes[slot], "segment {slot} size");
        }
        entries.check(&linked);
    }
}
