use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_domain::{
    BackendHealth, CacheConfiguration, CacheName, Clock, ConfigurationRepository, EntryVersion,
    EventPublisher, ProvisionError, RepositoryError, StoreProvider,
};

use crate::CacheRegistry;
use crate::commands::{
    configure_cache, delete_cache, delete_entry, flush_cache, invalidate_entries, put_entries,
    put_entry,
};
use crate::queries::{get_cache_stats, get_configuration, get_entries, get_entry, list_caches};
use crate::registry::{CacheCounters, LiveCache};

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
}

/// State shared by every handler.
pub(crate) struct Context {
    pub(crate) registry: CacheRegistry,
    pub(crate) repository: Arc<dyn ConfigurationRepository>,
    pub(crate) provider: Arc<dyn StoreProvider>,
    pub(crate) events: Arc<dyn EventPublisher>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) flights: crate::cache_aside::Flights,
    versions: AtomicU64,
}

impl Context {
    /// A fresh entry version: unique within the process, and increasing
    /// across restarts because it is seeded from the clock (milliseconds
    /// times 1024).
    pub(crate) fn next_version(&self) -> EntryVersion {
        EntryVersion::new(self.versions.fetch_add(1, Ordering::Relaxed))
    }
}

/// The facade over every command and query. Cheap to clone.
///
/// Build it with [`CacheService::new`], then call [`CacheService::bootstrap`]
/// once to open the caches the repository holds.
#[derive(Clone)]
pub struct CacheService {
    ctx: Arc<Context>,
}

impl CacheService {
    /// A service over `deps`, with no cache open yet.
    pub fn new(deps: Dependencies) -> Self {
        let seed = deps.clock.now().as_millis().saturating_mul(1024);
        Self {
            ctx: Arc::new(Context {
                registry: CacheRegistry::default(),
                repository: deps.repository,
                provider: deps.provider,
                events: deps.events,
                clock: deps.clock,
                flights: Default::default(),
                versions: AtomicU64::new(seed),
            }),
        }
    }

    /// Opens a store for every configuration in the repository.
    ///
    /// # Errors
    /// The first cache that cannot be opened, with its name.
    pub async fn bootstrap(&self) -> Result<(), BootstrapError> {
        let configs = self.ctx.repository.list().await?;
        for config in configs {
            let store = self.ctx.provider.open(&config).await.map_err(|source| {
                BootstrapError::Provision {
                    cache: config.name().clone(),
                    source,
                }
            })?;
            self.ctx.registry.replace(LiveCache::new(
                config,
                store,
                Arc::new(CacheCounters::default()),
            ));
        }
        Ok(())
    }

    pub(crate) fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// The open caches.
    pub fn registry(&self) -> &CacheRegistry {
        &self.ctx.registry
    }

    /// See [`put_entry`].
    ///
    /// # Errors
    /// [`put_entry::PutEntryError`].
    pub async fn put(
        &self,
        cmd: put_entry::PutEntry,
    ) -> Result<put_entry::PutEntryOutput, put_entry::PutEntryError> {
        put_entry::handle(&self.ctx, cmd).await
    }

    /// See [`put_entries`].
    ///
    /// # Errors
    /// [`put_entries::PutEntriesError`].
    pub async fn put_many(
        &self,
        cmd: put_entries::PutEntries,
    ) -> Result<put_entries::PutEntriesOutput, put_entries::PutEntriesError> {
        put_entries::handle(&self.ctx, cmd).await
    }

    /// See [`delete_entry`].
    ///
    /// # Errors
    /// [`delete_entry::DeleteEntryError`].
    pub async fn delete(
        &self,
        cmd: delete_entry::DeleteEntry,
    ) -> Result<bool, delete_entry::DeleteEntryError> {
        delete_entry::handle(&self.ctx, cmd).await
    }

