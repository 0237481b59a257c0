//! [`RedisStore`] and [`RedisClusterStore`]: one cache on a Redis server or
//! a Redis Cluster, through the `redis` crate (a `ConnectionManager` that
//! reconnects by itself, or a `cluster_async::ClusterConnection`).
//!
//! Key layout (see `docs/backends.md`), for cache `c`:
//!
//! - `strata:{c}:k:<key>` — an entry; the value is an [`Envelope`](crate::Envelope);
//! - `strata:{c}:t:<tag>` — a set of the keys written with `<tag>`;
//! - `strata:{c}:x:<nonce>` — a tag set being invalidated (renamed away,
//!   expires after an hour if the invalidation dies half-way);
//! - `strata:{c}:l:<key>` and `strata:{c}:le` — a key's lease and the
//!   cache's lease epoch (`leases`).
//!
//! `{c}` is a Cluster hash tag: every key of a cache lives in one slot, so
//! scripts, `MGET`s and tag bookkeeping are single-slot and atomic, at the
//! cost of one cache living on one master.
//!
//! Modules: `connection` (the two connection kinds), `scripts` (the Lua
//! scripts), `core` (the implementation both stores share), `store` and
//! `cluster` (the two store types, defined by one macro over the core).

mod cluster;
mod connection;
mod core;
mod leases;
mod scripts;
mod store;

pub use cluster::{RedisClusterStore, RedisClusterStoreBuilder};
pub(crate) use connection::{Conn, once_only};
pub use connection::{
    RedisClusterConnection, RedisConnection, RedisOptions, pin_redis_connections_to_thread,
};
pub use leases::RedisLeases;
pub use store::{RedisStore, RedisStoreBuilder};
