//! `GetCacheStats`: hit ratio, counters and store usage of one cache.

use strata_domain::{CacheName, Principal, Role, StoreError, StoreStats, TierStats};

use crate::context::Context;
use crate::registry::{AccessError, CounterSnapshot, LiveCache};

/// Read the stats of `cache`.
#[derive(Clone, Debug)]
pub struct GetCacheStats {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
}

/// A cache's statistics.
#[derive(Clone, Debug)]
pub struct CacheStats {
    /// The cache.
    pub cache: CacheName,
    /// The store's technology, e.g. `moka`.
    pub backend: String,
    /// Hits, misses, inserts, updates, removals since start.
    pub counters: CounterSnapshot,
    /// hits / (hits + misses); 0 before the first read.
    pub hit_ratio: f64,
    /// Entries, bytes, evictions by cause and expirations, from the store
    /// (the shared tier's, for a stacked cache). Evictions and expirations
    /// count since the cache was opened, including those of the stores it
    /// served from before a policy switch or resize.
    pub store: StoreStats,
    /// Per-tier hits, misses and store counters, L1 first; empty for a
    /// single-tier cache.
    pub tiers: Vec<TierStats>,
    /// The eviction policy the memory tier runs (under `auto`, the one
    /// the tuner chose).
    pub active_policy: strata_domain::EvictionPolicyKind,
    /// Estimated memory of the cache's miss-ratio analysis, in bytes;
    /// `None` when it is not analysed.
    pub analysis_memory_bytes: Option<u64>,
}

/// Why stats could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GetCacheStatsError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn handle(
    ctx: &Context,
    query: GetCacheStats,
) -> Result<CacheStats, GetCacheStatsError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Reader)?;
    Ok(stats_of(&cache).await?)
}

/// The stats of an open cache.
///
/// # Errors
/// [`StoreError`] when the store cannot report.
pub async fn stats_of(cache: &LiveCache) -> Result<CacheStats, StoreError> {
    let counters = cache.counters().snapshot();
    let tiers = cache.store().tier_stats().await?;
    // A stacked store's own stats are its last (shared) tier's: read once.
    let mut store = match tiers.last() {
        Some(shared) => shared.store,
        None => cache.store().stats().await?,
    };
    // Monotonic across changes that open a new store (a policy switch).
    let retired = cache.retired_counts();
    store.evictions_capacity += retired.evictions_capacity;
    store.expirations += retired.expirations;
    let reads = counters.hits + counters.misses;
    Ok(CacheStats {
        cache: cache.config().name().clone(),
        backend: cache.store().backend().to_owned(),
        counters,
        hit_ratio: if reads == 0 {
            0.0
        } else {
            counters.hits as f64 / reads as f64
        },
        store,
        tiers,
        active_policy: cache.config().active_eviction(),
        analysis_memory_bytes: cache.analyzer().map(|a| a.curves().memory_bytes),
    })
}
