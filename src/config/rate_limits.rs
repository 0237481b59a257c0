//! `[auth.rate_limits]`: token buckets per principal and per peer
//! address. Describes the section only: the limiters are built by the
//! composition root (`wiring::auth`).

use serde::{Deserialize, Serialize};

/// Admin operations a minute per principal by default.
pub const DEFAULT_ADMIN_PER_MINUTE: u32 = 10;
/// Admin operations at once per principal by default.
pub const DEFAULT_ADMIN_BURST: u32 = 5;
/// Refused credentials a minute per peer address by default.
pub const DEFAULT_FAILED_AUTH_PER_MINUTE: u32 = 30;
/// Refused credentials at once per peer address by default.
pub const DEFAULT_FAILED_AUTH_BURST: u32 = 10;

/// `[auth.rate_limits]`: token buckets per principal (its key id, or
/// `anonymous` without API keys).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Admin operations (flush, create/reconfigure, delete) a minute (default 10).
    #[serde(default = "default_admin_per_minute")]
    pub admin_per_minute: u32,
    /// Admin operations at once (default 5).
    #[serde(default = "default_admin_burst")]
    pub admin_burst: u32,
    /// Requests a second per principal, for every cache and admin request;
    /// no limit when absent.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// Requests at once (default `requests_per_second`).
    #[serde(default)]
    pub requests_burst: Option<u32>,
    /// Refused credentials a minute per peer address (default 30); 0
    /// turns the failed-authentication limit off. On whenever credentials
    /// are configured, with or without this section.
    #[serde(default = "default_failed_auth_per_minute")]
    pub failed_auth_per_minute: u32,
    /// Refused credentials at once per peer address (default 10).
    #[serde(default = "default_failed_auth_burst")]
    pub failed_auth_burst: u32,
}

fn default_admin_per_minute() -> u32 {
    DEFAULT_ADMIN_PER_MINUTE
}
fn default_admin_burst() -> u32 {
    DEFAULT_ADMIN_BURST
}
fn default_failed_auth_per_minute() -> u32 {
    DEFAULT_FAILED_AUTH_PER_MINUTE
}
fn default_failed_auth_burst() -> u32 {
    DEFAULT_FAILED_AUTH_BURST
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            admin_per_minute: default_admin_per_minute(),
            admin_burst: default_admin_burst(),
            requests_per_second: None,
            requests_burst: None,
            failed_auth_per_minute: default_failed_auth_per_minute(),
            failed_auth_burst: default_failed_auth_burst(),
        }
    }
}
