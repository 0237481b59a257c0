use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use strata_domain::{
    CacheConfiguration, CacheName, CacheStore, ConfigOrigin, ConfigVersion, EntryLifetimes,
    LeaseStore, LifetimeCounts, MrcAnalyzer, Principal, Provenance, Role, Timestamp,
};

/// Request counters of one cache, kept by the application so they are the
/// same whatever the backend. They survive reconfiguration.
#[derive(Debug)]
pub struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    updates: AtomicU64,
    removals: AtomicU64,
    /// What the trends sample (requests, latency, bytes, ...).
    traffic: TrafficCounters,
    /// The sampled requests the usage report is made of.
    usage: std::sync::Mutex<UsageSample>,
    /// Samples dropped because another request held `usage`.
    usage_dropped: AtomicU64,
    /// Writes seen by the compression probe (one in
    /// [`strata_domain::PROBE_EVERY_WRITES`] is probed).
    probe_ticks: AtomicU64,
    /// The usage report's entry lifetimes (TTLs, one-hit wonders) of a
    /// spatial sample of keys.
    lifetimes: std::sync::Mutex<EntryLifetimes>,
    /// `lifetimes`' threshold, read without its lock: a key whose hash is
    /// above it is not followed.
    lifetime_threshold: AtomicU64,
}

/// The usage report's sample of one cache: hot keys by Space-Saving,
/// key and value sizes.
#[derive(Clone, Debug)]
pub struct UsageSample {
    /// Reads by key (Space-Saving, [`strata_domain::HOT_KEY_COUNTERS`]
    /// counters).
    pub hot_keys: strata_domain::SpaceSaving,
    /// Sizes of the sampled keys, reads and writes.
    pub key_sizes: strata_domain::SizeHistogram,
    /// Sizes of the values of sampled hits and writes.
    pub value_sizes: strata_domain::SizeHistogram,
    /// Sampled reads.
    pub reads: u64,
    /// Sampled writes.
    pub writes: u64,
    /// How well sampled values compress (for the compression
    /// recommendation).
    pub compressibility: strata_domain::CompressibilitySample,
}

impl Default for UsageSample {
    fn default() -> Self {
        Self {
            hot_keys: strata_domain::SpaceSaving::new(strata_domain::HOT_KEY_COUNTERS),
            key_sizes: Default::default(),
            value_sizes: Default::default(),
            reads: 0,
            writes: 0,
            compressibility: Default::default(),
        }
    }
}

impl Default for CacheCounters {
    fn default() -> Self {
        Self {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            updates: AtomicU64::new(0),
            removals: AtomicU64::new(0),
            traffic: TrafficCounters::default(),
            usage: Default::default(),
            usage_dropped: AtomicU64::new(0),
            probe_ticks: AtomicU64::new(0),
            lifetimes: Default::default(),
            lifetime_threshold: AtomicU64::new(u64::MAX),
        }
    }
}

/// The counters only the trends read: requests as the HTTP face saw them,
/// their latency histogram, bytes, flushes and stale answers.
#[derive(Debug)]
struct TrafficCounters {
    errors: AtomicU64,
    stale: AtomicU64,
    flushes: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    latency: [AtomicU64; strata_domain::LATENCY_BUCKETS],
}

