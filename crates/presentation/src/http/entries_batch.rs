//! `/v1/caches/{cache}/entries:batchGet` and `:batchPut`: many entries in
//! one request, as JSON or MessagePack.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use strata_application::commands::put_entries::{BatchItem, PutEntries};
use strata_application::queries::get_entries::GetEntries;
use strata_domain::{CacheValue, ContentType, InsertOutcome};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::headers::etag;
use crate::edge::metrics::count_outcome;
use crate::edge::params::{cache_key, cache_name, tags, ttl};
use crate::edge::state::AppState;
use crate::http::body::Body;
use crate::http::codec::{decode, encode};

/// Body of `batchGet`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchGetRequest {
    /// Keys to read, 1 to 1000.
    #[schema(schema_with = crate::edge::schemas::key_batch)]
    pub keys: Vec<String>,
}

/// One hit of `batchGet`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchHit {
    /// The key.
    pub key: String,
    /// The value when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value, standard base64, when it is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    /// The stored content type.
    pub content_type: String,
    /// The entry's ETag.
    pub etag: String,
    /// Remaining TTL in seconds; absent for entries without a TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// The entry's tags.
    pub tags: Vec<String>,
}

/// Answer of `batchGet`: hits and misses, each in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchGetResponse {
    /// Keys found.
    pub hits: Vec<BatchHit>,
    /// Keys not found.
    pub misses: Vec<String>,
}

/// One entry of `batchPut`: exactly one of `value` and `value_base64`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchPutEntry {
    /// The key.
    #[schema(schema_with = crate::edge::schemas::key_schema)]
    pub key: String,
    /// The value as a UTF-8 string.
    #[serde(default)]
    pub value: Option<String>,
    /// The value as standard base64 (RFC 4648 section 4, padded).
    #[serde(default)]
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
    )]
    pub value_base64: Option<String>,
    /// Content type; `text/plain; charset=utf-8` for `value`,
    /// `application/octet-stream` for `value_base64` when absent.
    #[serde(default)]
    #[schema(
        pattern = r#"^[A-Za-z0-9!#$%&'*+.^_`|~-]+/[A-Za-z0-9!#$%&'*+.^_`|~-]+([ \t]*;[ \t]*([A-Za-z0-9!#$%&'*+.^_`|~-]+=([A-Za-z0-9!#$%&'*+.^_`|~-]+|"([\t !#-\[\]-~]|\\[\t -~])*"))?)*[ \t]*$"#,
        max_length = 255
    )]
    pub content_type: Option<String>,
    /// TTL in seconds (1 to 31536000); the cache's `default_ttl` when absent.
    #[serde(default, deserialize_with = "crate::edge::config_dto::whole_number")]
    #[schema(minimum = 1, maximum = 31536000)]
    pub ttl: Option<u64>,
    /// Tags.
    #[serde(default)]
    #[schema(schema_with = crate::edge::schemas::tag_list)]
    pub tags: Vec<String>,
}

/// Body of `batchPut`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchPutRequest {
    /// Entries to write, 1 to 1000.
    #[schema(min_items = 1, max_items = 1000)]
    pub entries: Vec<BatchPutEntry>,
}

/// Outcome of one `batchPut` entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchPutResult {
    /// The key.
    pub key: String,
    /// `created` or `replaced`.
    pub status: &'static str,
}

/// Answer of `batchPut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchPutResponse {
    /// One result per entry, in request order.
    pub results: Vec<BatchPutResult>,
}

