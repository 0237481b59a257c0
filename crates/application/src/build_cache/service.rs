//! [`BuildCacheService`]: the facade over the build-cache use cases.

use std::sync::Arc;
use std::time::{Duration, Instant};

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
use super::traffic::Answer;
use super::update_action_result::{
    self, ActionResultUpload, BeginActionResult, UpdateActionResult, UpdateActionResultError,
};
use super::write_blob::{self, WriteBlob, WriteBlobError, WriteBlobStart};

/// The build cache's facade: AC and CAS reads and writes, flushes and
/// stats, each checking the principal's role on
/// [`BUILD_CACHE_NAME`](super::BUILD_CACHE_NAME). Cheap to clone.
#[derive(Clone)]
pub struct BuildCacheService {
    ctx: Arc<BuildCacheContext>,
}

/// The instance a flush with `criteria` empties, for the instances'
/// `flushes` series: `Some(None)` for every instance (scope `all`),
/// `Some(Some(i))` for one, `None` for a partial flush (digests, a
/// prefix, an age), which empties no instance.
fn flushed_instance(criteria: &strata_domain::FlushCriteria) -> Option<Option<InstanceName>> {
    match (&criteria.scope, &criteria.instance) {
        (strata_domain::FlushScope::All, None) => Some(None),
        (strata_domain::FlushScope::All, Some(i)) | (strata_domain::FlushScope::Instance(i), _) => {
            Some(Some(i.clone()))
        }
        _ => None,
    }
}

impl BuildCacheService {
    /// Records a read in the instance's traffic: a hit with the bytes it
    /// sends (`bytes` of the answer), a miss, or another answer; `failed`
    /// when the error is the server's.
    fn record_read<T, E>(
        &self,
        instance: &InstanceName,
        started: Instant,
        result: &Result<Option<T>, E>,
        bytes: impl FnOnce(&T) -> u64,
        failed: bool,
    ) {
        let (answer, read) = match result {
            Ok(Some(found)) => (Answer::Hit, bytes(found)),
            Ok(None) => (Answer::Miss, 0),
            Err(_) => (Answer::Other, 0),
        };
        self.ctx
            .traffic
            .record(instance, answer, started.elapsed(), failed, read, 0);
    }

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

    /// The largest AC entry `instance` accepts, in bytes: `max_blob_bytes`,
    /// and at most [`MAX_VALIDATED_AC_BYTES`](super::get_action_result::MAX_VALIDATED_AC_BYTES)
    /// where the instance validates (it decodes entries whole).
    pub fn max_action_result_bytes(&self, instance: &InstanceName) -> u64 {
        let limit = self.max_blob_bytes();
        if self.validates(instance) {
            limit.min(super::get_action_result::MAX_VALIDATED_AC_BYTES)
        } else {
            limit
        }
    }

    /// The content store's start-up index rebuild while it runs (the
    /// store serves meanwhile; `/health/ready` reports it).
    pub fn index_rebuild(&self) -> Option<IndexRebuild> {
        self.ctx.cas.index_rebuild()
    }

    /// [`get_action_result`](Self::get_action_result) as a stream of
    /// chunks (see `handle_streamed` in [`get_action_result`]): the HTTP
    /// `GET /ac/<hash>`, whose entries can be ccache's whole results.
    ///
    /// # Errors
    /// [`GetActionResultError`].
    pub async fn read_action_result(
        &self,
        q: GetActionResult,
    ) -> Result<Option<BlobRead>, GetActionResultError> {
        let (instance, started) = (q.instance.clone(), Instant::now());
        let result = get_action_result::handle_streamed(&self.ctx, q).await;
        let failed = result.as_ref().is_err_and(|e| e.is_server_error());
        self.record_read(&instance, started, &result, |r| r.len, failed);
        result
    }

    /// See [`get_action_result`].
    ///
    /// # Errors
    /// [`GetActionResultError`].
    pub async fn get_action_result(
        &self,
        q: GetActionResult,
    ) -> Result<Option<Bytes>, GetActionResultError> {
        let (instance, started) = (q.instance.clone(), Instant::now());
        let result = get_action_result::handle(&self.ctx, q).await;
        let failed = result.as_ref().is_err_and(|e| e.is_server_error());
        self.record_read(&instance, started, &result, |v| v.len() as u64, failed);
        result
    }

    /// See [`update_action_result`].
    ///
    /// # Errors
    /// [`UpdateActionResultError`].
    pub async fn update_action_result(
        &self,
        cmd: UpdateActionResult,
    ) -> Result<(), UpdateActionResultError> {
        let (instance, started) = (cmd.instance.clone(), Instant::now());
        let written = cmd.value.len() as u64;
        let result = update_action_result::handle(&self.ctx, cmd).await;
        let failed = result.as_ref().is_err_and(|e| e.is_server_error());
        let written = if result.is_ok() { written } else { 0 };
        self.ctx.traffic.record(
            &instance,
            Answer::Other,
            started.elapsed(),
            failed,
            0,
            written,
        );
        result
    }

