//! `[backends.<name>]`: the shared backends caches can name as tiers.
//! The connections are opened by the composition root.
//!
//! `kind` says which: `redis`, `redis-cluster` and `memcached` are built
//! in and checked here, when the file is read; any other kind is a
//! plugin's (registered with `Application::builder(..).backend(kind,
//! factory)`), whose table is kept whole for its factory to validate when
//! the server starts. Every kind, stock or plugin, is then opened by its
//! factory in the backend registry, which gets [`BackendSettings::table`].

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

    /// The table its kind's factory gets: as written, without `kind`
    /// and `timeout_ms` (see `BackendArgs::table`).
    pub fn table(&self) -> toml::Table {
        let strings = |items: &[String]| {
            toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
        };
        let mut table = match self {
            Self::Redis { url, .. } => {
                toml::Table::from_iter([("url".to_owned(), toml::Value::String(url.clone()))])
            }
            Self::RedisCluster { urls, .. } => {
                toml::Table::from_iter([("urls".to_owned(), strings(urls))])
            }
            Self::Memcached { servers, .. } => {
                toml::Table::from_iter([("servers".to_owned(), strings(servers))])
            }
            Self::Plugin { table, .. } => table.clone(),
        };
        table.remove("kind");
        table.remove("timeout_ms");
        table
    }
}
