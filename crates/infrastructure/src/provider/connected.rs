//! [`ConnectedBackend`]: one stock shared backend (Redis, Redis Cluster
//! or Memcached), connected, behind its per-call timeout and circuit
//! breaker. It is what the stock kinds' backend factories return (the
//! server's backend registry opens Redis and Memcached as it opens a
//! plugin), and what [`StrataStoreProvider`](crate::StrataStoreProvider)
//! recognises and serves, sharing the connection with sessions,
//! configuration sync, leases and the build cache.
//!
//! Knows one backend: not tiers, coherence, the keyring or other
//! backends (the provider's).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_domain::{
    BackendHealth, CacheConfiguration, CacheName, CacheStore, Compression, LeaseStore,
    ProvisionError, StoreProvider,
};

use crate::{
    CircuitBreaker, CircuitBreakerConfig, MemcachedConnection, MemcachedOptions, MemcachedStore,
    RedisClusterConnection, RedisClusterStore, RedisConnection, RedisLeases, RedisOptions,
    RedisStore, ResilientStore, ValueCodec,
};

/// Where a shared backend lives.
#[derive(Clone, Debug)]
pub enum BackendSpec {
    /// A standalone Redis server, `redis://host:port/db`.
    Redis {
        /// The server's URL.
        url: String,
    },
    /// A Redis Cluster, by seed node URLs.
    RedisCluster {
        /// Seed node URLs.
        urls: Vec<String>,
    },
    /// Memcached servers (`host:port`), hashed client-side.
    Memcached {
        /// The servers.
        servers: Vec<String>,
    },
}

/// The connection of one stock backend.
pub(crate) enum Backend {
    Redis(RedisConnection),
    RedisCluster(RedisClusterConnection),
    Memcached(MemcachedConnection),
}

impl Backend {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::RedisCluster(_) => "redis-cluster",
            Self::Memcached(_) => "memcached",
        }
    }

    /// An unguarded store on this backend for the breaker's background
    /// pings (`PING`, or Memcached's `version`): its cache name only
    /// namespaces keys it never touches.
    fn probe_store(&self) -> Arc<dyn CacheStore> {
        let name = CacheName::parse("strata-probe")
            .unwrap_or_else(|_| unreachable!("a constant valid cache name"));
        match self {
            Self::Redis(c) => Arc::new(RedisStore::builder(c.clone(), name).build()),
            Self::RedisCluster(c) => Arc::new(RedisClusterStore::builder(c.clone(), name).build()),
            Self::Memcached(c) => Arc::new(MemcachedStore::builder(c.clone(), name).build()),
        }
    }
}

/// A connected Redis, Redis Cluster or Memcached backend: the stores of
/// its caches, their leases (Redis kinds), and one circuit breaker and
/// per-call timeout guarding them all.
///
/// As a [`StoreProvider`] on its own, it opens every cache on this
/// backend with the cache's compression; it refuses `encryption_key_id`
/// (the keys are the [`StrataStoreProvider`](crate::StrataStoreProvider)'s,
/// which serves a `ConnectedBackend` it is handed as a stock backend,
/// encryption and coherence included).
pub struct ConnectedBackend {
    name: String,
    backend: Backend,
    breaker: Arc<CircuitBreaker>,
    timeout: Duration,
    /// Where a coherence bus on this backend connects: the Redis URL (the
    /// first seed of a cluster); `None` for Memcached, which has no
    /// pub/sub.
    bus_url: Option<String>,
}

impl ConnectedBackend {
    /// Connects the backend `name` (`[backends.<name>]`) described by
    /// `spec`. Every call has `timeout` (also the driver's response
    /// timeout); one circuit breaker (default [`CircuitBreakerConfig`])
    /// guards every cache on it, and while it is open a background ping
    /// closes it as soon as the backend answers.
    ///
    /// # Errors
    /// [`ProvisionError::Store`] when the backend cannot be reached.
    pub async fn connect(
        name: &str,
        spec: BackendSpec,
        timeout: Duration,
    ) -> Result<Self, ProvisionError> {
        let bus_url = match &spec {
            BackendSpec::Redis { url } => Some(url.clone()),
            BackendSpec::RedisCluster { urls } => urls.first().cloned(),
            BackendSpec::Memcached { .. } => None,
        };
        let backend = match spec {
            BackendSpec::Redis { url } => {
                let options = RedisOptions {
                    response_timeout: timeout,
                    ..RedisOptions::default()
                };
                Backend::Redis(RedisConnection::connect(&url, options).await?)
            }
            BackendSpec::RedisCluster { urls } => {
                let options = RedisOptions {
                    response_timeout: timeout,
                    ..RedisOptions::default()
                };
                Backend::RedisCluster(RedisClusterConnection::connect(&urls, options).await?)
            }
            BackendSpec::Memcached { servers } => {
                let urls: Vec<String> = servers
                    .iter()
                    .map(|s| {
                        if s.starts_with("memcache://") {
                            s.clone()
                        } else {
                            format!("memcache://{s}")
                        }
                    })
                    .collect();
                let options = MemcachedOptions {
                    timeout,
                    ..MemcachedOptions::default()
                };
                Backend::Memcached(MemcachedConnection::connect(&urls, options).await?)
            }
        };
        let breaker = Arc::new(CircuitBreaker::new(CircuitBreakerConfig::default()));
        // The task ends with the breaker.
        crate::resilience::spawn_prober(
            &breaker,
            backend.probe_store(),
            crate::resilience::DEFAULT_PROBE_INTERVAL,
            timeout,
        );
        Ok(Self {
            name: name.to_owned(),
            backend,
            breaker,
            timeout,
            bus_url,
        })
    }

