//! The alerts (admin on `*`): `GET /admin/v1/alerts` (firing, or
//! `?state=pending|resolved`), and silences: `GET` and `POST
//! /admin/v1/alerts/silences`, `DELETE /admin/v1/alerts/silences/{id}`.
//! Creating and removing a silence is audited (action `silence`). See
//! docs/monitoring.md ("Alerts").

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_domain::{Alert, AlertState, AuditAction, KeyPattern, Role, Silence};

use crate::edge::audited::Audit;
use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;
use crate::http::body::Body;
use crate::http::codec::decode;

/// The longest silence, in seconds: 30 days.
pub const MAX_SILENCE_SECS: u64 = 30 * 86_400;

/// Query of `GET /admin/v1/alerts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// `firing` (default), `pending`, or `resolved` (the history, newest
    /// first, at most 1000).
    #[param(pattern = "^(firing|pending|resolved)$")]
    pub state: Option<String>,
}

impl AlertParams {
    /// The parameters `GET /admin/v1/alerts` takes.
    pub const PARAMS: &'static [&'static str] = &["state"];
}

/// An alert.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertDto {
    /// The rule (`alertname`).
    pub rule: String,
    /// The source: a cache, a build-cache store (`cas/disk`) or `server`.
    pub cache: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    /// The signal's latest value (a hit ratio, a count per 10 s, ms for
    /// latencies), or null.
    pub value: Option<f64>,
    /// The baseline it was judged against (anomaly rules), or null.
    pub baseline: Option<f64>,
    /// When the condition started to hold, Unix ms.
    pub active_since_ms: u64,
    /// When it fired, Unix ms.
    pub fired_at_ms: Option<u64>,
    /// When it resolved, Unix ms.
    pub resolved_at_ms: Option<u64>,
    /// What the rule says.
    pub summary: String,
    /// Whether a silence held its notifications back.
    pub silenced: bool,
}

impl From<Alert> for AlertDto {
    fn from(a: Alert) -> Self {
        Self {
            rule: a.rule,
            cache: a.source,
            severity: a.severity.as_str().to_owned(),
            state: a.state.as_str().to_owned(),
            value: a.value.filter(|v| v.is_finite()),
            baseline: a.baseline.filter(|v| v.is_finite()),
            active_since_ms: a.active_since_ms,
            fired_at_ms: a.fired_at_ms,
            resolved_at_ms: a.resolved_at_ms,
            summary: a.summary,
            silenced: a.silenced,
        }
    }
}

/// Answer of `GET /admin/v1/alerts`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertsResponse {
    /// Newest first.
    pub alerts: Vec<AlertDto>,
}

/// Body of `POST /admin/v1/alerts/silences`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// The rule to silence (a built-in detector or a `[[alerts.rules]]`
    /// name).
    pub rule: String,
    /// A glob over sources (default `*`).
    #[serde(default)]
    pub caches: Option<String>,
    /// How long, in seconds, from now: 1 to 2592000 (30 days).
    #[schema(minimum = 1, maximum = 2_592_000)]
    pub duration_secs: u64,
    /// Why (at most 1024 bytes).
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub comment: Option<String>,
}

/// A silence.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SilenceDto {
    /// Its id, for `DELETE /admin/v1/alerts/silences/{id}`.
    pub id: String,
    /// The rule it silences.
    pub rule: String,
    /// The sources it covers (a glob).
    pub caches: String,
    /// From, Unix ms.
    pub starts_at_ms: u64,
    /// Until, Unix ms.
    pub ends_at_ms: u64,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl From<Silence> for SilenceDto {
    fn from(s: Silence) -> Self {
        Self {
            id: s.id,
            rule: s.rule,
            caches: s.caches.as_str().to_owned(),
            starts_at_ms: s.starts_at_ms,
            ends_at_ms: s.ends_at_ms,
            created_by: s.created_by,
            comment: s.comment,
        }
    }
}

/// Answer of `GET /admin/v1/alerts/silences`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SilencesResponse {
    /// Active and scheduled silences, soonest end first.
    pub silences: Vec<SilenceDto>,
}

fn admin_on_all(principal: &strata_domain::Principal, what: &str) -> Result<(), ApiError> {
    if principal.may_all(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{principal} lacks the admin role on `*`, which {what} needs"
        )))
    }
}

