//! [`AppState`]: what every handler shares.

use std::sync::Arc;

use strata_application::{BuildCacheService, CacheService};
use strata_domain::{AuditLog, Authenticator, Clock, Role, SessionStore};

use crate::edge::client_addr::TrustedProxies;
use crate::edge::protected::ProtectedMode;
use crate::edge::rate_limit::RateLimits;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The application facade.
    pub service: CacheService,
    /// Wall-clock time, for `Age` and remaining TTLs.
    pub clock: Arc<dyn Clock>,
    /// Who may call: `None` (no API keys) lets every request act as
    /// `Principal::Anonymous` (within [`ProtectedMode`]); `Some` requires a valid credential.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Protected mode: without an authenticator, which peers may act.
    pub protected_mode: ProtectedMode,
    /// `[server] trusted_proxies`: whose forwarding header names the
    /// client that the limits, protected mode and audit trail key on.
    pub trusted_proxies: TrustedProxies,
    /// Per-principal rate limits (`[auth.rate_limits]`); off by default.
    pub rate_limits: RateLimits,
    /// The audit trail (`[audit]`): `None` records nothing and answers
    /// `GET /admin/v1/audit` with 404.
    pub audit: Option<Arc<dyn AuditLog>>,
    /// `[auth] metrics_role`: `/metrics` needs this role on every cache
    /// (a grant on `*`); `None` leaves it open.
    pub metrics_role: Option<Role>,
    /// The remote build cache (`[build_cache]`): `None` when disabled,
    /// and `/ac/`, `/cas/` paths answer 404.
    pub build_cache: Option<BuildCacheService>,
    /// `[server] body_read_timeout_secs`: the longest wait for the next
    /// piece of a request body (HTTP), then 408.
    pub body_read_timeout: std::time::Duration,
    /// This server's version and listeners, for `GET /admin/v1/status`.
    pub server: ServerInfo,
    /// The web console's login sessions (`/console`).
    pub sessions: Arc<dyn SessionStore>,
}

/// What a running server says about itself in `GET /admin/v1/status`:
/// facts fixed at start-up, set by the composition root.
#[derive(Clone, Debug, Default)]
pub struct ServerInfo {
    /// The `strata` release, e.g. `0.1.0`.
    pub version: String,
    /// Every listener, in the order they were bound.
    pub listeners: Vec<Listener>,
}

/// One bound listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// `http` or `grpc` (`console` when it exists).
    pub protocol: &'static str,
    /// Its URL with the bound address (a configured port 0 is resolved):
    /// `http://127.0.0.1:8080`, `https://...` with TLS, `grpc://...` or
    /// `grpcs://...` with TLS.
    pub url: String,
}
