//! `EvaluateAlerts`: judge every alert rule on the newest trend points,
//! audit each state change (action `alert`, principal `alerts`) and hand
//! fired and resolved alerts to the notifier.

use strata_domain::{AUDIT_OK, AuditAction, AuditLog, AuditRecord};

use crate::alerts::AlertChange;
use crate::context::Context;

/// The principal name alert transitions are audited under.
pub const ALERTS_PRINCIPAL: &str = "alerts";

pub(crate) async fn handle(ctx: &Context, audit: Option<&dyn AuditLog>) -> Vec<AlertChange> {
    let now = ctx.clock.now();
    let points = ctx.trends.latest_points();
    let changes = ctx.alerts.evaluate(now.as_millis(), &points);
    for change in &changes {
        if change.is_transition() {
            let a = &change.alert;
            tracing::info!(
                rule = %a.rule,
                source = %a.source,
                severity = a.severity.as_str(),
                from = change.from.map_or("inactive", |s| s.as_str()),
                to = change.to.map_or("inactive", |s| s.as_str()),
                value = ?a.value,
                "alert changed state"
            );
            if let Some(log) = audit {
                let record = AuditRecord {
                    time: now,
                    principal: ALERTS_PRINCIPAL.to_owned(),
                    action: AuditAction::Alert,
                    cache: Some(a.source.clone()),
                    params: vec![
                        ("rule".to_owned(), a.rule.clone()),
                        ("severity".to_owned(), a.severity.as_str().to_owned()),
                        (
                            "from".to_owned(),
                            change.from.map_or("inactive", |s| s.as_str()).to_owned(),
                        ),
                        (
                            "to".to_owned(),
                            change.to.map_or("inactive", |s| s.as_str()).to_owned(),
                        ),
                        (
                            "value".to_owned(),
                            a.value
                                .map_or_else(|| "none".to_owned(), |v| format!("{v}")),
                        ),
                        ("silenced".to_owned(), a.silenced.to_string()),
                    ],
                    outcome: AUDIT_OK.to_owned(),
                    request_id: None,
                    peer: None,
                };
                if let Err(e) = log.append(&record).await {
                    tracing::warn!(target: "strata::audit", error = %e, "cannot record an alert transition");
                }
            }
        }
        ctx.alerts.notify(change);
    }
    changes
}
