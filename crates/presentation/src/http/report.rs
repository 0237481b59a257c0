//! `GET /v1/caches/{cache}/report` (reader): how a cache is used, from a
//! uniform sample of its requests (`[analytics] report_sample_rate`): hot
//! keys by Space-Saving with their error bounds, key and value sizes, the
//! read/write ratio; and from a spatial sample of its keys, the TTLs
//! entries are written with and how their lives end (one-hit wonders).
//! See `docs/monitoring.md` ("Usage report").

use actix_web::{HttpResponse, web};
use serde::Serialize;
use strata_application::queries::get_usage_report::{
    GetUsageReport, GetUsageReportError, UsageReport,
};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;

/// A hot key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HotKeyDto {
    /// The key.
    pub key: String,
    /// Estimated reads since start (sampled count / `sampling_rate`).
    pub reads: f64,
    /// How much `reads` may over-estimate (Space-Saving's error, scaled).
    pub error: f64,
}

/// One bucket of a size histogram.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SizeBucketDto {
    /// Sizes up to this many bytes (and above the previous bucket's).
    pub le_bytes: u64,
    /// Sampled requests in the bucket.
    pub count: u64,
}

/// One bucket of the TTL histogram.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TtlBucketDto {
    /// TTLs up to this many seconds (and above the previous bucket's).
    pub le_secs: u64,
    /// Followed writes in the bucket.
    pub count: u64,
}

/// How the lives of the followed keys' entries ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LifetimesDto {
    /// The share of keys followed (by hash), in `(0, 1]`.
    pub sampling_rate: f64,
    /// TTLs of the followed writes, by power of two of seconds.
    pub ttl_secs: Vec<TtlBucketDto>,
    /// Followed writes without a TTL.
    pub no_ttl: u64,
    /// Lives that ended at their expiry.
    pub expired: u64,
    /// Of those, lives never read.
    pub expired_unread: u64,
    /// Lives that ended before their expiry (a read missed them:
    /// evicted, deleted, invalidated or flushed).
    pub evicted: u64,
    /// Of those, lives never read.
    pub evicted_unread: u64,
    /// Lives a write replaced (not counted in the share).
    pub replaced: u64,
    /// (expired_unread + evicted_unread) / (expired + evicted): the share
    /// of one-hit wonders; `null` before any life ended.
    pub one_hit_wonder_share: Option<f64>,
    /// Of the lives that were read, the entry's age at its last read, by
    /// power of two of seconds: how long entries stay wanted.
    pub last_read_age_secs: Vec<TtlBucketDto>,
    /// Expired lives whose key was asked for again within one TTL of the
    /// expiry (misses a longer TTL would have served).
    pub requested_after_expiry: u64,
}

/// A cache's usage report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReportResponse {
    /// Cache name.
    pub cache: String,
    /// The probability with which each request was sampled.
    pub sampling_rate: f64,
    /// Reads and writes sampled.
    pub sampled_reads: u64,
    /// Writes sampled.
    pub sampled_writes: u64,
    /// Samples dropped because another request was recording one.
    pub dropped_samples: u64,
    /// The top 20 keys by reads (Space-Saving, Metwally et al. 2005),
    /// most read first.
    pub hot_keys: Vec<HotKeyDto>,
    /// The bound of every hot key's `error`: sampled reads / 200
    /// counters / `sampling_rate`.
    pub error_bound: f64,
    /// Key sizes of the sampled requests, by power of two.
    pub key_size_bytes: Vec<SizeBucketDto>,
    /// Value sizes of the sampled hits and writes, by power of two.
    pub value_size_bytes: Vec<SizeBucketDto>,
    /// Reads (hits + misses) since start, counted exactly.
    pub reads: u64,
    /// Writes (inserts + updates) since start, counted exactly.
    pub writes: u64,
    /// reads / writes; `null` before the first write.
    pub read_write_ratio: Option<f64>,
    /// TTLs and one-hit wonders, from a spatial sample of keys.
    pub lifetimes: LifetimesDto,
    /// Bytes the hot-key summary, the followed keys and the compression
    /// probes hold.
    pub memory_bytes: usize,
    /// Values probed for compressibility (one write in 64, the newest
    /// 256 kept).
    pub compression_probes: usize,
    /// Their size with zstd over their size; `null` before the first
    /// probe.
    pub compression_ratio: Option<f64>,
    /// Settings worth changing, from the sample (compression today);
    /// the eviction policy and capacity ones are at
    /// `/admin/v1/caches/{cache}/recommendation`.
    pub recommendations: Vec<SettingRecommendationDto>,
}

/// A recommended change of one setting.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingRecommendationDto {
    /// The setting, e.g. `compression`.
    pub setting: String,
    /// Its value now.
    pub current: String,
    /// The value recommended.
    pub suggested: String,
    /// Why, with the figures.
    pub reason: String,
}