    /// See [`BeginActionResult`]: the upload of an AC entry from a
    /// stream, at most [`max_blob_bytes`](Self::max_blob_bytes).
    ///
    /// # Errors
    /// [`UpdateActionResultError`]: a missing role, or a store that
    /// cannot start the write.
    pub async fn begin_action_result(
        &self,
        cmd: BeginActionResult,
    ) -> Result<ActionResultUpload, UpdateActionResultError> {
        let instance = cmd.instance.clone();
        let result = update_action_result::begin(&self.ctx, cmd, self.max_blob_bytes()).await;
        if let Err(e) = &result {
            self.ctx.traffic.record(
                &instance,
                Answer::Other,
                Duration::ZERO,
                e.is_server_error(),
                0,
                0,
            );
        }
        result
    }

    /// Installs an AC entry [`begin_action_result`](Self::begin_action_result)
    /// started, counting it in the instance's traffic.
    ///
    /// # Errors
    /// [`UpdateActionResultError::Store`].
    pub async fn commit_action_result(
        &self,
        upload: ActionResultUpload,
        started: Instant,
    ) -> Result<(), UpdateActionResultError> {
        let (instance, written) = (upload.instance.clone(), upload.written);
        let result = upload.finish().await;
        let failed = result.as_ref().is_err_and(|e| e.is_server_error());
        self.ctx.traffic.record(
            &instance,
            Answer::Other,
            started.elapsed(),
            failed,
            0,
            if result.is_ok() { written } else { 0 },
        );
        result
    }

    /// See [`read_blob`].
    ///
    /// # Errors
    /// [`ReadBlobError`].
    pub async fn read_blob(&self, q: ReadBlob) -> Result<Option<BlobRead>, ReadBlobError> {
        let (instance, started) = (q.instance.clone(), Instant::now());
        let result = read_blob::handle(&self.ctx, q).await;
        // The bytes the read will send (its range), counted when it opens.
        let failed = result.as_ref().is_err_and(|e| e.is_server_error());
        self.record_read(&instance, started, &result, |b| b.len, failed);
        result
    }

    /// See [`write_blob`].
    ///
    /// # Errors
    /// [`WriteBlobError`].
    pub async fn write_blob(&self, cmd: WriteBlob) -> Result<WriteBlobStart, WriteBlobError> {
        let (instance, started) = (cmd.instance.clone(), Instant::now());
        let expected = cmd.expected_size.unwrap_or(0);
        let result = write_blob::handle(&self.ctx, cmd).await;
        // An upload's bytes are its announced size (the writer streams
        // them after this returns); a blob already stored sends none.
        let written = match &result {
            Ok(WriteBlobStart::Upload(_)) => expected,
            _ => 0,
        };
        let failed = result.as_ref().is_err_and(|e| e.is_server_error());
        self.ctx.traffic.record(
            &instance,
            Answer::Other,
            started.elapsed(),
            failed,
            0,
            written,
        );
        result
    }

    /// See [`find_missing_blobs`].
    ///
    /// # Errors
    /// [`FindMissingBlobsError`].
    pub async fn find_missing_blobs(
        &self,
        q: FindMissingBlobs,
    ) -> Result<Vec<Digest>, FindMissingBlobsError> {
        let (instance, started) = (q.instance.clone(), Instant::now());
        let result = find_missing_blobs::handle(&self.ctx, q).await;
        let failed = result.as_ref().is_err_and(|e| e.is_server_error());
        self.ctx
            .traffic
            .record(&instance, Answer::Other, started.elapsed(), failed, 0, 0);
        result
    }

    /// See [`flush_action_cache`].
    ///
    /// # Errors
    /// [`FlushActionCacheError`].
    pub async fn flush_action_cache(
        &self,
        cmd: FlushActionCache,
    ) -> Result<FlushResult, FlushActionCacheError> {
        let reached = flushed_instance(&cmd.criteria);
        let result = flush_action_cache::handle(&self.ctx, cmd).await;
        if let (Ok(r), Some(instance)) = (&result, reached)
            && !r.dry_run
        {
            self.ctx.traffic.flushed(instance.as_ref());
        }
        result
    }

    /// See [`flush_content_store`].
    ///
    /// # Errors
    /// [`FlushContentStoreError`].
    pub async fn flush_content_store(
        &self,
        cmd: FlushContentStore,
    ) -> Result<FlushResult, FlushContentStoreError> {
        let reached = flushed_instance(&cmd.criteria);
        let result = flush_content_store::handle(&self.ctx, cmd).await;
        if let (Ok(r), Some(instance)) = (&result, reached)
            && !r.dry_run
        {
            self.ctx.traffic.flushed(instance.as_ref());
        }
        result
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

    /// What the trends sample: each store, as `ac/<store>` and
    /// `cas/<store>`, with its hits, misses (their sum as requests),
    /// entries and bytes (none when the stores cannot report); and each
    /// REAPI instance seen, by name (`default` for the unnamed one), with
    /// its requests, hits, misses, errors, latency, value bytes and
    /// flushes.
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
            .chain(self.ctx.traffic.readings())
            .collect()
    }
}
