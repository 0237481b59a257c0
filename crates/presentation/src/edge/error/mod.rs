//! [`ApiError`]: every failure as an RFC 7807 `application/problem+json`
//! body with a stable `code`.
//!
//! 4xx bodies say what was wrong with the request. 5xx bodies are opaque: a
//! stable `code` (`internal`, `backend_unavailable`), a generic `detail` and
//! the `request_id`, never an error's text; [`finish_server_error`] logs
//! the full `source()` chain ([`ErrorChain`]) with the request id.
//!
//! - `from_application`: each application and domain error as an
//!   [`ApiError`], for every face.
//! - `grpc_status`: an [`ApiError`] as a gRPC status, for the gRPC face.

use std::error::Error as StdError;
use std::fmt;

use crate::edge::headers::{STRATA_RETRY_AFTER_MS, X_CACHE};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use strata_domain::TokenRejection;

mod from_application;
pub(crate) mod grpc_status;

/// The cause an [`ApiError`] keeps for the log.
type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// Seconds a client is told to wait (`Retry-After`) when a backend is down.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The `WWW-Authenticate` challenge of a 401.
pub const WWW_AUTHENTICATE_BEARER: &str = "Bearer realm=\"strata\"";

/// RFC 6750 §3.1's challenge for a refused bearer token: `Bearer
/// realm="strata", error="invalid_token", error_description="<class>"`.
/// The class is one of [`TokenRejection::as_str`]'s fixed names, so it
/// needs no quoting and never holds the token.
pub fn invalid_token_challenge(class: TokenRejection) -> String {
    format!(
        "{WWW_AUTHENTICATE_BEARER}, error=\"invalid_token\", error_description=\"{}\"",
        class.as_str()
    )
}

/// What a client can do about a refused token of `class`.
fn token_rejection_hint(class: TokenRejection) -> &'static str {
    match class {
        TokenRejection::Expired => "`exp` is past: get a new token",
        TokenRejection::NotYetValid => "`nbf` is in the future: check the issuer's clock",
        TokenRejection::InvalidAudience => "`aud` is missing or not the configured audience",
        TokenRejection::InvalidIssuer => "`iss` is missing or not the configured issuer",
        TokenRejection::InvalidSignature => {
            "the signature does not verify with the key the token names"
        }
        TokenRejection::UnsupportedAlgorithm => {
            "`alg` is not one this server accepts for its keys (HS256, RS256, ES256)"
        }
        TokenRejection::UnknownCriticalHeader => "`crit` names a header parameter not understood",
        TokenRejection::Malformed => "not a well-formed JWT with the required claims",
    }
}

/// The detail of a 405 before its `Allow` methods.
const ALLOW_DETAIL: &str = "this resource accepts only ";

/// An RFC 7807 problem details body (`application/problem+json`).
// Borrowed from its `ApiError` (`ApiError::problem`): every 4xx, a miss
// included, serialises one without copying a string.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// A URI naming the problem type: `urn:strata:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub problem_type: ProblemType,
    /// Short summary of the problem type.
    pub title: &'a str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: &'a str,
    /// Stable machine-readable code, e.g. `invalid_key`.
    pub code: &'a str,
    /// The offending field or parameter, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// 5xx only: the request's `X-Request-Id`, to quote when reporting it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    /// `version_conflict` only: the version the configuration is at now
    /// (absent when the cache does not exist); also the response's `ETag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

/// A problem's `type`: `urn:strata:problem:<code>`, written straight into
/// the serialiser.
#[derive(Debug)]
pub struct ProblemType(&'static str);

impl Serialize for ProblemType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("urn:strata:problem:{}", self.0))
    }
}

