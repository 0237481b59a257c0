//! [`SizeSplitContentStore`]: CAS blobs up to a size limit in one store
//! (a shared Redis), larger ones in another (the local disk or memory).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use strata_domain::{
    BlobRead, BlobWriter, BuildCacheError, Committed, ContentStore, Digest, DigestHash, EntryMeta,
    FlushCriteria, FlushResult, InstanceName, ReadRange, StoreFlushReport, StoreUsage,
};

/// Default largest blob kept in the small-blob store: 1 MiB.
pub const DEFAULT_SMALL_BLOB_MAX_BYTES: u64 = 1 << 20;

/// A CAS split by blob size: blobs of at most
/// [`small_max_bytes`](Self::small_max_bytes) go to `small` (typically a
/// [`RedisBuildStore`](super::RedisBuildStore) that several Strata
/// instances share, so the small outputs that AC entries reference are
/// seen by all of them), larger ones to `large` (the local store).
///
/// - **Writes** with a known size go straight to the right store. A
///   chunked upload (size unknown) is held in memory up to the limit; once
///   it passes the limit, what was held and the rest stream to `large`.
/// - **Reads**, `contains` and `find_missing` ask `small` first, then
///   `large`, so a blob written before the split was configured is still
///   found.
/// - **Flushes** run on both and merge their reports (small first); a
///   failing store is named in its report and the other is still flushed.
/// - **Lists** and **stats** cover both.
pub struct SizeSplitContentStore {
    small: Arc<dyn ContentStore>,
    large: Arc<dyn ContentStore>,
    small_max_bytes: u64,
    name: String,
}

impl SizeSplitContentStore {
    /// Blobs up to [`DEFAULT_SMALL_BLOB_MAX_BYTES`] (capped by `small`'s
    /// own limit) in `small`, the rest in `large`. Its name is
    /// `<small>|<large>`.
    pub fn new(small: Arc<dyn ContentStore>, large: Arc<dyn ContentStore>) -> Self {
        let name = format!("{}|{}", small.store_name(), large.store_name());
        let small_max_bytes = DEFAULT_SMALL_BLOB_MAX_BYTES.min(small.max_blob_bytes());
        Self {
            small,
            large,
            small_max_bytes,
            name,
        }
    }

    /// The largest blob stored in `small`, in bytes (capped by `small`'s
    /// own [`max_blob_bytes`](ContentStore::max_blob_bytes)).
    #[must_use]
    pub fn small_max_bytes(mut self, bytes: u64) -> Self {
        self.small_max_bytes = bytes.min(self.small.max_blob_bytes());
        self
    }

    fn report_of(
        criteria: &FlushCriteria,
        store: &str,
        result: Result<FlushResult, BuildCacheError>,
    ) -> FlushResult {
        result.unwrap_or_else(|e| {
            tracing::warn!(store, error = %e, "build-cache CAS store not flushed");
            FlushResult::single(
                strata_domain::StoreKind::Cas,
                criteria.dry_run,
                StoreFlushReport {
                    store: store.to_owned(),
                    errors: vec![e.to_string()],
                    ..StoreFlushReport::default()
                },
            )
        })
    }
}

#[async_trait]
impl ContentStore for SizeSplitContentStore {
    fn store_name(&self) -> &str {
        &self.name
    }

    fn max_blob_bytes(&self) -> u64 {
        self.large.max_blob_bytes().max(self.small_max_bytes)
    }

    fn index_rebuild(&self) -> Option<strata_domain::IndexRebuild> {
        self.large.index_rebuild()
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        match self.small.contains(instance, hash).await? {
            Some(size) => Ok(Some(size)),
            None => self.large.contains(instance, hash).await,
        }
    }

    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        let not_small = self.small.find_missing(instance, digests).await?;
        if not_small.is_empty() {
            return Ok(not_small);
        }
        self.large.find_missing(instance, &not_small).await
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if let Some(read) = self.small.read(instance, hash, range).await? {
            return Ok(Some(read));
        }
        self.large.read(instance, hash, range).await
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        match expected_size {
            Some(size) if size <= self.small_max_bytes => {
                self.small.begin_write(instance, hash, expected_size).await
            }
            Some(_) => self.large.begin_write(instance, hash, expected_size).await,
            None => Ok(Box::new(SplitWriter {
                small: Arc::clone(&self.small),
                large: Arc::clone(&self.large),
                instance: instance.clone(),
                hash,
                limit: self.small_max_bytes,
                state: SplitState::Holding(BytesMut::new()),
            })),
        }
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        let mut all = self.small.list(instance).await?;
        all.extend(self.large.list(instance).await?);
        Ok(all)
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        let mut result = Self::report_of(
            criteria,
            self.small.store_name(),
            self.small.flush(criteria).await,
        );
        result.merge(Self::report_of(
            criteria,
            self.large.store_name(),
            self.large.flush(criteria).await,
        ));
        Ok(result)
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        let mut usage = self.small.stats().await?;
        usage.extend(self.large.stats().await?);
        Ok(usage)
    }
}

