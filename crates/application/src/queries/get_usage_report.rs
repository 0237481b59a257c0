//! `GetUsageReport`: how a cache is used, from a uniform sample of its
//! requests: the hot keys (Space-Saving, with each estimate's error
//! bound), key and value sizes, and the read/write ratio; and from a
//! spatial sample of its keys ([`strata_domain::EntryLifetimes`]): the
//! TTLs entries are written with and the share that expire or are evicted
//! unread (one-hit wonders).

use strata_domain::{CacheName, LifetimeCounts, Principal, Role};

use crate::context::Context;
use crate::registry::AccessError;

/// Keys a report lists.
pub const REPORT_HOT_KEYS: usize = 20;

/// Read a cache's usage report.
#[derive(Clone, Debug)]
pub struct GetUsageReport {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
}

/// A hot key's estimated reads, scaled from the sample.
#[derive(Clone, Debug, PartialEq)]
pub struct HotKeyEstimate {
    /// The key.
    pub key: String,
    /// Estimated reads since start: the sampled count over the sampling
    /// rate.
    pub reads: f64,
    /// How much `reads` may be above the sampled truth, scaled alike.
    pub error: f64,
}

/// The report.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageReport {
    /// The cache.
    pub cache: CacheName,
    /// The probability with which each request was sampled.
    pub sampling_rate: f64,
    /// Reads sampled.
    pub sampled_reads: u64,
    /// Writes sampled.
    pub sampled_writes: u64,
    /// Samples dropped because another request was recording one.
    pub dropped_samples: u64,
    /// The top keys by reads, most read first.
    pub hot_keys: Vec<HotKeyEstimate>,
    /// The bound of every `error`, scaled: sampled reads over the
    /// summary's counters, over the rate.
    pub error_bound: f64,
    /// Key sizes of sampled requests: (upper bound in bytes, count).
    pub key_sizes: Vec<(u64, u64)>,
    /// Value sizes of sampled hits and writes: (upper bound in bytes, count).
    pub value_sizes: Vec<(u64, u64)>,
    /// Reads (hits + misses) since start, counted exactly.
    pub reads: u64,
    /// Writes (inserts + updates) since start, counted exactly.
    pub writes: u64,
    /// reads / writes; `None` before the first write.
    pub read_write_ratio: Option<f64>,
    /// How the lives of the followed keys' entries ended, and the TTLs
    /// they were written with (single and batch writes and reads of the
    /// REST and gRPC faces).
    pub lifetimes: LifetimeCounts,
    /// The share of keys whose lives are followed, in `(0, 1]`.
    pub lifetime_sampling_rate: f64,
    /// Bytes the sample holds (hot keys and followed keys).
    pub memory_bytes: usize,
    /// Probed values (one write in 64): how many, and their compressed
    /// size over their size with zstd (`None` before the first probe).
    pub compression_probes: usize,
    /// See [`UsageReport::compression_probes`].
    pub compression_ratio: Option<f64>,
    /// Settings worth changing, from the sample (today: compression).
    /// The eviction policy and capacity recommendations come from the
    /// miss-ratio curves (`/admin/v1/caches/{cache}/recommendation`).
    pub recommendations: Vec<strata_domain::SettingRecommendation>,
}

/// Why the report cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GetUsageReportError {
    /// Unknown cache or missing role. HTTP: 404 / 403.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// `[analytics] enabled = false`. HTTP: 404 `not_found`.
    #[error("usage reports are off: [analytics] enabled = false")]
    Disabled,
}

pub(crate) fn handle(ctx: &Context, q: GetUsageReport) -> Result<UsageReport, GetUsageReportError> {
    let cache = ctx
        .registry
        .authorize(&q.cache, &q.principal, Role::Reader)?;
    if !ctx.trends.enabled() {
        return Err(GetUsageReportError::Disabled);
    }
    let rate = ctx.trends.report_sample_rate();
    let (sample, dropped) = cache.counters().usage();
    let counters = cache.counters().snapshot();
    let (lifetimes, lifetime_sampling_rate, lifetime_bytes) =
        cache.counters().lifetimes(ctx.clock.now());
    let ttl_advice = strata_domain::ttl_recommendation(cache.config(), &lifetimes);
    let reads = counters.hits + counters.misses;
    let writes = counters.inserts + counters.updates;
    Ok(UsageReport {
        cache: q.cache,
        sampling_rate: rate,
        sampled_reads: sample.reads,
        sampled_writes: sample.writes,
        dropped_samples: dropped,
        hot_keys: sample
            .hot_keys
            .top(REPORT_HOT_KEYS)
            .into_iter()
            .map(|h| HotKeyEstimate {
                key: h.key,
                reads: h.count as f64 / rate,
                error: h.error as f64 / rate,
            })
            .collect(),
        error_bound: sample.hot_keys.error_bound() as f64 / rate,
        key_sizes: sample.key_sizes.buckets(),
        value_sizes: sample.value_sizes.buckets(),
        reads,
        writes,
        read_write_ratio: (writes > 0).then(|| reads as f64 / writes as f64),
        lifetimes,
        lifetime_sampling_rate,
        memory_bytes: sample.hot_keys.memory_bytes()
            + lifetime_bytes
            + sample.compressibility.len() * 8,
        compression_probes: sample.compressibility.len(),
        compression_ratio: sample.compressibility.ratio(),
        recommendations: strata_domain::compression_recommendation(
            cache.config(),
            &sample.compressibility,
        )
        .into_iter()
        .chain(ttl_advice)
        .collect(),
    })
}
