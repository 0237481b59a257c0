//! `ExistenceCache`: the blobs the bucket is known to hold, with their
//! sizes, so `FindMissingBlobs` and `HEAD` of recently seen blobs cost no
//! request. Only presence is cached: a miss is always asked of the
//! bucket, and any miss (a `HEAD` or `GET` that finds nothing) drops the
//! entry, so a blob removed by another instance is believed present for
//! at most the time to live.

use std::time::Duration;

use moka::future::Cache;
use object_store::path::Path;

/// Object key -> size in bytes, bounded by entries and a time to live.
pub(super) struct ExistenceCache(Cache<Path, u64>);

impl ExistenceCache {
    /// At most `max_entries`, each for `ttl` after it was last seen.
    pub(super) fn new(max_entries: u64, ttl: Duration) -> Self {
        Self(
            Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        )
    }

    /// The size of `path` when it is known present.
    pub(super) async fn get(&self, path: &Path) -> Option<u64> {
        self.0.get(path).await
    }

    /// `path` was seen present with `size_bytes`.
    pub(super) async fn insert(&self, path: &Path, size_bytes: u64) {
        self.0.insert(path.clone(), size_bytes).await;
    }

    /// `path` was missed (or removed): forget it.
    pub(super) async fn remove(&self, path: &Path) {
        self.0.invalidate(path).await;
    }
}
