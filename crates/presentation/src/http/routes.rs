//! The route table: every resource, its methods (405 with `Allow` for the
//! others), the order the router tries them in, and the application around
//! them (middleware, body limits, problem+json extractor errors).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::openapi::ApiDoc;
use super::{
    admin, alerts, audit, body, build_cache, build_cache_admin, caches, entries, entries_batch,
    export_import, invalidations, keys, monitoring, mrc, report, request, status, trends,
};
use crate::edge::error::ApiError;
use crate::edge::metrics;
use crate::edge::params::{AcceptedQuery, check_query};
use crate::edge::state::AppState;

/// The HTTP API alone: routes, middleware (request id, tracing,
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
    app_with(state, |_| {})
}

/// The HTTP API with another face's routes (`faces`) mounted first, under
/// the same middleware: the composition root passes the console's, so
/// this face never imports it.
pub fn app_with(
    state: AppState,
    faces: impl FnOnce(&mut web::ServiceConfig),
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
        .app_data(web::QueryConfig::default().error_handler(|e, req| {
            // An unknown parameter is named as `Acting` names it, whichever
            // extractor runs first.
            check_query(req)
                .err()
                .unwrap_or_else(|| {
                    ApiError::invalid_parameter(format!("invalid query string: {e}"))
                })
                .into()
        }))
        .app_data(
            web::PathConfig::default().error_handler(|e, _| {
                ApiError::invalid_parameter(format!("invalid path: {e}")).into()
            }),
        )
        .wrap(from_fn(body::time_body))
        .wrap(from_fn(request::observe))
        .configure(faces)
        .configure(routes)
        .default_service(web::to(not_found))
}

/// A resource at `path` that carries its own pattern as
/// [`request::RoutePattern`], so the request middleware labels metrics and
/// logs without matching the path against the router again.
fn resource(path: &'static str) -> actix_web::Resource {
    web::resource(path).app_data(request::RoutePattern(path))
}

/// The admin API's namespace: a path under it that no admin route takes
/// is 404 `not_found`.
const ADMIN_NAMESPACE: &str = "/admin/{_rest:.*}";

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
            .app_data(AcceptedQuery(&[("PUT", entries::PutQuery::PARAMS)]))
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
        resource("/v1/caches/{cache}/trends")
            .app_data(AcceptedQuery(&[("GET", trends::TrendParams::PARAMS)]))
            .route(web::get().to(trends::cache_trends))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/v1/caches/{cache}/keys")
            .app_data(AcceptedQuery(&[("GET", keys::KeysParams::PARAMS)]))
            .route(web::get().to(keys::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/v1/caches/{cache}/report")
            .route(web::get().to(report::usage_report))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/alerts")
            .app_data(AcceptedQuery(&[("GET", alerts::AlertParams::PARAMS)]))
            .route(web::get().to(alerts::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/alerts/silences")
            .route(web::get().to(alerts::list_silences))
            .route(web::post().to(alerts::create_silence))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        resource("/admin/v1/alerts/silences/{id}")
            .route(web::delete().to(alerts::delete_silence))
            .default_service(method_not_allowed("DELETE")),
    )
    .service(
        resource("/admin/v1/cache/trends")
            .app_data(AcceptedQuery(&[(
                "GET",
                trends::BuildCacheTrendParams::PARAMS,
            )]))
            .route(web::get().to(trends::build_cache_trends))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/recommendation")
            .route(web::get().to(mrc::recommendation))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/v1/caches/{cache}/entries:batchGet")
            .route(web::post().to(entries_batch::batch_get))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/v1/caches/{cache}/entries:batchPut")
            .route(web::post().to(entries_batch::batch_put))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/v1/caches/{cache}/invalidations")
            .app_data(AcceptedQuery(&[("POST", admin::ConfirmParams::PARAMS)]))
            .route(web::post().to(invalidations::invalidate))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/caches/{cache}")
            .app_data(AcceptedQuery(&[("DELETE", admin::ConfirmParams::PARAMS)]))
            .route(web::put().to(admin::configure))
            .route(web::patch().to(admin::patch))
            .route(web::get().to(admin::read))
            .route(web::delete().to(admin::delete))
            .default_service(method_not_allowed("GET, PUT, PATCH, DELETE")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/export")
            .route(web::get().to(export_import::export))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/import")
            .app_data(AcceptedQuery(&[(
                "POST",
                export_import::ImportParams::PARAMS,
            )]))
            .route(web::post().to(export_import::import))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/audit")
            .app_data(AcceptedQuery(&[("GET", audit::AuditParams::PARAMS)]))
            .route(web::get().to(audit::read))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        resource("/admin/v1/caches/{cache}/flush")
            .app_data(AcceptedQuery(&[("POST", admin::ConfirmParams::PARAMS)]))
            .route(web::post().to(admin::flush))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        resource("/admin/v1/cache/ac/flush")
            .route(web::post().to(build_cache_admin::flush_action_cache))
            .default_service(method_not_allowed("POST")),
    )
    // The first name of the AC flush, kept as an alias (undocumented in
    // the OpenAPI document, which names each operation once).
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
        resource("/admin/v1/status")
            .route(web::get().to(status::status))
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
    // Every other `/admin/...` path is an unknown admin path: 404, for
    // every method, rather than the build cache's prefixed routes below
    // reading it as an instance name (`/admin/v1/cache/x/flush` would be
    // instance `admin/v1/cache` and a 405 listing GET, HEAD and PUT). So
    // `admin` is no instance name's first segment over HTTP.
    cfg.service(resource(ADMIN_NAMESPACE).default_service(web::to(not_found)));
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
