//! The build cache's admin API: `POST /admin/v1/cache/ac/flush`,
//! `POST /admin/v1/cache/cas/flush` and `GET /admin/v1/cache/stats`.
//! The targets are REAPI's names, as in every answer's `target` (`ac` or
//! `cas`) and the metrics' `target` label; `POST
//! /admin/v1/cache/action/flush`, the AC flush's first path, stays as an
//! alias of `/ac/flush`.
//!
//! - **Body.** [`FlushRequest`], validated with the `validator` crate:
//!   an unknown `scope`, bad hex, an empty or over-long digest list or a
//!   zero `older_than_secs` is 422 `invalid_flush_request` naming the
//!   `field`; a field a scope needs but lacks is the same 422 naming it.
//!   A body that is not JSON of this shape (or has unknown fields) is 400
//!   `invalid_body`.
//! - **Access.** The admin role on `build-cache`; each flush first takes a
//!   token from the principal's admin bucket (`[auth.rate_limits]`), and
//!   is audited (`flush` on the cache `build-cache`, with `target`,
//!   `scope`, `dry_run`, and on success `entries_removed`,
//!   `bytes_reclaimed` and `partial`).
//! - **Partial failure.** When one store fails and others were flushed
//!   the answer is still 200, with `partial: true` and the failing stores
//!   in `failed_stores` (each store's `errors` say why): the request did
//!   act, and a 207 would need a multi-status body no client expects.
//! - **Metrics.** `strata_build_cache_flush_total{target,scope,result}`
//!   (`ok`, `partial`, `error`), and, for real flushes,
//!   `strata_build_cache_flush_entries_removed_total{target}` and
//!   `strata_build_cache_flush_bytes_reclaimed_total{target}`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_application::build_cache::BUILD_CACHE_NAME;
use strata_application::build_cache::flush_action_cache::FlushActionCache;
use strata_application::build_cache::flush_content_store::FlushContentStore;
use strata_application::build_cache::get_build_cache_stats::GetBuildCacheStats;
use strata_domain::{
    AuditAction, CacheName, DigestHash, DigestPrefix, FlushCriteria, FlushResult, FlushScope,
    InstanceName, StoreKind, StoreUsage,
};
use validator::{Validate, ValidationError, ValidationErrors};

use crate::edge::audited::Audit;
use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;
use crate::http::body::Body;

/// Most digests one `digests` flush may name.
pub const MAX_FLUSH_DIGESTS: u64 = 10_000;

/// The scopes a flush request may name.
const SCOPES: [&str; 5] = ["all", "instance", "digests", "digest_prefix", "older_than"];

/// A flush of the action cache or the CAS.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scope": "digest_prefix", "digest_prefix": "ab12", "instance_name": "team-a", "dry_run": true}))]
pub struct FlushRequest {
    /// `all`, `instance` (needs `instance_name`), `digests` (needs
    /// `digests`), `digest_prefix` (needs `digest_prefix`) or
    /// `older_than` (needs `older_than_secs`: entries last accessed more
    /// than this long ago).
    #[validate(custom(function = "known_scope"))]
    #[schema(pattern = "^(all|instance|digests|digest_prefix|older_than)$")]
    pub scope: String,
    /// The instance (the HTTP path prefix; `""` is the default one). For
    /// scope `instance` it is what goes; for the others it narrows the
    /// flush to that instance.
    #[validate(custom(function = "valid_instance_name"))]
    pub instance_name: Option<String>,
    /// SHA-256 hashes (64 lowercase hex) of AC keys or CAS blobs, 1 to
    /// [`MAX_FLUSH_DIGESTS`] of them.
    #[validate(
        length(
            min = 1,
            max = MAX_FLUSH_DIGESTS,
            message = "give 1 to 10000 hashes: an empty list would flush nothing (scope \"all\" flushes everything), and a longer one is split over several requests"
        ),
        custom(function = "hashes")
    )]
    #[schema(min_items = 1, max_items = 10000)]
    pub digests: Option<Vec<String>>,
    /// A lowercase hex prefix of 1 to 64 characters.
    #[validate(custom(function = "hex_prefix"))]
    #[schema(pattern = "^[0-9a-f]{1,64}$")]
    pub digest_prefix: Option<String>,
    /// Seconds; at least 1.
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "crate::edge::config_dto::whole_number")]
    pub older_than_secs: Option<u64>,
    /// Report what would go, per store, and remove nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn known_scope(scope: &str) -> Result<(), ValidationError> {
    if SCOPES.contains(&scope) {
        Ok(())
    } else {
        Err(ValidationError::new("scope")
            .with_message("expected all, instance, digests, digest_prefix or older_than".into()))
    }
}

