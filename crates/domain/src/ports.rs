//! The ports: traits the outer layers implement.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    CacheConfiguration, CacheEntry, CacheKey, CacheName, ConfigVersion, DomainEvent,
    InvalidationCount, KeyPattern, LeaseToken, Provenance, StoredConfiguration, Tag, Timestamp,
};

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What a [`CacheStore`] can and cannot do. The application checks these
/// flags before calling an operation, and the HTTP layer answers 422 with a
/// problem body naming the backend when a request needs a missing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreCapabilities {
    /// [`CacheStore::invalidate_pattern`] works (Memcached cannot enumerate keys).
    pub pattern_invalidation: bool,
    /// [`CacheStore::invalidate_tags`] works.
    pub tag_invalidation: bool,
    /// [`CacheStore::entries`] and [`CacheStore::entries_page`] can list
    /// every live entry (export, snapshots, migration).
    pub export: bool,
    /// [`CacheStore::len`] is exact rather than an estimate.
    pub exact_len: bool,
    /// Two stores opened for the same cache see the same data: a write
    /// through one is read through the other (Redis, Memcached, a database
    /// file or directory). Such a store can be an L2 shared by several
    /// Strata instances, and a reconfiguration keeps its data where it is:
    /// it never copies entries into the successor store and never deletes
    /// them from the old one (both are the same data). False means each
    /// opened store starts empty and holds its own entries (in-process
    /// stores); a reconfiguration then moves the entries across. The
    /// contract suite's `shared` clause checks the flag both ways.
    pub shared: bool,
}

impl StoreCapabilities {
    /// Everything an in-process store can do.
    pub const IN_PROCESS: Self = Self {
        pattern_invalidation: true,
        tag_invalidation: true,
        export: true,
        exact_len: true,
        shared: false,
    };
}

/// Whether an insert created a key or replaced one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The key was absent (or expired).
    Created,
    /// A live entry was overwritten.
    Replaced,
}

/// Counters a store keeps about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Live entries (an estimate when the store's `exact_len` is false).
    pub entries: u64,
    /// Bytes held, as summed [`CacheEntry::weight`]s.
    pub bytes: u64,
    /// Entries the eviction policy removed to make room.
    pub evictions_capacity: u64,
    /// Entries dropped because their TTL ran out.
    pub expirations: u64,
}

/// Which tier of a cache answered a read: the first tier is L1 (the memory
/// tier of a stacked cache, or the only tier), the next is L2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitTier {
    /// The first tier.
    L1,
    /// The second (shared) tier of a stacked cache.
    L2,
}

/// A read hit with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The entry.
    pub entry: CacheEntry,
    /// The tier that held it.
    pub tier: HitTier,
    /// True when the entry came from L1 while the shared tier (or the
    /// coherence channel) was unreachable: other instances' writes may not
    /// have reached it (degraded mode).
    pub possibly_stale: bool,
}

/// One tier's counters in a stacked cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierStats {
    /// The tier's name as configured (`memory`, or a backend name).
    pub tier: String,
    /// Reads this tier answered.
    pub hits: u64,
    /// Reads that reached this tier and missed it.
    pub misses: u64,
    /// The tier store's own counters (zeros when the backend cannot say).
    pub store: StoreStats,
}

/// The highest cursor [`CacheStore::entries_page`] may hand out, exclusive:
/// cursors fit in 63 bits, so a wrapper may tag them with its own bit
/// (the migrating store tells its old store's from its new store's).
pub const MAX_ENTRIES_CURSOR: u64 = 1 << 63;

/// One page of a paged enumeration ([`CacheStore::entries_page`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntriesPage {
    /// Live entries, about the `limit` asked for (possibly none even
    /// when `next` is `Some`).
    pub entries: Vec<(CacheKey, CacheEntry)>,
    /// The cursor of the next page; `None` when the enumeration is done.
    pub next: Option<u64>,
}

/// Failure of a [`CacheStore`] operation, mapped by the adapter from its
/// driver's errors (driver error types never cross this port).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached, or its circuit breaker is open;
    /// retrying later may succeed. HTTP: 503.
    #[error("backend {backend} is unavailable: {source}")]
    Unavailable {
        /// Backend name, e.g. `redis`.
        backend: String,
        /// The driver's error, with context.
        source: BoxError,
    },
    /// The backend did not answer within its timeout. HTTP: 503.
    #[error("backend {backend} timed out after {timeout_ms} ms")]
    Timeout {
        /// Backend name.
        backend: String,
        /// The timeout that elapsed, in milliseconds.
        timeout_ms: u64,
    },
    /// The backend cannot do this at all (see [`StoreCapabilities`]). HTTP: 422.
    #[error("backend {backend} does not support {operation}")]
    Unsupported {
        /// Backend name.
        backend: String,
        /// What was asked, e.g. `pattern invalidation`.
        operation: &'static str,
    },
    /// Anything else: a bug or corrupted data. HTTP: 500.
    #[error("unexpected store error: {0}")]
    Unexpected(#[source] BoxError),
}

