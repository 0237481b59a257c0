//! The backend contract suite: every behavioural test of the
//! [`CacheStore`] port, one clause at a time.
//!
//! A plugin author writes one line in a test file, and gets one `#[test]`
//! per clause, so every broken clause shows at once:
//!
//! ```no_run
//! use std::sync::Arc;
//! use strata_domain::{CacheName, CacheStore, Clock};
//! # struct MyStore;
//! # impl MyStore { fn open(_: CacheName, _: Arc<dyn Clock>) -> Arc<dyn CacheStore> { unimplemented!() } }
//!
//! mod my_store_contract {
//!     use super::*;
//!     // The factory gets a fresh, unique cache name per clause (some
//!     // clauses ask for the same name twice) and the clock to read.
//!     strata_testkit::store_contract!(|name: CacheName, clock: Arc<dyn Clock>| async move {
//!         MyStore::open(name, clock)
//!     });
//! }
//! ```
//!
//! Expiry is checked one of two ways:
//! - a store that takes the [`Clock`] from its factory
//!   ([`Contract::on_clock`], the macro's default form) is checked
//!   *exactly*: the suite moves a [`ManualClock`] to an entry's
//!   `expires_at`, and the entry must be gone at that millisecond and
//!   present one millisecond before;
//! - a store whose server expires keys itself (Redis, Memcached:
//!   [`Contract::server_expiry`], `store_contract!(server: factory)`)
//!   is checked on the wall clock: an entry with a 1 s TTL must be gone by
//!   TTL + 1 s, polled.
//!
//! The clauses ([`Clause`]) are listed with what they check in
//! [`Clause::ALL`]. Stores of different names may share one backend: that
//! is what the isolation clauses test. A failing clause panics with a
//! message starting `[contract: <clause>]`. Clauses that depend on a
//! capability ([`StoreCapabilities`]) check the operation when the flag
//! is true, and that it answers [`StoreError::Unsupported`] naming the
//! backend when it is false. Waiting (server expiry, eventually
//! consistent counters) polls with a deadline; nothing asserts how long an
//! operation takes.
//!
//! [`StoreCapabilities`]: strata_domain::StoreCapabilities
//! [`StoreError::Unsupported`]: strata_domain::StoreError::Unsupported

mod basic;
mod expiry;
mod sharing;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::{FutureExt, LocalBoxFuture};
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, Clock, ContentType, EntryVersion,
    StoreError, Tag, Timestamp,
};

use crate::ManualClock;

/// How long counters may take to catch up.
const STATS_DEADLINE: Duration = Duration::from_secs(5);
/// Pause between polls.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// One clause of the contract. [`Clause::name`] is the name failures
/// carry (`[contract: <name>]`) and, with `-` read as `_`, the name of the
/// test [`store_contract!`](crate::store_contract) generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clause {
    /// `ping` answers and `backend()` names the technology.
    Ping,
    /// Values, content types, tags, timestamps and versions round-trip;
    /// 250-byte and non-ASCII keys are compared byte for byte.
    RoundTrip,
    /// A key never written misses.
    Miss,
    /// `remove` answers true for a live key, false for an absent one.
    Remove,
    /// `insert` answers `Created`, then `Replaced`; the last write wins.
    Overwrite,
    /// An entry already expired at insert is never returned, and hides an
    /// older live value.
    ExpiredAtInsert,
    /// Expiry: exact on the injected clock, or by TTL + 1 s on a server.
    TtlExpiry,
    /// `insert` over an expired entry answers `Created`.
    InsertOverExpired,
    /// `remove` of an expired entry answers false.
    RemoveExpired,
    /// `stats().entries` does not count expired entries (exact stores).
    ExpiredStats,
    /// `entries()` does not list expired entries.
    ExpiredEntries,
    /// `entries_page()` does not list expired entries.
    ExpiredPages,
    /// `invalidate_tags` does not count expired entries.
    ExpiredTags,
    /// `get_many`/`insert_many` equal the single calls, in order.
    Batches,
    /// Pattern invalidation follows Redis glob semantics by character.
    Pattern,
    /// Tag invalidation removes what still carries the tag, and counts it.
    Tags,
    /// `flush` empties one cache and no other.
    Flush,
    /// `stats().entries` counts live entries.
    Stats,
    /// `entries()` and `entries_page()` list every live entry.
    Export,
    /// Concurrent writers: every key holds its last value.
    Concurrency,
    /// A cache's store opened again works, and finds the old data exactly
    /// when the store is `shared`.
    Reopen,
    /// `shared` tells the truth: two stores opened for one cache see each
    /// other's writes when it is true, and do not when it is false.
    Shared,
    /// Errors are mapped: `Unsupported` names the backend; a store whose
    /// backend cannot be reached ([`Contract::unreachable`]) answers
    /// `Unavailable` or `Timeout`, never `Unexpected`, within a deadline.
    Errors,
}

