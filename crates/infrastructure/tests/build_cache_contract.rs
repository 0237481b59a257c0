//! The build-cache contract suite against the memory, disk, stacked
//! (memory over disk), Redis (standalone and Cluster, on real
//! `redis-server`s) and size-split (small blobs on Redis, large on disk)
//! stores.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use strata_domain::{
    AcEntry, ActionCache, BlobRead, BlobWriter, BuildCacheError, ContentStore, Digest, DigestHash,
    EntryMeta, FlushCriteria, FlushResult, InstanceName, ReadRange, StoreUsage,
};

use strata_infrastructure::{
    DiskBuildStore, MemoryBuildStore, RedisBuildStore, RedisBuildStoreBuilder,
    RedisClusterConnection, RedisConnection, RedisOptions, SizeSplitContentStore,
    StackedBuildStore,
};
use strata_testkit::build_cache_contract::run_build_cache_contract;
use strata_testkit::{ManualClock, RedisCluster, RedisServer, require};

/// A memory store of 1 MiB on `clock`.
fn memory(clock: &Arc<ManualClock>) -> Arc<MemoryBuildStore> {
    MemoryBuildStore::builder()
        .max_bytes(1 << 20)
        .clock(clock.clone())
        .build()
}

/// A disk store of 1 MiB in `dir`, on `clock`.
fn disk(dir: PathBuf, clock: &Arc<ManualClock>) -> Arc<DiskBuildStore> {
    DiskBuildStore::builder(dir)
        .max_bytes(1 << 20)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Numbered directories under one temporary root: a fresh one for each
/// clause of the contract.
struct Dirs {
    root: tempfile::TempDir,
    n: AtomicU32,
}

impl Dirs {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            n: AtomicU32::new(0),
        }
    }

    /// The next directory's number and path.
    fn next(&self) -> (u32, PathBuf) {
        let i = self.n.fetch_add(1, Ordering::Relaxed);
        (i, self.root.path().join(i.to_string()))
    }
}

#[tokio::test]
async fn memory_store_honours_the_build_cache_contract() {
    run_build_cache_contract(|| async {
        let clock = Arc::new(ManualClock::default());
        (memory(&clock), clock)
    })
    .await;
}

#[tokio::test]
async fn disk_store_honours_the_build_cache_contract() {
    let dirs = Dirs::new();
    run_build_cache_contract(|| {
        let (_, dir) = dirs.next();
        async move {
            let clock = Arc::new(ManualClock::default());
            (disk(dir, &clock), clock)
        }
    })
    .await;
}

#[tokio::test]
async fn stacked_store_honours_the_build_cache_contract() {
    let dirs = Dirs::new();
    run_build_cache_contract(|| {
        let (_, dir) = dirs.next();
        async move {
            let clock = Arc::new(ManualClock::default());
            let stacked = StackedBuildStore::new(memory(&clock), disk(dir, &clock));
            (Arc::new(stacked.clock(clock.clone())), clock)
        }
    })
    .await;
}

/// Runs the contract on stores from `builder`, each clause under a fresh
/// key prefix of the same Redis, so it starts empty.
async fn run_on_redis(builder: impl Fn() -> RedisBuildStoreBuilder) {
    let n = AtomicU32::new(0);
    run_build_cache_contract(|| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let clock = Arc::new(ManualClock::default());
        let store = builder()
            .key_prefix(format!("contract{i}:"))
            .clock(clock.clone())
            .build();
        async move { (store, clock) }
    })
    .await;
}

#[tokio::test]
async fn redis_store_honours_the_build_cache_contract() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let connection = RedisConnection::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    run_on_redis(|| RedisBuildStore::builder(connection.clone())).await;
}

#[tokio::test]
async fn redis_cluster_store_honours_the_build_cache_contract() {
    let Some(cluster) = require(RedisCluster::spawn(3)) else {
        return;
    };
    let connection = RedisClusterConnection::connect(&cluster.urls(), RedisOptions::default())
        .await
        .expect("connect to the cluster");
    run_on_redis(|| RedisBuildStore::cluster_builder(connection.clone())).await;
}

/// Small blobs (up to 2,000 bytes, below most of the contract's) on a real
/// Redis, larger ones on disk: the split CAS, with the AC on the disk.
#[tokio::test]
async fn size_split_store_honours_the_build_cache_contract() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let dirs = Dirs::new();
    run_build_cache_contract(|| {
        let (i, dir) = dirs.next();
        let url = server.url();
        async move {
            let clock = Arc::new(ManualClock::default());
            let connection = RedisConnection::connect(&url, RedisOptions::default())
                .await
                .expect("connect to redis");
            let small = RedisBuildStore::builder(connection)
                .key_prefix(format!("split{i}:"))
                .clock(clock.clone())
                .build();
            let disk = disk(dir, &clock);
            let split = SizeSplitContentStore::new(small, disk.clone()).small_max_bytes(2000);
            (
                Arc::new(SplitPair {
                    ac: disk,
                    cas: split,
                }),
                clock,
            )
        }
    })
    .await;
}

/// The AC of one store beside a split CAS, as `src/lib.rs` wires them.
struct SplitPair {
    ac: Arc<DiskBuildStore>,
    cas: SizeSplitContentStore,
}

#[async_trait::async_trait]
impl ActionCache for SplitPair {
    fn store_name(&self) -> &str {
        ActionCache::store_name(&*self.ac)
    }
    async fn get(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<AcEntry>, BuildCacheError> {
        self.ac.get(instance, key).await
    }
    async fn peek(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<Option<Bytes>, BuildCacheError> {
        self.ac.peek(instance, key).await
    }
    async fn put(
        &self,
        instance: &InstanceName,
        key: DigestHash,
        value: Bytes,
    ) -> Result<(), BuildCacheError> {
        self.ac.put(instance, key, value).await
    }
    async fn contains(
        &self,
        instance: &InstanceName,
        key: &DigestHash,
    ) -> Result<bool, BuildCacheError> {
        ActionCache::contains(&*self.ac, instance, key).await
    }
    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        ActionCache::list(&*self.ac, instance).await
    }
    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        ActionCache::flush(&*self.ac, criteria).await
    }
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        ActionCache::stats(&*self.ac).await
    }
}

#[async_trait::async_trait]
impl ContentStore for SplitPair {
    fn store_name(&self) -> &str {
        self.cas.store_name()
    }
    fn max_blob_bytes(&self) -> u64 {
        self.cas.max_blob_bytes()
    }
    async fn contains(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
    ) -> Result<Option<u64>, BuildCacheError> {
        self.cas.contains(instance, hash).await
    }
    async fn find_missing(
        &self,
        instance: &InstanceName,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, BuildCacheError> {
        self.cas.find_missing(instance, digests).await
    }
    async fn read(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        range: ReadRange,
    ) -> Result<Option<BlobRead>, BuildCacheError> {
        self.cas.read(instance, hash, range).await
    }
    async fn begin_write(
        &self,
        instance: &InstanceName,
        hash: DigestHash,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, BuildCacheError> {
        self.cas.begin_write(instance, hash, expected_size).await
    }
    async fn list(
        &self,
        instance: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        self.cas.list(instance).await
    }
    async fn flush(&self, criteria: &FlushCriteria) -> Result<FlushResult, BuildCacheError> {
        self.cas.flush(criteria).await
    }
    async fn stats(&self) -> Result<Vec<StoreUsage>, BuildCacheError> {
        self.cas.stats().await
    }
}