enum SplitState {
    /// Under the limit so far: the bytes are held.
    Holding(BytesMut),
    /// Past the limit: streaming to the large store.
    Large(Box<dyn BlobWriter>),
}

/// A chunked upload that picks its store once its size is known: at the
/// commit (small) or when it passes the limit (large).
struct SplitWriter {
    small: Arc<dyn ContentStore>,
    large: Arc<dyn ContentStore>,
    instance: InstanceName,
    hash: DigestHash,
    limit: u64,
    state: SplitState,
}

#[async_trait]
impl BlobWriter for SplitWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        match &mut self.state {
            SplitState::Large(w) => w.write(chunk).await,
            SplitState::Holding(held) => {
                if (held.len() + chunk.len()) as u64 <= self.limit {
                    held.extend_from_slice(&chunk);
                    return Ok(());
                }
                let held = std::mem::take(held).freeze();
                let mut w = self
                    .large
                    .begin_write(&self.instance, self.hash, None)
                    .await?;
                if !held.is_empty() {
                    w.write(held).await?;
                }
                w.write(chunk).await?;
                self.state = SplitState::Large(w);
                Ok(())
            }
        }
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        match self.state {
            SplitState::Large(w) => w.commit().await,
            SplitState::Holding(held) => {
                let held = held.freeze();
                let mut w = self
                    .small
                    .begin_write(&self.instance, self.hash, Some(held.len() as u64))
                    .await?;
                if !held.is_empty() {
                    w.write(held).await?;
                }
                w.commit().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::MemoryBuildStore;

    fn hash_of(data: &[u8]) -> DigestHash {
        DigestHash::from_bytes(Sha256::digest(data).into())
    }

    async fn chunked(
        s: &SizeSplitContentStore,
        data: &[u8],
        claimed: DigestHash,
    ) -> Result<Committed, BuildCacheError> {
        let i = InstanceName::default();
        let mut w = s.begin_write(&i, claimed, None).await?;
        for c in data.chunks(40) {
            w.write(Bytes::copy_from_slice(c)).await?;
        }
        w.commit().await
    }

    #[tokio::test]
    async fn a_chunked_upload_lands_by_its_final_size() {
        let small = MemoryBuildStore::builder().max_bytes(1 << 20).build();
        let large = MemoryBuildStore::builder().max_bytes(1 << 20).build();
        let s = SizeSplitContentStore::new(small.clone(), large.clone()).small_max_bytes(100);
        let i = InstanceName::default();

        let little = vec![1u8; 100];
        chunked(&s, &little, hash_of(&little)).await.unwrap();
        let big = vec![2u8; 300];
        chunked(&s, &big, hash_of(&big)).await.unwrap();
        assert_eq!(
            ContentStore::contains(&*small, &i, &hash_of(&little))
                .await
                .unwrap(),
            Some(100)
        );
        assert_eq!(
            ContentStore::contains(&*large, &i, &hash_of(&little))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            ContentStore::contains(&*large, &i, &hash_of(&big))
                .await
                .unwrap(),
            Some(300)
        );
        assert_eq!(
            ContentStore::contains(&*small, &i, &hash_of(&big))
                .await
                .unwrap(),
            None
        );
        let read = s
            .read(&i, &hash_of(&big), ReadRange::FULL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.into_bytes().await.unwrap(), big);

        // A mismatch past the limit stores nothing in either store.
        let other = vec![3u8; 300];
        let err = chunked(&s, &other, hash_of(&big[..200])).await.unwrap_err();
        assert!(
            matches!(err, BuildCacheError::DigestMismatch { .. }),
            "{err:?}"
        );
        assert_eq!(s.contains(&i, &hash_of(&big[..200])).await.unwrap(), None);
    }
}
