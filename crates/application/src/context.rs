//! [`Context`]: the state every command and query handler shares, and the
//! [`Dependencies`] it is built from.
//!
//! It sits below the handlers: commands and queries import it, and it
//! imports none of them (nor the [`CacheService`](crate::CacheService)
//! facade that calls them).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_domain::{
    AnalyzerProvider, Clock, ConfigurationRepository, EntryVersion, EventPublisher, Scheduler,
    StoreProvider,
};

use crate::registry::CacheRegistry;

/// The ports the application needs, wired by the composition root.
pub struct Dependencies {
    /// Where configurations live.
    pub repository: Arc<dyn ConfigurationRepository>,
    /// Opens the store for a configuration.
    pub provider: Arc<dyn StoreProvider>,
    /// Where domain events go.
    pub events: Arc<dyn EventPublisher>,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Timers and background tasks: loader timeouts and background
    /// refreshes of [`CacheService::get_with_options`](crate::CacheService::get_with_options).
    pub scheduler: Arc<dyn Scheduler>,
    /// Opens each cache's miss-ratio-curve analyzer; `None` analyses
    /// nothing (no curves, no `eviction = "auto"` switching).
    pub analyzers: Option<Arc<dyn AnalyzerProvider>>,
    /// Measures how well values compress, for the usage report's
    /// compression recommendation; `None` probes nothing.
    pub compression_probe: Option<Arc<dyn strata_domain::CompressionProbe>>,
}

/// State shared by every handler.
pub(crate) struct Context {
    pub(crate) registry: CacheRegistry,
    pub(crate) repository: Arc<dyn ConfigurationRepository>,
    pub(crate) provider: Arc<dyn StoreProvider>,
    pub(crate) events: Arc<dyn EventPublisher>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) analyzers: Option<Arc<dyn AnalyzerProvider>>,
    pub(crate) compression_probe: Option<Arc<dyn strata_domain::CompressionProbe>>,
    pub(crate) tuners: crate::tuners::Tuners,
    /// Every cache's and build-cache store's trends.
    pub(crate) trends: crate::trends::Trends,
    /// The alert engine (shared with the build cache, whose flushes it
    /// watches).
    pub(crate) alerts: Arc<crate::alerts::Alerts>,
    /// Serialises configuration changes (admin, auto, peers, seeding).
    pub(crate) config_lock: futures_util::lock::Mutex<()>,
    versions: AtomicU64,
}

impl Context {
    /// A context over `deps`, with no cache open yet. Entry versions are
    /// seeded from the clock (milliseconds times 1024).
    pub(crate) fn new(deps: Dependencies) -> Self {
        let seed = deps.clock.now().as_millis().saturating_mul(1024);
        Self {
            registry: CacheRegistry::default(),
            repository: deps.repository,
            provider: deps.provider,
            events: deps.events,
            clock: deps.clock,
            scheduler: deps.scheduler,
            analyzers: deps.analyzers,
            compression_probe: deps.compression_probe,
            tuners: Default::default(),
            trends: Default::default(),
            alerts: Default::default(),
            config_lock: futures_util::lock::Mutex::new(()),
            versions: AtomicU64::new(seed),
        }
    }

    /// A fresh entry version: unique within the process, and increasing
    /// across restarts because it is seeded from the clock.
    pub(crate) fn next_version(&self) -> EntryVersion {
        EntryVersion::new(self.versions.fetch_add(1, Ordering::Relaxed))
    }
}
