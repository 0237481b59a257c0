//! The stock kinds' factories: `redis`, `redis-cluster` and `memcached`,
//! registered by [`BackendRegistry::stock`](super::BackendRegistry::stock)
//! and called like a plugin's. Each reads its table as a plugin would
//! ([`BackendArgs::settings`]) and connects a
//! [`ConnectedBackend`], which the infrastructure's `StrataStoreProvider`
//! recognises and shares with sessions, configuration sync, coherence,
//! leases and the build cache.
//!
//! The settings file's loader checks these tables first (with the same
//! keys), so the errors here only meet tables built by hand.

use std::sync::Arc;

use serde::Deserialize;
use strata_domain::StoreProvider;
use strata_infrastructure::{BackendSpec, ConnectedBackend};

use super::{BackendArgs, BackendError, BackendFactory};

/// `[backends.x] kind = "redis"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisTable {
    url: String,
}

/// `[backends.x] kind = "redis-cluster"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisClusterTable {
    urls: Vec<String>,
}

/// `[backends.x] kind = "memcached"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemcachedTable {
    servers: Vec<String>,
}

/// Every stock kind with its factory, sorted by kind.
pub(super) fn factories() -> [(&'static str, Arc<dyn BackendFactory>); 3] {
    [
        ("memcached", Arc::new(memcached)),
        ("redis", Arc::new(redis)),
        ("redis-cluster", Arc::new(redis_cluster)),
    ]
}

async fn redis(args: BackendArgs) -> Result<Arc<dyn StoreProvider>, BackendError> {
    let table: RedisTable = args.settings()?;
    connect(&args, BackendSpec::Redis { url: table.url }).await
}

async fn redis_cluster(args: BackendArgs) -> Result<Arc<dyn StoreProvider>, BackendError> {
    let table: RedisClusterTable = args.settings()?;
    connect(&args, BackendSpec::RedisCluster { urls: table.urls }).await
}

async fn memcached(args: BackendArgs) -> Result<Arc<dyn StoreProvider>, BackendError> {
    let table: MemcachedTable = args.settings()?;
    let spec = BackendSpec::Memcached {
        servers: table.servers,
    };
    connect(&args, spec).await
}

/// Connects `spec` as the backend `args.name`, within `args.timeout`.
async fn connect(
    args: &BackendArgs,
    spec: BackendSpec,
) -> Result<Arc<dyn StoreProvider>, BackendError> {
    match ConnectedBackend::connect(&args.name, spec, args.timeout).await {
        Ok(connected) => Ok(Arc::new(connected)),
        Err(e) => Err(BackendError::new(format!("{}: {e}", args.place()))),
    }
}
