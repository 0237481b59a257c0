//! `/admin/v1/caches/{cache}`: create, reconfigure, read and delete a
//! cache; `/admin/v1/caches/{cache}/flush`. Every action needs the admin
//! role and is audited (a `ConfigurationChanged` or `CacheFlushed` event).
//! Create/reconfigure, delete and flush take a token from the principal's
//! admin bucket first (`[auth.rate_limits]`, [`crate::edge::rate_limit`]).
//! With an audit log, create/reconfigure, delete and flush append an
//! `attempt` record before they run and an outcome record before the
//! response ([`crate::edge::audited::Audit`]); either failing is 503
//! `audit_unavailable`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use strata_application::commands::configure_cache::ConfigureCache;
use strata_application::commands::delete_cache::DeleteCache;
use strata_application::commands::flush_cache::FlushCache;
use strata_application::queries::get_configuration::GetConfiguration;
use strata_domain::AuditAction;

use crate::edge::audited::Audit;

use crate::edge::auth::Acting;
use crate::edge::config_dto::CacheConfigurationDto;
use crate::edge::error::ApiError;
use crate::edge::metrics::count_outcome;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;
use crate::http::body::Body;
use crate::http::codec::decode;

/// Answer of a configuration change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigureResponse {
    /// Cache name.
    pub name: String,
    /// The configuration now in force, defaults filled in.
    pub configuration: CacheConfigurationDto,
    /// Entries moved into a new store by this change.
    pub migrated_entries: u64,
    /// The configuration's version after this change (also the `ETag`).
    pub version: u64,
}

/// What an `If-Match` header asks for.
enum IfMatch {
    /// No header, or `*`: apply on top of the latest version.
    Any,
    /// This version.
    Version(u64),
    /// An entity tag that is no configuration version: it matches none.
    Never,
}

/// Reads `If-Match`: one quoted version (`"3"`, also `W/"3"` or bare `3`).
fn if_match(req: &HttpRequest) -> IfMatch {
    let Some(value) = req.headers().get(actix_web::http::header::IF_MATCH) else {
        return IfMatch::Any;
    };
    let Ok(text) = value.to_str().map(str::trim) else {
        return IfMatch::Never;
    };
    if text == "*" {
        return IfMatch::Any;
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
        .parse::<u64>()
        .map_or(IfMatch::Never, IfMatch::Version)
}

/// The `ETag` of configuration `version`.
fn version_etag(version: u64) -> (actix_web::http::header::HeaderName, String) {
    (actix_web::http::header::ETAG, format!("\"{version}\""))
}

/// Create or reconfigure a cache.
#[utoipa::path(
    put,
    path = "/admin/v1/caches/{cache}",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name"), ("If-Match" = Option<String>, Header, description = "The configuration version (`ETag` of a `GET`) this change applies to, e.g. `\"3\"`; a stale one is 409 `version_conflict`. Absent, the change applies on top of the latest version.")),
    request_body(content = CacheConfigurationDto, content_type = "application/json", example = json!({"tiers": ["memory"], "eviction": "lru", "max_entries": 1000, "default_ttl": 3600})),
    responses(
        (status = 201, description = "Created", body = ConfigureResponse, headers(("ETag" = String, description = "The new configuration version")), example = json!({"name": "sessions", "configuration": {"tiers": ["memory"], "eviction": "lru", "max_entries": 1000, "default_ttl": 3600, "max_value_bytes": 1048576, "compression": "zstd", "compression_threshold_bytes": 1024}, "migrated_entries": 0, "version": 1})),
        (status = 200, description = "Reconfigured", body = ConfigureResponse, headers(("ETag" = String, description = "The new configuration version"))),
        (status = 400, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version_conflict`: `If-Match` names a version the configuration is no longer at; `current_version` says where it is", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:version_conflict", "title": "Version conflict", "status": 409, "detail": "If-Match names version 9 but the configuration is at version 1: read it again (GET), then retry with If-Match: \"1\"", "code": "version_conflict", "current_version": 1})),
        (status = 422, description = "Invalid configuration", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn configure(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let name = cache_name(&cache)?;
    let expected_version = match if_match(&req) {
        IfMatch::Any => None,
        IfMatch::Version(v) => Some(v),
        // As RFC 9110 says of a tag that matches no current one: refused,
        // as a conflict naming the version the cache is at.
        IfMatch::Never => {
            let current = state.service.registry().get(&name).map(|c| c.version());
            return Err(ApiError::version_conflict(Some(0), current));
        }
    };
    let dto: CacheConfigurationDto = decode(&req, &body)?;
    let explicit = dto.named_settings();
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
            expected_version,
            explicit: Some(explicit),
        })
        .await
        .map_err(ApiError::from);
    let out = audit.finish(&state, result).await?;
    let body = ConfigureResponse {
        name: name.as_str().to_owned(),
        configuration: CacheConfigurationDto::from(&config),
        migrated_entries: out.migrated,
        version: out.version,
    };
    let mut response = if out.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.insert_header(version_etag(out.version)).json(body))
}

/// Read a cache's configuration.
#[utoipa::path(
    get,
    path = "/admin/v1/caches/{cache}",
    operation_id = "read_configuration",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name")),
    responses((status = 200, description = "The configuration in force on this instance, with its `version` and each setting's `sources`", body = CacheConfigurationDto, headers(("ETag" = String, description = "The configuration version, for `If-Match`")), example = json!({"tiers": ["memory"], "eviction": "lru", "max_entries": 1000, "default_ttl": 3600, "max_value_bytes": 1048576, "compression": "zstd", "compression_threshold_bytes": 1024, "version": 1, "sources": {"compression": "default", "compression_threshold_bytes": "default", "default_ttl": "runtime", "encryption_key_id": "default", "eviction": "runtime", "l1_max_ttl": "default", "max_bytes": "default", "max_entries": "runtime", "max_value_bytes": "default", "persist": "default", "snapshot_interval_secs": "default", "tiers": "runtime"}})), (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"))
)]
pub(crate) async fn read(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let stored = state
        .service
        .configuration(GetConfiguration { principal, cache })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(version_etag(stored.version))
        .json(CacheConfigurationDto::from_stored(&stored)))
}

/// Delete a cache and its entries. A cache the configuration file names
/// comes back, as the file seeds it, at the next start-up.
#[utoipa::path(
    delete,
    path = "/admin/v1/caches/{cache}",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:cache_not_found", "title": "Cache not found", "status": 404, "detail": "cache sessions does not exist", "code": "cache_not_found"})), (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"), (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"))
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
    responses((status = 204, description = "Flushed"), (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:cache_not_found", "title": "Cache not found", "status": 404, "detail": "cache sessions does not exist", "code": "cache_not_found"})), (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"), (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"))
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
