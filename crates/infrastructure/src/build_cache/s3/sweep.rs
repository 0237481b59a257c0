//! The object tier's eviction: least recently used first, down to 90 %
//! of `max_bytes`, by the access index every instance on the bucket
//! writes; one sweeper at a time across instances, elected with a Redis
//! lease (`SET NX PX`).
//!
//! Each victim is first forgotten from the index, only if its last access
//! is still the one the sweep selected (a blob read meanwhile stays), and
//! then deleted from the bucket.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use object_store::ObjectStoreExt;
use object_store::path::Path;
use strata_domain::BuildCacheError;

use super::S3Shared;

/// The share of `max_bytes` a sweep evicts down to, in percent.
pub const S3_LOW_WATERMARK_PERCENT: u64 = 90;
/// Index entries a sweep takes per round.
const SWEEP_BATCH: usize = 100;
/// How long the sweeper lease lasts without release (a sweeper that
/// died frees it then).
const LEASE: Duration = Duration::from_secs(60);

impl S3Shared {
    /// Records an access of `path` in the index (when there is one) and
    /// starts a sweep in the background when the index is over budget.
    pub(super) async fn touch(self: &Arc<Self>, path: &Path, size_bytes: u64) {
        let Some(index) = &self.index else { return };
        match index
            .touch(path.as_ref(), self.clock.now(), size_bytes)
            .await
        {
            Ok(total) if self.max_bytes.is_some_and(|max| total > max) => {
                if !self.sweeping.swap(true, Ordering::AcqRel) {
                    let shared = Arc::clone(self);
                    tokio::spawn(async move {
                        if let Err(e) = shared.sweep().await {
                            tracing::warn!(error = %e, "object tier sweep failed");
                        }
                        shared.sweeping.store(false, Ordering::Release);
                    });
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "object tier access not indexed"),
        }
    }

    /// Forgets `path` in the index (a flush removed it, or a read missed).
    pub(super) async fn forget(&self, path: &Path) {
        if let Some(index) = &self.index
            && let Err(e) = index.forget(path.as_ref(), None).await
        {
            tracing::warn!(error = %e, "object tier index entry not removed");
        }
    }

    /// Evicts least recently used objects until the index holds at most
    /// the low watermark, if this instance wins the sweeper lease; the
    /// bytes evicted (0 when another instance sweeps, or nothing had to go).
    ///
    /// # Errors
    /// Redis or the bucket failing.
    pub(super) async fn sweep(&self) -> Result<u64, BuildCacheError> {
        let (Some(index), Some(max)) = (&self.index, self.max_bytes) else {
            return Ok(0);
        };
        let low = max / 100 * S3_LOW_WATERMARK_PERCENT;
        if index.bytes().await? <= max {
            return Ok(0);
        }
        let token = format!("{:016x}", rand::random::<u64>());
        if !index.acquire(&token, LEASE).await? {
            return Ok(0);
        }
        let result = self.sweep_down_to(low).await;
        index.release(&token).await?;
        let evicted = result?;
        tracing::info!(
            evicted_bytes = evicted,
            max_bytes = max,
            "object tier swept"
        );
        Ok(evicted)
    }

    async fn sweep_down_to(&self, low: u64) -> Result<u64, BuildCacheError> {
        let Some(index) = &self.index else {
            return Ok(0);
        };
        let mut evicted = 0;
        while index.bytes().await? > low {
            let batch = index.oldest(SWEEP_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for (key, last_access) in batch {
                let Some(size) = index.forget(&key, Some(last_access)).await? else {
                    continue;
                };
                let path = Path::from(key);
                self.exists.remove(&path).await;
                match self.store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => evicted += size,
                    Err(e) => return Err(self.error("evict", e)),
                }
                if index.bytes().await? <= low {
                    break;
                }
            }
        }
        Ok(evicted)
    }
}
