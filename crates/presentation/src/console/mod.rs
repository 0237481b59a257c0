//! The web console at `/console`: server-rendered HTML pages (maud) with
//! htmx for partial updates and uPlot for charts, both vendored into the
//! binary ([`assets`]). It is a face like `http` and `grpc`: it builds on
//! [`edge`](crate::edge) (authentication, protected mode, the audit trail,
//! errors) and the application, and imports neither other face
//! (`tests/architecture.rs` checks it).
//!
//! Security model (docs/console.md):
//! - a login with an API key or a JWT ([`session`]) gives a
//!   `strata_session` cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//!   under TLS, `Max-Age`); sessions live behind the
//!   [`SessionStore`](strata_domain::SessionStore) port (in memory, or in
//!   Redis with `[cluster] config_backend`) and logout ends them on the
//!   server;
//! - without API keys and JWT (protected mode), a peer the API would admit
//!   gets an `anonymous` session without a login, and others a 403 page;
//! - every form carries the session's CSRF token and every POST is
//!   refused (403) without it;
//! - every response carries a Content-Security-Policy without inline
//!   script or style, `X-Frame-Options: DENY`, `nosniff`, and pages are
//!   `no-store`;
//! - every action goes through the application with the session's
//!   principal, so roles are the API's; admin actions are audited as the
//!   API audits them.
//!
//! Screens: [`overview`], [`cache`] (detail, trends, curves, hot keys),
//! [`keys`] (browser, preview, delete), [`invalidate`], [`config`],
//! [`build_cache`], [`audit`], [`alerts`] (read only).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, web};

pub mod alerts;
pub mod assets;
pub mod audit;
pub mod build_cache;
pub mod cache;
pub mod config;
pub(crate) mod error;
pub mod invalidate;
pub mod keys;
pub(crate) mod layout;
pub mod overview;
pub mod session;

/// The Content-Security-Policy of every console response: scripts,
/// styles, images and form targets from this origin only; no inline
/// script or style (uPlot and htmx style elements through the CSSOM,
/// which CSP does not govern); no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The console's routes, under `/console`. The composition of faces
/// ([`crate::app`]) mounts them before the HTTP API's.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(from_fn(security_headers))
            .route("", web::get().to(overview::page))
            .route("/", web::get().to(overview::page))
            .route("/login", web::get().to(session::login_form))
            .route("/login", web::post().to(session::login))
            .route("/logout", web::post().to(session::logout))
            .route("/assets/{name}", web::get().to(assets::serve))
            .route("/caches/{cache}", web::get().to(cache::page))
            .route("/caches/{cache}/keys", web::get().to(keys::browse))
            .route("/caches/{cache}/entry", web::get().to(keys::entry))
            .route(
                "/caches/{cache}/entry/preview",
                web::get().to(keys::preview),
            )
            .route("/caches/{cache}/entry/raw", web::get().to(keys::download))
            .route("/caches/{cache}/entry/delete", web::post().to(keys::delete))
            .route(
                "/caches/{cache}/invalidate",
                web::get().to(invalidate::form),
            )
            .route(
                "/caches/{cache}/invalidate",
                web::post().to(invalidate::submit),
            )
            .route("/caches/{cache}/config", web::get().to(config::form))
            .route("/caches/{cache}/config", web::post().to(config::submit))
            .route("/build-cache", web::get().to(build_cache::page))
            .route("/build-cache/flush", web::post().to(build_cache::flush))
            .route("/build-cache/cas/{hash}", web::get().to(build_cache::blob))
            .route("/audit", web::get().to(audit::page))
            .route("/alerts", web::get().to(alerts::page))
            .default_service(web::to(layout::not_found)),
    );
}

/// Adds the security headers to every console response, and the session
/// cookie an extractor set on this request ([`session::SetCookie`]).
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_asset = req.path().starts_with("/console/assets/");
    let mut res = next.call(req).await?;
    let cookie = res
        .request()
        .extensions()
        .get::<session::SetCookie>()
        .cloned();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(cookie) = cookie
        && !headers.contains_key(header::SET_COOKIE)
        && let Ok(value) = HeaderValue::from_str(&cookie.0)
    {
        headers.insert(header::SET_COOKIE, value);
    }
    Ok(res)
}
