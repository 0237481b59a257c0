//! `GET /v1/caches/{cache}/trends` (reader on the cache) and
//! `GET /admin/v1/cache/trends` (reader on `build-cache`): trend series
//! over the last hour (10 s points), day (1 min) or month (1 h), with the
//! configuration changes and `auto` switches in that span. See
//! `docs/monitoring.md` ("Trends").

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_application::queries::get_trends::{
    GetTrends, GetTrendsError, TrendSubject, TrendsView,
};
use strata_domain::{AnnotationKind, SeriesId, Timestamp, TrendRange};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;

/// Query of `GET /v1/caches/{cache}/trends`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrendParams {
    /// Comma-separated series ids (default: every series): `requests`,
    /// `hits`, `misses`, `hit_ratio`, `evictions`, `expirations`,
    /// `entries`, `bytes`, `errors`, `p50`, `p99`, `stale`, `flushes`,
    /// `bytes_read`, `bytes_written`.
    #[param(
        example = "hit_ratio,p99",
        pattern = "^((requests|hits|misses|hit_ratio|evictions|expirations|entries|bytes|errors|p50|p99|stale|flushes|bytes_read|bytes_written)(,(requests|hits|misses|hit_ratio|evictions|expirations|entries|bytes|errors|p50|p99|stale|flushes|bytes_read|bytes_written))*)?$"
    )]
    pub series: Option<String>,
    /// `1h` (10 s points, default), `24h` (1 min) or `30d` (1 h).
    #[param(pattern = "^(1h|24h|30d)$")]
    pub range: Option<String>,
}

impl TrendParams {
    /// The parameters `GET /v1/caches/{cache}/trends` takes, for
    /// [`AcceptedQuery`](crate::edge::params::AcceptedQuery).
    pub const PARAMS: &'static [&'static str] = &["series", "range"];
}

/// Query of `GET /admin/v1/cache/trends`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BuildCacheTrendParams {
    /// A REAPI instance by name (`default` for the unnamed one): its
    /// requests, hits, misses, errors, latency, bytes and flushes, AC and
    /// CAS together, HTTP and gRPC alike; or a build-cache store,
    /// `ac/<store>` or `cas/<store>` as `GET /admin/v1/cache/stats` names
    /// the stores (e.g. `cas/memory`), with its hits, misses, entries and
    /// bytes.
    #[param(example = "cas/memory")]
    pub instance: String,
    /// As for a cache's trends.
    #[param(
        pattern = "^((requests|hits|misses|hit_ratio|evictions|expirations|entries|bytes|errors|p50|p99|stale|flushes|bytes_read|bytes_written)(,(requests|hits|misses|hit_ratio|evictions|expirations|entries|bytes|errors|p50|p99|stale|flushes|bytes_read|bytes_written))*)?$"
    )]
    pub series: Option<String>,
    /// As for a cache's trends.
    #[param(pattern = "^(1h|24h|30d)$")]
    pub range: Option<String>,
}

impl BuildCacheTrendParams {
    /// The parameters `GET /admin/v1/cache/trends` takes.
    pub const PARAMS: &'static [&'static str] = &["instance", "series", "range"];
}

/// An event drawn on the series.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnnotationDto {
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// The same instant, RFC 3339 UTC.
    pub time: String,
    /// `configuration` (a change by an admin, a peer or the file) or
    /// `auto_switch` (`eviction = "auto"` chose another policy).
    pub kind: &'static str,
    /// `admin`, `auto_tune`, `peer` or `startup`.
    pub cause: String,
    /// The settings that changed, `name: before -> after`, `; `-separated
    /// (`created` for a new cache).
    pub summary: String,
    /// For `auto_switch`: each candidate policy's estimated miss ratio at
    /// the current capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimates: Option<BTreeMap<String, f64>>,
}

/// Trends of a cache or build-cache store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendsResponse {
    /// Seconds between points: 10 (`1h`), 60 (`24h`) or 3600 (`30d`).
    pub resolution_secs: u64,
    /// The range asked for.
    pub range: &'static str,
    /// By series id: `[unix_ms, value]` pairs, oldest first. A point
    /// covers the window of `resolution_secs` that ends at its time.
    /// Counters are per window; `entries` and `bytes` are the value at
    /// the window's end; `hit_ratio` is the window's hits / reads, `p50`
    /// and `p99` the window's latency percentiles in milliseconds (each
    /// `null` in a window without reads or requests).
    #[schema(value_type = Object)]
    pub series: BTreeMap<String, Vec<(u64, Option<f64>)>>,
    /// Configuration changes and `auto` switches within the range,
    /// oldest first.
    pub annotations: Vec<AnnotationDto>,
    /// Bytes this source's history holds now (all ranges; at most about
    /// 180 KiB plus the annotations).
    pub memory_bytes: usize,
}

impl TrendsResponse {
    fn new(view: TrendsView, range: TrendRange) -> Self {
        Self {
            resolution_secs: view.resolution_secs,
            range: range.as_str(),
            series: view
                .series
                .into_iter()
                .map(|(id, points)| (id.as_str().to_owned(), points))
                .collect(),
            annotations: view
                .annotations
                .into_iter()
                .map(|a| AnnotationDto {
                    at_ms: a.at_ms,
                    time: Timestamp::from_millis(a.at_ms).to_rfc3339(),
                    kind: match a.kind {
                        AnnotationKind::Configuration => "configuration",
                        AnnotationKind::AutoSwitch { .. } => "auto_switch",
                    },
                    estimates: match a.kind {
                        AnnotationKind::AutoSwitch { estimates } => {
                            Some(estimates.into_iter().collect())
                        }
                        AnnotationKind::Configuration => None,
                    },
                    cause: a.cause,
                    summary: a.summary,
                })
                .collect(),
            memory_bytes: view.memory_bytes,
        }
    }
}

