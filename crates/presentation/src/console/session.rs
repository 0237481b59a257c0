//! Who uses the console: the `strata_session` cookie, the
//! [`Viewer`] extractor, CSRF tokens, `GET`/`POST /console/login` and
//! `POST /console/logout`.
//!
//! A login presents an API key or a JWT, checked by the same
//! authenticator, failed-authentication limit and protected mode as the
//! API's (`edge::auth`). It gets a fresh session id (never the pre-login
//! one: no fixation) holding the principal and a CSRF token, for
//! [`SESSION_TTL`] by the service's clock, or until a JWT's `exp` when
//! that is sooner. Without an authenticator
//! (protected mode) a peer the API admits gets an `anonymous` session on
//! its first page, and others get 403.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;
use strata_domain::{ConsoleSession, Principal, Timestamp};
use subtle::ConstantTimeEq;

use super::error::{self as layout, ConsoleError};
use crate::edge::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "strata_session";

/// How long a session lasts after login (8 hours).
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// How long a login form's pre-login session lasts (10 minutes).
pub const LOGIN_FORM_TTL: Duration = Duration::from_secs(600);

/// A `Set-Cookie` value an extractor or handler wants on the response
/// (added by the console's middleware).
#[derive(Clone, Debug)]
pub(crate) struct SetCookie(pub(crate) String);

/// The console's user on this request: a live session with a principal.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// Who acts.
    pub principal: Principal,
    /// The token this session's forms carry.
    pub csrf_token: String,
    /// Whether there is no authentication (protected mode): shown on every
    /// page as `anonymous`.
    pub anonymous: bool,
}

impl Viewer {
    /// Checks a POST's CSRF token against the session's, in constant time.
    ///
    /// # Errors
    /// [`ConsoleError`] 403 `csrf_failed` when it is missing or differs.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), ConsoleError> {
        match presented {
            Some(token) if bool::from(token.as_bytes().ct_eq(self.csrf_token.as_bytes())) => Ok(()),
            _ => Err(ConsoleError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "The form's CSRF token is missing or does not belong to this session. Reload the page and try again.",
            )),
        }
    }
}

/// 32 random bytes as 64 hex digits (thread CSPRNG: ChaCha12 seeded from
/// the OS).
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session cookie's value on `req`, if any.
fn session_id(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value of session `id` lasting `ttl` (`None`: clear it).
fn cookie(req: &HttpRequest, id: Option<&str>, ttl: Duration) -> SetCookie {
    let secure = if req.app_config().secure() {
        "; Secure"
    } else {
        ""
    };
    SetCookie(match id {
        Some(id) => format!(
            "{SESSION_COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            ttl.as_secs()
        ),
        None => format!(
            "{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        ),
    })
}

/// Starts a session for `principal` (or a pre-login one) that lasts `ttl`,
/// or until `ends` when that is sooner (a JWT's `exp`), returning its CSRF
/// token and the cookie to set.
async fn start(
    state: &AppState,
    req: &HttpRequest,
    principal: Option<Principal>,
    ttl: Duration,
    ends: Option<Timestamp>,
) -> Result<String, ConsoleError> {
    let id = random_token();
    let csrf_token = random_token();
    let now = state.clock.now();
    let expires_at = match ends {
        Some(ends) => ends.min(now.saturating_add(ttl)),
        None => now.saturating_add(ttl),
    };
    let ttl = expires_at.saturating_since(now);
    let session = ConsoleSession {
        principal,
        csrf_token: csrf_token.clone(),
        expires_at,
    };
    state
        .sessions
        .insert(&id, session)
        .await
        .map_err(|e| ConsoleError::from(crate::edge::error::ApiError::from(e)))?;
    req.extensions_mut().insert(cookie(req, Some(&id), ttl));
    Ok(csrf_token)
}

/// The live session of `req`, if any.
async fn current(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<ConsoleSession>, ConsoleError> {
    let Some(id) = session_id(req) else {
        return Ok(None);
    };
    let session = state
        .sessions
        .get(&id)
        .await
        .map_err(|e| ConsoleError::from(crate::edge::error::ApiError::from(e)))?;
    Ok(session.filter(|s| !s.is_expired(state.clock.now())))
}

/// Who `req` acts as: its session's principal; without authentication,
/// `anonymous` for an admitted peer (starting a session for its CSRF
/// token). Otherwise a redirect to the login page.
async fn viewer(req: HttpRequest) -> Result<Viewer, ConsoleError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ConsoleError::internal("no application state"))?;
    let anonymous = state.authenticator.is_none();
    if anonymous {
        let peer = crate::edge::client_addr::http_client(&req, &state.trusted_proxies);
        if !state.protected_mode.admits(peer) {
            return Err(crate::edge::error::ApiError::protected_mode(peer).into());
        }
    }
    let viewer = match current(&state, &req).await? {
        Some(ConsoleSession {
            principal: Some(principal),
            csrf_token,
            ..
        }) => Viewer {
            principal,
            csrf_token,
            anonymous,
        },
        _ if anonymous => Viewer {
            csrf_token: start(&state, &req, Some(Principal::Anonymous), SESSION_TTL, None).await?,
            principal: Principal::Anonymous,
            anonymous,
        },
        _ => return Err(ConsoleError::login()),
    };
    if state.audit.is_some() {
        req.extensions_mut()
            .insert(crate::edge::audited::Actor(viewer.principal.to_string()));
    }
    Ok(viewer)
}

impl FromRequest for Viewer {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        Box::pin(viewer(req.clone()))
    }
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The pre-login session's CSRF token.
    #[serde(default)]
    pub csrf: Option<String>,
    /// An API key or a JWT.
    #[serde(default)]
    pub credential: String,
}