/// The backend port: one cache's storage. Plugin authors implement this
/// trait (and a [`StoreProvider`]) and run `strata_testkit::contract`
/// against it.
///
/// A store instance serves exactly one cache; two caches on one backend get
/// two instances whose keys MUST NOT collide, and flushing one MUST leave the
/// other untouched.
///
/// Contract (the testkit suite checks each point):
/// - `get` MUST NOT return an entry whose `expires_at` has passed.
/// - `insert` MUST replace a present key, and report whether it did.
/// - Keys are compared byte for byte; values round-trip byte for byte,
///   including empty values and [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES) keys.
/// - `get_many`/`insert_many` MUST give the same results, in the same
///   order, as the single operations.
/// - An operation a store cannot perform MUST return
///   [`StoreError::Unsupported`], and its capability flag MUST be false.
/// - Methods MUST be safe to call concurrently.
#[async_trait]
pub trait CacheStore: Send + Sync + 'static {
    /// Short technology name for errors and metrics, e.g. `moka`, `redis`.
    fn backend(&self) -> &str;

    /// What this store can do.
    fn capabilities(&self) -> StoreCapabilities;

    /// Reads one entry; `Ok(None)` on a miss.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError>;

    /// Writes one entry, replacing any present one.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError>;

    /// Removes one key; `Ok(true)` when a live entry was removed.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError>;

    /// Reads one entry and says which tier answered; `Ok(None)` on a miss.
    /// The default calls [`get`](Self::get) and reports [`HitTier::L1`].
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn lookup(&self, key: &CacheKey) -> Result<Option<Lookup>, StoreError> {
        Ok(self.get(key).await?.map(|entry| Lookup {
            entry,
            tier: HitTier::L1,
            possibly_stale: false,
        }))
    }

    /// Reads one entry from the shared (last) tier, skipping in-process
    /// tiers: for a caller that must know whether another instance has
    /// written a newer value (eager refresh of `get_with_options`). A
    /// stacked store MAY copy what it finds into its first tier. The
    /// default, for single-tier stores, is [`get`](Self::get).
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get_shared(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        self.get(key).await
    }

    /// An in-process copy of `key` kept past its freshness for
    /// stale-if-error (RFC 5861): the L1 copy of a stacked store, whatever
    /// its age; the caller checks it against its window, and asks only
    /// after a read failed with [`StoreError::Unavailable`] or
    /// [`StoreError::Timeout`]. The default, for stores without such
    /// copies, has none.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn stale_copy(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let _ = key;
        Ok(None)
    }

    /// Per-tier counters of a stacked store, L1 first; empty (the default)
    /// for a single-tier store. The last tier's `store` MUST equal what
    /// [`stats`](Self::stats) returns: callers read it from here instead of
    /// asking the shared backend twice.
    ///
    /// # Errors
    /// [`StoreError`] when a tier fails to report.
    async fn tier_stats(&self) -> Result<Vec<TierStats>, StoreError> {
        Ok(Vec::new())
    }

    /// Reads several keys; the answer has one slot per key, in order.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// Writes several entries; the answer has one outcome per entry, in order.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails; entries before the failure
    /// may have been written.
    async fn insert_many(
        &self,
        entries: Vec<(CacheKey, CacheEntry)>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut out = Vec::with_capacity(entries.len());
        for (key, entry) in entries {
            out.push(self.insert(key, entry).await?);
        }
        Ok(out)
    }

    /// Removes every key matching `pattern`; returns how many were removed.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] when `pattern_invalidation` is false.
    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError>;

    /// Removes every entry carrying any of `tags`; returns how many, as an
    /// [`InvalidationCount::Exact`] count of live entries removed, or
    /// [`InvalidationCount::Uncounted`] when the store removes (hides) them
    /// without being able to count them. A store MUST NOT answer a count
    /// it does not know (such as `Exact(0)` after hiding entries).
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] when `tag_invalidation` is false.
    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError>;

    /// Removes every entry of this cache, and no other cache's.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Counters: entries, bytes, evictions, expirations.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Checks that the backend answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when it does not.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Every live entry, for export and for migrating to a new store.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] when `export` is false (the default).
    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        Err(StoreError::Unsupported {
            backend: self.backend().to_owned(),
            operation: "export",
        })
    }

    /// Keys worth fetching into L1 at the next start-up (cache warming),
    /// at most `limit`. A stacked store returns the keys its memory tier
    /// holds: the ones its eviction policy kept as the hot set. The
    /// default, for single-tier stores, is none.
    ///
    /// # Errors
    /// [`StoreError`] when the tier fails.
    async fn hot_keys(&self, limit: usize) -> Result<Vec<CacheKey>, StoreError> {
        let _ = limit;
        Ok(Vec::new())
    }

    /// How often `key` was used, as this store's eviction policy counts it
    /// (LFU's count, W-TinyLFU's sketch estimate, a CLOCK counter, SIEVE's
    /// visited bit); 0 for a key it does not hold or a store that keeps no
    /// such count (the default: every store but the in-process ones). A
    /// run-time switch reads it from the old store and hands it to the new
    /// one ([`seed_frequency`](Self::seed_frequency)). Counts no access.
    async fn frequency_hint(&self, key: &CacheKey) -> u32 {
        let _ = key;
        0
    }

    /// Takes `key`'s [`frequency_hint`](Self::frequency_hint) from the
    /// store a run-time switch leaves, before `key` is moved in: a
    /// W-TinyLFU store adds it to its frequency sketch (up to its ceiling
    /// of 15), so an entry that was hot before the switch wins admission
    /// contests against a cold one. The default ignores it.
    async fn seed_frequency(&self, key: &CacheKey, hint: u32) {
        let _ = (key, hint);
    }

    /// One page of every live entry, for export and snapshots without
    /// holding the whole cache in memory. Start with cursor `0` and pass
    /// each page's `next` until it is `None`.
    ///
    /// Contract: an entry live during the whole enumeration is returned at
    /// least once; one written or removed meanwhile may or may not be; an
    /// entry may be returned twice (a Redis `SCAN` does that), so consumers
    /// must tolerate duplicates. A page holds about `limit` entries
    /// (in-process stores at most `limit`, `0` read as 1; Redis one `SCAN`
    /// page, whose size Redis decides) and never an expired one. Cursors are
    /// opaque and only valid on the store that gave them; a backend's
    /// cursors stay below [`MAX_ENTRIES_CURSOR`] (only a wrapper over two
    /// stores, the run-time migration, sets the top bit).
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] when `export` is false (the default).
    async fn entries_page(&self, cursor: u64, limit: usize) -> Result<EntriesPage, StoreError> {
        let _ = (cursor, limit);
        Err(StoreError::Unsupported {
            backend: self.backend().to_owned(),
            operation: "export",
        })
    }
}

