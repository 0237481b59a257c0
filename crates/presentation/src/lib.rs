//! Strata's HTTP surface on actix-web: the cache API (`/v1`), the admin API
//! (`/admin/v1`), monitoring (`/health/*`, `/metrics`) and the OpenAPI 3.1
//! document (`/openapi.json`, Swagger UI at `/docs`).
//!
//! It is the only crate that knows HTTP and JSON. It depends on the
//! application and domain crates, never on infrastructure: handlers call
//! [`CacheService`](strata_application::CacheService); DTOs convert to domain types at the edge; every error
//! is an RFC 7807 problem body ([`error::ApiError`]).

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, web};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub mod admin;
pub mod audit;
mod audited;
pub mod auth;
pub mod batch;
pub mod build_cache;
pub mod build_cache_admin;
pub mod caches;
pub mod codec;
pub mod config_dto;
pub mod entries;
pub mod error;
pub mod headers;
pub mod invalidations;
pub mod metrics;
pub mod monitoring;
pub mod mrc;
pub mod openapi;
mod params;
pub mod protected;
pub mod rate_limit;
mod schemas;
mod state;

pub use config_dto::CacheConfigurationDto;
pub use openapi::ApiDoc;
pub use protected::ProtectedMode;
pub use state::AppState;

use crate::error::{ApiError, finish_server_error};
use crate::headers::X_REQUEST_ID;

/// Largest request body accepted, in bytes: the largest value any cache may
/// accept ([`strata_domain::HARD_MAX_VALUE_BYTES`]) plus 1 MiB of room for
/// batch framing. Larger bodies get 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = strata_domain::HARD_MAX_VALUE_BYTES as usize + (1 << 20);

/// The whole HTTP application: routes, middleware (request id, tracing,
/// latency histogram), body limits and problem+json error handlers.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    metrics::prometheus();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            ApiError::invalid_parameter(format!("invalid query string: {e}")).into()
        }))
        .app_data(
            web::PathConfig::default().error_handler(|e, _| {
                ApiError::invalid_parameter(format!("invalid path: {e}")).into()
            }),
        )
        .wrap(from_fn(metrics::observe))
        .wrap(from_fn(request_id_header))
        .wrap(TracingLogger::default())
        .configure(routes)
        .default_service(web::to(not_found))
}

fn routes(cfg: &mut web::ServiceConfig) {
    // Every resource answers a method it lacks with 405 and `Allow`.
    let method_not_allowed =
        |allow: &'static str| web::to(move || async move { ApiError::method_not_allowed(allow) });
    // The router tries resources in order, one regex match per dynamic
    // pattern (and `match_pattern` in the metrics middleware repeats it), so
    // the hot entry route comes first. No other route's path can match it.
    cfg.service(
        web::resource("/v1/caches/{cache}/entries/{key:.+}")
            .route(web::get().to(entries::get_entry))
            .route(web::head().to(entries::get_entry))
            .route(web::put().to(entries::put_entry))
            .route(web::delete().to(entries::delete_entry))
            .default_service(method_not_allowed("GET, HEAD, PUT, DELETE")),
    )
    .service(
        web::resource("/v1/caches")
            .route(web::get().to(caches::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/v1/caches/{cache}/stats")
            .route(web::get().to(caches::stats))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/v1/caches/{cache}/mrc")
            .route(web::get().to(mrc::curves))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/admin/v1/caches/{cache}/recommendation")
            .route(web::get().to(mrc::recommendation))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/v1/caches/{cache}/entries:batchGet")
            .route(web::post().to(batch::batch_get))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/v1/caches/{cache}/entries:batchPut")
            .route(web::post().to(batch::batch_put))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/v1/caches/{cache}/invalidations")
            .route(web::post().to(invalidations::invalidate))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/admin/v1/caches/{cache}")
            .route(web::put().to(admin::configure))
            .route(web::get().to(admin::read))
            .route(web::delete().to(admin::delete))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    )
    .service(
        web::resource("/admin/v1/audit")
            .route(web::get().to(audit::read))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/admin/v1/caches/{cache}/flush")
            .route(web::post().to(admin::flush))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/admin/v1/cache/action/flush")
            .route(web::post().to(build_cache_admin::flush_action_cache))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/admin/v1/cache/cas/flush")
            .route(web::post().to(build_cache_admin::flush_content_store))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/admin/v1/cache/stats")
            .route(web::get().to(build_cache_admin::stats))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/health/live")
            .route(web::get().to(monitoring::live))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/health/ready")
            .route(web::get().to(monitoring::ready))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(monitoring::metrics))
            .default_service(method_not_allowed("GET")),
    )
    .route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/docs/"))
                .finish()
        }),
    )
    .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
    // The build cache's bazel-remote paths, last: `{instance:.+}` would
    // otherwise take paths of the routes above.
    for (path, kind) in build_cache::ROUTES {
        let resource = web::resource(path).default_service(method_not_allowed("GET, HEAD, PUT"));
        cfg.service(match kind {
            strata_domain::StoreKind::Ac => resource
                .route(web::get().to(build_cache::ac_get))
                .route(web::head().to(build_cache::ac_get))
                .route(web::put().to(build_cache::ac_put)),
            strata_domain::StoreKind::Cas => resource
                .route(web::get().to(build_cache::cas_get))
                .route(web::head().to(build_cache::cas_get))
                .route(web::put().to(build_cache::cas_put)),
        });
    }
}

async fn not_found(req: HttpRequest) -> ApiError {
    ApiError::route_not_found(req.path())
}

/// Records a 403 `forbidden` no admin operation recorded in the audit
/// file (with `[audit]`), then echoes the request id that `TracingLogger`
/// assigned as `X-Request-Id`,
/// so a client can quote it when reporting a 5xx. A 5xx [`ApiError`] gets
/// the id in its opaque body too, and its full error chain goes to the log
/// with the id ([`finish_server_error`]).
async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut response = next.call(req).await?;
    if let Some(error) = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        && error.status() == actix_web::http::StatusCode::FORBIDDEN
    {
        audited::record_forbidden(response.request(), error).await;
    }
    let Some(id) = id else {
        return Ok(response.map_into_left_body());
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let opaque = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .filter(|e| e.status().is_server_error())
        .map(|e| finish_server_error(e, &id));
    Ok(match opaque {
        Some(body) => response.map_body(|_, _| EitherBody::right(BoxBody::new(body))),
        None => response.map_into_left_body(),
    })
}
