//! A tiny [`CacheStore`]: one cache in a `HashMap` behind a mutex,
//! checked by Strata's backend contract suite. It is a store only, with
//! no `StoreProvider` and no server: the complete plugin, registered and
//! served, is `examples/file_store/`.
//!
//! Run it with `cargo run --example hashmap_store`; it exits 0 when the
//! store passes every clause and panics naming the first clause it breaks.
//! `docs/plugins.md` walks through the complete one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, InsertOutcome, InvalidationCount, KeyPattern,
    StoreCapabilities, StoreError, StoreStats, Tag, Timestamp,
};

/// One cache's entries in a `HashMap`. Expired entries are hidden on read
/// and dropped lazily.
#[derive(Debug, Default)]
pub struct HashMapStore {
    entries: Mutex<HashMap<CacheKey, CacheEntry>>,
}

impl HashMapStore {
    fn map(&self) -> MutexGuard<'_, HashMap<CacheKey, CacheEntry>> {
        // No code path panics while holding the lock with the map half-updated.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes every entry for which `doomed` holds; returns how many live
    /// entries went.
    fn remove_where(&self, doomed: impl Fn(&CacheKey, &CacheEntry) -> bool) -> u64 {
        let now = now();
        let mut removed = 0;
        self.map().retain(|k, e| {
            let drop = doomed(k, e);
            if drop && !e.is_expired(now) {
                removed += 1;
            }
            !drop
        });
        removed
    }
}

/// A real plugin would take the `Clock` port; the system clock keeps the
/// example short.
fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

#[async_trait]
impl CacheStore for HashMapStore {
    fn backend(&self) -> &str {
        "hashmap"
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::IN_PROCESS
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let now = now();
        Ok(self.map().get(key).filter(|e| !e.is_expired(now)).cloned())
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let now = now();
        let previous = self.map().insert(key, entry);
        Ok(match previous {
            Some(e) if !e.is_expired(now) => InsertOutcome::Replaced,
            _ => InsertOutcome::Created,
        })
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let now = now();
        Ok(self.map().remove(key).is_some_and(|e| !e.is_expired(now)))
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        Ok(self.remove_where(|k, _| pattern.matches(k.as_str())))
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        // A map visits every entry, so it counts exactly.
        Ok(InvalidationCount::Exact(
            self.remove_where(|_, e| tags.iter().any(|t| e.has_tag(t))),
        ))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.map().clear();
        Ok(())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let now = now();
        let map = self.map();
        let live = map.iter().filter(|(_, e)| !e.is_expired(now));
        let (entries, bytes) = live.fold((0, 0), |(n, b), (k, e)| {
            (n + 1, b + e.weight(k.as_str().len()))
        });
        Ok(StoreStats {
            entries,
            bytes,
            ..StoreStats::default()
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        let now = now();
        Ok(self
            .map()
            .iter()
            .filter(|(_, e)| !e.is_expired(now))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect())
    }

    /// Paged export: the cursor is a position in the map's iteration order
    /// (good enough for a map nobody writes during the export).
    async fn entries_page(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<strata_domain::EntriesPage, StoreError> {
        let now = now();
        let map = self.map();
        let start = usize::try_from(cursor).unwrap_or(usize::MAX);
        let limit = limit.max(1);
        let entries = map
            .iter()
            .skip(start)
            .take(limit)
            .filter(|(_, e)| !e.is_expired(now))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let end = start.saturating_add(limit);
        let next = (end < map.len()).then_some(end as u64);
        Ok(strata_domain::EntriesPage { entries, next })
    }
}

/// The factory the contract suite calls once per cache name. Every name
/// gets its own empty map, so caches cannot collide.
async fn factory(_name: CacheName) -> Arc<dyn CacheStore> {
    Arc::new(HashMapStore::default())
}

#[tokio::main]
async fn main() {
    strata_testkit::contract::run_store_contract(factory).await;
    eprintln!("HashMapStore passes the CacheStore contract");
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashmap_store_honours_the_contract() {
        strata_testkit::contract::run_store_contract(super::factory).await;
    }
}
