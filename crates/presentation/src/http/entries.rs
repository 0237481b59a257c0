//! `/v1/caches/{cache}/entries/{key}`: read, write and delete one entry.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use strata_application::commands::delete_entry::DeleteEntry;
use strata_application::commands::put_entry::{PutEntry, PutEntryError};
use strata_application::queries::get_entry::{
    ReadEntry, ReadOutcome, StaleDirectives, StaleReason,
};
use strata_domain::{CacheValue, ContentType, HitTier, InsertOutcome, LeaseToken};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::headers::{
    CACHE_STATUS, EntityTag, HIT_L1, HIT_L2, MISS, POSSIBLY, STALE, STALE_L1, X_CACHE,
    X_CACHE_LEASE, X_CACHE_STALE, max_age,
};
use crate::edge::metrics::{count_error, count_lease, count_outcome, count_stale};
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
    params(("cache" = String, Path, description = "Cache name"), ("key" = String, Path, description = "Key: 1-250 bytes UTF-8, no whitespace or control characters; percent-decoded once (`%2F` is `/`, `%25` is `%`, `+` is a plus)"), PutQuery, ("X-Cache-Lease" = Option<String>, Header, pattern = r"^[A-Za-z0-9._-]{1,64}$", min_length = 1, max_length = 64, description = "The lease a GET gave for this key: the write stores nothing (409 `lease_invalidated`) if the key was deleted, invalidated or written since")),
    request_body(content = Vec<u8>, content_type = "*/*", description = "The value; an empty body (or none) stores the empty value", example = json!("hello")),
    responses(
        (status = 201, description = "Created", headers(("ETag" = String))),
        (status = 204, description = "Replaced", headers(("ETag" = String))),
        (status = 400, description = "Invalid key, TTL or tag", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cache", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`lease_invalidated`: the `X-Cache-Lease` lease was invalidated or ran out; nothing was stored", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:lease_invalidated", "title": "Lease invalidated", "status": 409, "detail": "the lease on key \"user:42\" was invalidated or ran out before this write; nothing was stored (a newer write or an invalidation wins)", "code": "lease_invalidated"})),
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
    let lease = match req.headers().get(&X_CACHE_LEASE) {
        None => None,
        Some(raw) => Some(
            raw.to_str()
                .ok()
                .and_then(|raw| LeaseToken::parse(raw).ok())
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "X-Cache-Lease is not a lease token (1 to 64 characters of \
                         [A-Za-z0-9._-], as a GET gave it)",
                    )
                    .field("X-Cache-Lease")
                })?,
        ),
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
            lease: lease.clone(),
        })
        .await;
    count_outcome(&state.service, &cache, "put", &result);
    if lease.is_some() {
        match &result {
            Ok(_) => count_lease(&cache, "filled"),
            Err(PutEntryError::LeaseInvalidated { .. }) => count_lease(&cache, "invalidated"),
            Err(_) => {}
        }
    }
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
///
/// With the cache's stale windows and leases (docs/resilience.md): a stale
/// answer is 200 with `X-Cache: STALE` or `STALE-L1` and `Cache-Status`
/// (RFC 9211); a miss may carry the key's lease in `X-Cache-Lease`, or be
/// 404 `lease_pending` while another client fills it. The request's
/// `Cache-Control: no-cache`, `max-stale=N` and `stale-if-error=N` ask for
/// less staleness (RFC 9111 section 5.2.1, RFC 5861).
#[utoipa::path(
    get,
    path = "/v1/caches/{cache}/entries/{key}",
    tag = "entries",
    params(("cache" = String, Path, description = "Cache name"), ("key" = String, Path, description = "Key, percent-decoded once"), ("If-None-Match" = Option<String>, Header, description = "ETags the client holds"), ("Cache-Control" = Option<String>, Header, description = "`no-cache` (no stale answer), `max-stale=N`, `stale-if-error=N` (seconds): less staleness than the cache allows")),
    responses(
        (status = 200, description = "Hit: the stored bytes", content_type = "*/*", headers(("ETag" = String), ("Age" = u64), ("Cache-Control" = String), ("X-Cache" = String, description = "HIT-L1, HIT-L2, STALE (within stale_while_revalidate) or STALE-L1 (within stale_if_error, the shared tier failing)"), ("X-Cache-Stale" = String, description = "`possibly` in degraded mode"), ("Cache-Status" = String, description = "On stale answers (RFC 9211): `Strata; fwd=stale; detail=expired` or `detail=backend-unavailable`"), ("X-Cache-Lease" = String, description = "On a stale answer: the key's lease, when this client is the one to refresh it")), example = json!("hello")),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Invalid key", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Miss (`entry_not_found`, with `X-Cache-Lease` when this client got the key's lease), `lease_pending` (another client holds the lease: `Retry-After: 1`, `Strata-Retry-After-Ms`), or no such cache", body = crate::edge::error::Problem, content_type = "application/problem+json", headers(("X-Cache-Lease" = String, description = "The key's lease: fill the key with a PUT carrying it"), ("Strata-Retry-After-Ms" = u64, description = "`lease_pending`: read again in this many milliseconds"))),
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
        .read(ReadEntry {
            principal,
            cache: cache.clone(),
            key: key.clone(),
            directives: stale_directives(&req),
        })
        .await;
    // Hits and misses are the application's counters (see `metrics`);
    // only failures, leases and stale answers are counted here.
    if result.is_err() {
        let op = if req.method() == actix_web::http::Method::HEAD {
            "head"
        } else {
            "get"
        };
        count_error(&state.service, &cache, op);
    }
    let (lookup, stale, lease) = match result? {
        ReadOutcome::Fresh(lookup) => (lookup, None, None),
        ReadOutcome::Stale {
            lookup,
            reason,
            lease,
        } => {
            count_stale(&cache, reason.as_str());
            if lease.is_some() {
                count_lease(&cache, "granted");
            }
            (lookup, Some(reason), lease)
        }
        ReadOutcome::Miss { lease } => {
            let mut miss = ApiError::entry_not_found(key.as_str()).x_cache(MISS);
            if let Some(token) = lease {
                count_lease(&cache, "granted");
                miss = miss.header(X_CACHE_LEASE, lease_header(&token));
            }
            return Err(miss);
        }
        ReadOutcome::LeasePending { remaining } => {
            count_lease(&cache, "pending");
            let ms = u64::try_from(remaining.as_millis())
                .unwrap_or(u64::MAX)
                .clamp(1, LEASE_POLL_MAX_MS);
            return Err(ApiError::lease_pending(key.as_str(), ms).x_cache(MISS));
        }
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
        match (stale, lookup.tier) {
            (Some(StaleReason::Expired), _) => STALE,
            (Some(StaleReason::BackendUnavailable), _) => STALE_L1,
            (None, HitTier::L1) => HIT_L1,
            (None, HitTier::L2) => HIT_L2,
        },
    ));
    if let Some(reason) = stale {
        response.insert_header((
            CACHE_STATUS,
            format!("Strata; fwd=stale; detail={}", reason.as_str()),
        ));
    } else if lookup.possibly_stale {
        response.insert_header((X_CACHE_STALE, POSSIBLY));
    }
    if let Some(token) = &lease {
        response.insert_header((X_CACHE_LEASE, lease_header(token)));
    }
    response.insert_header((
        header::AGE,
        HeaderValue::from(now.saturating_since(entry.created_at()).as_secs()),
    ));
    if let Some(remaining) = entry.fresh_ttl(now) {
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

/// The longest `Strata-Retry-After-Ms` a `lease_pending` answer gives, in
/// milliseconds: clients poll at least this often while a lease holder
/// fills the key, rather than wait out the whole lease.
const LEASE_POLL_MAX_MS: u64 = 100;

/// A lease token as a header value (tokens are visible ASCII).
fn lease_header(token: &LeaseToken) -> HeaderValue {
    HeaderValue::from_str(token.as_str()).unwrap_or(HeaderValue::from_static(""))
}

/// The request's `Cache-Control` directives about staleness (RFC 9111
/// section 5.2.1; `stale-if-error` from RFC 5861 section 4). Directives
/// with a malformed value are ignored, as RFC 9111 asks of caches;
/// `max-stale` without a value leaves the cache's window as it is.
fn stale_directives(req: &HttpRequest) -> StaleDirectives {
    let mut d = StaleDirectives::default();
    let directives = req
        .headers()
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    for directive in directives {
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (directive, None),
        };
        let secs = || {
            value
                .and_then(|v| v.parse::<u64>().ok())
                .map(std::time::Duration::from_secs)
        };
        if name.eq_ignore_ascii_case("no-cache") {
            d.no_cache = true;
        } else if name.eq_ignore_ascii_case("max-stale") {
            d.max_stale = secs().or(d.max_stale);
        } else if name.eq_ignore_ascii_case("stale-if-error") {
            d.stale_if_error = secs().or(d.stale_if_error);
        }
    }
    d
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
