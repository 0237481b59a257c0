//! Per-request plumbing in one middleware ([`observe`]): the request id
//! (`X-Request-Id`), the `request` span, the latency histogram, the
//! access event, the audit record of a 403 nobody recorded, and the
//! opaque body of a 5xx.
//!
//! - **Request ids**: [`RequestId`] (no system call per request).
//! - **Route label.** Each resource carries its pattern
//!   ([`RoutePattern`]), read after routing: the path is matched once, by
//!   the router. A request no resource took is `unmatched`.
//! - **Logging.** The `request` span (`request_id`; with OpenTelemetry
//!   on also `method` and `route`) is built only when the filter enables
//!   INFO for this module. Every
//!   request ends with a DEBUG event on target `strata::access` (method,
//!   route, status, latency in microseconds): `[log] filter =
//!   "info,strata::access=debug"` turns the access log on. A 4xx (a miss,
//!   bad input) is logged nowhere above DEBUG, and keys never reach a log;
//!   a 5xx logs its full error chain at ERROR (WARN for 503) with the id
//!   ([`finish_server_error`]).
//! - **Tracing.** With OpenTelemetry on, the composition root installs a
//!   [`SpanHook`] ([`set_span_hook`]) that parents the `request` span on
//!   the incoming W3C `traceparent` and records its `trace_id`; off, the
//!   only cost is one atomic load.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use tracing::Instrument;

use crate::audited;
use crate::error::{ApiError, finish_server_error};
use crate::headers::X_REQUEST_ID;
use crate::metrics;
pub use crate::request_id::RequestId;

/// The route pattern of a resource (`/v1/caches/{cache}/entries/{key:.+}`),
/// attached to it as resource data when the routes are built: the label of
/// its requests in metrics and logs, read after routing instead of matching
/// the path against every pattern again.
#[derive(Clone, Copy, Debug)]
pub struct RoutePattern(pub &'static str);

/// Called with a request's headers and its `request` span (when the span
/// is built), before the request is handled: the composition root's
/// OpenTelemetry context extraction. Presentation knows no tracing backend.
pub type SpanHook = fn(&actix_web::http::header::HeaderMap, &tracing::Span);

static SPAN_HOOK: OnceLock<SpanHook> = OnceLock::new();

/// Installs the process's [`SpanHook`]; only the first call wins (returns
/// whether this one did).
pub fn set_span_hook(hook: SpanHook) -> bool {
    SPAN_HOOK.set(hook).is_ok()
}

/// The middleware: see the module documentation.
///
/// # Errors
/// Whatever the inner service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let start = Instant::now();
    let id = RequestId::next();
    let text = id.text();
    req.extensions_mut().insert(id);
    let method = req.method().clone();
    let hook = SPAN_HOOK.get();
    // Without OpenTelemetry the span only carries the id to the events a
    // request logs (the access event names method and route itself); with
    // it, the span is exported and carries what a trace viewer shows.
    let span = if hook.is_some() {
        tracing::info_span!(
            "request",
            request_id = %text.as_str(),
            method = %method.as_str(),
            route = tracing::field::Empty,
            otel.kind = "server",
            trace_id = tracing::field::Empty,
        )
    } else {
        // `%`: written as is; a `&str` value would be escaped char by char.
        tracing::info_span!("request", request_id = %text.as_str())
    };
    if let Some(hook) = hook
        && !span.is_disabled()
    {
        hook(req.headers(), &span);
    }
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status();
    let matched;
    let route = match response.request().app_data::<RoutePattern>() {
        Some(RoutePattern(pattern)) => *pattern,
        // Routes registered without a pattern of their own (`/docs`).
        None => {
            matched = response.request().match_pattern();
            matched.as_deref().unwrap_or("unmatched")
        }
    };
    if hook.is_some() {
        span.record("route", route);
    }
    let error = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>());
    if let Some(error) = error
        && error.status() == StatusCode::FORBIDDEN
    {
        audited::record_forbidden(response.request(), error)
            .instrument(span.clone())
            .await;
    }
    if let Ok(value) = HeaderValue::from_str(text.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let opaque = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .filter(|e| e.status().is_server_error())
        .map(|e| span.in_scope(|| finish_server_error(e, text.as_str(), method.as_str(), route)));
    let elapsed = start.elapsed();
    metrics::record_latency(route, &method, status.as_u16(), elapsed);
    tracing::debug!(
        target: "strata::access",
        parent: &span,
        request_id = text.as_str(),
        method = method.as_str(),
        route,
        status = status.as_u16(),
        latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    );
    Ok(match opaque {
        Some(body) => response.map_body(|_, _| EitherBody::right(BoxBody::new(body))),
        None => response.map_into_left_body(),
    })
}
