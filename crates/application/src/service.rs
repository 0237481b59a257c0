//! [`CacheService`]: the facade over every command and query.

use std::future::Future;
use std::sync::Arc;

use strata_domain::{
    BackendHealth, CacheConfiguration, CacheEntry, CacheKey, CacheName, CacheValue,
    InvalidationCount, ProvisionError, RepositoryError, Ttl,
};

use crate::cache_aside::{self, Aside, Fetched, GetWithError, GetWithOptions};
use crate::commands::{
    auto_tune, configure_cache, delete_cache, delete_entry, flush_cache, import_entries,
    invalidate_entries, put_entries, put_entry, sync_configuration,
};
use crate::context::{Context, Dependencies};
use crate::queries::{
    export_entries, get_cache_stats, get_configuration, get_entries, get_entry,
    get_miss_ratio_curves, get_trends, get_usage_report, list_caches, list_keys,
};
use crate::registry::{CacheCounters, CacheRegistry, LiveCache};

/// The facade over every command and query. Cheap to clone.
///
/// Build it with [`CacheService::new`], then call [`CacheService::bootstrap`]
/// once to open the caches the repository holds.
#[derive(Clone)]
pub struct CacheService {
    ctx: Arc<Context>,
    aside: Arc<Aside>,
}

impl CacheService {
    /// A service over `deps`, with no cache open yet.
    pub fn new(deps: Dependencies) -> Self {
        Self {
            ctx: Arc::new(Context::new(deps)),
            aside: Arc::default(),
        }
    }

    /// Opens a store for every configuration in the repository.
    ///
    /// # Errors
    /// The first cache that cannot be opened, with its name.
    pub async fn bootstrap(&self) -> Result<(), BootstrapError> {
        let configs = self.ctx.repository.list().await?;
        for stored in configs {
            let config = stored.config;
            let provision = |source| BootstrapError::Provision {
                cache: config.name().clone(),
                source,
            };
            let store = self.ctx.provider.open(&config).await.map_err(provision)?;
            let leases = self
                .ctx
                .provider
                .open_leases(&config)
                .await
                .map_err(provision)?;
            let analyzer = self
                .ctx
                .analyzers
                .as_ref()
                .and_then(|provider| provider.open(&config));
            self.ctx.registry.replace(
                LiveCache::new(config, store, Arc::new(CacheCounters::default()))
                    .leased(leases)
                    .analyzed(analyzer)
                    .stored(stored.version, stored.provenance),
            );
        }
        Ok(())
    }

    /// The open caches.
    pub fn registry(&self) -> &CacheRegistry {
        &self.ctx.registry
    }

    /// Every cache's and build-cache store's trends (`[analytics]`).
    pub fn trends(&self) -> &crate::Trends {
        &self.ctx.trends
    }

    /// The alert engine: rules, alerts, silences (`[alerts]`).
    pub fn alerts(&self) -> &std::sync::Arc<crate::Alerts> {
        &self.ctx.alerts
    }

    /// See [`evaluate_alerts`](crate::commands::evaluate_alerts): judges
    /// every rule on the newest trend points (call it after
    /// [`sample_trends`](Self::sample_trends)); audits each state change in
    /// `audit` and notifies fired and resolved alerts. Returns the
    /// changes.
    pub async fn evaluate_alerts(
        &self,
        audit: Option<&dyn strata_domain::AuditLog>,
    ) -> Vec<crate::AlertChange> {
        crate::commands::evaluate_alerts::handle(&self.ctx, audit).await
    }

    /// Samples the trends when the clock entered a new 10-s window since
    /// the last sample (else does nothing, cheaply): every cache's
    /// counters and store stats, and with `build_cache`, each of its
    /// stores' counters. Returns the points added. The composition root
    /// calls it often (every `[analytics] sample_interval_ms`), off the
    /// request path; a cache whose store cannot report is skipped.
    pub async fn sample_trends(&self, build_cache: Option<&crate::BuildCacheService>) -> usize {
        let now_ms = self.ctx.clock.now().as_millis();
        if !self.ctx.trends.due(now_ms) {
            return 0;
        }
        let caches = self.ctx.registry.all();
        let mut readings = Vec::with_capacity(caches.len());
        for cache in &caches {
            match get_cache_stats::stats_of(cache).await {
                Ok(stats) => readings.push((
                    strata_domain::TrendSource::Cache(cache.config().name().as_str().to_owned()),
                    strata_domain::TrendReading {
                        totals: cache
                            .counters()
                            .trend_totals(stats.store.evictions_capacity, stats.store.expirations),
                        entries: stats.store.entries,
                        bytes: stats.store.bytes,
                    },
                )),
                Err(e) => {
                    tracing::debug!(cache = %cache.config().name(), error = %e, "no trend sample")
                }
            }
        }
        if let Some(build_cache) = build_cache {
            readings.extend(build_cache.trend_readings().await);
        }
        self.ctx
            .trends
            .retain_caches(|name| caches.iter().any(|c| c.config().name().as_str() == name));
        self.ctx.trends.record(now_ms, readings)
    }

