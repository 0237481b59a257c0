//! Strata's test support: real-server spawners and the [`CacheStore`]
//! contract suite.
//!
//! - [`RedisServer`], [`RedisCluster`], [`MemcachedServer`] and
//!   [`RabbitMqServer`] start the
//!   real binaries on free loopback ports, each in its own temporary
//!   directory, wait until they answer, and kill them (by pid) on drop.
//!   When a binary is missing, `spawn` returns [`SpawnError::Missing`];
//!   [`require`] turns that into a skipped test, or a panic when
//!   `STRATA_REQUIRE_SERVERS=1`.
//! - [`ManualClock`] is a [`Clock`](strata_domain::Clock) that stands
//!   still until a test advances it; inject it into the service (the
//!   composition root takes a clock) to test TTLs without waiting.
//! - [`contract::run_store_contract`] runs every behavioural test of the
//!   [`CacheStore`] port against a store factory; plugin authors call it
//!   from a `#[tokio::test]`.
//! - [`build_cache_contract::run_build_cache_contract`] does the same for
//!   the build cache's `ActionCache` and `ContentStore` ports.
//!
//! This crate may read the system clock and spawn processes; it must not
//! know any Strata adapter (it depends on `strata-domain` only).
//!
//! [`CacheStore`]: strata_domain::CacheStore

pub mod build_cache_contract;
mod clock;
pub mod contract;
mod servers;

pub use clock::ManualClock;

pub use servers::{
    ChromeDriver, MemcachedServer, REQUIRE_SERVERS_ENV, RabbitMqServer, RedisCluster, RedisServer,
    SpawnError, find_client, require,
};
