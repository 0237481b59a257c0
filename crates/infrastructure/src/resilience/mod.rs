//! The resilience wing: timeouts and a circuit breaker around any
//! [`CacheStore`](strata_domain::CacheStore).
//!
//! [`ResilientStore`] wraps a store: every call gets a deadline (answering
//! [`StoreError::Timeout`](strata_domain::StoreError::Timeout) when it passes) and goes through a
//! [`CircuitBreaker`]. The breaker is meant to be shared by every store on
//! one backend (one Redis, one Memcached pool), so that a dead backend
//! trips once for all of its caches.
//!
//! Modules: `breaker` ([`CircuitBreaker`] and its state machine, in the
//! domain's `CircuitState`), `store` ([`ResilientStore`], the wrapper),
//! `probe` ([`spawn_prober`]: pings an open breaker's backend in the
//! background).
//!
//! It must not know: which backend it wraps (it sees a `CacheStore`), nor
//! tiers: the tiered store reads the breaker's state, not the reverse.

mod breaker;
mod probe;
mod store;

pub use breaker::{
    BreakerMetrics, BreakerOpen, CircuitBreaker, CircuitBreakerConfig, MonotonicClock, Permit,
};
pub use probe::{DEFAULT_PROBE_INTERVAL, spawn_prober};
pub use store::{DEFAULT_BULK_TIMEOUT, DEFAULT_TIMEOUT, ResilientStore, ResilientStoreBuilder};
