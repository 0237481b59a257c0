//! The service's settings: TOML file plus `STRATA__SECTION__KEY`
//! environment overrides (figment). See `strata.example.toml`.
//!
//! One room per section, each with its defaults as named constants beside
//! it; `validation` holds the checks that span sections. This module owns
//! the [`Settings`] root and its loading, and re-exports every section's
//! types (`strata::config::AuthSettings`). Config only describes settings:
//! it builds no authenticator, store or listener (the composition root
//! does, e.g. `wiring::auth`).

mod alerts;
mod analysis;
mod analytics;
mod audit;
mod auth;
mod backends;
mod build_cache;
mod cluster;
mod coherence;
mod encryption;
mod error;
mod invalidation_events;
mod jwt;
mod log;
mod rate_limits;
mod server;
mod telemetry;
pub(crate) mod validation;

use std::collections::BTreeMap;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use strata_presentation::CacheConfigurationDto;

pub use alerts::{
    AlertRuleSettings, AlertsSettings, DEFAULT_WEBHOOK_MAX_ATTEMPTS, DEFAULT_WEBHOOK_TIMEOUT_SECS,
    MAX_WEBHOOK_TIMEOUT_SECS,
};
pub use analysis::{AnalysisSettings, DEFAULT_AUTO_INTERVAL_MS};
pub use analytics::{AnalyticsSettings, DEFAULT_SAMPLE_INTERVAL_MS, DEFAULT_SAVE_INTERVAL_SECS};
pub use audit::AuditSettings;
pub use auth::{ApiKeySettings, AuthMode, AuthSettings, GrantSettings};
pub use backends::{BackendSettings, DEFAULT_BACKEND_TIMEOUT_MS, STOCK_KINDS};
pub use build_cache::{
    BuildCacheInstanceSettings, BuildCacheS3Settings, BuildCacheSettings, BuildStoreKind,
    DEFAULT_BUILD_CACHE_MAX_BYTES, MAX_CAS_BACKEND_BLOB_BYTES,
};
pub use cluster::ClusterSettings;
pub use coherence::{CoherenceSettings, DEFAULT_COHERENCE_CHANNEL};
pub use encryption::EncryptionSettings;
pub use error::ConfigError;
pub use invalidation_events::{DEFAULT_GROUP, EventSourceSettings, InvalidationEventSettings};
pub use jwt::{
    DEFAULT_GRANTS_CLAIM, DEFAULT_LEEWAY_SECS, DEFAULT_NAMESPACE_ROLE, JwtSettings, SecretString,
};
pub use log::{DEFAULT_LOG_FILTER, LogFormat, LogSettings};
pub use rate_limits::{
    DEFAULT_ADMIN_BURST, DEFAULT_ADMIN_PER_MINUTE, DEFAULT_FAILED_AUTH_BURST,
    DEFAULT_FAILED_AUTH_PER_MINUTE, RateLimitSettings,
};
pub use server::{
    DEFAULT_BODY_READ_TIMEOUT_SECS, DEFAULT_GRPC_LISTEN, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECS, ForwardedHeaderSetting, ServerSettings,
};
pub use telemetry::{DEFAULT_SERVICE_NAME, TelemetrySettings};

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
    /// `[analytics]`: trends of every cache and build-cache store.
    #[serde(default)]
    pub analytics: AnalyticsSettings,
    /// `[alerts]` and `[[alerts.rules]]`: detectors, rules, the webhook.
    #[serde(default)]
    pub alerts: AlertsSettings,
    /// `[invalidation_events]`: events from Redis streams and RabbitMQ.
    #[serde(default)]
    pub invalidation_events: InvalidationEventSettings,
    /// `[telemetry]`: OpenTelemetry traces over OTLP.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// The file the settings were read from (not a setting): plugin
    /// backends' errors name it.
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
}

impl Settings {
    /// Loads settings: defaults, then `file` (when given), then
    /// `STRATA__SECTION__KEY` environment variables (for example
    /// `STRATA__SERVER__LISTEN=0.0.0.0:9000`).
    ///
    /// # Errors
    /// [`ConfigError`]: a missing file, a TOML syntax error or an unknown
    /// or mistyped setting, naming the setting (`[server] listen`) and
    /// the file or environment variable it came from.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::MissingFile(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let mut settings: Settings = figment
            .merge(Env::prefixed("STRATA__").split("__"))
            .extract()?;
        settings.caches.entry(DEFAULT_CACHE.to_owned()).or_default();
        settings.source = file.map(Path::to_owned);
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("strata.example.toml");
        let settings = Settings::load(Some(&path)).unwrap();
        assert!(settings.caches.contains_key(DEFAULT_CACHE));
        assert_eq!(settings.server.listen, DEFAULT_LISTEN);
        assert_eq!(settings.server.grpc_listen, DEFAULT_GRPC_LISTEN);
    }

    #[test]
    fn no_auth_section_means_none() {
        assert!(Settings::load(None).unwrap().auth.is_none());
    }

    fn load_toml(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("typo.toml");
        std::fs::write(&path, text).unwrap();
        let error = Settings::load(Some(&path)).unwrap_err().to_string();
        error.replace(&dir.path().display().to_string(), "DIR")
    }

    #[test]
    fn an_unknown_setting_is_named_as_the_file_spells_it() {
        let error = load_toml("[server]\nlisten_typo = \"x\"\n");
        assert!(
            error.starts_with("unknown setting [server] listen_typo in DIR/typo.toml; expected one of: listen, grpc_listen,"),
            "{error}"
        );
        assert!(!error.contains("default."), "{error}");
        assert!(!error.contains('`'), "{error}");
    }

    #[test]
    fn a_mistyped_setting_names_its_section_and_file() {
        let error = load_toml("[server]\nlisten = 3\n");
        assert!(
            error.starts_with("[server] listen in DIR/typo.toml: invalid type"),
            "{error}"
        );
        let error = load_toml("[caches.a]\nmax_entries = \"many\"\n");
        assert!(
            error.starts_with("[caches.a] max_entries in DIR/typo.toml: "),
            "{error}"
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        assert!(Settings::load(Some(Path::new("/nonexistent/strata.toml"))).is_err());
    }
}