/// List alerts: firing (default), pending, or resolved (admin on `*`).
#[utoipa::path(
    get,
    path = "/admin/v1/alerts",
    operation_id = "list_alerts",
    tag = "admin",
    params(AlertParams),
    responses(
        (status = 200, body = AlertsResponse, example = json!({"alerts": [{"rule": "hit_ratio_drop", "cache": "orders", "severity": "warning", "state": "firing", "value": 0.31, "baseline": 0.9, "active_since_ms": 1796627563275_u64, "fired_at_ms": 1796627623275_u64, "resolved_at_ms": null, "summary": "the hit ratio dropped below its baseline", "silenced": false}]})),
        (status = 400, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs admin on `*`", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    params: web::Query<AlertParams>,
) -> Result<HttpResponse, ApiError> {
    admin_on_all(&principal, "reading alerts")?;
    let wanted = match params.into_inner().state.as_deref() {
        None => AlertState::Firing,
        Some(s) => AlertState::parse(s).ok_or_else(|| {
            ApiError::invalid_parameter("state must be firing, pending or resolved").field("state")
        })?,
    };
    let alerts = state.service.alerts().list(wanted);
    Ok(HttpResponse::Ok().json(AlertsResponse {
        alerts: alerts.into_iter().map(AlertDto::from).collect(),
    }))
}

/// List active and scheduled silences (admin on `*`).
#[utoipa::path(
    get,
    path = "/admin/v1/alerts/silences",
    operation_id = "list_silences",
    tag = "admin",
    responses(
        (status = 200, body = SilencesResponse, example = json!({"silences": [{"id": "5f0c6a3e-8a53-4d6c-a1c4-0e7f1d2b9c11", "rule": "flush_pattern", "caches": "*", "starts_at_ms": 1796627623275_u64, "ends_at_ms": 1796631223275_u64, "created_by": "ops", "comment": "planned flushes"}]})),
        (status = 401, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs admin on `*`", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_silences(
    state: web::Data<AppState>,
    Acting(principal): Acting,
) -> Result<HttpResponse, ApiError> {
    admin_on_all(&principal, "reading silences")?;
    let now = state.clock.now().as_millis();
    let silences = state.service.alerts().silences(now);
    Ok(HttpResponse::Ok().json(SilencesResponse {
        silences: silences.into_iter().map(SilenceDto::from).collect(),
    }))
}

/// Silence one rule's notifications for a while (admin on `*`; audited).
#[utoipa::path(
    post,
    path = "/admin/v1/alerts/silences",
    operation_id = "create_silence",
    tag = "admin",
    request_body(content = SilenceRequest, content_type = "application/json", example = json!({"rule": "flush_pattern", "caches": "*", "duration_secs": 3600, "comment": "planned flushes"})),
    responses(
        (status = 201, body = SilenceDto, example = json!({"id": "5f0c6a3e-8a53-4d6c-a1c4-0e7f1d2b9c11", "rule": "flush_pattern", "caches": "*", "starts_at_ms": 1796627623275_u64, "ends_at_ms": 1796631223275_u64, "created_by": "ops", "comment": "planned flushes"})),
        (status = 400, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs admin on `*`", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many silences (`too_many_silences`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 415, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No rule of that name (`unknown_alert_rule`)", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log cannot be written", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_silence(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    Body(body): Body,
) -> Result<HttpResponse, ApiError> {
    admin_on_all(&principal, "silencing alerts")?;
    let request: SilenceRequest = decode(&req, &body)?;
    if !(1..=MAX_SILENCE_SECS).contains(&request.duration_secs) {
        return Err(ApiError::invalid_parameter(format!(
            "duration_secs must be 1 to {MAX_SILENCE_SECS} (30 days)"
        ))
        .field("duration_secs"));
    }
    let comment = request.comment.unwrap_or_default();
    if comment.len() > 1024 {
        return Err(ApiError::invalid_parameter("comment is over 1024 bytes").field("comment"));
    }
    let caches = KeyPattern::parse(request.caches.as_deref().unwrap_or("*"))
        .map_err(|e| ApiError::invalid_parameter(e.to_string()).field("caches"))?;
    let alerts = state.service.alerts();
    if !alerts.rules().iter().any(|r| r.name == request.rule) {
        return Err(ApiError::with_code(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_alert_rule",
            "Unknown alert rule",
            format!("no alert rule is named {:?}", request.rule),
        )
        .field("rule"));
    }
    let now = state.clock.now().as_millis();
    let silence = Silence {
        id: uuid::Uuid::new_v4().to_string(),
        rule: request.rule,
        caches,
        starts_at_ms: now,
        ends_at_ms: now.saturating_add(request.duration_secs * 1000),
        created_by: principal.to_string(),
        comment,
    };
    let audit = Audit::begin_on(
        &state,
        &req,
        &principal,
        AuditAction::Silence,
        None,
        vec![
            ("op".to_owned(), "create".to_owned()),
            ("id".to_owned(), silence.id.clone()),
            ("rule".to_owned(), silence.rule.clone()),
            ("caches".to_owned(), silence.caches.as_str().to_owned()),
            ("ends_at_ms".to_owned(), silence.ends_at_ms.to_string()),
        ],
    )
    .await?;
    let result = alerts
        .add_silence(silence.clone(), now)
        .map_err(|e| {
            ApiError::with_code(
                StatusCode::CONFLICT,
                "too_many_silences",
                "Too many silences",
                e,
            )
        })
        .map(|()| {
            HttpResponse::Created()
                .insert_header((
                    "Location",
                    format!("/admin/v1/alerts/silences/{}", silence.id),
                ))
                .json(SilenceDto::from(silence))
        });
    audit.finish(&state, result).await
}

/// Remove a silence (admin on `*`; audited).
#[utoipa::path(
    delete,
    path = "/admin/v1/alerts/silences/{id}",
    operation_id = "delete_silence",
    tag = "admin",
    params(("id" = String, Path, description = "The silence's id", pattern = "^[0-9a-f-]{36}$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs admin on `*`", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such silence", body = crate::edge::error::Problem, content_type = "application/problem+json", example = json!({"type": "urn:strata:problem:not_found", "title": "Not found", "status": 404, "detail": "no silence has the id \"5f0c6a3e-8a53-4d6c-a1c4-0e7f1d2b9c11\"", "code": "not_found"})),
        (status = 503, description = "The audit log cannot be written", body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_silence(
    state: web::Data<AppState>,
    req: HttpRequest,
    Acting(principal): Acting,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin_on_all(&principal, "removing silences")?;
    let id = id.into_inner();
    let audit = Audit::begin_on(
        &state,
        &req,
        &principal,
        AuditAction::Silence,
        None,
        vec![
            ("op".to_owned(), "delete".to_owned()),
            ("id".to_owned(), id.chars().take(64).collect()),
        ],
    )
    .await?;
    let result = match state.service.alerts().remove_silence(&id) {
        Some(_) => Ok(HttpResponse::NoContent().finish()),
        None => Err(ApiError::not_configured(format!(
            "no silence has the id {:?}",
            id.chars().take(64).collect::<String>()
        ))),
    };
    audit.finish(&state, result).await
}
