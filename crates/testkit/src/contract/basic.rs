//! The first clauses: round trips, outcomes, batches, invalidation,
//! isolation, counters, export and concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheValue, ContentType, EntryVersion, InsertOutcome,
    InvalidationCount, KeyPattern, Timestamp,
};

use super::{
    POLL_EVERY, STATS_DEADLINE, Suite, entry_at, is_unsupported, key, ok, payload_of, tag,
};

impl Suite<'_, '_> {
    pub(super) async fn ping_and_capabilities(&self) {
        const C: &str = "ping";
        let store = self.store(C).await;
        ok(C, "ping", store.ping().await);
        assert!(
            !store.backend().is_empty(),
            "[contract: {C}] backend() must name the technology"
        );
    }

    pub(super) async fn round_trip(&self) {
        const C: &str = "round-trip";
        let store = self.store(C).await;
        let binary: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        let long_ascii = "k".repeat(strata_domain::MAX_KEY_BYTES);
        let mut long_ascii_twin = "k".repeat(strata_domain::MAX_KEY_BYTES - 1);
        long_ascii_twin.push('j');
        let long_cyrillic = "к".repeat(strata_domain::MAX_KEY_BYTES / 2);
        let created = Timestamp::from_millis(self.now().as_millis() - 1_234);
        let expires = self.now().saturating_add(Duration::from_secs(3600));
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
            (long_ascii.clone(), self.plain("long ascii key", 2)),
            (
                long_ascii_twin,
                self.plain("its twin differs in the last byte", 3),
            ),
            (long_cyrillic, self.plain("long non-ASCII key", 4)),
            (
                "ключ/😀:{tag}[x]*?".into(),
                self.plain("non-ASCII and glob characters", 5),
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

    pub(super) async fn miss(&self) {
        const C: &str = "miss";
        let store = self.store(C).await;
        let got = ok(C, "get", store.get(&key("never-written")).await);
        assert!(
            got.is_none(),
            "[contract: {C}] a key never written must miss"
        );
    }

    pub(super) async fn remove(&self) {
        const C: &str = "remove";
        let store = self.store(C).await;
        ok(
            C,
            "insert",
            store.insert(key("k"), self.plain("v", 1)).await,
        );
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

    pub(super) async fn overwrite(&self) {
        const C: &str = "overwrite";
        let store = self.store(C).await;
        let first = ok(
            C,
            "insert",
            store.insert(key("k"), self.plain("old", 1)).await,
        );
        assert_eq!(
            first,
            InsertOutcome::Created,
            "[contract: {C}] first insert must be Created"
        );
        let second = ok(
            C,
            "insert",
            store.insert(key("k"), self.plain("new", 2)).await,
        );
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

    pub(super) async fn expired_at_insert(&self) {
        const C: &str = "expired-at-insert";
        let store = self.store(C).await;
        let past = Timestamp::from_millis(self.now().as_millis() - 1_000);
        ok(
            C,
            "insert",
            store
                .insert(key("gone"), self.entry(b"x", Some(past), &[], 1))
                .await,
        );
        assert!(
            ok(C, "get", store.get(&key("gone")).await).is_none(),
            "[contract: {C}] an entry expired at insert must not be returned"
        );
        ok(
            C,
            "insert",
            store.insert(key("live"), self.plain("v", 1)).await,
        );
        ok(
            C,
            "insert",
            store
                .insert(key("live"), self.entry(b"y", Some(past), &[], 2))
                .await,
        );
        assert!(
            ok(C, "get", store.get(&key("live")).await).is_none(),
            "[contract: {C}] an expired entry written over a live one must hide it"
        );
    }

    pub(super) async fn batches(&self) {
        const C: &str = "batches";
        let store = self.store(C).await;
        let outcomes = ok(
            C,
            "insert_many",
            store
                .insert_many(vec![
                    (key("a"), self.plain("a1", 1)),
                    (key("b"), self.plain("b1", 1)),
                    (key("a"), self.plain("a2", 2)),
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
                .insert_many(vec![
                    (key("c"), self.plain("c1", 1)),
                    (key("b"), self.plain("b2", 2)),
                ])
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

    pub(super) async fn pattern_invalidation(&self) {
        const C: &str = "pattern";
        let store = self.store(C).await;
        let other = self.open(self.name("pattern-other")).await;
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
            ok(C, "insert", store.insert(key(k), self.plain(k, 1)).await);
        }
        ok(
            C,
            "insert",
            other.insert(key("user:1"), self.plain("o", 1)).await,
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

    pub(super) async fn tag_invalidation(&self) {
        const C: &str = "tags";
        let store = self.store(C).await;
        let other = self.open(self.name("tags-other")).await;
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
                    .insert(key(k), self.entry(k.as_bytes(), None, tags, 1))
                    .await,
            );
        }
        // `e` is rewritten without the tag: it must survive.
        ok(
            C,
            "insert",
            store.insert(key("e"), self.plain("e2", 2)).await,
        );
        ok(
            C,
            "insert",
            other
                .insert(key("a"), self.entry(b"o", None, &["t1"], 1))
                .await,
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
            store
                .insert(key("f"), self.entry(b"f", None, &["t1"], 1))
                .await,
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

    pub(super) async fn flush_isolation(&self) {
        const C: &str = "flush";
        let a = self.store(C).await;
        // A name that extends the first: catches prefix-matching flushes.
        let b_name = format!("{}-2", self.name(C));
        let b_name = CacheName::parse(&b_name).unwrap_or_else(|_| self.name("flush-b"));
        let b = self.open(b_name).await;
        for k in ["k1", "k2"] {
            ok(C, "insert", a.insert(key(k), self.plain("a", 1)).await);
            ok(C, "insert", b.insert(key(k), self.plain("b", 1)).await);
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
        ok(
            C,
            "insert",
            a.insert(key("k1"), self.plain("again", 2)).await,
        );
        assert!(
            ok(C, "get", a.get(&key("k1")).await).is_some(),
            "[contract: {C}] a flushed cache must accept new entries"
        );
    }

    pub(super) async fn stats(&self) {
        const C: &str = "stats";
        let store = self.store(C).await;
        let n = 10u64;
        for i in 0..n {
            ok(
                C,
                "insert",
                store
                    .insert(key(&format!("k{i}")), self.plain("v", 1))
                    .await,
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

    pub(super) async fn export(&self) {
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
            let e = self.entry(k.as_bytes(), None, tags, 1);
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

    pub(super) async fn concurrent_writers(&self) {
        const C: &str = "concurrency";
        const TASKS: usize = 8;
        const KEYS: usize = 50;
        let store = self.store(C).await;
        let mut handles = Vec::new();
        let now = self.now();
        let plain = move |v: &str, version: u64| entry_at(now, v.as_bytes(), None, &[], version);
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
