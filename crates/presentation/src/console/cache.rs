//! `GET /console/caches/{cache}?range=1h|24h|30d`: a cache's stats, its
//! trend charts (hit ratio, p50/p99 latency, evictions; drawn by uPlot),
//! the miss-ratio curve of every policy with the active one marked and
//! the recommendation, and the usage report's hot keys. Links to the key
//! browser, for writers to invalidation and for admins to configuration.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use strata_application::queries::get_cache_stats::GetCacheStats;
use strata_application::queries::get_miss_ratio_curves::GetRecommendation;
use strata_application::queries::get_trends::{GetTrends, TrendSubject};
use strata_application::queries::get_usage_report::GetUsageReport;
use strata_domain::{CacheName, Role, SeriesId, TrendRange};

use super::layout::{self, ConsoleError, bytes, chart, percent};
use super::session::Viewer;
use crate::edge::error::ApiError;
use crate::edge::params::cache_name;
use crate::edge::state::AppState;

/// Query of the detail page.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    /// `1h` (default), `24h` or `30d`.
    pub range: Option<String>,
}

/// The cache's name from the path, as the API parses it.
pub(crate) fn name_of(raw: &str) -> Result<CacheName, ConsoleError> {
    cache_name(raw).map_err(ConsoleError::from)
}

/// The links every cache page shows; edit links only for admins.
pub(crate) fn cache_nav(viewer: &Viewer, cache: &CacheName) -> Markup {
    let base = format!("/console/caches/{}", cache.as_str());
    html! {
        nav.sub {
            a href=(base) { "Detail" }
            a href={ (base) "/keys" } { "Keys" }
            @if viewer.principal.may(Role::Writer, cache) {
                a href={ (base) "/invalidate" } { "Invalidate" }
            }
            // Reading a configuration is an admin action, as in the API.
            @if viewer.principal.may(Role::Admin, cache) {
                a href={ (base) "/config" } { "Configuration" }
            }
        }
    }
}

/// The trend charts of `cache` over `range`.
fn charts(state: &AppState, viewer: &Viewer, cache: &CacheName, range: TrendRange) -> Markup {
    let view = state.service.get_trends(GetTrends {
        principal: viewer.principal.clone(),
        subject: TrendSubject::Cache(cache.clone()),
        range,
        series: vec![
            SeriesId::HitRatio,
            SeriesId::P50,
            SeriesId::P99,
            SeriesId::Evictions,
        ],
    });
    let view = match view {
        Ok(v) => v,
        Err(e) => {
            let e = ConsoleError::from(ApiError::from(e));
            return html! { p.note { (e.message) } };
        }
    };
    let find = |id: SeriesId| {
        view.series
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, p)| p.as_slice())
            .unwrap_or_default()
    };
    html! {
        p.note { "A point every " (view.resolution_secs) " s; " (view.annotations.len()) " configuration changes or policy switches in range." }
        div.charts {
            (chart("Hit ratio", &[("hit ratio", find(SeriesId::HitRatio))]))
            (chart("Latency (ms)", &[("p50", find(SeriesId::P50)), ("p99", find(SeriesId::P99))]))
            (chart("Evictions", &[("evictions", find(SeriesId::Evictions))]))
        }
    }
}

