//! Prometheus metrics: the process-wide recorder, the HTTP latency
//! middleware and the per-cache gauges refreshed at scrape time.
//!
//! Series:
//! - `strata_cache_requests_total{cache,op,result}`: counter; `op` is
//!   `get`, `head`, `put`, `delete`, `batch_get`, `batch_put`,
//!   `invalidate`, `flush`; `result` is `hit`, `miss`, `ok` or `error`.
//!   `op="get"` with `hit` and `miss` counts the cache's key reads (GET,
//!   HEAD, each key of a batchGet, cache-aside loads): they are the
//!   application's [`CacheCounters`], the numbers `/stats` reports, carried
//!   over at scrape time; the HTTP layer counts only `ok` and `error`.
//!   `cache` is the cache's name only for caches that exist; requests for a
//!   cache that does not exist are counted under
//!   `cache="_unknown"` ([`UNKNOWN_CACHE`]), so made-up names in URLs add
//!   no series.
//! - `strata_cache_leases_total{cache,outcome}`: counter of leases
//!   (docs/resilience.md); `outcome` is `granted` (a GET gave one),
//!   `pending` (a GET answered `lease_pending`), `filled` (a PUT with its
//!   lease stored) or `invalidated` (a PUT with its lease was refused).
//! - `strata_cache_stale_served_total{cache,reason}`: counter of stale
//!   answers; `reason` is `expired` (stale-while-revalidate) or
//!   `backend-unavailable` (stale-if-error).
//! - `strata_cache_evictions_total{cache,cause}`: counter; `cause` is
//!   `capacity` or `expired`. It counts since the cache was opened,
//!   across policy switches and resizes (the stores a change retires keep
//!   counting in the cache's `RetiredCounts`), as `/stats` does.
//! - `strata_cache_entries{cache}`, `strata_cache_bytes{cache}`,
//!   `strata_cache_hit_ratio{cache}`: gauges.
//! - `strata_http_request_duration_seconds{method,route,status}`: histogram.
//! - `strata_cache_tier_hits_total{cache,tier}`,
//!   `strata_cache_tier_misses_total{cache,tier}`: counters per tier of a
//!   stacked cache; `strata_cache_tier_entries{cache,tier}`: gauge.
//! - `strata_cache_mrc_miss_ratio{cache,policy,capacity_factor}`: gauge,
//!   the estimated miss ratio of each analysed cache under each candidate
//!   policy (8 values) at each capacity factor (`0.25`, `0.5`, `1`, `2`,
//!   `4`); `strata_cache_mrc_sampling_rate{cache}`,
//!   `strata_cache_mrc_memory_bytes{cache}`: gauges;
//!   `strata_cache_mrc_sampled_total{cache}`,
//!   `strata_cache_mrc_dropped_total{cache}`: counters.
//! - `strata_backend_circuit_state{backend,kind}`: gauge, 0 closed,
//!   1 half-open, 2 open.
//! - `strata_backend_failures_total{backend}`,
//!   `strata_backend_rejected_total{backend}` (refused while open),
//!   `strata_backend_breaker_opened_total{backend}`: counters.
//! - `strata_trends_sources`, `strata_trends_memory_bytes`: gauges, the
//!   caches and build-cache stores with trends (`[analytics]`) and the
//!   bytes their ring buffers and annotations hold now.
//! - `strata_alerts_firing{severity}`: gauge, the alerts firing now
//!   (`info`, `warning`, `critical`; 0 when none);
//!   `strata_alert_notifications_total{result}`: counter of webhook
//!   notifications, `delivered`, `failed` (after every retry) or `dropped`
//!   (queue full).
//! - `strata_build_cache_requests_total{kind,op,result}`: counter of
//!   build-cache requests, HTTP and gRPC alike (a gRPC batch counts each
//!   blob), `count_build_cache`; `strata_build_cache_bytes{store}`: gauge,
//!   refreshed at scrape time ([`export_build_cache_bytes`]).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock};