impl Default for TrafficCounters {
    fn default() -> Self {
        Self {
            errors: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A copy of [`CacheCounters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found none.
    pub misses: u64,
    /// Writes that created a key.
    pub inserts: u64,
    /// Writes that replaced a key.
    pub updates: u64,
    /// Entries removed by delete or invalidation.
    pub removals: u64,
}

impl CacheCounters {
    pub(crate) fn hit(&self, n: u64) {
        self.hits.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn miss(&self, n: u64) {
        self.misses.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn inserted(&self, created: bool) {
        if created {
            self.inserts.fetch_add(1, Ordering::Relaxed);
        } else {
            self.updates.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(crate) fn removed(&self, n: u64) {
        self.removals.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one request on the cache's entries, as a face answered it:
    /// its latency, whether it failed on the server's side (5xx), and the
    /// value bytes it sent (`bytes_read`) and received (`bytes_written`).
    /// The trends read these; they cost a few relaxed atomic adds.
    pub fn record_request(
        &self,
        elapsed: std::time::Duration,
        server_error: bool,
        bytes_read: u64,
        bytes_written: u64,
    ) {
        let t = &self.traffic;
        // Requests are the histogram's total: one add fewer per request.
        if server_error {
            t.errors.fetch_add(1, Ordering::Relaxed);
        }
        if bytes_read > 0 {
            t.bytes_read.fetch_add(bytes_read, Ordering::Relaxed);
        }
        if bytes_written > 0 {
            t.bytes_written.fetch_add(bytes_written, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        t.latency[strata_domain::latency_bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a sampled read of `key` to the usage report (the caller
    /// samples: each request with the same probability); `value_bytes` is
    /// the value's size on a hit. Never waits: when another request holds
    /// the sample, this one is dropped (and counted).
    pub fn sample_read(&self, key: &str, value_bytes: Option<u64>) {
        let Ok(mut usage) = self.usage.try_lock() else {
            self.usage_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        usage.reads += 1;
        usage.hot_keys.offer(key);
        usage.key_sizes.record(key.len() as u64);
        if let Some(bytes) = value_bytes {
            usage.value_sizes.record(bytes);
        }
    }

    /// Adds a sampled write of a `value_bytes` value under `key` to the
    /// usage report, as [`CacheCounters::sample_read`] does.
    pub fn sample_write(&self, key: &str, value_bytes: u64) {
        let Ok(mut usage) = self.usage.try_lock() else {
            self.usage_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        usage.writes += 1;
        usage.key_sizes.record(key.len() as u64);
        usage.value_sizes.record(value_bytes);
    }

    /// Whether this write's value is to be probed for compressibility:
    /// one write in [`strata_domain::PROBE_EVERY_WRITES`].
    pub(crate) fn probe_due(&self) -> bool {
        self.probe_ticks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(strata_domain::PROBE_EVERY_WRITES)
    }

    /// Adds a probe of a `len`-byte value that compressed to
    /// `compressed` bytes; dropped when another request holds the sample.
    pub(crate) fn record_probe(&self, len: usize, compressed: usize) {
        if let Ok(mut usage) = self.usage.try_lock() {
            usage.compressibility.record(len, compressed);
        }
    }

    /// Follows a write of `key` at `now`, expiring at `expires`, in the
    /// entry lifetimes when its hash is sampled (a hash and a load
    /// otherwise).
    pub(crate) fn track_write(&self, key: &str, now: Timestamp, expires: Option<Timestamp>) {
        self.track(key, |l, hash| {
            l.write(hash, now.as_millis(), expires.map(Timestamp::as_millis));
        });
    }

    /// Follows a read of `key` at `now` (`hit`: it found a live entry) in
    /// the entry lifetimes when its hash is sampled.
    pub(crate) fn track_read(&self, key: &str, now: Timestamp, hit: bool) {
        self.track(key, |l, hash| l.read(hash, now.as_millis(), hit));
    }

    fn track(&self, key: &str, f: impl FnOnce(&mut EntryLifetimes, u64)) {
        use std::hash::BuildHasher;
        // SipHash with fixed keys: the same key is followed in every run.
        let hash =
            std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(key);
        if !EntryLifetimes::follows(self.lifetime_threshold.load(Ordering::Relaxed), hash) {
            return;
        }
        // Not `try_lock`: a lost read would make a read entry look unread.
        // The lock is held for a map operation (and, rarely, a halving).
        let mut lifetimes = self.lifetimes.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut lifetimes, hash);
        self.lifetime_threshold
            .store(lifetimes.threshold(), Ordering::Relaxed);
    }

    /// The entry lifetimes at `now` (lives past their expiry counted as
    /// expired): the counts, the share of keys followed, and the bytes
    /// the followed keys take.
    pub(crate) fn lifetimes(&self, now: Timestamp) -> (LifetimeCounts, f64, usize) {
        let mut lifetimes = self.lifetimes.lock().unwrap_or_else(|e| e.into_inner());
        lifetimes.settle(now.as_millis());
        (
            lifetimes.counts().clone(),
            lifetimes.sampling_rate(),
            lifetimes.memory_bytes(),
        )
    }

    /// A copy of the usage sample and the samples dropped.
    pub(crate) fn usage(&self) -> (UsageSample, u64) {
        let usage = self.usage.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (usage, self.usage_dropped.load(Ordering::Relaxed))
    }

    /// Counts `n` answers served stale (past their TTL, by a stale rule).
    pub fn served_stale(&self, n: u64) {
        self.traffic.stale.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn flushed(&self) {
        self.traffic.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// The cumulative counters the trends sample, with the store's
    /// `evictions` and `expirations`.
    pub(crate) fn trend_totals(
        &self,
        evictions: u64,
        expirations: u64,
    ) -> strata_domain::TrendTotals {
        let t = &self.traffic;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let latency: Vec<u64> = t.latency.iter().map(load).collect();
        strata_domain::TrendTotals {
            requests: latency.iter().sum(),
            hits: load(&self.hits),
            misses: load(&self.misses),
            evictions,
            expirations,
            errors: load(&t.errors),
            stale: load(&t.stale),
            flushes: load(&t.flushes),
            bytes_read: load(&t.bytes_read),
            bytes_written: load(&t.bytes_written),
            latency,
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            inserts: self.inserts.load(Ordering::Relaxed),
            updates: self.updates.load(Ordering::Relaxed),
            removals: self.removals.load(Ordering::Relaxed),
        }
    }
}

/// What the stores a cache no longer serves from had counted when they
/// were retired (by a policy switch or another change that opens a new
/// store): added to the current store's own counters, so the evictions and
/// expirations a cache reports never go back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetiredCounts {
    /// Entries the retired stores evicted to make room.
    pub evictions_capacity: u64,
    /// Entries the retired stores dropped at their TTL.
    pub expirations: u64,
}

impl RetiredCounts {
    /// These counts plus what `stats` says a store being retired counted.
    pub(crate) fn plus(self, stats: &strata_domain::StoreStats) -> Self {
        Self {
            evictions_capacity: self.evictions_capacity + stats.evictions_capacity,
            expirations: self.expirations + stats.expirations,
        }
    }
}

/// A cache that is open: its configuration, its store and its counters.
pub struct LiveCache {
    config: CacheConfiguration,
    store: Arc<dyn CacheStore>,
    counters: Arc<CacheCounters>,
    retired: RetiredCounts,
    analyzer: Option<Arc<dyn MrcAnalyzer>>,
    leases: Option<Arc<dyn LeaseStore>>,
    version: ConfigVersion,
    provenance: Provenance,
    /// Set once the registry serves another `LiveCache` under this name
    /// (or none): a write that took this one may have to follow the swap.
    replaced: AtomicBool,
}

impl LiveCache {
    pub(crate) fn new(
        config: CacheConfiguration,
        store: Arc<dyn CacheStore>,
        counters: Arc<CacheCounters>,
    ) -> Self {
        Self {
            config,
            store,
            counters,
            retired: RetiredCounts::default(),
            analyzer: None,
            leases: None,
            version: 0,
            provenance: Provenance::new(ConfigOrigin::Runtime, []),
            replaced: AtomicBool::new(false),
        }
    }

    /// Whether the registry has served another cache under this name since
    /// this one was read (a reconfiguration swapped it, or it was deleted).
    /// Set before the replacement's migration lists the old store.
    pub(crate) fn replaced(&self) -> bool {
        self.replaced.load(Ordering::Acquire)
    }

    /// The same cache, at repository `version` with `provenance`.
    pub(crate) fn stored(mut self, version: ConfigVersion, provenance: Provenance) -> Self {
        self.version = version;
        self.provenance = provenance;
        self
    }

    /// The version of the configuration in force (as the repository
    /// numbered it; 0 before it was saved).
    pub fn version(&self) -> ConfigVersion {
        self.version
    }

    /// Who set the configuration in force, and which settings they named.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// The same cache, whose earlier stores counted `retired`.
    pub(crate) fn retired(mut self, retired: RetiredCounts) -> Self {
        self.retired = retired;
        self
    }

    /// What the stores this cache served from before its current one
    /// counted (zeros until a change opens a new store).
    pub fn retired_counts(&self) -> RetiredCounts {
        self.retired
    }

    /// The same cache, analysed by `analyzer`.
    pub(crate) fn analyzed(mut self, analyzer: Option<Arc<dyn MrcAnalyzer>>) -> Self {
        self.analyzer = analyzer;
        self
    }

    /// The same cache, with `leases` (its `lease_ttl` is on).
    pub(crate) fn leased(mut self, leases: Option<Arc<dyn LeaseStore>>) -> Self {
        self.leases = leases;
        self
    }

    /// The cache's leases, when its `lease_ttl` is on.
    pub fn leases(&self) -> Option<&Arc<dyn LeaseStore>> {
        self.leases.as_ref()
    }

    /// The cache's miss-ratio-curve analyzer, if it is analysed.
    pub fn analyzer(&self) -> Option<&Arc<dyn MrcAnalyzer>> {
        self.analyzer.as_ref()
    }

    /// The cache's configuration.
    pub fn config(&self) -> &CacheConfiguration {
        &self.config
    }
    /// The store serving the cache.
    pub fn store(&self) -> &Arc<dyn CacheStore> {
        &self.store
    }
    /// The cache's request counters.
    pub fn counters(&self) -> &Arc<CacheCounters> {
        &self.counters
    }
}

/// Why a principal may not use a cache: the answer of
/// [`CacheRegistry::authorize`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No cache has this name. HTTP: 404.
    #[error("cache {0} does not exist")]
    CacheNotFound(CacheName),
    /// The principal holds no grant of the role the operation needs on
    /// this cache name (whether or not the cache exists). HTTP: 403.
    #[error("{principal} lacks the {} role on this cache", role.as_str())]
    Forbidden {
        /// Who asked.
        principal: String,
        /// The role needed.
        role: Role,
    },
    /// The cache has `confirm_destructive` on and the operation (a flush,
    /// a delete of the cache, an invalidation by pattern or tags) did not
    /// name it in `confirm`. HTTP: 428 `confirmation_required`.
    #[error("cache {0} has confirm_destructive on: repeat the request with confirm={0}")]
    ConfirmationRequired(CacheName),
}

/// The open caches, by name. Reads take a shared lock and clone an `Arc`;
/// configuration changes swap whole [`LiveCache`]s.
#[derive(Default)]
pub struct CacheRegistry {
    caches: RwLock<HashMap<CacheName, Arc<LiveCache>>>,
    /// Bumped by every replace and remove, so a face that keeps copies of
    /// caches' counters knows when to drop them.
    generation: AtomicU64,
}

impl CacheRegistry {
    /// Opens the cache `name` for `principal`: the open cache, if it exists
    /// and `principal` may act in `role` on it ([`Principal::may`]).
    ///
    /// Existence hiding: the grant is checked first, against the name
    /// alone. A principal with no grant for `role` on `name` gets
    /// [`AccessError::Forbidden`] whether or not the cache exists; only a
    /// granted principal learns [`AccessError::CacheNotFound`]. So nobody
    /// can probe which caches exist outside their grants.
    ///
    /// # Errors
    /// [`AccessError::Forbidden`] or [`AccessError::CacheNotFound`].
    pub fn authorize(
        &self,
        name: &CacheName,
        principal: &Principal,
        role: Role,
    ) -> Result<Arc<LiveCache>, AccessError> {
        check_role(principal, role, name)?;
        self.get(name)
            .ok_or_else(|| AccessError::CacheNotFound(name.clone()))
    }

    /// The open cache `name`, without an authorization check.
    pub fn get(&self, name: &CacheName) -> Option<Arc<LiveCache>> {
        self.caches
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every open cache, sorted by name.
    pub fn all(&self) -> Vec<Arc<LiveCache>> {
        let mut all: Vec<_> = self
            .caches
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.config.name().cmp(b.config.name()));
        all
    }

    /// A number that changes whenever a cache is created, reconfigured or
    /// deleted: what was read from the registry under an older one may be
    /// stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn replace(&self, cache: LiveCache) -> Option<Arc<LiveCache>> {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let name = cache.config.name().clone();
        let previous = self
            .caches
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, Arc::new(cache));
        if let Some(previous) = &previous {
            previous.replaced.store(true, Ordering::Release);
        }
        previous
    }

    pub(crate) fn remove(&self, name: &CacheName) -> Option<Arc<LiveCache>> {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let removed = self
            .caches
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        if let Some(removed) = &removed {
            removed.replaced.store(true, Ordering::Release);
        }
        removed
    }
}

/// Checks that a destructive operation on `cache` carries the
/// confirmation its `confirm_destructive` setting asks for: `confirm`
/// equal to the cache's name. Caches without the setting need none.
///
/// # Errors
/// [`AccessError::ConfirmationRequired`] when it is missing or names
/// another cache.
pub(crate) fn check_confirmation(
    cache: &LiveCache,
    confirm: Option<&str>,
) -> Result<(), AccessError> {
    let name = cache.config().name();
    if !cache.config().confirm_destructive() || confirm == Some(name.as_str()) {
        Ok(())
    } else {
        Err(AccessError::ConfirmationRequired(name.clone()))
    }
}

/// Checks that `principal` may act in `role` on the cache `name`, whether
/// or not that cache exists.
///
/// # Errors
/// [`AccessError::Forbidden`] when it may not.
pub(crate) fn check_role(
    principal: &Principal,
    role: Role,
    name: &CacheName,
) -> Result<(), AccessError> {
    if principal.may(role, name) {
        Ok(())
    } else {
        Err(AccessError::Forbidden {
            principal: principal.to_string(),
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    fn registry_with(names: &[&str]) -> CacheRegistry {
        let registry = CacheRegistry::default();
        for n in names {
            registry.replace(LiveCache::new(
                config(n, None, 10),
                Arc::new(MockStore::new()),
                Arc::default(),
            ));
        }
        registry
    }

    #[test]
    fn no_grant_is_forbidden_whether_or_not_the_cache_exists() {
        let registry = registry_with(&["secret"]);
        let outsider = principal(vec![grant("build-*", Role::Admin)]);
        for cache in ["secret", "missing"] {
            assert!(matches!(
                registry.authorize(&name(cache), &outsider, Role::Reader),
                Err(AccessError::Forbidden { .. })
            ));
        }
    }

    #[test]
    fn only_a_granted_principal_learns_the_cache_is_missing() {
        let registry = registry_with(&["build-a"]);
        let p = principal(vec![grant("build-*", Role::Reader)]);
        assert!(
            registry
                .authorize(&name("build-a"), &p, Role::Reader)
                .is_ok()
        );
        assert!(matches!(
            registry.authorize(&name("build-b"), &p, Role::Reader),
            Err(AccessError::CacheNotFound(_))
        ));
        assert!(matches!(
            registry.authorize(&name("build-a"), &p, Role::Writer),
            Err(AccessError::Forbidden { .. })
        ));
    }

    #[test]
    fn the_union_of_grants_decides_and_cas_writer_does_not_write() {
        let registry = registry_with(&["ac", "cas"]);
        let p = principal(vec![
            grant("ac", Role::CasWriter),
            grant("cas", Role::Admin),
        ]);
        assert!(registry.authorize(&name("ac"), &p, Role::Reader).is_ok());
        assert!(registry.authorize(&name("ac"), &p, Role::CasWriter).is_ok());
        assert!(registry.authorize(&name("ac"), &p, Role::Writer).is_err());
        assert!(registry.authorize(&name("cas"), &p, Role::Admin).is_ok());
    }

    #[test]
    fn admin_on_one_name_cannot_configure_another() {
        let p = principal(vec![grant("build-*", Role::Admin)]);
        assert!(check_role(&p, Role::Admin, &name("build-x")).is_ok());
        assert!(check_role(&p, Role::Admin, &name("sessions")).is_err());
    }
}
