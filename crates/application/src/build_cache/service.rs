//! [`BuildCacheService`]: the facade over the build-cache use cases.

use std::sync::Arc;

use bytes::Bytes;
use strata_domain::{
    BlobRead, Digest, FlushResult, IndexRebuild, InstanceName, StoreUsage, TrendReading,
    TrendSource, TrendTotals,
};

use super::context::{BuildCacheContext, BuildCacheDependencies};
use super::find_missing_blobs::{self, FindMissingBlobs, FindMissingBlobsError};
use super::flush_action_cache::{self, FlushActionCache, FlushActionCacheError};
use super::flush_content_store::{self, FlushContentStore, FlushContentStoreError};
use super::get_action_result::{self, GetActionResult, GetActionResultError};
use super::get_build_cache_stats::{
    self, BuildCacheStats, GetBuildCacheStats, GetBuildCacheStatsError,
};
use super::read_blob::{self, ReadBlob, ReadBlobError};
use super::update_action_result::{self, UpdateActionResult, UpdateActionResultError};
use super::write_blob::{self, WriteBlob, WriteBlobError, WriteBlobStart};

/// The build cache's facade: AC and CAS reads and writes, flushes and
/// stats, each checking the principal's role on
/// [`BUILD_CACHE_NAME`](super::BUILD_CACHE_NAME). Cheap to clone.
#[derive(Clone)]
pub struct BuildCacheService {
    ctx: Arc<BuildCacheContext>,
}

impl BuildCacheService {
    /// A service over `deps`.
    pub fn new(deps: BuildCacheDependencies) -> Self {
        Self {
            ctx: Arc::new(BuildCacheContext::new(deps)),
        }
    }

    /// Whether `instance` validates its AC entries.
    pub fn validates(&self, instance: &InstanceName) -> bool {
        self.ctx.validation.validates(instance)
    }

    /// The largest CAS blob accepted, in bytes.
    pub fn max_blob_bytes(&self) -> u64 {
        self.ctx.cas.max_blob_bytes()
    }

    /// The content store's start-up index rebuild while it runs (the
    /// store serves meanwhile; `/health/ready` reports it).
    pub fn index_rebuild(&self) -> Option<IndexRebuild> {
        self.ctx.cas.index_rebuild()
    }

    /// See [`get_action_result`].
    ///
    /// # Errors
    /// [`GetActionResultError`].
    pub async fn get_action_result(
        &self,
        q: GetActionResult,
    ) -> Result<Option<Bytes>, GetActionResultError> {
        get_action_result::handle(&self.ctx, q).await
    }

    /// See [`update_action_result`].
    ///
    /// # Errors
    /// [`UpdateActionResultError`].
    pub async fn update_action_result(
        &self,
        cmd: UpdateActionResult,
    ) -> Result<(), UpdateActionResultError> {
        update_action_result::handle(&self.ctx, cmd).await
    }

    /// See [`read_blob`].
    ///
    /// # Errors
    /// [`ReadBlobError`].
    pub async fn read_blob(&self, q: ReadBlob) -> Result<Option<BlobRead>, ReadBlobError> {
        read_blob::handle(&self.ctx, q).await
    }

    /// See [`write_blob`].
    ///
    /// # Errors
    /// [`WriteBlobError`].
    pub async fn write_blob(&self, cmd: WriteBlob) -> Result<WriteBlobStart, WriteBlobError> {
        write_blob::handle(&self.ctx, cmd).await
    }

    /// See [`find_missing_blobs`].
    ///
    /// # Errors
    /// [`FindMissingBlobsError`].
    pub async fn find_missing_blobs(
        &self,
        q: FindMissingBlobs,
    ) -> Result<Vec<Digest>, FindMissingBlobsError> {
        find_missing_blobs::handle(&self.ctx, q).await
    }

    /// See [`flush_action_cache`].
    ///
    /// # Errors
    /// [`FlushActionCacheError`].
    pub async fn flush_action_cache(
        &self,
        cmd: FlushActionCache,
    ) -> Result<FlushResult, FlushActionCacheError> {
        flush_action_cache::handle(&self.ctx, cmd).await
    }

    /// See [`flush_content_store`].
    ///
    /// # Errors
    /// [`FlushContentStoreError`].
    pub async fn flush_content_store(
        &self,
        cmd: FlushContentStore,
    ) -> Result<FlushResult, FlushContentStoreError> {
        flush_content_store::handle(&self.ctx, cmd).await
    }

    /// See [`get_build_cache_stats`].
    ///
    /// # Errors
    /// [`GetBuildCacheStatsError`].
    pub async fn stats(
        &self,
        q: GetBuildCacheStats,
    ) -> Result<BuildCacheStats, GetBuildCacheStatsError> {
        get_build_cache_stats::handle(&self.ctx, q).await
    }

    /// What the trends sample of each store: `ac/<store>` and
    /// `cas/<store>` with their hits, misses (their sum as requests),
    /// entries and bytes. None when the stores cannot report.
    pub async fn trend_readings(&self) -> Vec<(TrendSource, TrendReading)> {
        let (ac, cas) = match (self.ctx.ac.stats().await, self.ctx.cas.stats().await) {
            (Ok(ac), Ok(cas)) => (ac, cas),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "no build-cache trend sample");
                return Vec::new();
            }
        };
        let reading = |kind: &str, u: StoreUsage| {
            (
                TrendSource::BuildCache(format!("{kind}/{}", u.store)),
                TrendReading {
                    totals: TrendTotals {
                        requests: u.hits + u.misses,
                        hits: u.hits,
                        misses: u.misses,
                        ..Default::default()
                    },
                    entries: u.entries,
                    bytes: u.bytes,
                },
            )
        };
        ac.into_iter()
            .map(|u| reading("ac", u))
            .chain(cas.into_iter().map(|u| reading("cas", u)))
            .collect()
    }
}
