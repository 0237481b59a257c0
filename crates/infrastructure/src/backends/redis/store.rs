//! [`RedisStore`]: one cache on a standalone Redis server.

use strata_domain::{CacheEntry, CacheKey, InsertOutcome, KeyPattern, StoreError, StoreStats, Tag};

use super::connection::{Conn, RedisConnection};
use super::core::redis_store;

redis_store! {
    /// One cache on a standalone Redis server.
    ///
    /// - Values are [`Envelope`](crate::Envelope)s under `strata:{<cache>}:k:<key>`, written
    ///   with `SET .. PX <remaining ttl ms>` (`SET .. GET` for envelopes up to
    ///   16 KiB without tags, which needs Redis 6.2 or later; the insert script
    ///   otherwise); entries already expired at insert are not written (and
    ///   remove the key). Payloads go through the store's
    ///   [`ValueCodec`](crate::ValueCodec) (compression, encryption) on every read and write.
    /// - Tags: one Redis set per tag, updated in the same Lua script as the
    ///   entry; invalidation deletes the members whose envelope still carries
    ///   the tag and returns how many it deleted.
    /// - Pattern invalidation and flush `SCAN` the cache's prefix and `UNLINK`
    ///   in batches of 500 (never `KEYS`).
    /// - `stats().entries` is a `SCAN` count (O(entries), `exact_len` false);
    ///   `bytes`, `evictions_capacity` and `expirations` are 0: Redis does not
    ///   count them per prefix.
    store: RedisStore,
    /// Builds a [`RedisStore`].
    builder: RedisStoreBuilder,
    connection: RedisConnection,
    backend: "redis",
    open: |c| (Conn::Standalone(c.conn), c.options),
}
