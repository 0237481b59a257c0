//! Prometheus metrics: the process-wide recorder, the HTTP latency
//! middleware and the per-cache gauges refreshed at scrape time.
//!
//! Series:
//! - `strata_cache_requests_total{cache,op,result}`: counter; `op` is
//!   `get`, `put`, `delete`, `batch_get`, `batch_put`, `invalidate`,
//!   `flush`; `result` is `hit`, `miss`, `ok` or `error`.
//! - `strata_cache_evictions_total{cache,cause}`: counter; `cause` is
//!   `capacity` or `expired`.
//! - `strata_cache_entries{cache}`, `strata_cache_bytes{cache}`,
//!   `strata_cache_hit_ratio{cache}`: gauges.
//! - `strata_http_request_duration_seconds{method,route,status}`: histogram.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use strata_application::CacheService;
use strata_application::queries::get_cache_stats::stats_of;

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

/// Counts one cache request.
pub fn count_request(cache: &str, op: &'static str, result: &'static str) {
    metrics::counter!(
        "strata_cache_requests_total",
        "cache" => cache.to_owned(),
        "op" => op,
        "result" => result
    )
    .increment(1);
}

/// Middleware recording `strata_http_request_duration_seconds`.
///
/// # Errors
/// Whatever the inner service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.call(req).await?;
    metrics::histogram!(
        "strata_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .record(start.elapsed().as_secs_f64());
    Ok(response)
}

/// Refreshes the per-cache gauges and eviction counters from the service,
/// then renders the text exposition format.
pub async fn render(service: &CacheService) -> String {
    for cache in service.registry().all() {
        let name = cache.config().name().as_str().to_owned();
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
                metrics::counter!("strata_cache_evictions_total", "cache" => name, "cause" => "expired")
                    .absolute(stats.store.expirations);
            }
            Err(e) => {
                tracing::warn!(cache = %name, error = %e, "could not read cache stats for /metrics")
            }
        }
    }
    prometheus().render()
}
