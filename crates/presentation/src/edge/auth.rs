//! The acting principal of a request.
//!
//! Without an authenticator (no API keys, no `[auth.jwt]`), every request acts as
//! [`Principal::Anonymous`], but in protected mode
//! ([`ProtectedMode`](crate::edge::protected::ProtectedMode)) only when its peer
//! is in a trusted network (loopback by default); other peers get 403
//! `protected_mode`. With an authenticator, the [`Acting`] extractor reads
//! an API key or JWT bearer token (the authenticator tells them apart)
//! from, in this order:
//!
//! - `Authorization: Bearer <key>`;
//! - `Authorization: Basic <base64(user:key)>` (the key is the password,
//!   any user name: Bazel's `http://user:key@host`);
//! - `X-Api-Key: <key>`.
//!
//! No credential, or one the authenticator rejects, is 401 `unauthorized`
//! with `WWW-Authenticate: Bearer realm="strata"`, counted in
//! `strata_auth_failures_total{reason}` (`missing`, `invalid`). A refused
//! JWT's challenge adds RFC 6750's `error="invalid_token"` and
//! `error_description="<class>"` (a
//! [`TokenRejection`](strata_domain::TokenRejection) name such as
//! `expired`), which the detail and the INFO log line (`token_error`)
//! name too. A refused
//! credential (not a missing one) takes a token from its peer's
//! failed-authentication bucket; a peer whose bucket is empty gets 429
//! `rate_limited` for every request that presents a credential, before
//! the credential is checked (see [`PeerLimiter`](crate::edge::rate_limit::PeerLimiter)). A valid key
//! without the grant an operation needs is the application's 403
//! `forbidden`. The credential is never logged. Routes that do not take
//! [`Acting`] (health, metrics, OpenAPI, docs) stay open.

use std::future::{Ready, ready};

use futures_util::future::{Either, LocalBoxFuture};

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use strata_domain::{AuthError, Credential, Principal, Secret};

use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// The header that may carry an API key on its own.
pub const X_API_KEY: &str = "x-api-key";

/// Extractor: who is making the request.
#[derive(Clone, Debug)]
pub struct Acting(pub Principal);

impl FromRequest for Acting {
    type Error = ApiError;
    /// Ready, except when a refusal goes to the audit log first.
    type Future =
        Either<Ready<Result<Self, ApiError>>, LocalBoxFuture<'static, Result<Self, ApiError>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Either::Left(ready(Ok(Acting(Principal::Anonymous))));
        };
        let result = acting(req, state);
        if let (Some(_), Ok(Acting(principal))) = (&state.audit, &result) {
            req.extensions_mut()
                .insert(crate::edge::audited::Actor(principal.to_string()));
        }
        let (Some(log), Err(error)) = (state.audit.clone(), &result) else {
            return Either::Left(ready(result));
        };
        let Some(record) = crate::edge::audited::refusal(state, req, error) else {
            return Either::Left(ready(result));
        };
        // Best effort: a refusal whose record cannot be written is still refused.
        Either::Right(Box::pin(async move {
            if let Err(e) = log.append(&record).await {
                tracing::warn!(target: "strata::audit", error = %e, "cannot record a refused request");
            }
            result
        }))
    }
}

/// Who `req` acts as, or why it may not act.
fn acting(req: &HttpRequest, state: &AppState) -> Result<Acting, ApiError> {
    let client = crate::edge::client_addr::http_client(req, &state.trusted_proxies);
    let acting = authenticate(state, client, || credential(req.headers())).map(Acting)?;
    // After authentication: an unauthenticated caller learns nothing
    // about the parameters a route takes.
    crate::edge::params::check_query(req)?;
    Ok(acting)
}

