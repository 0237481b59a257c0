//! The console's failures as pages ([`ConsoleError`]: an HTML page with
//! the status, or a redirect to the login page), and the document shell
//! every page shares (its `<head>`: stylesheets and deferred scripts,
//! nothing inline). It knows no session: `layout` and `session` both use
//! it.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use maud::{DOCTYPE, Markup, html};

use super::assets;
use crate::edge::error::ApiError;

/// A console failure, answered as an HTML page (or a redirect to the
/// login page).
#[derive(Debug)]
pub struct ConsoleError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code, as the API's problem `code` (`csrf_failed` for a
    /// refused form).
    pub code: &'static str,
    /// What the user reads.
    pub message: String,
    /// Where to go instead (the login page).
    pub redirect: Option<&'static str>,
}

impl ConsoleError {
    /// A failure with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            redirect: None,
        }
    }

    /// Not logged in: a redirect to `/console/login`.
    pub fn login() -> Self {
        Self {
            redirect: Some("/console/login"),
            ..Self::new(StatusCode::SEE_OTHER, "login_required", "Log in first.")
        }
    }

    /// A 500 whose cause goes to the log, not to the page.
    pub fn internal(cause: &str) -> Self {
        tracing::error!(cause, "console: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error.",
        )
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        let message = if e.status().is_server_error() {
            tracing::error!(code = e.code(), error = %crate::edge::error::ErrorChain(&e), "console: request failed");
            "The server could not do this; see its log.".to_owned()
        } else {
            e.problem(None).detail.to_string()
        };
        Self::new(e.status(), e.code(), message)
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(to) = self.redirect {
            return redirect(to);
        }
        let body = bare(
            "Error",
            html! {
                main {
                    h1 { "Error " (self.status.as_u16()) }
                    p.error data-code=(self.code) { (self.message) }
                    p { a href="/console" { "Back to the overview" } }
                }
            },
        );
        HttpResponse::build(self.status)
            .content_type("text/html; charset=utf-8")
            .body(body.into_string())
    }
}

/// 303 See Other to `to`.
pub(crate) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The `<head>` every page shares: stylesheets and deferred scripts,
/// nothing inline.
pub(crate) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx must not inject its indicator <style>: CSP forbids it.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
            title { (title) " · Strata" }
            link rel="stylesheet" href=(assets::url("uPlot.min.css"));
            link rel="stylesheet" href=(assets::url("console.css"));
            script src=(assets::url("htmx.min.js")) defer {}
            script src=(assets::url("uPlot.iife.min.js")) defer {}
            script src=(assets::url("console.js")) defer {}
        }
    }
}

/// A page without navigation (login, errors).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (body) }
        }
    }
}
