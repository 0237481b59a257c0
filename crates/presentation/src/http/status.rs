//! `GET /admin/v1/status`: what `strata status` prints. The server's
//! version and listeners, its readiness, its backends' health and every
//! cache with its hit ratio, in one answer. It needs the reader role on
//! every cache (a grant on `*`): it describes them all, and tells nothing
//! such a reader could not read from `/v1/caches`, the stats and
//! `/health/ready`.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use strata_application::queries::get_cache_stats::GetCacheStats;
use strata_application::queries::list_caches::ListCaches;
use strata_domain::Role;

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// Answer of `GET /admin/v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusResponse {
    /// The server's release.
    pub version: String,
    /// Whether every cache's backend answers a ping (as `/health/ready`).
    pub ready: bool,
    /// Every listener with its bound URL.
    pub listeners: Vec<ListenerDto>,
    /// Shared backends with their circuit breaker state.
    pub backends: Vec<BackendDto>,
    /// Caches whose backend does not answer, with the reason.
    pub failing: Vec<super::monitoring::FailingCache>,
    /// Every cache, sorted by name.
    pub caches: Vec<CacheStatusDto>,
}

/// One listener.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListenerDto {
    /// `http` or `grpc`.
    pub protocol: &'static str,
    /// `http://`, `https://`, `grpc://` or `grpcs://` and the bound address.
    pub url: String,
}

/// One shared backend.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackendDto {
    /// The backend's configured name.
    pub name: String,
    /// `redis`, `redis-cluster`, `memcached`, or a plugin's kind.
    pub kind: String,
    /// Circuit breaker state: `closed`, `open` or `half_open`.
    pub circuit_breaker: &'static str,
    /// Calls that failed with a backend error or timeout since start.
    pub failures: u64,
    /// Times the breaker opened since start.
    pub breaker_opened_total: u64,
}

/// One cache.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheStatusDto {
    /// Name.
    pub name: String,
    /// Technology of its store.
    pub backend: String,
    /// Live entries.
    pub entries: u64,
    /// Reads that found an entry, since start.
    pub hits: u64,
    /// Reads that found none, since start.
    pub misses: u64,
    /// hits / (hits + misses); 0 before the first read.
    pub hit_ratio: f64,
}

/// The server's status: version, listeners, readiness, backends and caches.
#[utoipa::path(
    get,
    path = "/admin/v1/status",
    tag = "monitoring",
    responses((status = 200, body = StatusResponse, example = json!({
        "version": "0.1.0",
        "ready": true,
        "listeners": [
            {"protocol": "http", "url": "http://127.0.0.1:8080"},
            {"protocol": "grpc", "url": "grpc://127.0.0.1:9092"}
        ],
        "backends": [
            {"name": "main", "kind": "redis", "circuit_breaker": "closed", "failures": 0, "breaker_opened_total": 0}
        ],
        "failing": [],
        "caches": [
            {"name": "sessions", "backend": "redis", "entries": 1204, "hits": 9310, "misses": 690, "hit_ratio": 0.931}
        ]
    })))
)]
pub(crate) async fn status(
    state: web::Data<AppState>,
    Acting(principal): Acting,
) -> Result<HttpResponse, ApiError> {
    if !principal.may_all(Role::Reader) {
        return Err(ApiError::forbidden(
            "/admin/v1/status needs the reader role on every cache (a grant on \"*\")",
        ));
    }
    let failing: Vec<super::monitoring::FailingCache> = state
        .service
        .unready_caches()
        .await
        .into_iter()
        .map(|(cache, error)| super::monitoring::FailingCache {
            cache: cache.as_str().to_owned(),
            error,
        })
        .collect();
    let backends = state
        .service
        .backends()
        .into_iter()
        .map(|b| BackendDto {
            name: b.name,
            kind: b.kind,
            circuit_breaker: b.circuit.as_str(),
            failures: b.failures,
            breaker_opened_total: b.opened,
        })
        .collect();
    let mut caches = Vec::new();
    let listed = state
        .service
        .list(ListCaches {
            principal: principal.clone(),
        })
        .await;
    for summary in listed {
        let cache = summary.config.name().clone();
        // A cache deleted since the listing is left out.
        let Ok(stats) = state
            .service
            .stats(GetCacheStats {
                principal: principal.clone(),
                cache,
            })
            .await
        else {
            continue;
        };
        caches.push(CacheStatusDto {
            name: stats.cache.as_str().to_owned(),
            backend: stats.backend,
            entries: stats.store.entries,
            hits: stats.counters.hits,
            misses: stats.counters.misses,
            hit_ratio: stats.hit_ratio,
        });
    }
    caches.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(HttpResponse::Ok().json(StatusResponse {
        version: state.server.version.clone(),
        ready: failing.is_empty(),
        listeners: state
            .server
            .listeners
            .iter()
            .map(|l| ListenerDto {
                protocol: l.protocol,
                url: l.url.clone(),
            })
            .collect(),
        backends,
        failing,
        caches,
    }))
}
