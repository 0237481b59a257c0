//! The [`ActionCache`] and [`ContentStore`] ports of [`S3BuildStore`].

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStoreExt, PutPayload};
use strata_domain::{
    AcEntry, ActionCache, BlobRead, BlobWriter, BuildCacheError, ContentStore, Digest, DigestHash,
    EntryMeta, FlushCriteria, FlushResult, InstanceName, ReadRange, StoreFlushReport, StoreKind,
    StoreUsage, Timestamp,
};

use super::reader::S3Reader;
use super::writer::S3Writer;
use super::{S3BuildStore, S3Shared, STORE};
use crate::build_cache::verify::Verifier;

fn last_modified(meta: &ObjectMeta) -> Timestamp {
    Timestamp::from_millis(u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0))
}

impl S3Shared {
    /// `HEAD` of `path` (through the existence cache unless `fresh`),
    /// within the store's concurrency bound.
    pub(super) async fn head(
        &self,
        path: &Path,
        fresh: bool,
    ) -> Result<Option<u64>, BuildCacheError> {
        if !fresh && let Some(size) = self.exists.get(path).await {
            return Ok(Some(size));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| BuildCacheError::Unavailable {
                store: STORE.to_owned(),
                source: "the store is shutting down".into(),
            })?;
        match self.store.head(path).await {
            Ok(meta) => {
                self.exists.insert(path, meta.size).await;
                Ok(Some(meta.size))
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.exists.remove(path).await;
                Ok(None)
            }
            Err(e) => Err(self.error("head", e)),
        }
    }

    /// The whole object at `path`, `None` when absent.
    async fn get_bytes(&self, path: &Path) -> Result<Option<Bytes>, BuildCacheError> {
        match self.store.get(path).await {
            Ok(got) => got
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.error("get", e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("get", e)),
        }
    }

    /// Every entry of `kind`, of `instance` or all.
    async fn list_kind(
        &self,
        kind: StoreKind,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<(Path, EntryMeta)>, BuildCacheError> {
        let prefix = self.keys.listing(kind, instance);
        let metas: Vec<ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.error("list", e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let (instance, hash) = self.keys.parse(kind, &m.location)?;
                let meta = EntryMeta {
                    instance,
                    hash,
                    size_bytes: m.size,
                    last_access: last_modified(&m),
                };
                Some((m.location, meta))
            })
            .collect())
    }

    /// Removes (or in a dry run counts) the entries of `kind` the
    /// criteria select, `concurrency` deletes at a time.
    async fn flush_kind(
        &self,
        kind: StoreKind,
        criteria: &FlushCriteria,
    ) -> Result<FlushResult, BuildCacheError> {
        let started = Instant::now();
        let now = self.clock.now();
        if !criteria.dry_run {
            self.changed();
        }
        let listed = self.list_kind(kind, criteria.instance.as_ref()).await?;
        let chosen: Vec<(Path, EntryMeta)> = listed
            .into_iter()
            .filter(|(_, m)| criteria.matches(&m.instance, &m.hash, m.last_access, now))
            .collect();
        let mut report = StoreFlushReport {
            store: STORE.to_owned(),
            ..Default::default()
        };
        if criteria.dry_run {
            report.entries_removed = chosen.len() as u64;
            report.bytes_reclaimed = chosen.iter().map(|(_, m)| m.size_bytes).sum();
        } else {
            let results: Vec<(u64, Result<(), object_store::Error>)> =
                futures_util::stream::iter(chosen)
                    .map(|(path, meta)| async move {
                        self.exists.remove(&path).await;
                        let deleted = self.store.delete(&path).await;
                        self.forget(&path).await;
                        (meta.size_bytes, deleted)
                    })
                    .buffer_unordered(self.concurrency)
                    .collect()
                    .await;
            for (size, result) in results {
                match result {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                        report.entries_removed += 1;
                        report.bytes_reclaimed += size;
                    }
                    Err(e) => report.errors.push(format!("delete: {e}")),
                }
            }
        }
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(FlushResult::single(kind, criteria.dry_run, report))
    }

    /// The counters, and the entries and bytes of a listing at most
    /// [`USAGE_MAX_AGE`](super::USAGE_MAX_AGE) old.
    async fn usage(&self, kind: StoreKind) -> Result<StoreUsage, BuildCacheError> {
        let slot = match kind {
            StoreKind::Ac => 0,
            StoreKind::Cas => 1,
        };
        let fresh = self.listed.lock().unwrap_or_else(|e| e.into_inner())[slot]
            .filter(|(at, _, _)| at.elapsed() < super::USAGE_MAX_AGE);
        let (entries, bytes) = match fresh {
            Some((_, entries, bytes)) => (entries, bytes),
            None => {
                let at = Instant::now();
                let listed = self.list_kind(kind, None).await?;
                let entries = listed.len() as u64;
                let bytes = listed.iter().map(|(_, m)| m.size_bytes).sum();
                self.listed.lock().unwrap_or_else(|e| e.into_inner())[slot] =
                    Some((at, entries, bytes));
                (entries, bytes)
            }
        };
        Ok(self.counters.usage(STORE, kind, entries, bytes))
    }
}

