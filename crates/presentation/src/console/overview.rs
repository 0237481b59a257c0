//! `GET /console`: this instance (version, listeners), every cache the
//! viewer may read with its hit ratio, entries and an hour's hit-ratio
//! sparkline (refreshed by htmx every 10 s), the firing alerts (admins on
//! `*`), and the build cache's AC and CAS stores with their hit ratio and
//! bytes.

use actix_web::HttpResponse;
use actix_web::web;
use maud::{Markup, html};
use strata_application::build_cache::get_build_cache_stats::{BuildCacheStats, GetBuildCacheStats};
use strata_application::queries::get_cache_stats::GetCacheStats;
use strata_application::queries::get_trends::{GetTrends, TrendSubject};
use strata_application::queries::list_caches::ListCaches;
use strata_domain::{Principal, SeriesId, StoreUsage, TrendRange};

use super::layout::{self, ConsoleError, bytes, percent, sparkline};
use super::session::Viewer;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// An hour of `series` of `subject` at 10 s, or nothing when the viewer
/// may not read it or analytics are off.
pub(crate) fn hour_of(
    state: &AppState,
    principal: &Principal,
    subject: TrendSubject,
    series: SeriesId,
) -> Vec<(u64, Option<f64>)> {
    state
        .service
        .get_trends(GetTrends {
            principal: principal.clone(),
            subject,
            range: TrendRange::Hour,
            series: vec![series],
        })
        .ok()
        .and_then(|view| view.series.into_iter().next())
        .map(|(_, points)| points)
        .unwrap_or_default()
}

/// The caches table.
async fn caches(state: &AppState, viewer: &Viewer) -> Markup {
    let list = state
        .service
        .list(ListCaches {
            principal: viewer.principal.clone(),
        })
        .await;
    let mut rows = Vec::with_capacity(list.len());
    for summary in list {
        let name = summary.config.name().clone();
        let stats = state
            .service
            .stats(GetCacheStats {
                principal: viewer.principal.clone(),
                cache: name.clone(),
            })
            .await
            .ok();
        let trend = hour_of(
            state,
            &viewer.principal,
            TrendSubject::Cache(name.clone()),
            SeriesId::HitRatio,
        );
        rows.push((name, summary.backend, stats, trend));
    }
    html! {
        section #caches hx-get="/console" hx-select="#caches" hx-swap="outerHTML" hx-trigger="every 10s" {
            h2 { "Caches" }
            table.caches {
                thead { tr { th { "Cache" } th { "Backend" } th { "Entries" } th { "Bytes" } th { "Hit ratio" } th { "Last hour" } } }
                tbody {
                    @for (name, backend, stats, trend) in &rows {
                        tr {
                            td { a href={ "/console/caches/" (name.as_str()) } { (name.as_str()) } }
                            td { (backend) }
                            @if let Some(s) = stats {
                                td.num { (s.store.entries) }
                                td.num { (bytes(s.store.bytes)) }
                                td.num { (percent((s.counters.hits + s.counters.misses > 0).then_some(s.hit_ratio))) }
                            } @else {
                                td {} td {} td {}
                            }
                            td { (sparkline(trend, 1.0)) }
                        }
                    }
                }
            }
        }
    }
}

/// Hit ratio of a build-cache store.
fn store_ratio(s: &StoreUsage) -> Option<f64> {
    let reads = s.hits + s.misses;
    (reads > 0).then(|| s.hits as f64 / reads as f64)
}

/// The build cache's stores, when it is on and the viewer may read it.
pub(crate) async fn build_cache_table(state: &AppState, viewer: &Viewer) -> Markup {
    match build_cache_stats(state, viewer).await {
        Ok(stats) => stores_table(state, viewer, &stats),
        Err(note) => note,
    }
}

/// The build cache's stats for `viewer`, or the note saying why there
/// are none (off, or an error).
pub(crate) async fn build_cache_stats(
    state: &AppState,
    viewer: &Viewer,
) -> Result<BuildCacheStats, Markup> {
    let Some(build_cache) = &state.build_cache else {
        return Err(html! { p.note { "The build cache is off." } });
    };
    build_cache
        .stats(GetBuildCacheStats {
            principal: viewer.principal.clone(),
        })
        .await
        .map_err(|e| {
            let e = ConsoleError::from(ApiError::from(e));
            html! { p.error { (e.message) } }
        })
}

/// The stores of `stats`: entries, bytes, hit ratio and an hour's
/// sparkline each.
pub(crate) fn stores_table(state: &AppState, viewer: &Viewer, stats: &BuildCacheStats) -> Markup {
    let rows = stats
        .ac
        .iter()
        .map(|s| ("ac", s))
        .chain(stats.cas.iter().map(|s| ("cas", s)));
    html! {
        table.build-cache {
            thead { tr { th { "Store" } th { "Entries" } th { "Bytes" } th { "Hit ratio" } th { "Last hour" } } }
            tbody {
                @for (kind, s) in rows {
                    @let source = format!("{kind}/{}", s.store);
                    tr {
                        td { (source) }
                        td.num { (s.entries) }
                        td.num { (bytes(s.bytes)) }
                        td.num { (percent(store_ratio(s))) }
                        td { (sparkline(&hour_of(state, &viewer.principal, TrendSubject::BuildCache(source.clone()), SeriesId::HitRatio), 1.0)) }
                    }
                }
            }
        }
    }
}

/// `GET /console`.
pub(crate) async fn page(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, ConsoleError> {
    let body = html! {
        section #instance {
            h2 { "This instance" }
            p {
                "Strata " (state.server.version) " listening on "
                @for (i, l) in state.server.listeners.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (l.url) } " (" (l.protocol) ")"
                }
                "."
            }
        }
        (caches(&state, &viewer).await)
        section #alerts {
            h2 { a href="/console/alerts" { "Firing alerts" } }
            (super::alerts::firing(&state, &viewer))
        }
        section {
            h2 { "Build cache" }
            (build_cache_table(&state, &viewer).await)
        }
    };
    Ok(layout::page(&viewer, "Overview", body))
}
