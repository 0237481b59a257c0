//! The backends wing: shared (L2) stores on network servers, one module per
//! technology: [`RedisStore`] and [`RedisClusterStore`] (`redis/`),
//! [`MemcachedStore`] (`memcached.rs`).
//!
//! Each store keeps one cache under its own key prefix, writes values as
//! [`wire`](crate::wire) envelopes through a `ValueCodec`, and maps driver
//! errors to the domain's `StoreError` inside the adapter: no driver type
//! crosses the `CacheStore` port.
//!
//! It must not know: timeouts and circuit breaking (the
//! [`resilience`](crate::resilience) wing wraps these stores), other tiers
//! or the coherence bus ([`tiering`](crate::tiering)).

mod memcached;
mod redis;

pub use memcached::{
    DEFAULT_MAX_ITEM_BYTES, MAX_RELATIVE_EXPTIME_SECS, MemcachedConnection, MemcachedOptions,
    MemcachedStore, MemcachedStoreBuilder, ValueTooLarge, memcached_exptime,
};
pub(crate) use redis::Conn as RedisConn;
pub use redis::{
    RedisClusterConnection, RedisClusterStore, RedisClusterStoreBuilder, RedisConnection,
    RedisOptions, RedisStore, RedisStoreBuilder,
};
