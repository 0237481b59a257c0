//! The disk store's in-memory index: which entries exist, their sizes and
//! last accesses, their recency order (an [`eviction::Lru`](Lru)), and
//! which keys have a file-system operation in flight.
//!
//! Everything here is plain memory: the index is only ever touched under
//! the store's mutex, and no file-system call is made while it is held
//! (`eviction.rs` and `writer.rs` do their I/O after releasing it).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use strata_domain::{EntryMeta, InstanceName, StoreKind, Timestamp};

use super::super::key::Key;
use crate::eviction::{EvictionPolicy, Lru, LruConfig, MAX_WEIGHT};

/// One indexed entry.
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    /// The file's size in bytes.
    pub(super) size: u64,
    /// When it was last read or written (a flush's `older_than` and the
    /// start-up rebuild's order use it).
    pub(super) last_access: Timestamp,
    /// Tells this installation of the key from a later one, so a reader
    /// that found the file gone forgets only the entry it looked up.
    pub(super) generation: u64,
}

/// A file-system operation in flight on a key, outside the index lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Busy {
    /// Evicted or flushed: out of the index, its file not yet unlinked. An
    /// installer may take the key over (its rename replaces the file).
    Doomed,
    /// Its file is being unlinked: an installer waits.
    Unlinking,
    /// A temporary file is being renamed to its name: another installer
    /// waits, and no unlink may start.
    Installing,
}

/// The entries, their order and the bytes they (and installs in flight)
/// take.
pub(super) struct Index {
    map: HashMap<Key, Meta>,
    /// Recency order only: its capacity is unbounded and the store decides
    /// when to evict (down to the watermark, in bytes).
    order: Lru<Key>,
    /// Bytes of the indexed entries plus the bytes reserved by installs in
    /// flight.
    bytes: u64,
    busy: HashMap<Key, Busy>,
    next_generation: u64,
    /// The start-up rebuild is still scanning: the index holds only what
    /// was written or read since start, files may exist that it lacks,
    /// and nothing is evicted.
    rebuilding: bool,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: Lru::new(u64::MAX, &LruConfig),
            bytes: 0,
            busy: HashMap::new(),
            next_generation: 0,
            rebuilding: false,
        }
    }
}

/// The weight of an entry in the recency order: the order needs none, so
/// any positive weight within the policy's limit does.
fn weight(size: u64) -> u64 {
    size.clamp(1, MAX_WEIGHT)
}

impl Index {
    /// Builds an index from `(key, size, last access)` triples, ordered by
    /// last access (ties by key), as the start-up rebuild finds them.
    pub(super) fn rebuilt(mut found: Vec<(Key, u64, Timestamp)>) -> Self {
        found.sort_unstable_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
        let mut index = Self::default();
        for (key, size, last_access) in found {
            index.bytes += size;
            index.insert(key, size, last_access);
        }
        index
    }

    /// An empty index waiting for the start-up rebuild: see
    /// [`Index::rebuilding`] and [`Index::absorb`].
    pub(super) fn awaiting_rebuild() -> Self {
        Self {
            rebuilding: true,
            ..Self::default()
        }
    }

    /// Whether the start-up rebuild is still running (then a miss may be
    /// a file not indexed yet, and bytes are not yet all counted).
    pub(super) fn rebuilding(&self) -> bool {
        self.rebuilding
    }

    /// While rebuilding: indexes an entry a reader found on disk before
    /// the rebuild did (`size` bytes, last accessed at `last_access`), so
    /// the rebuild's result does not count it twice. Returns the entry as
    /// indexed: the present one if the key is indexed already; `None` when
    /// the rebuild is over (the reader then trusts the index alone) or an
    /// operation is in flight on the key.
    pub(super) fn adopt(&mut self, key: Key, size: u64, last_access: Timestamp) -> Option<Meta> {
        if let Some(meta) = self.map.get(&key) {
            return Some(*meta);
        }
        if !self.rebuilding || self.busy.contains_key(&key) {
            return None;
        }
        self.bytes += size;
        let generation = self.insert(key, size, last_access);
        Some(Meta {
            size,
            last_access,
            generation,
        })
    }

    /// Ends the rebuild: `found` (built from the files off the lock) takes
    /// this index's place, with this index's entries (written or read
    /// since start, so more recent than any file found) replacing found
    /// ones of the same key as the most recently used, and its in-flight
    /// operations and reserved bytes carried over. O(entries of `self`):
    /// the large `found` is only moved.
    pub(super) fn absorb(&mut self, mut found: Index) {
        let live = std::mem::take(&mut self.map);
        let reserved = self.bytes - live.values().map(|m| m.size).sum::<u64>();
        let mut live: Vec<(Key, Meta)> = live.into_iter().collect();
        live.sort_unstable_by(|a, b| (a.1.last_access, &a.0).cmp(&(b.1.last_access, &b.0)));
        found.next_generation = found.next_generation.max(self.next_generation);
        for (key, meta) in live {
            found.remove(&key);
            found.bytes += meta.size;
            found
                .order
                .insert(key.clone(), weight(meta.size), None, &mut Vec::new());
            found.map.insert(key, meta);
        }
        found.bytes += reserved;
        found.busy = std::mem::take(&mut self.busy);
        found.rebuilding = false;
        *self = found;
    }