fn valid_instance_name(name: &str) -> Result<(), ValidationError> {
    InstanceName::parse(name)
        .map(|_| ())
        .map_err(|e| ValidationError::new("instance_name").with_message(e.to_string().into()))
}

fn hashes(digests: &[String]) -> Result<(), ValidationError> {
    for d in digests {
        DigestHash::parse(d).map_err(|e| {
            ValidationError::new("digests").with_message(format!("{d:?}: {e}").into())
        })?;
    }
    Ok(())
}

fn hex_prefix(prefix: &str) -> Result<(), ValidationError> {
    DigestPrefix::parse(prefix)
        .map(|_| ())
        .map_err(|e| ValidationError::new("digest_prefix").with_message(e.to_string().into()))
}

fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::with_code(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_flush_request",
        "Invalid flush request",
        detail,
    )
    .field(field)
}

/// The first failing field of `errors`, as a 422.
fn first_error(errors: &ValidationErrors) -> ApiError {
    let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    match fields.first() {
        Some((field, errs)) => {
            let detail = errs
                .iter()
                .map(|e| {
                    e.message
                        .as_ref()
                        .map_or_else(|| e.code.to_string(), |m| m.to_string())
                })
                .collect::<Vec<_>>()
                .join("; ");
            invalid(field, format!("{field}: {detail}"))
        }
        None => invalid("scope", errors.to_string()),
    }
}

fn required(field: &str, scope: &str) -> ApiError {
    invalid(field, format!("scope {scope:?} needs {field}"))
}

impl FlushRequest {
    /// The domain's criteria.
    ///
    /// # Errors
    /// 422 `invalid_flush_request` naming the field.
    pub fn into_criteria(self) -> Result<FlushCriteria, ApiError> {
        self.validate().map_err(|e| first_error(&e))?;
        let instance = self
            .instance_name
            .as_deref()
            .map(InstanceName::parse)
            .transpose()
            .map_err(|e| invalid("instance_name", e.to_string()))?;
        let scope = match self.scope.as_str() {
            "all" => FlushScope::All,
            "instance" => FlushScope::Instance(
                instance
                    .clone()
                    .ok_or_else(|| required("instance_name", "instance"))?,
            ),
            "digests" => {
                let digests = self.digests.ok_or_else(|| required("digests", "digests"))?;
                let parsed: Result<Vec<_>, _> =
                    digests.iter().map(|d| DigestHash::parse(d)).collect();
                FlushScope::Digests(parsed.map_err(|e| invalid("digests", e.to_string()))?)
            }
            "digest_prefix" => {
                let prefix = self
                    .digest_prefix
                    .ok_or_else(|| required("digest_prefix", "digest_prefix"))?;
                FlushScope::DigestPrefix(
                    DigestPrefix::parse(&prefix)
                        .map_err(|e| invalid("digest_prefix", e.to_string()))?,
                )
            }
            "older_than" => FlushScope::OlderThan(Duration::from_secs(
                self.older_than_secs
                    .ok_or_else(|| required("older_than_secs", "older_than"))?,
            )),
            other => return Err(invalid("scope", format!("unknown scope {other:?}"))),
        };
        let mut criteria = FlushCriteria::new(scope).dry_run(self.dry_run);
        if let Some(instance) = instance
            && !matches!(criteria.scope, FlushScope::Instance(_))
        {
            criteria = criteria.instance(instance);
        }
        Ok(criteria)
    }
}

/// What one store removed (or would remove, in a dry run).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreFlushDto {
    /// `memory`, `disk`, `redis`, ...
    pub store: String,
    /// Entries removed.
    pub entries_removed: u64,
    /// Bytes of those entries.
    pub bytes_reclaimed: u64,
    /// Milliseconds the store took.
    pub duration_ms: u64,
    /// Why this store was not (fully) flushed; empty on success.
    pub errors: Vec<String>,
}