/// The logout form's fields (and of any form with only a token).
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: Option<String>,
}

/// The login page (`status`, with `error` beside the field).
fn login_page(csrf: &str, error: Option<&str>, status: StatusCode) -> HttpResponse {
    let body = layout::bare(
        "Log in",
        html! {
            main.login {
                h1 { "Strata console" }
                form method="post" action="/console/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="credential" { "API key or JWT" }
                    input #credential type="password" name="credential" autocomplete="off" required autofocus;
                    @if let Some(error) = error {
                        p.error #credential-error { (error) }
                    }
                    button type="submit" { "Log in" }
                }
            }
        },
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body.into_string())
}

/// `GET /console/login`: the form, with a pre-login session for its CSRF
/// token. Without authentication there is nothing to log in to: the
/// overview.
pub(crate) async fn login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    if state.authenticator.is_none() {
        return Ok(layout::redirect("/console"));
    }
    let csrf = start(&state, &req, None, LOGIN_FORM_TTL, None).await?;
    Ok(login_page(&csrf, None, StatusCode::OK))
}

/// `POST /console/login`: checks the form's token and the credential,
/// then starts a session and goes to the overview.
pub(crate) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ConsoleError> {
    if state.authenticator.is_none() {
        return Ok(layout::redirect("/console"));
    }
    let form = form.into_inner();
    let pre = current(&state, &req).await?;
    let token_ok = match (&pre, &form.csrf) {
        (Some(s), Some(t)) => bool::from(t.as_bytes().ct_eq(s.csrf_token.as_bytes())),
        _ => false,
    };
    if !token_ok {
        return Err(ConsoleError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "The login form expired or was not sent by this console. Reload the page and try again.",
        ));
    }
    if let Some(id) = session_id(&req) {
        let _ = state.sessions.remove(&id).await;
    }
    let peer = crate::edge::client_addr::http_client(&req, &state.trusted_proxies);
    let credential = form.credential.trim().to_owned();
    let presented = crate::edge::auth::credential_from(None, Some(credential.as_bytes()));
    let result = crate::edge::auth::authenticate(&state, peer, || presented.clone());
    match result {
        Ok(principal) => {
            tracing::info!(target: "strata::audit", principal = %principal, "console login");
            // A JWT's session ends with the token.
            let ends = presented
                .ok()
                .zip(state.authenticator.as_ref())
                .and_then(|(c, authenticator)| authenticator.expires_at(&c));
            start(&state, &req, Some(principal), SESSION_TTL, ends).await?;
            Ok(layout::redirect("/console"))
        }
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            let csrf = start(&state, &req, None, LOGIN_FORM_TTL, None).await?;
            Ok(login_page(
                &csrf,
                Some("This API key or token is not valid."),
                StatusCode::UNAUTHORIZED,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/logout`: ends the session on the server and clears the
/// cookie.
pub(crate) async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ConsoleError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    if let Some(id) = session_id(&req) {
        state
            .sessions
            .remove(&id)
            .await
            .map_err(|e| ConsoleError::from(crate::edge::error::ApiError::from(e)))?;
    }
    req.extensions_mut()
        .insert(cookie(&req, None, Duration::ZERO));
    Ok(layout::redirect(if state.authenticator.is_some() {
        "/console/login"
    } else {
        "/console"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_token());
    }

    #[test]
    fn a_missing_or_wrong_csrf_token_is_403() {
        let viewer = Viewer {
            principal: Principal::Anonymous,
            csrf_token: "abc".into(),
            anonymous: true,
        };
        assert!(viewer.check_csrf(Some("abc")).is_ok());
        for bad in [None, Some(""), Some("abd"), Some("abcd")] {
            assert_eq!(
                viewer.check_csrf(bad).unwrap_err().status,
                StatusCode::FORBIDDEN
            );
        }
    }
}
