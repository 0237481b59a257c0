//! Where a stored cache configuration came from ([`Provenance`]) and the
//! record a repository holds ([`StoredConfiguration`]).

use crate::configuration::{CacheConfiguration, ConfigVersion};

/// Where a stored configuration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigOrigin {
    /// Seeded from the configuration file (`[caches.<name>]`).
    File,
    /// Created or changed at run time (the admin API, `eviction = "auto"`).
    Runtime,
}

/// Where one setting of a cache came from, as the admin API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SettingSource {
    /// The configuration file set it.
    File,
    /// A run-time change set it.
    Runtime,
    /// Nobody set it: the built-in default.
    Default,
}

impl SettingSource {
    /// `file`, `runtime` or `default`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Runtime => "runtime",
            Self::Default => "default",
        }
    }
}

/// Who set a stored configuration, and which settings they named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The file or a run-time change.
    pub origin: ConfigOrigin,
    /// The settings `origin` named explicitly, spelled as in TOML and the
    /// admin API (`max_entries`, `eviction`, ...); every other setting
    /// holds its default.
    pub explicit: std::collections::BTreeSet<String>,
}

impl Provenance {
    /// A provenance of `origin` naming `explicit` settings.
    pub fn new(origin: ConfigOrigin, explicit: impl IntoIterator<Item = String>) -> Self {
        Self {
            origin,
            explicit: explicit.into_iter().collect(),
        }
    }

    /// Where `setting` came from: the origin when it was named, else
    /// [`SettingSource::Default`].
    pub fn source(&self, setting: &str) -> SettingSource {
        if !self.explicit.contains(setting) {
            SettingSource::Default
        } else {
            match self.origin {
                ConfigOrigin::File => SettingSource::File,
                ConfigOrigin::Runtime => SettingSource::Runtime,
            }
        }
    }
}

/// A configuration as a [`ConfigurationRepository`](crate::ConfigurationRepository)
/// holds it: the settings, their version and where they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredConfiguration {
    /// The settings.
    pub config: CacheConfiguration,
    /// The version the repository gave this save (1 and up).
    pub version: ConfigVersion,
    /// Who set it.
    pub provenance: Provenance,
}
