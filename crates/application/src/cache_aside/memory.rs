//! [`Memory`]: what `get_with_options` remembers in this process per
//! `(cache, key)` — the last loaded value (for fail-safe), a loader's
//! "absent" (negative caching) and when a load last failed (throttle) —
//! bounded to [`MEMORY_CAPACITY`] keys, oldest first out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use strata_domain::{CacheEntry, CacheKey, CacheName, Timestamp};

/// How many `(cache, key)` pairs one service remembers; past it the
/// oldest remembered pair is forgotten (a forgotten stale value cannot be
/// served by fail-safe; a forgotten "absent" calls the loader again).
pub const MEMORY_CAPACITY: usize = 10_000;

pub(crate) type Slot = (CacheName, CacheKey);

/// What is remembered of one key.
#[derive(Clone, Debug)]
pub(crate) enum Recall {
    /// The last value loaded, kept for fail-safe.
    Value(CacheEntry),
    /// The loader said "absent"; remembered until then.
    Absent { until: Timestamp },
}

#[derive(Debug)]
struct Remembered {
    recall: Recall,
    /// When the last load of this key failed (for the throttle).
    failed_at: Option<Timestamp>,
    /// Position in the arrival order (to find the oldest).
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<Slot, Remembered>,
    /// Arrival order; stale positions (re-remembered or forgotten slots)
    /// are skipped when popped.
    order: VecDeque<(Slot, u64)>,
    next_seq: u64,
}

/// The bounded in-process memory; see the module docs.
#[derive(Debug)]
pub(crate) struct Memory {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for Memory {
    fn default() -> Self {
        Self::with_capacity(MEMORY_CAPACITY)
    }
}

impl Memory {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// What is remembered of `slot`, and when its last load failed.
    pub(crate) fn recall(&self, slot: &Slot) -> Option<(Recall, Option<Timestamp>)> {
        let inner = self.lock();
        inner
            .slots
            .get(slot)
            .map(|r| (r.recall.clone(), r.failed_at))
    }

    /// Remembers `recall` for `slot` (clearing a past failure), forgetting
    /// the oldest slot when full.
    pub(crate) fn remember(&self, slot: Slot, recall: Recall) {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.order.push_back((slot.clone(), seq));
        inner.slots.insert(
            slot,
            Remembered {
                recall,
                failed_at: None,
                seq,
            },
        );
        while inner.slots.len() > self.capacity {
            let Some((oldest, seq)) = inner.order.pop_front() else {
                break;
            };
            if inner.slots.get(&oldest).is_some_and(|r| r.seq == seq) {
                inner.slots.remove(&oldest);
            }
        }
        // Keep the order queue from growing without bound when the same
        // slots are re-remembered over and over.
        if inner.order.len() > self.capacity.saturating_mul(2).max(16) {
            let Inner { slots, order, .. } = &mut *inner;
            order.retain(|(slot, seq)| slots.get(slot).is_some_and(|r| r.seq == *seq));
        }
    }

    /// Records that a load of `slot` failed at `at` (only for a remembered
    /// slot: the throttle guards a stale value).
    pub(crate) fn failed(&self, slot: &Slot, at: Timestamp) {
        if let Some(r) = self.lock().slots.get_mut(slot) {
            r.failed_at = Some(at);
        }
    }

    /// Forgets `slot`.
    pub(crate) fn forget(&self, slot: &Slot) {
        self.lock().slots.remove(slot);
    }

    /// Forgets every key of `cache`.
    pub(crate) fn forget_cache(&self, cache: &CacheName) {
        self.lock().slots.retain(|(c, _), _| c != cache);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().slots.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(k: &str) -> Slot {
        (CacheName::parse("c").unwrap(), CacheKey::parse(k).unwrap())
    }

    fn absent() -> Recall {
        Recall::Absent {
            until: Timestamp::from_millis(1),
        }
    }

    #[test]
    fn full_memory_forgets_the_oldest_slot() {
        let memory = Memory::with_capacity(3);
        for k in ["a", "b", "c"] {
            memory.remember(slot(k), absent());
        }
        // Re-remembering "a" makes it the newest: "b" is now the oldest.
        memory.remember(slot("a"), absent());
        memory.remember(slot("d"), absent());
        assert_eq!(memory.len(), 3);
        assert!(memory.recall(&slot("b")).is_none());
        for k in ["a", "c", "d"] {
            assert!(memory.recall(&slot(k)).is_some(), "{k}");
        }
    }

    #[test]
    fn forgetting_a_cache_keeps_the_others() {
        let memory = Memory::default();
        memory.remember(slot("a"), absent());
        let other = (
            CacheName::parse("d").unwrap(),
            CacheKey::parse("a").unwrap(),
        );
        memory.remember(other.clone(), absent());
        memory.forget_cache(&CacheName::parse("c").unwrap());
        assert!(memory.recall(&slot("a")).is_none());
        assert!(memory.recall(&other).is_some());
    }

    #[test]
    fn a_failure_is_recorded_only_for_remembered_slots_and_cleared_by_a_new_value() {
        let memory = Memory::default();
        memory.failed(&slot("a"), Timestamp::from_millis(5));
        assert!(memory.recall(&slot("a")).is_none());
        memory.remember(slot("a"), absent());
        memory.failed(&slot("a"), Timestamp::from_millis(5));
        assert_eq!(
            memory.recall(&slot("a")).unwrap().1,
            Some(Timestamp::from_millis(5))
        );
        memory.remember(slot("a"), absent());
        assert_eq!(memory.recall(&slot("a")).unwrap().1, None);
    }
}
