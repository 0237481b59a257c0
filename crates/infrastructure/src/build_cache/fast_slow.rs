//! [`FastSlowBuildStore`]: a local tier (memory or disk) in front of a
//! shared object-store tier ([`S3BuildStore`](super::S3BuildStore)),
//! both serving the AC and CAS ports, with write-through to the shared
//! tier.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use strata_domain::{
    AcEntry, ActionCache, BlobRead, BlobReader, BlobWriter, BuildCacheError, Clock, Committed,
    ContentStore, Digest, DigestHash, EntryMeta, FlushCriteria, FlushResult, InstanceName,
    ReadRange, StoreKind, StoreUsage,
};

use super::stacked::{keep_recent, merge_lists, tier_result};
use crate::clock::SystemClock;

/// The CAS digests an AC value references, when its instance validates
/// AC entries (`None`: raw bytes, no completeness to check). The wiring
/// builds it from the `ActionResult` decoding and the per-instance
/// validation settings.
pub type AcReferences = Arc<dyn Fn(&InstanceName, &[u8]) -> Option<Vec<Digest>> + Send + Sync>;

/// A fast local tier over a slow shared one (NativeLink's `fast_slow`
/// store, with write-through):
///
/// - **Reads** try the local tier, then the shared one; a whole-blob read
///   the shared tier serves streams into the local tier as it goes out
///   (the local writer verifies the digest; a read that stops early
///   fills nothing). An AC entry from the shared tier is answered only
///   when every blob it references is in the shared tier, and is then
///   copied down. When the shared tier fails, reads answer from the
///   local tier alone (a miss there is a miss), with a warning logged.
/// - **Writes** reach the shared tier before they are acknowledged: a CAS
///   upload streams to both tiers, the shared commit comes first and
///   decides the answer (a failure there fails the upload: 503); the
///   local commit follows and may fail with only a log line.
/// - **AC writes** reach the shared tier only after every blob the entry
///   references is there: a referenced blob missing there but held
///   locally is copied up first; when one is still missing the entry is
///   kept in the local tier only (where reads validate it as before).
/// - **Flushes** run on both tiers, each with a line in the report; an
///   `older_than` flush keeps in the shared tier what the local tier used
///   recently. **Stats** list both tiers, local first.
pub struct FastSlowBuildStore<F, S> {
    fast: Arc<F>,
    slow: Arc<S>,
    name: String,
    references: Option<AcReferences>,
    clock: Arc<dyn Clock>,
}

impl<F, S> FastSlowBuildStore<F, S>
where
    F: ActionCache + ContentStore,
    S: ActionCache + ContentStore,
{
    /// `fast` in front of `slow`; its name is `<fast>+<slow>`. Without
    /// [`references`](Self::references), AC entries are stored in the
    /// shared tier unchecked.
    pub fn new(fast: Arc<F>, slow: Arc<S>) -> Self {
        let name = format!(
            "{}+{}",
            ContentStore::store_name(&*fast),
            ContentStore::store_name(&*slow)
        );
        Self {
            fast,
            slow,
            name,
            references: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// How AC entries name their blobs, for the completeness checks.
    #[must_use]
    pub fn references(mut self, references: AcReferences) -> Self {
        self.references = Some(references);
        self
    }

    /// The clock `older_than` flushes judge the local tier's accesses by.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The local tier.
    pub fn fast(&self) -> &Arc<F> {
        &self.fast
    }

    /// The shared tier.
    pub fn slow(&self) -> &Arc<S> {
        &self.slow
    }

    fn refs(&self, instance: &InstanceName, value: &[u8]) -> Option<Vec<Digest>> {
        self.references.as_ref().and_then(|f| f(instance, value))
    }

    /// Copies `digest` from the local tier into the shared one; whether
    /// it is there now.
    async fn copy_up(&self, instance: &InstanceName, digest: &Digest) -> bool {
        let result = async {
            let Some(mut read) = self
                .fast
                .read(instance, digest.hash(), ReadRange::FULL)
                .await?
            else {
                return Ok(false);
            };
            let mut w = self
                .slow
                .begin_write(instance, *digest.hash(), Some(digest.size_bytes()))
                .await?;
            while let Some(chunk) = read
                .reader
                .next_chunk()
                .await
                .map_err(|e| BuildCacheError::io(&self.name, "read the local tier", e))?
            {
                w.write(chunk).await?;
            }
            w.commit().await.map(|_| true)
        }
        .await;
        result.unwrap_or_else(|e: BuildCacheError| {
            tracing::warn!(error = %e, digest = %digest, "a local blob was not copied to the shared tier");
            false
        })
    }
}

fn degrade<T>(what: &str, fallback: T, result: Result<T, BuildCacheError>) -> T {
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the shared build-cache tier failed ({what}); answering from the local tier");
        fallback
    })
}

