//! [`AppState`]: what every handler shares.

use std::sync::Arc;

use strata_application::CacheService;
use strata_domain::{Authenticator, Clock};

use crate::rate_limit::RateLimits;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The application facade.
    pub service: CacheService,
    /// Wall-clock time, for `Age` and remaining TTLs.
    pub clock: Arc<dyn Clock>,
    /// Who may call: `None` (no `[auth]` section) lets every request act
    /// as `Principal::Anonymous`; `Some` requires a valid credential.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Per-principal rate limits (`[auth.rate_limits]`); off by default.
    pub rate_limits: RateLimits,
}
