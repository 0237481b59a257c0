//! `ConfigureCache`: create or reconfigure a cache at run time (admin).
//!
//! When a change touches the store (tiers, eviction policy, capacity), a new
//! store is opened and swapped in atomically, so requests keep being
//! served; then the live entries of an in-process store are copied over,
//! oldest first, each only if the new store does not hold the key yet (a
//! write that reached the new store wins) and only if the old store still
//! holds it (a delete during the copy is not undone). The entries are
//! moved: until the move completes the cache serves from a
//! `MigratingStore`, whose reads that miss the new store fall back to the
//! old one and move the entry on the spot, so a switch (an admin's or
//! `eviction = "auto"`'s) loses no hits and fails no request.

use std::collections::BTreeSet;
use std::sync::Arc;

use strata_domain::{
    CacheConfiguration, CacheName, ChangeCause, ConfigOrigin, ConfigVersion, DomainEvent,
    EvictionPolicyKind, ExpectedVersion, LeaseStore, Principal, Provenance, ProvisionError,
    RepositoryError, Role, SaveError, StoredConfiguration,
};

use crate::context::Context;
use crate::registry::{AccessError, CacheCounters, LiveCache, check_role};
use crate::stores::MigratingStore;

/// How many times a change without an expected version is retried when
/// another instance changed the cache in between (read-modify-CAS).
pub const MAX_CONFLICT_RETRIES: u32 = 8;

/// Create `config.name()` with `config`, or reconfigure it.
#[derive(Clone, Debug)]
pub struct ConfigureCache {
    /// Who acts; needs [`Role::Admin`] on the cache's name.
    pub principal: Principal,
    /// The validated configuration.
    pub config: CacheConfiguration,
    /// The version the caller last saw (HTTP `If-Match`): the change
    /// fails with [`ConfigureCacheError::VersionConflict`] when the stored
    /// configuration is at another one. `None` applies the change on top
    /// of the latest version.
    pub expected_version: Option<ConfigVersion>,
    /// The settings the caller named (spelled as in the admin API), which
    /// `GET` then reports as `runtime`; `None` keeps the provenance the
    /// cache had (or none, for a new cache).
    pub explicit: Option<BTreeSet<String>>,
}

impl ConfigureCache {
    /// A change of `config` by `principal`, on top of the latest version,
    /// keeping the settings' provenance.
    pub fn new(principal: Principal, config: CacheConfiguration) -> Self {
        Self {
            principal,
            config,
            expected_version: None,
            explicit: None,
        }
    }
}

/// What the change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigureCacheOutput {
    /// The cache did not exist before.
    pub created: bool,
    /// Entries copied into a new store.
    pub migrated: u64,
    /// The version the configuration now has.
    pub version: ConfigVersion,
}

/// Why a configuration change failed; the old configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureCacheError {
    /// Missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// No store can serve the configuration. HTTP: 422 (or 503 when unreachable).
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The configuration could not be saved.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The stored configuration is not at the expected version: another
    /// change came first. HTTP: 409 (or 412 semantics of `If-Match`).
    #[error("version conflict: expected version {expected:?}, the cache is at {current:?}")]
    VersionConflict {
        /// The version the caller expected (`None`: that the cache is new).
        expected: Option<ConfigVersion>,
        /// The version stored now; `None` when the cache does not exist.
        current: Option<ConfigVersion>,
    },
}

fn store_shape_changed(a: &CacheConfiguration, b: &CacheConfiguration) -> bool {
    // What a store over a shared tier is built with: the stacked store's L1
    // bounds (`l1_max_ttl`, `stale_if_error`) and the shared tier's codec
    // (`compression`, `encryption_key_id`). A change of one of them opens
    // a new store, or it would only take effect at the next start.
    // Memory-only caches are built with none of them.
    let built_with = |c: &CacheConfiguration| {
        (
            c.l1_max_ttl(),
            c.stale().stale_if_error_secs,
            c.compression(),
            c.encryption_key_id().map(str::to_owned),
        )
    };
    let shared = b.tiers().iter().any(|tier| !tier.is_memory());
    (shared && built_with(a) != built_with(b))
        || a.tiers() != b.tiers()
        || a.active_eviction() != b.active_eviction()
        || a.max_entries() != b.max_entries()
        || a.max_bytes() != b.max_bytes()
}

