//! The contract suite catches real bugs: a correct reference store passes
//! every clause (through `store_contract!`, one test per clause), and each
//! of seven deliberately broken copies of it, one per bug issue 32 found
//! a plugin could ship past the first suite, fails the clause named for it.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures_util::FutureExt;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, Clock, EntriesPage, InsertOutcome,
    InvalidationCount, KeyPattern, StoreCapabilities, StoreError, StoreStats, Tag, Timestamp,
};
use strata_testkit::contract::{Clause, Contract};

/// One planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// `insert` answers `Replaced` over an expired entry.
    InsertReplacesExpired,
    /// `remove` answers `true` for an expired entry.
    RemoveCountsExpired,
    /// `stats().entries` counts expired entries.
    StatsCountExpired,
    /// `entries()` lists expired entries.
    EntriesListExpired,
    /// `entries_page()` lists expired entries.
    PagesListExpired,
    /// `invalidate_tags` counts expired entries.
    TagsCountExpired,
    /// Entries expire up to 1 s late.
    LateExpiry,
}

/// A correct in-process store on the injected clock, unless it has a bug.
struct ReferenceStore {
    map: Mutex<BTreeMap<CacheKey, CacheEntry>>,
    clock: Arc<dyn Clock>,
    bug: Option<Bug>,
}

impl ReferenceStore {
    fn map(&self) -> MutexGuard<'_, BTreeMap<CacheKey, CacheEntry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expired(&self, e: &CacheEntry) -> bool {
        let now = self.clock.now();
        if self.bug == Some(Bug::LateExpiry) {
            return e.is_expired(Timestamp::from_millis(now.as_millis().saturating_sub(999)));
        }
        e.is_expired(now)
    }

    /// Whether `e` counts for the operation `bug` breaks: when it is live,
    /// or always when the store has that bug.
    fn counts(&self, e: &CacheEntry, bug: Bug) -> bool {
        self.bug == Some(bug) || !self.expired(e)
    }

    fn remove_where(&self, doomed: impl Fn(&CacheKey, &CacheEntry) -> bool, bug: Bug) -> u64 {
        let mut map = self.map();
        let gone: Vec<CacheKey> = map
            .iter()
            .filter(|(k, e)| doomed(k, e))
            .map(|(k, _)| k.clone())
            .collect();
        let removed: Vec<CacheEntry> = gone.iter().filter_map(|k| map.remove(k)).collect();
        drop(map);
        removed.iter().filter(|e| self.counts(e, bug)).count() as u64
    }
}

#[async_trait]
impl CacheStore for ReferenceStore {
    fn backend(&self) -> &str {
        "reference"
    }
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::IN_PROCESS
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        let found = self.map().get(key).cloned();
        Ok(found.filter(|e| !self.expired(e)))
    }
    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        let previous = self.map().insert(key, entry);
        Ok(match previous {
            Some(e) if self.counts(&e, Bug::InsertReplacesExpired) => InsertOutcome::Replaced,
            _ => InsertOutcome::Created,
        })
    }
    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        let previous = self.map().remove(key);
        Ok(previous.is_some_and(|e| self.counts(&e, Bug::RemoveCountsExpired)))
    }
    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        // No bug is planted here (LateExpiry only moves expiry).
        Ok(self.remove_where(|k, _| pattern.matches(k.as_str()), Bug::LateExpiry))
    }
    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        let n = self.remove_where(
            |_, e| tags.iter().any(|t| e.has_tag(t)),
            Bug::TagsCountExpired,
        );
        Ok(InvalidationCount::Exact(n))
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.map().clear();
        Ok(())
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let all: Vec<CacheEntry> = self.map().values().cloned().collect();
        let entries = all
            .iter()
            .filter(|e| self.counts(e, Bug::StatsCountExpired))
            .count() as u64;
        Ok(StoreStats {
            entries,
            ..StoreStats::default()
        })
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        let all: Vec<(CacheKey, CacheEntry)> = self
            .map()
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        Ok(all
            .into_iter()
            .filter(|(_, e)| self.counts(e, Bug::EntriesListExpired))
            .collect())
    }
    async fn entries_page(&self, cursor: u64, limit: usize) -> Result<EntriesPage, StoreError> {
        let map = self.map();
        let start = usize::try_from(cursor).unwrap_or(usize::MAX);
        let end = start.saturating_add(limit.max(1));
        let page: Vec<(CacheKey, CacheEntry)> = map
            .iter()
            .skip(start)
            .take(end - start)
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let next = (end < map.len()).then_some(end as u64);
        drop(map);
        let entries = page
            .into_iter()
            .filter(|(_, e)| self.counts(e, Bug::PagesListExpired))
            .collect();
        Ok(EntriesPage { entries, next })
    }
}

fn contract(bug: Option<Bug>) -> Contract<'static> {
    Contract::on_clock(move |_name: CacheName, clock: Arc<dyn Clock>| async move {
        Arc::new(ReferenceStore {
            map: Mutex::default(),
            clock,
            bug,
        }) as Arc<dyn CacheStore>
    })
}

/// The correct store passes every clause, one test each.
mod reference_store {
    strata_testkit::store_contract!(contract: super::contract(None));
}

/// The message of the panic `clause` raised on the store with `bug`, or
/// `None` when the clause passed.
async fn failure(bug: Bug, clause: Clause) -> Option<String> {
    let contract = contract(Some(bug));
    let outcome = AssertUnwindSafe(contract.check(clause))
        .catch_unwind()
        .await;
    outcome.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_planted_bug_fails_the_clause_named_for_it() {
    let cases = [
        (Bug::InsertReplacesExpired, Clause::InsertOverExpired),
        (Bug::RemoveCountsExpired, Clause::RemoveExpired),
        (Bug::StatsCountExpired, Clause::ExpiredStats),
        (Bug::EntriesListExpired, Clause::ExpiredEntries),
        (Bug::PagesListExpired, Clause::ExpiredPages),
        (Bug::TagsCountExpired, Clause::ExpiredTags),
        (Bug::LateExpiry, Clause::TtlExpiry),
    ];
    for (bug, clause) in cases {
        let message = failure(bug, clause)
            .await
            .unwrap_or_else(|| panic!("{bug:?} passed clause {}", clause.name()));
        assert!(
            message.contains(&format!("[contract: {}]", clause.name())),
            "{bug:?}: the failure must name clause {}, got {message:?}",
            clause.name()
        );
    }
}

#[test]
fn a_clause_name_parses_with_dashes_or_underscores() {
    assert_eq!(
        Clause::parse("insert_over_expired"),
        Some(Clause::InsertOverExpired)
    );
    assert_eq!(Clause::parse("ttl-expiry"), Some(Clause::TtlExpiry));
    assert_eq!(Clause::parse("nope"), None);
}
