//! `/v1/caches/{cache}/invalidations`: remove entries by keys, glob
//! pattern or tags. With an audit log, invalidations by pattern or tags
//! are audited as admin operations are ([`crate::edge::audited::Audit`]);
//! invalidations by keys are not.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_application::commands::invalidate_entries::InvalidateEntries;
use strata_domain::{AuditAction, InvalidationCount, InvalidationSelector, KeyPattern};

use crate::edge::audited::Audit;

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::metrics::count_outcome;
use crate::edge::params::{cache_key, cache_name, tags};
use crate::edge::state::AppState;
use crate::http::body::Body;
use crate::http::codec::{decode, encode};

/// Exactly one of `keys`, `pattern` and `tags`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidationRequest {
    /// Keys to remove (1 to 1000).
    #[serde(default)]
    #[schema(schema_with = crate::edge::schemas::key_batch)]
    pub keys: Option<Vec<String>>,
    /// A glob with Redis `SCAN MATCH` semantics: `*`, `?`, `[a-z]`, `[^a]`, `\` escapes.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 250)]
    pub pattern: Option<String>,
    /// Remove every entry carrying any of these tags (1 to 1000).
    #[serde(default)]
    #[schema(schema_with = crate::edge::schemas::tag_batch)]
    pub tags: Option<Vec<String>>,
    /// Count the entries the selector picks and remove nothing (default
    /// false). Patterns and tags are counted by walking the cache, so a
    /// store that cannot list its keys (Memcached) answers 422. Needs no
    /// `confirm` and is not audited.
    #[serde(default)]
    pub dry_run: bool,
}

/// How many entries were removed: `{"invalidated": 2, "counted": true}`,
/// or `{"invalidated": null, "counted": false}` when the backend removed
/// the entries but cannot count them (a tag invalidation on Memcached,
/// alone or under a memory L1: docs/backends.md).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(examples(
    json!({"invalidated": 2, "counted": true}),
    json!({"invalidated": null, "counted": false})
))]
pub struct InvalidationResponse {
    /// Count of removed entries (with `dry_run`: of entries that would be
    /// removed); `null` when `counted` is false.
    pub invalidated: Option<u64>,
    /// Whether `invalidated` is an exact count. False only where the
    /// backend cannot count what it removes (tags on Memcached); the
    /// entries are gone either way.
    pub counted: bool,
}

impl From<InvalidationCount> for InvalidationResponse {
    fn from(count: InvalidationCount) -> Self {
        Self {
            invalidated: count.exact(),
            counted: count.exact().is_some(),
        }
    }
}

/// Invalidate entries (or, with `dry_run`, count what would go).
#[utoipa::path(
    post,
    path = "/v1/caches/{cache}/invalidations",
    tag = "entries",
    params(("cache" = String, Path, description = "Cache name"), crate::http::admin::ConfirmParams),
    request_body(content = InvalidationRequest, content_type = "application/json", example = json!({"tags": ["users"]})),
    responses(
        (status = 200, body = InvalidationResponse),
        (status = 400, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The backend cannot select this way", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "A pattern or tags on a cache with `confirm_destructive` on, without `confirm` naming it (`confirmation_required`)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:confirmation_required", "title": "Confirmation required", "status": 428, "detail": "cache sessions has confirm_destructive on: repeat the request with confirm=sessions", "code": "confirmation_required", "field": "confirm"})),
        (status = 503, description = "The audit log cannot be written (`audit_unavailable`, pattern and tag selectors)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn invalidate(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    params: web::Query<crate::http::admin::ConfirmParams>,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let request: InvalidationRequest = decode(&req, &body)?;
    let dry_run = request.dry_run;
    let selector = match (request.keys, request.pattern, request.tags) {
        (Some(keys), None, None) => InvalidationSelector::Keys(
            keys.iter()
                .map(|k| cache_key(k))
                .collect::<Result<_, _>>()?,
        ),
        (None, Some(pattern), None) => InvalidationSelector::Pattern(
            KeyPattern::parse(&pattern)
                .map_err(|e| ApiError::invalid_parameter(e.to_string()).field("pattern"))?,
        ),
        (None, None, Some(t)) => InvalidationSelector::Tags(tags(t.iter().map(String::as_str))?),
        _ => {
            return Err(ApiError::invalid_body(
                "give exactly one of keys, pattern and tags",
            ));
        }
    };
    let audited = match &selector {
        _ if dry_run => None,
        InvalidationSelector::Keys(_) => None,
        InvalidationSelector::Pattern(p) => Some(("pattern", p.as_str().to_owned())),
        InvalidationSelector::Tags(t) => Some((
            "tags",
            t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","),
        )),
    };
    let audit = match audited {
        Some((name, value)) => Some(
            Audit::begin(
                &state,
                &req,
                &principal,
                AuditAction::Invalidate,
                &cache,
                vec![(name.to_owned(), value)],
            )
            .await?,
        ),
        None => None,
    };
    let result = state
        .service
        .invalidate(InvalidateEntries {
            principal,
            cache: cache.clone(),
            selector,
            dry_run,
            confirm: params.into_inner().confirm,
        })
        .await;
    if !dry_run {
        count_outcome(&state.service, &cache, "invalidate", &result);
    }
    let result = result.map_err(ApiError::from);
    let invalidated = match audit {
        Some(audit) => audit.finish(&state, result).await?,
        None => result?,
    };
    Ok(encode(
        &req,
        StatusCode::OK,
        &InvalidationResponse::from(invalidated),
    ))
}