#[async_trait]
impl ActionCache for S3BuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        let s = &self.shared;
        let path = s.keys.entry(StoreKind::Ac, instance, key);
        let found = s.get_bytes(&path).await?;
        s.counters.count(StoreKind::Ac, found.is_some());
        if let Some(v) = &found {
            s.touch(&path, v.len() as u64).await;
        }
        Ok(found.map(|value| AcEntry {
            value,
            last_access: s.clock.now(),
        }))
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        let s = &self.shared;
        s.get_bytes(&s.keys.entry(StoreKind::Ac, instance, key))
            .await
    }

    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError> {
        let s = &self.shared;
        if value.len() as u64 > s.max_blob_bytes {
            return Err(BuildCacheError::TooLarge {
                size_bytes: value.len() as u64,
                limit_bytes: s.max_blob_bytes,
            });
        }
        let path = s.keys.entry(StoreKind::Ac, instance, &key);
        let size = value.len() as u64;
        s.store
            .put(&path, PutPayload::from(value))
            .await
            .map_err(|e| s.error("put an AC entry", e))?;
        s.touch(&path, size).await;
        s.changed();
        Ok(())
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        let s = &self.shared;
        Ok(s.head(&s.keys.entry(StoreKind::Ac, instance, key), true)
            .await?
            .is_some())
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        let listed = self.shared.list_kind(StoreKind::Ac, instance).await?;
        Ok(listed.into_iter().map(|(_, m)| m).collect())
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        self.shared.flush_kind(StoreKind::Ac, criteria).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Ac).await?])
    }
}

#[async_trait]
impl ContentStore for S3BuildStore {
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
        let s = &self.shared;
        s.head(&s.keys.entry(StoreKind::Cas, instance, hash), false)
            .await
    }

    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        let wanted: Vec<Digest> = digests
            .iter()
            .filter(|d| !d.is_empty_blob())
            .copied()
            .collect();
        let checks = wanted.into_iter().map(|d| async move {
            let size = ContentStore::contains(self, instance, d.hash()).await?;
            Ok::<_, BuildCacheError>((size != Some(d.size_bytes())).then_some(d))
        });
        let checked: Vec<Result<Option<Digest>, BuildCacheError>> =
            futures_util::stream::iter(checks)
                .buffered(self.shared.concurrency)
                .collect()
                .await;
        checked.into_iter().filter_map(Result::transpose).collect()
    }

    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        if *hash == DigestHash::EMPTY {
            return BlobRead::from_bytes(Bytes::new(), range).map(Some);
        }
        let s = &self.shared;
        let path = s.keys.entry(StoreKind::Cas, instance, hash);
        let mut options = GetOptions::default();
        let mut known_size = None;
        if range != ReadRange::FULL {
            let Some(size) = s.head(&path, false).await? else {
                s.counters.count(StoreKind::Cas, false);
                return Ok(None);
            };
            let (start, len) = range.resolve(size)?;
            if len == 0 {
                s.counters.count(StoreKind::Cas, true);
                return Ok(Some(BlobRead::from_chunk(size, Bytes::new())));
            }
            options.range = Some(GetRange::Bounded(start..start + len));
            known_size = Some(size);
        }
        match s.store.get_opts(&path, options).await {
            Ok(got) => {
                s.counters.count(StoreKind::Cas, true);
                let size = known_size.unwrap_or(got.meta.size);
                s.exists.insert(&path, got.meta.size).await;
                s.touch(&path, got.meta.size).await;
                let len = got.range.end - got.range.start;
                Ok(Some(BlobRead {
                    size_bytes: size,
                    len,
                    reader: Box::new(S3Reader(got.into_stream())),
                }))
            }
            Err(object_store::Error::NotFound { .. }) => {
                s.exists.remove(&path).await;
                s.forget(&path).await;
                s.counters.count(StoreKind::Cas, false);
                Ok(None)
            }
            Err(e) => Err(s.error("get a blob", e)),
        }
    }

    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        let s = &self.shared;
        let verifier = Verifier::new(hash, expected_size, s.max_blob_bytes)?;
        let path = s.keys.entry(StoreKind::Cas, instance, &hash);
        // Authoritative, not the existence cache: "already stored" must
        // not rest on a belief another instance's sweeper may have undone.
        let present = hash != DigestHash::EMPTY && s.head(&path, true).await?.is_some();
        Ok(Box::new(S3Writer {
            shared: Arc::clone(s),
            path,
            verifier,
            buf: BytesMut::new(),
            upload: None,
            present,
            done: false,
        }))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        let listed = self.shared.list_kind(StoreKind::Cas, instance).await?;
        Ok(listed.into_iter().map(|(_, m)| m).collect())
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        self.shared.flush_kind(StoreKind::Cas, criteria).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Cas).await?])
    }
}