/// Every policy's miss-ratio curve, the active one marked, and the
/// recommendation.
fn curves(state: &AppState, viewer: &Viewer, cache: &CacheName) -> Markup {
    let result = state.service.recommendation(GetRecommendation {
        principal: viewer.principal.clone(),
        cache: cache.clone(),
    });
    let (report, recommendation) = match result {
        Ok(r) => r,
        Err(e) => {
            let e = ConsoleError::from(ApiError::from(e));
            return html! { p.note { (e.message) } };
        }
    };
    let factors: Vec<f64> = report
        .curves
        .curves
        .first()
        .map(|c| c.points.iter().map(|p| p.capacity_factor).collect())
        .unwrap_or_default();
    html! {
        p {
            "Active policy: " strong #active-policy { (report.active_policy.as_str()) }
            "; observed miss ratio " (percent(report.observed_miss_ratio)) "."
        }
        p #recommendation {
            @match recommendation.best {
                Some(best) if best != recommendation.active => {
                    "Recommendation: switch to " strong { (best.as_str()) }
                    " (miss ratio " (percent(recommendation.best_miss_ratio)) " instead of "
                    (percent(recommendation.active_miss_ratio)) ")."
                }
                _ => { "Recommendation: keep " strong { (recommendation.active.as_str()) } "." }
            }
            @for change in &recommendation.capacity_changes {
                br; (change.summary)
            }
        }
        table.curves {
            thead { tr { th { "Policy" } @for f in &factors { th { "×" (format!("{f}")) } } } }
            tbody {
                @for curve in &report.curves.curves {
                    @let active = curve.policy == report.active_policy;
                    tr.active[active] {
                        td { (curve.policy.as_str()) @if active { " (active)" } }
                        @for p in &curve.points { td.num { (percent(p.miss_ratio)) } }
                    }
                }
            }
        }
    }
}

/// The usage report's hot keys.
fn hot_keys(state: &AppState, viewer: &Viewer, cache: &CacheName) -> Markup {
    let report = state.service.usage_report(GetUsageReport {
        principal: viewer.principal.clone(),
        cache: cache.clone(),
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            let e = ConsoleError::from(ApiError::from(e));
            return html! { p.note { (e.message) } };
        }
    };
    html! {
        p.note { "Sampled at " (format!("{:.3}", report.sampling_rate)) "; reads " (report.reads) ", writes " (report.writes) "; error bound ±" (format!("{:.0}", report.error_bound)) " reads." }
        table.hot-keys {
            thead { tr { th { "Key" } th { "Reads (estimate)" } th { "± error" } } }
            tbody {
                @for k in &report.hot_keys {
                    tr {
                        td { a href={ "/console/caches/" (cache.as_str()) "/entry?key=" (urlencode(&k.key)) } { (k.key) } }
                        td.num { (format!("{:.0}", k.reads)) }
                        td.num { (format!("{:.0}", k.error)) }
                    }
                }
            }
        }
    }
}

/// `s` as a query-string value.
pub(crate) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /console/caches/{cache}`.
pub(crate) async fn page(
    state: web::Data<AppState>,
    viewer: Viewer,
    cache: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let cache = name_of(&cache)?;
    let range = query
        .range
        .as_deref()
        .and_then(TrendRange::parse)
        .unwrap_or(TrendRange::Hour);
    let stats = state
        .service
        .stats(GetCacheStats {
            principal: viewer.principal.clone(),
            cache: cache.clone(),
        })
        .await
        .map_err(ApiError::from)?;
    let reads = stats.counters.hits + stats.counters.misses;
    let body = html! {
        (cache_nav(&viewer, &cache))
        section {
            h2 { "Stats" }
            table.stats {
                tbody {
                    tr { th { "Backend" } td { (stats.backend) } }
                    tr { th { "Policy" } td { (stats.active_policy.as_str()) } }
                    tr { th { "Entries" } td #entries { (stats.store.entries) } }
                    tr { th { "Bytes" } td { (bytes(stats.store.bytes)) } }
                    tr { th { "Hits / misses" } td { (stats.counters.hits) " / " (stats.counters.misses) } }
                    tr { th { "Hit ratio" } td { (percent((reads > 0).then_some(stats.hit_ratio))) } }
                    tr { th { "Evictions / expirations" } td { (stats.store.evictions_capacity) " / " (stats.store.expirations) } }
                }
            }
        }
        section {
            h2 { "Trends" }
            nav.sub {
                @for r in TrendRange::ALL {
                    a.current[r == range] href={ "/console/caches/" (cache.as_str()) "?range=" (r.as_str()) } { (r.as_str()) }
                }
            }
            (charts(&state, &viewer, &cache, range))
        }
        section {
            h2 { "Miss-ratio curves" }
            (curves(&state, &viewer, &cache))
        }
        section {
            h2 { "Hot keys" }
            (hot_keys(&state, &viewer, &cache))
        }
    };
    Ok(layout::page(
        &viewer,
        &format!("Cache {}", cache.as_str()),
        body,
    ))
}
