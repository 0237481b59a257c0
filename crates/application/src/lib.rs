//! Strata's application layer: the use cases of a cache service.
//!
//! One file per command ([`commands`]) and per query ([`queries`]), each
//! with its input, output, error and handler; [`CacheService`] is the facade
//! the HTTP layer and the composition root call. Every command carries the
//! acting [`Principal`](strata_domain::Principal), checked against the role
//! the operation needs.
//!
//! It knows the domain and nothing else: no HTTP, no serialization, no
//! backend technology, no async runtime (the architecture test enforces it).

pub mod alerts;
mod batch;
pub mod build_cache;
mod cache_aside;
pub mod commands;
mod context;
pub mod queries;
mod registry;
mod service;
mod single_flight;
mod stores;
pub mod tasks;
#[cfg(test)]
mod test_support;
mod trends;
mod tuners;

pub use alerts::{AlertChange, Alerts, FlushWatch, MAX_ALERT_HISTORY, MAX_SILENCES};
pub use batch::{BatchSizeError, MAX_BATCH, check_batch_len};
pub use build_cache::{BuildCacheDependencies, BuildCacheService};
pub use cache_aside::{
    DEFAULT_FAIL_SAFE_THROTTLE, Fetched, GetWithError, GetWithOptions, GetWithOptionsBuilder,
    InvalidGetWithOptions, MEMORY_CAPACITY,
};
pub use context::Dependencies;
pub use registry::{
    AccessError, CacheCounters, CacheRegistry, CounterSnapshot, LiveCache, RetiredCounts,
    UsageSample,
};
pub use service::{BootstrapError, CacheService};
pub use single_flight::SingleFlight;
pub use trends::{DEFAULT_REPORT_SAMPLE_RATE, Trends};