impl Clause {
    /// Every clause, in the order [`Contract::check_all`] runs them.
    pub const ALL: [Self; 23] = [
        Self::Ping,
        Self::RoundTrip,
        Self::Miss,
        Self::Remove,
        Self::Overwrite,
        Self::ExpiredAtInsert,
        Self::TtlExpiry,
        Self::InsertOverExpired,
        Self::RemoveExpired,
        Self::ExpiredStats,
        Self::ExpiredEntries,
        Self::ExpiredPages,
        Self::ExpiredTags,
        Self::Batches,
        Self::Pattern,
        Self::Tags,
        Self::Flush,
        Self::Stats,
        Self::Export,
        Self::Concurrency,
        Self::Reopen,
        Self::Shared,
        Self::Errors,
    ];

    /// The clause's name in failures, e.g. `insert-over-expired`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::RoundTrip => "round-trip",
            Self::Miss => "miss",
            Self::Remove => "remove",
            Self::Overwrite => "overwrite",
            Self::ExpiredAtInsert => "expired-at-insert",
            Self::TtlExpiry => "ttl-expiry",
            Self::InsertOverExpired => "insert-over-expired",
            Self::RemoveExpired => "remove-expired",
            Self::ExpiredStats => "expired-stats",
            Self::ExpiredEntries => "expired-entries",
            Self::ExpiredPages => "expired-pages",
            Self::ExpiredTags => "expired-tags",
            Self::Batches => "batches",
            Self::Pattern => "pattern",
            Self::Tags => "tags",
            Self::Flush => "flush",
            Self::Stats => "stats",
            Self::Export => "export",
            Self::Concurrency => "concurrency",
            Self::Reopen => "reopen",
            Self::Shared => "shared",
            Self::Errors => "errors",
        }
    }

    /// The clause named `name` (`-` and `_` alike); `None` for no clause.
    pub fn parse(name: &str) -> Option<Self> {
        let wanted = name.replace('_', "-");
        Self::ALL.into_iter().find(|c| c.name() == wanted)
    }
}

type Factory<'f> =
    Box<dyn Fn(CacheName, Arc<dyn Clock>) -> LocalBoxFuture<'f, Arc<dyn CacheStore>> + 'f>;

type NameFactory<'f> = Box<dyn Fn(CacheName) -> LocalBoxFuture<'f, Arc<dyn CacheStore>> + 'f>;

/// How the suite tells time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timing {
    /// The store reads the clock its factory gets: expiry is exact.
    Injected,
    /// The store's server expires keys: wall clock, TTL + 1 s, polled.
    Server,
}

/// A store factory and how to check it: build with
/// [`on_clock`](Self::on_clock) or [`server_expiry`](Self::server_expiry),
/// then run [`check`](Self::check) per clause (what
/// [`store_contract!`](crate::store_contract) generates) or
/// [`check_all`](Self::check_all).
pub struct Contract<'f> {
    factory: Factory<'f>,
    timing: Timing,
    unreachable: Option<NameFactory<'f>>,
}

impl<'f> Contract<'f> {
    /// A contract for stores that read the [`Clock`] they are given:
    /// `factory(name, clock)` returns the store of cache `name`. Expiry is
    /// checked exactly on a [`ManualClock`] the suite moves.
    pub fn on_clock<F, Fut>(factory: F) -> Self
    where
        F: Fn(CacheName, Arc<dyn Clock>) -> Fut + 'f,
        Fut: Future<Output = Arc<dyn CacheStore>> + 'f,
    {
        Self {
            factory: Box::new(move |name, clock| factory(name, clock).boxed_local()),
            timing: Timing::Injected,
            unreachable: None,
        }
    }

    /// A contract for stores whose server expires keys itself (and which
    /// read the wall clock): `factory(name)` returns the store of cache
    /// `name`. An entry must be gone by its TTL + 1 s, polled.
    pub fn server_expiry<F, Fut>(factory: F) -> Self
    where
        F: Fn(CacheName) -> Fut + 'f,
        Fut: Future<Output = Arc<dyn CacheStore>> + 'f,
    {
        Self {
            factory: Box::new(move |name, _clock| factory(name).boxed_local()),
            timing: Timing::Server,
            unreachable: None,
        }
    }

