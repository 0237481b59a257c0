//! Strata's adapters: implementations of the domain ports, named by
//! technology ([`MokaStore`], [`RedisStore`], [`SystemClock`], ...), and
//! the eviction policies with their trace simulator ([`eviction`]).
//!
//! The crate is laid out in wings, each a folder whose `mod.rs` says what
//! it owns and what it must not know:
//!
//! - `analysis/`: [`ShardsAnalyzer`], live miss-ratio curves per cache
//!   (SHARDS sampling into a bounded queue, miniature simulations of
//!   [`eviction::mrc`] on a worker thread) and its provider.
//! - `audit.rs`: [`JsonLinesAuditLog`], the audit trail as a JSON Lines
//!   file rotated by size.
//! - `memory/`: in-process stores, the L1 tier: [`PolicyStore`] (sharded,
//!   any [`eviction`] policy; `store`, `shard`, `builder`) and
//!   [`MokaStore`].
//! - [`eviction`]: the `EvictionPolicy` trait, one module per algorithm,
//!   the frequency sketch and the trace simulator. The only public module:
//!   its types are reached as `strata_infrastructure::eviction::...`.
//! - `backends/`: shared (L2) stores on network servers: `redis/`
//!   ([`RedisStore`], [`RedisClusterStore`]; `connection`, `scripts`,
//!   `core`, `store`, `cluster`) and `memcached` ([`MemcachedStore`]).
//! - `tiering/`: [`TieredStore`] (L1 over L2, write-through, promotion)
//!   and the [`CoherenceBus`] that keeps several instances' L1s coherent.
//! - `wire/`: how values are laid out in shared backends: the
//!   [`Envelope`] and the [`ValueCodec`] (compression, encryption), over
//!   their shared `format` module (no import cycle).
//! - [`snapshot`]: snapshot files of memory caches (`persist = true`) and
//!   warm-key files of stacked caches: versioned, checksummed, atomic.
//! - `resilience/`: the [`CircuitBreaker`] (its state is the domain's
//!   `CircuitState`) and the [`ResilientStore`] that puts a deadline and
//!   the breaker in front of any store.
//! - `provider/` ([`StrataStoreProvider`]: builds each cache's store
//!   from its configuration, over the stock backends' connections,
//!   [`ConnectedBackend`], and plugins' providers), `repository/`
//!   ([`InMemoryConfigurationRepository`], [`FileConfigurationRepository`],
//!   [`RedisConfigurationRepository`]), `clock.rs` ([`SystemClock`]), `scheduler.rs`
//!   ([`TokioScheduler`]: timers and background tasks on tokio),
//!   `events.rs` ([`TracingEventPublisher`]), `auth.rs`
//!   ([`ApiKeyAuthenticator`]: API keys by SHA-256 digest, compared in
//!   constant time).
//!
//! This file holds re-exports only: every public type has exactly one
//! public path, at the crate root (or under [`eviction`]).
//!
//! Driver errors are mapped to port errors inside each adapter; no driver
//! type crosses a port. The crate must not know HTTP or any wire protocol
//! of the service itself (that is `strata-presentation`).

#[cfg(feature = "drivers")]
mod alert_webhook;
#[cfg(feature = "drivers")]
mod analysis;
#[cfg(feature = "drivers")]
mod audit;
#[cfg(feature = "drivers")]
mod auth;
#[cfg(feature = "drivers")]
mod backends;
#[cfg(feature = "drivers")]
mod build_cache;
mod clock;
#[cfg(feature = "drivers")]
mod events;
#[cfg(feature = "drivers")]
pub mod eviction;
#[cfg(feature = "drivers")]
mod jwt;
#[cfg(feature = "drivers")]
mod leases;
#[cfg(feature = "drivers")]
mod memory;
#[cfg(feature = "drivers")]
mod provider;
#[cfg(feature = "drivers")]
mod repository;
mod resilience;
#[cfg(feature = "drivers")]
mod scheduler;
#[cfg(feature = "drivers")]
mod sessions;
#[cfg(feature = "drivers")]
pub mod snapshot;
#[cfg(feature = "drivers")]
pub mod tasks;
#[cfg(feature = "drivers")]
mod tiering;
#[cfg(feature = "drivers")]
mod trend_archive;
mod wire;

