//! `[backends.<name>]`: the shared backends caches can name as tiers.
//! The connections are opened by the composition root.

use serde::{Deserialize, Serialize};

/// Per-call timeout of a shared backend that names none, in milliseconds.
pub const DEFAULT_BACKEND_TIMEOUT_MS: u64 = 500;

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