pub(crate) async fn handle(
    ctx: &Context,
    mut cmd: ConfigureCache,
) -> Result<ConfigureCacheOutput, ConfigureCacheError> {
    let name = cmd.config.name().clone();
    check_role(&cmd.principal, Role::Admin, &name)?;
    // An admin change of an `auto` cache keeps the policy the tuner chose.
    if let Some(prev) = ctx.registry.get(&name)
        && prev.config().eviction() == EvictionPolicyKind::Auto
        && cmd.config.eviction() == EvictionPolicyKind::Auto
        && let Ok(kept) = cmd
            .config
            .to_builder()
            .active_eviction(prev.config().active_eviction())
            .build()
    {
        cmd.config = kept;
    }
    apply(ctx, cmd, ChangeCause::Admin).await
}

/// The provenance a run-time change of `explicit` settings gives.
fn runtime(explicit: BTreeSet<String>) -> Provenance {
    Provenance {
        origin: ConfigOrigin::Runtime,
        explicit,
    }
}

/// Applies a configuration whose grant was checked (or that the service
/// itself decided, as `auto` does), through the one run-time switch:
/// opens the store it needs, saves it in the repository at the expected
/// version (or on top of the latest, retrying on conflicts), then swaps
/// it in. Changes of one service are serialised.
pub(crate) async fn apply(
    ctx: &Context,
    cmd: ConfigureCache,
    cause: ChangeCause,
) -> Result<ConfigureCacheOutput, ConfigureCacheError> {
    let _serial = ctx.config_lock.lock().await;
    let name = cmd.config.name().clone();
    let previous = ctx.registry.get(&name);
    let provenance = match (&cmd.explicit, &previous) {
        (Some(explicit), _) => runtime(explicit.clone()),
        (None, Some(prev)) => prev.provenance().clone(),
        (None, None) => runtime(BTreeSet::new()),
    };
    if cmd.expected_version.is_none()
        && let Some(prev) = &previous
        && prev.config() == &cmd.config
        && prev.provenance() == &provenance
    {
        return Ok(ConfigureCacheOutput {
            created: false,
            migrated: 0,
            version: prev.version(),
        });
    }
    let opened = open_for(ctx, previous.as_deref(), &cmd.config).await?;
    let stored = save(ctx, &cmd, provenance).await?;
    Ok(install(ctx, previous, stored, opened, cmd.principal, cause).await)
}

/// Rebuilds the store of `name` with its configuration unchanged, as a
/// policy switch would (a new store of the same policy, the resident
/// entries moved in through the same migration), when the cache is still
/// at `expected_version`: what `auto` does when a fresh start of its active
/// policy beats the running one. Nothing is saved (the configuration is
/// the same); the change is published with `cause`.
///
/// # Errors
/// [`ConfigureCacheError::VersionConflict`] when the cache is gone or at
/// another version; [`ConfigureCacheError::Provision`] when no new store
/// opens.
pub(crate) async fn rebuild(
    ctx: &Context,
    name: &CacheName,
    expected_version: ConfigVersion,
    cause: ChangeCause,
) -> Result<ConfigureCacheOutput, ConfigureCacheError> {
    let _serial = ctx.config_lock.lock().await;
    let previous = ctx.registry.get(name);
    let Some(prev) = previous.filter(|p| p.version() == expected_version) else {
        return Err(ConfigureCacheError::VersionConflict {
            expected: Some(expected_version),
            current: ctx.registry.get(name).map(|p| p.version()),
        });
    };
    let config = prev.config().clone();
    let opened = Opened {
        store: ctx.provider.open(&config).await?,
        counters: prev.counters().clone(),
        leases: prev.leases().cloned(),
    };
    let stored = StoredConfiguration {
        config,
        version: prev.version(),
        provenance: prev.provenance().clone(),
    };
    Ok(install(ctx, Some(prev), stored, opened, Principal::Anonymous, cause).await)
}

/// Saves `cmd.config` at its expected version, or on top of the latest.
async fn save(
    ctx: &Context,
    cmd: &ConfigureCache,
    provenance: Provenance,
) -> Result<StoredConfiguration, ConfigureCacheError> {
    let expected = match cmd.expected_version {
        Some(v) => ExpectedVersion::Exactly(v),
        None => ExpectedVersion::Any,
    };
    let mut attempt = 0;
    loop {
        match ctx
            .repository
            .save(cmd.config.clone(), provenance.clone(), expected)
            .await
        {
            Ok(stored) => return Ok(stored),
            Err(SaveError::Conflict { current })
                if expected != ExpectedVersion::Any || attempt >= MAX_CONFLICT_RETRIES =>
            {
                return Err(ConfigureCacheError::VersionConflict {
                    expected: cmd.expected_version,
                    current,
                });
            }
            Err(SaveError::Conflict { .. }) => attempt += 1,
            Err(SaveError::Repository(e)) => return Err(e.into()),
        }
    }
}

