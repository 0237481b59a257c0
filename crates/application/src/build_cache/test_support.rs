//! Mocks of the build-cache ports (mockall) for the handler tests.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use mockall::mock;
use strata_domain::*;

use super::{AcValidation, BuildCacheDependencies, BuildCacheService};

/// [`ActionCache`] with `list` taking an owned instance: mockall cannot
/// mock an `Option<&T>` argument.
#[async_trait]
pub(crate) trait AcPort: Send + Sync + 'static {
    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError>;
    async fn get_streamed(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<BlobRead>, BuildCacheError>;
    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError>;
    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError>;
    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError>;
    async fn list(&self, instance: Option<InstanceName>)
    -> Result<Vec<EntryMeta>, BuildCacheError>;
    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError>;
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError>;
}

/// [`ContentStore`] with `list` taking an owned instance (see [`AcPort`]).
#[async_trait]
pub(crate) trait CasPort: Send + Sync + 'static {
    fn max_blob_bytes(&self) -> u64;
    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError>;
    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError>;
    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError>;
    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError>;
    async fn list(&self, instance: Option<InstanceName>)
    -> Result<Vec<EntryMeta>, BuildCacheError>;
    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError>;
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError>;
}

mock! {
    pub(crate) Ac {}
    #[async_trait]
    impl AcPort for Ac {
        async fn get(&self, instance: &InstanceName, key: &DigestHash) -> Result<Option<AcEntry>, BuildCacheError>;
        async fn get_streamed(&self, instance: &InstanceName, key: &DigestHash) -> Result<Option<BlobRead>, BuildCacheError>;
        async fn peek(&self, instance: &InstanceName, key: &DigestHash) -> Result<Option<Bytes>, BuildCacheError>;
        async fn put(&self, instance: &InstanceName, key: DigestHash, value: Bytes) -> Result<(), BuildCacheError>;
        async fn contains(&self, instance: &InstanceName, key: &DigestHash) -> Result<bool, BuildCacheError>;
        async fn list(&self, instance: Option<InstanceName>) -> Result<Vec<EntryMeta>, BuildCacheError>;
        async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError>;
        async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError>;
    }
}

mock! {
    pub(crate) Cas {}
    #[async_trait]
    impl CasPort for Cas {
        fn max_blob_bytes(&self) -> u64;
        async fn contains(&self, instance: &InstanceName, hash: &DigestHash) -> Result<Option<u64>, BuildCacheError>;
        async fn find_missing(&self, instance: &InstanceName, digests: &[Digest]) -> Result<Vec<Digest>, BuildCacheError>;
        async fn read(&self, instance: &InstanceName, hash: &DigestHash, range: ReadRange) -> Result<Option<BlobRead>, BuildCacheError>;
        async fn begin_write(&self, instance: &InstanceName, hash: DigestHash, expected_size: Option<u64>) -> Result<Box<dyn BlobWriter>, BuildCacheError>;
        async fn list(&self, instance: Option<InstanceName>) -> Result<Vec<EntryMeta>, BuildCacheError>;
        async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError>;
        async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError>;
    }
}

#[async_trait]
impl ActionCache for MockAc {
    fn store_name(&self) -> &str {
        "mock"
    }
    async fn get(
        &self,
        i: &InstanceName,
        k: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        AcPort::get(self, i, k).await
    }
    async fn get_streamed(
        &self,
        i: &InstanceName,
        k: &DigestHash,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        AcPort::get_streamed(self, i, k).await
    }
    async fn peek(
        &self,
        i: &InstanceName,
        k: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        AcPort::peek(self, i, k).await
    }
    async fn put(&self, i: &InstanceName, k: DigestHash, v: Bytes) -> Result<(), BuildCacheError> {
        AcPort::put(self, i, k, v).await
    }
    async fn contains(&self, i: &InstanceName, k: &DigestHash) -> Result<bool, BuildCacheError> {
        AcPort::contains(self, i, k).await
    }
    async fn list(&self, i: Option<&InstanceName>) -> Result<Vec<EntryMeta>, BuildCacheError> {
        AcPort::list(self, i.cloned()).await
    }
    async fn flush(&self, c: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        AcPort::flush(self, c).await
    }
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        AcPort::stats(self).await
    }
}

#[async_trait]
impl ContentStore for MockCas {
    fn store_name(&self) -> &str {
        "mock"
    }
    fn max_blob_bytes(&self) -> u64 {
        CasPort::max_blob_bytes(self)
    }
    async fn contains(
        &self,
        i: &InstanceName,
        h: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        CasPort::contains(self, i, h).await
    }
    async fn find_missing(
        &self,
        i: &InstanceName,
        d: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        CasPort::find_missing(self, i, d).await
    }
    async fn read(
        &self,
        i: &InstanceName,
        h: &DigestHash,
        r: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        CasPort::read(self, i, h, r).await
    }
    async fn begin_write(
        &self,
        i: &InstanceName,
        h: DigestHash,
        s: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        CasPort::begin_write(self, i, h, s).await
    }
    async fn list(&self, i: Option<&InstanceName>) -> Result<Vec<EntryMeta>, BuildCacheError> {
        CasPort::list(self, i.cloned()).await
    }
    async fn flush(&self, c: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        CasPort::flush(self, c).await
    }
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        CasPort::stats(self).await
    }
}

mock! {
    pub(crate) Format {}
    impl ActionResultFormat for Format {
        fn decode(&self, bytes: &[u8]) -> Result<ActionResultRefs, InvalidActionResult>;
    }
}

mock! {
    pub(crate) Writer {}
    #[async_trait]
    impl BlobWriter for Writer {
        async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError>;
        async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError>;
    }
}

/// The three port mocks; set expectations, then build a service.
#[derive(Default)]
pub(crate) struct Mocks {
    pub(crate) ac: MockAc,
    pub(crate) cas: MockCas,
    pub(crate) format: MockFormat,
}

impl Mocks {
    /// A service over the mocks, validating AC entries when `validate`.
    pub(crate) fn service(self, validate: bool) -> BuildCacheService {
        BuildCacheService::new(BuildCacheDependencies {
            ac: Arc::new(self.ac),
            cas: Arc::new(self.cas),
            format: Arc::new(self.format),
            validation: AcValidation::all(validate),
            flush_watch: None,
        })
    }
}

pub(crate) fn hash(c: char) -> DigestHash {
    DigestHash::parse(&c.to_string().repeat(64)).unwrap()
}
pub(crate) fn digest(c: char, size: u64) -> Digest {
    Digest::new(hash(c), size)
}
pub(crate) fn ac_entry(bytes: &'static [u8]) -> AcEntry {
    AcEntry {
        value: Bytes::from_static(bytes),
        last_access: Timestamp::from_millis(0),
    }
}
pub(crate) fn principal_with(caches: &str, role: Role) -> Principal {
    Principal::Authenticated {
        subject: "p".into(),
        grants: vec![Grant {
            caches: KeyPattern::parse(caches).unwrap(),
            role,
        }],
    }
}
pub(crate) fn reader() -> Principal {
    principal_with("*", Role::Reader)
}
pub(crate) fn writer() -> Principal {
    principal_with("*", Role::Writer)
}
pub(crate) fn admin() -> Principal {
    principal_with("*", Role::Admin)
}