use actix_web::http::Method;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use strata_application::BuildCacheService;
use strata_application::queries::get_cache_stats::stats_of;
use strata_application::{CacheCounters, CacheService};
use strata_domain::{CacheName, Principal, StoreKind};

/// The `cache` label of requests for a cache that does not exist.
pub const UNKNOWN_CACHE: &str = "_unknown";

/// Histogram buckets of `strata_http_request_duration_seconds`, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

/// The process-wide Prometheus recorder, installed on first call. Several
/// apps in one process (tests) share it; their caches are told apart by the
/// `cache` label.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Full("strata_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    })
}

type CounterKey = (&'static str, &'static str);
type CountersByCache = HashMap<String, HashMap<CounterKey, metrics::Counter>>;
type HistogramsByRoute = HashMap<String, HashMap<(Method, u16), metrics::Histogram>>;

/// Registered request counters by cache, then (op, result): the hot path
/// looks a handle up by `&str` instead of building a labelled key (and its
/// allocations) in the metrics registry on every request.
static REQUESTS: LazyLock<RwLock<CountersByCache>> = LazyLock::new(Default::default);

thread_local! {
    /// Latency histogram handles by route, then (method, status), per
    /// worker thread: the recorder returns the same histogram for the same
    /// labels, so each worker looks its handles up without sharing a lock
    /// (or its cache line) with the others.
    static LATENCY: std::cell::RefCell<HistogramsByRoute> = Default::default();
}

/// Counts `n` cache requests under the label `cache`.
fn count_request(cache: &str, op: &'static str, result: &'static str, n: u64) {
    let cached = REQUESTS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(cache)
        .and_then(|by_op| by_op.get(&(op, result)).cloned());
    let counter = cached.unwrap_or_else(|| {
        let counter = metrics::counter!(
            "strata_cache_requests_total",
            "cache" => cache.to_owned(),
            "op" => op,
            "result" => result
        );
        REQUESTS
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(cache.to_owned())
            .or_default()
            .insert((op, result), counter.clone());
        counter
    });
    counter.increment(n);
}

