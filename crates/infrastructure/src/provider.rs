//! [`StrataStoreProvider`]: opens the store for a cache configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_domain::{
    BackendHealth, CacheConfiguration, CacheStore, CircuitState, Clock, EventPublisher,
    EvictionPolicy, ProvisionError, StoreProvider,
};

use crate::eviction::PolicyConfig;
use crate::{
    BreakerState, CircuitBreaker, CircuitBreakerConfig, MemcachedConnection, MemcachedOptions, MemcachedStore,
    MokaStore, PolicyStore, RedisClusterConnection, RedisClusterStore, RedisConnection,
    RedisOptions, RedisStore, ResilientStore, SystemClock,
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

enum Backend {
    Redis(RedisConnection),
    RedisCluster(RedisClusterConnection),
    Memcached(MemcachedConnection),
}

impl Backend {
    fn kind(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::RedisCluster(_) => "redis-cluster",
            Self::Memcached(_) => "memcached",
        }
    }
}

struct ConnectedBackend {
    backend: Backend,
    breaker: Arc<CircuitBreaker>,
    timeout: Duration,
}

impl ConnectedBackend {
    /// Wraps a store of this backend in its timeout and shared breaker.
    fn guard<S: CacheStore>(&self, store: S) -> Arc<dyn CacheStore> {
        Arc::new(
            ResilientStore::builder(store)
                .timeout(self.timeout)
                .breaker(self.breaker.clone())
                .build(),
        )
    }
}

/// Opens stores from the configured backends.
///
/// Today a cache's tiers may be `["memory"]`: the in-process tier, on
/// [`MokaStore`] for `eviction = "tinylfu"` and on [`PolicyStore`] with the
/// named policy for every other `eviction` value.
pub struct StrataStoreProvider {
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventPublisher>>,
    backends: HashMap<String, ConnectedBackend>,
}

impl StrataStoreProvider {
    /// A provider over the system clock, publishing no store events.
    pub fn new() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            events: None,
            backends: HashMap::new(),
        }
    }

    /// Connects the shared backend `name` that caches can list in `tiers`.
    /// Every call to one backend has `timeout`; one circuit breaker per
    /// backend (default [`CircuitBreakerConfig`]) guards all its caches.
    ///
    /// # Errors
    /// [`ProvisionError::Store`] when the backend cannot be reached.
    pub async fn connect_backend(
        mut self,
        name: &str,
        spec: BackendSpec,
        timeout: Duration,
    ) -> Result<Self, ProvisionError> {
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
        self.backends.insert(
            name.to_owned(),
            ConnectedBackend {
                backend,
                breaker: Arc::new(CircuitBreaker::new(CircuitBreakerConfig::default())),
                timeout,
            },
        );
        Ok(self)
    }

    fn open_shared(
        &self,
        tier: &str,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        let Some(connected) = self.backends.get(tier) else {
            return Err(ProvisionError::UnknownTier(tier.to_owned()));
        };
        let name = config.name().clone();
        Ok(match &connected.backend {
            Backend::Redis(c) => connected.guard(RedisStore::builder(c.clone(), name).build()),
            Backend::RedisCluster(c) => {
                connected.guard(RedisClusterStore::builder(c.clone(), name).build())
            }
            Backend::Memcached(c) => {
                connected.guard(MemcachedStore::builder(c.clone(), name).build())
            }
        })
    }

    /// Publish eviction and expiry events to `events`.
    pub fn events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = Some(events);
        self
    }

    /// Measure TTLs against `clock`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn open_memory(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        match config.eviction() {
            EvictionPolicy::TinyLfu => {
                if config.max_entries().is_some() && config.max_bytes().is_some() {
                    return Err(ProvisionError::Unsupported(
                        "eviction \"tinylfu\" (moka) bounds a cache by max_entries or by max_bytes, not both".into(),
                    ));
                }
                let mut builder = MokaStore::builder(config.name().clone())
                    .max_entries(config.max_entries())
                    .max_bytes(config.max_bytes())
                    .clock(self.clock.clone());
                if let Some(events) = &self.events {
                    builder = builder.events(events.clone());
                }
                Ok(Arc::new(builder.build()))
            }
            other => {
                if config.max_entries().is_some() && config.max_bytes().is_some() {
                    return Err(ProvisionError::Unsupported(format!(
                        "eviction {:?} bounds a cache by max_entries or by max_bytes, not both",
                        other.as_str()
                    )));
                }
                let policy = PolicyConfig::parse(other.as_str())
                    .map_err(|e| ProvisionError::Unsupported(e.to_string()))?;
                let mut builder = PolicyStore::builder(config.name().clone())
                    .policy(policy)
                    .max_entries(config.max_entries())
                    .max_bytes(config.max_bytes())
                    .max_value_bytes(config.max_value_bytes())
                    .clock(self.clock.clone());
                if let Some(events) = &self.events {
                    builder = builder.events(events.clone());
                }
                Ok(Arc::new(builder.build()))
            }
        }
    }
}

impl Default for StrataStoreProvider {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl StoreProvider for StrataStoreProvider {
    async fn open(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        match config.tiers() {
            [memory] if memory.is_memory() => self.open_memory(config),
            [memory, ..] if memory.is_memory() => Err(ProvisionError::Unsupported(
                "stacked tiers (memory over a shared backend) are not available in this build"
                    .into(),
            )),
            [shared] => self.open_shared(shared.as_str(), config),
            [_, ..] => Err(ProvisionError::Unsupported(
                "a cache can stack at most a memory tier over one shared backend".into(),
            )),
            [] => Err(ProvisionError::Unsupported("a cache needs a tier".into())),
        }
    }

    fn backends(&self) -> Vec<BackendHealth> {
        let mut out: Vec<BackendHealth> = self
            .backends
            .iter()
            .map(|(name, connected)| {
                let m = connected.breaker.metrics();
                BackendHealth {
                    name: name.clone(),
                    kind: connected.backend.kind(),
                    circuit: match m.state {
                        BreakerState::Closed => CircuitState::Closed,
                        BreakerState::Open => CircuitState::Open,
                        BreakerState::HalfOpen => CircuitState::HalfOpen,
                    },
                    failures: m.failures,
                    rejected: m.rejected,
                    opened: m.opened,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}
