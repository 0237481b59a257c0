//! The acting principal of a gRPC call: the same credentials, limits and
//! protected mode as HTTP ([`crate::edge::auth`]), read from the call's
//! `authorization` metadata (`Bearer <key or JWT>` or `Basic
//! <base64(user:key)>`) or `x-api-key`. A refusal (UNAUTHENTICATED, or
//! protected mode's PERMISSION_DENIED) is appended to the audit file, as
//! over HTTP, with `protocol=grpc` (best effort, off the call's path).

use strata_domain::Principal;
use tonic::{Request, Status};

use crate::edge::audited::refusal_record;
use crate::edge::auth::{X_API_KEY, authenticate, credential_from};
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// Who `request` acts as.
///
/// # Errors
/// UNAUTHENTICATED (no or a refused credential), PERMISSION_DENIED
/// (protected mode), RESOURCE_EXHAUSTED (a rate limit).
pub(crate) fn principal<T>(state: &AppState, request: &Request<T>) -> Result<Principal, Status> {
    let metadata = request.metadata();
    let client = state
        .trusted_proxies
        .client(request.remote_addr().map(|a| a.ip()), |header| {
            metadata
                .get_all(header.name())
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect()
        });
    let peer = state
        .trusted_proxies
        .audit_peer(request.remote_addr(), client);
    authenticate(state, client, || {
        credential_from(
            metadata.get("authorization").map(|v| v.as_bytes()),
            metadata.get(X_API_KEY).map(|v| v.as_bytes()),
        )
    })
    .map_err(|e| {
        record_refusal(state, peer, &e);
        Status::from(e)
    })
}

fn record_refusal(state: &AppState, peer: Option<String>, error: &ApiError) {
    let (Some(log), Ok(runtime)) = (state.audit.clone(), tokio::runtime::Handle::try_current())
    else {
        return;
    };
    let params = vec![("protocol".to_owned(), "grpc".to_owned())];
    let Some(record) = refusal_record(state, error, None, params, None, peer) else {
        return;
    };
    runtime.spawn(async move {
        if let Err(e) = log.append(&record).await {
            tracing::warn!(target: "strata::audit", error = %e, "cannot record a refused gRPC call");
        }
    });
}
