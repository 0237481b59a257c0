//! `GET /v1/caches/{cache}/keys?cursor=&match=&limit=` (reader): one page
//! of a cache's keys with Redis `SCAN` semantics (every key present for
//! the whole scan comes at least once; a page may be short or empty while
//! `next_cursor` goes on; follow it until it is `null`). Memory, Redis,
//! Redis Cluster and tiered caches list their keys; Memcached answers 422.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_application::queries::list_keys::{KeySummary, KeysPage, ListKeys, MAX_KEYS_PAGE};
use strata_domain::KeyPattern;

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;

/// Keys a page holds when `limit` is not given.
pub const DEFAULT_KEYS_LIMIT: usize = 100;

/// Query of `GET /v1/caches/{cache}/keys`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeysParams {
    /// Where to go on: `0` (the default) to start, then the previous
    /// page's `next_cursor`. Opaque: only valid on the cache that gave it.
    #[param(pattern = "^[0-9]{1,19}$", example = "0")]
    pub cursor: Option<String>,
    /// Only keys this glob matches (Redis `SCAN MATCH` syntax: `*`, `?`,
    /// `[a-z]`, `[^a]`, `\` escapes).
    #[serde(rename = "match")]
    #[param(rename = "match", min_length = 1, max_length = 250, example = "user:*")]
    pub pattern: Option<String>,
    /// Keys per page, 1 to 1000 (default 100).
    #[param(pattern = "^(1000|[1-9][0-9]{0,2})$", example = "100")]
    pub limit: Option<String>,
}

impl KeysParams {
    /// The parameter names, for
    /// [`AcceptedQuery`](crate::edge::params::AcceptedQuery).
    pub const PARAMS: &'static [&'static str] = &["cursor", "match", "limit"];

    /// The query, checked.
    ///
    /// # Errors
    /// 400 `invalid_parameter` naming `cursor`, `limit` or `match`.
    pub(crate) fn parse(&self) -> Result<(u64, Option<KeyPattern>, usize), ApiError> {
        let cursor = match self.cursor.as_deref() {
            None => 0,
            Some(c) => c.parse::<u64>().map_err(|_| {
                ApiError::invalid_parameter("cursor must be a number a page gave").field("cursor")
            })?,
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_KEYS_LIMIT,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_KEYS_PAGE).contains(l))
                .ok_or_else(|| {
                    ApiError::invalid_parameter(format!(
                        "limit must be a whole number from 1 to {MAX_KEYS_PAGE}"
                    ))
                    .field("limit")
                })?,
        };
        let pattern = self
            .pattern
            .as_deref()
            .map(|p| {
                KeyPattern::parse(p)
                    .map_err(|e| ApiError::invalid_parameter(e.to_string()).field("match"))
            })
            .transpose()?;
        Ok((cursor, pattern, limit))
    }
}

/// A listed key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyDto {
    /// The key.
    pub key: String,
    /// The value's size in bytes.
    pub size_bytes: u64,
    /// Seconds left before it expires; absent when it never does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// The entry's tags.
    pub tags: Vec<String>,
}

impl From<KeySummary> for KeyDto {
    fn from(k: KeySummary) -> Self {
        Self {
            key: k.key,
            size_bytes: k.value_bytes,
            ttl_secs: k.ttl.map(|t| t.as_secs()),
            tags: k.tags,
        }
    }
}

/// A page of keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"keys": [{"key": "user:1", "size_bytes": 42, "ttl_secs": 60, "tags": ["users"]}], "next_cursor": "4294967296"}))]
pub struct KeysResponse {
    /// The keys of this page (possibly none while `next_cursor` goes on).
    pub keys: Vec<KeyDto>,
    /// The cursor of the next page, as a decimal string; `null` when the
    /// scan is done.
    pub next_cursor: Option<String>,
}

impl From<KeysPage> for KeysResponse {
    fn from(page: KeysPage) -> Self {
        Self {
            keys: page.keys.into_iter().map(KeyDto::from).collect(),
            next_cursor: page.next.map(|n| n.to_string()),
        }
    }
}

/// List a cache's keys, page by page.
#[utoipa::path(
    get,
    path = "/v1/caches/{cache}/keys",
    tag = "entries",
    operation_id = "list_keys",
    params(("cache" = String, Path, description = "Cache name"), KeysParams),
    responses(
        (status = 200, body = KeysResponse),
        (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The backend cannot list its keys (Memcached)", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:unsupported_operation", "title": "Operation not supported by the backend", "status": 422, "detail": "backend memcached does not support key listing", "code": "unsupported_operation"})),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
    params: web::Query<KeysParams>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let (cursor, pattern, limit) = params.parse()?;
    let page = state
        .service
        .list_keys(ListKeys {
            principal,
            cache,
            cursor,
            pattern,
            limit,
        })
        .await?;
    Ok(HttpResponse::Ok().json(KeysResponse::from(page)))
}
