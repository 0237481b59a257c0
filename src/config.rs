//! The service's settings: TOML file plus `STRATA__SECTION__KEY`
//! environment overrides (figment). See `strata.example.toml`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use strata_application::build_cache::AcValidation;
use strata_domain::{Authenticator, Clock, Grant, InstanceName, KeyPattern, Role, Secret};
use strata_infrastructure::{
    ApiKeyAuthenticator, ApiKeyDigest, ClaimMapping, CompositeAuthenticator, JwtAuthenticator,
};
use strata_presentation::edge::rate_limit::{PeerLimiter, PrincipalLimiter, RateLimits};
use strata_presentation::{CacheConfigurationDto, ProtectedMode};

/// Address `strata serve` listens on when none is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Address the gRPC listener binds when none is configured.
pub const DEFAULT_GRPC_LISTEN: &str = "127.0.0.1:9092";
/// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// The cache that exists out of the box.
pub const DEFAULT_CACHE: &str = "default";

/// All settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerSettings,
    /// `[log]`.
    #[serde(default)]
    pub log: LogSettings,
    /// `[backends.<name>]`: shared backends caches can name as tiers.
    #[serde(default)]
    pub backends: BTreeMap<String, BackendSettings>,
    /// `[caches.<name>]`: caches created at start-up. A `default` cache is
    /// added when the file defines none of that name.
    #[serde(default)]
    pub caches: BTreeMap<String, CacheConfigurationDto>,
    /// `[coherence]`: L1 coherence between instances over Redis pub/sub.
    #[serde(default)]
    pub coherence: CoherenceSettings,
    /// `[cluster]`: configuration shared by several instances.
    #[serde(default)]
    pub cluster: ClusterSettings,
    /// `[encryption]`: keys for encryption at rest in shared tiers.
    #[serde(default)]
    pub encryption: EncryptionSettings,
    /// `[auth]`: authentication. Absent, or without API keys, every
    /// request acts as `anonymous`, which may do everything, from the
    /// trusted networks only (protected mode, `auth.mode = "on"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSettings>,
    /// `[audit]`: the audit file. Absent, nothing is recorded and
    /// `GET /admin/v1/audit` is 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditSettings>,
    /// `[build_cache]`: the remote build cache (Bazel's and ccache's
    /// `/ac/` and `/cas/` over HTTP).
    #[serde(default)]
    pub build_cache: BuildCacheSettings,
    /// `[analysis]`: live miss-ratio curves and `eviction = "auto"`.
    #[serde(default)]
    pub analysis: AnalysisSettings,
    /// `[invalidation_events]`: events from Redis streams and RabbitMQ.
    #[serde(default)]
    pub invalidation_events: crate::ops_settings::InvalidationEventSettings,
    /// `[telemetry]`: OpenTelemetry traces over OTLP.
    #[serde(default)]
    pub telemetry: crate::ops_settings::TelemetrySettings,
}

/// `[analysis]`: per-cache miss-ratio curves (SHARDS sampling, miniature
/// simulations; docs/eviction.md "Live miss-ratio curves").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Analyse caches at all (default true). Off, `/mrc` and
    /// `/recommendation` answer 422 `unsupported_operation`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Starting (highest) spatial sampling rate, in (0, 1] (default 0.01);
    /// caches under 204,800 entries are sampled faster, up to 1.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: f64,
    /// Memory bound of one cache's simulations, in bytes (default 8 MiB):
    /// above it the sampling rate halves (fixed-size SHARDS).
    #[serde(default = "default_analysis_max_bytes")]
    pub max_memory_bytes: u64,
    /// Length of the bounded sample queue per cache (default 16384); a
    /// full queue drops samples and counts them.
    #[serde(default = "default_queue_samples")]
    pub queue_samples: usize,
    /// How often `eviction = "auto"` caches are evaluated, in milliseconds
    /// (default 10000).
    #[serde(default = "default_auto_interval_ms")]
    pub auto_interval_ms: u64,
    /// How much lower (absolute) another policy's estimated miss ratio
    /// must be to switch to it (default 0.01).
    #[serde(default = "default_auto_margin")]
    pub auto_margin: f64,
    /// Consecutive evaluations that policy must lead (default 3).
    #[serde(default = "default_auto_window")]
    pub auto_window: u32,
    /// Extra margin to switch back to the policy just left (default 0.005).
    #[serde(default = "default_auto_hysteresis")]
    pub auto_hysteresis: f64,
    /// Fewest evaluations between two switches of a cache (default 6).
    #[serde(default = "default_auto_min_interval")]
    pub auto_min_interval: u32,
}

