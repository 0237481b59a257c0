//! Wiring of the configuration repository (`[server] data_dir`,
//! `[cluster] config_backend`) and of the task that applies other
//! instances' configuration changes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use strata_application::CacheService;
use strata_domain::{CacheConfiguration, CacheName, ConfigurationRepository};
use strata_infrastructure::{
    FileConfigurationRepository, InMemoryConfigurationRepository, ReconfigureNotice,
    StrataStoreProvider,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::Settings;
use crate::config::validation;

/// Other instances' configuration changes, from the coherence bus.
type Notices = UnboundedReceiver<ReconfigureNotice>;

/// How often every configuration is compared with the shared repository,
/// catching a change whose announcement was lost.
pub(crate) const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);
/// Delay before retrying a configuration change that failed to apply.
pub(crate) const RETRY_DELAY: Duration = Duration::from_millis(200);

/// The repository the settings name, and the notices of other instances'
/// changes when it is shared.
///
/// # Errors
/// `config_backend` naming no Redis backend, or coherence off with it; a
/// `data_dir` state file that cannot be read (named, left unchanged).
pub(crate) fn repository(
    settings: &Settings,
    provider: &StrataStoreProvider,
) -> anyhow::Result<(Arc<dyn ConfigurationRepository>, Option<Notices>)> {
    if let Some(backend) = validation::shared_config_backend(settings)? {
        let (repo, notices) = provider
            .redis_configuration_repository(backend)
            .map_err(|e| anyhow::anyhow!("[cluster] config_backend = {backend:?}: {e}"))?;
        tracing::info!(%backend, "cache configurations are shared in Redis");
        return Ok((Arc::new(repo), notices));
    }
    if let Some(dir) = &settings.server.data_dir {
        let repo = FileConfigurationRepository::open(dir).context("[server] data_dir")?;
        tracing::info!(path = %repo.path().display(), "cache configurations persist in the state file");
        return Ok((Arc::new(repo), None));
    }
    tracing::info!(
        "neither [server] data_dir nor [cluster] config_backend is set: \
         run-time cache configuration changes are not persisted"
    );
    Ok((Arc::new(InMemoryConfigurationRepository::default()), None))
}

/// Where the web console keeps its sessions: in Redis beside the shared
/// configurations when `[cluster] config_backend` is set (instances
/// behind one load balancer share logins), else in this process.
///
/// # Errors
/// `config_backend` naming no Redis backend.
pub(crate) fn sessions(
    settings: &Settings,
    provider: &StrataStoreProvider,
    clock: Arc<dyn strata_domain::Clock>,
) -> anyhow::Result<Arc<dyn strata_domain::SessionStore>> {
    if let Some(backend) = validation::shared_config_backend(settings)? {
        let sessions = provider
            .redis_sessions(backend, clock)
            .map_err(|e| anyhow::anyhow!("[cluster] config_backend = {backend:?}: {e}"))?;
        return Ok(Arc::new(sessions));
    }
    Ok(Arc::new(strata_infrastructure::MemorySessions::new(clock)))
}

/// The file's caches as domain configurations, each with the settings
/// the file names.
///
/// # Errors
/// An invalid cache name or configuration, named `[caches.<name>]`.
pub(crate) fn seeds(
    settings: &Settings,
) -> anyhow::Result<Vec<(CacheConfiguration, BTreeSet<String>)>> {
    let mut seeds = Vec::new();
    for (name, dto) in &settings.caches {
        let cache = CacheName::parse(name).with_context(|| format!("[caches.{name}]"))?;
        let explicit: BTreeSet<String> = dto.named_settings();
        let config = dto
            .clone()
            .into_domain(cache)
            .with_context(|| format!("[caches.{name}]"))?;
        seeds.push((config, explicit));
    }
    Ok(seeds)
}

/// Loads the stored configurations, then seeds the file's caches.
///
/// # Errors
/// A stored or seeded configuration that cannot be opened, with its cache.
pub(crate) async fn load(service: &CacheService, settings: &Settings) -> anyhow::Result<()> {
    service
        .bootstrap()
        .await
        .context("loading the stored cache configurations")?;
    service.seed(seeds(settings)?).await.map_err(|e| match e {
        // The file's own name for the cache, as the other errors above.
        strata_application::commands::sync_configuration::SyncError::Provision {
            cache,
            source,
        } => anyhow::Error::new(source).context(format!("[caches.{cache}]")),
        other => anyhow::Error::new(other).context("[caches]"),
    })?;
    Ok(())
}

/// Applies other instances' changes: each notice reloads its cache from
/// the repository; a re-subscription, and every [`RECONCILE_INTERVAL`],
/// reloads them all. A failure is logged at `warn` and retried after
/// [`RETRY_DELAY`], so no instance keeps an old configuration silently.
pub(crate) fn spawn_sync(service: CacheService, mut notices: UnboundedReceiver<ReconfigureNotice>) {
    tokio::spawn(async move {
        let mut reconcile = tokio::time::interval(RECONCILE_INTERVAL);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: BTreeSet<CacheName> = BTreeSet::new();
        let mut all = false;
        loop {
            tokio::select! {
                notice = notices.recv() => match notice {
                    Some(ReconfigureNotice::Cache(name)) => { pending.insert(name); }
                    Some(ReconfigureNotice::Resubscribed) => all = true,
                    None => return,
                },
                _ = reconcile.tick() => all = true,
                _ = tokio::time::sleep(RETRY_DELAY), if !pending.is_empty() => {}
            }
            while let Ok(notice) = notices.try_recv() {
                match notice {
                    ReconfigureNotice::Cache(name) => {
                        pending.insert(name);
                    }
                    ReconfigureNotice::Resubscribed => all = true,
                }
            }
            if all {
                match service.reload_all().await {
                    Ok(changed) => {
                        if changed > 0 {
                            tracing::info!(changed, "configurations reloaded from the repository");
                        }
                        all = false;
                        pending.clear();
                    }
                    Err(error) => tracing::warn!(
                        %error,
                        "cannot bring every configuration in step with the repository; retrying"
                    ),
                }
            }
            let mut failed = BTreeSet::new();
            for name in std::mem::take(&mut pending) {
                if let Err(error) = service.reload(&name).await {
                    tracing::warn!(
                        cache = %name,
                        %error,
                        "cannot apply another instance's configuration change; retrying"
                    );
                    failed.insert(name);
                }
            }
            pending = failed;
        }
    });
}