/// Counts one lease outcome on `cache` (`strata_cache_leases_total`):
/// `granted`, `pending`, `filled` or `invalidated`. Only existing caches
/// reach it, so `cache` is a real name.
pub fn count_lease(cache: &CacheName, outcome: &'static str) {
    metrics::counter!(
        "strata_cache_leases_total",
        "cache" => cache.as_str().to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Counts one stale answer on `cache`
/// (`strata_cache_stale_served_total`): `reason` is `expired` or
/// `backend-unavailable`.
pub fn count_stale(cache: &CacheName, reason: &'static str) {
    metrics::counter!(
        "strata_cache_stale_served_total",
        "cache" => cache.as_str().to_owned(),
        "reason" => reason
    )
    .increment(1);
}

/// Counts one request on `cache` by its outcome: `ok` or `error`. A request
/// that failed is counted under [`UNKNOWN_CACHE`] unless `cache` exists.
pub fn count_outcome<T, E>(
    service: &CacheService,
    cache: &CacheName,
    op: &'static str,
    result: &Result<T, E>,
) {
    if result.is_ok() {
        count_request(cache.as_str(), op, "ok", 1);
    } else {
        count_error(service, cache, op);
    }
}

/// Counts one failed request on `cache`, under [`UNKNOWN_CACHE`] unless
/// `cache` exists.
pub fn count_error(service: &CacheService, cache: &CacheName, op: &'static str) {
    let label = if service.registry().get(cache).is_some() {
        cache.as_str()
    } else {
        UNKNOWN_CACHE
    };
    count_request(label, op, "error", 1);
}

/// Read counters already carried over to Prometheus, by counters instance
/// (kept alive here so its address names it while it is in the map).
type ExportedReads = HashMap<usize, (Arc<CacheCounters>, u64, u64)>;
static EXPORTED_READS: LazyLock<Mutex<ExportedReads>> = LazyLock::new(Default::default);

/// Adds the hits and misses `counters` gained since the last scrape to
/// `strata_cache_requests_total{cache,op="get",result="hit"|"miss"}`.
fn export_reads(cache: &str, counters: &Arc<CacheCounters>) {
    let now = counters.snapshot();
    let (hits, misses) = {
        let mut exported = EXPORTED_READS.lock().unwrap_or_else(|e| e.into_inner());
        let (_, hits, misses) = exported
            .entry(Arc::as_ptr(counters) as usize)
            .or_insert_with(|| (Arc::clone(counters), 0, 0));
        let delta = (
            now.hits.saturating_sub(*hits),
            now.misses.saturating_sub(*misses),
        );
        (*hits, *misses) = (now.hits, now.misses);
        delta
    };
    if hits > 0 {
        count_request(cache, "get", "hit", hits);
    }
    if misses > 0 {
        count_request(cache, "get", "miss", misses);
    }
}

/// Records one request in `strata_http_request_duration_seconds`
/// (labels `method`, `route` pattern, `status`).
pub fn record_latency(route: &str, method: &Method, status: u16, elapsed: std::time::Duration) {
    let seconds = elapsed.as_secs_f64();
    LATENCY.with_borrow_mut(|cache| {
        if let Some(histogram) = cache
            .get(route)
            .and_then(|m| m.get(&(method.clone(), status)))
        {
            histogram.record(seconds);
            return;
        }
        let histogram = metrics::histogram!(
            "strata_http_request_duration_seconds",
            "method" => method.as_str().to_owned(),
            "route" => route.to_owned(),
            "status" => status.to_string()
        );
        histogram.record(seconds);
        cache
            .entry(route.to_owned())
            .or_default()
            .insert((method.clone(), status), histogram);
    });
}

/// The route patterns whose requests count in their cache's trends: its
/// entries, one by one and in batches.
const ENTRY_ROUTES: &str = "/v1/caches/{cache}/entries";

/// The route of one entry, whose requests the usage report samples.
const ENTRY_ROUTE: &str = "/v1/caches/{cache}/entries/{key:.+}";

/// Counts one answered request in its cache's trend counters
/// ([`CacheCounters::record_request`]) when `route` serves a cache's
/// entries, the cache exists and trends are on: its latency, a 5xx as an
/// error, the answer's body as bytes read (a `GET` that succeeded) and
/// the request's `Content-Length` as bytes written (a `PUT` or a
/// batchPut that succeeded).
pub fn record_cache_traffic(
    req: &actix_web::HttpRequest,
    route: &str,
    status: actix_web::http::StatusCode,
    response_bytes: Option<u64>,
    elapsed: std::time::Duration,
) {
    if !route.starts_with(ENTRY_ROUTES) {
        return;
    }
    let Some(state) = req.app_data::<actix_web::web::Data<crate::edge::state::AppState>>() else {
        return;
    };
    if !state.service.trends().enabled() {
        return;
    }
    let Some(raw) = req.match_info().get("cache") else {
        return;
    };
    with_cache_counters(&state.service, raw, |counters| {
        record_on(counters, req, state, route, status, response_bytes, elapsed);
    });
}

/// Counts one gRPC call on `cache`'s entries in its trend counters, as
/// [`record_cache_traffic`] does for HTTP: latency, a server error, value
/// bytes sent (`read`) and received (`written`).
pub(crate) fn record_grpc_traffic(
    service: &CacheService,
    cache: &CacheName,
    elapsed: std::time::Duration,
    server_error: bool,
    read: u64,
    written: u64,
) {
    if !service.trends().enabled() {
        return;
    }
    with_cache_counters(service, cache.as_str(), |counters| {
        counters.record_request(elapsed, server_error, read, written);
    });
}

/// [`record_cache_traffic`] once the cache's counters are found.
fn record_on(
    counters: &CacheCounters,
    req: &actix_web::HttpRequest,
    state: &crate::edge::state::AppState,
    route: &str,
    status: actix_web::http::StatusCode,
    response_bytes: Option<u64>,
    elapsed: std::time::Duration,
) {
    let ok = status.is_success();
    let method = req.method();
    let read = if ok && method == Method::GET {
        response_bytes.unwrap_or(0)
    } else {
        0
    };
    let written = if ok && (method == Method::PUT || route.ends_with(":batchPut")) {
        req.headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    counters.record_request(elapsed, status.is_server_error(), read, written);
    // The usage report: a uniform sample of single-key reads and writes.
    if route == ENTRY_ROUTE
        && (ok || status == actix_web::http::StatusCode::NOT_FOUND)
        && rand::random::<f64>() < state.service.trends().report_sample_rate()
        && let Ok((_, key)) = crate::edge::params::entry_path(req)
    {
        if method == Method::GET || method == Method::HEAD {
            counters.sample_read(key.as_str(), (ok && method == Method::GET).then_some(read));
        } else if ok && method == Method::PUT {
            counters.sample_write(key.as_str(), written);
        }
    }
}

/// Each worker's copies of caches' counters, by the name in the path, and
/// the registry (address, generation) they were read from: the request
/// path finds its counters without the registry's lock.
type CountersByName = (usize, u64, HashMap<String, Arc<CacheCounters>>);

thread_local! {
    static TRAFFIC: std::cell::RefCell<CountersByName> = Default::default();
}

/// Runs `f` on the counters of the cache named `raw` in a path, if it
/// exists.
fn with_cache_counters(service: &CacheService, raw: &str, f: impl FnOnce(&CacheCounters)) {
    let registry = service.registry();
    let (address, generation) = (std::ptr::from_ref(registry) as usize, registry.generation());
    TRAFFIC.with_borrow_mut(|(seen_address, seen_generation, by_name)| {
        if (*seen_address, *seen_generation) != (address, generation) {
            by_name.clear();
            (*seen_address, *seen_generation) = (address, generation);
        }
        if let Some(counters) = by_name.get(raw) {
            return f(counters);
        }
        let Some(cache) = CacheName::parse(raw).ok().and_then(|n| registry.get(&n)) else {
            return;
        };
        f(cache.counters());
        by_name.insert(raw.to_owned(), cache.counters().clone());
    })
}

/// The `capacity_factor` label of a point: one of
/// [`CAPACITY_FACTORS`](strata_domain::CAPACITY_FACTORS), so the label has
/// five values.
fn capacity_factor_label(factor: f64) -> &'static str {
    match strata_domain::CAPACITY_FACTORS
        .iter()
        .position(|&f| f == factor)
    {
        Some(0) => "0.25",
        Some(1) => "0.5",
        Some(2) => "1",
        Some(3) => "2",
        Some(4) => "4",
        _ => "other",
    }
}

/// Refreshes the per-cache read counters, gauges and eviction counters from
/// the service, then renders the text exposition format.
pub async fn render(service: &CacheService) -> String {
    let caches = service.registry().all();
    // Forget the counters of caches that are gone (only this map holds them).
    EXPORTED_READS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|_, (counters, _, _)| Arc::strong_count(counters) > 1);
    for cache in caches {
        let name = cache.config().name().as_str().to_owned();
        export_reads(&name, cache.counters());
        match stats_of(&cache).await {
            Ok(stats) => {
                metrics::gauge!("strata_cache_entries", "cache" => name.clone())
                    .set(stats.store.entries as f64);
                metrics::gauge!("strata_cache_bytes", "cache" => name.clone())
                    .set(stats.store.bytes as f64);
                metrics::gauge!("strata_cache_hit_ratio", "cache" => name.clone())
                    .set(stats.hit_ratio);
                metrics::counter!("strata_cache_evictions_total", "cache" => name.clone(), "cause" => "capacity")
                    .absolute(stats.store.evictions_capacity);
                metrics::counter!("strata_cache_evictions_total", "cache" => name.clone(), "cause" => "expired")
                    .absolute(stats.store.expirations);
                for tier in stats.tiers {
                    metrics::counter!("strata_cache_tier_hits_total", "cache" => name.clone(), "tier" => tier.tier.clone())
                        .absolute(tier.hits);
                    metrics::counter!("strata_cache_tier_misses_total", "cache" => name.clone(), "tier" => tier.tier.clone())
                        .absolute(tier.misses);
                    metrics::gauge!("strata_cache_tier_entries", "cache" => name.clone(), "tier" => tier.tier)
                        .set(tier.store.entries as f64);
                }
            }
            Err(e) => {
                tracing::warn!(cache = %name, error = %e, "could not read cache stats for /metrics")
            }
        }
    }
    for (name, curves) in service.all_miss_ratio_curves() {
        let name = name.as_str().to_owned();
        for curve in &curves.curves {
            for point in &curve.points {
                let Some(miss_ratio) = point.miss_ratio else {
                    continue;
                };
                metrics::gauge!(
                    "strata_cache_mrc_miss_ratio",
                    "cache" => name.clone(),
                    "policy" => curve.policy.as_str(),
                    "capacity_factor" => capacity_factor_label(point.capacity_factor)
                )
                .set(miss_ratio);
            }
        }
        metrics::gauge!("strata_cache_mrc_sampling_rate", "cache" => name.clone())
            .set(curves.sampling_rate);
        metrics::gauge!("strata_cache_mrc_memory_bytes", "cache" => name.clone())
            .set(curves.memory_bytes as f64);
        metrics::counter!("strata_cache_mrc_sampled_total", "cache" => name.clone())
            .absolute(curves.sampled_requests);
        metrics::counter!("strata_cache_mrc_dropped_total", "cache" => name)
            .absolute(curves.dropped_samples);
    }
    let firing = service.alerts().firing_counts();
    for (severity, count) in strata_domain::Severity::ALL.into_iter().zip(firing) {
        metrics::gauge!("strata_alerts_firing", "severity" => severity.as_str()).set(count as f64);
    }
    let (sources, bytes) = service.trends().memory();
    metrics::gauge!("strata_trends_sources").set(sources as f64);
    metrics::gauge!("strata_trends_memory_bytes").set(bytes as f64);
    for backend in service.backends() {
        metrics::gauge!("strata_backend_circuit_state", "backend" => backend.name.clone(), "kind" => backend.kind.clone())
            .set(f64::from(backend.circuit.gauge()));
        metrics::counter!("strata_backend_failures_total", "backend" => backend.name.clone())
            .absolute(backend.failures);
        metrics::counter!("strata_backend_rejected_total", "backend" => backend.name.clone())
            .absolute(backend.rejected);
        metrics::counter!("strata_backend_breaker_opened_total", "backend" => backend.name)
            .absolute(backend.opened);
    }
    prometheus().render()
}
/// Counts one build-cache request in `strata_build_cache_requests_total`
/// (HTTP and gRPC alike).
pub(crate) fn count_build_cache(kind: StoreKind, op: &'static str, result: &'static str) {
    count_build_cache_many(kind, op, result, 1);
}

/// Counts `n` build-cache requests of one outcome (a gRPC batch's blobs).
pub(crate) fn count_build_cache_many(
    kind: StoreKind,
    op: &'static str,
    result: &'static str,
    n: u64,
) {
    if n == 0 {
        return;
    }
    metrics::counter!(
        "strata_build_cache_requests_total",
        "kind" => kind.as_str(),
        "op" => op,
        "result" => result
    )
    .increment(n);
}

/// Sets `strata_build_cache_bytes{store}` from the stores' counters (the
/// scrape reads them as the metrics system, which holds every role).
pub async fn export_build_cache_bytes(service: &BuildCacheService) {
    use strata_application::build_cache::get_build_cache_stats::GetBuildCacheStats;
    match service
        .stats(GetBuildCacheStats {
            principal: Principal::Anonymous,
        })
        .await
    {
        Ok(stats) => {
            let mut by_store: Vec<(String, u64)> = Vec::new();
            for usage in stats.ac.iter().chain(&stats.cas) {
                match by_store.iter_mut().find(|(s, _)| *s == usage.store) {
                    Some((_, bytes)) => *bytes += usage.bytes,
                    None => by_store.push((usage.store.clone(), usage.bytes)),
                }
            }
            for (store, bytes) in by_store {
                metrics::gauge!("strata_build_cache_bytes", "store" => store).set(bytes as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read build-cache stats for /metrics"),
    }
}