/// A shared handle is a store: wrappers generic over a [`CacheStore`]
/// (a resilience wrapper, say) take an `Arc<dyn CacheStore>` too. Every
/// method forwards to the pointee.
#[async_trait]
impl<T: CacheStore + ?Sized> CacheStore for Arc<T> {
    fn backend(&self) -> &str {
        (**self).backend()
    }
    fn capabilities(&self) -> StoreCapabilities {
        (**self).capabilities()
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        (**self).get(key).await
    }
    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        (**self).insert(key, entry).await
    }
    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        (**self).remove(key).await
    }
    async fn lookup(&self, key: &CacheKey) -> Result<Option<Lookup>, StoreError> {
        (**self).lookup(key).await
    }
    async fn get_shared(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        (**self).get_shared(key).await
    }
    async fn stale_copy(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        (**self).stale_copy(key).await
    }
    async fn tier_stats(&self) -> Result<Vec<TierStats>, StoreError> {
        (**self).tier_stats().await
    }
    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        (**self).get_many(keys).await
    }
    async fn insert_many(
        &self,
        entries: Vec<(CacheKey, CacheEntry)>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        (**self).insert_many(entries).await
    }
    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        (**self).invalidate_pattern(pattern).await
    }
    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        (**self).invalidate_tags(tags).await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        (**self).flush().await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        (**self).stats().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        (**self).entries().await
    }
    async fn hot_keys(&self, limit: usize) -> Result<Vec<CacheKey>, StoreError> {
        (**self).hot_keys(limit).await
    }
    async fn entries_page(&self, cursor: u64, limit: usize) -> Result<EntriesPage, StoreError> {
        (**self).entries_page(cursor, limit).await
    }
    async fn frequency_hint(&self, key: &CacheKey) -> u32 {
        (**self).frequency_hint(key).await
    }
    async fn seed_frequency(&self, key: &CacheKey, hint: u32) {
        (**self).seed_frequency(key, hint).await
    }
}

