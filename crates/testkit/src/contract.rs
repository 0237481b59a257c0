//! The backend contract suite: every behavioural test of the
//! [`CacheStore`] port, in one call.
//!
//! ```no_run
//! use std::sync::Arc;
//! use strata_domain::{CacheName, CacheStore};
//! # fn my_store(_: CacheName) -> Arc<dyn CacheStore> { unimplemented!() }
//!
//! #[tokio::test]
//! async fn my_store_honours_the_contract() {
//!     strata_testkit::contract::run_store_contract(|name: CacheName| async move {
//!         my_store(name)
//!     })
//!     .await;
//! }
//! ```
//!
//! The factory is called with a fresh, unique cache name for each clause
//! (some clauses ask for two names, to check isolation); it must return a
//! store for that cache. Stores of different names may share one backend:
//! that is what the isolation clauses test. A failing clause panics with a
//! message starting `[contract: <clause>]`.
//!
//! Clauses that depend on a capability ([`StoreCapabilities`]) check the
//! operation when the flag is true, and that it answers
//! [`StoreError::Unsupported`] when it is false. Waiting (TTL expiry,
//! eventually-consistent counters) polls with a deadline; nothing asserts
//! how long an operation takes.
//!
//! [`StoreCapabilities`]: strata_domain::StoreCapabilities

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, ContentType, EntryVersion,
    InsertOutcome, InvalidationCount, KeyPattern, StoreError, Tag, Timestamp,
};