    /// See [`get_usage_report`].
    ///
    /// # Errors
    /// [`get_usage_report::GetUsageReportError`].
    pub fn usage_report(
        &self,
        q: get_usage_report::GetUsageReport,
    ) -> Result<get_usage_report::UsageReport, get_usage_report::GetUsageReportError> {
        get_usage_report::handle(&self.ctx, q)
    }

    /// See [`get_trends`].
    ///
    /// # Errors
    /// [`get_trends::GetTrendsError`].
    pub fn get_trends(
        &self,
        q: get_trends::GetTrends,
    ) -> Result<get_trends::TrendsView, get_trends::GetTrendsError> {
        get_trends::handle(&self.ctx, q)
    }

    /// A [`put`](Self::put)'s precondition, before its value is read:
    /// `principal` may write `cache`; returns the cache's `max_value_bytes`.
    ///
    /// # Errors
    /// [`AccessError`](crate::AccessError): no such cache, or no writer
    /// grant.
    pub fn admit_put(
        &self,
        principal: &strata_domain::Principal,
        cache: &strata_domain::CacheName,
    ) -> Result<u64, crate::AccessError> {
        put_entry::admit(&self.ctx, principal, cache)
    }

    /// See [`put_entry`].
    ///
    /// # Errors
    /// [`put_entry::PutEntryError`].
    pub async fn put(
        &self,
        cmd: put_entry::PutEntry,
    ) -> Result<put_entry::PutEntryOutput, put_entry::PutEntryError> {
        self.aside.forget(&cmd.cache, &cmd.key);
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
        self.aside.forget_cache(&cmd.cache);
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
        self.aside.forget(&cmd.cache, &cmd.key);
        delete_entry::handle(&self.ctx, cmd).await
    }

    /// See [`list_keys`].
    ///
    /// # Errors
    /// [`list_keys::ListKeysError`].
    pub async fn list_keys(
        &self,
        query: list_keys::ListKeys,
    ) -> Result<list_keys::KeysPage, list_keys::ListKeysError> {
        list_keys::handle(&self.ctx, query).await
    }

    /// See [`invalidate_entries`].
    ///
    /// # Errors
    /// [`invalidate_entries::InvalidateEntriesError`].
    pub async fn invalidate(
        &self,
        cmd: invalidate_entries::InvalidateEntries,
    ) -> Result<InvalidationCount, invalidate_entries::InvalidateEntriesError> {
        self.aside.forget_cache(&cmd.cache);
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
        self.aside.forget_cache(&cmd.cache);
        flush_cache::handle(&self.ctx, cmd).await
    }

    /// See [`import_entries`].
    ///
    /// # Errors
    /// [`import_entries::ImportEntriesError`].
    pub async fn import(
        &self,
        cmd: import_entries::ImportEntries,
    ) -> Result<import_entries::ImportOutput, import_entries::ImportEntriesError> {
        self.aside.forget_cache(&cmd.cache);
        import_entries::handle(&self.ctx, cmd).await
    }