    /// Entries indexed.
    pub(super) fn entries(&self) -> u64 {
        self.map.len() as u64
    }

    /// Bytes held and reserved.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The entry, refreshing its recency and last access to `now` when
    /// `touch`; the meta as it was before the refresh.
    pub(super) fn lookup(&mut self, key: &Key, touch: Option<Timestamp>) -> Option<Meta> {
        let meta = self.map.get_mut(key)?;
        let before = *meta;
        if let Some(now) = touch {
            meta.last_access = now;
            self.order.access(key);
        }
        Some(before)
    }

    /// The entry's size, changing nothing.
    #[cfg(test)]
    pub(super) fn size_of(&self, key: &Key) -> Option<u64> {
        self.map.get(key).map(|m| m.size)
    }

    /// Indexes `key` as the most recently used entry, returning its
    /// generation. The caller has counted its bytes already (reserved
    /// before the install, or counted by the rebuild).
    pub(super) fn insert(&mut self, key: Key, size: u64, last_access: Timestamp) -> u64 {
        self.next_generation += 1;
        let generation = self.next_generation;
        self.order
            .insert(key.clone(), weight(size), None, &mut Vec::new());
        self.map.insert(
            key,
            Meta {
                size,
                last_access,
                generation,
            },
        );
        generation
    }

    /// Puts back an entry whose file could not be unlinked or replaced: it
    /// is still on disk, so it is indexed and counted again.
    pub(super) fn restore(&mut self, key: Key, meta: Meta) {
        if self.map.contains_key(&key) {
            return;
        }
        self.bytes += meta.size;
        self.insert(key, meta.size, meta.last_access);
    }

    /// Removes `key` from the index and its bytes from the count.
    pub(super) fn remove(&mut self, key: &Key) -> Option<Meta> {
        let meta = self.map.remove(key)?;
        self.order.remove(key);
        self.bytes -= meta.size;
        Some(meta)
    }

    /// Removes `key` only if it is still the installation `generation`
    /// and no operation is in flight on it (its file vanished behind the
    /// index's back).
    pub(super) fn forget(&mut self, key: &Key, generation: u64) {
        let current = self
            .map
            .get(key)
            .is_some_and(|m| m.generation == generation);
        if current && !self.busy.contains_key(key) {
            self.remove(key);
        }
    }

    /// Adds `size` bytes for an install in flight.
    pub(super) fn reserve(&mut self, size: u64) {
        self.bytes += size;
    }

    /// Gives back `size` reserved bytes (an install that failed).
    pub(super) fn unreserve(&mut self, size: u64) {
        self.bytes -= size;
    }

    /// Takes least recently used entries out of the index until at most
    /// `target` bytes are held (or none is left), marking each
    /// [`Busy::Doomed`]; the caller unlinks their files after releasing
    /// the lock.
    pub(super) fn take_victims(&mut self, target: u64) -> Vec<(Key, Meta)> {
        let mut victims = Vec::new();
        while self.bytes > target {
            let Some((key, _)) = self.order.pop_victim() else {
                break;
            };
            let Some(meta) = self.map.remove(&key) else {
                continue;
            };
            self.bytes -= meta.size;
            self.busy.insert(key.clone(), Busy::Doomed);
            victims.push((key, meta));
        }
        victims
    }

    /// Entries matching `matches`, taken out of the index and marked
    /// [`Busy::Doomed`] unless `dry_run` (then only listed).
    pub(super) fn take_matching(
        &mut self,
        matches: impl Fn(&Key, &Meta) -> bool,
        dry_run: bool,
    ) -> Vec<(Key, Meta)> {
        let found: Vec<(Key, Meta)> = self
            .map
            .iter()
            .filter(|(k, m)| matches(k, m))
            .map(|(k, m)| (k.clone(), *m))
            .collect();
        if !dry_run {
            for (key, _) in &found {
                self.remove(key);
                self.busy.insert(key.clone(), Busy::Doomed);
            }
        }
        found
    }

    /// What is in flight on `key`.
    pub(super) fn busy(&self, key: &Key) -> Option<Busy> {
        self.busy.get(key).copied()
    }

    /// Marks `key` as `state`.
    pub(super) fn set_busy(&mut self, key: &Key, state: Busy) {
        self.busy.insert(key.clone(), state);
    }

