//! [`RedisBuildStore`](super::RedisBuildStore) as the [`ContentStore`]:
//! CAS blobs up to `max_blob_bytes`, uploads buffered and verified before
//! one `SET` (nothing is visible before a verified commit).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use strata_domain::{
    BlobRead, BlobWriter, BuildCacheError, Committed, ContentStore, Digest, DigestHash, EntryMeta,
    FlushCriteria, FlushResult, InstanceName, ReadRange, StoreKind, StoreUsage,
};

use super::{BATCH, RedisBuildStore, STORE, Shared, unavailable, unexpected_reply};
use crate::build_cache::verify::{BufferedUpload, Verified};

#[async_trait]
impl ContentStore for RedisBuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    fn max_blob_bytes(&self) -> u64 {
        self.shared.max_blob_bytes
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        if *hash == DigestHash::EMPTY {
            return Ok(Some(0));
        }
        let keys = self.shared.keys(StoreKind::Cas, instance);
        // The empty blob is never stored, so length 0 means absent.
        let len: u64 = redis::cmd("STRLEN")
            .arg(keys.entry(hash))
            .query_async(&mut self.shared.conn())
            .await
            .map_err(|e| unavailable("contains", &e))?;
        Ok((len > 0).then_some(len))
    }

    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        let keys = self.shared.keys(StoreKind::Cas, instance);
        let wanted: Vec<&Digest> = digests.iter().filter(|d| !d.is_empty_blob()).collect();
        let mut missing = Vec::new();
        for chunk in wanted.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for d in chunk {
                pipe.cmd("STRLEN").arg(keys.entry(d.hash()));
            }
            let lens: Vec<u64> = pipe
                .query_async(&mut self.shared.conn())
                .await
                .map_err(|e| unavailable("find missing", &e))?;
            missing.extend(
                chunk
                    .iter()
                    .zip(lens)
                    .filter(|(d, len)| *len != d.size_bytes())
                    .map(|(d, _)| **d),
            );
        }
        Ok(missing)
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if *hash == DigestHash::EMPTY {
            self.shared.count(StoreKind::Cas, true);
            return BlobRead::from_bytes(Bytes::new(), range).map(Some);
        }
        let found = self
            .shared
            .read(StoreKind::Cas, instance, hash, range, true)
            .await?;
        self.shared.count(StoreKind::Cas, found.is_some());
        let Some((size, chunk, _)) = found else {
            return Ok(None);
        };
        let (_, len) = range.resolve(size)?;
        if chunk.len() as u64 != len {
            return Err(unexpected_reply("read", "chunk of the wrong length"));
        }
        let mut read = BlobRead::from_bytes(chunk, ReadRange::FULL)?;
        read.size_bytes = size;
        Ok(Some(read))
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        Ok(Box::new(RedisWriter {
            store: Arc::clone(&self.shared),
            instance: instance.clone(),
            hash,
            upload: BufferedUpload::new(hash, expected_size, self.shared.max_blob_bytes)?,
        }))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        self.shared.list_kind(StoreKind::Cas, instance).await
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        self.shared.flush_kind(StoreKind::Cas, criteria).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Cas).await?])
    }
}

/// A CAS upload into Redis: at most `max_blob_bytes` buffered (the
/// verifier refuses more before it is kept), verified, then one `SET`.
/// Dropped uncommitted, it leaves nothing.
struct RedisWriter {
    store: Arc<Shared>,
    instance: InstanceName,
    hash: DigestHash,
    upload: BufferedUpload,
}

#[async_trait]
impl BlobWriter for RedisWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        self.upload.push(&chunk)
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        match self.upload.finish()? {
            Verified::Empty(digest) => Ok(Committed {
                digest,
                created: false,
            }),
            Verified::Content(digest, bytes) => {
                let created = self
                    .store
                    .put(StoreKind::Cas, &self.instance, &self.hash, &bytes, false)
                    .await?;
                Ok(Committed { digest, created })
            }
        }
    }
}
