//! Strata's HTTP surface on actix-web: the cache API (`/v1`), the admin API
//! (`/admin/v1`), monitoring (`/health/*`, `/metrics`) and the OpenAPI 3.1
//! document (`/openapi.json`, Swagger UI at `/docs`).
//!
//! It is the only crate that knows HTTP and JSON. It depends on the
//! application and domain crates, never on infrastructure: handlers call
//! [`CacheService`](strata_application::CacheService); DTOs convert to domain types at the edge; every error
//! is an RFC 7807 problem body ([`error::ApiError`]).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, web};
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
pub mod grpc;
pub mod headers;
pub mod invalidations;
pub mod metrics;
pub mod monitoring;
pub mod mrc;
pub mod openapi;
mod params;
pub mod protected;
pub mod rate_limit;
pub mod request;
mod request_id;
mod schemas;
mod state;
pub mod transfer;

pub use config_dto::CacheConfigurationDto;
pub use openapi::ApiDoc;
pub use protected::ProtectedMode;
pub use state::AppState;

use crate::error::ApiError;

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
        .wrap(from_fn(request::observe))
        .configure(routes)
        .default_service(web::to(not_found))
}

/// A resource at `path` that carries its own pattern as
/// [`request::RoutePattern`], so the request middleware labels metrics and
/// logs without matching the path against the router again.
fn resource(path: &'static str) -> actix_web::Resource {
    web::resource(path).app_data(request::RoutePattern(path))
}

fn routes(cfg: &mut web::ServiceConfig) {
    // Every resource answers a method it lacks with 405 and `Allow`.
    let method_not_allowed =
        |allow: &'static str| web::to(move || async move { ApiError::method_not_allowed(allow) });
    // The router tries resources in order, one regex match (and a
    // captures allocation) per dynamic pattern tried, a string comparison
    // per static one: the health probes (static) come first, then the hot
    // entry route. No other route's path can match either.
    cfg.service(
        resource("/health/live")
            .route(web::get().to(monitoring::live))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/health/ready")
            .route(web::get().to(monitoring::ready))
            .default_service(method_not_allowed("GET")),
    );
    cfg.service(
        resource("/v1/caches/{cache}/entries/{key:.+}")
            .route(web::get().to(entries::get_entry))
            .route(web::head().to(entries::get_entry))
            .route(web::put().to(entries::put_entry))
            .route(web::delete().to(entries::delete_entry))
            .default_service(method_not_allowed("GET, HEAD, PUT, DELETE")),
    );
    // Next the build cache's unprefixed `/ac/{hash}` and `/cas/{hash}`:
    // Bazel and ccache send many small requests, and no other route's path
    // starts with `/ac/` or `/cas/`. The prefixed forms come last.
    build_cache_routes(cfg, false);
    cfg.service(
        resource("/v1/caches")
            .route(web::get().to(caches::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/v1/caches/{cache}/stats")
            .route(web::get().to(caches::stats))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/v1/caches/{cache}/mrc")
            .route(web::get().to(mrc::curves))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/recommendation")
            .route(web::get().to(mrc::recommendation))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/v1/caches/{cache}/entries:batchGet")
            .route(web::post().to(batch::batch_get))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/v1/caches/{cache}/entries:batchPut")
            .route(web::post().to(batch::batch_put))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/v1/caches/{cache}/invalidations")
            .route(web::post().to(invalidations::invalidate))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/caches/{cache}")
            .route(web::put().to(admin::configure))
            .route(web::get().to(admin::read))
            .route(web::delete().to(admin::delete))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/export")
            .route(web::get().to(transfer::export))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/import")
            .route(web::post().to(transfer::import))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/audit")
            .route(web::get().to(audit::read))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/flush")
            .route(web::post().to(admin::flush))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/cache/action/flush")
            .route(web::post().to(build_cache_admin::flush_action_cache))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/cache/cas/flush")
            .route(web::post().to(build_cache_admin::flush_content_store))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/cache/stats")
            .route(web::get().to(build_cache_admin::stats))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/metrics")
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
    // The build cache's prefixed bazel-remote paths, last: `{instance:.+}`
    // would otherwise take paths of the routes above.
    build_cache_routes(cfg, true);
}

/// The build cache's routes with (`prefixed`) or without an instance
/// prefix.
fn build_cache_routes(cfg: &mut web::ServiceConfig, prefixed: bool) {
    let method_not_allowed =
        |allow: &'static str| web::to(move || async move { ApiError::method_not_allowed(allow) });
    for (path, kind) in build_cache::ROUTES {
        if path.starts_with("/{instance") != prefixed {
            continue;
        }
        let resource = resource(path).default_service(method_not_allowed("GET, HEAD, PUT"));
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
