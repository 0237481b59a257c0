//! Reading and writing one entry of [`RedisBuildStore`](super::RedisBuildStore)
//! with its bookkeeping (last access, size, byte counter), each in one
//! script. Knows nothing of listings, flushes or the ports.

use bytes::Bytes;
use strata_domain::{BuildCacheError, DigestHash, InstanceName, ReadRange, StoreKind, Timestamp};

use super::scripts::{PUT, READ};
use super::{Shared, unavailable};

impl Shared {
    /// Reads `range` of an entry, `(size, chunk, last access)`.
    pub(super) async fn read(
        &self,
        kind: StoreKind,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
        touch: bool,
    ) -> Result<Option<(u64, Bytes, Timestamp)>, BuildCacheError> {
        let keys = self.keys(kind, instance);
        let limit = range
            .limit
            .map_or_else(|| "-1".to_owned(), |l| l.to_string());
        let found: Option<(u64, Vec<u8>, u64)> = READ
            .key(keys.entry(hash))
            .key(&keys.index)
            .key(&keys.sizes)
            .key(&keys.bytes)
            .arg(hash.to_string())
            .arg(self.clock.now().as_millis())
            .arg(u8::from(touch))
            .arg(range.offset)
            .arg(limit)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("read", &e))?;
        Ok(found
            .map(|(size, chunk, last)| (size, Bytes::from(chunk), Timestamp::from_millis(last))))
    }

    /// Records `instance` in the registry, then writes the entry;
    /// `Ok(false)` when `replace` is off and it was already there.
    pub(super) async fn put(
        &self,
        kind: StoreKind,
        instance: &InstanceName,
        hash: &DigestHash,
        value: &[u8],
        replace: bool,
    ) -> Result<bool, BuildCacheError> {
        let _: i64 = redis::cmd("SADD")
            .arg(&self.registry)
            .arg(instance.as_str())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("register instance", &e))?;
        let keys = self.keys(kind, instance);
        let written: i64 = PUT
            .key(keys.entry(hash))
            .key(&keys.index)
            .key(&keys.sizes)
            .key(&keys.bytes)
            .arg(value)
            .arg(hash.to_string())
            .arg(self.clock.now().as_millis())
            .arg(u8::from(replace))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("put", &e))?;
        Ok(written == 1)
    }
}