/// How long the TTL clause waits for a 1 s entry to disappear.
const EXPIRY_DEADLINE: Duration = Duration::from_secs(10);
/// How long counters may take to catch up.
const STATS_DEADLINE: Duration = Duration::from_secs(5);
/// Pause between polls.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Runs every clause of the [`CacheStore`] contract against stores made by
/// `factory`, one clause after the other.
///
/// # Panics
/// On the first clause the store breaks, with a message naming it; also
/// when the store returns an error where the contract expects success.
pub async fn run_store_contract<F, Fut>(factory: F)
where
    F: Fn(CacheName) -> Fut,
    Fut: Future<Output = Arc<dyn CacheStore>>,
{
    let suite = Suite {
        factory: &factory,
        run: next_run_id(),
    };
    suite.ping_and_capabilities().await;
    suite.round_trip().await;
    suite.miss().await;
    suite.remove().await;
    suite.overwrite().await;
    suite.expired_at_insert().await;
    suite.ttl_expiry().await;
    suite.batches().await;
    suite.pattern_invalidation().await;
    suite.tag_invalidation().await;
    suite.flush_isolation().await;
    suite.stats().await;
    suite.export().await;
    suite.concurrent_writers().await;
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

/// The current wall-clock time (testkit may read the system clock).
fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

fn key(s: &str) -> CacheKey {
    CacheKey::parse(s).unwrap_or_else(|e| panic!("test key {s:?} is invalid: {e}"))
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap_or_else(|e| panic!("test tag {s:?} is invalid: {e}"))
}

/// An entry with `payload`, the default content type, no TTL.
fn plain(payload: &str, version: u64) -> CacheEntry {
    entry(payload.as_bytes(), None, &[], version)
}

fn entry(payload: &[u8], expires_at: Option<Timestamp>, tags: &[&str], version: u64) -> CacheEntry {
    CacheEntry::new(
        CacheValue::new(Bytes::copy_from_slice(payload), ContentType::default()),
        now(),
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

struct Suite<'f, F> {
    factory: &'f F,
    run: String,
}

impl<F, Fut> Suite<'_, F>
where
    F: Fn(CacheName) -> Fut,
    Fut: Future<Output = Arc<dyn CacheStore>>,
{
    /// A name unique to this run and clause.
    fn name(&self, clause: &str) -> CacheName {
        let raw = format!("ct-{clause}-{}", self.run);
        let raw: String = raw.chars().take(strata_domain::MAX_NAME_BYTES).collect();
        CacheName::parse(&raw).unwrap_or_else(|e| panic!("generated cache name {raw:?}: {e}"))
    }

    async fn store(&self, clause: &str) -> Arc<dyn CacheStore> {
        (self.factory)(self.name(clause)).await
    }

    async fn ping_and_capabilities(&self) {
        const C: &str = "ping";
        let store = self.store(C).await;
        ok(C, "ping", store.ping().await);
        assert!(
            !store.backend().is_empty(),
            "[contract: {C}] backend() must name the technology"
        );
    }

    async fn round_trip(&self) {
        const C: &str = "round-trip";
        let store = self.store(C).await;
        let binary: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        let long_ascii = "k".repeat(strata_domain::MAX_KEY_BYTES);
        let mut long_ascii_twin = "k".repeat(strata_domain::MAX_KEY_BYTES - 1);
        long_ascii_twin.push('j');
        let long_cyrillic = "к".repeat(strata_domain::MAX_KEY_BYTES / 2);
        let created = Timestamp::from_millis(now().as_millis() - 1_234);
        let expires = now().saturating_add(Duration::from_secs(3600));
        let cases: Vec<(String, CacheEntry)> = vec![
            (
                "empty".into(),
                CacheEntry::new(
                    CacheValue::default(),
                    created,
                    None,
                    vec![],
                    EntryVersion::new(1),
                ),
            ),
            (
                "binary".into(),
                CacheEntry::new(
                    CacheValue::new(
                        Bytes::from(binary),
                        ContentType::parse("application/x-strata; v=1").unwrap_or_default(),
                    ),
                    created,
                    Some(expires),
                    vec![tag("b"), tag("a"), tag("ü:tag")],
                    EntryVersion::new(u64::MAX),
                ),
            ),
            (long_ascii.clone(), plain("long ascii key", 2)),
            (
                long_ascii_twin,
                plain("its twin differs in the last byte", 3),
            ),
            (long_cyrillic, plain("long non-ASCII key", 4)),
            (
                "ключ/😀:{tag}[x]*?".into(),
                plain("non-ASCII and glob characters", 5),
            ),
        ];
        for (k, e) in &cases {
            ok(C, "insert", store.insert(key(k), e.clone()).await);
        }
        for (k, e) in &cases {
            let got = ok(C, "get", store.get(&key(k)).await);
            assert_eq!(
                got.as_ref(),
                Some(e),
                "[contract: {C}] key {k:?}: value, content type, tags, created_at, expires_at \
                 and version must come back unchanged"
            );
        }
    }

    async fn miss(&self) {
        const C: &str = "miss";
        let store = self.store(C).await;
        let got = ok(C, "get", store.get(&key("never-written")).await);
        assert!(
            got.is_none(),
            "[contract: {C}] a key never written must miss"
        );
    }

    async fn remove(&self) {
        const C: &str = "remove";
        let store = self.store(C).await;
        ok(C, "insert", store.insert(key("k"), plain("v", 1)).await);
        assert!(
            ok(C, "remove", store.remove(&key("k")).await),
            "[contract: {C}] removing a live key must answer true"
        );
        assert!(
            !ok(C, "remove", store.remove(&key("k")).await),
            "[contract: {C}] removing an absent key must answer false"
        );
        assert!(
            ok(C, "get", store.get(&key("k")).await).is_none(),
            "[contract: {C}] a removed key must miss"
        );
    }

    async fn overwrite(&self) {
        const C: &str = "overwrite";
        let store = self.store(C).await;
        let first = ok(C, "insert", store.insert(key("k"), plain("old", 1)).await);
        assert_eq!(
            first,
            InsertOutcome::Created,
            "[contract: {C}] first insert must be Created"
        );
        let second = ok(C, "insert", store.insert(key("k"), plain("new", 2)).await);
        assert_eq!(
            second,
            InsertOutcome::Replaced,
            "[contract: {C}] insert over a live key must be Replaced"
        );
        let got = ok(C, "get", store.get(&key("k")).await);
        assert_eq!(
            payload_of(&got),
            Some(&b"new"[..]),
            "[contract: {C}] the last write must win"
        );
        assert_eq!(
            got.map(|e| e.version()),
            Some(EntryVersion::new(2)),
            "[contract: {C}] the last write's version must be stored"
        );
    }

    async fn expired_at_insert(&self) {
        const C: &str = "expired-at-insert";
        let store = self.store(C).await;
        let past = Timestamp::from_millis(now().as_millis() - 1_000);
        ok(
            C,
            "insert",
            store
                .insert(key("gone"), entry(b"x", Some(past), &[], 1))
                .await,
        );
        assert!(
            ok(C, "get", store.get(&key("gone")).await).is_none(),
            "[contract: {C}] an entry expired at insert must not be returned"
        );
        ok(C, "insert", store.insert(key("live"), plain("v", 1)).await);
        ok(
            C,
            "insert",
            store
                .insert(key("live"), entry(b"y", Some(past), &[], 2))
                .await,
        );
        assert!(
            ok(C, "get", store.get(&key("live")).await).is_none(),
            "[contract: {C}] an expired entry written over a live one must hide it"
        );
    }

    async fn ttl_expiry(&self) {
        const C: &str = "ttl-expiry";
        let store = self.store(C).await;
        let soon = now().saturating_add(Duration::from_secs(1));
        let later = now().saturating_add(Duration::from_secs(600));
        ok(
            C,
            "insert",
            store
                .insert(key("short"), entry(b"s", Some(soon), &[], 1))
                .await,
        );
        ok(
            C,
            "insert",
            store
                .insert(key("long"), entry(b"l", Some(later), &[], 1))
                .await,
        );
        let deadline = tokio::time::Instant::now() + EXPIRY_DEADLINE;
        loop {
            if ok(C, "get", store.get(&key("short")).await).is_none() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "[contract: {C}] an entry with a 1 s TTL was still returned after {EXPIRY_DEADLINE:?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
        assert!(
            ok(C, "get", store.get(&key("long")).await).is_some(),
            "[contract: {C}] an entry whose TTL has not run out must be returned"
        );
    }

    async fn batches(&self) {
        const C: &str = "batches";
        let store = self.store(C).await;
        let outcomes = ok(
            C,
            "insert_many",
            store
                .insert_many(vec![
                    (key("a"), plain("a1", 1)),
                    (key("b"), plain("b1", 1)),
                    (key("a"), plain("a2", 2)),
                ])
                .await,
        );
        assert_eq!(
            outcomes,
            vec![
                InsertOutcome::Created,
                InsertOutcome::Created,
                InsertOutcome::Replaced
            ],
            "[contract: {C}] insert_many must report what single inserts in order would"
        );
        let outcomes = ok(
            C,
            "insert_many",
            store
                .insert_many(vec![(key("c"), plain("c1", 1)), (key("b"), plain("b2", 2))])
                .await,
        );
        assert_eq!(
            outcomes,
            vec![InsertOutcome::Created, InsertOutcome::Replaced],
            "[contract: {C}] insert_many over a live key must report Replaced"
        );
        let keys = [key("a"), key("missing"), key("b"), key("a"), key("c")];
        let batch = ok(C, "get_many", store.get_many(&keys).await);
        let mut singles = Vec::new();
        for k in &keys {
            singles.push(ok(C, "get", store.get(k).await));
        }
        assert_eq!(
            batch, singles,
            "[contract: {C}] get_many must equal get on each key, in order"
        );
        let payloads: Vec<Option<&[u8]>> = batch.iter().map(payload_of).collect();
        assert_eq!(
            payloads,
            vec![
                Some(&b"a2"[..]),
                None,
                Some(&b"b2"[..]),
                Some(&b"a2"[..]),
                Some(&b"c1"[..])
            ],
            "[contract: {C}] get_many must return the last written values"
        );
        assert!(
            ok(C, "get_many", store.get_many(&[]).await).is_empty(),
            "[contract: {C}] get_many of no keys must be empty"
        );
        assert!(
            ok(C, "insert_many", store.insert_many(Vec::new()).await).is_empty(),
            "[contract: {C}] insert_many of no entries must be empty"
        );
    }

    async fn pattern_invalidation(&self) {
        const C: &str = "pattern";
        let store = self.store(C).await;
        let other = (self.factory)(self.name("pattern-other")).await;
        let any = KeyPattern::parse("*").unwrap_or_else(|e| panic!("{e}"));
        if !store.capabilities().pattern_invalidation {
            let r = store.invalidate_pattern(&any).await;
            assert!(
                is_unsupported(&r),
                "[contract: {C}] pattern_invalidation is false, so invalidate_pattern must \
                 return StoreError::Unsupported, got {r:?}"
            );
            return;
        }
        let keys = [
            "user:1", "user:2", "user:10", "users", "admin:1", "u?er", "user:ю", "USER:3",
        ];
        for k in keys {
            ok(C, "insert", store.insert(key(k), plain(k, 1)).await);
        }
        ok(
            C,
            "insert",
            other.insert(key("user:1"), plain("o", 1)).await,
        );
        let cases: [(&str, u64, &[&str]); 5] = [
            ("nothing:*", 0, &[]),
            ("user:?", 3, &["user:1", "user:2", "user:ю"]),
            (r"u\?er", 1, &["u?er"]),
            ("[ab]dmin:*", 1, &["admin:1"]),
            ("user*", 2, &["user:10", "users"]),
        ];
        let mut gone: Vec<&str> = Vec::new();
        for (pattern, count, removed) in cases {
            let p = KeyPattern::parse(pattern).unwrap_or_else(|e| panic!("{e}"));
            let n = ok(C, "invalidate_pattern", store.invalidate_pattern(&p).await);
            assert_eq!(
                n, count,
                "[contract: {C}] {pattern:?} must remove exactly {removed:?} (Redis glob \
                 semantics by character) and return their count"
            );
            gone.extend_from_slice(removed);
            for k in keys {
                let present = ok(C, "get", store.get(&key(k)).await).is_some();
                assert_eq!(
                    present,
                    !gone.contains(&k),
                    "[contract: {C}] after {pattern:?}, key {k:?} presence is wrong"
                );
            }
        }
        assert!(
            ok(C, "get", other.get(&key("user:1")).await).is_some(),
            "[contract: {C}] pattern invalidation must not touch another cache"
        );
    }

    async fn tag_invalidation(&self) {
        const C: &str = "tags";
        let store = self.store(C).await;
        let other = (self.factory)(self.name("tags-other")).await;
        if !store.capabilities().tag_invalidation {
            let r = store.invalidate_tags(&[tag("t1")]).await;
            assert!(
                is_unsupported(&r),
                "[contract: {C}] tag_invalidation is false, so invalidate_tags must return \
                 StoreError::Unsupported, got {r:?}"
            );
            return;
        }
        let writes: [(&str, &[&str]); 5] = [
            ("a", &["t1"]),
            ("b", &["t1", "t2"]),
            ("c", &["t2"]),
            ("d", &[]),
            ("e", &["t1"]),
        ];
        for (k, tags) in writes {
            ok(
                C,
                "insert",
                store
                    .insert(key(k), entry(k.as_bytes(), None, tags, 1))
                    .await,
            );
        }
        // `e` is rewritten without the tag: it must survive.
        ok(C, "insert", store.insert(key("e"), plain("e2", 2)).await);
        ok(
            C,
            "insert",
            other.insert(key("a"), entry(b"o", None, &["t1"], 1)).await,
        );
        let n = ok(
            C,
            "invalidate_tags",
            store.invalidate_tags(&[tag("t1")]).await,
        );
        assert!(
            matches!(
                n,
                InvalidationCount::Exact(2) | InvalidationCount::Uncounted
            ),
            "[contract: {C}] invalidating t1 removes a and b: the count must be Exact(2) (or \
             Uncounted from a store that cannot count, never a made-up number), got {n:?}"
        );
        let present = |k: &'static str| {
            let store = Arc::clone(&store);
            async move { ok(C, "get", store.get(&key(k)).await).is_some() }
        };
        for (k, expected) in [
            ("a", false),
            ("b", false),
            ("c", true),
            ("d", true),
            ("e", true),
        ] {
            assert_eq!(
                present(k).await,
                expected,
                "[contract: {C}] after invalidating t1, presence of {k:?} is wrong (entries \
                 rewritten without the tag must survive)"
            );
        }
        assert!(
            ok(C, "get", other.get(&key("a")).await).is_some(),
            "[contract: {C}] tag invalidation must not touch another cache"
        );
        ok(
            C,
            "insert",
            store.insert(key("f"), entry(b"f", None, &["t1"], 1)).await,
        );
        assert!(
            present("f").await,
            "[contract: {C}] an entry tagged after the invalidation must be readable"
        );
        let n = ok(
            C,
            "invalidate_tags",
            store.invalidate_tags(&[tag("t2"), tag("unused")]).await,
        );
        assert!(
            matches!(
                n,
                InvalidationCount::Exact(1) | InvalidationCount::Uncounted
            ),
            "[contract: {C}] invalidating t2 removes c: the count must be Exact(1) (or \
             Uncounted), got {n:?}"
        );
        assert!(!present("c").await, "[contract: {C}] c carried t2");
        assert!(present("f").await, "[contract: {C}] f does not carry t2");
    }

    async fn flush_isolation(&self) {
        const C: &str = "flush";
        let a = self.store(C).await;
        // A name that extends the first: catches prefix-matching flushes.
        let b_name = format!("{}-2", self.name(C));
        let b_name = CacheName::parse(&b_name).unwrap_or_else(|_| self.name("flush-b"));
        let b = (self.factory)(b_name).await;
        for k in ["k1", "k2"] {
            ok(C, "insert", a.insert(key(k), plain("a", 1)).await);
            ok(C, "insert", b.insert(key(k), plain("b", 1)).await);
        }
        ok(C, "flush", a.flush().await);
        for k in ["k1", "k2"] {
            assert!(
                ok(C, "get", a.get(&key(k)).await).is_none(),
                "[contract: {C}] a flushed cache must be empty"
            );
            let got = ok(C, "get", b.get(&key(k)).await);
            assert_eq!(
                payload_of(&got),
                Some(&b"b"[..]),
                "[contract: {C}] flushing one cache must leave another untouched"
            );
        }
        ok(C, "insert", a.insert(key("k1"), plain("again", 2)).await);
        assert!(
            ok(C, "get", a.get(&key("k1")).await).is_some(),
            "[contract: {C}] a flushed cache must accept new entries"
        );
    }

    async fn stats(&self) {
        const C: &str = "stats";
        let store = self.store(C).await;
        let n = 10u64;
        for i in 0..n {
            ok(
                C,
                "insert",
                store.insert(key(&format!("k{i}")), plain("v", 1)).await,
            );
        }
        let exact = store.capabilities().exact_len;
        let deadline = tokio::time::Instant::now() + STATS_DEADLINE;
        loop {
            let entries = ok(C, "stats", store.stats().await).entries;
            let good = if exact {
                entries == n
            } else {
                (1..=2 * n).contains(&entries)
            };
            if good {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "[contract: {C}] after {n} inserts, stats().entries is {entries}: it must be \
                 {n} (exact_len) or an estimate in 1..={} (within {STATS_DEADLINE:?})",
                2 * n
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    async fn export(&self) {
        const C: &str = "export";
        let store = self.store(C).await;
        if !store.capabilities().export {
            let r = store.entries().await;
            assert!(
                is_unsupported(&r),
                "[contract: {C}] export is false, so entries() must return \
                 StoreError::Unsupported, got {r:?}"
            );
            let r = store.entries_page(0, 10).await;
            assert!(
                is_unsupported(&r),
                "[contract: {C}] export is false, so entries_page() must return \
                 StoreError::Unsupported, got {r:?}"
            );
            return;
        }
        let mut expected = BTreeMap::new();
        for (k, tags) in [("x", &["t"][..]), ("y", &[][..]), ("z:ю", &[][..])] {
            let e = entry(k.as_bytes(), None, tags, 1);
            ok(C, "insert", store.insert(key(k), e.clone()).await);
            expected.insert(key(k), e);
        }
        ok(C, "remove", store.remove(&key("y")).await);
        expected.remove(&key("y"));
        let got: BTreeMap<CacheKey, CacheEntry> = ok(C, "entries", store.entries().await)
            .into_iter()
            .collect();
        assert_eq!(
            got, expected,
            "[contract: {C}] entries() must list every live entry, once"
        );
        // Paged, one entry a page: every live entry at least once, and an end.
        let mut paged = BTreeMap::new();
        let mut cursor = Some(0);
        let mut pages = 0;
        while let Some(at) = cursor {
            let page = ok(C, "entries_page", store.entries_page(at, 1).await);
            paged.extend(page.entries);
            cursor = page.next;
            pages += 1;
            assert!(
                pages <= 10_000,
                "[contract: {C}] entries_page() must reach next = None"
            );
        }
        assert_eq!(
            paged, expected,
            "[contract: {C}] following entries_page() from cursor 0 must list every live entry"
        );
    }

    async fn concurrent_writers(&self) {
        const C: &str = "concurrency";
        const TASKS: usize = 8;
        const KEYS: usize = 50;
        let store = self.store(C).await;
        let mut handles = Vec::new();
        for t in 0..TASKS {
            let store = Arc::clone(&store);
            handles.push(tokio::spawn(async move {
                for round in 1..=2u64 {
                    for i in 0..KEYS {
                        let k = key(&format!("t{t}-k{i}"));
                        let v = format!("t{t}-k{i}-r{round}");
                        ok(C, "insert", store.insert(k, plain(&v, round)).await);
                        let shared = format!("t{t}-i{i}-r{round}");
                        ok(
                            C,
                            "insert",
                            store.insert(key("shared"), plain(&shared, round)).await,
                        );
                    }
                }
            }));
        }
        for h in handles {
            h.await
                .unwrap_or_else(|e| panic!("[contract: {C}] a writer task failed: {e}"));
        }
        for t in 0..TASKS {
            let keys: Vec<CacheKey> = (0..KEYS).map(|i| key(&format!("t{t}-k{i}"))).collect();
            let got = ok(C, "get_many", store.get_many(&keys).await);
            for (i, e) in got.iter().enumerate() {
                let want = format!("t{t}-k{i}-r2");
                assert_eq!(
                    payload_of(e),
                    Some(want.as_bytes()),
                    "[contract: {C}] after concurrent writers, every key must hold its last value"
                );
            }
        }
        let shared = ok(C, "get", store.get(&key("shared")).await);
        let ok_value = payload_of(&shared)
            .and_then(|p| std::str::from_utf8(p).ok())
            .is_some_and(|s| s.starts_with('t') && s.ends_with(&format!("-i{}-r2", KEYS - 1)));
        assert!(
            ok_value,
            "[contract: {C}] a key written by all tasks must hold one task's final write, got \
             {shared:?}"
        );
    }
}
