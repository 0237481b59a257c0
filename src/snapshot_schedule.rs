//! Warm restarts: snapshots of `persist = true` memory caches and warm
//! keys of stacked caches, under `[server] data_dir/snapshots/`
//! (docs/operations.md, "Snapshots and warming"). This module owns which
//! caches are written and when; the file format is infrastructure's
//! `snapshot` module, which this one must not reimplement.
//!
//! - At start-up (before the listener is bound, so before
//!   `/health/ready` can answer), every `persist` cache loads
//!   `<cache>.snap`, dropping expired entries, and every stacked cache
//!   (`tiers = ["memory", <backend>]`) reads `<cache>.warm` and fetches
//!   those keys from L2 into L1. A corrupt or torn file is skipped with a
//!   WARN and the cache starts empty (cold).
//! - Every second a ticker writes the snapshot of each `persist` cache
//!   whose `snapshot_interval_secs` has elapsed.
//! - At graceful shutdown, after the servers drained, every `persist`
//!   cache writes its snapshot and every stacked cache its warm keys.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use strata_application::{CacheService, LiveCache};
use strata_domain::{
    CacheConfiguration, CacheName, CacheStore, Clock, ProvisionError, StoreProvider,
};
use strata_infrastructure::snapshot::{
    load_snapshot, read_warm_keys, write_snapshot, write_warm_keys,
};

/// Hot keys recorded per stacked cache at shutdown, at most.
pub(crate) const MAX_WARM_KEYS: usize = 10_000;
/// Keys fetched from L2 per request while warming.
const WARM_BATCH: usize = 256;

/// The snapshot directory and what has been written when.
pub(crate) struct Snapshots {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    last: Mutex<HashMap<CacheName, Instant>>,
}

fn is_stacked(config: &CacheConfiguration) -> bool {
    config.is_tiered() && config.tiers().first().is_some_and(|t| t.is_memory())
}

impl Snapshots {
    /// Snapshots under `data_dir/snapshots`.
    pub(crate) fn new(data_dir: &std::path::Path, clock: Arc<dyn Clock>) -> Self {
        Self {
            dir: data_dir.join("snapshots"),
            clock,
            last: Mutex::default(),
        }
    }

    fn path(&self, cache: &CacheName, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", cache.as_str()))
    }

    /// Loads every `persist` cache's snapshot and warms every stacked
    /// cache; never fails (a bad file is logged and skipped).
    pub(crate) async fn load_all(&self, service: &CacheService) {
        for cache in service.registry().all() {
            let config = cache.config();
            if config.persist() {
                self.load(&cache).await;
            } else if is_stacked(config) {
                self.warm(&cache).await;
            }
        }
    }

    async fn load(&self, cache: &LiveCache) {
        let name = cache.config().name();
        let path = self.path(name, "snap");
        if !path.exists() {
            tracing::info!(cache = %name, path = %path.display(), "no snapshot: the cache starts empty");
            return;
        }
        tracing::info!(cache = %name, path = %path.display(), "loading snapshot");
        let started = Instant::now();
        let mut logged = Instant::now();
        let result = load_snapshot(
            cache.store().as_ref(),
            &path,
            self.clock.now(),
            |read, total| {
                if logged.elapsed() >= Duration::from_secs(1) {
                    logged = Instant::now();
                    tracing::info!(cache = %name, read, total, "loading snapshot");
                }
            },
        )
        .await;
        match result {
            Ok(report) => tracing::info!(
                cache = %name,
                loaded = report.loaded,
                expired = report.expired,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "snapshot loaded"
            ),
            Err(e) => tracing::warn!(
                cache = %name,
                error = %e,
                "snapshot skipped: the cache starts empty"
            ),
        }
        self.mark(name);
    }

    async fn warm(&self, cache: &LiveCache) {
        let name = cache.config().name();
        let path = self.path(name, "warm");
        if !path.exists() {
            return;
        }
        let keys = match read_warm_keys(&path) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(cache = %name, error = %e, "warm keys skipped: L1 starts cold");
                return;
            }
        };
        let mut warmed = 0;
        for chunk in keys.chunks(WARM_BATCH) {
            // A stacked store's get_many promotes L2 hits into L1.
            match cache.store().get_many(chunk).await {
                Ok(found) => warmed += found.iter().flatten().count(),
                Err(e) => {
                    tracing::warn!(cache = %name, error = %e, "warming stopped: L2 failed");
                    break;
                }
            }
        }
        tracing::info!(cache = %name, keys = keys.len(), warmed, "L1 warmed from L2");
    }

    fn mark(&self, name: &CacheName) {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone(), Instant::now());
    }

    async fn save(&self, store: &dyn CacheStore, name: &CacheName) {
        let path = self.path(name, "snap");
        let started = Instant::now();
        match write_snapshot(store, &path, self.clock.now()).await {
            Ok(entries) => tracing::info!(
                cache = %name,
                entries,
                path = %path.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "snapshot written"
            ),
            Err(e) => {
                tracing::error!(cache = %name, error = %e, "snapshot failed; the previous one is kept")
            }
        }
        self.mark(name);
    }

    /// At shutdown: every `persist` cache's snapshot, every stacked
    /// cache's warm keys.
    pub(crate) async fn save_all(&self, service: &CacheService) {
        for cache in service.registry().all() {
            let config = cache.config();
            let name = config.name();
            if config.persist() {
                self.save(cache.store().as_ref(), name).await;
            } else if is_stacked(config) {
                let path = self.path(name, "warm");
                match cache.store().hot_keys(MAX_WARM_KEYS).await {
                    Ok(keys) => match write_warm_keys(&path, &keys) {
                        Ok(()) => {
                            tracing::info!(cache = %name, keys = keys.len(), "warm keys written")
                        }
                        Err(e) => {
                            tracing::error!(cache = %name, error = %e, "warm keys not written")
                        }
                    },
                    Err(e) => tracing::error!(cache = %name, error = %e, "warm keys not written"),
                }
            }
        }
    }

    /// Every second, snapshots the `persist` caches whose
    /// `snapshot_interval_secs` has elapsed since their last snapshot.
    pub(crate) fn spawn_periodic(self: &Arc<Self>, service: CacheService) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                for cache in service.registry().all() {
                    let config = cache.config();
                    let Some(every) = config.snapshot_interval_secs() else {
                        continue;
                    };
                    let due = {
                        let mut last = this
                            .last
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        let at = *last
                            .entry(config.name().clone())
                            .or_insert_with(Instant::now);
                        at.elapsed() >= Duration::from_secs(every)
                    };
                    if due && config.persist() {
                        this.save(cache.store().as_ref(), config.name()).await;
                    }
                }
            }
        });
    }
}

/// Refuses `persist = true` when there is no `[server] data_dir` (422 for
/// an admin PUT), and opens everything else with the inner provider.
pub(crate) struct PersistCheck {
    pub(crate) inner: Arc<dyn StoreProvider>,
    pub(crate) has_data_dir: bool,
}

#[async_trait]
impl StoreProvider for PersistCheck {
    async fn open(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        if config.persist() && !self.has_data_dir {
            return Err(ProvisionError::Unsupported(
                "persist = true needs [server] data_dir, where snapshots are written".to_owned(),
            ));
        }
        self.inner.open(config).await
    }

    async fn open_leases(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Option<Arc<dyn strata_domain::LeaseStore>>, ProvisionError> {
        self.inner.open_leases(config).await
    }

    fn backends(&self) -> Vec<strata_domain::BackendHealth> {
        self.inner.backends()
    }
}
