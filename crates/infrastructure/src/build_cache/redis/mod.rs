//! [`RedisBuildStore`]: the action cache, and CAS blobs below a size
//! limit, on a Redis server or a Redis Cluster, shared by every Strata
//! instance pointed at it.
//!
//! # Key layout
//!
//! With the key prefix `p` (default `strata:bc:`), the kind `k` (`ac` or
//! `cas`) and the instance's hash tag `{i}` (`{<instance name>}`, `{/}`
//! for the default instance, whose name is empty; `/` alone is never a
//! valid name):
//!
//! - `p{i}:k:<64 hex>`: a string, the entry's bytes (a serialized
//!   `ActionResult`, or a blob);
//! - `p{i}:k:idx`: a sorted set, member = the 64-hex hash, score = its
//!   last access in milliseconds since the Unix epoch by the store's clock
//!   (the `older_than` scope is a `ZRANGEBYSCORE`, O(log n + matching));
//! - `p{i}:k:size`: a hash, hex -> size in bytes. It outlives a value
//!   Redis evicted on its own, so the bookkeeping can be undone exactly;
//! - `p{i}:k:bytes`: an integer, the sum of `size` (for `stats`, O(1));
//! - `pinstances`: a set of every instance name written (it never
//!   shrinks), so listing, stats and flushes of every instance need no
//!   `SCAN` of the keyspace.
//!
//! Every key of one instance and kind shares the hash tag, so in a Cluster
//! they live in one slot and the Lua scripts (`scripts/`), which touch the value,
//! the index, the sizes and the counter of one instance together, are
//! atomic. Different instances spread over the masters. The registry
//! `pinstances` is written (idempotently) before each entry, in its own
//! slot. The prefix should not contain `{` or `}`: it would change the
//! hash tag (a `{x}` in it puts every instance in one slot, which still
//! works; a `{}` breaks the co-location in a Cluster).
//!
//! Run the Redis with a `noeviction` or `volatile-*` `maxmemory-policy`:
//! the store sets no TTLs. Should Redis evict a value anyway, reads and
//! flushes drop its bookkeeping when they meet it.
//!
//! # Flushes
//!
//! A flush selects candidates per instance (`ZSCAN` of the index for
//! `all`, `instance` and `digest_prefix` with `MATCH <prefix>*`; pages of
//! `ZRANGEBYSCORE` for `older_than`; the listed hashes for `digests`),
//! decides each with [`FlushCriteria::matches`], then removes them in
//! batches with one script per batch. The script re-checks the last access
//! (an entry read since it was selected stays) and counts an entry only
//! when its `DEL` returned 1, so concurrent flushes never count an entry
//! twice. A dry run runs the same script, which then only counts.
//!
//! # Rooms
//!
//! - this file: the store, its builder and the state both ports share;
//! - `keys.rs`: the key layout above; `reply.rs`: RESP2/RESP3 replies;
//! - `scripts.rs` (Lua in `scripts/*.lua`): the atomic scripts;
//! - `entry.rs`: reading and writing one entry (the reader and writer);
//! - `index.rs`: the instance registry, index pages, listings and usage;
//! - `flush.rs`: flushes;
//! - `ac.rs`, `cas.rs`: the [`ActionCache`] and [`ContentStore`] ports.
//!
//! The wing knows the Redis connections of `backends` and nothing of HTTP.
//!
//! [`ActionCache`]: strata_domain::ActionCache
//! [`ContentStore`]: strata_domain::ContentStore

mod ac;
mod cas;
mod entry;
mod flush;
mod index;
mod keys;
mod reply;
mod scripts;

use std::sync::Arc;

use redis::RedisError;
use strata_domain::{BuildCacheError, Clock, InstanceName, StoreKind};

use self::keys::Keys;
use super::key::HitCounters;
use crate::backends::RedisConn;
use crate::clock::SystemClock;
use crate::{RedisClusterConnection, RedisConnection};

const STORE: &str = "redis";
/// Entries per round trip in listings, flushes and `find_missing`.
const BATCH: usize = 500;

/// The action cache, and optionally the CAS for blobs up to
/// [`max_blob_bytes`](RedisBuildStoreBuilder::max_blob_bytes), on Redis
/// (standalone or Cluster). Several Strata instances on one Redis share
/// its entries: the AC written by one is read by all. One store serves
/// both ports.
///
/// Larger blobs are refused with [`BuildCacheError::TooLarge`], at
/// `begin_write` when the size is announced, else as soon as the upload
/// passes the limit: an upload is buffered (at most `max_blob_bytes`),
/// verified and written with one `SET`, so nothing is visible before a
/// verified commit. A stacked store keeps larger blobs on disk.
///
/// Hits and misses count this process's reads; entries and bytes are
/// Redis's, over every instance sharing it. Driver errors become
/// [`BuildCacheError::Unavailable`] with an opaque message; the full error
/// goes to the log. The key layout is in the module docs of
/// `build_cache/redis/mod.rs`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use strata_infrastructure::{RedisBuildStore, RedisConnection, RedisOptions};
/// let connection = RedisConnection::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
/// let store = RedisBuildStore::builder(connection)
///     .key_prefix("strata:bc:")
///     .max_blob_bytes(1 << 20)
///     .build();
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
pub struct RedisBuildStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisBuildStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuildStore")
            .field("prefix", &self.shared.prefix)
            .field("max_blob_bytes", &self.shared.max_blob_bytes)
            .finish_non_exhaustive()
    }
}