impl From<GetTrendsError> for ApiError {
    fn from(e: GetTrendsError) -> Self {
        match e {
            GetTrendsError::Access(a) => a.into(),
            e @ (GetTrendsError::UnknownInstance(_) | GetTrendsError::Disabled) => {
                ApiError::not_configured(e.to_string())
            }
        }
    }
}

/// Parses `series` (comma-separated ids) and `range`.
fn parse(
    series: Option<&str>,
    range: Option<&str>,
) -> Result<(Vec<SeriesId>, TrendRange), ApiError> {
    let ids = series
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|id| {
            SeriesId::parse(id).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "unknown series {id:?}; expected some of {}",
                    SeriesId::ALL.map(SeriesId::as_str).join(", ")
                ))
                .field("series")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let range = match range {
        None => TrendRange::Hour,
        Some(r) => TrendRange::parse(r).ok_or_else(|| {
            ApiError::invalid_parameter(format!("unknown range {r:?}; expected 1h, 24h or 30d"))
                .field("range")
        })?,
    };
    Ok((ids, range))
}

/// Trends of a cache: series over the last hour, day or month.
#[utoipa::path(
    get,
    path = "/v1/caches/{cache}/trends",
    operation_id = "read_cache_trends",
    tag = "caches",
    params(("cache" = String, Path, description = "Cache name"), TrendParams),
    responses(
        (status = 200, body = TrendsResponse, example = json!({"resolution_secs": 10, "range": "1h", "series": {"hit_ratio": [[1796627620000_u64, 0.91], [1796627630000_u64, 0.42]], "p99": [[1796627620000_u64, 0.25], [1796627630000_u64, 1.25]]}, "annotations": [{"at_ms": 1796627625000_u64, "time": "2026-12-07T07:13:45.000Z", "kind": "configuration", "cause": "admin", "summary": "eviction: sieve -> lru; active_policy: sieve -> lru"}], "memory_bytes": 2312})),
        (status = 400, description = "Unknown series or range, or another query parameter", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:invalid_parameter", "title": "Invalid parameter", "status": 400, "detail": "unknown range \"7d\"; expected 1h, 24h or 30d", "code": "invalid_parameter", "field": "range"})),
        (status = 403, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cache, or `[analytics] enabled = false`", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:cache_not_found", "title": "Cache not found", "status": 404, "detail": "cache sessions does not exist", "code": "cache_not_found"})),
    )
)]
pub(crate) async fn cache_trends(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
    params: web::Query<TrendParams>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let (series, range) = parse(params.series.as_deref(), params.range.as_deref())?;
    let view = state.service.get_trends(GetTrends {
        principal,
        subject: TrendSubject::Cache(cache),
        range,
        series,
    })?;
    Ok(HttpResponse::Ok().json(TrendsResponse::new(view, range)))
}

/// Trends of a build-cache store (reader on `build-cache`).
#[utoipa::path(
    get,
    path = "/admin/v1/cache/trends",
    operation_id = "read_build_cache_trends",
    tag = "build-cache",
    params(BuildCacheTrendParams),
    responses(
        (status = 200, body = TrendsResponse, example = json!({"resolution_secs": 60, "range": "24h", "series": {"hit_ratio": [[1796627640000_u64, 0.97]], "bytes": [[1796627640000_u64, 73400320.0]]}, "annotations": [], "memory_bytes": 1480})),
        (status = 400, description = "Unknown series or range, a missing `instance`, or another query parameter", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:invalid_parameter", "title": "Invalid parameter", "status": 400, "detail": "unknown series \"p95\"; expected some of requests, hits, misses, hit_ratio, evictions, expirations, entries, bytes, errors, p50, p99, stale, flushes, bytes_read, bytes_written", "code": "invalid_parameter", "field": "series"})),
        (status = 403, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No store or instance of this name has trends yet, or `[analytics] enabled = false`", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:not_found", "title": "Not found", "status": 404, "detail": "no build-cache store or instance cas/nope has trends yet; stores are named ac/<store> or cas/<store>, instances by name (default for the unnamed one), and trends sample every 10 s", "code": "not_found"})),
    )
)]
pub(crate) async fn build_cache_trends(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    params: web::Query<BuildCacheTrendParams>,
) -> Result<HttpResponse, ApiError> {
    let (series, range) = parse(params.series.as_deref(), params.range.as_deref())?;
    let view = state.service.get_trends(GetTrends {
        principal,
        subject: TrendSubject::BuildCache(params.instance.clone()),
        range,
        series,
    })?;
    Ok(HttpResponse::Ok().json(TrendsResponse::new(view, range)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_series_and_ranges() {
        let (ids, range) = parse(Some("hit_ratio, p99"), Some("24h")).unwrap();
        assert_eq!(ids, vec![SeriesId::HitRatio, SeriesId::P99]);
        assert_eq!(range, TrendRange::Day);
        assert_eq!(parse(None, None).unwrap(), (vec![], TrendRange::Hour));
        assert_eq!(
            parse(Some("p95"), None).unwrap_err().code(),
            "invalid_parameter"
        );
        assert_eq!(
            parse(None, Some("7d")).unwrap_err().code(),
            "invalid_parameter"
        );
    }
}
