//! [`InvalidConfiguration`]: why a cache configuration was refused, naming
//! the setting. Its own module, below `configuration` and `cache_aside`,
//! which both raise it.

/// A configuration was rejected; `field` names the offending setting as
/// spelled in TOML and in the admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {field}: {reason}")]
pub struct InvalidConfiguration {
    /// The setting, e.g. `max_value_bytes`.
    pub field: &'static str,
    /// Human-readable reason.
    pub reason: String,
}

impl InvalidConfiguration {
    /// A rejection of `field` for `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
