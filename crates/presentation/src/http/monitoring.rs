//! `/health/live`, `/health/ready` and `/metrics`.

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// Health answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Caches whose backend does not answer, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<FailingCache>,
    /// Shared backends with their circuit breaker state (`/health/ready` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendStatus>,
    /// The build cache's start-up index rebuild while it runs
    /// (`/health/ready` only). The store serves meanwhile, so it does not
    /// make the service unready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_rebuild: Option<IndexRebuildStatus>,
}

/// A build-cache store rebuilding its index in `/health/ready`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IndexRebuildStatus {
    /// The store (`disk`).
    pub store: String,
    /// Always `running` (the field is absent once the rebuild is over).
    pub state: &'static str,
    /// Files found so far.
    pub files_found: u64,
    /// Milliseconds since the rebuild started.
    pub elapsed_ms: u64,
}

/// A shared backend in `/health/ready`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackendStatus {
    /// The backend's configured name.
    pub name: String,
    /// `redis`, `redis-cluster`, `memcached`, or a plugin's kind.
    pub kind: String,
    /// Circuit breaker state: `closed`, `open` or `half_open`.
    pub circuit_breaker: &'static str,
    /// Times the breaker opened since start.
    pub breaker_opened_total: u64,
}

/// A cache whose backend fails its ping.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FailingCache {
    /// Cache name.
    pub cache: String,
    /// Why.
    pub error: String,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health/live", tag = "monitoring", responses((status = 200, body = Health, example = json!({"status": "ok"}))))]
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderValue::from_static("application/json"),
        ))
        .body(LIVE_BODY)
}

/// `/health/live`'s body: a [`Health`] with status `ok` (no failing
/// caches, no backends), serialised once at compile time.
const LIVE_BODY: &str = r#"{"status":"ok"}"#;

/// Readiness: every cache's backend answers a ping. A build-cache index
/// rebuild in progress is reported (`index_rebuild`) but leaves the
/// service ready: the store serves meanwhile.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "monitoring",
    responses(
        (status = 200, body = Health, example = json!({"status": "ok", "index_rebuild": {"store": "disk", "state": "running", "files_found": 250000, "elapsed_ms": 1200}})),
        (status = 503, body = Health, example = json!({"status": "unavailable", "failing": [{"cache": "sessions", "error": "backend main unavailable: connection refused"}]})),
    )
)]
pub(crate) async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let failing: Vec<FailingCache> = state
        .service
        .unready_caches()
        .await
        .into_iter()
        .map(|(cache, error)| FailingCache {
            cache: cache.as_str().to_owned(),
            error,
        })
        .collect();
    let backends: Vec<BackendStatus> = state
        .service
        .backends()
        .into_iter()
        .map(|b| BackendStatus {
            name: b.name,
            kind: b.kind,
            circuit_breaker: b.circuit.as_str(),
            breaker_opened_total: b.opened,
        })
        .collect();
    let index_rebuild = state
        .build_cache
        .as_ref()
        .and_then(|b| b.index_rebuild())
        .map(|r| IndexRebuildStatus {
            store: r.store,
            state: "running",
            files_found: r.files_found,
            elapsed_ms: r.elapsed_ms,
        });
    if failing.is_empty() {
        HttpResponse::Ok().json(Health {
            status: "ok",
            failing,
            backends,
            index_rebuild,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable",
            failing,
            backends,
            index_rebuild,
        })
    }
}

/// Prometheus text exposition (format 0.0.4). Open, unless
/// [`AppState::metrics_role`] is set: then the caller must authenticate
/// (401) and hold that role on every cache (403).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "monitoring",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String, example = json!("# TYPE strata_cache_hits_total counter\nstrata_cache_hits_total{cache=\"default\"} 1\n")))
)]
pub(crate) async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(role) = state.metrics_role {
        // Authenticated like the cache API (401, failed-auth limit), then
        // the role on every cache: the metrics describe them all.
        let Acting(principal) = Acting::extract(&req).await?;
        if !principal.may_all(role) {
            return Err(ApiError::forbidden(format!(
                "/metrics needs the {} role on every cache (a grant on \"*\")",
                role.as_str()
            )));
        }
    }
    if let Some(build_cache) = &state.build_cache {
        crate::edge::metrics::export_build_cache_bytes(build_cache).await;
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::edge::metrics::render(&state.service).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_body_is_a_serialised_health() {
        let health = Health {
            status: "ok",
            failing: Vec::new(),
            backends: Vec::new(),
            index_rebuild: None,
        };
        assert_eq!(serde_json::to_string(&health).unwrap(), LIVE_BODY);
    }
}
