//! `GET /admin/v1/audit`: the audit trail read back, newest first (admin
//! on `*`). Without an audit log (no `[audit]` section) it is 404.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_domain::{AUDIT_MAX_LIMIT, AuditAction, AuditQuery, AuditRecord, Role, Timestamp};

use crate::edge::auth::Acting;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// Query of `GET /admin/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only records at or after this time: RFC 3339 UTC
    /// (`2026-12-01T19:37:13Z`) or Unix milliseconds. The schema shows
    /// only the milliseconds form, which JSON Schema can state exactly.
    #[param(pattern = "^[0-9]{1,15}$")]
    pub since: Option<String>,
    /// Only records of this principal (key id or `anonymous`).
    pub principal: Option<String>,
    /// Only records of this action: `configure`, `delete_cache`, `flush`,
    /// `invalidate`, `unauthorized`, `forbidden`.
    #[param(schema_with = crate::edge::schemas::audit_action)]
    pub action: Option<String>,
    /// At most this many records, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

impl AuditParams {
    /// The parameters `GET /admin/v1/audit` takes, for
    /// [`AcceptedQuery`](crate::edge::params::AcceptedQuery).
    pub const PARAMS: &'static [&'static str] = &["since", "principal", "action", "limit"];
}

/// One audit record, as the audit file holds it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRecordDto {
    /// RFC 3339 UTC, milliseconds.
    pub time: String,
    /// The same instant in Unix milliseconds.
    pub time_ms: u64,
    /// Key id or `anonymous`.
    pub principal: String,
    /// `configure`, `delete_cache`, `flush`, `invalidate`, `unauthorized`, `forbidden`.
    pub action: String,
    /// Target cache.
    pub cache: Option<String>,
    /// Ordered `[name, value]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub params: Vec<(String, String)>,
    /// `attempt`, `ok` or an error code.
    pub outcome: String,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// Peer address.
    pub peer: Option<String>,
}

impl From<AuditRecord> for AuditRecordDto {
    fn from(r: AuditRecord) -> Self {
        Self {
            time: r.time.to_rfc3339(),
            time_ms: r.time.as_millis(),
            principal: r.principal,
            action: r.action.as_str().to_owned(),
            cache: r.cache,
            params: r.params,
            outcome: r.outcome,
            request_id: r.request_id,
            peer: r.peer,
        }
    }
}

/// Answer of `GET /admin/v1/audit`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditResponse {
    /// Newest first.
    pub records: Vec<AuditRecordDto>,
}

fn query(params: AuditParams) -> Result<AuditQuery, ApiError> {
    let since = params
        .since
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok().map(Timestamp::from_millis)
            } else {
                Timestamp::parse_rfc3339(&s)
            }
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    "since must be RFC 3339 UTC (2026-12-01T19:37:13Z) or Unix milliseconds",
                )
                .field("since")
            })
        })
        .transpose()?;
    let action = params
        .action
        .map(|a| {
            AuditAction::parse(&a).ok_or_else(|| {
                ApiError::invalid_parameter(format!("unknown audit action {a:?}")).field("action")
            })
        })
        .transpose()?;
    if let Some(limit) = params.limit
        && !(1..=AUDIT_MAX_LIMIT).contains(&limit)
    {
        return Err(
            ApiError::invalid_parameter(format!("limit must be 1 to {AUDIT_MAX_LIMIT}"))
                .field("limit"),
        );
    }
    Ok(AuditQuery {
        since,
        principal: params.principal,
        action,
        limit: params.limit,
    })
}

/// Read the audit log, newest first (admin on `*`).
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    operation_id = "read_audit_log",
    tag = "admin",
    params(AuditParams),
    responses(
        (status = 200, body = AuditResponse, example = json!({"records": [{"time": "2026-12-07T07:13:43.275Z", "time_ms": 1796627623275_u64, "principal": "ci", "action": "flush", "cache": "sessions", "params": [], "outcome": "ok", "request_id": "83ef4149-1c4d-4724-9261-7bdb2d85bdee", "peer": "127.0.0.1:56322"}]})),
        (status = 400, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs admin on `*`", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No `[audit]` section", body = crate::edge::error::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::edge::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn read(
    state: web::Data<AppState>,
    Acting(principal): Acting,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    if !principal.may_all(Role::Admin) {
        return Err(ApiError::forbidden(format!(
            "{principal} lacks the admin role on `*`, which reading the audit log needs"
        )));
    }
    let Some(log) = state.audit.clone() else {
        return Err(ApiError::not_configured(
            "the audit file is not configured (add an [audit] section with a path)",
        ));
    };
    let query = query(params.into_inner())?;
    let records = log
        .read(&query)
        .await
        .map_err(ApiError::audit_unavailable)?;
    Ok(HttpResponse::Ok().json(AuditResponse {
        records: records.into_iter().map(AuditRecordDto::from).collect(),
    }))
}