fn buckets(list: Vec<(u64, u64)>) -> Vec<SizeBucketDto> {
    list.into_iter()
        .map(|(le_bytes, count)| SizeBucketDto { le_bytes, count })
        .collect()
}

impl From<UsageReport> for UsageReportResponse {
    fn from(r: UsageReport) -> Self {
        Self {
            cache: r.cache.as_str().to_owned(),
            sampling_rate: r.sampling_rate,
            sampled_reads: r.sampled_reads,
            sampled_writes: r.sampled_writes,
            dropped_samples: r.dropped_samples,
            hot_keys: r
                .hot_keys
                .into_iter()
                .map(|h| HotKeyDto {
                    key: h.key,
                    reads: h.reads,
                    error: h.error,
                })
                .collect(),
            error_bound: r.error_bound,
            key_size_bytes: buckets(r.key_sizes),
            value_size_bytes: buckets(r.value_sizes),
            reads: r.reads,
            writes: r.writes,
            read_write_ratio: r.read_write_ratio,
            lifetimes: LifetimesDto {
                sampling_rate: r.lifetime_sampling_rate,
                ttl_secs: r
                    .lifetimes
                    .ttl_secs
                    .buckets()
                    .into_iter()
                    .map(|(le_secs, count)| TtlBucketDto { le_secs, count })
                    .collect(),
                no_ttl: r.lifetimes.no_ttl,
                expired: r.lifetimes.expired,
                expired_unread: r.lifetimes.expired_unread,
                evicted: r.lifetimes.evicted,
                evicted_unread: r.lifetimes.evicted_unread,
                replaced: r.lifetimes.replaced,
                one_hit_wonder_share: r.lifetimes.one_hit_wonder_share(),
                last_read_age_secs: r
                    .lifetimes
                    .last_read_age_secs
                    .buckets()
                    .into_iter()
                    .map(|(le_secs, count)| TtlBucketDto { le_secs, count })
                    .collect(),
                requested_after_expiry: r.lifetimes.requested_after_expiry,
            },
            memory_bytes: r.memory_bytes,
            compression_probes: r.compression_probes,
            compression_ratio: r.compression_ratio,
            recommendations: r
                .recommendations
                .into_iter()
                .map(|r| SettingRecommendationDto {
                    setting: r.setting.to_owned(),
                    current: r.current,
                    suggested: r.suggested,
                    reason: r.reason,
                })
                .collect(),
        }
    }
}

impl From<GetUsageReportError> for ApiError {
    fn from(e: GetUsageReportError) -> Self {
        match e {
            GetUsageReportError::Access(a) => a.into(),
            e @ GetUsageReportError::Disabled => ApiError::not_configured(e.to_string()),
        }
    }
}

/// How a cache is used: hot keys, sizes, read/write ratio, TTLs and
/// one-hit wonders.
#[utoipa::path(
    get,
    path = "/v1/caches/{cache}/report",
    operation_id = "read_usage_report",
    tag = "caches",
    params(("cache" = String, Path, description = "Cache name")),
    responses(
        (status = 200, body = UsageReportResponse, example = json!({"cache": "sessions", "sampling_rate": 0.05, "sampled_reads": 5012, "sampled_writes": 488, "dropped_samples": 0, "hot_keys": [{"key": "user:42", "reads": 20140.0, "error": 0.0}, {"key": "user:7", "reads": 9880.0, "error": 20.0}], "error_bound": 500.0, "key_size_bytes": [{"le_bytes": 7, "count": 5100}, {"le_bytes": 15, "count": 400}], "value_size_bytes": [{"le_bytes": 1023, "count": 4870}], "reads": 100240, "writes": 9770, "read_write_ratio": 10.26, "lifetimes": {"sampling_rate": 1.0, "ttl_secs": [{"le_secs": 511, "count": 480}, {"le_secs": 4095, "count": 8}], "no_ttl": 0, "expired": 310, "expired_unread": 140, "evicted": 40, "evicted_unread": 35, "replaced": 25, "one_hit_wonder_share": 0.5, "last_read_age_secs": [{"le_secs": 31, "count": 150}], "requested_after_expiry": 12}, "memory_bytes": 29648, "compression_probes": 152, "compression_ratio": 0.21, "recommendations": [{"setting": "compression", "current": "none", "suggested": "zstd (threshold_bytes 1024)", "reason": "152 probed values of at least 1024 bytes compress to 21 % of their size with zstd: about 79 % fewer bytes to Redis or Memcached and over the network"}]})),
        (status = 403, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cache, or `[analytics] enabled = false`", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:cache_not_found", "title": "Cache not found", "status": 404, "detail": "cache sessions does not exist", "code": "cache_not_found"})),
    )
)]
pub(crate) async fn usage_report(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let report = state
        .service
        .usage_report(GetUsageReport { principal, cache })?;
    Ok(HttpResponse::Ok().json(UsageReportResponse::from(report)))
}
