//! `/admin/v1/caches/{cache}`: create, reconfigure (`PUT`, or `PATCH`
//! with a JSON merge patch), read and delete a cache; `/admin/v1/caches/{cache}/flush`. Every action needs the admin
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
    reconfigure(
        &state,
        &req,
        principal,
        name,
        dto,
        expected_version,
        explicit,
    )
    .await
}

/// Validates `dto`, audits the change (`configure`) and applies it at
/// `expected_version`, naming `explicit` settings: the shared tail of
/// `PUT` and `PATCH`.
async fn reconfigure(
    state: &AppState,
    req: &HttpRequest,
    principal: strata_domain::Principal,
    name: strata_domain::CacheName,
    dto: CacheConfigurationDto,
    expected_version: Option<u64>,
    explicit: std::collections::BTreeSet<String>,
) -> Result<HttpResponse, ApiError> {
    let config = dto
        .into_domain(name.clone())
        .map_err(|e| ApiError::invalid_configuration(e.field, e.reason))?;
    let summary = serde_json::to_string(&CacheConfigurationDto::from(&config)).unwrap_or_default();
    let audit = Audit::begin(
        state,
        req,
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
    let out = audit.finish(state, result).await?;
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

/// `application/merge-patch+json` (RFC 7396).
const MERGE_PATCH: &str = "application/merge-patch+json";

/// Change only the settings a JSON merge patch (RFC 7396) names.
///
/// The patch is merged into the configuration in force (as `GET` shows
/// it): a member sets that setting, `null` returns it to its default, an
/// absent one keeps it. The result is validated and applied as a `PUT`
/// would, at the `If-Match` version, or else at the version the patch was
/// merged into (so a change that lands in between is a 409, never lost).
/// The patched settings are then reported as `runtime` sources; a setting
/// set to `null` as `default`.
#[utoipa::path(
    patch,
    path = "/admin/v1/caches/{cache}",
    operation_id = "patch_configuration",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name"), ("If-Match" = Option<String>, Header, description = "The configuration version (`ETag` of a `GET`) this patch applies to, e.g. `\"3\"`; a stale one is 409 `version_conflict`. Absent, the patch applies to the version in force when it is read.")),
    request_body(content = CacheConfigurationDto, content_type = "application/merge-patch+json", description = "A JSON merge patch (RFC 7396) of the configuration: an object whose members are settings as in `PUT`; `null` resets a setting to its default", example = json!({"eviction": "lru"})),
    responses(
        (status = 200, description = "Reconfigured: the configuration now in force", body = ConfigureResponse, headers(("ETag" = String, description = "The new configuration version")), example = json!({"name": "sessions", "configuration": {"tiers": ["memory"], "eviction": "lru", "max_entries": 1000, "default_ttl": 3600, "max_value_bytes": 1048576, "compression": "zstd", "compression_threshold_bytes": 1024}, "migrated_entries": 12, "version": 2})),
        (status = 400, description = "The body is not a JSON object, or the merged configuration names an unknown setting", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:invalid_body", "title": "Invalid body", "status": 400, "detail": "a merge patch must be a JSON object", "code": "invalid_body"})),
        (status = 404, description = "No such cache (`PATCH` does not create one; use `PUT`)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:cache_not_found", "title": "Cache not found", "status": 404, "detail": "cache sessions does not exist", "code": "cache_not_found"})),
        (status = 409, description = "`version_conflict`: `If-Match` names a version the configuration is no longer at", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:version_conflict", "title": "Version conflict", "status": 409, "detail": "If-Match names version 9 but the configuration is at version 1: read it again (GET), then retry with If-Match: \"1\"", "code": "version_conflict", "current_version": 1})),
        (status = 415, description = "The body is not `application/merge-patch+json`", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:unsupported_media_type", "title": "Unsupported media type", "status": 415, "detail": "application/json is not accepted; send application/merge-patch+json", "code": "unsupported_media_type"})),
        (status = 422, description = "The merged configuration is invalid", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:invalid_configuration", "title": "Invalid configuration", "status": 422, "detail": "eviction: unknown policy", "code": "invalid_configuration", "field": "eviction"})),
        (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let name = cache_name(&cache)?;
    let stored = state
        .service
        .configuration(GetConfiguration {
            principal: principal.clone(),
            cache: name.clone(),
        })
        .await?;
    let expected_version = match if_match(&req) {
        IfMatch::Any => stored.version,
        IfMatch::Version(v) if v == stored.version => v,
        IfMatch::Version(v) => {
            return Err(ApiError::version_conflict(Some(v), Some(stored.version)));
        }
        IfMatch::Never => return Err(ApiError::version_conflict(Some(0), Some(stored.version))),
    };
    let essence = crate::http::codec::content_type_essence(&req);
    if essence.as_deref() != Some(MERGE_PATCH) {
        return Err(ApiError::unsupported_media_type(format!(
            "{} is not accepted; send {MERGE_PATCH}",
            essence.as_deref().unwrap_or("a body without Content-Type")
        )));
    }
    let patch: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid_body(format!("invalid JSON: {e}")))?;
    let serde_json::Value::Object(members) = &patch else {
        return Err(ApiError::invalid_body(
            "a merge patch must be a JSON object",
        ));
    };
    let mut explicit = stored.provenance.explicit.clone();
    for (setting, value) in members {
        if value.is_null() {
            explicit.remove(setting);
        } else if crate::edge::config_dto::SETTINGS.contains(&setting.as_str()) {
            explicit.insert(setting.clone());
        }
    }
    let mut document = serde_json::to_value(CacheConfigurationDto::from(&stored.config))
        .map_err(ApiError::internal)?;
    json_patch::merge(&mut document, &patch);
    let dto: CacheConfigurationDto = serde_json::from_value(document)
        .map_err(|e| ApiError::invalid_body(format!("the patched configuration: {e}")))?;
    reconfigure(
        &state,
        &req,
        principal,
        name,
        dto,
        Some(expected_version),
        explicit,
    )
    .await
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

/// Query of the destructive operations (flush, delete of a cache,
/// invalidation by pattern or tags): `confirm=<cache name>`, required when
/// the cache has `confirm_destructive` on (428 `confirmation_required`
/// otherwise), ignored when it has not.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConfirmParams {
    /// The cache's name, typed again.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", example = "sessions")]
    pub confirm: Option<String>,
}

impl ConfirmParams {
    /// The parameter names, for
    /// [`AcceptedQuery`](crate::edge::params::AcceptedQuery).
    pub const PARAMS: &'static [&'static str] = &["confirm"];
}

