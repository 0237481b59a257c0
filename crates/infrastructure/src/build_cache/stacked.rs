//! [`StackedBuildStore`]: a fast upper tier (memory) over a large lower
//! tier (disk), both serving the AC and CAS ports.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use strata_domain::{
    AcEntry, ActionCache, BlobRead, BlobWriter, BuildCacheError, Clock, Committed, ContentStore,
    Digest, DigestHash, EntryMeta, FlushCriteria, FlushResult, FlushScope, InstanceName, ReadRange,
    StoreFlushReport, StoreKind, StoreUsage,
};

use crate::clock::SystemClock;

/// Default largest entry the upper tier is filled with: 1 MiB.
pub const DEFAULT_PROMOTE_MAX_BYTES: u64 = 1 << 20;

/// Two tiers, each serving both ports: `upper` (e.g. a
/// [`MemoryBuildStore`](super::MemoryBuildStore)) over `lower` (e.g. a
/// [`DiskBuildStore`](super::DiskBuildStore)).
///
/// - Reads try the upper tier first; a lower-tier hit of at most
///   [`promote_max_bytes`](Self::promote_max_bytes) bytes fills the upper
///   tier (read-through).
/// - Writes go to the lower tier, then (up to the same limit) to the
///   upper one; a failing upper write is logged and the entry dropped
///   from the upper tier, so it never serves a stale AC value.
/// - Flushes run on both tiers and merge their reports (upper first); a
///   failing tier is reported by name and the other is still flushed.
///   An `older_than` flush removes an entry only when it is old in both
///   tiers: the lower tier keeps what the upper one used recently.
/// - `stats` lists both tiers, upper first.
///
/// ```no_run
/// use strata_infrastructure::{DiskBuildStore, MemoryBuildStore, StackedBuildStore};
/// let memory = MemoryBuildStore::builder().max_bytes(256 << 20).build();
/// let disk = DiskBuildStore::builder("/var/cache/strata").build()?;
/// let store = StackedBuildStore::new(memory, disk).promote_max_bytes(4 << 20);
/// # Ok::<_, strata_domain::BuildCacheError>(())
/// ```
pub struct StackedBuildStore<U, L> {
    upper: Arc<U>,
    lower: Arc<L>,
    name: String,
    promote_max_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl<U, L> StackedBuildStore<U, L>
where
    U: ActionCache + ContentStore,
    L: ActionCache + ContentStore,
{
    /// `upper` over `lower`, promoting entries up to
    /// [`DEFAULT_PROMOTE_MAX_BYTES`]. Its name is `<upper>+<lower>`.
    pub fn new(upper: Arc<U>, lower: Arc<L>) -> Self {
        let name = format!(
            "{}+{}",
            ContentStore::store_name(&*upper),
            ContentStore::store_name(&*lower)
        );
        Self {
            upper,
            lower,
            name,
            promote_max_bytes: DEFAULT_PROMOTE_MAX_BYTES,
            clock: Arc::new(SystemClock),
        }
    }

    /// The largest entry copied into the upper tier, in bytes.
    #[must_use]
    pub fn promote_max_bytes(mut self, bytes: u64) -> Self {
        self.promote_max_bytes = bytes;
        self
    }

    /// The clock `older_than` flushes judge the upper tier's accesses by
    /// (default the system clock; give it the tiers' clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// See [`keep_recent`].
    async fn lower_criteria<F, Fut>(&self, criteria: &FlushCriteria, upper_list: F) -> FlushCriteria
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<EntryMeta>, BuildCacheError>>,
    {
        keep_recent(criteria, &*self.clock, upper_list).await
    }

    /// The upper tier.
    pub fn upper(&self) -> &Arc<U> {
        &self.upper
    }

    /// The lower tier.
    pub fn lower(&self) -> &Arc<L> {
        &self.lower
    }

    async fn fill_upper_blob(&self, instance: &InstanceName, hash: DigestHash, blob: Bytes) {
        let result = async {
            let mut w = self
                .upper
                .begin_write(instance, hash, Some(blob.len() as u64))
                .await?;
            w.write(blob).await?;
            w.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "upper build-cache tier not filled");
        }
    }

    async fn drop_upper_ac(&self, instance: &InstanceName, key: DigestHash) {
        let criteria =
            FlushCriteria::new(FlushScope::Digests(vec![key])).instance(instance.clone());
        if let Err(e) = ActionCache::flush(&*self.upper, &criteria).await {
            tracing::warn!(error = %e, "cannot drop an AC entry from the upper tier");
        }
    }
}