    /// See [`export_entries`].
    ///
    /// # Errors
    /// [`export_entries::ExportEntriesError`].
    pub fn export(
        &self,
        query: export_entries::ExportEntries,
    ) -> Result<export_entries::Export, export_entries::ExportEntriesError> {
        export_entries::handle(&self.ctx, query)
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

    /// One evaluation of every `eviction = "auto"` cache; see
    /// [`auto_tune`]. Returns the switches made (each audited in `audit`
    /// when given). The composition root calls it every
    /// `[analysis] auto_interval_ms`.
    pub async fn auto_tune(
        &self,
        settings: strata_domain::AutoTuneSettings,
        audit: Option<&dyn strata_domain::AuditLog>,
    ) -> Vec<auto_tune::AutoTuneSwitch> {
        auto_tune::handle(&self.ctx, settings, audit).await
    }

    /// See [`delete_cache`].
    ///
    /// # Errors
    /// [`delete_cache::DeleteCacheError`].
    pub async fn delete_cache(
        &self,
        cmd: delete_cache::DeleteCache,
    ) -> Result<(), delete_cache::DeleteCacheError> {
        self.aside.forget_cache(&cmd.cache);
        delete_cache::handle(&self.ctx, cmd).await
    }

    /// Seeds the repository with the configuration file's caches and opens
    /// them; see [`sync_configuration::seed`](crate::commands::sync_configuration).
    /// Call after [`bootstrap`](Self::bootstrap).
    ///
    /// # Errors
    /// [`sync_configuration::SyncError`] naming the cache.
    pub async fn seed(
        &self,
        seeds: Vec<(CacheConfiguration, std::collections::BTreeSet<String>)>,
    ) -> Result<(), sync_configuration::SyncError> {
        sync_configuration::seed(&self.ctx, seeds).await
    }

    /// Brings cache `name` in step with the repository (another instance
    /// changed it): creates, reconfigures or closes it.
    ///
    /// # Errors
    /// [`sync_configuration::SyncError`]; the cache keeps its configuration.
    pub async fn reload(
        &self,
        name: &CacheName,
    ) -> Result<sync_configuration::Reloaded, sync_configuration::SyncError> {
        sync_configuration::reload(&self.ctx, name).await
    }

    /// Brings every cache in step with the repository; returns how many
    /// changed.
    ///
    /// # Errors
    /// The first [`sync_configuration::SyncError`], after trying every cache.
    pub async fn reload_all(&self) -> Result<u64, sync_configuration::SyncError> {
        sync_configuration::reload_all(&self.ctx).await
    }

    /// Reads `key` with the cache's stale windows and leases (issue 27):
    /// a fresh hit, a stale value within `stale_while_revalidate` or (the
    /// backend failing) `stale_if_error`, a miss with or without the
    /// key's lease, or `LeasePending` while another client holds it. The
    /// REST face's GET; the directives are the request's `Cache-Control`.
    ///
    /// # Errors
    /// [`get_entry::GetEntryError`]: access, or the backend's error when
    /// no stale value may stand in.
    pub async fn read(
        &self,
        query: get_entry::ReadEntry,
    ) -> Result<get_entry::ReadOutcome, get_entry::GetEntryError> {
        get_entry::read(&self.ctx, query).await
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

    /// Cache-aside read of `key` in `cache`: the entry when present,
    /// otherwise `loader`'s value, stored with `ttl` (`None`: the cache's
    /// `default_ttl`) and returned. Concurrent misses of one key in this
    /// process run one loader (single-flight); the others' loaders are
    /// dropped unrun. Acts as [`Principal::Anonymous`](strata_domain::Principal::Anonymous): in-process callers
    /// are trusted.
    ///
    /// ```no_run
    /// # async fn demo(service: strata_application::CacheService) {
    /// use strata_domain::{CacheKey, CacheName, CacheValue, ContentType, Ttl};
    /// let users = CacheName::parse("users").unwrap();
    /// let key = CacheKey::parse("user:42").unwrap();
    /// let entry = service
    ///     .get_with(&users, &key, Some(Ttl::from_secs(300).unwrap()), || async {
    ///         // e.g. SELECT ... FROM users WHERE id = 42
    ///         Ok::<_, std::io::Error>(CacheValue::new(
    ///             bytes::Bytes::from_static(br#"{"id":42}"#),
    ///             ContentType::parse("application/json").unwrap(),
    ///         ))
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(entry.value().bytes().as_ref(), br#"{"id":42}"#);
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`GetWithError`]: unknown cache, a failed read, the loader's error
    /// (shared by every waiter) or a failed store of the loaded value.
    pub async fn get_with<F, Fut, E>(
        &self,
        cache: &CacheName,
        key: &CacheKey,
        ttl: Option<Ttl>,
        loader: F,
    ) -> Result<CacheEntry, GetWithError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CacheValue, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        cache_aside::get_with(&self.ctx, &self.aside, cache, key, ttl, loader).await
    }

    /// Cache-aside read of `key` in `cache` with fail-safe, loader
    /// timeouts, eager refresh, negative caching and TTL jitter, as
    /// `options` says (see [`GetWithOptions`]; the default behaves as
    /// [`get_with`](Self::get_with)). `loader` returns `Ok(Some(value))`,
    /// `Ok(None)` for "absent", or its error; it is called only when this
    /// caller starts a load or a background refresh (never on a hit unless
    /// this read starts an eager refresh, never while a failed load's
    /// throttle is on), and its future is polled only if no newer value
    /// is found first.
    ///
    /// Returns [`Fetched::Fresh`], [`Fetched::Stale`] (fail-safe served an
    /// expired value because the loader failed, is throttled, or passed a
    /// timeout) or [`Fetched::Absent`]. The module docs of
    /// `cache_aside` (and `docs/resilience.md`, "Fail-safe cache-aside")
    /// say where stale values come from and their limits.
    ///
    /// ```no_run
    /// # async fn demo(service: strata_application::CacheService) {
    /// use std::time::Duration;
    /// use strata_application::GetWithOptions;
    /// use strata_domain::{CacheKey, CacheName, CacheValue, ContentType, Ttl};
    /// let users = CacheName::parse("users").unwrap();
    /// let key = CacheKey::parse("user:42").unwrap();
    /// let options = GetWithOptions::builder()
    ///     .ttl(Ttl::from_secs(300).unwrap())
    ///     .fail_safe_max(Duration::from_secs(3600))
    ///     .soft_timeout(Duration::from_millis(100))
    ///     .negative_ttl(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap();
    /// let fetched = service
    ///     .get_with_options(&users, &key, options, || async {
    ///         // e.g. SELECT ... FROM users WHERE id = 42; None when no row
    ///         Ok::<_, std::io::Error>(Some(CacheValue::new(
    ///             bytes::Bytes::from_static(br#"{"id":42}"#),
    ///             ContentType::parse("application/json").unwrap(),
    ///         )))
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert!(fetched.entry().is_some());
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`GetWithError`]: unknown cache, a failed read, the loader's error
    /// or [`GetWithError::Timeout`] when no stale value can be served, or
    /// a failed store of the loaded value.
    pub async fn get_with_options<F, Fut, E>(
        &self,
        cache: &CacheName,
        key: &CacheKey,
        options: GetWithOptions,
        loader: F,
    ) -> Result<Fetched, GetWithError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CacheValue>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        cache_aside::get_with_options(&self.ctx, &self.aside, cache, key, options, loader).await
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