/// Delete a cache and its entries. A cache the configuration file names
/// comes back, as the file seeds it, at the next start-up.
#[utoipa::path(
    delete,
    path = "/admin/v1/caches/{cache}",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name"), ConfirmParams),
    responses((status = 204, description = "Deleted"), (status = 428, description = "The cache has `confirm_destructive` on and `confirm` does not name it (`confirmation_required`)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:confirmation_required", "title": "Confirmation required", "status": 428, "detail": "cache sessions has confirm_destructive on: repeat the request with confirm=sessions", "code": "confirmation_required", "field": "confirm"})), (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:cache_not_found", "title": "Cache not found", "status": 404, "detail": "cache sessions does not exist", "code": "cache_not_found"})), (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"), (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"))
)]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    params: web::Query<ConfirmParams>,
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
        .delete_cache(DeleteCache {
            principal,
            cache,
            confirm: params.into_inner().confirm,
        })
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
    params(("cache" = String, Path, description = "Cache name"), ConfirmParams),
    responses((status = 204, description = "Flushed"), (status = 428, description = "The cache has `confirm_destructive` on and `confirm` does not name it (`confirmation_required`)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:confirmation_required", "title": "Confirmation required", "status": 428, "detail": "cache sessions has confirm_destructive on: repeat the request with confirm=sessions", "code": "confirmation_required", "field": "confirm"})), (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:cache_not_found", "title": "Cache not found", "status": 404, "detail": "cache sessions does not exist", "code": "cache_not_found"})), (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"), (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"))
)]
pub(crate) async fn flush(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    params: web::Query<ConfirmParams>,
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
            confirm: params.into_inner().confirm,
        })
        .await;
    count_outcome(&state.service, &cache, "flush", &result);
    audit.finish(&state, result.map_err(ApiError::from)).await?;
    Ok(HttpResponse::NoContent().finish())
}