/// Why a store could not be opened for a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The configuration names a tier no backend is configured for. HTTP: 422.
    #[error("unknown tier {0:?}: no backend of that name is configured")]
    UnknownTier(String),
    /// The backend cannot serve this configuration. HTTP: 422.
    #[error("{0}")]
    Unsupported(String),
    /// The backend could not be reached. HTTP: 503.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The state of a backend's circuit breaker (see Nygard, *Release It!*,
/// "Circuit Breaker"): `Closed` lets calls through, `Open` fails them fast,
/// `HalfOpen` lets one probe through after the cool-down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls pass.
    Closed,
    /// Calls fail fast with [`StoreError::Unavailable`].
    Open,
    /// One probe call may pass.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`, as shown in `/health/ready`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// The gauge value in metrics: 0 closed, 1 half-open, 2 open.
    pub const fn gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Health of one configured shared backend, as its provider sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHealth {
    /// The backend's name in configuration (`[backends.<name>]`).
    pub name: String,
    /// Its kind: `redis`, `redis-cluster`, `memcached`, or the kind a
    /// plugin registered.
    pub kind: String,
    /// Its circuit breaker's state.
    pub circuit: CircuitState,
    /// Calls that failed with a backend error or timeout, since start.
    pub failures: u64,
    /// Calls refused fast because the breaker was open, since start.
    pub rejected: u64,
    /// Times the breaker opened, since start.
    pub opened: u64,
}

/// Opens the store that serves a cache configuration: the composition of
/// its tiers over the configured backends.
///
/// `Any` is a supertrait so that whoever made a provider can recognise it
/// again behind an `Arc<dyn StoreProvider>` (upcast to `Arc<dyn Any>`,
/// then downcast): the server opens its stock backends through the same
/// factories as plugins, and then serves the connections it recognises
/// to sessions, configuration sync and leases too. Every `'static` type
/// is `Any`: implementors write nothing for it.
#[async_trait]
pub trait StoreProvider: std::any::Any + Send + Sync + 'static {
    /// Opens a store for `config`. Opening twice gives two handles on the
    /// same data for stores whose capabilities say `shared` (see
    /// [`StoreCapabilities::shared`]), and two independent stores, the
    /// second one empty, for the others.
    ///
    /// # Errors
    /// [`ProvisionError`] when a tier is unknown or cannot serve `config`.
    async fn open(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Arc<dyn CacheStore>, ProvisionError>;

    /// Opens the leases of `config` when it has `lease_ttl` (issue 27,
    /// section 3), where its entries live: in process for a memory-only
    /// cache, in the shared backend otherwise, so that the instances
    /// sharing it share the leases. `Ok(None)` when the cache has no
    /// leases. No default: a provider that wraps another must forward it,
    /// or its caches would silently lose their leases.
    ///
    /// # Errors
    /// [`ProvisionError::Unsupported`] when the cache's last tier cannot
    /// hold leases.
    async fn open_leases(
        &self,
        config: &CacheConfiguration,
    ) -> Result<Option<Arc<dyn LeaseStore>>, ProvisionError>;

    /// The shared backends this provider has connected, sorted by name, with
    /// their circuit breakers' state. Empty when there are none (default).
    fn backends(&self) -> Vec<BackendHealth> {
        Vec::new()
    }
}

/// Failure of a [`ConfigurationRepository`].
#[derive(Debug, thiserror::Error)]
#[error("configuration repository failed: {0}")]
pub struct RepositoryError(#[source] pub BoxError);

/// The version a save or delete expects the stored configuration to be
/// at (compare-and-set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Whatever is stored (or nothing): the change applies on top of the
    /// latest version, atomically.
    Any,
    /// Nothing is stored under the name (create only).
    Absent,
    /// The stored configuration is at exactly this version.
    Exactly(ConfigVersion),
}

/// Why a save or delete of a [`ConfigurationRepository`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The stored version is not the expected one; nothing was written.
    #[error("version conflict: the stored configuration is at version {current:?}")]
    Conflict {
        /// The version stored now; `None` when nothing is stored.
        current: Option<ConfigVersion>,
    },
    /// The repository failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Where cache configurations live, each with a version the repository