/// What serves a configuration: its store, the counters it keeps and its
/// leases (when it has `lease_ttl`).
pub(crate) struct Opened {
    store: Arc<dyn strata_domain::CacheStore>,
    counters: Arc<CacheCounters>,
    leases: Option<Arc<dyn LeaseStore>>,
}

/// A store able to serve `config`: the previous one when its shape is
/// unchanged, else a new one; the counters it keeps; and its leases, the
/// previous ones when the store is kept and they were on.
pub(crate) async fn open_for(
    ctx: &Context,
    previous: Option<&LiveCache>,
    config: &CacheConfiguration,
) -> Result<Opened, ProvisionError> {
    let (store, counters, kept) = match previous {
        Some(prev) if !store_shape_changed(prev.config(), config) => (
            prev.store().clone(),
            prev.counters().clone(),
            prev.leases().cloned(),
        ),
        Some(prev) => (
            ctx.provider.open(config).await?,
            prev.counters().clone(),
            None,
        ),
        None => (
            ctx.provider.open(config).await?,
            Arc::new(CacheCounters::default()),
            None,
        ),
    };
    let leases = match (config.stale().lease_ttl(), kept) {
        (None, _) => None,
        (Some(_), Some(kept)) => Some(kept),
        (Some(_), None) => ctx.provider.open_leases(config).await?,
    };
    Ok(Opened {
        store,
        counters,
        leases,
    })
}

/// Swaps `stored` in on the `opened` store, moves the entries of an old
/// in-process store over, and publishes the change.
pub(crate) async fn install(
    ctx: &Context,
    previous: Option<Arc<LiveCache>>,
    stored: StoredConfiguration,
    opened: Opened,
    principal: Principal,
    cause: ChangeCause,
) -> ConfigureCacheOutput {
    let StoredConfiguration {
        config,
        version,
        provenance,
    } = stored;
    let name: CacheName = config.name().clone();
    let Opened {
        store,
        counters,
        leases,
    } = opened;
    let analyzer = analyzer_for(ctx, previous.as_deref(), &config);
    let old = previous
        .as_ref()
        .filter(|prev| !Arc::ptr_eq(prev.store(), &store))
        .map(|prev| prev.store().clone());
    let migrating = old.as_ref().filter(|old| {
        let caps = old.capabilities();
        !caps.shared && caps.export
    });
    let migrator = migrating.map(|old| Arc::new(MigratingStore::new(store.clone(), old.clone())));
    let serving: Arc<dyn strata_domain::CacheStore> = match &migrator {
        Some(m) => m.clone(),
        None => store.clone(),
    };
    let live = |store: Arc<dyn strata_domain::CacheStore>, analyzer, retired| {
        LiveCache::new(config.clone(), store, counters.clone())
            .leased(leases.clone())
            .analyzed(analyzer)
            .retired(retired)
            .stored(version, provenance.clone())
    };
    let retired_before = previous
        .as_ref()
        .map(|p| p.retired_counts())
        .unwrap_or_default();
    // A retired store's counts join the cache's once it stops counting:
    // read here when it is dropped at once; after the move when entries
    // migrate (meanwhile the migrating store reports both stores').
    let retired_now = match (&old, &migrator) {
        (Some(old), None) => retired_before.plus(&final_stats(old.as_ref()).await),
        _ => retired_before,
    };
    ctx.registry
        .replace(live(serving.clone(), analyzer.clone(), retired_now));

    let migrated = match &migrator {
        Some(m) => m.migrate_all().await,
        None => 0,
    };
    if let (Some(old), Some(_)) = (&old, &migrator)
        && ctx
            .registry
            .get(&name)
            .is_some_and(|live| Arc::ptr_eq(live.store(), &serving))
    {
        // Every entry is across: serve from the new store alone.
        let retired = retired_before.plus(&final_stats(old.as_ref()).await);
        ctx.registry.replace(live(store.clone(), analyzer, retired));
    }
    let created = previous.is_none();
    tracing::info!(cache = %name, created, migrated, version, cause = cause.as_str(), "cache configured");
    let before = previous.map(|p| Box::new(p.config().clone()));
    if before.as_deref() != Some(&config) {
        let at_ms = ctx.clock.now().as_millis();
        ctx.trends.annotate(
            strata_domain::TrendSource::Cache(name.as_str().to_owned()),
            crate::trends::change_annotation(before.as_deref(), &config, &cause, at_ms),
        );
    }
    if before.as_deref() != Some(&config) || cause != ChangeCause::Peer {
        ctx.events.publish(DomainEvent::ConfigurationChanged {
            cache: name,
            before,
            after: Some(Box::new(config)),
            cause,
            principal,
            at: ctx.clock.now(),
        });
    }
    ConfigureCacheOutput {
        created,
        migrated,
        version,
    }
}