/// The sums over every store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlushTotals {
    /// Entries removed over every store (a copy in each of two stacked
    /// tiers counts twice).
    pub entries_removed: u64,
    /// Bytes reclaimed over every store.
    pub bytes_reclaimed: u64,
    /// Milliseconds over every store.
    pub duration_ms: u64,
}

/// The answer of a flush.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"target": "cas", "dry_run": false, "partial": false, "failed_stores": [], "stores": [{"store": "memory", "entries_removed": 3, "bytes_reclaimed": 4096, "duration_ms": 0, "errors": []}], "totals": {"entries_removed": 3, "bytes_reclaimed": 4096, "duration_ms": 0}, "dangling_ac_entries": 1}))]
pub struct FlushResponse {
    /// `ac` or `cas`.
    pub target: String,
    /// Whether nothing was removed.
    pub dry_run: bool,
    /// Whether some store failed while others were flushed.
    pub partial: bool,
    /// The stores that failed.
    pub failed_stores: Vec<String>,
    /// One report per store, memory first.
    pub stores: Vec<StoreFlushDto>,
    /// Sums over `stores`.
    pub totals: FlushTotals,
    /// CAS flushes: validated AC entries that now reference a missing blob
    /// (they answer 404 from then on); absent for AC flushes and dry runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dangling_ac_entries: Option<u64>,
}

impl From<&FlushResult> for FlushResponse {
    fn from(r: &FlushResult) -> Self {
        Self {
            target: r.target.as_str().to_owned(),
            dry_run: r.dry_run,
            partial: r.is_partial(),
            failed_stores: r.failed_stores().into_iter().map(str::to_owned).collect(),
            stores: r
                .stores
                .iter()
                .map(|s| StoreFlushDto {
                    store: s.store.clone(),
                    entries_removed: s.entries_removed,
                    bytes_reclaimed: s.bytes_reclaimed,
                    duration_ms: s.duration_ms,
                    errors: s.errors.clone(),
                })
                .collect(),
            totals: FlushTotals {
                entries_removed: r.entries_removed(),
                bytes_reclaimed: r.bytes_reclaimed(),
                duration_ms: r.stores.iter().map(|s| s.duration_ms).sum(),
            },
            dangling_ac_entries: r.dangling_ac_entries,
        }
    }
}

fn build_cache_name() -> Result<CacheName, ApiError> {
    CacheName::parse(BUILD_CACHE_NAME).map_err(ApiError::internal)
}

