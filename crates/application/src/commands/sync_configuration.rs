//! Keeping the open caches in step with the configuration repository:
//! seeding it from the configuration file at start-up, and reloading a
//! cache (or all of them) after another instance changed it.
//!
//! Source of truth: the repository. The file seeds a cache the repository
//! does not hold yet; a cache still as the file seeded it (origin `file`)
//! follows later edits of the file; a run-time change (origin `runtime`)
//! wins over the file until an operator deletes it; the file then seeds
//! it again at the next start-up.

use std::collections::BTreeSet;

use strata_domain::{
    CacheConfiguration, CacheName, ChangeCause, ConfigOrigin, DomainEvent, ExpectedVersion,
    Principal, Provenance, ProvisionError, RepositoryError, SaveError,
};

use crate::commands::configure_cache::{install, open_for};
use crate::context::Context;

/// Why the open caches could not be brought in step with the repository.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The repository could not be read or written.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// A stored or seeded configuration cannot be served here.
    #[error("cache {cache}: {source}")]
    Provision {
        /// The cache.
        cache: CacheName,
        /// Why.
        source: ProvisionError,
    },
}

/// What reloading one cache did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// It was already as stored.
    Unchanged,
    /// The stored configuration was installed (created or reconfigured).
    Installed,
    /// The repository no longer holds it: it was closed.
    Removed,
}

/// The provenance of a file seed naming `explicit` settings.
pub(crate) fn file(explicit: BTreeSet<String>) -> Provenance {
    Provenance {
        origin: ConfigOrigin::File,
        explicit,
    }
}

/// Reloads `name` from the repository; the caller holds `config_lock`.
pub(crate) async fn reload_locked(ctx: &Context, name: &CacheName) -> Result<Reloaded, SyncError> {
    let stored = ctx.repository.get(name).await?;
    let live = ctx.registry.get(name);
    match (stored, live) {
        (None, None) => Ok(Reloaded::Unchanged),
        (None, Some(live)) => {
            ctx.registry.remove(name);
            tracing::info!(cache = %name, "cache deleted by another instance");
            ctx.events.publish(DomainEvent::ConfigurationChanged {
                cache: name.clone(),
                before: Some(Box::new(live.config().clone())),
                after: None,
                cause: ChangeCause::Peer,
                principal: Principal::Anonymous,
                at: ctx.clock.now(),
            });
            Ok(Reloaded::Removed)
        }
        (Some(s), Some(l))
            if l.version() == s.version
                && l.config() == &s.config
                && l.provenance() == &s.provenance =>
        {
            Ok(Reloaded::Unchanged)
        }
        (Some(stored), live) => {
            let opened = open_for(ctx, live.as_deref(), &stored.config)
                .await
                .map_err(|source| SyncError::Provision {
                    cache: name.clone(),
                    source,
                })?;
            install(
                ctx,
                live,
                stored,
                opened,
                Principal::Anonymous,
                ChangeCause::Peer,
            )
            .await;
            Ok(Reloaded::Installed)
        }
    }
}

/// Reloads `name` from the repository.
pub(crate) async fn reload(ctx: &Context, name: &CacheName) -> Result<Reloaded, SyncError> {
    let _serial = ctx.config_lock.lock().await;
    reload_locked(ctx, name).await
}

/// Reloads every cache the repository holds, and closes the open caches
/// it no longer holds; returns how many changed. Every cache is tried.
///
/// # Errors
/// The first failure, once every cache was tried.
pub(crate) async fn reload_all(ctx: &Context) -> Result<u64, SyncError> {
    let _serial = ctx.config_lock.lock().await;
    let stored = ctx.repository.list().await?;
    let mut names: Vec<CacheName> = stored
        .into_iter()
        .map(|s| s.config.name().clone())
        .collect();
    for live in ctx.registry.all() {
        if !names.contains(live.config().name()) {
            names.push(live.config().name().clone());
        }
    }
    let (mut changed, mut first_error) = (0, None);
    for name in names {
        match reload_locked(ctx, &name).await {
            Ok(Reloaded::Unchanged) => {}
            Ok(_) => changed += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(changed), Err)
}

/// Seeds the repository from the configuration file's caches (each with
/// the settings the file names) and opens them: a cache the repository
/// lacks is saved with origin `file`; one of origin `file` is updated to
/// the file's settings; one changed at run time is left as stored. A
/// conflict (another instance seeded or changed it first) loads the
/// stored one.
///
/// # Errors
/// [`SyncError`] naming the cache.
pub(crate) async fn seed(
    ctx: &Context,
    seeds: Vec<(CacheConfiguration, BTreeSet<String>)>,
) -> Result<(), SyncError> {
    let _serial = ctx.config_lock.lock().await;
    for (config, explicit) in seeds {
        let name = config.name().clone();
        let provenance = file(explicit);
        let expected = match ctx.repository.get(&name).await? {
            None => Some(ExpectedVersion::Absent),
            Some(s)
                if s.provenance.origin == ConfigOrigin::File
                    && (s.config != config || s.provenance != provenance) =>
            {
                Some(ExpectedVersion::Exactly(s.version))
            }
            Some(_) => None,
        };
        if let Some(expected) = expected {
            let live = ctx.registry.get(&name);
            let opened = open_for(ctx, live.as_deref(), &config)
                .await
                .map_err(|source| SyncError::Provision {
                    cache: name.clone(),
                    source,
                })?;
            match ctx.repository.save(config, provenance, expected).await {
                Ok(stored) => {
                    install(
                        ctx,
                        live,
                        stored,
                        opened,
                        Principal::Anonymous,
                        ChangeCause::Startup,
                    )
                    .await;
                    continue;
                }
                Err(SaveError::Conflict { .. }) => {}
                Err(SaveError::Repository(e)) => return Err(e.into()),
            }
        }
        reload_locked(ctx, &name).await?;
    }
    Ok(())
}
