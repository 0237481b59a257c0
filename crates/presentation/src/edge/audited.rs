//! Writing the audit trail: [`Audit`] records an admin operation before
//! it runs and with its outcome, [`refusal`] records a 401 or a
//! protected-mode 403 ([`refusal_record`] for any face), [`record_forbidden`] any other 403 `forbidden`
//! (e.g. a reader's PUT). Without an audit log (`AppState::audit` is `None`,
//! no `[audit]` section) nothing is recorded. It imports no handler and
//! not `auth.rs`, which uses it.

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest};
use strata_domain::{
    AUDIT_ATTEMPT, AUDIT_OK, AuditAction, AuditLog, AuditRecord, CacheName, Principal,
};

use crate::edge::error::ApiError;
use crate::edge::request_id::RequestIdText;
use crate::edge::state::AppState;

/// The request id [`request::observe`](crate::http::request::observe) assigned (the `X-Request-Id` header).
fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<RequestIdText>()
        .map(|id| id.as_str().to_owned())
}

/// The caller's address: the TCP peer's socket address, or the client
/// address a trusted proxy forwarded
/// ([`client_addr`](crate::edge::client_addr)).
fn peer(state: &AppState, req: &HttpRequest) -> Option<String> {
    let proxies = &state.trusted_proxies;
    proxies.audit_peer(
        req.peer_addr(),
        crate::edge::client_addr::http_client(req, proxies),
    )
}

/// Who acted, as `Acting` found it (in the request's extensions, only
/// with an audit log), for [`record_forbidden`].
#[derive(Clone, Debug)]
pub(crate) struct Actor(pub(crate) String);

/// Marks a request whose outcome an [`Audit`] recorded already.
#[derive(Clone, Copy, Debug)]
struct Recorded;

/// Records a 403 `forbidden` answer that no [`Audit`] recorded (the cache
/// API, `GET /admin/v1/audit`). Best effort: a failing append is logged.
pub(crate) async fn record_forbidden(req: &HttpRequest, error: &ApiError) {
    if error.code() != "forbidden" || req.extensions().get::<Recorded>().is_some() {
        return;
    }
    let Some(state) = req.app_data::<actix_web::web::Data<crate::edge::state::AppState>>() else {
        return;
    };
    let Some(log) = state.audit.clone() else {
        return;
    };
    let principal = req
        .extensions()
        .get::<Actor>()
        .map_or_else(|| Principal::Anonymous.to_string(), |a| a.0.clone());
    let record = AuditRecord {
        time: state.clock.now(),
        principal,
        action: AuditAction::Forbidden,
        cache: path_cache(req),
        params: method_and_path(req),
        outcome: error.code().to_owned(),
        request_id: request_id(req),
        peer: peer(state, req),
    };
    if let Err(e) = log.append(&record).await {
        tracing::warn!(target: "strata::audit", error = %e, "cannot record a forbidden request");
    }
}

fn path_cache(req: &HttpRequest) -> Option<String> {
    req.match_info()
        .get("cache")
        .and_then(|c| CacheName::parse(c).ok())
        .map(|c| c.as_str().to_owned())
}

fn method_and_path(req: &HttpRequest) -> Vec<(String, String)> {
    vec![
        ("method".to_owned(), req.method().to_string()),
        ("path".to_owned(), req.path().to_owned()),
    ]
}

/// An admin operation under audit: [`Audit::begin`] appends an `attempt`
/// record, [`Audit::finish`] the outcome record. Either failing is 503
/// `audit_unavailable`; a failed `begin` means the operation must not run.
pub(crate) struct Audit {
    log: Option<Arc<dyn AuditLog>>,
    record: AuditRecord,
}

impl Audit {
    /// Appends the `attempt` record of `action` by `principal` on `cache`.
    ///
    /// # Errors
    /// 503 `audit_unavailable` when the record cannot be written.
    pub(crate) async fn begin(
        state: &AppState,
        req: &HttpRequest,
        principal: &Principal,
        action: AuditAction,
        cache: &CacheName,
        params: Vec<(String, String)>,
    ) -> Result<Self, ApiError> {
        Self::begin_on(
            state,
            req,
            principal,
            action,
            Some(cache.as_str().to_owned()),
            params,
        )
        .await
    }

    /// [`Audit::begin`] for an operation on no cache, or on a target that
    /// is not a cache name (an alert's source).
    ///
    /// # Errors
    /// 503 `audit_unavailable` when the record cannot be written.
    pub(crate) async fn begin_on(
        state: &AppState,
        req: &HttpRequest,
        principal: &Principal,
        action: AuditAction,
        cache: Option<String>,
        params: Vec<(String, String)>,
    ) -> Result<Self, ApiError> {
        let record = AuditRecord {
            time: state.clock.now(),
            principal: principal.to_string(),
            action,
            cache,
            params,
            outcome: AUDIT_ATTEMPT.to_owned(),
            request_id: request_id(req),
            peer: peer(state, req),
        };
        let log = state.audit.clone();
        if let Some(log) = &log {
            log.append(&record)
                .await
                .map_err(ApiError::audit_unavailable)?;
            req.extensions_mut().insert(Recorded);
        }
        Ok(Self { log, record })
    }

    /// Adds a parameter to the outcome record (e.g. what a flush removed).
    pub(crate) fn note(&mut self, key: &str, value: String) {
        self.record.params.push((key.to_owned(), value));
    }

    /// Appends the outcome record (`ok` or the error's code) and passes
    /// `result` on.
    ///
    /// # Errors
    /// `result`'s error, or 503 `audit_unavailable` when the record cannot
    /// be written.
    pub(crate) async fn finish<T>(
        mut self,
        state: &AppState,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let Some(log) = self.log else {
            return result;
        };
        self.record.time = state.clock.now();
        self.record.outcome = match &result {
            Ok(_) => AUDIT_OK.to_owned(),
            Err(e) => e.code().to_owned(),
        };
        log.append(&self.record)
            .await
            .map_err(ApiError::audit_unavailable)?;
        result
    }
}

/// The record of a request refused before any operation (401
/// `unauthorized`, 403 `protected_mode`), or `None` for other errors.
pub(crate) fn refusal(
    state: &AppState,
    req: &HttpRequest,
    error: &ApiError,
) -> Option<AuditRecord> {
    refusal_record(
        state,
        error,
        path_cache(req),
        method_and_path(req),
        request_id(req),
        peer(state, req),
    )
}

/// The record of a call refused before any operation, whatever the face:
/// a 401 `unauthorized` is an [`AuditAction::Unauthorized`], a 403
/// `protected_mode` an [`AuditAction::Forbidden`], by `anonymous`; `None`
/// for other errors. The face says what it knows of the call: the cache
/// it named, its parameters, its request id and its peer.
pub(crate) fn refusal_record(
    state: &AppState,
    error: &ApiError,
    cache: Option<String>,
    params: Vec<(String, String)>,
    request_id: Option<String>,
    peer: Option<String>,
) -> Option<AuditRecord> {
    let action = match error.code() {
        "unauthorized" => AuditAction::Unauthorized,
        "protected_mode" => AuditAction::Forbidden,
        _ => return None,
    };
    Some(AuditRecord {
        time: state.clock.now(),
        principal: Principal::Anonymous.to_string(),
        action,
        cache,
        params,
        outcome: error.code().to_owned(),
        request_id,
        peer,
    })
}
