//! The console's page shell (navigation, the `anonymous` banner, the
//! logout form) and the small renderers every screen shares: byte sizes,
//! ratios, sparklines and chart placeholders for `console.js`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use maud::{DOCTYPE, Markup, html};

pub(crate) use super::error::ConsoleError;
use super::error::head;
use super::session::Viewer;

/// A full page for `viewer`: navigation, who is logged in (or the
/// `anonymous` banner), the logout form, then `body`.
pub(crate) fn page(viewer: &Viewer, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    nav {
                        a href="/console" { "Overview" }
                        a href="/console/build-cache" { "Build cache" }
                        a href="/console/audit" { "Audit log" }
                        a href="/console/alerts" { "Alerts" }
                    }
                    div.who {
                        @if viewer.anonymous {
                            span.anonymous #principal { "anonymous" }
                            span.note { " (no authentication: protected mode, trusted networks only)" }
                        } @else {
                            span #principal { (viewer.principal.to_string()) }
                            form.inline method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(viewer.csrf_token);
                                button #logout type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// `markup` as an HTML response with `status`.
pub(crate) fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// Any other path under `/console`.
pub(crate) async fn not_found() -> HttpResponse {
    ConsoleError::new(StatusCode::NOT_FOUND, "not_found", "No such console page.").error_response()
}

/// `n` bytes for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A ratio from 0 to 1 as a percentage, or `–` when there is none.
pub(crate) fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

/// A sparkline of `points` (values from 0 to `max`) as an inline SVG
/// polyline: drawn by the server, no script needed.
pub(crate) fn sparkline(points: &Points, max: f64) -> Markup {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let values: Vec<(usize, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, (_, v))| v.map(|v| (i, v)))
        .collect();
    let n = points.len().max(2) - 1;
    let path: Vec<String> = values
        .iter()
        .map(|(i, v)| {
            let x = *i as f64 * W / n as f64;
            let y = H - (v / max).clamp(0.0, 1.0) * H;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    html! {
        svg.sparkline width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="trend" {
            @if path.is_empty() {
                text x="2" y="16" font-size="10" fill="#888" { "no data" }
            } @else {
                polyline fill="none" stroke="#2563eb" stroke-width="1.5" points=(path.join(" ")) {}
            }
        }
    }
}

/// A trend series: `(unix_ms, value)` points, oldest first.
pub(crate) type Points = [(u64, Option<f64>)];

/// A chart `console.js` draws with uPlot: `title`, and each series'
/// `(unix_ms, value)` points as JSON in `data-series` (no inline script).
pub(crate) fn chart(title: &str, series: &[(&str, &Points)]) -> Markup {
    let json = serde_json::json!(
        series
            .iter()
            .map(|(name, points)| serde_json::json!({"name": name, "points": points}))
            .collect::<Vec<_>>()
    );
    html! {
        figure.chart {
            figcaption { (title) }
            div.uplot-target data-series=(json.to_string()) {}
        }
    }
}

/// The hidden CSRF field of `viewer`'s forms.
pub(crate) fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf_token); }
}
