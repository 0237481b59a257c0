//! [`ApiError`] as a gRPC [`Status`]: one error vocabulary for both
//! protocols, so a failure has the same meaning and message over HTTP and
//! gRPC.
//!
//! | HTTP | gRPC |
//! | --- | --- |
//! | 400, 415, 422 | INVALID_ARGUMENT |
//! | 401 | UNAUTHENTICATED |
//! | 403 | PERMISSION_DENIED |
//! | 404 | NOT_FOUND |
//! | 409 | ALREADY_EXISTS |
//! | 413, 429, 507 | RESOURCE_EXHAUSTED |
//! | 416 | OUT_OF_RANGE |
//! | 428 | FAILED_PRECONDITION |
//! | 503 | UNAVAILABLE |
//! | other 5xx | INTERNAL |
//!
//! A 4xx keeps its detail as the message, prefixed by its stable code
//! (`digest_mismatch: ...`); a 5xx message is opaque (its code only) and
//! its full error chain goes to the log, as over HTTP.

use actix_web::http::StatusCode;
use tonic::{Code, Status};

use crate::edge::error::{ApiError, ErrorChain};

/// The gRPC code of an HTTP status (table above).
pub(crate) fn code_of(status: StatusCode) -> Code {
    match status.as_u16() {
        400 | 415 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::AlreadyExists,
        413 | 429 | 507 => Code::ResourceExhausted,
        416 => Code::OutOfRange,
        428 => Code::FailedPrecondition,
        503 => Code::Unavailable,
        s if s >= 500 => Code::Internal,
        _ => Code::Unknown,
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let code = code_of(e.status());
        if e.status().is_server_error() {
            let chain = ErrorChain(&e);
            if code == Code::Unavailable {
                tracing::warn!(code = e.code(), error = %chain, "grpc: backend unavailable");
                return Status::unavailable(format!(
                    "{}: a backend is unavailable; retry later",
                    e.code()
                ));
            }
            tracing::error!(code = e.code(), error = %chain, "grpc: call failed");
            return Status::new(code, format!("{}: internal error", e.code()));
        }
        let problem = e.problem(None);
        Status::new(code, format!("{}: {}", problem.code, problem.detail))
    }
}

/// INVALID_ARGUMENT with `detail`, naming the offending `field`.
pub(crate) fn invalid(field: &str, detail: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {detail}"))
}