/// The criteria for a lower tier: for `older_than`, everything the
/// upper tier holds and used recently (by `clock`) stays below too, so an
/// entry goes only when it is old in both tiers (hits served by the upper
/// tier never reach the lower one's access times).
pub(super) async fn keep_recent<F, Fut>(
    criteria: &FlushCriteria,
    clock: &dyn Clock,
    upper_list: F,
) -> FlushCriteria
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<EntryMeta>, BuildCacheError>>,
{
    if !matches!(criteria.scope, FlushScope::OlderThan(_)) {
        return criteria.clone();
    }
    let now = clock.now();
    match upper_list().await {
        Ok(upper) => {
            let mut keep: HashSet<(InstanceName, DigestHash)> =
                criteria.keep.iter().cloned().collect();
            keep.extend(
                upper
                    .into_iter()
                    .filter(|m| !criteria.matches(&m.instance, &m.hash, m.last_access, now))
                    .map(|m| (m.instance, m.hash)),
            );
            criteria.clone().keeping(keep)
        }
        Err(e) => {
            tracing::warn!(error = %e, "upper build-cache tier not listed; the lower tier's older_than flush goes by its own access times");
            criteria.clone()
        }
    }
}

/// A tier's flush, or a report naming it when it failed.
pub(super) fn tier_result(
    kind: StoreKind,
    criteria: &FlushCriteria,
    store: &str,
    result: Result<FlushResult, BuildCacheError>,
) -> FlushResult {
    result.unwrap_or_else(|e| {
        FlushResult::single(
            kind,
            criteria.dry_run,
            StoreFlushReport {
                store: store.to_owned(),
                errors: vec![e.to_string()],
                ..Default::default()
            },
        )
    })
}

/// `lower`'s entries and those only `upper` holds.
pub(super) fn merge_lists(upper: Vec<EntryMeta>, mut lower: Vec<EntryMeta>) -> Vec<EntryMeta> {
    let seen: HashSet<(InstanceName, DigestHash)> =
        lower.iter().map(|m| (m.instance.clone(), m.hash)).collect();
    lower.extend(
        upper
            .into_iter()
            .filter(|m| !seen.contains(&(m.instance.clone(), m.hash))),
    );
    lower
}

#[async_trait]
impl<U, L> ActionCache for StackedBuildStore<U, L>
where
    U: ActionCache + ContentStore,
    L: ActionCache + ContentStore,
{
    fn store_name(&self) -> &str {
        &self.name
    }

    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        if let Some(entry) = ActionCache::get(&*self.upper, instance, key).await? {
            return Ok(Some(entry));
        }
        let found = ActionCache::get(&*self.lower, instance, key).await?;
        if let Some(entry) = &found
            && entry.value.len() as u64 <= self.promote_max_bytes
            && let Err(e) =
                ActionCache::put(&*self.upper, instance, *key, entry.value.clone()).await
        {
            tracing::debug!(error = %e, "upper build-cache tier not filled");
        }
        Ok(found)
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        match self.upper.peek(instance, key).await? {
            Some(v) => Ok(Some(v)),
            None => self.lower.peek(instance, key).await,
        }
    }

    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError> {
        ActionCache::put(&*self.lower, instance, key, value.clone()).await?;
        let promoted = value.len() as u64 <= self.promote_max_bytes
            && ActionCache::put(&*self.upper, instance, key, value)
                .await
                .inspect_err(|e| tracing::debug!(error = %e, "upper build-cache tier not written"))
                .is_ok();
        if !promoted {
            self.drop_upper_ac(instance, key).await;
        }
        Ok(())
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        Ok(ActionCache::contains(&*self.upper, instance, key).await?
            || ActionCache::contains(&*self.lower, instance, key).await?)
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        Ok(merge_lists(
            ActionCache::list(&*self.upper, instance).await?,
            ActionCache::list(&*self.lower, instance).await?,
        ))
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        let lower_criteria = self
            .lower_criteria(criteria, || {
                ActionCache::list(&*self.upper, criteria.instance.as_ref())
            })
            .await;
        let mut result = tier_result(
            StoreKind::Ac,
            criteria,
            ActionCache::store_name(&*self.upper),
            ActionCache::flush(&*self.upper, criteria).await,
        );
        result.merge(tier_result(
            StoreKind::Ac,
            criteria,
            ActionCache::store_name(&*self.lower),
            ActionCache::flush(&*self.lower, &lower_criteria).await,
        ));
        Ok(result)
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        let mut usage = ActionCache::stats(&*self.upper).await?;
        usage.extend(ActionCache::stats(&*self.lower).await?);
        Ok(usage)
    }
}

