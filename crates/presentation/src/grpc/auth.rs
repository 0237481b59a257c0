//! The acting principal of a gRPC call: the same credentials, limits and
//! protected mode as HTTP ([`crate::auth`]), read from the call's
//! `authorization` metadata (`Bearer <key or JWT>` or `Basic
//! <base64(user:key)>`) or `x-api-key`.

use strata_domain::Principal;
use tonic::{Request, Status};

use crate::auth::{X_API_KEY, authenticate, credential_from};
use crate::state::AppState;

/// Who `request` acts as.
///
/// # Errors
/// UNAUTHENTICATED (no or a refused credential), PERMISSION_DENIED
/// (protected mode), RESOURCE_EXHAUSTED (a rate limit).
pub(crate) fn principal<T>(state: &AppState, request: &Request<T>) -> Result<Principal, Status> {
    let peer = request.remote_addr().map(|a| a.ip());
    let metadata = request.metadata();
    authenticate(state, peer, || {
        credential_from(
            metadata.get("authorization").map(|v| v.as_bytes()),
            metadata.get(X_API_KEY).map(|v| v.as_bytes()),
        )
    })
    .map_err(Status::from)
}
