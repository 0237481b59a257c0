//! `/admin/v1/caches/{cache}`: create, reconfigure, read and delete a
//! cache; `/admin/v1/caches/{cache}/flush`. Every action needs the admin
//! role and is audited (a `ConfigurationChanged` or `CacheFlushed` event).
//! Create/reconfigure, delete and flush take a token from the principal's
//! admin bucket first (`[auth.rate_limits]`, [`crate::rate_limit`]).
//! With an audit log, create/reconfigure, delete and flush append an
//! `attempt` record before they run and an outcome record before the
//! response ([`crate::audited::Audit`]); either failing is 503
//! `audit_unavailable`.

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde::Serialize;
use strata_application::commands::configure_cache::ConfigureCache;
use strata_application::commands::delete_cache::DeleteCache;
use strata_application::commands::flush_cache::FlushCache;
use strata_application::queries::get_configuration::GetConfiguration;
use strata_domain::AuditAction;

use crate::audited::Audit;

use crate::auth::Acting;
use crate::codec::decode;
use crate::config_dto::CacheConfigurationDto;
use crate::error::ApiError;
use crate::metrics::count_outcome;
use crate::params::cache_name;
use crate::state::AppState;

/// Answer of a configuration change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigureResponse {
    /// Cache name.
    pub name: String,
    /// The configuration now in force, defaults filled in.
    pub configuration: CacheConfigurationDto,
    /// Entries moved into a new store by this change.
    pub migrated_entries: u64,
}

/// Create or reconfigure a cache.
#[utoipa::path(
    put,
    path = "/admin/v1/caches/{cache}",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name")),
    request_body(content = CacheConfigurationDto, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = ConfigureResponse),
        (status = 200, description = "Reconfigured", body = ConfigureResponse),
        (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid configuration", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn configure(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let name = cache_name(&cache)?;
    let dto: CacheConfigurationDto = decode(&req, &body)?;
    let config = dto
        .into_domain(name.clone())
        .map_err(|e| ApiError::invalid_configuration(e.field, e.reason))?;
    let summary = serde_json::to_string(&CacheConfigurationDto::from(&config)).unwrap_or_default();
    let audit = Audit::begin(
        &state,
        &req,
        &principal,
        AuditAction::Configure,
        &name,
        vec![("configuration".to_owned(), summary)],
    )
    .await?;
    let result = state
        .service
        .configure(ConfigureCache {
            principal,
            config: config.clone(),
        })
        .await
        .map_err(ApiError::from);
    let out = audit.finish(&state, result).await?;
    let body = ConfigureResponse {
        name: name.as_str().to_owned(),
        configuration: CacheConfigurationDto::from(&config),
        migrated_entries: out.migrated,
    };
    Ok(if out.created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Read a cache's configuration.
#[utoipa::path(
    get,
    path = "/admin/v1/caches/{cache}",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name")),
    responses((status = 200, body = CacheConfigurationDto), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"))
)]
pub(crate) async fn read(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let config = state
        .service
        .configuration(GetConfiguration { principal, cache })
        .await?;
    Ok(HttpResponse::Ok().json(CacheConfigurationDto::from(&config)))
}

/// Delete a cache and its entries.
#[utoipa::path(
    delete,
    path = "/admin/v1/caches/{cache}",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"), (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::error::Problem, content_type = "application/problem+json"), (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::error::Problem, content_type = "application/problem+json"))
)]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let cache = cache_name(&cache)?;
    let audit = Audit::begin(
        &state,
        &req,
        &principal,
        AuditAction::DeleteCache,
        &cache,
        Vec::new(),
    )
    .await?;
    let result = state
        .service
        .delete_cache(DeleteCache { principal, cache })
        .await
        .map_err(ApiError::from);
    audit.finish(&state, result).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove every entry of a cache.
#[utoipa::path(
    post,
    path = "/admin/v1/caches/{cache}/flush",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name")),
    responses((status = 204, description = "Flushed"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"), (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::error::Problem, content_type = "application/problem+json"), (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::error::Problem, content_type = "application/problem+json"))
)]
pub(crate) async fn flush(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let cache = cache_name(&cache)?;
    let audit = Audit::begin(
        &state,
        &req,
        &principal,
        AuditAction::Flush,
        &cache,
        vec![("scope".to_owned(), "all".to_owned())],
    )
    .await?;
    let result = state
        .service
        .flush(FlushCache {
            principal,
            cache: cache.clone(),
        })
        .await;
    count_outcome(&state.service, &cache, "flush", &result);
    audit.finish(&state, result.map_err(ApiError::from)).await?;
    Ok(HttpResponse::NoContent().finish())
}
