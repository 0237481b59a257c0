//! Strata's adapters: implementations of the domain ports, named by
//! technology ([`MokaStore`], [`SystemClock`], ...), and the eviction
//! policies with their trace simulator ([`eviction`]).
//!
//! Driver errors are mapped to port errors inside each adapter; no driver
//! type crosses a port.

mod clock;
pub mod codec;
pub mod coherence;
mod events;
pub mod eviction;
mod moka_store;
mod policy_store;
mod provider;
mod repository;
mod tiered;

pub use clock::SystemClock;
pub use codec::{CodecError, Keyring, ValueCodec};
pub use coherence::{CoherenceBus, CoherenceListener, Invalidation};
pub use events::TracingEventPublisher;
pub use moka_store::{MokaStore, MokaStoreBuilder};
pub use policy_store::{PolicyStore, PolicyStoreBuilder};
pub use provider::{BackendSpec, StrataStoreProvider};
pub use repository::InMemoryConfigurationRepository;
pub use tiered::{STRIPES, TieredStore, TieredStoreBuilder};
pub mod envelope;
pub mod memcached;
pub mod redis;
pub mod resilience;
pub use memcached::{MemcachedConnection, MemcachedOptions, MemcachedStore, MemcachedStoreBuilder};
pub use redis::{
    RedisClusterConnection, RedisClusterStore, RedisClusterStoreBuilder, RedisConnection,
    RedisOptions, RedisStore, RedisStoreBuilder,
};
pub use resilience::{BreakerState, CircuitBreaker, CircuitBreakerConfig, ResilientStore};