    /// The backend's name, as connected.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its kind: `redis`, `redis-cluster` or `memcached`.
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    pub(crate) fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    pub(crate) fn bus_url(&self) -> Option<&str> {
        self.bus_url.as_deref()
    }

    /// The store of cache `name` on this backend, with `codec`, behind
    /// the timeout and the shared breaker.
    pub(crate) fn store(&self, name: CacheName, codec: ValueCodec) -> Arc<dyn CacheStore> {
        match &self.backend {
            Backend::Redis(c) => {
                self.guard(RedisStore::builder(c.clone(), name).codec(codec).build())
            }
            Backend::RedisCluster(c) => self.guard(
                RedisClusterStore::builder(c.clone(), name)
                    .codec(codec)
                    .build(),
            ),
            Backend::Memcached(c) => self.guard(
                MemcachedStore::builder(c.clone(), name)
                    .codec(codec)
                    .build(),
            ),
        }
    }

    fn guard<S: CacheStore>(&self, store: S) -> Arc<dyn CacheStore> {
        Arc::new(
            ResilientStore::builder(store)
                .timeout(self.timeout)
                .breaker(self.breaker.clone())
                .build(),
        )
    }

    /// The leases of `config` on this backend, which is its tier `tier`.
    ///
    /// # Errors
    /// [`ProvisionError::Unsupported`] on Memcached, which cannot hold
    /// them.
    pub(crate) fn leases(
        &self,
        tier: &str,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn LeaseStore>, ProvisionError> {
        let name = config.name();
        Ok(match &self.backend {
            Backend::Redis(c) => Arc::new(RedisLeases::new(c.clone().into(), "redis", name)),
            Backend::RedisCluster(c) => {
                Arc::new(RedisLeases::new(c.clone().into(), "redis-cluster", name))
            }
            Backend::Memcached(_) => {
                return Err(ProvisionError::Unsupported(format!(
                    "lease_ttl: leases live where the entries live, and tier {tier:?} is \
                     memcached, which cannot hold them; use the memory tier or Redis as the last \
                     tier, or set lease_ttl = 0"
                )));
            }
        })
    }

    /// Its breaker's health, reported under `name`.
    pub(crate) fn health(&self, name: &str) -> BackendHealth {
        let m = self.breaker.metrics();
        BackendHealth {
            name: name.to_owned(),
            kind: self.kind().to_owned(),
            circuit: m.state,
            failures: m.failures,
            rejected: m.rejected,
            opened: m.opened,
        }
    }
}

/// `config`'s zstd threshold in bytes, `None` without compression.
pub(crate) fn compression_threshold(config: &CacheConfiguration) -> Option<usize> {
    match config.compression() {
        Compression::None => None,
        Compression::Zstd { threshold_bytes } => {
            Some(usize::try_from(threshold_bytes).unwrap_or(usize::MAX))
        }
    }
}

#[async_trait]
impl StoreProvider for ConnectedBackend {
    async fn open(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        if config.encryption_key_id().is_some() {
            return Err(ProvisionError::Unsupported(
                "encryption_key_id: a backend opened on its own has no keyring".into(),
            ));
        }
        let codec = ValueCodec::new(compression_threshold(config), None)
            .map_err(|e| ProvisionError::Unsupported(format!("compression: {e}")))?;
        Ok(self.store(config.name().clone(), codec))
    }

    async fn open_leases(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Option<Arc<dyn LeaseStore>>, ProvisionError> {
        if config.stale().lease_ttl().is_none() {
            return Ok(None);
        }
        self.leases(&self.name, config).map(Some)
    }

    fn backends(&self) -> Vec<BackendHealth> {
        vec![self.health(&self.name)]
    }
}