/// Flush the action cache by scope.
#[utoipa::path(
    post,
    path = "/admin/v1/cache/ac/flush",
    tag = "build-cache",
    request_body(content = FlushRequest, content_type = "application/json", example = json!({"scope": "instance", "instance_name": "team-a"})),
    responses(
        (status = 200, description = "Flushed (or, with `dry_run`, what would go); `partial: true` when a store failed", body = FlushResponse, example = json!({"target": "ac", "dry_run": false, "partial": false, "failed_stores": [], "stores": [{"store": "memory", "entries_removed": 12, "bytes_reclaimed": 2048, "duration_ms": 0, "errors": []}], "totals": {"entries_removed": 12, "bytes_reclaimed": 2048, "duration_ms": 0}})),
        (status = 400, description = "Not a JSON flush request", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The build cache is not enabled", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`invalid_flush_request`, `field` names it)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn flush_action_cache(
    state: web::Data<AppState>,
    req: HttpRequest,
    acting: Acting,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    flush(&state, &req, acting, &body, StoreKind::Ac).await
}

/// Flush the CAS by scope.
#[utoipa::path(
    post,
    path = "/admin/v1/cache/cas/flush",
    tag = "build-cache",
    request_body(content = FlushRequest, content_type = "application/json", example = json!({"scope": "digest_prefix", "digest_prefix": "ab12", "dry_run": true})),
    responses(
        (status = 200, description = "Flushed (or, with `dry_run`, what would go), with the AC entries left dangling; `partial: true` when a store failed", body = FlushResponse, example = json!({"target": "cas", "dry_run": true, "partial": false, "failed_stores": [], "stores": [{"store": "memory", "entries_removed": 3, "bytes_reclaimed": 4096, "duration_ms": 0, "errors": []}], "totals": {"entries_removed": 3, "bytes_reclaimed": 4096, "duration_ms": 0}})),
        (status = 400, description = "Not a JSON flush request", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The build cache is not enabled", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`invalid_flush_request`, `field` names it)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Admin rate limit (`[auth.rate_limits]`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot be written (`audit_unavailable`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn flush_content_store(
    state: web::Data<AppState>,
    req: HttpRequest,
    acting: Acting,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    flush(&state, &req, acting, &body, StoreKind::Cas).await
}

async fn flush(
    state: &AppState,
    req: &HttpRequest,
    Acting(principal): Acting,
    body: &[u8],
    target: StoreKind,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admin(&principal)?;
    let service = state
        .build_cache
        .clone()
        .ok_or_else(|| ApiError::not_configured("the build cache is not enabled"))?;
    let request: FlushRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_body(format!("invalid flush request: {e}")))?;
    let criteria = request.into_criteria()?;
    let scope = criteria.scope.as_str();
    let mut audit = Audit::begin(
        state,
        req,
        &principal,
        AuditAction::Flush,
        &build_cache_name()?,
        vec![
            ("target".to_owned(), target.as_str().to_owned()),
            ("scope".to_owned(), scope.to_owned()),
            ("dry_run".to_owned(), criteria.dry_run.to_string()),
        ],
    )
    .await?;
    let result = match target {
        StoreKind::Ac => service
            .flush_action_cache(FlushActionCache {
                principal,
                criteria,
            })
            .await
            .map_err(ApiError::from),
        StoreKind::Cas => service
            .flush_content_store(FlushContentStore {
                principal,
                criteria,
            })
            .await
            .map_err(ApiError::from),
    };
    let outcome = match &result {
        Ok(r) if r.is_partial() => "partial",
        Ok(_) => "ok",
        Err(_) => "error",
    };
    metrics::counter!("strata_build_cache_flush_total", "target" => target.as_str(), "scope" => scope, "result" => outcome).increment(1);
    if let Ok(r) = &result {
        audit.note("entries_removed", r.entries_removed().to_string());
        audit.note("bytes_reclaimed", r.bytes_reclaimed().to_string());
        audit.note("partial", r.is_partial().to_string());
        if !r.dry_run {
            metrics::counter!("strata_build_cache_flush_entries_removed_total", "target" => target.as_str())
                .increment(r.entries_removed());
            metrics::counter!("strata_build_cache_flush_bytes_reclaimed_total", "target" => target.as_str())
                .increment(r.bytes_reclaimed());
        }
    }
    let result = audit.finish(state, result).await?;
    Ok(HttpResponse::Ok().json(FlushResponse::from(&result)))
}

/// One store kind's counters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreStatsDto {
    /// Entries (AC entries or CAS blobs) over every store.
    pub entries: u64,
    /// Bytes over every store.
    pub bytes: u64,
    /// Reads that found the entry.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
    /// The same per store, memory first.
    pub stores: Vec<StoreUsageDto>,
}

/// One store's counters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreUsageDto {
    /// `memory`, `disk`, ...
    pub store: String,
    /// Entries held.
    pub entries: u64,
    /// Bytes held.
    pub bytes: u64,
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
}

impl From<&[StoreUsage]> for StoreStatsDto {
    fn from(stores: &[StoreUsage]) -> Self {
        Self {
            entries: stores.iter().map(|s| s.entries).sum(),
            bytes: stores.iter().map(|s| s.bytes).sum(),
            hits: stores.iter().map(|s| s.hits).sum(),
            misses: stores.iter().map(|s| s.misses).sum(),
            stores: stores
                .iter()
                .map(|s| StoreUsageDto {
                    store: s.store.clone(),
                    entries: s.entries,
                    bytes: s.bytes,
                    hits: s.hits,
                    misses: s.misses,
                })
                .collect(),
        }
    }
}

/// The build cache's statistics.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BuildCacheStatsResponse {
    /// The action cache.
    pub ac: StoreStatsDto,
    /// The CAS.
    pub cas: StoreStatsDto,
    /// Every REAPI instance seen since the server started, by name
    /// (`default` for the unnamed one), with its reads that hit and
    /// missed, AC and CAS together; its trends are at
    /// `GET /admin/v1/cache/trends?instance=<name>`. Instances share the
    /// stores, so they have no entries or bytes of their own.
    pub instances: Vec<InstanceUsageDto>,
}