    /// Claims a doomed key for unlinking: `false` when an installer took
    /// it over (its file is no longer the doomed one).
    pub(super) fn claim_unlink(&mut self, key: &Key) -> bool {
        match self.busy.entry(key.clone()) {
            Entry::Occupied(mut e) if *e.get() == Busy::Doomed => {
                e.insert(Busy::Unlinking);
                true
            }
            _ => false,
        }
    }

    /// Ends the operation in flight on `key`.
    pub(super) fn settle(&mut self, key: &Key) {
        self.busy.remove(key);
    }

    /// Every entry of `kind` (in `instance`, if given).
    pub(super) fn list(&self, kind: StoreKind, instance: Option<&InstanceName>) -> Vec<EntryMeta> {
        self.map
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

    /// Entries and bytes of `kind`.
    pub(super) fn usage(&self, kind: StoreKind) -> (u64, u64) {
        self.map
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .fold((0, 0), |(n, b), (_, m)| (n + 1, b + m.size))
    }
}

#[cfg(test)]
mod tests {
    use strata_domain::DigestHash;

    use super::*;

    fn key(n: u8) -> Key {
        Key::new(
            StoreKind::Cas,
            &InstanceName::default(),
            DigestHash::from_bytes([n; 32]),
        )
    }

    #[test]
    fn the_rebuild_orders_by_last_access_and_victims_go_oldest_first() {
        let found = vec![
            (key(1), 10, Timestamp::from_millis(300)),
            (key(2), 10, Timestamp::from_millis(100)),
            (key(3), 10, Timestamp::from_millis(200)),
        ];
        let mut index = Index::rebuilt(found);
        assert_eq!(index.bytes(), 30);
        // A touch makes key 2 the most recent.
        index.lookup(&key(2), Some(Timestamp::from_millis(400)));
        let victims: Vec<Key> = index.take_victims(10).into_iter().map(|v| v.0).collect();
        assert_eq!(victims, vec![key(3), key(1)]);
        assert_eq!(index.bytes(), 10);
        assert_eq!(index.busy(&key(3)), Some(Busy::Doomed));
        assert!(index.lookup(&key(3), None).is_none(), "a victim is a miss");
    }

    #[test]
    fn an_installer_takes_a_doomed_key_over_and_the_unlinker_skips_it() {
        let mut index = Index::rebuilt(vec![(key(1), 5, Timestamp::from_millis(1))]);
        index.take_victims(0);
        index.set_busy(&key(1), Busy::Installing);
        assert!(!index.claim_unlink(&key(1)));
        index.settle(&key(1));
        assert_eq!(index.busy(&key(1)), None);
    }

    /// Entries written or read during the rebuild win over the files it
    /// found (counted once, most recent), reservations carry over, and
    /// nothing is adopted once it is over.
    #[test]
    fn the_rebuild_absorbs_what_was_written_and_read_meanwhile() {
        let mut live = Index::awaiting_rebuild();
        assert!(live.rebuilding());
        // Written during the rebuild (an older file of the same key too).
        live.reserve(7);
        live.insert(key(1), 7, Timestamp::from_millis(500));
        // Read from its file before the rebuild got to it.
        let adopted = live.adopt(key(2), 10, Timestamp::from_millis(600)).unwrap();
        assert_eq!(
            live.adopt(key(2), 10, Timestamp::from_millis(700))
                .unwrap()
                .generation,
            adopted.generation
        );
        // An install in flight.
        live.reserve(3);
        let found = Index::rebuilt(vec![
            (key(1), 4, Timestamp::from_millis(100)),
            (key(2), 10, Timestamp::from_millis(200)),
            (key(3), 10, Timestamp::from_millis(300)),
        ]);
        live.absorb(found);
        assert!(!live.rebuilding());
        assert_eq!(live.size_of(&key(1)), Some(7));
        assert_eq!(live.bytes(), 7 + 10 + 10 + 3);
        assert!(live.adopt(key(4), 1, Timestamp::from_millis(800)).is_none());
        // The file-only entry is the least recent, then by last access.
        let victims: Vec<Key> = live.take_victims(0).into_iter().map(|v| v.0).collect();
        assert_eq!(victims, vec![key(3), key(1), key(2)]);
        assert_eq!(live.bytes(), 3);
    }

    #[test]
    fn forget_spares_a_later_installation() {
        let mut index = Index::default();
        index.reserve(5);
        let first = index.insert(key(1), 5, Timestamp::from_millis(1));
        index.remove(&key(1));
        index.reserve(5);
        let second = index.insert(key(1), 5, Timestamp::from_millis(2));
        index.forget(&key(1), first);
        assert_eq!(index.size_of(&key(1)), Some(5));
        index.forget(&key(1), second);
        assert_eq!(index.size_of(&key(1)), None);
        assert_eq!(index.bytes(), 0);
    }
}