/// Who a caller from `peer` presenting `presented` acts as, or why it may
/// not act: protected mode without an authenticator, else the failed
/// authentication limit, the authenticator and the request limit. Shared
/// by HTTP ([`Acting`]) and gRPC (`grpc::auth`), so both protocols count
/// failures and tokens in the same buckets.
///
/// # Errors
/// 401 `unauthorized`, 403 `protected_mode`, 429 `rate_limited`.
pub(crate) fn authenticate(
    state: &AppState,
    peer: Option<std::net::IpAddr>,
    presented: impl FnOnce() -> Result<Credential, AuthError>,
) -> Result<Principal, ApiError> {
    let Some(authenticator) = state.authenticator.clone() else {
        if state.protected_mode.admits(peer) {
            return limit_request(state, Acting(Principal::Anonymous)).map(|a| a.0);
        }
        tracing::info!(target: "strata::audit", peer = ?peer, "refused by protected mode");
        return Err(ApiError::protected_mode(peer));
    };
    let presented = presented();
    if !matches!(presented, Err(AuthError::Missing)) {
        // A peer blocked for failed authentications learns nothing more
        // about its credentials, good or bad.
        state.rate_limits.failed_auth_check(peer)?;
    }
    let acting = presented
        .and_then(|c| authenticator.authenticate(&c))
        .map(Acting)
        .or_else(|e| {
            metrics::counter!("strata_auth_failures_total", "reason" => e.reason()).increment(1);
            state.service.alerts().count_auth_failure();
            // The class of a refused token, never the token: the same
            // name the 401 gives as `error_description`.
            match e.token_rejection() {
                Some(class) => tracing::info!(
                    target: "strata::audit",
                    reason = e.reason(),
                    token_error = class.as_str(),
                    "authentication failed"
                ),
                None => {
                    tracing::info!(target: "strata::audit", reason = e.reason(), "authentication failed");
                }
            }
            if e != AuthError::Missing {
                state.rate_limits.failed_auth(peer)?;
            }
            Err(ApiError::unauthorized(e))
        })?;
    limit_request(state, acting).map(|a| a.0)
}

/// `acting`, once it took a token from its `[auth.rate_limits]` request
/// bucket (when there is one).
fn limit_request(state: &AppState, acting: Acting) -> Result<Acting, ApiError> {
    state.rate_limits.request(&acting.0)?;
    Ok(acting)
}

/// The credential the request presents.
///
/// # Errors
/// [`AuthError::Missing`] when it presents none, [`AuthError::Invalid`]
/// when a header that should carry one is malformed.
fn credential(headers: &HeaderMap) -> Result<Credential, AuthError> {
    credential_from(
        headers.get(AUTHORIZATION).map(|v| v.as_bytes()),
        headers.get(X_API_KEY).map(|v| v.as_bytes()),
    )
}

/// The credential of an `authorization` value (Bearer or Basic) or,
/// without one, of an `x-api-key` value: HTTP headers and gRPC metadata
/// alike.
///
/// # Errors
/// [`AuthError::Missing`] when both are absent, [`AuthError::Invalid`]
/// when the one present is malformed (not visible ASCII, an unknown
/// scheme, bad Base64, no `:` in Basic, empty).
pub(crate) fn credential_from(
    authorization: Option<&[u8]>,
    x_api_key: Option<&[u8]>,
) -> Result<Credential, AuthError> {
    let text = |v: &[u8]| {
        std::str::from_utf8(v)
            .ok()
            .filter(|s| s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
            .map(str::to_owned)
            .ok_or(AuthError::Invalid)
    };
    if let Some(value) = authorization {
        let value = text(value)?;
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').ok_or(AuthError::Invalid)?;
        let rest = rest.trim();
        let key = if scheme.eq_ignore_ascii_case("bearer") {
            rest.to_owned()
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD.decode(rest).map_err(|_| AuthError::Invalid)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Invalid)?;
            let (_user, password) = decoded.split_once(':').ok_or(AuthError::Invalid)?;
            password.to_owned()
        } else {
            return Err(AuthError::Invalid);
        };
        return non_empty(key);
    }
    if let Some(value) = x_api_key {
        let key = text(value)?;
        return non_empty(key.trim().to_owned());
    }
    Err(AuthError::Missing)
}

fn non_empty(key: String) -> Result<Credential, AuthError> {
    if key.is_empty() {
        Err(AuthError::Invalid)
    } else {
        Ok(Credential::ApiKey(Secret::new(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }
    fn key(k: &str) -> Result<Credential, AuthError> {
        Ok(Credential::ApiKey(Secret::new(k)))
    }

    #[test]
    fn reads_bearer_basic_and_x_api_key() {
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer k1")])),
            key("k1")
        );
        assert_eq!(
            credential(&headers(&[("authorization", "bearer  k1 ")])),
            key("k1")
        );
        let basic = format!("Basic {}", STANDARD.encode("anyone:k:2"));
        assert_eq!(
            credential(&headers(&[("authorization", &basic)])),
            key("k:2")
        );
        assert_eq!(credential(&headers(&[("x-api-key", "k3")])), key("k3"));
    }

    #[test]
    fn none_is_missing_and_malformed_is_invalid() {
        assert_eq!(credential(&HeaderMap::new()), Err(AuthError::Missing));
        for bad in [
            "Bearer",
            "Bearer ",
            "Digest x",
            "Basic !!!",
            "Basic dXNlcg==",
        ] {
            assert_eq!(
                credential(&headers(&[("authorization", bad)])),
                Err(AuthError::Invalid),
                "{bad}"
            );
        }
        assert_eq!(
            credential(&headers(&[("x-api-key", " ")])),
            Err(AuthError::Invalid)
        );
    }
}
