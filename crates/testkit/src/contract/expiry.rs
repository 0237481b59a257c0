//! Expiry with every operation: reads, writes over expired entries,
//! removes, counters, export pages and tag invalidation counts.
//!
//! On the injected clock the suite moves time to an entry's `expires_at`
//! exactly (expiry is exclusive: gone from that millisecond on); on a
//! server it waits, polling a sentinel entry with the same expiry, at
//! most until `expires_at` + 1 s.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use strata_domain::{CacheStore, InsertOutcome, InvalidationCount, Timestamp};

use super::{POLL_EVERY, STATS_DEADLINE, Suite, is_unsupported, key, ok, payload_of, tag};

/// TTL of the entries a clause lets expire on the injected clock.
const CLOCK_TTL: Duration = Duration::from_secs(10);
/// TTL of the entries a clause lets expire on a server.
const SERVER_TTL: Duration = Duration::from_secs(1);
/// How late a server may expire an entry.
const SERVER_SLACK: Duration = Duration::from_secs(1);
/// The key the suite polls to know that server expiry happened.
const SENTINEL: &str = "expiry-sentinel";

impl Suite<'_, '_> {
    /// When entries written now for expiry expire.
    fn doomed_at(&self) -> Timestamp {
        let ttl = if self.manual.is_some() {
            CLOCK_TTL
        } else {
            SERVER_TTL
        };
        self.now().saturating_add(ttl)
    }

    /// Writes the sentinel, expiring `at`, next to a clause's entries.
    async fn sentinel(&self, clause: &str, store: &dyn CacheStore, at: Timestamp) {
        let e = self.entry(b"sentinel", Some(at), &[], 1);
        ok(clause, "insert", store.insert(key(SENTINEL), e).await);
    }

