//! `[backends.<name>]`: the shared backends caches can name as tiers.
//! The connections are opened by the composition root.
//!
//! `kind` says which: `redis`, `redis-cluster` and `memcached` are built
//! in and checked here; any other kind is a plugin's (registered with
//! `Application::builder(..).backend(kind, factory)`), whose table is kept
//! whole for its factory to validate when the server starts.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Per-call timeout of a shared backend that names none, in milliseconds.
pub const DEFAULT_BACKEND_TIMEOUT_MS: u64 = 500;

/// `[backends.<name>]`: a shared backend.
#[derive(Clone, Debug)]
pub enum BackendSettings {
    /// A standalone Redis server.
    Redis {
        /// `redis://host:port/db` (credentials in the URL are never logged).
        url: String,
        /// Per-call timeout in milliseconds.
        timeout_ms: Option<u64>,
    },
    /// A Redis Cluster.
    RedisCluster {
        /// Seed node URLs.
        urls: Vec<String>,
        /// Per-call timeout in milliseconds.
        timeout_ms: Option<u64>,
    },
    /// One or more Memcached servers, hashed client-side.
    Memcached {
        /// `host:port` of each server.
        servers: Vec<String>,
        /// Per-call timeout in milliseconds.
        timeout_ms: Option<u64>,
    },
    /// A kind a plugin registers: its whole table, `kind` and
    /// `timeout_ms` included (Strata reads those two; the factory gets the
    /// rest).
    Plugin {
        /// The registered kind, e.g. `files`.
        kind: String,
        /// The `[backends.<name>]` table as written.
        table: toml::Table,
    },
}

/// The built-in kinds, as serde reads them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum Stock {
    Redis {
        url: String,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    RedisCluster {
        urls: Vec<String>,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    Memcached {
        servers: Vec<String>,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
}

/// The kinds this module checks itself.
pub const STOCK_KINDS: [&str; 3] = ["memcached", "redis", "redis-cluster"];

impl<'de> Deserialize<'de> for BackendSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(deserializer)?;
        let kind = match table.get("kind") {
            Some(toml::Value::String(kind)) => kind.clone(),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "kind must be a string, not {}",
                    other.type_str()
                )));
            }
            None => return Err(D::Error::missing_field("kind")),
        };
        if !STOCK_KINDS.contains(&kind.as_str()) {
            return Ok(Self::Plugin { kind, table });
        }
        let stock: Stock = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| D::Error::custom(e.message()))?;
        Ok(match stock {
            Stock::Redis { url, timeout_ms } => Self::Redis { url, timeout_ms },
            Stock::RedisCluster { urls, timeout_ms } => Self::RedisCluster { urls, timeout_ms },
            Stock::Memcached {
                servers,
                timeout_ms,
            } => Self::Memcached {
                servers,
                timeout_ms,
            },
        })
    }
}

impl Serialize for BackendSettings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stock = match self.clone() {
            Self::Redis { url, timeout_ms } => Stock::Redis { url, timeout_ms },
            Self::RedisCluster { urls, timeout_ms } => Stock::RedisCluster { urls, timeout_ms },
            Self::Memcached {
                servers,
                timeout_ms,
            } => Stock::Memcached {
                servers,
                timeout_ms,
            },
            Self::Plugin { table, .. } => return table.serialize(serializer),
        };
        stock.serialize(serializer)
    }
}

impl BackendSettings {
    /// The backend's kind as configured.
    pub fn kind(&self) -> &str {
        match self {
            Self::Redis { .. } => "redis",
            Self::RedisCluster { .. } => "redis-cluster",
            Self::Memcached { .. } => "memcached",
            Self::Plugin { kind, .. } => kind,
        }
    }

    /// The per-call timeout in milliseconds, if the table sets one.
    pub fn timeout_ms(&self) -> Option<u64> {
        match self {
            Self::Redis { timeout_ms, .. }
            | Self::RedisCluster { timeout_ms, .. }
            | Self::Memcached { timeout_ms, .. } => *timeout_ms,
            Self::Plugin { table, .. } => table
                .get("timeout_ms")
                .and_then(toml::Value::as_integer)
                .and_then(|ms| u64::try_from(ms).ok()),
        }
    }

    /// The infrastructure's description of a built-in backend, and its
    /// timeout in ms; `None` for a plugin's.
    pub fn spec(&self) -> Option<(strata_infrastructure::BackendSpec, Option<u64>)> {
        use strata_infrastructure::BackendSpec;
        Some(match self {
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
            Self::Plugin { .. } => return None,
        })
    }
}
