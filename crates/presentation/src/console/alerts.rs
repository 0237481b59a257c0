//! `GET /console/alerts` (admins on `*`, as `GET /admin/v1/alerts`): the
//! firing and pending alerts, their history (resolved, newest first) and
//! the active and scheduled silences, read from issue 28's alert engine.
//! Read only: silences are created and removed with the API
//! (`POST`/`DELETE /admin/v1/alerts/silences`) until the console gets
//! forms for them. The overview shows the firing ones ([`firing`]).

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use strata_domain::{Alert, AlertState, Role, Timestamp};

use super::layout::{self, ConsoleError};
use super::session::Viewer;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// A table of `alerts`.
fn table(id: &str, alerts: &[Alert]) -> Markup {
    let time = |ms: Option<u64>| {
        ms.map(|ms| Timestamp::from_millis(ms).to_rfc3339())
            .unwrap_or_default()
    };
    html! {
        @if alerts.is_empty() {
            p.note id={ (id) "-none" } { "None." }
        } @else {
            table.alerts id=(id) {
                thead { tr { th { "Rule" } th { "Source" } th { "Severity" } th { "State" } th { "Value" } th { "Since" } th { "Resolved" } th { "Summary" } } }
                tbody {
                    @for a in alerts {
                        tr.failed[a.state == AlertState::Firing && !a.silenced] {
                            td { (a.rule) }
                            td { (a.source) }
                            td { (a.severity.as_str()) }
                            td { (a.state.as_str()) @if a.silenced { " (silenced)" } }
                            td.num { (a.value.map(|v| format!("{v:.3}")).unwrap_or_default()) }
                            td { (time(Some(a.active_since_ms))) }
                            td { (time(a.resolved_at_ms)) }
                            td { (a.summary) }
                        }
                    }
                }
            }
        }
    }
}

/// The firing alerts for the overview: the table for admins on `*`, a
/// note for others.
pub(crate) fn firing(state: &AppState, viewer: &Viewer) -> Markup {
    if !viewer.principal.may_all(Role::Admin) {
        return html! { p.note { "Alerts are shown to admins of every cache." } };
    }
    table(
        "firing-alerts",
        &state.service.alerts().list(AlertState::Firing),
    )
}

/// `GET /console/alerts`.
pub(crate) async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
) -> Result<HttpResponse, ConsoleError> {
    if !viewer.principal.may_all(Role::Admin) {
        let e = ApiError::forbidden(format!(
            "{} lacks the admin role on `*`, which reading alerts needs",
            viewer.principal
        ));
        crate::edge::audited::record_forbidden(&req, &e).await;
        return Err(e.into());
    }
    let alerts = state.service.alerts();
    let silences = alerts.silences(state.clock.now().as_millis());
    let time = |ms: u64| Timestamp::from_millis(ms).to_rfc3339();
    let body = html! {
        section { h2 { "Firing" } (table("firing", &alerts.list(AlertState::Firing))) }
        section { h2 { "Pending" } (table("pending", &alerts.list(AlertState::Pending))) }
        section { h2 { "History" } (table("resolved", &alerts.list(AlertState::Resolved))) }
        section {
            h2 { "Silences" }
            @if silences.is_empty() {
                p.note #silences-none { "None." }
            } @else {
                table #silences {
                    thead { tr { th { "Rule" } th { "Caches" } th { "From" } th { "Until" } th { "By" } th { "Comment" } } }
                    tbody {
                        @for s in &silences {
                            tr {
                                td { (s.rule) } td { (s.caches.as_str()) } td { (time(s.starts_at_ms)) }
                                td { (time(s.ends_at_ms)) } td { (s.created_by) } td { (s.comment) }
                            }
                        }
                    }
                }
            }
            p.note { "Create and remove silences with " code { "POST /admin/v1/alerts/silences" } " and " code { "DELETE /admin/v1/alerts/silences/{id}" } "." }
        }
    };
    Ok(layout::page(&viewer, "Alerts", body))
}