    /// Also checks error mapping against stores whose backend cannot be
    /// reached (a closed port, a missing directory): `factory(name)`
    /// returns such a store, whose `ping`, `get` and `insert` must answer
    /// `Unavailable` or `Timeout` within 10 s.
    pub fn unreachable<F, Fut>(mut self, factory: F) -> Self
    where
        F: Fn(CacheName) -> Fut + 'f,
        Fut: Future<Output = Arc<dyn CacheStore>> + 'f,
    {
        self.unreachable = Some(Box::new(move |name| factory(name).boxed_local()));
        self
    }

    /// Runs one clause.
    ///
    /// # Panics
    /// When the store breaks the clause, with a message starting
    /// `[contract: <clause>]`.
    pub async fn check(&self, clause: Clause) {
        let clock = Arc::new(ManualClock::starting_now());
        let suite = Suite {
            contract: self,
            run: next_run_id(),
            manual: (self.timing == Timing::Injected).then(|| clock.clone()),
            clock: match self.timing {
                Timing::Injected => clock,
                Timing::Server => Arc::new(WallClock),
            },
        };
        match clause {
            Clause::Ping => suite.ping_and_capabilities().await,
            Clause::RoundTrip => suite.round_trip().await,
            Clause::Miss => suite.miss().await,
            Clause::Remove => suite.remove().await,
            Clause::Overwrite => suite.overwrite().await,
            Clause::ExpiredAtInsert => suite.expired_at_insert().await,
            Clause::TtlExpiry => suite.ttl_expiry().await,
            Clause::InsertOverExpired => suite.insert_over_expired().await,
            Clause::RemoveExpired => suite.remove_expired().await,
            Clause::ExpiredStats => suite.expired_stats().await,
            Clause::ExpiredEntries => suite.expired_entries().await,
            Clause::ExpiredPages => suite.expired_pages().await,
            Clause::ExpiredTags => suite.expired_tags().await,
            Clause::Batches => suite.batches().await,
            Clause::Pattern => suite.pattern_invalidation().await,
            Clause::Tags => suite.tag_invalidation().await,
            Clause::Flush => suite.flush_isolation().await,
            Clause::Stats => suite.stats().await,
            Clause::Export => suite.export().await,
            Clause::Concurrency => suite.concurrent_writers().await,
            Clause::Reopen => suite.reopen().await,
            Clause::Shared => suite.shared().await,
            Clause::Errors => suite.errors().await,
        }
    }

    /// Runs every clause, one after the other, stopping at the first
    /// broken one (prefer [`store_contract!`](crate::store_contract), which
    /// reports them all).
    ///
    /// # Panics
    /// As [`check`](Self::check).
    pub async fn check_all(&self) {
        for clause in Clause::ALL {
            self.check(clause).await;
        }
    }

    /// Runs `clause` on a fresh two-worker tokio runtime: the body of each
    /// test [`store_contract!`](crate::store_contract) generates.
    ///
    /// # Panics
    /// As [`check`](Self::check), and when the runtime cannot start.
    pub fn check_blocking(&self, clause: &str) {
        let Some(clause) = Clause::parse(clause) else {
            panic!("[contract] no clause named {clause:?}");
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("[contract] cannot start a tokio runtime: {e}"));
        runtime.block_on(self.check(clause));
    }
}

/// Expands to one `#[test]` per [`Clause`], each named after it
/// (`round_trip`, `insert_over_expired`, ...): call it inside a `mod`.
///
/// - `store_contract!(factory)`: `factory(name: CacheName, clock:
///   Arc<dyn Clock>)` returns the store; expiry is exact on the clock
///   ([`Contract::on_clock`]).
/// - `store_contract!(server: factory)`: `factory(name: CacheName)`;
///   expiry by TTL + 1 s ([`Contract::server_expiry`]).
/// - `store_contract!(contract: expr)`: any [`Contract`] expression (for
///   [`Contract::unreachable`]), evaluated in each test.
///
/// The test functions need nothing but this crate: each builds its own
/// tokio runtime.
#[macro_export]
macro_rules! store_contract {
    (server: $factory:expr) => {
        $crate::store_contract!(contract: $crate::contract::Contract::server_expiry($factory));
    };
    (contract: $contract:expr) => {
        $crate::store_contract!(@each $contract;
            ping, round_trip, miss, remove, overwrite, expired_at_insert, ttl_expiry,
            insert_over_expired, remove_expired, expired_stats, expired_entries, expired_pages,
            expired_tags, batches, pattern, tags, flush, stats, export, concurrency, reopen,
            shared, errors);
    };
    (@each $contract:expr; $($clause:ident),* $(,)?) => {
        $(
            #[test]
            fn $clause() {
                let contract = $contract;
                contract.check_blocking(stringify!($clause));
            }
        )*
    };
    ($factory:expr) => {
        $crate::store_contract!(contract: $crate::contract::Contract::on_clock($factory));
    };
}

