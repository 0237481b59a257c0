//! [`StrataStoreProvider`]: opens the store for a cache configuration,
//! over the stock backends it is handed ([`ConnectedBackend`], in
//! `connected`) and plugins' providers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_domain::{
    BackendHealth, CacheConfiguration, CacheStore, Clock, DomainEvent, EventPublisher,
    EvictionPolicyKind, LeaseStore, ProvisionError, StoreProvider,
};

use crate::eviction::PolicyConfig;
use crate::tiering::{Invalidation, ReconfigureNotice};
use crate::{
    CircuitBreaker, CircuitBreakerConfig, CoherenceBus, Keyring, MemoryLeases, MokaStore,
    PolicyStore, RedisBuildStore, RedisBuildStoreBuilder, RedisConfigurationRepository,
    ResilientStore, S3AccessIndex, SystemClock, TieredStore, ValueCodec,
};
use connected::Backend;

mod connected;

pub use connected::{BackendSpec, ConnectedBackend};

/// A stock backend as this provider serves it: the connection and the
/// coherence bus on it (Redis kinds, when coherence is on).
struct Stock {
    connected: Arc<ConnectedBackend>,
    bus: Option<Arc<CoherenceBus>>,
}

/// A backend whose stores a plugin's [`StoreProvider`] opens.
struct PluginBackend {
    kind: String,
    provider: Arc<dyn StoreProvider>,
    breaker: Arc<CircuitBreaker>,
    timeout: Duration,
}

impl PluginBackend {
    /// Opens the plugin's store for `config`, behind this backend's
    /// timeout and breaker.
    async fn open(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        let store = self.provider.open(config).await?;
        Ok(Arc::new(
            ResilientStore::builder(store)
                .timeout(self.timeout)
                .breaker(self.breaker.clone())
                .build(),
        ))
    }
}

/// Who this instance is on the coherence channel, and which channel.
#[derive(Clone, Debug)]
struct Coherence {
    instance_id: String,
    channel: String,
    /// The backend whose bus serves every stacked cache; `None` means each
    /// cache uses its own L2's bus (Memcached has none).
    via: Option<String>,
}

/// Opens stores from the configured backends.
///
/// A cache's tiers may be:
/// - `["memory"]`: the in-process tier, on [`MokaStore`] for
///   `eviction = "tinylfu"` and on [`PolicyStore`] with the named policy for
///   every other `eviction` value;
/// - `["<backend>"]`: one shared backend behind its timeout and breaker;
/// - `["memory", "<backend>"]`: a [`TieredStore`], the memory tier over the
///   shared backend, kept coherent through the backend's [`CoherenceBus`]
///   when [`coherence`](Self::coherence) is on.
pub struct StrataStoreProvider {
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventPublisher>>,
    /// Stock backends, by name (see [`backend`](Self::backend)).
    backends: HashMap<String, Stock>,
    /// Backends a plugin's provider serves, by name (see
    /// [`plugin_backend`](Self::plugin_backend)).
    plugins: HashMap<String, PluginBackend>,
    coherence: Option<Coherence>,
    keyring: Arc<Keyring>,
}