#[cfg(feature = "drivers")]
pub use alert_webhook::{WEBHOOK_QUEUE, WebhookNotifier, WebhookOptions, alertmanager_payload};
#[cfg(feature = "drivers")]
pub use analysis::{
    AnalyzerSettings, DEFAULT_QUEUE_SAMPLES, ShardsAnalyzer, ShardsAnalyzerProvider,
};
#[cfg(feature = "drivers")]
pub use audit::{DEFAULT_AUDIT_MAX_BYTES, JsonLinesAuditLog};
#[cfg(feature = "drivers")]
pub use auth::{ApiKeyAuthenticator, ApiKeyAuthenticatorBuilder, ApiKeyDigest, InvalidDigest};
#[cfg(feature = "drivers")]
pub use backends::{
    MAX_RELATIVE_EXPTIME_SECS, MemcachedConnection, MemcachedOptions, MemcachedStore,
    MemcachedStoreBuilder, RedisClusterConnection, RedisClusterStore, RedisClusterStoreBuilder,
    RedisConnection, RedisLeases, RedisOptions, RedisStore, RedisStoreBuilder, ValueTooLarge,
    memcached_exptime, pin_redis_connections_to_thread,
};
#[cfg(feature = "drivers")]
pub use build_cache::{
    AcReferences, DEFAULT_MAX_BLOB_BYTES, DEFAULT_PROMOTE_MAX_BYTES, DEFAULT_S3_CONCURRENCY,
    DEFAULT_S3_EXISTENCE_ENTRIES, DEFAULT_S3_EXISTENCE_TTL_SECS, DEFAULT_S3_PART_BYTES,
    DEFAULT_SMALL_BLOB_MAX_BYTES, DISK_LOW_WATERMARK_PERCENT, DISK_READ_CHUNK_BYTES,
    DiskBuildStore, DiskBuildStoreBuilder, FastSlowBuildStore, MemoryBuildStore,
    MemoryBuildStoreBuilder, ProstActionResultFormat, RebuildHook, RedisBuildStore,
    RedisBuildStoreBuilder, S3_LOW_WATERMARK_PERCENT, S3AccessIndex, S3BuildStore,
    S3BuildStoreBuilder, S3Credentials, SizeSplitContentStore, StackedBuildStore, UnlinkHook,
};
pub use clock::SystemClock;
#[cfg(feature = "drivers")]
pub use events::TracingEventPublisher;
#[cfg(feature = "drivers")]
pub use jwt::{
    ClaimMapping, CompositeAuthenticator, JwtAuthenticator, JwtAuthenticatorBuilder,
    JwtConfigError, MIN_HS256_SECRET_BYTES,
};
#[cfg(feature = "drivers")]
pub use leases::MemoryLeases;
#[cfg(feature = "drivers")]
pub use memory::{MokaStore, MokaStoreBuilder, PolicyStore, PolicyStoreBuilder};
#[cfg(feature = "drivers")]
pub use provider::{BackendSpec, ConnectedBackend, StrataStoreProvider};
#[cfg(feature = "drivers")]
pub use repository::{
    DEFAULT_CONFIG_KEY_PREFIX, FileConfigurationRepository, InMemoryConfigurationRepository,
    RedisConfigurationRepository,
};
pub use resilience::{
    BreakerMetrics, BreakerOpen, CircuitBreaker, CircuitBreakerConfig, DEFAULT_BULK_TIMEOUT,
    DEFAULT_PROBE_INTERVAL, DEFAULT_TIMEOUT, MonotonicClock, Permit, ResilientStore,
    ResilientStoreBuilder, spawn_prober,
};
#[cfg(feature = "drivers")]
pub use scheduler::TokioScheduler;
#[cfg(feature = "drivers")]
pub use sessions::{DEFAULT_SESSION_KEY_PREFIX, MemorySessions, RedisSessions};
#[cfg(feature = "drivers")]
pub use tiering::{
    CoherenceBus, CoherenceListener, Invalidation, ReconfigureNotice, TieredStore,
    TieredStoreBuilder,
};
#[cfg(feature = "drivers")]
pub use trend_archive::{FileTrendArchive, TRENDS_FILE};
pub use wire::{
    CodecError, Envelope, EnvelopeError, KEY_BYTES, Keyring, ValueCodec, ZstdProbe, envelope_flags,
};