    /// See [`invalidate_entries`].
    ///
    /// # Errors
    /// [`invalidate_entries::InvalidateEntriesError`].
    pub async fn invalidate(
        &self,
        cmd: invalidate_entries::InvalidateEntries,
    ) -> Result<u64, invalidate_entries::InvalidateEntriesError> {
        invalidate_entries::handle(&self.ctx, cmd).await
    }

    /// See [`flush_cache`].
    ///
    /// # Errors
    /// [`flush_cache::FlushCacheError`].
    pub async fn flush(
        &self,
        cmd: flush_cache::FlushCache,
    ) -> Result<(), flush_cache::FlushCacheError> {
        flush_cache::handle(&self.ctx, cmd).await
    }

    /// See [`configure_cache`].
    ///
    /// # Errors
    /// [`configure_cache::ConfigureCacheError`].
    pub async fn configure(
        &self,
        cmd: configure_cache::ConfigureCache,
    ) -> Result<configure_cache::ConfigureCacheOutput, configure_cache::ConfigureCacheError> {
        configure_cache::handle(&self.ctx, cmd).await
    }

    /// See [`delete_cache`].
    ///
    /// # Errors
    /// [`delete_cache::DeleteCacheError`].
    pub async fn delete_cache(
        &self,
        cmd: delete_cache::DeleteCache,
    ) -> Result<(), delete_cache::DeleteCacheError> {
        delete_cache::handle(&self.ctx, cmd).await
    }

    /// See [`get_entry`].
    ///
    /// # Errors
    /// [`get_entry::GetEntryError`].
    pub async fn get(
        &self,
        query: get_entry::GetEntry,
    ) -> Result<Option<strata_domain::Lookup>, get_entry::GetEntryError> {
        get_entry::handle(&self.ctx, query).await
    }

    /// See [`get_entries`].
    ///
    /// # Errors
    /// [`get_entries::GetEntriesError`].
    pub async fn get_many(
        &self,
        query: get_entries::GetEntries,
    ) -> Result<get_entries::GetEntriesOutput, get_entries::GetEntriesError> {
        get_entries::handle(&self.ctx, query).await
    }

    /// See [`get_cache_stats`].
    ///
    /// # Errors
    /// [`get_cache_stats::GetCacheStatsError`].
    pub async fn stats(
        &self,
        query: get_cache_stats::GetCacheStats,
    ) -> Result<get_cache_stats::CacheStats, get_cache_stats::GetCacheStatsError> {
        get_cache_stats::handle(&self.ctx, query).await
    }

    /// See [`list_caches`].
    ///
    /// # Errors
    /// [`list_caches::ListCachesError`].
    pub async fn list(
        &self,
        query: list_caches::ListCaches,
    ) -> Result<Vec<list_caches::CacheSummary>, list_caches::ListCachesError> {
        list_caches::handle(&self.ctx, query).await
    }

    /// See [`get_configuration`].
    ///
    /// # Errors
    /// [`get_configuration::GetConfigurationError`].
    pub async fn configuration(
        &self,
        query: get_configuration::GetConfiguration,
    ) -> Result<CacheConfiguration, get_configuration::GetConfigurationError> {
        get_configuration::handle(&self.ctx, query).await
    }

    /// The shared backends and their circuit breakers' state, sorted by name.
    pub fn backends(&self) -> Vec<BackendHealth> {
        self.ctx.provider.backends()
    }

    /// Readiness: every open cache's store answers `ping`. Returns the
    /// caches whose store does not, with the error text.
    pub async fn unready_caches(&self) -> Vec<(CacheName, String)> {
        let mut failed = Vec::new();
        for cache in self.ctx.registry.all() {
            if let Err(e) = cache.store().ping().await {
                failed.push((cache.config().name().clone(), e.to_string()));
            }
        }
        failed
    }
}

/// Why [`CacheService::bootstrap`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The repository could not be read.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// A configured cache could not be opened.
    #[error("cache {cache}: {source}")]
    Provision {
        /// The cache.
        cache: CacheName,
        /// Why.
        source: ProvisionError,
    },
}