#[async_trait]
impl<U, L> ContentStore for StackedBuildStore<U, L>
where
    U: ActionCache + ContentStore,
    L: ActionCache + ContentStore,
{
    fn store_name(&self) -> &str {
        &self.name
    }

    fn max_blob_bytes(&self) -> u64 {
        self.lower.max_blob_bytes()
    }

    fn index_rebuild(&self) -> Option<strata_domain::IndexRebuild> {
        self.lower.index_rebuild()
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        match ContentStore::contains(&*self.upper, instance, hash).await? {
            Some(size) => Ok(Some(size)),
            None => ContentStore::contains(&*self.lower, instance, hash).await,
        }
    }

    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        let not_upper = self.upper.find_missing(instance, digests).await?;
        if not_upper.is_empty() {
            return Ok(not_upper);
        }
        self.lower.find_missing(instance, &not_upper).await
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if let Some(read) = self.upper.read(instance, hash, range).await? {
            return Ok(Some(read));
        }
        let small = ContentStore::contains(&*self.lower, instance, hash)
            .await?
            .is_some_and(|size| size <= self.promote_max_bytes);
        if !small {
            return self.lower.read(instance, hash, range).await;
        }
        let Some(whole) = self.lower.read(instance, hash, ReadRange::FULL).await? else {
            return Ok(None);
        };
        // Checked before the fill so a bad range fails as it would below.
        range.resolve(whole.size_bytes)?;
        let blob = whole
            .into_bytes()
            .await
            .map_err(|e| BuildCacheError::io(&self.name, "read the lower tier", e))?;
        self.fill_upper_blob(instance, *hash, blob.clone()).await;
        BlobRead::from_bytes(blob, range).map(Some)
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        let lower = self
            .lower
            .begin_write(instance, hash, expected_size)
            .await?;
        let promote = expected_size.is_none_or(|s| s <= self.promote_max_bytes);
        Ok(Box::new(StackedWriter {
            lower,
            upper: Arc::clone(&self.upper),
            instance: instance.clone(),
            hash,
            buf: promote.then(BytesMut::new),
            promote_max_bytes: self.promote_max_bytes,
        }))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        Ok(merge_lists(
            ContentStore::list(&*self.upper, instance).await?,
            ContentStore::list(&*self.lower, instance).await?,
        ))
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        let lower_criteria = self
            .lower_criteria(criteria, || {
                ContentStore::list(&*self.upper, criteria.instance.as_ref())
            })
            .await;
        let mut result = tier_result(
            StoreKind::Cas,
            criteria,
            ContentStore::store_name(&*self.upper),
            ContentStore::flush(&*self.upper, criteria).await,
        );
        result.merge(tier_result(
            StoreKind::Cas,
            criteria,
            ContentStore::store_name(&*self.lower),
            ContentStore::flush(&*self.lower, &lower_criteria).await,
        ));
        Ok(result)
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        let mut usage = ContentStore::stats(&*self.upper).await?;
        usage.extend(ContentStore::stats(&*self.lower).await?);
        Ok(usage)
    }
}

/// Streams into the lower tier's writer and keeps a copy of a small blob
/// for the upper tier, written after the lower commit.
struct StackedWriter<U> {
    lower: Box<dyn BlobWriter>,
    upper: Arc<U>,
    instance: InstanceName,
    hash: DigestHash,
    /// `None` once the blob is known to be over the promotion limit.
    buf: Option<BytesMut>,
    promote_max_bytes: u64,
}

#[async_trait]
impl<U: ContentStore> BlobWriter for StackedWriter<U> {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        if let Some(buf) = &mut self.buf {
            if (buf.len() + chunk.len()) as u64 <= self.promote_max_bytes {
                buf.extend_from_slice(&chunk);
            } else {
                self.buf = None;
            }
        }
        self.lower.write(chunk).await
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        let StackedWriter {
            lower,
            upper,
            instance,
            hash,
            buf,
            ..
        } = *self;
        let committed = lower.commit().await?;
        if let Some(buf) = buf
            && !committed.digest.is_empty_blob()
        {
            let blob = buf.freeze();
            let result = async {
                let mut w = upper
                    .begin_write(&instance, hash, Some(blob.len() as u64))
                    .await?;
                w.write(blob).await?;
                w.commit().await
            }
            .await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "upper build-cache tier not written");
            }
        }
        Ok(committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_tier_is_named_and_the_other_kept() {
        let criteria = FlushCriteria::new(FlushScope::All);
        let mut r = tier_result(
            StoreKind::Cas,
            &criteria,
            "memory",
            Ok(FlushResult::single(
                StoreKind::Cas,
                false,
                StoreFlushReport {
                    store: "memory".into(),
                    entries_removed: 2,
                    ..Default::default()
                },
            )),
        );
        r.merge(tier_result(
            StoreKind::Cas,
            &criteria,
            "disk",
            Err(BuildCacheError::io(
                "disk",
                "remove",
                std::io::Error::other("read-only file system"),
            )),
        ));
        assert_eq!(r.entries_removed(), 2);
        assert_eq!(r.failed_stores(), vec!["disk"]);
        assert!(r.stores[1].errors[0].contains("read-only"));
    }
}