/// checks on every change, so that concurrent changes (of two instances
/// sharing a repository) are ordered and the loser learns it.
#[async_trait]
pub trait ConfigurationRepository: Send + Sync + 'static {
    /// The stored configuration of `name`, if the cache exists.
    ///
    /// # Errors
    /// [`RepositoryError`] when the repository fails.
    async fn get(&self, name: &CacheName) -> Result<Option<StoredConfiguration>, RepositoryError>;
    /// Every stored configuration, sorted by name.
    ///
    /// # Errors
    /// [`RepositoryError`] when the repository fails.
    async fn list(&self) -> Result<Vec<StoredConfiguration>, RepositoryError>;
    /// Stores `config` under its name if the stored version is `expected`;
    /// the new version is one more than the stored one (1 for a new
    /// cache). Returns what was stored.
    ///
    /// # Errors
    /// [`SaveError::Conflict`] with the stored version when it is not
    /// `expected`; [`SaveError::Repository`] when the repository fails.
    async fn save(
        &self,
        config: CacheConfiguration,
        provenance: Provenance,
        expected: ExpectedVersion,
    ) -> Result<StoredConfiguration, SaveError>;
    /// Deletes the configuration of `name` if the stored version is
    /// `expected`; returns what was stored, `None` when nothing was.
    ///
    /// # Errors
    /// [`SaveError::Conflict`] when the stored version is not `expected`;
    /// [`SaveError::Repository`] when the repository fails.
    async fn delete(
        &self,
        name: &CacheName,
        expected: ExpectedVersion,
    ) -> Result<Option<StoredConfiguration>, SaveError>;
}

/// Checks `expected` against the stored `current` version; the shared
/// rule of every [`ConfigurationRepository`]. Returns the version the
/// save gets.
///
/// # Errors
/// [`SaveError::Conflict`] when they disagree.
pub fn check_expected(
    expected: ExpectedVersion,
    current: Option<ConfigVersion>,
) -> Result<ConfigVersion, SaveError> {
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::Absent => current.is_none(),
        ExpectedVersion::Exactly(v) => current == Some(v),
    };
    if ok {
        Ok(current.unwrap_or(0).saturating_add(1))
    } else {
        Err(SaveError::Conflict { current })
    }
}

/// Where domain events go. `publish` MUST NOT block: it is called on the
/// request path and from eviction listeners.
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes one event.
    fn publish(&self, event: DomainEvent);
}

/// The source of wall-clock time. Tests substitute a fake.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// Turns a presented [`Credential`](crate::Credential) into the
/// [`Principal`](crate::Principal) it proves. Implementations MUST compare
/// secrets in constant time and MUST NOT put a secret in an error or a log.
pub trait Authenticator: Send + Sync + 'static {
    /// Who `credential` proves the caller to be.
    ///
    /// # Errors
    /// [`AuthError::Invalid`](crate::AuthError::Invalid) when the credential
    /// is malformed or matches no configured identity.
    fn authenticate(
        &self,
        credential: &crate::Credential,
    ) -> Result<crate::Principal, crate::AuthError>;

    /// When what `credential` proves stops holding: a JWT's `exp`; `None`
    /// for a credential without an expiry (an API key) or one
    /// [`authenticate`](Self::authenticate) refuses. A console session
    /// started from `credential` ends then at the latest.
    fn expires_at(&self, credential: &crate::Credential) -> Option<crate::Timestamp> {
        let _ = credential;
        None
    }
}

/// The answer to [`LeaseStore::acquire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseGrant {
    /// The caller holds the key's lease until it fills the key or the
    /// lease runs out.
    Granted(LeaseToken),
    /// Another client holds the lease; it ends in `remaining` at the latest.
    Pending {
        /// Time left on the other client's lease.
        remaining: Duration,
    },
}

/// The leases of one cache. The token lives where the entry lives: in
/// process for a memory-only cache, in Redis for a cache whose last tier
/// is Redis, so that instances sharing it share the leases.
///
/// Invalidation: [`revoke`](Self::revoke) ends one key's lease (a delete,
/// an invalidation by key or a write without a token),
/// [`revoke_all`](Self::revoke_all) every lease of the cache (a pattern or
/// tag invalidation, a flush). A revoked token never completes.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Gives `key`'s lease to the caller for `ttl`, unless another lease on
    /// it is live.
    ///
    /// # Errors
    /// [`StoreError`] when the backend holding the leases fails.
    async fn acquire(&self, key: &CacheKey, ttl: Duration) -> Result<LeaseGrant, StoreError>;

    /// Whether `token` is still `key`'s live lease.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn holds(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError>;

    /// Ends `key`'s lease if it is still `token`; `Ok(true)` when it was
    /// (the fill stands), `Ok(false)` when it had been revoked or had run
    /// out.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn complete(&self, key: &CacheKey, token: &LeaseToken) -> Result<bool, StoreError>;

    /// Ends `key`'s lease, whoever holds it.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn revoke(&self, key: &CacheKey) -> Result<(), StoreError>;

    /// Ends every lease of the cache.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn revoke_all(&self) -> Result<(), StoreError>;
}