/// One REAPI instance's reads.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstanceUsageDto {
    /// The instance's name, `default` for the unnamed one, or `_other`
    /// for the instances beyond the first 256.
    pub instance: String,
    /// Reads that found what they asked for.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
}

/// The build cache's AC and CAS counters (reader role on `build-cache`).
#[utoipa::path(
    get,
    path = "/admin/v1/cache/stats",
    operation_id = "build_cache_stats",
    tag = "build-cache",
    responses(
        (status = 200, description = "AC entries, CAS blobs, bytes, hits and misses", body = BuildCacheStatsResponse, example = json!({"ac": {"entries": 2, "bytes": 310, "hits": 5, "misses": 2, "stores": [{"store": "memory", "entries": 2, "bytes": 310, "hits": 5, "misses": 2}]}, "cas": {"entries": 9, "bytes": 81920, "hits": 14, "misses": 9, "stores": [{"store": "memory", "entries": 9, "bytes": 81920, "hits": 14, "misses": 9}]}, "instances": [{"instance": "default", "hits": 19, "misses": 11}]})),
        (status = 404, description = "The build cache is not enabled", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stats(
    state: web::Data<AppState>,
    Acting(principal): Acting,
) -> Result<HttpResponse, ApiError> {
    let service = state
        .build_cache
        .clone()
        .ok_or_else(|| ApiError::not_configured("the build cache is not enabled"))?;
    let stats = service.stats(GetBuildCacheStats { principal }).await?;
    Ok(HttpResponse::Ok().json(BuildCacheStatsResponse {
        ac: StoreStatsDto::from(stats.ac.as_slice()),
        cas: StoreStatsDto::from(stats.cas.as_slice()),
        instances: stats
            .instances
            .into_iter()
            .map(|u| InstanceUsageDto {
                instance: u.instance,
                hits: u.hits,
                misses: u.misses,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: serde_json::Value) -> Result<FlushCriteria, ApiError> {
        serde_json::from_value::<FlushRequest>(json)
            .unwrap()
            .into_criteria()
    }

    fn field_of(e: ApiError) -> Option<String> {
        e.problem(None).field.map(str::to_owned)
    }

    #[test]
    fn each_scope_needs_its_field_and_names_it() {
        use serde_json::json;
        assert_eq!(
            req(json!({"scope": "all"})).unwrap(),
            FlushCriteria::new(FlushScope::All)
        );
        for (scope, field) in [
            ("instance", "instance_name"),
            ("digests", "digests"),
            ("digest_prefix", "digest_prefix"),
            ("older_than", "older_than_secs"),
        ] {
            let e = req(json!({ "scope": scope })).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(field_of(e).as_deref(), Some(field), "{scope}");
        }
        for (body, field) in [
            (json!({"scope": "everything"}), "scope"),
            (json!({"scope": "digests", "digests": ["xyz"]}), "digests"),
            (json!({"scope": "digests", "digests": []}), "digests"),
            (
                json!({"scope": "digest_prefix", "digest_prefix": "AB"}),
                "digest_prefix",
            ),
            (
                json!({"scope": "older_than", "older_than_secs": 0}),
                "older_than_secs",
            ),
            (
                json!({"scope": "all", "instance_name": "a//b"}),
                "instance_name",
            ),
        ] {
            let e = req(body.clone()).unwrap_err();
            assert_eq!(field_of(e).as_deref(), Some(field), "{body}");
        }
        let c = req(json!({"scope": "older_than", "older_than_secs": 60, "instance_name": "t", "dry_run": true}))
            .unwrap();
        assert_eq!(c.scope, FlushScope::OlderThan(Duration::from_secs(60)));
        assert_eq!(c.instance, Some(InstanceName::parse("t").unwrap()));
        assert!(c.dry_run);
    }

    #[test]
    fn an_empty_digest_list_is_explained_in_a_sentence() {
        let e = req(serde_json::json!({"scope": "digests", "digests": []})).unwrap_err();
        let detail = e.problem(None).detail.to_owned();
        assert_ne!(detail, "digests: length");
        assert!(detail.contains("empty list"), "{detail}");
        assert!(
            detail.contains(&MAX_FLUSH_DIGESTS.to_string()),
            "the limit in the message is MAX_FLUSH_DIGESTS: {detail}"
        );
    }
}
