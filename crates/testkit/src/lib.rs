//! Strata's test support: real-server spawners and the [`CacheStore`]
//! contract suite.
//!
//! - [`RedisServer`], [`RedisCluster`], [`MemcachedServer`],
//!   [`RabbitMqServer`] and [`PrometheusServer`] start the
//!   real binaries on free loopback ports, each in its own temporary
//!   directory, wait until they answer, and kill them (by pid) on drop.
//!   When a binary is missing, `spawn` returns [`SpawnError::Missing`];
//!   [`require`] turns that into a skipped test, or a panic when
//!   `STRATA_REQUIRE_SERVERS=1`.
//! - [`WebhookReceiver`] is the far end of an alert webhook: it answers
//!   with the statuses a test chooses and hands over the bodies.
//! - [`ManualClock`] is a [`Clock`](strata_domain::Clock) that stands
//!   still until a test advances it; inject it into the service (the
//!   composition root takes a clock) to test TTLs without waiting.
//! - [`store_contract!`] expands to one `#[test]` per clause of the
//!   [`CacheStore`] contract ([`contract::Clause`]) against a store
//!   factory; [`contract::run_store_contract`] runs them all in one test.
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
mod webhook;

pub use clock::ManualClock;
pub use webhook::WebhookReceiver;

pub use servers::{
    ChromeDriver, MemcachedServer, MotoServer, PrometheusServer, REQUIRE_SERVERS_ENV,
    RabbitMqServer, RedisCluster, RedisServer, SpawnError, find_client, require,
};