/// The counters of a store being retired (zeros, logged, when it cannot
/// say).
async fn final_stats(store: &dyn strata_domain::CacheStore) -> strata_domain::StoreStats {
    store.stats().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read the counters of a retired store");
        strata_domain::StoreStats::default()
    })
}

/// The analyzer of the reconfigured cache: the previous one when it
/// simulates the same capacity in the same unit (a policy switch keeps the
/// curves), else a new one.
fn analyzer_for(
    ctx: &Context,
    previous: Option<&LiveCache>,
    config: &CacheConfiguration,
) -> Option<Arc<dyn strata_domain::MrcAnalyzer>> {
    let provider = ctx.analyzers.as_ref()?;
    let shape = match (config.max_bytes(), config.max_entries()) {
        (Some(bytes), _) => (bytes, true),
        (None, Some(entries)) => (entries, false),
        (None, None) => return None,
    };
    if let Some(prev) = previous
        && prev.config().tiers() == config.tiers()
        && let Some(analyzer) = prev.analyzer()
        && analyzer.shape() == shape
    {
        return Some(analyzer.clone());
    }
    provider.open(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use strata_domain::{
        CacheEntry, EvictionPolicyKind, InsertOutcome, StoreCapabilities, TierName,
    };

    #[tokio::test]
    async fn a_policy_change_opens_a_new_store_and_moves_live_entries_with_their_frequencies() {
        let mut old = MockStore::new();
        old.expect_capabilities()
            .return_const(StoreCapabilities::IN_PROCESS);
        old.expect_entries()
            .returning(|| Ok(vec![(key("a"), entry(b"1")), (key("b"), entry(b"2"))]));
        // "b" was deleted from the old store during the copy: not resurrected.
        old.expect_get()
            .returning(|k| Ok((k.as_str() == "a").then(|| entry(b"1"))));
        // Its policy counted "a" six times; "b" is gone.
        old.expect_frequency_hint()
            .returning(|k| if k.as_str() == "a" { 6 } else { 0 });
        // "a" is moved, not copied.
        old.expect_remove()
            .withf(|k| k.as_str() == "a")
            .times(1)
            .returning(|_| Ok(true));
        // What the old store counted joins the cache's retired counts.
        old.expect_stats().returning(|| {
            Ok(strata_domain::StoreStats {
                evictions_capacity: 7,
                expirations: 3,
                ..Default::default()
            })
        });
        let mut new = MockStore::new();
        // The new store holds "a" once it was written (the move checks it
        // survived the old copy's delete).
        let written = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = written.clone();
        new.expect_get().returning(move |k| {
            Ok(
                (k.as_str() == "a" && seen.load(std::sync::atomic::Ordering::SeqCst))
                    .then(|| entry(b"1")),
            )
        });
        // The count reaches the new store's policy before the entry does,
        // so the move's own admission contest already uses it.
        let inserted = written.clone();
        new.expect_seed_frequency()
            .withf(move |k, hint| {
                k.as_str() == "a"
                    && *hint == 6
                    && !inserted.load(std::sync::atomic::Ordering::SeqCst)
            })
            .times(1)
            .return_const(());
        new.expect_insert()
            .withf(|k, _| k.as_str() == "a")
            .times(1)
            .returning(move |_, _| {
                written.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(InsertOutcome::Created)
            });
        let (service, events, provider) = service_with_provider(config("c", None, 10), old).await;
        provider.next(new);
        let changed = config("c", None, 10)
            .to_builder()
            .eviction(EvictionPolicyKind::Lru)
            .build()
            .unwrap();
        let out = service
            .configure(ConfigureCache {
                principal: Principal::Anonymous,
                config: changed.clone(),
                expected_version: None,
                explicit: None,
            })
            .await
            .unwrap();
        assert_eq!(
            out,
            ConfigureCacheOutput {
                created: false,
                migrated: 1,
                version: 2
            }
        );
        assert_eq!(
            service.registry().get(&name("c")).unwrap().config(),
            &changed
        );
        assert_eq!(
            service.registry().get(&name("c")).unwrap().retired_counts(),
            crate::RetiredCounts {
                evictions_capacity: 7,
                expirations: 3
            }
        );
        assert_eq!(events.kinds(), vec!["ConfigurationChanged"]);
    }

    #[tokio::test]
    async fn a_ttl_change_keeps_the_store() {
        let (service, events, _provider) =
            service_with_provider(config("c", None, 10), MockStore::new()).await;
        let before = service.registry().get(&name("c")).unwrap().store().clone();
        let out = service
            .configure(ConfigureCache {
                principal: Principal::Anonymous,
                config: config("c", Some(5), 10),
                expected_version: None,
                explicit: None,
            })
            .await
            .unwrap();
        assert_eq!(
            out,
            ConfigureCacheOutput {
                created: false,
                migrated: 0,
                version: 2
            }
        );
        let after = service.registry().get(&name("c")).unwrap().store().clone();
        assert!(Arc::ptr_eq(&before, &after));
        assert_eq!(events.kinds(), vec!["ConfigurationChanged"]);
    }

    #[tokio::test]
    async fn an_l1_or_codec_change_of_a_shared_cache_opens_a_new_store() {
        let stacked = |ttl: Option<u64>| {
            config("c", None, 10)
                .to_builder()
                .tiers(vec![TierName::memory(), TierName::parse("main").unwrap()])
                .l1_max_ttl(ttl.map(|s| strata_domain::Ttl::from_secs(s).unwrap()))
                .build()
                .unwrap()
        };
        let mut old = MockStore::new();
        old.expect_capabilities().return_const(StoreCapabilities {
            shared: true,
            ..StoreCapabilities::IN_PROCESS
        });
        old.expect_stats()
            .returning(|| Ok(strata_domain::StoreStats::default()));
        let (service, _, provider) = service_with_provider(stacked(None), old).await;
        let before = service.registry().get(&name("c")).unwrap().store().clone();
        provider.next(MockStore::new());
        service
            .configure(ConfigureCache {
                principal: Principal::Anonymous,
                config: stacked(Some(60)),
                expected_version: None,
                explicit: None,
            })
            .await
            .unwrap();
        let after = service.registry().get(&name("c")).unwrap().store().clone();
        assert!(
            !Arc::ptr_eq(&before, &after),
            "l1_max_ttl is set when the store is built"
        );
    }

    /// Issue 32: a plugin store over one database (two stores of a cache
    /// read the same rows) lost every entry when a new `max_entries`
    /// opened a successor store, moved each entry into it and deleted it
    /// from the old one: the only copy.
    #[tokio::test]
    async fn a_capacity_change_of_a_store_sharing_its_data_keeps_every_entry() {
        for declared_shared in [true, false] {
            let map = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
            let open = || Arc::new(SharedMapStore::new(map.clone(), declared_shared));
            let sized = |n: u64| {
                config("c", None, 10)
                    .to_builder()
                    .max_entries(Some(n))
                    .build()
                    .unwrap()
            };
            let mut clock = MockClock::new();
            clock.expect_now().return_const(now());
            let (service, _, provider) = service_on_store(
                sized(100),
                open(),
                Arc::new(clock),
                Arc::new(TestScheduler::default()),
            )
            .await;
            let store = service.registry().get(&name("c")).unwrap().store().clone();
            for k in ["a", "b", "c"] {
                store.insert(key(k), entry(k.as_bytes())).await.unwrap();
            }
            provider.next_store(open());
            service
                .configure(ConfigureCache::new(Principal::Anonymous, sized(200)))
                .await
                .unwrap();
            let live = service.registry().get(&name("c")).unwrap();
            assert_eq!(live.config().max_entries(), Some(200));
            for k in ["a", "b", "c"] {
                assert!(
                    live.store().get(&key(k)).await.unwrap().is_some(),
                    "shared = {declared_shared}: entry {k} was lost by the reconfiguration"
                );
            }
            assert_eq!(map.lock().unwrap().len(), 3);
        }
    }

    #[tokio::test]
    async fn creating_needs_admin_and_reports_created() {
        let (service, events, provider) =
            service_with_provider(config("c", None, 10), MockStore::new()).await;
        let err = service
            .configure(ConfigureCache {
                principal: writer(),
                config: config("d", None, 10),
                expected_version: None,
                explicit: None,
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigureCacheError::Access(AccessError::Forbidden { .. })
        ));
        provider.next(MockStore::new());
        let out = service
            .configure(ConfigureCache {
                principal: Principal::Anonymous,
                config: config("d", None, 10),
                expected_version: None,
                explicit: None,
            })
            .await
            .unwrap();
        assert!(out.created);
        assert_eq!(events.kinds(), vec!["ConfigurationChanged"]);
    }

    fn entry(v: &'static [u8]) -> CacheEntry {
        CacheEntry::new(
            value_of(v),
            now(),
            None,
            vec![],
            strata_domain::EntryVersion::new(1),
        )
    }
}
