//! [`MigratingStore`]: the store a cache serves from while a run-time
//! switch copies its entries from the old in-process store into the new
//! one. Reads that miss the new store fall back to the old one, and an
//! entry found there is moved on the spot, so a switch loses no hits.
//! Each moved entry carries its frequency hint from the old store's
//! eviction policy into the new one's (`CacheStore::frequency_hint`,
//! `seed_frequency`): W-TinyLFU seeds its sketch with it.
//! Writes go to the new store and drop the old copy (a later miss must not
//! resurrect a stale value); deletes and invalidations reach both.
//!
//! Every move (by a read or by [`MigratingStore::migrate_all`]) and every
//! write or delete of a key holds that key's stripe lock, and a move first
//! looks in the new store again under it. So a read never misses an entry
//! moved while it looked, and a move never overwrites a newer write with
//! the old copy. Hits in the new store take no lock.
//!
//! The cache only migrates between stores that do not share data
//! (`StoreCapabilities::shared` false). A store that says so wrongly (two
//! stores of one cache read the same rows) would lose the only copy of
//! each entry moved: so after deleting the old copy, a move checks that
//! the new store still holds the entry, and when it does not it writes it
//! back, logs the mistake, and deletes nothing from the old store again.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures_util::lock::{Mutex, MutexGuard};
use strata_domain::{
    CacheEntry, CacheKey, CacheStore, InsertOutcome, InvalidationCount, KeyPattern, Lookup,
    StoreCapabilities, StoreError, StoreStats, Tag, TierStats,
};

/// Stripe locks per store: moves and writes of different keys rarely wait
/// on each other.
const STRIPES: usize = 64;

/// See the module docs.
pub(crate) struct MigratingStore {
    new: Arc<dyn CacheStore>,
    old: Arc<dyn CacheStore>,
    stripes: Vec<Mutex<()>>,
    /// Set when a delete from the old store removed the new store's copy:
    /// the two share data, whatever their capabilities say.
    shares_data: AtomicBool,
}

impl MigratingStore {
    /// Serves from `new`, moving entries out of `old`.
    pub(crate) fn new(new: Arc<dyn CacheStore>, old: Arc<dyn CacheStore>) -> Self {
        Self {
            new,
            old,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            shares_data: AtomicBool::new(false),
        }
    }

    /// Deletes `key`'s old copy after `entry` was written to the new store;
    /// `Ok(true)` when the old store held a live entry. When the delete
    /// took the new store's copy too (the stores share data), `entry` is
    /// written back and the old store is never deleted from again.
    async fn drop_old_copy(&self, key: &CacheKey, entry: CacheEntry) -> Result<bool, StoreError> {
        if self.shares_data.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let removed = self.old.remove(key).await?;
        if removed && self.new.get(key).await?.is_none() {
            self.new.insert(key.clone(), entry).await?;
            if !self.shares_data.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    backend = self.old.backend(),
                    "the old and new stores share data although their capabilities say                      shared = false: the entry was written back and nothing more is deleted                      from the old store (fix the store's capabilities)"
                );
            }
            return Ok(false);
        }
        Ok(removed)
    }

    /// Hands `key`'s frequency hint from the old store's policy to the
    /// new one's before the entry moves in (W-TinyLFU seeds its sketch,
    /// so a hot entry keeps winning admission contests after a switch).
    async fn carry(&self, key: &CacheKey, hint: u32) {
        if hint > 0 {
            self.new.seed_frequency(key, hint).await;
        }
    }

    async fn lock(&self, key: &CacheKey) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        // The modulo keeps the index below STRIPES, so it fits in usize.
        let i = usize::try_from(h.finish() % STRIPES as u64).unwrap_or(0);
        self.stripes[i].lock().await
    }

    /// `key`'s entry, moved into the new store if it is still only in the
    /// old one; `None` when neither has it.
    async fn take_from_old(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let _guard = self.lock(key).await;
        // Moved (or written) since the caller looked.
        if let Some(entry) = self.new.get(key).await? {
            return Ok(Some(entry));
        }
        let hint = self.old.frequency_hint(key).await;
        let Some(entry) = self.old.get(key).await? else {
            return Ok(None);
        };
        self.carry(key, hint).await;
        self.new.insert(key.clone(), entry.clone()).await?;
        self.drop_old_copy(key, entry.clone()).await?;
        Ok(Some(entry))
    }

    /// Moves every entry still in the old store; returns how many moved.
    /// A failing entry is logged and skipped (it stays readable through
    /// the fallback until the switch ends).
    pub(crate) async fn migrate_all(&self) -> u64 {
        let entries = match self.old.entries().await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "could not list entries to migrate");
                return 0;
            }
        };
        let mut moved = 0;
        for (key, _) in entries {
            let step = async {
                let _guard = self.lock(&key).await;
                if let Some(current) = self.new.get(&key).await? {
                    // Written or moved already: the old copy is stale.
                    self.drop_old_copy(&key, current).await?;
                    return Ok::<_, StoreError>(0);
                }
                let hint = self.old.frequency_hint(&key).await;
                let Some(entry) = self.old.get(&key).await? else {
                    return Ok(0);
                };
                self.carry(&key, hint).await;
                self.new.insert(key.clone(), entry.clone()).await?;
                self.drop_old_copy(&key, entry).await?;
                Ok(1)
            };
            match step.await {
                Ok(n) => moved += n,
                Err(e) => tracing::warn!(error = %e, "could not migrate an entry"),
            }
        }
        moved
    }
}