    /// Lets `at` pass: moves the injected clock to `at`, or waits for `at`
    /// and polls the sentinel until the server dropped it (at most until
    /// `at` + 1 s).
    async fn pass(&self, clause: &str, store: &dyn CacheStore, at: Timestamp) {
        if let Some(manual) = &self.manual {
            manual.set(at);
            return;
        }
        // A server may drop an entry early (memcached's clock ticks in
        // whole seconds): the sentinel gone is not enough, `at` must have
        // passed too.
        let deadline = at.saturating_add(SERVER_SLACK);
        while self.now() < at || ok(clause, "get", store.get(&key(SENTINEL)).await).is_some() {
            assert!(
                self.now() < deadline,
                "[contract: {clause}] an entry was still returned {SERVER_SLACK:?} after its \
                 expires_at"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    pub(super) async fn ttl_expiry(&self) {
        const C: &str = "ttl-expiry";
        let store = self.store(C).await;
        let at = self.doomed_at();
        let later = self.now().saturating_add(Duration::from_secs(600));
        let short = self.entry(b"s", Some(at), &[], 1);
        ok(C, "insert", store.insert(key("short"), short).await);
        let long = self.entry(b"l", Some(later), &[], 1);
        ok(C, "insert", store.insert(key("long"), long).await);
        if let Some(manual) = &self.manual {
            manual.set(Timestamp::from_millis(at.as_millis() - 1));
            assert!(
                ok(C, "get", store.get(&key("short")).await).is_some(),
                "[contract: {C}] an entry must be returned until the millisecond before its \
                 expires_at (read on the clock the store was given)"
            );
            manual.set(at);
            assert!(
                ok(C, "get", store.get(&key("short")).await).is_none(),
                "[contract: {C}] an entry must be gone at its expires_at exactly (expiry is \
                 exclusive), read on the clock the store was given"
            );
        } else {
            self.sentinel(C, store.as_ref(), at).await;
            self.pass(C, store.as_ref(), at).await;
            assert!(
                ok(C, "get", store.get(&key("short")).await).is_none(),
                "[contract: {C}] an entry must be gone by its TTL + {SERVER_SLACK:?}"
            );
        }
        assert!(
            ok(C, "get", store.get(&key("long")).await).is_some(),
            "[contract: {C}] an entry whose TTL has not run out must be returned"
        );
    }

    pub(super) async fn insert_over_expired(&self) {
        const C: &str = "insert-over-expired";
        let store = self.store(C).await;
        let at = self.doomed_at();
        ok(
            C,
            "insert",
            store
                .insert(key("k"), self.entry(b"old", Some(at), &[], 1))
                .await,
        );
        self.sentinel(C, store.as_ref(), at).await;
        self.pass(C, store.as_ref(), at).await;
        let outcome = ok(
            C,
            "insert",
            store.insert(key("k"), self.plain("new", 2)).await,
        );
        assert_eq!(
            outcome,
            InsertOutcome::Created,
            "[contract: {C}] insert over an expired entry must answer Created: the key was absent"
        );
        let got = ok(C, "get", store.get(&key("k")).await);
        assert_eq!(
            payload_of(&got),
            Some(&b"new"[..]),
            "[contract: {C}] the new write must be read"
        );
    }

    pub(super) async fn remove_expired(&self) {
        const C: &str = "remove-expired";
        let store = self.store(C).await;
        let at = self.doomed_at();
        ok(
            C,
            "insert",
            store
                .insert(key("k"), self.entry(b"v", Some(at), &[], 1))
                .await,
        );
        self.sentinel(C, store.as_ref(), at).await;
        self.pass(C, store.as_ref(), at).await;
        assert!(
            !ok(C, "remove", store.remove(&key("k")).await),
            "[contract: {C}] removing an expired entry must answer false: no live entry was removed"
        );
    }

    /// A store holding live `a`, `b`, `c` (tag `t` on `a`) and expired
    /// `x`, `y` (tag `t` on `x`), the sentinel expired too.
    async fn with_expired(&self, clause: &str) -> Arc<dyn CacheStore> {
        let store = self.store(clause).await;
        let at = self.doomed_at();
        for (k, tags) in [("a", &["t"][..]), ("b", &[][..]), ("c", &[][..])] {
            let e = self.entry(k.as_bytes(), None, tags, 1);
            ok(clause, "insert", store.insert(key(k), e).await);
        }
        for (k, tags) in [("x", &["t"][..]), ("y", &[][..])] {
            let e = self.entry(k.as_bytes(), Some(at), tags, 1);
            ok(clause, "insert", store.insert(key(k), e).await);
        }
        self.sentinel(clause, store.as_ref(), at).await;
        self.pass(clause, store.as_ref(), at).await;
        store
    }

    pub(super) async fn expired_stats(&self) {
        const C: &str = "expired-stats";
        let store = self.with_expired(C).await;
        if !store.capabilities().exact_len {
            return; // an estimate may count what the server has not dropped yet
        }
        // A moved clock needs no wait for a store that reads it; a server
        // may drop what expired in the background.
        let wait = if self.manual.is_some() {
            POLL_EVERY * 4
        } else {
            STATS_DEADLINE
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let entries = ok(C, "stats", store.stats().await).entries;
            if entries == 3 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "[contract: {C}] with 3 live and 3 expired entries, stats().entries is \
                 {entries}: an exact store counts live entries only"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    pub(super) async fn expired_entries(&self) {
        const C: &str = "expired-entries";
        let store = self.with_expired(C).await;
        if !store.capabilities().export {
            return; // the export clause checks Unsupported
        }
        let listed: BTreeSet<String> = ok(C, "entries", store.entries().await)
            .into_iter()
            .map(|(k, _)| k.as_str().to_owned())
            .collect();
        assert_eq!(
            listed,
            live(),
            "[contract: {C}] entries() must list the live entries only, never an expired one"
        );
    }

    pub(super) async fn expired_pages(&self) {
        const C: &str = "expired-pages";
        let store = self.with_expired(C).await;
        if !store.capabilities().export {
            return;
        }
        let mut listed = BTreeSet::new();
        let mut cursor = Some(0);
        let mut pages = 0;
        while let Some(at) = cursor {
            let page = ok(C, "entries_page", store.entries_page(at, 1).await);
            listed.extend(page.entries.into_iter().map(|(k, _)| k.as_str().to_owned()));
            cursor = page.next;
            pages += 1;
            assert!(
                pages <= 10_000,
                "[contract: {C}] entries_page() must reach next = None"
            );
        }
        assert_eq!(
            listed,
            live(),
            "[contract: {C}] entries_page() must list the live entries only, never an expired one"
        );
    }

    pub(super) async fn expired_tags(&self) {
        const C: &str = "expired-tags";
        let store = self.with_expired(C).await;
        if !store.capabilities().tag_invalidation {
            let r = store.invalidate_tags(&[tag("t")]).await;
            assert!(
                is_unsupported(&r),
                "[contract: {C}] tag_invalidation is false: {r:?}"
            );
            return;
        }
        let n = ok(
            C,
            "invalidate_tags",
            store.invalidate_tags(&[tag("t")]).await,
        );
        assert!(
            matches!(
                n,
                InvalidationCount::Exact(1) | InvalidationCount::Uncounted
            ),
            "[contract: {C}] tag t is on live a and expired x: the count must be Exact(1) (or \
             Uncounted), never counting an expired entry, got {n:?}"
        );
        assert!(
            ok(C, "get", store.get(&key("a")).await).is_none(),
            "[contract: {C}] a carried the tag"
        );
    }
}

/// The live keys of [`Suite::with_expired`].
fn live() -> BTreeSet<String> {
    ["a", "b", "c"].into_iter().map(str::to_owned).collect()
}
