//! [`ApiError`]: every failure as an RFC 7807 `application/problem+json`
//! body with a stable `code`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use strata_application::LookupError;
use strata_application::commands::configure_cache::ConfigureCacheError;
use strata_application::commands::delete_cache::DeleteCacheError;
use strata_application::commands::delete_entry::DeleteEntryError;
use strata_application::commands::flush_cache::FlushCacheError;
use strata_application::commands::invalidate_entries::InvalidateEntriesError;
use strata_application::commands::put_entry::PutEntryError;
use strata_application::queries::get_cache_stats::GetCacheStatsError;
use strata_application::queries::get_configuration::GetConfigurationError;
use strata_application::queries::get_entries::GetEntriesError;
use strata_application::queries::get_entry::GetEntryError;
use strata_application::queries::list_caches::ListCachesError;
use strata_domain::{ProvisionError, RepositoryError, StoreError};

/// Seconds a client is told to wait (`Retry-After`) when a backend is down.
pub const RETRY_AFTER_SECS: u64 = 5;

/// An RFC 7807 problem details body (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:strata:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Stable machine-readable code, e.g. `invalid_key`.
    pub code: String,
    /// The offending field or parameter, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A failed request: status, stable code, and a detail for the client.
///
/// 5xx details are opaque to the client (`internal error`); the full error
/// chain is logged with the request id.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    field: Option<String>,
    retry_after: bool,
    x_cache: Option<&'static str>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            field: None,
            retry_after: false,
            x_cache: None,
        }
    }

    /// Adds an `X-Cache` header (`MISS` on a read miss).
    pub fn with_x_cache(mut self, value: &'static str) -> Self {
        self.x_cache = Some(value);
        self
    }

    /// Names the offending field or parameter.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `invalid_key`.
    pub fn invalid_key(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_key",
            "Invalid key",
            detail,
        )
    }
    /// 400 `invalid_ttl`.
    pub fn invalid_ttl(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_ttl",
            "Invalid TTL",
            detail,
        )
        .field("ttl")
    }
    /// 400 `invalid_parameter`.
    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "Invalid parameter",
            detail,
        )
    }
    /// 400 `invalid_body`: the body could not be decoded.
    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "Invalid request body",
            detail,
        )
    }
    /// 404 `entry_not_found`.
    pub fn entry_not_found(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "entry_not_found",
            "Entry not found",
            format!("no entry for key {key:?}"),
        )
    }
    /// 413 `payload_too_large`: the body exceeds the server's limit.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            detail,
        )
    }
    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            detail,
        )
    }
    /// 422 `invalid_configuration`.
    pub fn invalid_configuration(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_configuration",
            "Invalid configuration",
            detail,
        )
        .field(field)
    }
    /// 404 `not_found` for unknown routes.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("no route for {path}"),
        )
    }
    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            "this resource does not accept that method",
        )
    }
    /// 500 `internal`; logs the cause.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "internal error; see the server log for this request id",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = Problem {
            problem_type: format!("urn:strata:problem:{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            field: self.field.clone(),
        };
        let mut response = HttpResponse::build(self.status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if self.retry_after {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        if let Some(x_cache) = self.x_cache {
            response.insert_header((crate::entries::X_CACHE, x_cache));
        }
        response.body(serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::CacheNotFound(_) => Self::new(
                StatusCode::NOT_FOUND,
                "cache_not_found",
                "Cache not found",
                e.to_string(),
            ),
            LookupError::Forbidden { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                e.to_string(),
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unavailable { .. } | StoreError::Timeout { .. } => {
                tracing::warn!(error = %e, "backend unavailable");
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backend_unavailable",
                    "Backend unavailable",
                    e.to_string(),
                );
                err.retry_after = true;
                err
            }
            StoreError::Unsupported { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_operation",
                "Operation not supported by the backend",
                e.to_string(),
            ),
            StoreError::Unexpected(_) => Self::internal(&e),
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        Self::internal(&e)
    }
}

impl From<ProvisionError> for ApiError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::Store(store) => store.into(),
            other => Self::invalid_configuration("tiers", other.to_string()),
        }
    }
}

impl From<PutEntryError> for ApiError {
    fn from(e: PutEntryError) -> Self {
        match e {
            PutEntryError::Lookup(l) => l.into(),
            PutEntryError::Store(s) => s.into(),
            e @ PutEntryError::ValueTooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "value_too_large",
                "Value too large",
                e.to_string(),
            ),
        }
    }
}

/// `From` for errors that are only a lookup or a store failure.
macro_rules! lookup_or_store {
    ($($ty:ident),*) => {$(
        impl From<$ty> for ApiError {
            fn from(e: $ty) -> Self {
                match e {
                    $ty::Lookup(l) => l.into(),
                    $ty::Store(s) => s.into(),
                }
            }
        }
    )*};
}
lookup_or_store!(
    GetEntryError,
    GetEntriesError,
    DeleteEntryError,
    InvalidateEntriesError,
    FlushCacheError,
    GetCacheStatsError
);

impl From<DeleteCacheError> for ApiError {
    fn from(e: DeleteCacheError) -> Self {
        match e {
            DeleteCacheError::Lookup(l) => l.into(),
            DeleteCacheError::Store(s) => s.into(),
            DeleteCacheError::Repository(r) => r.into(),
        }
    }
}

impl From<ConfigureCacheError> for ApiError {
    fn from(e: ConfigureCacheError) -> Self {
        match e {
            ConfigureCacheError::Lookup(l) => l.into(),
            ConfigureCacheError::Provision(p) => p.into(),
            ConfigureCacheError::Repository(r) => r.into(),
        }
    }
}

impl From<ListCachesError> for ApiError {
    fn from(e: ListCachesError) -> Self {
        match e {
            ListCachesError::Lookup(l) => l.into(),
        }
    }
}

impl From<GetConfigurationError> for ApiError {
    fn from(e: GetConfigurationError) -> Self {
        match e {
            GetConfigurationError::Lookup(l) => l.into(),
        }
    }
}