impl<F, S> FastSlowBuildStore<F, S>
where
    F: ActionCache + ContentStore,
    S: ActionCache + ContentStore,
{
    /// The AC entry from the shared tier after a local miss: a miss when
    /// it references blobs the shared tier lacks (validating instances);
    /// a hit fills the local tier.
    async fn get_shared(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        let Some(entry) = degrade(
            "AC get",
            None,
            ActionCache::get(&*self.slow, instance, key).await,
        ) else {
            return Ok(None);
        };
        if let Some(refs) = self.refs(instance, &entry.value) {
            let missing = degrade(
                "AC completeness",
                refs.clone(),
                self.slow.find_missing(instance, &refs).await,
            );
            if !missing.is_empty() {
                tracing::debug!(%instance, %key, missing = missing.len(), "shared AC entry references blobs the shared tier lacks: a miss");
                return Ok(None);
            }
        }
        if let Err(e) = ActionCache::put(&*self.fast, instance, *key, entry.value.clone()).await {
            tracing::debug!(error = %e, "local build-cache tier not filled");
        }
        Ok(Some(entry))
    }
}

#[async_trait]
impl<F, S> ActionCache for FastSlowBuildStore<F, S>
where
    F: ActionCache + ContentStore,
    S: ActionCache + ContentStore,
{
    fn store_name(&self) -> &str {
        &self.name
    }

    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        if let Some(entry) = ActionCache::get(&*self.fast, instance, key).await? {
            return Ok(Some(entry));
        }
        self.get_shared(instance, key).await
    }

    /// Streams a local hit from the local tier (the disk store's file);
    /// an entry found only in the shared tier is read whole, as
    /// [`get`](Self::get) does, to check it and fill the local tier.
    async fn get_streamed(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if let Some(read) = self.fast.get_streamed(instance, key).await? {
            return Ok(Some(read));
        }
        Ok(self
            .get_shared(instance, key)
            .await?
            .map(|entry| BlobRead::whole(entry.value)))
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        match self.fast.peek(instance, key).await? {
            Some(v) => Ok(Some(v)),
            None => Ok(degrade(
                "AC peek",
                None,
                self.slow.peek(instance, key).await,
            )),
        }
    }

    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError> {
        let mut complete = true;
        if let Some(refs) = self.refs(instance, &value) {
            for digest in self.slow.find_missing(instance, &refs).await? {
                if !self.copy_up(instance, &digest).await {
                    complete = false;
                }
            }
        }
        if complete {
            ActionCache::put(&*self.slow, instance, key, value.clone()).await?;
        } else {
            tracing::warn!(%instance, %key, "AC entry kept in the local tier only: a blob it references is in neither tier's shared copy");
        }
        ActionCache::put(&*self.fast, instance, key, value).await
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        Ok(ActionCache::contains(&*self.fast, instance, key).await?
            || degrade(
                "AC contains",
                false,
                ActionCache::contains(&*self.slow, instance, key).await,
            ))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        Ok(merge_lists(
            ActionCache::list(&*self.fast, instance).await?,
            ActionCache::list(&*self.slow, instance).await?,
        ))
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        let slow_criteria = keep_recent(criteria, &*self.clock, || {
            ActionCache::list(&*self.fast, criteria.instance.as_ref())
        })
        .await;
        let mut result = tier_result(
            StoreKind::Ac,
            criteria,
            ActionCache::store_name(&*self.fast),
            ActionCache::flush(&*self.fast, criteria).await,
        );
        result.merge(tier_result(
            StoreKind::Ac,
            criteria,
            ActionCache::store_name(&*self.slow),
            ActionCache::flush(&*self.slow, &slow_criteria).await,
        ));
        Ok(result)
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        let mut usage = ActionCache::stats(&*self.fast).await?;
        usage.extend(degrade(
            "AC stats",
            Vec::new(),
            ActionCache::stats(&*self.slow).await,
        ));
        Ok(usage)
    }
}