/// Runs every clause against stores made by `factory(name)`, checking
/// expiry on the wall clock by TTL + 1 s ([`Contract::server_expiry`]),
/// stopping at the first broken clause. Kept for callers of the first
/// suite; new tests use [`store_contract!`](crate::store_contract).
///
/// # Panics
/// On the first clause the store breaks, with a message naming it; also
/// when the store returns an error where the contract expects success.
pub async fn run_store_contract<F, Fut>(factory: F)
where
    F: Fn(CacheName) -> Fut,
    Fut: Future<Output = Arc<dyn CacheStore>>,
{
    Contract::server_expiry(factory).check_all().await;
}

/// [`run_store_contract`] for stores that read the clock they are given:
/// expiry is checked exactly ([`Contract::on_clock`]).
///
/// # Panics
/// As [`run_store_contract`].
pub async fn run_store_contract_on_clock<F, Fut>(factory: F)
where
    F: Fn(CacheName, Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn CacheStore>>,
{
    Contract::on_clock(factory).check_all().await;
}

/// The system clock, for stores checked by server expiry.
struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }
}

fn next_run_id() -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

fn key(s: &str) -> CacheKey {
    CacheKey::parse(s).unwrap_or_else(|e| panic!("test key {s:?} is invalid: {e}"))
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap_or_else(|e| panic!("test tag {s:?} is invalid: {e}"))
}

/// An entry written at `now` with `payload`, the default content type.
fn entry_at(
    now: Timestamp,
    payload: &[u8],
    expires_at: Option<Timestamp>,
    tags: &[&str],
    version: u64,
) -> CacheEntry {
    CacheEntry::new(
        CacheValue::new(Bytes::copy_from_slice(payload), ContentType::default()),
        now,
        expires_at,
        tags.iter().map(|t| tag(t)).collect(),
        EntryVersion::new(version),
    )
}

fn payload_of(e: &Option<CacheEntry>) -> Option<&[u8]> {
    e.as_ref().map(|e| &e.value().bytes()[..])
}

/// Unwraps an operation's result, naming the clause when it failed.
fn ok<T>(clause: &str, what: &str, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("[contract: {clause}] {what} failed: {e}"))
}

fn is_unsupported<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Unsupported { .. }))
}

/// One clause's run: the contract, a run id for unique names, the clock.
struct Suite<'c, 'f> {
    contract: &'c Contract<'f>,
    run: String,
    clock: Arc<dyn Clock>,
    /// The clock the suite moves (injected timing only).
    manual: Option<Arc<ManualClock>>,
}

impl Suite<'_, '_> {
    /// A name unique to this run and clause.
    fn name(&self, clause: &str) -> CacheName {
        let raw = format!("ct-{clause}-{}", self.run);
        let raw: String = raw.chars().take(strata_domain::MAX_NAME_BYTES).collect();
        CacheName::parse(&raw).unwrap_or_else(|e| panic!("generated cache name {raw:?}: {e}"))
    }

    /// The store of cache `name`.
    async fn open(&self, name: CacheName) -> Arc<dyn CacheStore> {
        (self.contract.factory)(name, self.clock.clone()).await
    }

    /// The store of this clause's cache.
    async fn store(&self, clause: &str) -> Arc<dyn CacheStore> {
        self.open(self.name(clause)).await
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// An entry with `payload`, the default content type, no TTL.
    fn plain(&self, payload: &str, version: u64) -> CacheEntry {
        entry_at(self.now(), payload.as_bytes(), None, &[], version)
    }

    fn entry(
        &self,
        payload: &[u8],
        expires_at: Option<Timestamp>,
        tags: &[&str],
        version: u64,
    ) -> CacheEntry {
        entry_at(self.now(), payload, expires_at, tags, version)
    }
}
