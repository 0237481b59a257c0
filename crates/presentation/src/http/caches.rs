//! `/v1/caches` and `/v1/caches/{cache}/stats`: what caches exist and how
//! they are doing.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use strata_application::queries::get_cache_stats::GetCacheStats;
use strata_application::queries::list_caches::ListCaches;

use crate::edge::auth::Acting;
use crate::edge::config_dto::CacheConfigurationDto;
use crate::edge::error::ApiError;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;

/// One cache in the listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheListItem {
    /// Name.
    pub name: String,
    /// Technology of its store, e.g. `moka`.
    pub backend: String,
    /// Its configuration.
    pub configuration: CacheConfigurationDto,
}

/// The listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheList {
    /// Caches sorted by name.
    pub caches: Vec<CacheListItem>,
}

/// Evictions by cause.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Evictions {
    /// Removed by the eviction policy to make room.
    pub capacity: u64,
    /// Removed because their TTL ran out.
    pub expired: u64,
}

/// A cache's statistics since the service started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheStatsResponse {
    /// Cache name.
    pub cache: String,
    /// Store technology.
    pub backend: String,
    /// Reads that found an entry.
    pub hits: u64,
    /// Reads that found none.
    pub misses: u64,
    /// hits / (hits + misses); 0 before the first read.
    pub hit_ratio: f64,
    /// Writes that created a key.
    pub inserts: u64,
    /// Writes that replaced a key.
    pub updates: u64,
    /// Entries removed by delete or invalidation.
    pub removals: u64,
    /// Evictions by cause.
    pub evictions: Evictions,
    /// Live entries.
    pub entries: u64,
    /// Bytes held (key + value + content type per entry).
    pub bytes: u64,
    /// Stacked caches: one item per tier, L1 first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierStatsResponse>,
    /// The eviction policy the memory tier runs (under `eviction = "auto"`,
    /// the one chosen from the miss-ratio curves).
    pub active_policy: String,
    /// Estimated memory of the miss-ratio analysis, in bytes; absent when
    /// the cache is not analysed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_memory_bytes: Option<u64>,
}

/// One tier of a stacked cache in its stats.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TierStatsResponse {
    /// `L1` or `L2`.
    pub level: String,
    /// The tier's name: `memory` or the backend's name.
    pub tier: String,
    /// Reads this tier answered.
    pub hits: u64,
    /// Reads that reached this tier and missed it (an L2 read is counted
    /// once per single-flight, however many requests waited on it).
    pub misses: u64,
    /// Live entries in the tier (0 when the backend cannot say).
    pub entries: u64,
    /// Bytes held by the tier (0 when the backend cannot say).
    pub bytes: u64,
    /// Evictions by cause in the tier.
    pub evictions: Evictions,
}

/// List caches.
#[utoipa::path(
    get,
    path = "/v1/caches",
    tag = "caches",
    responses((status = 200, body = CacheList, example = json!({"caches": [{"name": "default", "backend": "memory", "configuration": {"tiers": ["memory"], "eviction": "sieve", "max_entries": 100000, "max_value_bytes": 1048576, "compression": "zstd", "compression_threshold_bytes": 1024}}]})))
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Acting(principal): Acting,
) -> Result<HttpResponse, ApiError> {
    let caches = state
        .service
        .list(ListCaches { principal })
        .await
        .into_iter()
        .map(|c| CacheListItem {
            name: c.config.name().as_str().to_owned(),
            backend: c.backend,
            configuration: CacheConfigurationDto::from(&c.config),
        })
        .collect();
    Ok(HttpResponse::Ok().json(CacheList { caches }))
}

/// A cache's statistics.
#[utoipa::path(
    get,
    path = "/v1/caches/{cache}/stats",
    operation_id = "cache_stats",
    tag = "caches",
    params(("cache" = String, Path, description = "Cache name")),
    responses((status = 200, body = CacheStatsResponse, example = json!({"cache": "default", "backend": "memory", "hits": 1, "misses": 1, "hit_ratio": 0.5, "inserts": 1, "updates": 0, "removals": 0, "evictions": {"capacity": 0, "expired": 0}, "entries": 1, "bytes": 45, "active_policy": "sieve", "analysis_memory_bytes": 7680})), (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"))
)]
pub(crate) async fn stats(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let s = state
        .service
        .stats(GetCacheStats { principal, cache })
        .await?;
    Ok(HttpResponse::Ok().json(CacheStatsResponse {
        cache: s.cache.as_str().to_owned(),
        backend: s.backend,
        hits: s.counters.hits,
        misses: s.counters.misses,
        hit_ratio: s.hit_ratio,
        inserts: s.counters.inserts,
        updates: s.counters.updates,
        removals: s.counters.removals,
        evictions: Evictions {
            capacity: s.store.evictions_capacity,
            expired: s.store.expirations,
        },
        entries: s.store.entries,
        bytes: s.store.bytes,
        active_policy: s.active_policy.as_str().to_owned(),
        analysis_memory_bytes: s.analysis_memory_bytes,
        tiers: s
            .tiers
            .into_iter()
            .enumerate()
            .map(|(i, t)| TierStatsResponse {
                level: format!("L{}", i + 1),
                tier: t.tier,
                hits: t.hits,
                misses: t.misses,
                entries: t.store.entries,
                bytes: t.store.bytes,
                evictions: Evictions {
                    capacity: t.store.evictions_capacity,
                    expired: t.store.expirations,
                },
            })
            .collect(),
    }))
}