/// A failed request: status, stable code, and a detail for the client.
///
/// 5xx details are opaque to the client; the cause is kept for the log,
/// where [`finish_server_error`] writes its full chain with the request id.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    field: Option<Box<str>>,
    /// `Retry-After` seconds, when the response carries one (`u16` keeps
    /// `ApiError` small; longer waits are capped).
    retry_after: Option<u16>,
    /// A 401's challenge: `None` for no `WWW-Authenticate`, `Some(None)`
    /// for the plain Bearer challenge, `Some(Some(class))` for RFC 6750's
    /// `error="invalid_token"` with that class as `error_description`.
    www_authenticate: Option<Option<TokenRejection>>,
    /// `version_conflict`: the version now (versions start at 1; niche
    /// keeps `ApiError` within clippy's large-error size).
    current_version: Option<std::num::NonZeroU64>,
    /// Further response headers (leases: `X-Cache-Lease`,
    /// `Strata-Retry-After-Ms`, `X-Cache`); a boxed slice keeps `ApiError`
    /// within clippy's large-error size.
    headers: Box<[(HeaderName, HeaderValue)]>,
    cause: Option<Cause>,
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
            retry_after: None,
            www_authenticate: None,
            current_version: None,
            headers: Box::default(),
            cause: None,
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        let mut headers = std::mem::take(&mut self.headers).into_vec();
        headers.push((name, value));
        self.headers = headers.into_boxed_slice();
        self
    }

    /// 404 `lease_pending`: a miss while another client holds the key's
    /// lease (issue 27, section 3), with `Retry-After: 1` and
    /// `Strata-Retry-After-Ms: <retry_after_ms>`: wait and read again
    /// instead of recomputing the value.
    pub fn lease_pending(key: &str, retry_after_ms: u64) -> Self {
        let mut error = Self::new(
            StatusCode::NOT_FOUND,
            "lease_pending",
            "Lease pending",
            format!(
                "no entry for key {key:?}, and another client holds its lease and is filling \
                 it; read again in {retry_after_ms} ms instead of recomputing the value"
            ),
        );
        error.retry_after = Some(1);
        error.header(STRATA_RETRY_AFTER_MS, HeaderValue::from(retry_after_ms))
    }

    /// 409 `lease_invalidated`: a PUT with `X-Cache-Lease` whose lease
    /// was invalidated (delete, invalidation, newer write) or ran out;
    /// nothing was stored.
    pub fn lease_invalidated(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "lease_invalidated",
            "Lease invalidated",
            detail,
        )
    }

    /// Adds an `X-Cache` header (`MISS` on a read miss).
    pub fn x_cache(self, value: &'static str) -> Self {
        self.header(X_CACHE, HeaderValue::from_static(value))
    }

    /// Names the offending field or parameter.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into_boxed_str());
        self
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer realm="strata"`:
    /// no credential, or one that proves nobody. A refused bearer token
    /// (JWT) gets RFC 6750 §3.1's `error="invalid_token"` with its
    /// [`TokenRejection`] class as `error_description`, and a detail naming
    /// the class. The detail never holds the credential.
    pub fn unauthorized(e: strata_domain::AuthError) -> Self {
        let rejection = e.token_rejection();
        let detail = match rejection {
            Some(class) => format!(
                "invalid token: {class} ({}); present a valid JWT as \
                 `Authorization: Bearer <token>` (docs/security.md)",
                token_rejection_hint(class)
            ),
            None => format!(
                "{e}: present an API key or JWT as `Authorization: Bearer <key>`, \
                 an API key as `X-Api-Key: <key>` or the password of HTTP Basic"
            ),
        };
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        );
        error.www_authenticate = Some(rejection);
        error
    }

    /// 403 `protected_mode`: no credentials (API keys, JWT) are configured and `peer` is not
    /// in `auth.trusted_networks`. The detail says how to fix it.
    pub fn protected_mode(peer: Option<std::net::IpAddr>) -> Self {
        let peer = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        Self::new(
            StatusCode::FORBIDDEN,
            "protected_mode",
            "Protected mode",
            format!(
                "Strata is in protected mode: no API keys or JWT keys are configured and your \
                 address ({peer}) is not in `auth.trusted_networks`. To fix it, configure \
                 `[auth.api_keys]` (`strata keys generate --id <id>`) or `[auth.jwt]`, add your \
                 network to `auth.trusted_networks`, or set `auth.mode = \"off\"` to let anyone who \
                 can reach the port do everything"
            ),
        )
    }

    /// 429 `rate_limited`, with `Retry-After: <retry_after_secs>`: the
    /// principal's token bucket (`[auth.rate_limits]`) is empty.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            format!("rate limit exceeded; retry in {retry_after_secs} s"),
        );
        error.retry_after = Some(u16::try_from(retry_after_secs).unwrap_or(u16::MAX));
        error
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
    /// 408 `request_timeout`: the request body stopped arriving for
    /// `[server] body_read_timeout_secs`; the connection is closed.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "Request timeout",
            "the request body stopped arriving; the connection is closed",
        )
    }
    /// 413 `value_too_large`: a value over its cache's `max_value_bytes`.
    pub fn value_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "value_too_large",
            "Value too large",
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
    ///
    /// `allow` is the resource's methods, e.g. `"GET, HEAD"`, sent as
    /// `Allow` (RFC 9110 section 15.5.6 requires it).
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            format!("{ALLOW_DETAIL}{allow}"),
        )
    }
    /// 500 `internal`, keeping `cause` for the log (never for the body).
    pub fn internal(cause: impl Into<Cause>) -> Self {
        let mut err = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "internal error; quote the request id when reporting it",
        );
        err.cause = Some(cause.into());
        err
    }

    /// 503 `audit_unavailable`: the audit record could not be written, so
    /// the admin operation did not run (or its outcome is unrecorded).
    /// `cause` goes to the log, never to the body.
    pub fn audit_unavailable(cause: impl Into<Cause>) -> Self {
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "Audit log unavailable",
            "the audit log cannot be written; the operation was refused",
        );
        err.retry_after = Some(RETRY_AFTER_SECS as u16);
        err.cause = Some(cause.into());
        err
    }

    /// 403 `forbidden` with `detail`, for checks outside the application
    /// layer (reading the audit log needs admin on `*`).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404 `not_found`: the route exists but what it serves is not
    /// configured (`detail` says what).
    pub fn not_configured(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found", detail)
    }

    /// 503 `backend_unavailable` with `Retry-After`, keeping `cause` for
    /// the log (never for the body).
    pub fn backend_unavailable(cause: impl Into<Cause>) -> Self {
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "backend_unavailable",
            "Backend unavailable",
            "a backend is unavailable; retry later, quoting the request id if it persists",
        );
        err.retry_after = Some(RETRY_AFTER_SECS as u16);
        err.cause = Some(cause.into());
        err
    }

    /// Any status with a stable `code`, for resources whose problems have
    /// their own codes (`build_cache.rs`). 5xx details are opaque anyway.
    pub(crate) fn with_code(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(status, code, title, detail)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The problem body, with `request_id` when given.
    pub fn problem<'a>(&'a self, request_id: Option<&'a str>) -> Problem<'a> {
        Problem {
            problem_type: ProblemType(self.code),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            field: self.field.as_deref(),
            request_id,
            current_version: self.current_version.map(std::num::NonZeroU64::get),
        }
    }

    /// 409 `version_conflict`: the configuration changed since the version
    /// the client named in `If-Match`; `current` is where it is now.
    pub fn version_conflict(expected: Option<u64>, current: Option<u64>) -> Self {
        let detail = match (expected, current) {
            (Some(0), _) => "If-Match names no configuration version (send the ETag of a GET, \
                             e.g. \"3\")"
                .to_owned(),
            (Some(e), Some(c)) => format!(
                "If-Match names version {e} but the configuration is at version {c}: \
                 read it again (GET), then retry with If-Match: \"{c}\""
            ),
            (Some(e), None) => {
                format!("If-Match names version {e} but the cache does not exist")
            }
            (None, _) => "another change of this configuration came first; retry".to_owned(),
        };
        let mut error = Self::new(
            StatusCode::CONFLICT,
            "version_conflict",
            "Version conflict",
            detail,
        );
        error.current_version = current.and_then(std::num::NonZeroU64::new);
        error
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn StdError + 'static))
    }
}