/// Read many keys.
#[utoipa::path(
    post,
    path = "/v1/caches/{cache}/entries:batchGet",
    tag = "entries",
    params(("cache" = String, Path, description = "Cache name")),
    request_body(content = BatchGetRequest, content_type = "application/json", example = json!({"keys": ["user:42", "user:43"]})),
    responses(
        (status = 200, body = BatchGetResponse, content_type = "application/json", example = json!({"hits": [{"key": "user:42", "value": "hello", "content_type": "text/plain", "etag": "\"6893d67740400\"", "ttl": 299, "tags": ["users"]}], "misses": ["user:43"]})),
        (status = 400, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 415, body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn batch_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let request: BatchGetRequest = decode(&req, &body)?;
    let keys = request
        .keys
        .iter()
        .map(|k| cache_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let result = state
        .service
        .get_many(GetEntries {
            principal,
            cache: cache.clone(),
            keys,
        })
        .await;
    count_outcome(&state.service, &cache, "batch_get", &result);
    let now = state.clock.now();
    let mut response = BatchGetResponse {
        hits: Vec::new(),
        misses: Vec::new(),
    };
    for (key, entry) in result?.results {
        let Some(entry) = entry else {
            response.misses.push(key.as_str().to_owned());
            continue;
        };
        let bytes = entry.value().bytes();
        let (value, value_base64) = match std::str::from_utf8(bytes) {
            Ok(s) => (Some(s.to_owned()), None),
            Err(_) => (None, Some(BASE64.encode(bytes))),
        };
        response.hits.push(BatchHit {
            key: key.as_str().to_owned(),
            value,
            value_base64,
            content_type: entry.value().content_type().as_str().to_owned(),
            etag: etag(&entry),
            ttl: entry.fresh_ttl(now).map(|d| d.as_secs()),
            tags: entry.tags().iter().map(|t| t.as_str().to_owned()).collect(),
        });
    }
    Ok(encode(&req, StatusCode::OK, &response))
}

fn batch_item(i: usize, e: BatchPutEntry) -> Result<BatchItem, ApiError> {
    let at = |err: ApiError| err.field(format!("entries[{i}]"));
    let key = cache_key(&e.key).map_err(at)?;
    let (bytes, default_type) = match (e.value, e.value_base64) {
        (Some(v), None) => (Bytes::from(v), "text/plain; charset=utf-8"),
        (None, Some(b)) => (
            Bytes::from(BASE64.decode(b.as_bytes()).map_err(|err| {
                at(ApiError::invalid_body(format!(
                    "value_base64 is not valid base64: {err}"
                )))
            })?),
            "application/octet-stream",
        ),
        _ => {
            return Err(at(ApiError::invalid_body(
                "give exactly one of value and value_base64",
            )));
        }
    };
    let content_type = ContentType::parse(e.content_type.as_deref().unwrap_or(default_type))
        .map_err(|err| at(ApiError::invalid_parameter(err.to_string())))?;
    Ok(BatchItem {
        key,
        value: CacheValue::new(bytes, content_type),
        ttl: e.ttl.map(ttl).transpose().map_err(at)?,
        tags: tags(e.tags.iter().map(String::as_str)).map_err(at)?,
    })
}

/// Write many entries. The batch is validated whole first: one invalid
/// entry rejects it, naming `entries[i]`.
#[utoipa::path(
    post,
    path = "/v1/caches/{cache}/entries:batchPut",
    tag = "entries",
    params(("cache" = String, Path, description = "Cache name")),
    request_body(content = BatchPutRequest, content_type = "application/json", example = json!({"entries": [{"key": "user:44", "value": "hi", "ttl": 60, "tags": ["users"]}, {"key": "user:45", "value_base64": "AAE="}]})),
    responses(
        (status = 200, body = BatchPutResponse, content_type = "application/json", example = json!({"results": [{"key": "user:44", "status": "created"}, {"key": "user:45", "status": "created"}]})),
        (status = 400, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 413, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 415, body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn batch_put(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    cache: web::Path<String>,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let request: BatchPutRequest = decode(&req, &body)?;
    let items = request
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| batch_item(i, e))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<String> = items.iter().map(|i| i.key.as_str().to_owned()).collect();
    let result = state
        .service
        .put_many(PutEntries {
            principal,
            cache: cache.clone(),
            items,
        })
        .await;
    count_outcome(&state.service, &cache, "batch_put", &result);
    let results = keys
        .into_iter()
        .zip(result?.outcomes)
        .map(|(key, outcome)| BatchPutResult {
            key,
            status: match outcome {
                InsertOutcome::Created => "created",
                InsertOutcome::Replaced => "replaced",
            },
        })
        .collect();
    Ok(encode(&req, StatusCode::OK, &BatchPutResponse { results }))
}