#[async_trait]
impl<F, S> ContentStore for FastSlowBuildStore<F, S>
where
    F: ActionCache + ContentStore,
    S: ActionCache + ContentStore,
{
    fn store_name(&self) -> &str {
        &self.name
    }

    fn max_blob_bytes(&self) -> u64 {
        self.fast.max_blob_bytes().min(self.slow.max_blob_bytes())
    }

    fn index_rebuild(&self) -> Option<strata_domain::IndexRebuild> {
        self.fast.index_rebuild()
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        match ContentStore::contains(&*self.fast, instance, hash).await? {
            Some(size) => Ok(Some(size)),
            None => Ok(degrade(
                "CAS contains",
                None,
                ContentStore::contains(&*self.slow, instance, hash).await,
            )),
        }
    }

    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        let not_local = self.fast.find_missing(instance, digests).await?;
        if not_local.is_empty() {
            return Ok(not_local);
        }
        let fallback = not_local.clone();
        Ok(degrade(
            "find_missing",
            fallback,
            self.slow.find_missing(instance, &not_local).await,
        ))
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if let Some(read) = self.fast.read(instance, hash, range).await? {
            return Ok(Some(read));
        }
        let read = match self.slow.read(instance, hash, range).await {
            Ok(Some(read)) => read,
            Ok(None) => return Ok(None),
            Err(e @ BuildCacheError::InvalidRange { .. }) => return Err(e),
            Err(e) => return Ok(degrade("CAS read", None, Err(e))),
        };
        if range != ReadRange::FULL || read.len != read.size_bytes {
            return Ok(Some(read));
        }
        let fill = self
            .fast
            .begin_write(instance, *hash, Some(read.size_bytes))
            .await
            .inspect_err(|e| tracing::debug!(error = %e, "local build-cache tier not filled"))
            .ok();
        Ok(Some(BlobRead {
            size_bytes: read.size_bytes,
            len: read.len,
            reader: Box::new(FillingReader {
                inner: read.reader,
                fill,
                remaining: read.size_bytes,
            }),
        }))
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        let slow = self.slow.begin_write(instance, hash, expected_size).await?;
        let fast = self
            .fast
            .begin_write(instance, hash, expected_size)
            .await
            .inspect_err(|e| tracing::debug!(error = %e, "local build-cache tier not written"))
            .ok();
        Ok(Box::new(WriteThrough { slow, fast }))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        Ok(merge_lists(
            ContentStore::list(&*self.fast, instance).await?,
            ContentStore::list(&*self.slow, instance).await?,
        ))
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        let slow_criteria = keep_recent(criteria, &*self.clock, || {
            ContentStore::list(&*self.fast, criteria.instance.as_ref())
        })
        .await;
        let mut result = tier_result(
            StoreKind::Cas,
            criteria,
            ContentStore::store_name(&*self.fast),
            ContentStore::flush(&*self.fast, criteria).await,
        );
        result.merge(tier_result(
            StoreKind::Cas,
            criteria,
            ContentStore::store_name(&*self.slow),
            ContentStore::flush(&*self.slow, &slow_criteria).await,
        ));
        Ok(result)
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        let mut usage = ContentStore::stats(&*self.fast).await?;
        usage.extend(degrade(
            "CAS stats",
            Vec::new(),
            ContentStore::stats(&*self.slow).await,
        ));
        Ok(usage)
    }
}

/// A shared-tier read that also streams into a local writer, committed
/// (verified) as soon as the blob's last byte passes, since a consumer
/// that knows the length (an HTTP body with its `Content-Length`) need
/// not ask for the end; dropped unfinished, the writer stores nothing.
struct FillingReader {
    inner: Box<dyn BlobReader>,
    fill: Option<Box<dyn BlobWriter>>,
    /// Bytes of the blob not yet read.
    remaining: u64,
}

impl FillingReader {
    async fn commit(&mut self) {
        if let Some(w) = self.fill.take()
            && let Err(e) = w.commit().await
        {
            tracing::debug!(error = %e, "local build-cache tier not filled");
        }
    }
}

#[async_trait]
impl BlobReader for FillingReader {
    async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        let chunk = self.inner.next_chunk().await?;
        match &chunk {
            Some(c) => {
                self.remaining = self.remaining.saturating_sub(c.len() as u64);
                if let Some(w) = &mut self.fill
                    && let Err(e) = w.write(c.clone()).await
                {
                    tracing::debug!(error = %e, "local build-cache tier not filled");
                    self.fill = None;
                }
                if self.remaining == 0 {
                    self.commit().await;
                }
            }
            None => self.commit().await,
        }
        Ok(chunk)
    }
}

/// An upload streamed to both tiers; the shared tier's commit decides.
struct WriteThrough {
    slow: Box<dyn BlobWriter>,
    fast: Option<Box<dyn BlobWriter>>,
}

#[async_trait]
impl BlobWriter for WriteThrough {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        if let Some(w) = &mut self.fast
            && let Err(e) = w.write(chunk.clone()).await
        {
            tracing::debug!(error = %e, "local build-cache tier not written");
            self.fast = None;
        }
        self.slow.write(chunk).await
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        let WriteThrough { slow, fast } = *self;
        let committed = slow.commit().await?;
        if let Some(w) = fast
            && let Err(e) = w.commit().await
        {
            tracing::warn!(error = %e, "local build-cache tier not written; the blob is in the shared tier");
        }
        Ok(committed)
    }
}