impl StrataStoreProvider {
    /// A provider over the system clock, publishing no store events.
    pub fn new() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            events: None,
            backends: HashMap::new(),
            plugins: HashMap::new(),
            coherence: None,
            keyring: Arc::new(Keyring::default()),
        }
    }

    /// The encryption keys that caches name in `encryption_key_id`. Reads
    /// accept every key in the ring, so keys rotate by adding the new key,
    /// pointing caches at it, and removing the old one once its entries
    /// have expired or been rewritten.
    pub fn keyring(mut self, keyring: Arc<Keyring>) -> Self {
        self.keyring = keyring;
        self
    }

    /// Turns on L1 coherence: every Redis backend connected after this call
    /// gets a [`CoherenceBus`] on `channel`, with this instance's
    /// `instance_id`. Stacked caches publish their invalidations there and
    /// drop what other instances publish. `via` names the backend whose bus
    /// every stacked cache uses (needed for Memcached L2s); `None` uses
    /// each cache's own L2.
    pub fn coherence(
        mut self,
        instance_id: impl Into<String>,
        channel: impl Into<String>,
        via: Option<String>,
    ) -> Self {
        self.coherence = Some(Coherence {
            instance_id: instance_id.into(),
            channel: channel.into(),
            via,
        });
        self
    }

    /// Wraps `inner` so that configuration changes (creations, changes and
    /// deletions, except those applied from another instance) are also
    /// published as [`Invalidation::Reconfigure`] on every coherence bus:
    /// the other instances drop that cache's L1 and, with a shared
    /// configuration repository, reload its configuration. Publishing
    /// happens on a spawned task: [`EventPublisher::publish`] must not block.
    pub fn coherence_events(&self, inner: Arc<dyn EventPublisher>) -> Arc<dyn EventPublisher> {
        let mut buses: Vec<Arc<CoherenceBus>> = Vec::new();
        for bus in self.backends.values().filter_map(|b| b.bus.clone()) {
            if !buses.iter().any(|b| Arc::ptr_eq(b, &bus)) {
                buses.push(bus);
            }
        }
        if buses.is_empty() {
            return inner;
        }
        Arc::new(ReconfigurePublisher { inner, buses })
    }

    /// How many coherence buses the connected backends carry: one per
    /// Redis backend connected while [`coherence`](Self::coherence) is on.
    /// Zero means coherence has no bus, whatever `[coherence] enabled` says.
    pub fn coherence_buses(&self) -> usize {
        self.backends.values().filter(|b| b.bus.is_some()).count()
    }

    /// Console sessions ([`RedisSessions`](crate::RedisSessions)) on the
    /// connected Redis backend `name` (`[cluster] config_backend`), sharing
    /// its connection, with expiries read from `clock`.
    ///
    /// # Errors
    /// A message naming the problem: no backend `name` was connected, or
    /// it is not a standalone Redis.
    pub fn redis_sessions(
        &self,
        name: &str,
        clock: std::sync::Arc<dyn strata_domain::Clock>,
    ) -> Result<crate::RedisSessions, String> {
        let stock = self
            .backends
            .get(name)
            .ok_or_else(|| format!("no [backends.{name}]"))?;
        match stock.connected.backend() {
            Backend::Redis(c) => Ok(crate::RedisSessions::new(c, clock)),
            other => Err(format!(
                "[backends.{name}] is {}; shared console sessions need kind = \"redis\"",
                other.kind()
            )),
        }
    }

    /// A [`RedisConfigurationRepository`] on the connected backend `name`
    /// (`[cluster] config_backend`), sharing its connection, and the
    /// [`ReconfigureNotice`]s of its coherence bus (`None` when coherence
    /// is off).
    ///
    /// # Errors
    /// A message naming the problem: no backend `name` was connected, or
    /// it is not a standalone Redis.
    pub fn redis_configuration_repository(
        &self,
        name: &str,
    ) -> Result<
        (
            RedisConfigurationRepository,
            Option<tokio::sync::mpsc::UnboundedReceiver<ReconfigureNotice>>,
        ),
        String,
    > {
        let stock = self
            .backends
            .get(name)
            .ok_or_else(|| format!("no [backends.{name}]"))?;
        match stock.connected.backend() {
            Backend::Redis(c) => Ok((
                RedisConfigurationRepository::new(c),
                stock.bus.as_ref().map(|bus| bus.reconfigure_notices()),
            )),
            other => Err(format!(
                "[backends.{name}] is {}; the configuration repository needs kind = \"redis\"",
                other.kind()
            )),
        }
    }

    /// A [`RedisBuildStore`] builder on the connected backend `name`,
    /// sharing its connection (and this provider's clock), for the build
    /// cache's AC or small CAS blobs.
    ///
    /// # Errors
    /// A message naming the problem: no backend `name` was connected, or
    /// it is Memcached (the build cache needs Redis's scripts).
    pub fn redis_build_store(&self, name: &str) -> Result<RedisBuildStoreBuilder, String> {
        let stock = self
            .backends
            .get(name)
            .ok_or_else(|| format!("no [backends.{name}]"))?;
        let builder = match stock.connected.backend() {
            Backend::Redis(c) => RedisBuildStore::builder(c.clone()),
            Backend::RedisCluster(c) => RedisBuildStore::cluster_builder(c.clone()),
            Backend::Memcached(_) => {
                return Err(format!(
                    "[backends.{name}] is Memcached; the build cache needs redis or redis-cluster"
                ));
            }
        };
        Ok(builder.clock(self.clock.clone()))
    }

    /// The object tier's access index on the Redis backend `name`,
    /// covering `scope` (the bucket and prefix).
    ///
    /// # Errors
    /// No such backend, or one that is not Redis.
    pub fn s3_access_index(&self, name: &str, scope: &str) -> Result<S3AccessIndex, String> {
        let stock = self
            .backends
            .get(name)
            .ok_or_else(|| format!("no [backends.{name}]"))?;
        match stock.connected.backend() {
            Backend::Redis(c) => Ok(S3AccessIndex::new(c.clone(), scope)),
            Backend::RedisCluster(c) => Ok(S3AccessIndex::cluster(c.clone(), scope)),
            Backend::Memcached(_) => Err(format!(
                "[backends.{name}] is Memcached; the access index needs redis or redis-cluster"
            )),
        }
    }

    /// Connects the shared backend `name` that caches can list in `tiers`
    /// ([`ConnectedBackend::connect`]) and serves it as
    /// [`backend`](Self::backend) does.
    ///
    /// # Errors
    /// [`ProvisionError::Store`] when the backend or its coherence bus
    /// cannot be reached.
    pub async fn connect_backend(
        self,
        name: &str,
        spec: BackendSpec,
        timeout: Duration,
    ) -> Result<Self, ProvisionError> {
        let connected = ConnectedBackend::connect(name, spec, timeout).await?;
        self.stock_backend(name, Arc::new(connected)).await
    }

    /// Adds the backend `name` of `kind`, opened by its factory into
    /// `provider`, for caches to list in `tiers` alone or under the memory
    /// tier:
    /// - a [`ConnectedBackend`] (what the stock kinds' factories return)
    ///   is served as a stock backend: its stores get the cache's codec
    ///   (compression, and encryption with this provider's keyring), its
    ///   connection also serves sessions, the configuration repository,
    ///   leases and the build cache, and when
    ///   [`coherence`](Self::coherence) is on and it is a Redis kind, a
    ///   [`CoherenceBus`] is connected on it;
    /// - any other provider is a plugin's, served as
    ///   [`plugin_backend`](Self::plugin_backend) does, every call within
    ///   `timeout`.
    ///
    /// # Errors
    /// [`ProvisionError::Store`] when the coherence bus cannot connect.
    pub async fn backend(
        self,
        name: &str,
        kind: &str,
        provider: Arc<dyn StoreProvider>,
        timeout: Duration,
    ) -> Result<Self, ProvisionError> {
        // `StoreProvider: Any`: the provider's concrete type is known.
        let any: Arc<dyn std::any::Any + Send + Sync> = provider.clone();
        match any.downcast::<ConnectedBackend>() {
            Ok(connected) => self.stock_backend(name, connected).await,
            Err(_) => Ok(self.plugin_backend(name, kind, provider, timeout)),
        }
    }

    /// Serves `connected` as the stock backend `name`, with a coherence
    /// bus on it when coherence is on and it has pub/sub.
    async fn stock_backend(
        mut self,
        name: &str,
        connected: Arc<ConnectedBackend>,
    ) -> Result<Self, ProvisionError> {
        let bus = match (connected.bus_url(), &self.coherence) {
            (Some(url), Some(c)) => {
                Some(CoherenceBus::connect(url, &c.channel, &c.instance_id).await?)
            }
            _ => None,
        };
        self.backends
            .insert(name.to_owned(), Stock { connected, bus });
        Ok(self)
    }

    /// Adds the backend `name` of a plugin's `kind`, whose stores `provider`
    /// opens, for caches to list in `tiers` alone or under the memory
    /// tier. Every call has `timeout`, and one circuit breaker guards the
    /// backend's caches, as for the stock backends. Leases of caches whose
    /// last tier it is come from `provider.open_leases`.
    pub fn plugin_backend(
        mut self,
        name: &str,
        kind: &str,
        provider: Arc<dyn StoreProvider>,
        timeout: Duration,
    ) -> Self {
        self.plugins.insert(
            name.to_owned(),
            PluginBackend {
                kind: kind.to_owned(),
                provider,
                breaker: Arc::new(CircuitBreaker::new(CircuitBreakerConfig::default())),
                timeout,
            },
        );
        self
    }

    fn open_shared(
        &self,
        tier: &str,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        let Some(stock) = self.backends.get(tier) else {
            return Err(ProvisionError::UnknownTier(tier.to_owned()));
        };
        Ok(stock
            .connected
            .store(config.name().clone(), self.codec(config)?))
    }

    /// The codec for `config`'s shared-tier values: its compression and,
    /// when it names an `encryption_key_id`, AES-256-GCM with that key.
    fn codec(&self, config: &CacheConfiguration) -> Result<ValueCodec, ProvisionError> {
        let threshold = connected::compression_threshold(config);
        let encryption = config
            .encryption_key_id()
            .map(|kid| (kid.to_owned(), self.keyring.clone()));
        ValueCodec::new(threshold, encryption)
            .map_err(|e| ProvisionError::Unsupported(format!("encryption_key_id: {e}")))
    }

    fn open_tiered(
        &self,
        tier: &str,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        let l2 = self.open_shared(tier, config)?;
        let Some(stock) = self.backends.get(tier) else {
            return Err(ProvisionError::UnknownTier(tier.to_owned()));
        };
        self.stack(
            tier,
            l2,
            stock.connected.breaker().clone(),
            stock.bus.clone(),
            config,
        )
    }

    /// The memory tier over `l2`, the store of backend `tier` guarded by
    /// `breaker`, coherent through `[coherence] backend`'s bus when set,
    /// else through `own_bus`.
    fn stack(
        &self,
        tier: &str,
        l2: Arc<dyn CacheStore>,
        breaker: Arc<CircuitBreaker>,
        own_bus: Option<Arc<CoherenceBus>>,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        let l1 = self.open_memory(config)?;
        let bus = match self.coherence.as_ref().and_then(|c| c.via.as_deref()) {
            Some(via) => self.backends.get(via).and_then(|b| b.bus.clone()),
            None => own_bus,
        };
        let mut builder = TieredStore::builder(config.name().clone(), l1, l2)
            .tier_names(strata_domain::MEMORY_TIER, tier)
            .l1_max_ttl(config.l1_max_ttl().map(|t| t.as_duration()))
            .stale_if_error(config.stale().stale_if_error())
            .clock(self.clock.clone())
            .breaker(breaker);
        match bus {
            Some(bus) => builder = builder.bus(bus),
            None => tracing::warn!(
                cache = %config.name(),
                backend = tier,
                "stacked cache without a coherence bus: other instances' writes reach this \
                 instance's L1 only when l1_max_ttl expires"
            ),
        }
        Ok(Arc::new(builder.build()))
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
        match config.active_eviction() {
            EvictionPolicyKind::TinyLfu => {
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
                let policy = PolicyConfig::try_from(other)
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
            [shared] if let Some(plugin) = self.plugins.get(shared.as_str()) => {
                plugin.open(config).await
            }
            [memory, shared]
                if memory.is_memory() && self.plugins.contains_key(shared.as_str()) =>
            {
                let Some(plugin) = self.plugins.get(shared.as_str()) else {
                    return Err(ProvisionError::UnknownTier(shared.as_str().to_owned()));
                };
                let l2 = plugin.open(config).await?;
                self.stack(shared.as_str(), l2, plugin.breaker.clone(), None, config)
            }
            [memory] if memory.is_memory() => self.open_memory(config),
            [memory, shared] if memory.is_memory() => self.open_tiered(shared.as_str(), config),
            [shared] => self.open_shared(shared.as_str(), config),
            [_, ..] => Err(ProvisionError::Unsupported(
                "a cache can stack at most a memory tier over one shared backend".into(),
            )),
            [] => Err(ProvisionError::Unsupported("a cache needs a tier".into())),
        }
    }

    async fn open_leases(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Option<Arc<dyn LeaseStore>>, ProvisionError> {
        if config.stale().lease_ttl().is_none() {
            return Ok(None);
        }
        let Some(last) = config.tiers().last() else {
            return Ok(None);
        };
        if last.is_memory() {
            return Ok(Some(Arc::new(MemoryLeases::new(self.clock.clone()))));
        }
        if let Some(plugin) = self.plugins.get(last.as_str()) {
            return plugin.provider.open_leases(config).await;
        }
        let Some(stock) = self.backends.get(last.as_str()) else {
            return Err(ProvisionError::UnknownTier(last.as_str().to_owned()));
        };
        stock.connected.leases(last.as_str(), config).map(Some)
    }

    fn backends(&self) -> Vec<BackendHealth> {
        let mut out: Vec<BackendHealth> = self
            .backends
            .iter()
            .map(|(name, stock)| stock.connected.health(name))
            .collect();
        // A plugin backend: the breaker Strata keeps in front of it, then
        // whatever its provider reports of its own.
        for (name, plugin) in &self.plugins {
            let m = plugin.breaker.metrics();
            out.push(BackendHealth {
                name: name.clone(),
                kind: plugin.kind.clone(),
                circuit: m.state,
                failures: m.failures,
                rejected: m.rejected,
                opened: m.opened,
            });
            out.extend(plugin.provider.backends());
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// Forwards events to `inner` and publishes configuration changes on the
/// coherence buses.
struct ReconfigurePublisher {
    inner: Arc<dyn EventPublisher>,
    buses: Vec<Arc<CoherenceBus>>,
}

impl EventPublisher for ReconfigurePublisher {
    fn publish(&self, event: DomainEvent) {
        if let DomainEvent::ConfigurationChanged { cache, cause, .. } = &event
            && *cause != strata_domain::ChangeCause::Peer
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            for bus in &self.buses {
                let (bus, cache) = (bus.clone(), cache.clone());
                runtime.spawn(async move {
                    let _ = bus.publish(&cache, Invalidation::Reconfigure).await;
                });
            }
        }
        self.inner.publish(event);
    }
}