fn default_auto_interval_ms() -> u64 {
    10_000
}
fn default_auto_margin() -> f64 {
    strata_domain::DEFAULT_AUTO_MARGIN
}
fn default_auto_window() -> u32 {
    strata_domain::DEFAULT_AUTO_WINDOW
}
fn default_auto_hysteresis() -> f64 {
    strata_domain::DEFAULT_AUTO_HYSTERESIS
}
fn default_auto_min_interval() -> u32 {
    strata_domain::DEFAULT_AUTO_MIN_INTERVAL
}

fn default_sample_rate() -> f64 {
    strata_infrastructure::eviction::mrc::DEFAULT_SAMPLE_RATE
}
fn default_analysis_max_bytes() -> u64 {
    strata_infrastructure::eviction::mrc::DEFAULT_MAX_MEMORY_BYTES
}
fn default_queue_samples() -> usize {
    strata_infrastructure::DEFAULT_QUEUE_SAMPLES
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            sample_rate: default_sample_rate(),
            max_memory_bytes: default_analysis_max_bytes(),
            queue_samples: default_queue_samples(),
            auto_interval_ms: default_auto_interval_ms(),
            auto_margin: default_auto_margin(),
            auto_window: default_auto_window(),
            auto_hysteresis: default_auto_hysteresis(),
            auto_min_interval: default_auto_min_interval(),
        }
    }
}

impl AnalysisSettings {
    /// The switching rule of `eviction = "auto"`.
    ///
    /// # Errors
    /// A negative margin or hysteresis, or a zero `auto_interval_ms`.
    pub fn auto_tune(&self) -> anyhow::Result<strata_domain::AutoTuneSettings> {
        if !(self.auto_margin >= 0.0 && self.auto_hysteresis >= 0.0) || self.auto_interval_ms == 0 {
            anyhow::bail!(
                "[analysis] auto_margin and auto_hysteresis must be >= 0 and auto_interval_ms >= 1"
            );
        }
        Ok(strata_domain::AutoTuneSettings {
            margin: self.auto_margin,
            window: self.auto_window,
            hysteresis: self.auto_hysteresis,
            min_interval: self.auto_min_interval,
        })
    }

    /// The analyzers' settings.
    ///
    /// # Errors
    /// A `sample_rate` outside (0, 1] or a zero `max_memory_bytes` or
    /// `queue_samples`.
    pub fn analyzer(&self) -> anyhow::Result<strata_infrastructure::AnalyzerSettings> {
        if !(self.sample_rate > 0.0 && self.sample_rate <= 1.0) {
            anyhow::bail!(
                "[analysis] sample_rate must be in (0, 1], got {}",
                self.sample_rate
            );
        }
        if self.max_memory_bytes == 0 || self.queue_samples == 0 {
            anyhow::bail!("[analysis] max_memory_bytes and queue_samples must be at least 1");
        }
        Ok(strata_infrastructure::AnalyzerSettings {
            sample_rate: self.sample_rate,
            max_memory_bytes: self.max_memory_bytes,
            queue_samples: self.queue_samples,
            ..strata_infrastructure::AnalyzerSettings::default()
        })
    }
}

/// Default byte budget of the build cache's memory store: 1 GiB.
pub const DEFAULT_BUILD_CACHE_MAX_BYTES: u64 = 1 << 30;

/// `[build_cache]`: the remote build cache, bazel-remote's HTTP protocol
/// (`GET`/`HEAD`/`PUT` on `[/<instance>]/ac/<sha256>` and
/// `[/<instance>]/cas/<sha256>`; docs/build-cache.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildCacheSettings {
    /// Serve the build cache at all (default true). Off, `/ac/` and
    /// `/cas/` paths answer 404 `not_found`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Where AC entries and CAS blobs live: `memory`, `disk` or
    /// `memory+disk`. Default: `disk` when `dir` is set, else `memory`
    /// (so the README's `cargo run` and the tests write no files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<BuildStoreKind>,
    /// The disk store's directory (`disk` and `memory+disk`): created when
    /// missing; its index is rebuilt from the files at start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// A `[backends.<name>]` of kind `redis` or `redis-cluster` that holds
    /// the action cache instead of `store`, so every Strata instance on
    /// that Redis shares AC entries (CAS blobs stay in `store`). Keys are
    /// `strata:bc:{<instance>}:ac:...`; AC entries up to 4 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ac_backend: Option<String>,
    /// A `[backends.<name>]` of kind `redis` or `redis-cluster` that holds
    /// CAS blobs of at most `cas_backend_max_blob_bytes`, so every Strata
    /// instance on that Redis sees the small outputs its shared AC entries
    /// reference; larger blobs stay in `store`. Reads try Redis first,
    /// then `store`. Keys are `strata:bc:{<instance>}:cas:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas_backend: Option<String>,
    /// The largest blob `cas_backend` holds, in bytes (default 1 MiB, at
    /// most 64 MiB, Redis's practical string size here).
    #[serde(default = "default_cas_backend_max_blob_bytes")]
    pub cas_backend_max_blob_bytes: u64,
    /// The memory tier's byte budget in `memory+disk` (default the lesser
    /// of 256 MiB and `max_bytes / 4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The store's byte budget, AC and CAS together (default 1 GiB); the
    /// least recently used entries are evicted past it.
    #[serde(default = "default_build_cache_max_bytes")]
    pub max_bytes: u64,
    /// The largest CAS blob or AC entry accepted, in bytes (default the
    /// lesser of 1 GiB and `max_bytes`); larger uploads get 413.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_blob_bytes: Option<u64>,
    /// Validate AC entries (default true): a PUT must be a REAPI
    /// `ActionResult`, and a GET answers 404 when a blob it references is
    /// missing. Off, raw bytes are stored (ccache's `layout=bazel`).
    #[serde(default = "default_true")]
    pub validate_ac: bool,
    /// `[build_cache.instances.<name>]`: per-instance overrides; the name
    /// is the HTTP path prefix (`""` is the default instance).
    #[serde(default)]
    pub instances: BTreeMap<String, BuildCacheInstanceSettings>,
}

