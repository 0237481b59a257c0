//! [`RedisBuildStore`](super::RedisBuildStore) as the [`ActionCache`]:
//! AC entries by action digest, bounded by `max_ac_entry_bytes`.

use async_trait::async_trait;
use bytes::Bytes;
use strata_domain::{
    AcEntry, ActionCache, BuildCacheError, DigestHash, EntryMeta, FlushCriteria, FlushResult,
    InstanceName, ReadRange, StoreKind, StoreUsage,
};

use super::{RedisBuildStore, STORE, unavailable};

#[async_trait]
impl ActionCache for RedisBuildStore {
    fn store_name(&self) -> &str {
        STORE
    }

    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        let found = self
            .shared
            .read(StoreKind::Ac, instance, key, ReadRange::FULL, true)
            .await?;
        self.shared.count(StoreKind::Ac, found.is_some());
        Ok(found.map(|(_, value, last_access)| AcEntry { value, last_access }))
    }

    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        let keys = self.shared.keys(StoreKind::Ac, instance);
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(keys.entry(key))
            .query_async(&mut self.shared.conn())
            .await
            .map_err(|e| unavailable("peek", &e))?;
        Ok(value.map(Bytes::from))
    }

    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError> {
        let size = value.len() as u64;
        if size > self.shared.max_ac_entry_bytes {
            return Err(BuildCacheError::TooLarge {
                size_bytes: size,
                limit_bytes: self.shared.max_ac_entry_bytes,
            });
        }
        self.shared
            .put(StoreKind::Ac, instance, &key, &value, true)
            .await
            .map(|_| ())
    }

    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        let keys = self.shared.keys(StoreKind::Ac, instance);
        redis::cmd("EXISTS")
            .arg(keys.entry(key))
            .query_async(&mut self.shared.conn())
            .await
            .map_err(|e| unavailable("contains", &e))
    }

    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        self.shared.list_kind(StoreKind::Ac, instance).await
    }

    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        self.shared.flush_kind(StoreKind::Ac, criteria).await
    }

    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        Ok(vec![self.shared.usage(StoreKind::Ac).await?])
    }
}
