//! `[auth]` and `[auth.api_keys.<id>]`: who may call the service, what
//! each key may do, and protected mode's trusted networks. This module
//! only describes the section: the authenticators, limiters and protected
//! mode are built from it by the composition root (`wiring::auth`), so
//! config knows no authenticator.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use strata_domain::Role;
use strata_presentation::ProtectedMode;

use super::jwt::JwtSettings;
use super::rate_limits::RateLimitSettings;

/// `[auth]`: who may call the service, and what each caller may do.
/// With no API keys there is no authenticator (every request acts as
/// `anonymous`), and protected mode applies.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `[auth.api_keys.<id>]`: API keys by id (the principal's subject).
    #[serde(default)]
    pub api_keys: BTreeMap<String, ApiKeySettings>,
    /// Protected mode: without API keys, only peers in these CIDRs may
    /// act (default loopback: `127.0.0.0/8`, `::1/128`).
    #[serde(default = "default_trusted_networks")]
    pub trusted_networks: Vec<String>,
    /// `on` (default): protected mode applies without API keys; `off`:
    /// every peer is `anonymous` with every right.
    #[serde(default)]
    pub mode: AuthMode,
    /// `[auth.rate_limits]`: per-principal token buckets; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimitSettings>,
    /// `[auth.jwt]`: JWT bearer tokens; none accepted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSettings>,
    /// `/metrics` needs this role (`reader`, `cas-writer`, `writer` or
    /// `admin`) on every cache, i.e. a grant on `*`; open when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_role: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            api_keys: BTreeMap::new(),
            trusted_networks: default_trusted_networks(),
            mode: AuthMode::default(),
            rate_limits: None,
            jwt: None,
            metrics_role: None,
        }
    }
}

fn default_trusted_networks() -> Vec<String> {
    ProtectedMode::DEFAULT_TRUSTED_NETWORKS
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// `auth.mode`: whether protected mode applies when no API keys are set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Protected mode: only trusted networks, and no public listen address.
    #[default]
    On,
    /// No protection: anyone who can reach the port has every right.
    Off,
}

/// `[auth.api_keys.<id>]`: one API key, by its SHA-256 only (never the
/// key; `strata keys generate --id <id>` prints both).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    /// 64 hex digits: SHA-256 of the key.
    pub sha256: String,
    /// What the key may do: the union of these grants.
    #[serde(default)]
    pub grants: Vec<GrantSettings>,
}

/// One grant: `role` on the caches whose names match `caches`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSettings {
    /// A glob over cache names (Redis glob syntax: `*`, `?`, `[a-z]`).
    pub caches: String,
    /// `reader`, `cas-writer`, `writer` or `admin`.
    pub role: String,
}

impl AuthSettings {
    /// The role `/metrics` needs on every cache; `None` when open.
    ///
    /// # Errors
    /// An unknown role, naming `auth.metrics_role`.
    pub fn metrics_role(&self) -> anyhow::Result<Option<Role>> {
        self.metrics_role
            .as_deref()
            .map(|r| Role::parse(r).context("[auth] metrics_role"))
            .transpose()
    }

    /// Whether any credential is configured (an API key or `[auth.jwt]`):
    /// then requests authenticate, and protected mode does not apply.
    pub fn has_credentials(&self) -> bool {
        !self.api_keys.is_empty() || self.jwt.is_some()
    }
}