/// Which store holds the build cache. Each variant names its technology;
/// a store with settings of its own (the disk store's `dir`) adds its
/// keys to [`BuildCacheSettings`] beside this kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStoreKind {
    /// In process memory (`MemoryBuildStore`), LRU by bytes; lost on restart.
    #[default]
    Memory,
    /// Files under `dir` (`DiskBuildStore`): atomic writes, LRU by bytes
    /// down to a 90% watermark, kept across restarts.
    Disk,
    /// A memory tier over the disk store (`StackedBuildStore`).
    #[serde(rename = "memory+disk")]
    MemoryDisk,
}

/// `[build_cache.instances.<name>]`: one instance's overrides.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildCacheInstanceSettings {
    /// Overrides `[build_cache] validate_ac` for this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_ac: Option<bool>,
}

fn default_cas_backend_max_blob_bytes() -> u64 {
    strata_infrastructure::DEFAULT_SMALL_BLOB_MAX_BYTES
}

/// The largest `cas_backend_max_blob_bytes`: 64 MiB.
pub const MAX_CAS_BACKEND_BLOB_BYTES: u64 = 64 << 20;

fn default_build_cache_max_bytes() -> u64 {
    DEFAULT_BUILD_CACHE_MAX_BYTES
}

impl Default for BuildCacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            store: None,
            ac_backend: None,
            cas_backend: None,
            cas_backend_max_blob_bytes: default_cas_backend_max_blob_bytes(),
            dir: None,
            memory_bytes: None,
            max_bytes: DEFAULT_BUILD_CACHE_MAX_BYTES,
            max_blob_bytes: None,
            validate_ac: true,
            instances: BTreeMap::new(),
        }
    }
}

impl BuildCacheSettings {
    /// The store in use: `store`, or `disk` when only `dir` is set, or
    /// `memory`.
    ///
    /// # Errors
    /// `disk` or `memory+disk` without `dir`.
    pub fn store_kind(&self) -> anyhow::Result<BuildStoreKind> {
        let kind = self.store.unwrap_or(if self.dir.is_some() {
            BuildStoreKind::Disk
        } else {
            BuildStoreKind::Memory
        });
        if kind != BuildStoreKind::Memory && self.dir.is_none() {
            anyhow::bail!("[build_cache] store = {kind:?} needs dir = \"<directory>\"");
        }
        Ok(kind)
    }

    /// The AC validation choices, per instance.
    ///
    /// # Errors
    /// An instance name that is not a valid [`InstanceName`], naming it.
    pub fn validation(&self) -> anyhow::Result<AcValidation> {
        let mut validation = AcValidation::all(self.validate_ac);
        for (name, instance) in &self.instances {
            let parsed = InstanceName::parse(name)
                .with_context(|| format!("[build_cache.instances.{name:?}]"))?;
            if let Some(on) = instance.validate_ac {
                validation = validation.set(parsed, on);
            }
        }
        Ok(validation)
    }
}

/// `[audit]`: the JSON Lines audit trail of admin operations and refused
/// requests (see docs/security.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The file records are appended to (created if missing).
    pub path: PathBuf,
    /// Size in bytes past which the file is rotated to `<path>.1`
    /// (default 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

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

/// A secret setting (the HS256 secret): `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(pub Secret);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose())
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self(Secret::new(s)))
    }
}

