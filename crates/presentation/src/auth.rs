//! The acting principal of a request.
//!
//! Without an authenticator (no API keys), every request acts as
//! [`Principal::Anonymous`], but in [`ProtectedMode`] only when its peer
//! is in a trusted network (loopback by default); other peers get 403
//! `protected_mode`. With an authenticator, the [`Acting`] extractor reads
//! an API key from, in this order:
//!
//! - `Authorization: Bearer <key>`;
//! - `Authorization: Basic <base64(user:key)>` (the key is the password,
//!   any user name: Bazel's `http://user:key@host`);
//! - `X-Api-Key: <key>`.
//!
//! No credential, or one the authenticator rejects, is 401 `unauthorized`
//! with `WWW-Authenticate: Bearer realm="strata"`, counted in
//! `strata_auth_failures_total{reason}` (`missing`, `invalid`). A valid key
//! without the grant an operation needs is the application's 403
//! `forbidden`. The credential is never logged. Routes that do not take
//! [`Acting`] (health, metrics, OpenAPI, docs) stay open.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ipnet::IpNet;
use strata_domain::{AuthError, Credential, Principal, Secret};

use crate::error::ApiError;
use crate::state::AppState;

/// The header that may carry an API key on its own.
pub const X_API_KEY: &str = "x-api-key";

/// Protected mode (as Redis's): without API keys, only peers in
/// `trusted` may act; the others get 403 `protected_mode`.
#[derive(Clone, Debug, Default)]
pub struct ProtectedMode {
    /// Whether the check applies: `auth.mode = "on"` and no API keys.
    pub enabled: bool,
    /// `auth.trusted_networks`.
    pub trusted: Vec<IpNet>,
}

impl ProtectedMode {
    /// The default `auth.trusted_networks`: loopback only.
    pub const DEFAULT_TRUSTED_NETWORKS: [&str; 2] = ["127.0.0.0/8", "::1/128"];

    /// Whether `peer` may act: the check is off, or `peer` is in a
    /// trusted network. An IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`)
    /// counts as its IPv4 address; an unknown peer is not trusted.
    pub fn admits(&self, peer: Option<IpAddr>) -> bool {
        if !self.enabled {
            return true;
        }
        let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
            return false;
        };
        self.trusted.iter().any(|net| net.contains(&peer))
    }
}

/// Extractor: who is making the request.
#[derive(Clone, Debug)]
pub struct Acting(pub Principal);

impl FromRequest for Acting {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Ok(Acting(Principal::Anonymous)));
        };
        let Some(authenticator) = state.authenticator.clone() else {
            let peer = req.peer_addr().map(|addr| addr.ip());
            if state.protected_mode.admits(peer) {
                return ready(Ok(Acting(Principal::Anonymous)));
            }
            tracing::info!(target: "strata::audit", peer = ?peer, "refused by protected mode");
            return ready(Err(ApiError::protected_mode(peer)));
        };
        let result = credential(req.headers())
            .and_then(|c| authenticator.authenticate(&c))
            .map(Acting)
            .map_err(|e| {
                metrics::counter!("strata_auth_failures_total", "reason" => e.reason())
                    .increment(1);
                tracing::info!(target: "strata::audit", reason = e.reason(), "authentication failed");
                ApiError::unauthorized(e)
            });
        ready(result)
    }
}

/// The credential the request presents.
///
/// # Errors
/// [`AuthError::Missing`] when it presents none, [`AuthError::Invalid`]
/// when a header that should carry one is malformed.
fn credential(headers: &HeaderMap) -> Result<Credential, AuthError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AuthError::Invalid)?.trim();
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
    if let Some(value) = headers.get(X_API_KEY) {
        let key = value.to_str().map_err(|_| AuthError::Invalid)?.trim();
        return non_empty(key.to_owned());
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

    fn protected(nets: &[&str]) -> ProtectedMode {
        ProtectedMode {
            enabled: true,
            trusted: nets.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }
    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn protected_mode_admits_only_trusted_peers() {
        let mode = protected(&ProtectedMode::DEFAULT_TRUSTED_NETWORKS);
        for trusted in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] {
            assert!(mode.admits(ip(trusted)), "{trusted}");
        }
        for outside in ["10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1"] {
            assert!(!mode.admits(ip(outside)), "{outside}");
        }
        assert!(!mode.admits(None));
        let narrow = protected(&["127.0.0.1/32", "10.1.0.0/16"]);
        assert!(narrow.admits(ip("127.0.0.1")));
        assert!(!narrow.admits(ip("127.0.0.2")));
        assert!(narrow.admits(ip("10.1.200.3")));
        assert!(!narrow.admits(ip("10.2.0.1")));
        assert!(!protected(&[]).admits(ip("127.0.0.1")));
    }

    #[test]
    fn protected_mode_off_admits_everyone() {
        let off = ProtectedMode {
            enabled: false,
            trusted: Vec::new(),
        };
        assert!(off.admits(ip("203.0.113.7")));
        assert!(off.admits(None));
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
