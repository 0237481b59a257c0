//! `GET /v1/caches/{cache}/mrc` (reader): the cache's live miss-ratio
//! curves per policy; `GET /admin/v1/caches/{cache}/recommendation`
//! (admin): the best policy at the current capacity and what capacity
//! changes would buy. See `docs/eviction.md` ("Live miss-ratio curves").

use actix_web::{HttpResponse, web};
use serde::Serialize;
use strata_application::queries::get_miss_ratio_curves::{
    GetMissRatioCurves, GetRecommendation, MissRatioReport,
};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;

/// One estimated point.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurvePointDto {
    /// Simulated capacity over the cache's own: 0.25, 0.5, 1, 2 or 4.
    pub capacity_factor: f64,
    /// Simulated capacity, in the cache's unit (`capacity_unit`).
    pub capacity: u64,
    /// Estimated miss ratio in `[0, 1]`; `null` before any sample.
    pub miss_ratio: Option<f64>,
}

/// One policy's curve.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurveDto {
    /// The policy's configuration name.
    pub policy: String,
    /// One point per capacity factor, ascending.
    pub points: Vec<CurvePointDto>,
    /// What a fresh start of the policy reaches on recent reads at the
    /// current capacity; `null` until a fresh simulation has warmed up.
    pub fresh_start: Option<FreshStartDto>,
}

/// A fresh start of a policy on recent reads, beside the instance that has
/// run all along, over the same sampled reads (a fresh miniature is
/// restarted every 8 miniature capacities of sampled reads and measured
/// after 2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FreshStartDto {
    /// The fresh instance's miss ratio, in `[0, 1]`.
    pub miss_ratio: f64,
    /// The running instance's miss ratio over the same reads, in `[0, 1]`.
    pub running_miss_ratio: f64,
    /// Sampled reads behind both.
    pub samples: u64,
}

impl From<strata_domain::FreshStart> for FreshStartDto {
    fn from(f: strata_domain::FreshStart) -> Self {
        Self {
            miss_ratio: f.miss_ratio,
            running_miss_ratio: f.running_miss_ratio,
            samples: f.samples,
        }
    }
}

/// A cache's curves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MrcResponse {
    /// Cache name.
    pub cache: String,
    /// The configured policy.
    pub eviction: String,
    /// The policy the store runs now.
    pub active_policy: String,
    /// The cache's capacity the factors multiply.
    pub capacity: u64,
    /// `entries` or `bytes`.
    pub capacity_unit: &'static str,
    /// Misses over reads the live store counted since start; `null`
    /// before the first read.
    pub observed_miss_ratio: Option<f64>,
    /// Current SHARDS sampling rate, in `(0, 1]`.
    pub sampling_rate: f64,
    /// Reads the analyzer hashed.
    pub requests: u64,
    /// Sampled reads replayed through the simulations.
    pub sampled_requests: u64,
    /// Sampled reads dropped because the analyzer's queue was full.
    pub dropped_samples: u64,
    /// Estimated memory of the simulations, in bytes.
    pub memory_bytes: u64,
    /// The memory bound, in bytes.
    pub max_memory_bytes: u64,
    /// One curve per candidate policy.
    pub curves: Vec<CurveDto>,
}

