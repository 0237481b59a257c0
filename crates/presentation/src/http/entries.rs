//! `/v1/caches/{cache}/entries/{key}`: read, write and delete one entry.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use strata_application::commands::delete_entry::DeleteEntry;
use strata_application::commands::put_entry::PutEntry;
use strata_application::queries::get_entry::GetEntry;
use strata_domain::{CacheValue, ContentType, HitTier, InsertOutcome};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::headers::{
    EntityTag, HIT_L1, HIT_L2, MISS, POSSIBLY, X_CACHE, X_CACHE_STALE, max_age,
};
use crate::edge::metrics::{count_error, count_outcome};
use crate::edge::params::{entry_path, tags, ttl};
use crate::edge::state::AppState;
use crate::http::body::{BodyStream, TooLarge};

/// Query of a PUT.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PutQuery {
    /// TTL in seconds (1 to 31536000); the cache's `default_ttl` when absent.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 31536000)]
    ttl: Option<String>,
    /// Comma-separated tags.
    #[param(schema_with = crate::edge::schemas::tag_query)]
    tags: Option<String>,
}

impl PutQuery {
    /// The parameters a PUT takes, for
    /// [`AcceptedQuery`](crate::edge::params::AcceptedQuery).
    pub const PARAMS: &'static [&'static str] = &["ttl", "tags"];
}