/// `[auth.jwt]`: JWT bearer tokens, presented as `Authorization: Bearer`
/// (see docs/security.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The HS256 secret (at least 32 bytes); set it from the environment:
    /// `STRATA__AUTH__JWT__HS256_SECRET=...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hs256_secret: Option<SecretString>,
    /// A JWKS file of RS256/ES256 public keys, chosen by the token's `kid`;
    /// re-read when its modification time changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// The required `iss`; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The required `aud`; not checked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf` (default 30).
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// The claim listing `"<role>:<cache glob>"` grants (default `strata`).
    #[serde(default = "default_grants_claim")]
    pub grants_claim: String,
    /// The claim naming the token's namespace (e.g. `ns`): namespace
    /// `team1` gets `namespace_role` on the caches `team1-*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_claim: Option<String>,
    /// The role a namespace claim gives (default `writer`).
    #[serde(default = "default_namespace_role")]
    pub namespace_role: String,
}

fn default_leeway_secs() -> u64 {
    30
}
fn default_grants_claim() -> String {
    "strata".to_owned()
}
fn default_namespace_role() -> String {
    "writer".to_owned()
}

impl JwtSettings {
    /// Settings accepting HS256 tokens signed with `secret`, every other
    /// field at its default.
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self {
            hs256_secret: Some(SecretString(Secret::new(secret))),
            jwks_file: None,
            issuer: None,
            audience: None,
            leeway_secs: default_leeway_secs(),
            grants_claim: default_grants_claim(),
            namespace_claim: None,
            namespace_role: default_namespace_role(),
        }
    }

    /// The authenticator these settings describe, checking `exp` and `nbf`
    /// against `clock` (the application's).
    ///
    /// # Errors
    /// An unknown `namespace_role`, an empty claim name, a short
    /// `hs256_secret`, no key at all, or a `jwks_file` that cannot be read
    /// or has no usable key, naming the field.
    pub fn authenticator(&self, clock: Arc<dyn Clock>) -> anyhow::Result<JwtAuthenticator> {
        let at = |field: &str| format!("[auth.jwt] {field}");
        let namespace_role =
            Role::parse(&self.namespace_role).with_context(|| at("namespace_role"))?;
        if self.grants_claim.is_empty() {
            anyhow::bail!("{}: must not be empty", at("grants_claim"));
        }
        if self.namespace_claim.as_deref() == Some("") {
            anyhow::bail!("{}: must not be empty", at("namespace_claim"));
        }
        let mut builder = JwtAuthenticator::builder()
            .clock(clock)
            .leeway_secs(self.leeway_secs)
            .claims(ClaimMapping {
                grants_claim: self.grants_claim.clone(),
                namespace_claim: self.namespace_claim.clone(),
                namespace_role,
            });
        if let Some(secret) = &self.hs256_secret {
            builder = builder.hs256_secret(secret.0.expose().as_bytes());
        }
        if let Some(path) = &self.jwks_file {
            builder = builder.jwks_file(path);
        }
        if let Some(issuer) = &self.issuer {
            builder = builder.issuer(issuer);
        }
        if let Some(audience) = &self.audience {
            builder = builder.audience(audience);
        }
        builder.build().map_err(|e| {
            use strata_infrastructure::JwtConfigError;
            let field = match &e {
                JwtConfigError::ShortSecret => "hs256_secret",
                JwtConfigError::NoKeys => "hs256_secret or jwks_file",
                JwtConfigError::Jwks { .. } => "jwks_file",
            };
            anyhow::anyhow!("{}: {e}", at(field))
        })
    }
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
    10
}
fn default_admin_burst() -> u32 {
    5
}
fn default_failed_auth_per_minute() -> u32 {
    30
}
fn default_failed_auth_burst() -> u32 {
    10
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

impl RateLimitSettings {
    /// The limiters these settings describe.
    ///
    /// # Errors
    /// A zero rate or burst, or `requests_burst` without
    /// `requests_per_second`, naming the field.
    pub fn limits(&self) -> anyhow::Result<RateLimits> {
        let positive = |field: &str, n: u32| {
            NonZeroU32::new(n)
                .with_context(|| format!("[auth.rate_limits] {field} must be at least 1"))
        };
        let admin = PrincipalLimiter::admin(
            positive("admin_per_minute", self.admin_per_minute)?,
            positive("admin_burst", self.admin_burst)?,
        );
        let requests = match (self.requests_per_second, self.requests_burst) {
            (None, None) => None,
            (None, Some(_)) => {
                anyhow::bail!("[auth.rate_limits] requests_burst needs requests_per_second")
            }
            (Some(rate), burst) => Some(Arc::new(PrincipalLimiter::requests(
                positive("requests_per_second", rate)?,
                positive("requests_burst", burst.unwrap_or(rate))?,
            ))),
        };
        Ok(RateLimits {
            admin: Some(Arc::new(admin)),
            requests,
            failed_auth: self.failed_auth()?,
        })
    }

    /// The failed-authentication limiter; `None` when
    /// `failed_auth_per_minute` is 0.
    ///
    /// # Errors
    /// A zero `failed_auth_burst` while the limit is on.
    pub fn failed_auth(&self) -> anyhow::Result<Option<Arc<PeerLimiter>>> {
        let Some(rate) = NonZeroU32::new(self.failed_auth_per_minute) else {
            return Ok(None);
        };
        let burst = NonZeroU32::new(self.failed_auth_burst)
            .context("[auth.rate_limits] failed_auth_burst must be at least 1")?;
        Ok(Some(Arc::new(PeerLimiter::new(rate, burst))))
    }
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
    /// The authenticator these settings describe.
    ///
    /// # Errors
    /// Bad hex in `sha256`, an unknown role or an invalid glob, naming the
    /// key id and the field.
    pub fn authenticator(&self) -> anyhow::Result<ApiKeyAuthenticator> {
        let mut builder = ApiKeyAuthenticator::builder();
        for (id, key) in &self.api_keys {
            let at = |field: String| format!("[auth.api_keys.{id}] {field}");
            let digest =
                ApiKeyDigest::from_hex(&key.sha256).with_context(|| at("sha256".to_owned()))?;
            let grants = key
                .grants
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    Ok(Grant {
                        caches: KeyPattern::parse(&g.caches)
                            .with_context(|| at(format!("grants[{i}].caches")))?,
                        role: Role::parse(&g.role)
                            .with_context(|| at(format!("grants[{i}].role")))?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            builder = builder.key(id.as_str(), digest, grants);
        }
        Ok(builder.build())
    }

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

    /// The rate limits in force: `[auth.rate_limits]` when present;
    /// otherwise only the failed-authentication limit, at its defaults.
    ///
    /// # Errors
    /// As [`RateLimitSettings::limits`].
    pub fn rate_limits(&self) -> anyhow::Result<RateLimits> {
        match &self.rate_limits {
            Some(limits) => limits.limits(),
            None => Ok(RateLimits {
                failed_auth: RateLimitSettings::default().failed_auth()?,
                ..RateLimits::default()
            }),
        }
    }

    /// Whether any credential is configured (an API key or `[auth.jwt]`):
    /// then requests authenticate, and protected mode does not apply.
    pub fn has_credentials(&self) -> bool {
        !self.api_keys.is_empty() || self.jwt.is_some()
    }

    /// The authenticator of every configured credential: API keys, JWT, or
    /// both (API keys first); `None` when [`has_credentials`](Self::has_credentials) is false.
    /// JWT `exp` and `nbf` are checked against `clock`.
    ///
    /// # Errors
    /// As [`authenticator`](Self::authenticator) and
    /// [`JwtSettings::authenticator`].
    pub fn credentials_authenticator(
        &self,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Option<Arc<dyn Authenticator>>> {
        let api_keys = if self.api_keys.is_empty() {
            None
        } else {
            let keys = self.authenticator()?;
            tracing::info!(keys = ?keys.ids().collect::<Vec<_>>(), "API keys on");
            Some(keys)
        };
        let jwt = self
            .jwt
            .as_ref()
            .map(|jwt| jwt.authenticator(clock))
            .transpose()?;
        if jwt.is_some() {
            tracing::info!("JWT bearer tokens on");
        }
        Ok(match (api_keys, jwt) {
            (None, None) => None,
            (Some(keys), None) => Some(Arc::new(keys)),
            (None, Some(jwt)) => Some(Arc::new(jwt)),
            (keys, jwt) => Some(Arc::new(CompositeAuthenticator::new(keys, jwt))),
        })
    }

    /// The protected mode these settings describe: on when `mode` is `on`
    /// and no credential is configured ([`has_credentials`](Self::has_credentials)).
    ///
    /// # Errors
    /// An entry of `trusted_networks` that is neither a CIDR nor an
    /// address, naming it (`auth.trusted_networks[1]`).
    pub fn protected_mode(&self) -> anyhow::Result<ProtectedMode> {
        let trusted = self
            .trusted_networks
            .iter()
            .enumerate()
            .map(|(i, net)| {
                parse_network(net).with_context(|| format!("auth.trusted_networks[{i}]"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(ProtectedMode {
            enabled: self.mode == AuthMode::On && !self.has_credentials(),
            trusted,
        })
    }
}

/// A CIDR (`10.0.0.0/8`, `fd00::/8`), or an address meaning itself alone.
fn parse_network(s: &str) -> anyhow::Result<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| anyhow::anyhow!("invalid CIDR {s:?} (expected e.g. \"10.0.0.0/8\")"))
}

/// Default pub/sub channel of `[coherence]`.
pub const DEFAULT_COHERENCE_CHANNEL: &str = "strata:coherence";

/// `[coherence]`: how instances stacking a memory tier over a shared one
/// tell each other about invalidations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoherenceSettings {
    /// Publish and subscribe at all (default true). Off, an instance's L1
    /// learns of other instances' writes only when `l1_max_ttl` expires.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// This instance's id on the channel; a random UUID when absent.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The Redis pub/sub channel (default `strata:coherence`); every
    /// instance of one deployment must use the same one.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// The Redis backend that carries the channel for every stacked cache;
    /// when absent each cache uses its own L2 (which must then be Redis).
    #[serde(default)]
    pub backend: Option<String>,
}

fn default_true() -> bool {
    true
}
fn default_channel() -> String {
    DEFAULT_COHERENCE_CHANNEL.to_owned()
}

impl Default for CoherenceSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            instance_id: None,
            channel: default_channel(),
            backend: None,
        }
    }
}

/// `[encryption]`: AES-256-GCM keys by id, each the standard base64 of 32
/// random bytes (`openssl rand -base64 32`). Set them from the
/// environment rather than a file: `STRATA__ENCRYPTION__KEYS__K1=...`.
/// A cache names its key with `encryption_key_id`; reads accept every key
/// here, so a key rotates by adding the new one, pointing caches at it and
/// dropping the old one once its entries are gone.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSettings {
    /// Key id to base64 key.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for EncryptionSettings {
    /// Key ids only: key material never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionSettings")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `[server]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Socket address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Socket address of the gRPC listener (REAPI, ByteStream, the
    /// `strata.cache.v1` API, health), default `127.0.0.1:9092`; port 0
    /// picks a free one; empty turns gRPC off. Same TLS files, credentials
    /// and protected mode as `listen`.
    #[serde(default = "default_grpc_listen")]
    pub grpc_listen: String,
    /// HTTP worker threads; the number of CPUs when absent.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish on shutdown.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    /// PEM file of the TLS certificate chain, leaf first; with
    /// `tls_key_file`, the listener speaks HTTPS only (read at start-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Directory of the service's state, created if missing; no default.
    /// Holds `caches.json`, the run-time cache configurations (unless
    /// `[cluster] config_backend` keeps them in Redis), and `snapshots/`:
    /// `persist` caches' snapshots and stacked caches' warm keys. Absent,
    /// run-time changes are lost on restart, nothing is snapshotted, and
    /// `persist = true` is a configuration error. One instance per
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// `[cluster]`: settings of a deployment of several instances.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// The `[backends.<name>]` (kind `redis`) that holds every cache
    /// configuration, shared by all instances; changes are announced on
    /// its coherence channel, so `[coherence]` must stay enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_backend: Option<String>,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_grpc_listen() -> String {
    DEFAULT_GRPC_LISTEN.to_owned()
}
fn default_shutdown_timeout() -> u64 {
    DEFAULT_SHUTDOWN_TIMEOUT_SECS
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            grpc_listen: default_grpc_listen(),
            workers: None,
            shutdown_timeout_secs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            tls_cert_file: None,
            tls_key_file: None,
            data_dir: None,
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,strata=debug`; `RUST_LOG` wins when set.
    #[serde(default = "default_filter")]
    pub filter: String,
}

fn default_filter() -> String {
    "info".to_owned()
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            filter: default_filter(),
        }
    }
}

/// `[backends.<name>]`: a shared backend.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BackendSettings {
    /// A standalone Redis server.
    Redis {
        /// `redis://host:port/db` (credentials in the URL are never logged).
        url: String,
        /// Per-call timeout in milliseconds.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// A Redis Cluster.
    RedisCluster {
        /// Seed node URLs.
        urls: Vec<String>,
        /// Per-call timeout in milliseconds.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// One or more Memcached servers, hashed client-side.
    Memcached {
        /// `host:port` of each server.
        servers: Vec<String>,
        /// Per-call timeout in milliseconds.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
}

impl BackendSettings {
    /// The infrastructure's description of the backend, and its timeout in ms.
    pub fn spec(&self) -> (strata_infrastructure::BackendSpec, Option<u64>) {
        use strata_infrastructure::BackendSpec;
        match self {
            Self::Redis { url, timeout_ms } => {
                (BackendSpec::Redis { url: url.clone() }, *timeout_ms)
            }
            Self::RedisCluster { urls, timeout_ms } => (
                BackendSpec::RedisCluster { urls: urls.clone() },
                *timeout_ms,
            ),
            Self::Memcached {
                servers,
                timeout_ms,
            } => (
                BackendSpec::Memcached {
                    servers: servers.clone(),
                },
                *timeout_ms,
            ),
        }
    }
}

impl Settings {
    /// Loads settings: defaults, then `file` (when given), then
    /// `STRATA__SECTION__KEY` environment variables (for example
    /// `STRATA__SERVER__LISTEN=0.0.0.0:9000`).
    ///
    /// # Errors
    /// A missing file, a TOML syntax error or an unknown or mistyped
    /// setting, naming the key.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    file.display()
                ))));
            }
            figment = figment.merge(Toml::file(file));
        }
        let mut settings: Settings = figment
            .merge(Env::prefixed("STRATA__").split("__"))
            .extract()
            .map_err(Box::new)?;
        settings.caches.entry(DEFAULT_CACHE.to_owned()).or_default();
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_cache_defaults_and_overrides() {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(
                "[build_cache]\nvalidate_ac = true\nmax_bytes = 1024\n\
                 [build_cache.instances.ccache]\nvalidate_ac = false\n",
            ))
            .extract()
            .unwrap();
        let bc = &settings.build_cache;
        assert!(bc.enabled);
        assert_eq!(
            (bc.store_kind().unwrap(), bc.max_bytes),
            (BuildStoreKind::Memory, 1024)
        );
        let v = bc.validation().unwrap();
        assert!(v.validates(&InstanceName::default()));
        assert!(!v.validates(&InstanceName::parse("ccache").unwrap()));

        let unknown: Result<Settings, _> = Figment::new()
            .merge(Toml::string("[build_cache]\nstore = \"tape\"\n"))
            .extract();
        assert!(unknown.is_err());
        let typo: Result<Settings, _> = Figment::new()
            .merge(Toml::string("[build_cache]\nvalidate = true\n"))
            .extract();
        assert!(typo.is_err());
        let mut bad = BuildCacheSettings::default();
        bad.instances.insert("a//b".into(), Default::default());
        assert!(bad.validation().is_err());
    }

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("strata.example.toml");
        let settings = Settings::load(Some(&path)).unwrap();
        assert!(settings.caches.contains_key(DEFAULT_CACHE));
        assert_eq!(settings.server.listen, DEFAULT_LISTEN);
        assert_eq!(settings.server.grpc_listen, DEFAULT_GRPC_LISTEN);
    }

    fn auth_from(toml: &str) -> anyhow::Result<ApiKeyAuthenticator> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        settings.auth.unwrap_or_default().authenticator()
    }

    #[test]
    fn auth_section_builds_an_authenticator() {
        let digest = ApiKeyDigest::of("k").to_hex();
        let auth = auth_from(&format!(
            "[auth.api_keys.ci-bot]\nsha256 = \"{digest}\"\n\
             grants = [{{ caches = \"build-*\", role = \"writer\" }}, \
             {{ caches = \"sessions\", role = \"cas-writer\" }}]\n"
        ))
        .unwrap();
        assert_eq!(auth.ids().collect::<Vec<_>>(), ["ci-bot"]);
    }

    #[test]
    fn invalid_auth_settings_name_the_key_and_field() {
        let digest = ApiKeyDigest::of("k").to_hex();
        let cases = [
            ("sha256 = \"xyz\"\n".to_owned(), "sha256"),
            (
                format!(
                    "sha256 = \"{digest}\"\ngrants = [{{ caches = \"a\", role = \"owner\" }}]\n"
                ),
                "grants[0].role",
            ),
            (
                format!(
                    "sha256 = \"{digest}\"\ngrants = [{{ caches = \"[a\", role = \"reader\" }}]\n"
                ),
                "grants[0].caches",
            ),
        ];
        for (body, field) in cases {
            let err = auth_from(&format!("[auth.api_keys.bot]\n{body}")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("[auth.api_keys.bot]"), "{msg}");
            assert!(msg.contains(field), "{msg}");
        }
    }

    fn protected_from(toml: &str) -> anyhow::Result<ProtectedMode> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        settings.auth.unwrap_or_default().protected_mode()
    }

    #[test]
    fn protected_mode_defaults_to_loopback_and_on() {
        let mode = AuthSettings::default().protected_mode().unwrap();
        assert!(mode.enabled);
        assert!(mode.admits(Some("127.0.0.1".parse().unwrap())));
        assert!(mode.admits(Some("::1".parse().unwrap())));
        assert!(!mode.admits(Some("192.0.2.1".parse().unwrap())));
        let off = protected_from("[auth]\nmode = \"off\"\n").unwrap();
        assert!(!off.enabled);
        let digest = ApiKeyDigest::of("k").to_hex();
        let keyed =
            protected_from(&format!("[auth.api_keys.bot]\nsha256 = \"{digest}\"\n")).unwrap();
        assert!(
            !keyed.enabled,
            "with API keys, authentication applies instead"
        );
    }

    #[test]
    fn trusted_networks_parse_cidrs_and_addresses() {
        let mode = protected_from(
            "[auth]\ntrusted_networks = [\"10.0.0.0/8\", \"192.0.2.7\", \"fd00::/8\"]\n",
        )
        .unwrap();
        assert!(mode.enabled);
        for ip in ["10.9.8.7", "192.0.2.7", "fd00::1"] {
            assert!(mode.admits(Some(ip.parse().unwrap())), "{ip}");
        }
        for ip in ["127.0.0.1", "192.0.2.8", "fe00::1"] {
            assert!(!mode.admits(Some(ip.parse().unwrap())), "{ip}");
        }
    }

    #[test]
    fn invalid_trusted_network_names_the_field() {
        for bad in ["10.0.0.0/33", "not-a-net", "10.0.0/8", "::1/129"] {
            let err = protected_from(&format!(
                "[auth]\ntrusted_networks = [\"127.0.0.0/8\", \"{bad}\"]\n"
            ))
            .unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("auth.trusted_networks[1]"), "{msg}");
            assert!(msg.contains(bad), "{msg}");
        }
    }

    #[test]
    fn unknown_auth_mode_is_an_error() {
        assert!(protected_from("[auth]\nmode = \"maybe\"\n").is_err());
    }

    fn rate_limits_from(toml: &str) -> anyhow::Result<RateLimits> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        settings
            .auth
            .and_then(|a| a.rate_limits)
            .context("no [auth.rate_limits]")?
            .limits()
    }

    #[test]
    fn rate_limits_default_to_admin_only() {
        let limits = rate_limits_from("[auth.rate_limits]\n").unwrap();
        assert!(limits.admin.is_some() && limits.requests.is_none());
        let limits = rate_limits_from("[auth.rate_limits]\nrequests_per_second = 50\n").unwrap();
        assert!(limits.requests.is_some());
    }

    #[test]
    fn invalid_rate_limits_name_the_field() {
        for (body, field) in [
            ("admin_per_minute = 0", "admin_per_minute"),
            ("admin_burst = 0", "admin_burst"),
            ("admin_burst = -1", "admin_burst"),
            ("requests_per_second = 0", "requests_per_second"),
            (
                "requests_per_second = 5\nrequests_burst = 0",
                "requests_burst",
            ),
            ("requests_burst = 5", "requests_burst"),
            ("admin_burts = 5", "admin_burts"),
        ] {
            let msg = match rate_limits_from(&format!("[auth.rate_limits]\n{body}\n")) {
                Ok(_) => panic!("{body} was accepted"),
                Err(e) => format!("{e:#}"),
            };
            assert!(msg.contains(field), "{body}: {msg}");
        }
    }

    fn jwt_from(toml: &str) -> anyhow::Result<AuthSettings> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(anyhow::Error::from)?;
        Ok(settings.auth.unwrap_or_default())
    }

    const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn jwt_section_counts_as_credentials_and_never_prints_its_secret() {
        let auth = jwt_from(&format!(
            "[auth.jwt]\nhs256_secret = \"{JWT_SECRET}\"\nnamespace_claim = \"ns\"\n"
        ))
        .unwrap();
        assert!(auth.has_credentials());
        assert!(!auth.protected_mode().unwrap().enabled);
        assert!(
            auth.credentials_authenticator(Arc::new(strata_infrastructure::SystemClock))
                .unwrap()
                .is_some()
        );
        let jwt = auth.jwt.as_ref().unwrap();
        assert_eq!(jwt.leeway_secs, 30);
        assert_eq!(jwt.grants_claim, "strata");
        assert_eq!(jwt.namespace_role, "writer");
        let debug = format!("{auth:?}");
        assert!(!debug.contains(JWT_SECRET), "{debug}");
        assert!(!AuthSettings::default().has_credentials());
        assert!(
            AuthSettings::default()
                .credentials_authenticator(Arc::new(strata_infrastructure::SystemClock))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn invalid_jwt_settings_name_the_field() {
        for (body, field) in [
            ("hs256_secret = \"short\"".to_owned(), "hs256_secret"),
            ("issuer = \"x\"".to_owned(), "hs256_secret or jwks_file"),
            (
                "jwks_file = \"/nonexistent/jwks.json\"".to_owned(),
                "jwks_file",
            ),
            (
                format!("hs256_secret = \"{JWT_SECRET}\"\nnamespace_role = \"owner\""),
                "namespace_role",
            ),
            (
                format!("hs256_secret = \"{JWT_SECRET}\"\ngrants_claim = \"\""),
                "grants_claim",
            ),
        ] {
            let auth = jwt_from(&format!("[auth.jwt]\n{body}\n")).unwrap();
            let msg = match auth
                .credentials_authenticator(Arc::new(strata_infrastructure::SystemClock))
            {
                Ok(_) => panic!("{body} was accepted"),
                Err(e) => format!("{e:#}"),
            };
            assert!(
                msg.contains("[auth.jwt]") && msg.contains(field),
                "{body}: {msg}"
            );
            assert!(!msg.contains(JWT_SECRET), "{msg}");
        }
        assert!(jwt_from("[auth.jwt]\nhs256_secert = \"x\"\n").is_err());
    }

    #[test]
    fn no_auth_section_means_none() {
        assert!(Settings::load(None).unwrap().auth.is_none());
    }

    #[test]
    fn missing_file_is_an_error() {
        assert!(Settings::load(Some(Path::new("/nonexistent/strata.toml"))).is_err());
    }
}