impl From<MissRatioReport> for MrcResponse {
    fn from(r: MissRatioReport) -> Self {
        let c = r.curves;
        Self {
            cache: r.cache.as_str().to_owned(),
            eviction: r.eviction.as_str().to_owned(),
            active_policy: r.active_policy.as_str().to_owned(),
            capacity: c.capacity,
            capacity_unit: if c.byte_mode { "bytes" } else { "entries" },
            observed_miss_ratio: r.observed_miss_ratio,
            sampling_rate: c.sampling_rate,
            requests: c.requests,
            sampled_requests: c.sampled_requests,
            dropped_samples: c.dropped_samples,
            memory_bytes: c.memory_bytes,
            max_memory_bytes: c.max_memory_bytes,
            curves: c
                .curves
                .into_iter()
                .map(|curve| CurveDto {
                    policy: curve.policy.as_str().to_owned(),
                    fresh_start: curve.fresh.map(FreshStartDto::from),
                    points: curve
                        .points
                        .into_iter()
                        .map(|p| CurvePointDto {
                            capacity_factor: p.capacity_factor,
                            capacity: p.capacity,
                            miss_ratio: p.miss_ratio,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// What one capacity change would do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CapacityChangeDto {
    /// New capacity over the current one.
    pub capacity_factor: f64,
    /// New capacity, in the cache's unit.
    pub capacity: u64,
    /// The active policy's estimate now.
    pub miss_ratio_now: f64,
    /// Its estimate at the new capacity.
    pub miss_ratio_after: f64,
    /// The same, as a sentence.
    pub summary: String,
}

/// The recommendation for a cache.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecommendationResponse {
    /// Cache name.
    pub cache: String,
    /// The policy the store runs now.
    pub active_policy: String,
    /// Its estimated miss ratio at the current capacity.
    pub active_miss_ratio: Option<f64>,
    /// The policy with the lowest estimate at the current capacity.
    pub best_policy: Option<String>,
    /// That estimate.
    pub best_miss_ratio: Option<f64>,
    /// How much lower the best policy's estimate is (0 when it is the active one).
    pub estimated_gain: f64,
    /// What each other capacity would do under the active policy.
    pub capacity_changes: Vec<CapacityChangeDto>,
    /// Sampled reads behind the estimates.
    pub sampled_requests: u64,
    /// The sampled reads that still weigh once the curves' decay is
    /// counted (Kish's effective sample size): the noise bands' basis.
    pub effective_samples: f64,
    /// Every policy's estimate at the current capacity with its noise band.
    pub estimates: Vec<PolicyEstimateDto>,
    /// The curves cannot tell the policies apart yet: fewer than 1,024
    /// effective samples, or the best policy's lead inside its noise band.
    pub too_thin_to_decide: bool,
    /// Analysis epochs the best policy has led for (an epoch is about one
    /// capacity of sampled reads).
    pub best_held_epochs: u64,
    /// Whether `auto` would move to the best policy once its lead holds
    /// (the gain clears the 0.01 margin and the curves are not too thin).
    pub auto_would_act: bool,
    /// Every policy's capacity what-ifs.
    pub capacity_what_ifs: Vec<PolicyCapacityChangesDto>,
    /// Rebuild the active policy (built anew, the resident entries moved
    /// in): a fresh start of it beats the running one on recent reads by
    /// more than the 0.01 margin plus the fresh estimate's noise band, and
    /// no switch is advised. `auto` acts on it as on a switch.
    pub rebuild: bool,
    /// The active policy's running miss ratio minus a fresh start's over
    /// the same recent reads (0 when unknown).
    pub rebuild_gain: f64,
}

/// One policy's estimate at the current capacity.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyEstimateDto {
    /// The policy.
    pub policy: String,
    /// Its estimated miss ratio, in `[0, 1]`.
    pub miss_ratio: f64,
    /// Half-width of the 95% band around it (binomial over the effective
    /// samples; a lower bound).
    pub noise_band: f64,
    /// What a fresh start of it reaches on recent reads; `null` until known.
    pub fresh_start: Option<FreshStartDto>,
}

/// What each capacity change would do under one policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyCapacityChangesDto {
    /// The policy.
    pub policy: String,
    /// One change per capacity factor other than 1.
    pub changes: Vec<CapacityChangeDto>,
}

fn capacity_change_dto(c: strata_domain::CapacityChange) -> CapacityChangeDto {
    CapacityChangeDto {
        capacity_factor: c.capacity_factor,
        capacity: c.capacity,
        miss_ratio_now: c.miss_ratio_now,
        miss_ratio_after: c.miss_ratio_after,
        summary: c.summary,
    }
}

/// A cache's live miss-ratio curves.
#[utoipa::path(
    get,
    path = "/v1/caches/{cache}/mrc",
    tag = "caches",
    params(("cache" = String, Path, description = "Cache name")),
    responses(
        (status = 200, body = MrcResponse, example = json!({"cache": "default", "eviction": "sieve", "active_policy": "sieve", "capacity": 100, "capacity_unit": "entries", "observed_miss_ratio": 0.5, "sampling_rate": 1.0, "requests": 2, "sampled_requests": 2, "dropped_samples": 0, "memory_bytes": 7680, "max_memory_bytes": 8388608, "curves": [{"policy": "lru", "fresh_start": null, "points": [{"capacity_factor": 0.5, "capacity": 50, "miss_ratio": 0.62}, {"capacity_factor": 1.0, "capacity": 100, "miss_ratio": 0.5}, {"capacity_factor": 2.0, "capacity": 200, "miss_ratio": 0.41}]}, {"policy": "sieve", "fresh_start": null, "points": [{"capacity_factor": 0.5, "capacity": 50, "miss_ratio": 0.58}, {"capacity_factor": 1.0, "capacity": 100, "miss_ratio": 0.47}, {"capacity_factor": 2.0, "capacity": 200, "miss_ratio": 0.4}]}]})),
        (status = 403, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The cache is not analysed", body = crate::edge::error::Problem, content_type = "application/problem+json")
    )
)]
pub(crate) async fn curves(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let report = state
        .service
        .miss_ratio_curves(GetMissRatioCurves { principal, cache })?;
    Ok(HttpResponse::Ok().json(MrcResponse::from(report)))
}

/// The best policy and capacity changes for a cache, from its curves.
#[utoipa::path(
    get,
    path = "/admin/v1/caches/{cache}/recommendation",
    tag = "admin",
    params(("cache" = String, Path, description = "Cache name")),
    responses(
        (status = 200, body = RecommendationResponse, example = json!({"cache": "default", "active_policy": "lru", "active_miss_ratio": 0.5, "best_policy": "sieve", "best_miss_ratio": 0.47, "estimated_gain": 0.03, "capacity_changes": [{"capacity_factor": 2.0, "capacity": 200, "miss_ratio_now": 0.5, "miss_ratio_after": 0.41, "summary": "doubling max_entries (100 to 200) lowers the estimated miss ratio from 0.50 to 0.41"}], "sampled_requests": 20000, "effective_samples": 1900.0, "estimates": [{"policy": "lru", "miss_ratio": 0.5, "noise_band": 0.022, "fresh_start": {"miss_ratio": 0.49, "running_miss_ratio": 0.5, "samples": 1600}}, {"policy": "sieve", "miss_ratio": 0.47, "noise_band": 0.022, "fresh_start": null}], "too_thin_to_decide": false, "best_held_epochs": 12, "auto_would_act": true, "capacity_what_ifs": [{"policy": "sieve", "changes": [{"capacity_factor": 2.0, "capacity": 200, "miss_ratio_now": 0.47, "miss_ratio_after": 0.4, "summary": "doubling max_entries (100 to 200) lowers the estimated miss ratio from 0.47 to 0.40"}]}], "rebuild": false, "rebuild_gain": 0.01})),
        (status = 403, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The cache is not analysed", body = crate::edge::error::Problem, content_type = "application/problem+json")
    )
)]
pub(crate) async fn recommendation(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    cache: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cache = cache_name(&cache)?;
    let (report, r) = state
        .service
        .recommendation(GetRecommendation { principal, cache })?;
    Ok(HttpResponse::Ok().json(RecommendationResponse {
        cache: report.cache.as_str().to_owned(),
        active_policy: r.active.as_str().to_owned(),
        active_miss_ratio: r.active_miss_ratio,
        best_policy: r.best.map(|p| p.as_str().to_owned()),
        best_miss_ratio: r.best_miss_ratio,
        estimated_gain: r.estimated_gain,
        capacity_changes: r
            .capacity_changes
            .into_iter()
            .map(capacity_change_dto)
            .collect(),
        sampled_requests: report.curves.sampled_requests,
        effective_samples: report.curves.effective_samples,
        estimates: r
            .estimates
            .into_iter()
            .map(|e| PolicyEstimateDto {
                policy: e.policy.as_str().to_owned(),
                miss_ratio: e.miss_ratio,
                noise_band: e.noise_band,
                fresh_start: e.fresh.map(FreshStartDto::from),
            })
            .collect(),
        too_thin_to_decide: r.too_thin_to_decide,
        best_held_epochs: r.best_held_epochs,
        auto_would_act: r.auto_would_act,
        capacity_what_ifs: r
            .capacity_what_ifs
            .into_iter()
            .map(|w| PolicyCapacityChangesDto {
                policy: w.policy.as_str().to_owned(),
                changes: w.changes.into_iter().map(capacity_change_dto).collect(),
            })
            .collect(),
        rebuild: r.rebuild,
        rebuild_gain: r.rebuild_gain,
    }))
}
