//! Strata's adapters: implementations of the domain ports, named by
//! technology ([`MokaStore`], [`RedisStore`], [`SystemClock`], ...), and
//! the eviction policies with their trace simulator ([`eviction`]).
//!
//! Driver errors are mapped to port errors inside each adapter; no driver
//! type crosses a port.

mod backends;
mod clock;
mod events;
pub mod eviction;
mod memory;
mod provider;
mod repository;
mod resilience;
mod tiering;
mod wire;

pub use backends::{
    DEFAULT_MAX_ITEM_BYTES, MAX_RELATIVE_EXPTIME_SECS, MemcachedConnection, MemcachedOptions,
    MemcachedStore, MemcachedStoreBuilder, RedisClusterConnection, RedisClusterStore,
    RedisClusterStoreBuilder, RedisConnection, RedisOptions, RedisStore, RedisStoreBuilder,
    ValueTooLarge, memcached_exptime,
};
pub use clock::SystemClock;
pub use events::TracingEventPublisher;
pub use memory::{MokaStore, MokaStoreBuilder, PolicyStore, PolicyStoreBuilder};
pub use provider::{BackendSpec, StrataStoreProvider};
pub use repository::InMemoryConfigurationRepository;
pub use resilience::{
    BreakerMetrics, BreakerOpen, CircuitBreaker, CircuitBreakerConfig, DEFAULT_BULK_TIMEOUT,
    DEFAULT_COOL_DOWN, DEFAULT_FAILURE_THRESHOLD, DEFAULT_TIMEOUT, MonotonicClock, Permit,
    ResilientStore, ResilientStoreBuilder, SystemMonotonicClock,
};
pub use tiering::{CoherenceBus, CoherenceListener, Invalidation, TieredStore, TieredStoreBuilder};
pub use wire::{
    CodecError, ENVELOPE_VERSION, Envelope, EnvelopeError, KEY_BYTES, Keyring,
    MAX_DECOMPRESSED_BYTES, NONCE_BYTES, ValueCodec, ZSTD_LEVEL, envelope_flags,
};
