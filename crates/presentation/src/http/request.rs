//! Per-request plumbing in one middleware ([`observe`]): the request id
//! (`X-Request-Id`), the `request` span, the latency histogram, the
//! access event, the audit record of a 403 nobody recorded, and the
//! opaque body of a 5xx.
//!
//! - **Request ids**: [`RequestId`] (no system call per request), or a
//!   trusted proxy's own `X-Request-Id` (`[server] trusted_proxies`).
//! - **Route label.** Each resource carries its pattern
//!   ([`RoutePattern`]), read after routing: the path is matched once, by
//!   the router. A request no resource took is `unmatched`.
//! - **Logging.** Events logged while a request is handled carry its id:
//!   without OpenTelemetry through a task-local ([`current_request_id`],
//!   which the composition root's log formatter writes as a `request_id`
//!   field), with it through the `request` span (`request_id`, `method`,
//!   `route`). The task-local costs a pointer swap per poll where a span
//!   cost its registry slot, the filter's span bookkeeping and its
//!   formatted fields, about 7% of a `/health/live` request's CPU. Every
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

use crate::edge::audited;
use crate::edge::error::{ApiError, finish_server_error};
use crate::edge::headers::X_REQUEST_ID;
use crate::edge::metrics;
pub use crate::edge::request_id::{RequestId, RequestIdText};

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

tokio::task_local! {
    /// The id of the request whose future is being polled (no
    /// OpenTelemetry).
    static REQUEST_ID: RequestIdText;
}

/// The id of the HTTP request this task is handling, when the request
/// middleware set it (OpenTelemetry off; with it on, the `request` span
/// carries the id instead). `None` outside a request: background tasks,
/// gRPC, start-up.
pub fn current_request_id() -> Option<RequestIdText> {
    REQUEST_ID.try_with(|id| *id).ok()
}

/// Runs `future` as part of request `id`: [`current_request_id`] gives
/// `id` while it is polled. With OpenTelemetry off, the middleware runs
/// every request through it.
pub async fn with_request_id<F: Future>(id: RequestIdText, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// How a request's id reaches the events logged while it is handled.
enum Context {
    /// OpenTelemetry on: the exported `request` span.
    Span(tracing::Span),
    /// OpenTelemetry off: the task-local of [`current_request_id`].
    Id(RequestIdText),
}

impl Context {
    async fn run<F: Future>(&self, future: F) -> F::Output {
        match self {
            Self::Span(span) => future.instrument(span.clone()).await,
            Self::Id(id) => with_request_id(*id, future).await,
        }
    }

    /// Runs `f` inside the request (its span entered, or its id set), so
    /// that the events it logs carry the trace id with OpenTelemetry on.
    fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        match self {
            Self::Span(span) => span.in_scope(f),
            Self::Id(id) => REQUEST_ID.sync_scope(*id, f),
        }
    }
}

/// A trusted proxy's `X-Request-Id` ([`RequestIdText::from_proxy`]), kept
/// as the request's id; `None` from any other peer, or when the proxy
/// sent none or one that does not fit.
fn proxy_request_id(req: &ServiceRequest) -> Option<RequestIdText> {
    // The header first: most requests carry none, and then no state lookup.
    let header = req.headers().get(X_REQUEST_ID)?;
    let state = req.app_data::<actix_web::web::Data<crate::edge::state::AppState>>()?;
    if !state.trusted_proxies.trusts(req.peer_addr()?.ip()) {
        return None;
    }
    RequestIdText::from_proxy(header.as_bytes())
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
    let text = proxy_request_id(&req).unwrap_or_else(|| RequestId::next().text());
    req.extensions_mut().insert(text);
    let method = req.method().clone();
    // Without OpenTelemetry the id reaches the events a request logs
    // through the task-local (the access event names it itself); with it,
    // a span is exported and carries what a trace viewer shows.
    let context = match SPAN_HOOK.get() {
        Some(hook) => {
            let span = tracing::info_span!(
                "request",
                request_id = %text.as_str(),
                method = %method.as_str(),
                route = tracing::field::Empty,
                otel.kind = "server",
                trace_id = tracing::field::Empty,
            );
            if !span.is_disabled() {
                hook(req.headers(), &span);
            }
            Context::Span(span)
        }
        None => Context::Id(text),
    };
    let mut response = context.run(next.call(req)).await?;
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
    if let Context::Span(span) = &context {
        span.record("route", route);
    }
    let error = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>());
    if let Some(error) = error
        && error.status() == StatusCode::FORBIDDEN
    {
        context
            .run(audited::record_forbidden(response.request(), error))
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
        .map(|e| {
            context.in_scope(|| finish_server_error(e, text.as_str(), method.as_str(), route))
        });
    let elapsed = start.elapsed();
    metrics::record_latency(route, &method, status.as_u16(), elapsed);
    let response_bytes = match response.response().body().size() {
        actix_web::body::BodySize::Sized(n) => Some(n),
        _ => None,
    };
    metrics::record_cache_traffic(response.request(), route, status, response_bytes, elapsed);
    let parent = match &context {
        Context::Span(span) => span.id(),
        Context::Id(_) => None,
    };
    tracing::debug!(
        target: "strata::access",
        parent: parent,
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

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[actix_web::test]
    async fn a_handler_sees_the_id_its_response_names() {
        let app = test::init_service(App::new().wrap(from_fn(observe)).route(
            "/",
            web::get().to(|| async {
                let id = current_request_id().map(|id| id.as_str().to_owned());
                HttpResponse::Ok().body(id.unwrap_or_default())
            }),
        ))
        .await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let response =
                test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
            let header = response
                .headers()
                .get(X_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .expect("an X-Request-Id")
                .to_owned();
            let body = test::read_body(response).await;
            assert_eq!(body, header.as_bytes());
            assert_eq!(header.len(), 36, "{header}");
            ids.push(header);
        }
        assert_ne!(ids[0], ids[1]);
        assert!(current_request_id().is_none(), "outside a request");
    }
}