struct Shared {
    conn: RedisConn,
    prefix: String,
    /// `<prefix>instances`
    registry: String,
    clock: Arc<dyn Clock>,
    max_blob_bytes: u64,
    max_ac_entry_bytes: u64,
    counters: HitCounters,
}

/// Builds a [`RedisBuildStore`].
pub struct RedisBuildStoreBuilder {
    conn: RedisConn,
    prefix: String,
    max_blob_bytes: u64,
    max_ac_entry_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisBuildStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuildStoreBuilder")
            .field("prefix", &self.prefix)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("max_ac_entry_bytes", &self.max_ac_entry_bytes)
            .finish_non_exhaustive()
    }
}

impl RedisBuildStoreBuilder {
    /// The prefix of every key (default [`RedisBuildStore::DEFAULT_KEY_PREFIX`],
    /// `strata:bc:`). Stores with the same prefix on one Redis share their
    /// entries; it should not contain `{` or `}` (see the key layout).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The largest CAS blob kept in Redis, in bytes (default
    /// [`RedisBuildStore::DEFAULT_MAX_BLOB_BYTES`], 1 MiB). It also bounds
    /// the memory one upload buffers.
    #[must_use]
    pub fn max_blob_bytes(mut self, bytes: u64) -> Self {
        self.max_blob_bytes = bytes;
        self
    }

    /// The largest AC entry, in bytes (default
    /// [`RedisBuildStore::DEFAULT_MAX_AC_ENTRY_BYTES`], 4 MiB).
    #[must_use]
    pub fn max_ac_entry_bytes(mut self, bytes: u64) -> Self {
        self.max_ac_entry_bytes = bytes;
        self
    }

    /// The clock that stamps last accesses (default the system clock).
    /// Stores sharing a Redis should read the same time, or `older_than`
    /// flushes judge one instance's entries by another's clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store, shared as `Arc` (it serves both ports).
    pub fn build(self) -> Arc<RedisBuildStore> {
        Arc::new(RedisBuildStore {
            shared: Arc::new(Shared {
                conn: self.conn,
                registry: format!("{}instances", self.prefix),
                prefix: self.prefix,
                clock: self.clock,
                max_blob_bytes: self.max_blob_bytes,
                max_ac_entry_bytes: self.max_ac_entry_bytes,
                counters: Default::default(),
            }),
        })
    }
}

impl RedisBuildStore {
    /// Default key prefix: `strata:bc:`.
    pub const DEFAULT_KEY_PREFIX: &'static str = "strata:bc:";
    /// Default largest CAS blob kept in Redis: 1 MiB.
    pub const DEFAULT_MAX_BLOB_BYTES: u64 = 1 << 20;
    /// Default largest AC entry: 4 MiB.
    pub const DEFAULT_MAX_AC_ENTRY_BYTES: u64 = 4 << 20;

    /// Starts building a store on a standalone Redis server.
    pub fn builder(connection: RedisConnection) -> RedisBuildStoreBuilder {
        Self::builder_on(connection.into())
    }

    /// Starts building a store on a Redis Cluster.
    pub fn cluster_builder(connection: RedisClusterConnection) -> RedisBuildStoreBuilder {
        Self::builder_on(connection.into())
    }

    fn builder_on(conn: RedisConn) -> RedisBuildStoreBuilder {
        RedisBuildStoreBuilder {
            conn,
            prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            max_blob_bytes: Self::DEFAULT_MAX_BLOB_BYTES,
            max_ac_entry_bytes: Self::DEFAULT_MAX_AC_ENTRY_BYTES,
            clock: Arc::new(SystemClock),
        }
    }
}
/// A Redis failure as the port's error: logged in full, opaque upward.
fn unavailable(op: &'static str, e: &RedisError) -> BuildCacheError {
    tracing::warn!(store = STORE, op, error = %e, "redis build-cache command failed");
    BuildCacheError::Unavailable {
        store: STORE.to_owned(),
        source: format!("redis {op} failed").into(),
    }
}

/// A reply of an unexpected shape (a bug, or not Strata's keys).
fn unexpected_reply(op: &'static str, detail: &str) -> BuildCacheError {
    tracing::error!(store = STORE, op, detail, "unexpected redis reply");
    BuildCacheError::Unexpected {
        store: STORE.to_owned(),
        source: format!("unexpected redis reply to {op}").into(),
    }
}
impl Shared {
    fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    fn keys(&self, kind: StoreKind, instance: &InstanceName) -> Keys {
        Keys::new(&self.prefix, kind, instance)
    }

    fn count(&self, kind: StoreKind, hit: bool) {
        self.counters.count(kind, hit);
    }
}