/// Displays an error and every `source()` below it, one `Caused by:` line
/// each (zero-to-production's `error_chain_fmt`).
pub struct ErrorChain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut current = self.0.source();
        while let Some(cause) = current {
            write!(f, "\nCaused by: {cause}")?;
            current = cause.source();
        }
        Ok(())
    }
}

/// For a 5xx `error` of request `request_id` (`method`, `route` pattern):
/// logs its full error chain with the request id and returns the opaque
/// body that carries the id.
pub fn finish_server_error(
    error: &ApiError,
    request_id: &str,
    method: &str,
    route: &str,
) -> Vec<u8> {
    let chain = ErrorChain(error);
    if error.status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(request_id, method, route, code = error.code, error = %chain, "backend unavailable");
    } else {
        tracing::error!(request_id, method, route, code = error.code, error = %chain, "request failed");
    }
    serde_json::to_vec(&error.problem(Some(request_id))).unwrap_or_default()
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse {
        HttpResponse::from_error(self)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        // The methods are the detail's tail: a field of their own would
        // push `ApiError` past clippy's large-error size.
        if self.status == StatusCode::METHOD_NOT_ALLOWED
            && let Some(allow) = self.detail.strip_prefix(ALLOW_DETAIL)
            && let Ok(allow) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, allow));
        }
        match self.www_authenticate {
            None => {}
            Some(None) => {
                response.insert_header((header::WWW_AUTHENTICATE, WWW_AUTHENTICATE_BEARER));
            }
            Some(Some(class)) => {
                response.insert_header((header::WWW_AUTHENTICATE, invalid_token_challenge(class)));
            }
        }
        if let Some(version) = self.current_version {
            response.insert_header((header::ETAG, format!("\"{version}\"")));
        }
        for (name, value) in self.headers.iter() {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(serde_json::to_vec(&self.problem(None)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use strata_domain::StoreError;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("driver: connection refused (os error 111) at 10.0.0.7:6379")]
    struct Driver;

    #[derive(Debug, thiserror::Error)]
    #[error("pool exhausted after 3 retries")]
    struct Pool(#[source] Driver);

    fn nested(unavailable: bool) -> StoreError {
        if unavailable {
            StoreError::Unavailable {
                backend: "redis-main".into(),
                source: Box::new(Pool(Driver)),
            }
        } else {
            StoreError::Unexpected(Box::new(Pool(Driver)))
        }
    }

    fn body_of(error: &ApiError) -> serde_json::Value {
        serde_json::from_slice(&finish_server_error(error, "req-42", "GET", "/v1/caches")).unwrap()
    }

    #[test]
    fn server_errors_have_opaque_bodies_with_the_request_id() {
        for (unavailable, status, code) in
            [(true, 503, "backend_unavailable"), (false, 500, "internal")]
        {
            let error = ApiError::from(nested(unavailable));
            let body = body_of(&error);
            assert_eq!(body["status"], status, "{body}");
            assert_eq!(body["code"], code, "{body}");
            assert_eq!(body["request_id"], "req-42", "{body}");
            let text = body.to_string();
            for secret in ["driver", "refused", "10.0.0.7", "pool", "redis-main"] {
                assert!(!text.contains(secret), "{secret} leaked into {text}");
            }
            // The body the router would send without a request id is as opaque.
            let plain = serde_json::to_string(&error.problem(None)).unwrap();
            assert!(
                !plain.contains("driver") && !plain.contains("request_id"),
                "{plain}"
            );
        }
    }

    #[test]
    fn the_log_gets_every_level_of_the_chain() {
        let error = ApiError::from(nested(false));
        let chain = ErrorChain(&error).to_string();
        assert!(chain.starts_with("500 internal: "), "{chain}");
        assert!(
            chain.contains("Caused by: unexpected store error"),
            "{chain}"
        );
        assert!(chain.contains("Caused by: pool exhausted"), "{chain}");
        assert!(
            chain.contains("Caused by: driver: connection refused"),
            "{chain}"
        );
    }

    #[test]
    fn client_errors_keep_their_detail_and_no_request_id() {
        let error = ApiError::from(StoreError::Unsupported {
            backend: "memcached".into(),
            operation: "pattern invalidation",
        });
        let body = serde_json::to_value(error.problem(None)).unwrap();
        assert_eq!(body["status"], 422);
        assert!(
            body["detail"].as_str().unwrap().contains("memcached"),
            "{body}"
        );
        assert!(body.get("request_id").is_none(), "{body}");
    }
}