/// Store a value. The body is stored as is, with its `Content-Type`.
#[utoipa::path(
    put,
    path = "/v1/caches/{cache}/entries/{key}",
    tag = "entries",
    params(("cache" = String, Path, description = "Cache name"), ("key" = String, Path, description = "Key: 1-250 bytes UTF-8, no whitespace or control characters; percent-decoded once (`%2F` is `/`, `%25` is `%`, `+` is a plus)"), PutQuery),
    request_body(content = Vec<u8>, content_type = "*/*", description = "The value; an empty body (or none) stores the empty value", example = json!("hello")),
    responses(
        (status = 201, description = "Created", headers(("ETag" = String))),
        (status = 204, description = "Replaced", headers(("ETag" = String))),
        (status = 400, description = "Invalid key, TTL or tag", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cache", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Value over the cache's max_value_bytes", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn put_entry(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    query: web::Query<PutQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (cache, key) = entry_path(&req)?;
    // `ttl=` (empty) is not "no TTL": the parameter is an integer when
    // present, so it is refused like any other non-number.
    let ttl = match query.ttl.as_deref() {
        None => None,
        Some(raw) => Some(ttl(raw.parse::<u64>().map_err(|_| {
            ApiError::invalid_ttl(format!(
                "TTL must be a whole number of seconds, got {raw:?}"
            ))
        })?)?),
    };
    let tags = match query.tags.as_deref() {
        None | Some("") => Vec::new(),
        Some(raw) => tags(raw.split(','))?,
    };
    let content_type = match req.headers().get(header::CONTENT_TYPE) {
        None => ContentType::default(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| ContentType::parse(s).ok())
            .ok_or_else(|| {
                ApiError::invalid_parameter("Content-Type is not a valid media type")
                    .field("Content-Type")
            })?,
    };
    // The grant and the cache's limit first: a caller without the writer
    // role, or a declared length over `max_value_bytes`, is answered
    // without reading the body; a streamed body stops at the limit.
    let admitted = state.service.admit_put(&principal, &cache);
    if admitted.is_err() {
        count_error(&state.service, &cache, "put");
    }
    let limit = admitted?;
    let name = cache.clone();
    let too_large: TooLarge = Box::new(move |seen, limit| {
        ApiError::value_too_large(format!(
            "value is at least {seen} bytes; cache {name} accepts at most {limit} bytes"
        ))
    });
    let body = match BodyStream::with_error(req.headers(), payload.into_inner(), limit, too_large) {
        Ok(stream) => stream.read_all(req.headers()).await,
        Err(e) => Err(e),
    };
    if body.is_err() {
        count_error(&state.service, &cache, "put");
    }
    let body = body?;
    let result = state
        .service
        .put(PutEntry {
            principal,
            cache: cache.clone(),
            key,
            value: CacheValue::new(body, content_type),
            ttl,
            tags,
        })
        .await;
    count_outcome(&state.service, &cache, "put", &result);
    let out = result?;
    let status = match out.outcome {
        InsertOutcome::Created => StatusCode::CREATED,
        InsertOutcome::Replaced => StatusCode::NO_CONTENT,
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::ETAG, EntityTag::of(&out.entry).header_value()));
    if status == StatusCode::CREATED {
        response.insert_header((header::LOCATION, req.path().to_owned()));
    }
    Ok(response.finish())
}

fn matches_if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

/// Read a value: the stored bytes with their `Content-Type`, `ETag`, `Age`,
/// `Cache-Control: max-age=<remaining TTL>` and `X-Cache`. `HEAD` gives the
/// same headers without the body; `If-None-Match` gives 304.
#[utoipa::path(
    get,
    path = "/v1/caches/{cache}/entries/{key}",
    tag = "entries",
    params(("cache" = String, Path, description = "Cache name"), ("key" = String, Path, description = "Key, percent-decoded once"), ("If-None-Match" = Option<String>, Header, description = "ETags the client holds")),
    responses(
        (status = 200, description = "Hit: the stored bytes", content_type = "*/*", headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("X-Cache" = String, description = "HIT-L1 or HIT-L2"), ("X-Cache-Stale" = String, description = "`possibly` in degraded mode")), example = json!("hello")),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Invalid key", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Miss, or no such cache", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_entry(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
) -> Result<HttpResponse, ApiError> {
    let (cache, key) = entry_path(&req)?;
    let result = state
        .service
        .get(GetEntry {
            principal,
            cache: cache.clone(),
            key: key.clone(),
        })
        .await;
    // Hits and misses are the application's counters (see `metrics`);
    // only failures are counted here.
    if result.is_err() {
        let op = if req.method() == actix_web::http::Method::HEAD {
            "head"
        } else {
            "get"
        };
        count_error(&state.service, &cache, op);
    }
    let Some(lookup) = result? else {
        return Err(ApiError::entry_not_found(key.as_str()).x_cache(MISS));
    };
    let entry = lookup.entry;
    let now = state.clock.now();
    let tag = EntityTag::of(&entry);
    let not_modified = matches_if_none_match(&req, tag.as_str());
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response.insert_header((header::ETAG, tag.header_value()));
    response.insert_header((
        X_CACHE,
        match lookup.tier {
            HitTier::L1 => HIT_L1,
            HitTier::L2 => HIT_L2,
        },
    ));
    if lookup.possibly_stale {
        response.insert_header((X_CACHE_STALE, POSSIBLY));
    }
    response.insert_header((
        header::AGE,
        HeaderValue::from(now.saturating_since(entry.created_at()).as_secs()),
    ));
    if let Some(remaining) = entry.remaining_ttl(now) {
        response.insert_header((header::CACHE_CONTROL, max_age(remaining.as_secs())));
    }
    if not_modified {
        return Ok(response.finish());
    }
    let content_type = HeaderValue::from_str(entry.value().content_type().as_str()).unwrap_or(
        HeaderValue::from_static(strata_domain::DEFAULT_CONTENT_TYPE),
    );
    response.insert_header((header::CONTENT_TYPE, content_type));
    Ok(response.body(entry.value().bytes().clone()))
}

/// Delete an entry.
#[utoipa::path(
    delete,
    path = "/v1/caches/{cache}/entries/{key}",
    tag = "entries",
    params(("cache" = String, Path, description = "Cache name"), ("key" = String, Path, description = "Key, percent-decoded once")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such entry or cache", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:entry_not_found", "title": "Entry not found", "status": 404, "detail": "no entry for key \"user:42\"", "code": "entry_not_found"})),
    )
)]
pub(crate) async fn delete_entry(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
) -> Result<HttpResponse, ApiError> {
    let (cache, key) = entry_path(&req)?;
    let result = state
        .service
        .delete(DeleteEntry {
            principal,
            cache: cache.clone(),
            key: key.clone(),
        })
        .await;
    count_outcome(&state.service, &cache, "delete", &result);
    if result? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::entry_not_found(key.as_str()))
    }
}
