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

/// The span of one call to a backend server (`backend`: `redis`,
/// `redis-cluster`, `memcached`; `operation`: the `CacheStore` method): a
/// TRACE span on target `strata::backend`, an OpenTelemetry client span
/// (`otel.kind`, `db.system`, `db.operation`) when the exporter is on. Off,
/// nothing enables it and it costs one callsite check.
pub(crate) fn client_span(backend: &'static str, operation: &'static str) -> tracing::Span {
    tracing::trace_span!(
        target: "strata::backend",
        "backend call",
        otel.name = %format_args!("{backend} {operation}"),
        otel.kind = "client",
        db.system = backend,
        db.operation = operation,
    )
}

pub use memcached::{
    MAX_RELATIVE_EXPTIME_SECS, MemcachedConnection, MemcachedOptions, MemcachedStore,
    MemcachedStoreBuilder, ValueTooLarge, memcached_exptime,
};
pub(crate) use redis::Conn as RedisConn;
pub(crate) use redis::once_only as redis_once_only;
pub use redis::{
    RedisClusterConnection, RedisClusterStore, RedisClusterStoreBuilder, RedisConnection,
    RedisLeases, RedisOptions, RedisStore, RedisStoreBuilder, pin_redis_connections_to_thread,
};
