//! `GET /console/audit?principal=&action=&cache=&since=`: the audit log
//! (admins on `*`, as `GET /admin/v1/audit`), newest last, filtered by
//! principal, action, cache and time (`since`, RFC 3339).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;
use strata_domain::{AUDIT_MAX_LIMIT, AuditAction, AuditQuery, Role, Timestamp};

use super::layout::{self, ConsoleError};
use super::session::Viewer;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// The filters.
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    /// Only this principal's records.
    pub principal: Option<String>,
    /// Only this action's (`configure`, `flush`, ...).
    pub action: Option<String>,
    /// Only records about this cache.
    pub cache: Option<String>,
    /// Only records at or after this time (RFC 3339).
    pub since: Option<String>,
}

/// `GET /console/audit`.
pub(crate) async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    filters: web::Query<AuditFilters>,
) -> Result<HttpResponse, ConsoleError> {
    if !viewer.principal.may_all(Role::Admin) {
        let e = ApiError::forbidden(format!(
            "{} lacks the admin role on `*`, which reading the audit log needs",
            viewer.principal
        ));
        crate::edge::audited::record_forbidden(&req, &e).await;
        return Err(e.into());
    }
    let Some(log) = state.audit.clone() else {
        return Err(ConsoleError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "The audit log is not configured (add an [audit] section with a path).",
        ));
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let action = match nonempty(&filters.action) {
        Some(a) => Some(AuditAction::parse(&a).ok_or_else(|| {
            ConsoleError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("unknown action {a:?}"),
            )
        })?),
        None => None,
    };
    let since = match nonempty(&filters.since) {
        Some(s) => Some(Timestamp::parse_rfc3339(&s).ok_or_else(|| {
            ConsoleError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "since must be an RFC 3339 time",
            )
        })?),
        None => None,
    };
    let cache = nonempty(&filters.cache);
    let records = log
        .read(&AuditQuery {
            since,
            principal: nonempty(&filters.principal),
            action,
            limit: Some(AUDIT_MAX_LIMIT),
        })
        .await
        .map_err(ApiError::audit_unavailable)?;
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| cache.is_none() || r.cache == cache)
        .collect();
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/console/audit" {
            label for="principal" { "Principal" }
            input #principal-filter type="text" name="principal" value=(value(&filters.principal));
            label for="action" { "Action" }
            select #action name="action" {
                option value="" { "any" }
                @for a in AuditAction::ALL {
                    option value=(a.as_str()) selected[filters.action.as_deref() == Some(a.as_str())] { (a.as_str()) }
                }
            }
            label for="cache" { "Cache" }
            input #cache type="text" name="cache" value=(value(&filters.cache));
            label for="since" { "Since (RFC 3339)" }
            input #since type="text" name="since" value=(value(&filters.since)) placeholder="2026-12-07T00:00:00Z";
            button type="submit" { "Filter" }
        }
        table.audit #audit {
            thead { tr { th { "Time" } th { "Principal" } th { "Action" } th { "Cache" } th { "Outcome" } th { "Parameters" } } }
            tbody {
                @for r in &records {
                    tr {
                        td { (r.time.to_rfc3339()) }
                        td { (r.principal) }
                        td { (r.action.as_str()) }
                        td { (r.cache.clone().unwrap_or_default()) }
                        td { (r.outcome) }
                        td { (r.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&viewer, "Audit log", body))
}