    /// See [`get_miss_ratio_curves`].
    ///
    /// # Errors
    /// [`get_miss_ratio_curves::GetMissRatioCurvesError`].
    pub fn miss_ratio_curves(
        &self,
        query: get_miss_ratio_curves::GetMissRatioCurves,
    ) -> Result<
        get_miss_ratio_curves::MissRatioReport,
        get_miss_ratio_curves::GetMissRatioCurvesError,
    > {
        get_miss_ratio_curves::handle(&self.ctx, query)
    }

    /// The best policy and capacity changes for a cache, from its curves
    /// (see [`get_miss_ratio_curves`]).
    ///
    /// # Errors
    /// [`get_miss_ratio_curves::GetMissRatioCurvesError`].
    pub fn recommendation(
        &self,
        query: get_miss_ratio_curves::GetRecommendation,
    ) -> Result<
        (
            get_miss_ratio_curves::MissRatioReport,
            strata_domain::Recommendation,
        ),
        get_miss_ratio_curves::GetMissRatioCurvesError,
    > {
        get_miss_ratio_curves::handle_recommendation(&self.ctx, query)
    }

    /// Every analysed cache's curves, by name (no grant check: for the
    /// metrics exporter, which checks its own role).
    pub fn all_miss_ratio_curves(&self) -> Vec<(CacheName, strata_domain::MissRatioCurves)> {
        get_miss_ratio_curves::all(&self.ctx)
    }

    /// See [`list_caches`]. It never fails: a caller without a grant gets
    /// a shorter listing, not an error.
    pub async fn list(&self, query: list_caches::ListCaches) -> Vec<list_caches::CacheSummary> {
        list_caches::handle(&self.ctx, query).await
    }

    /// See [`get_configuration`].
    ///
    /// # Errors
    /// [`get_configuration::GetConfigurationError`].
    pub async fn configuration(
        &self,
        query: get_configuration::GetConfiguration,
    ) -> Result<strata_domain::StoredConfiguration, get_configuration::GetConfigurationError> {
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

impl CacheService {
    /// Readiness of every open cache, sorted by name: `None` when its
    /// store answers `ping`, else the error text (the data of
    /// [`unready_caches`](Self::unready_caches), with the ready ones too,
    /// for per-cache health services).
    pub async fn readiness(&self) -> Vec<(CacheName, Option<String>)> {
        let mut all = Vec::new();
        for cache in self.ctx.registry.all() {
            let error = cache.store().ping().await.err().map(|e| e.to_string());
            all.push((cache.config().name().clone(), error));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
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
