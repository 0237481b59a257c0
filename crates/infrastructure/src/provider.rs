//! [`StrataStoreProvider`]: opens the store for a cache configuration.

use std::sync::Arc;

use async_trait::async_trait;
use strata_domain::{
    CacheConfiguration, CacheStore, Clock, EventPublisher, EvictionPolicy, ProvisionError,
    StoreProvider,
};

use crate::eviction::PolicyConfig;
use crate::{MokaStore, PolicyStore, SystemClock};

/// Opens stores from the configured backends.
///
/// Today a cache's tiers may be `["memory"]`: the in-process tier, on
/// [`MokaStore`] for `eviction = "tinylfu"` and on [`PolicyStore`] with the
/// named policy for every other `eviction` value.
pub struct StrataStoreProvider {
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventPublisher>>,
}

impl StrataStoreProvider {
    /// A provider over the system clock, publishing no store events.
    pub fn new() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            events: None,
        }
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
                "stacked tiers are not available in this build".into(),
            )),
            [other, ..] => Err(ProvisionError::UnknownTier(other.as_str().to_owned())),
            [] => Err(ProvisionError::Unsupported("a cache needs a tier".into())),
        }
    }
}
