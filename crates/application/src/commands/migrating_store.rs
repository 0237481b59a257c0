//! [`MigratingStore`]: the store a cache serves from while a run-time
//! switch copies its entries from the old in-process store into the new
//! one. Reads that miss the new store fall back to the old one, and an
//! entry found there is moved on the spot, so a switch loses no hits.
//! Writes go to the new store and drop the old copy (a later miss must not
//! resurrect a stale value); deletes and invalidations reach both.

use std::sync::Arc;

use async_trait::async_trait;
use strata_domain::{
    CacheEntry, CacheKey, CacheStore, InsertOutcome, KeyPattern, Lookup, StoreCapabilities,
    StoreError, StoreStats, Tag, TierStats,
};

/// See the module docs.
pub(crate) struct MigratingStore {
    pub(crate) new: Arc<dyn CacheStore>,
    pub(crate) old: Arc<dyn CacheStore>,
}

impl MigratingStore {
    /// The old store's live entry for `key`, moved into the new store.
    async fn take_from_old(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let Some(entry) = self.old.get(key).await? else {
            return Ok(None);
        };
        self.new.insert(key.clone(), entry.clone()).await?;
        self.old.remove(key).await?;
        Ok(Some(entry))
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
        let outcome = self.new.insert(key.clone(), entry).await?;
        let replaced_old = self.old.remove(&key).await?;
        Ok(if replaced_old {
            InsertOutcome::Replaced
        } else {
            outcome
        })
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
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

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<u64, StoreError> {
        Ok(self.new.invalidate_tags(tags).await? + self.old.invalidate_tags(tags).await?)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.new.flush().await?;
        self.old.flush().await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let (new, old) = (self.new.stats().await?, self.old.stats().await?);
        Ok(StoreStats {
            entries: new.entries + old.entries,
            bytes: new.bytes + old.bytes,
            ..new
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
}
