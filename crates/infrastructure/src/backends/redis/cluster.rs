//! [`RedisClusterStore`]: one cache on a Redis Cluster, in one slot.

use strata_domain::{CacheEntry, CacheKey, InsertOutcome, KeyPattern, StoreError, StoreStats, Tag};

use super::connection::{Conn, RedisClusterConnection};
use super::core::redis_store;

redis_store! {
    /// One cache on a Redis Cluster; behaves as [`RedisStore`](crate::RedisStore).
    ///
    /// The `{<cache>}` hash tag puts all of a cache's keys in one slot: batches
    /// and tag scripts are single-slot, and `SCAN` is sent to that slot's
    /// master only. One cache is therefore limited to one master's memory and
    /// throughput; different caches spread over the cluster.
    store: RedisClusterStore,
    /// Builds a [`RedisClusterStore`].
    builder: RedisClusterStoreBuilder,
    connection: RedisClusterConnection,
    backend: "redis-cluster",
    open: |c| (Conn::Cluster(c.connection), c.options),
}