#[async_trait]
impl CacheStore for MigratingStore {
    fn backend(&self) -> &str {
        self.new.backend()
    }

    fn capabilities(&self) -> StoreCapabilities {
        self.new.capabilities()
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        if let Some(entry) = self.new.get(key).await? {
            return Ok(Some(entry));
        }
        self.take_from_old(key).await
    }

    async fn get_shared(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        if let Some(entry) = self.new.get_shared(key).await? {
            return Ok(Some(entry));
        }
        self.take_from_old(key).await
    }

    async fn lookup(&self, key: &CacheKey) -> Result<Option<Lookup>, StoreError> {
        if let Some(found) = self.new.lookup(key).await? {
            return Ok(Some(found));
        }
        Ok(self.take_from_old(key).await?.map(|entry| Lookup {
            entry,
            tier: strata_domain::HitTier::L1,
            possibly_stale: false,
        }))
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let _guard = self.lock(&key).await;
        let outcome = self.new.insert(key.clone(), entry.clone()).await?;
        let replaced_old = self.drop_old_copy(&key, entry).await?;
        Ok(if replaced_old {
            InsertOutcome::Replaced
        } else {
            outcome
        })
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let _guard = self.lock(key).await;
        let in_new = self.new.remove(key).await?;
        let in_old = self.old.remove(key).await?;
        Ok(in_new || in_old)
    }

    async fn tier_stats(&self) -> Result<Vec<TierStats>, StoreError> {
        self.new.tier_stats().await
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        Ok(self.new.invalidate_pattern(pattern).await?
            + self.old.invalidate_pattern(pattern).await?)
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        Ok(self.new.invalidate_tags(tags).await? + self.old.invalidate_tags(tags).await?)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.new.flush().await?;
        self.old.flush().await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let (new, old) = (self.new.stats().await?, self.old.stats().await?);
        // The old store's evictions count too until it is retired (then
        // the cache's `RetiredCounts` carry them).
        Ok(StoreStats {
            entries: new.entries + old.entries,
            bytes: new.bytes + old.bytes,
            evictions_capacity: new.evictions_capacity + old.evictions_capacity,
            expirations: new.expirations + old.expirations,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.new.ping().await
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        let mut all = self.old.entries().await?;
        all.extend(self.new.entries().await?);
        Ok(all)
    }

    async fn hot_keys(&self, limit: usize) -> Result<Vec<CacheKey>, StoreError> {
        self.new.hot_keys(limit).await
    }

    /// The old store's pages first, then the new store's; the top cursor
    /// bit says which. An entry moved during the enumeration may come twice.
    async fn entries_page(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<strata_domain::EntriesPage, StoreError> {
        const NEW: u64 = strata_domain::MAX_ENTRIES_CURSOR;
        if cursor & NEW == 0 {
            let page = self.old.entries_page(cursor, limit).await?;
            Ok(strata_domain::EntriesPage {
                next: Some(page.next.unwrap_or(NEW)),
                entries: page.entries,
            })
        } else {
            let mut page = self.new.entries_page(cursor & !NEW, limit).await?;
            page.next = page.next.map(|n| n | NEW);
            Ok(page)
        }
    }
}
