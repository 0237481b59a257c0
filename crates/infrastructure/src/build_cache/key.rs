//! What every build-cache store shares: the key, and the hit and miss
//! counters per kind.

use std::sync::atomic::{AtomicU64, Ordering};

use strata_domain::{DigestHash, InstanceName, StoreKind, StoreUsage};

/// One entry: which store, which instance, which hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) kind: StoreKind,
    pub(crate) instance: InstanceName,
    pub(crate) hash: DigestHash,
}

impl Key {
    pub(crate) fn new(kind: StoreKind, instance: &InstanceName, hash: DigestHash) -> Self {
        Self {
            kind,
            instance: instance.clone(),
            hash,
        }
    }
}

/// Hits and misses of one store, per kind (AC, CAS).
#[derive(Default)]
pub(crate) struct HitCounters([(AtomicU64, AtomicU64); 2]);

impl HitCounters {
    fn of(&self, kind: StoreKind) -> &(AtomicU64, AtomicU64) {
        match kind {
            StoreKind::Ac => &self.0[0],
            StoreKind::Cas => &self.0[1],
        }
    }

    /// Counts one lookup of `kind`.
    pub(crate) fn count(&self, kind: StoreKind, hit: bool) {
        let (hits, misses) = self.of(kind);
        if hit { hits } else { misses }.fetch_add(1, Ordering::Relaxed);
    }

    /// The usage line of `store` for `kind`, with these counters.
    pub(crate) fn usage(
        &self,
        store: &str,
        kind: StoreKind,
        entries: u64,
        bytes: u64,
    ) -> StoreUsage {
        let (hits, misses) = self.of(kind);
        StoreUsage {
            store: store.to_owned(),
            entries,
            bytes,
            hits: hits.load(Ordering::Relaxed),
            misses: misses.load(Ordering::Relaxed),
        }
    }
}
