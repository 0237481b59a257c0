//! What ties stores together: reopening a cache's store, the `shared`
//! flag (two stores of one cache), and how errors are mapped.

use std::time::Duration;

use strata_domain::{KeyPattern, StoreError};

use super::{Suite, key, ok, payload_of, tag};

/// How long an unreachable backend may take to answer with an error.
const UNREACHABLE_DEADLINE: Duration = Duration::from_secs(10);

impl Suite<'_, '_> {
    pub(super) async fn reopen(&self) {
        const C: &str = "reopen";
        let name = self.name(C);
        let first = self.open(name.clone()).await;
        let shared = first.capabilities().shared;
        ok(
            C,
            "insert",
            first.insert(key("k"), self.plain("v", 1)).await,
        );
        drop(first);
        let again = self.open(name).await;
        let found = ok(C, "get", again.get(&key("k")).await);
        if shared {
            assert_eq!(
                payload_of(&found),
                Some(&b"v"[..]),
                "[contract: {C}] shared is true, so a store opened again for the cache must \
                 find what the first one wrote"
            );
        } else {
            assert!(
                found.is_none(),
                "[contract: {C}] shared is false, so a store opened again for the cache must \
                 start empty (or declare shared = true: a reconfiguration deletes from the \
                 old store what it moves into the new one)"
            );
        }
        ok(
            C,
            "insert",
            again.insert(key("k2"), self.plain("w", 1)).await,
        );
        assert!(
            ok(C, "get", again.get(&key("k2")).await).is_some(),
            "[contract: {C}] a store opened again must accept writes"
        );
    }

    pub(super) async fn shared(&self) {
        const C: &str = "shared";
        let name = self.name(C);
        let one = self.open(name.clone()).await;
        let two = self.open(name).await;
        let shared = one.capabilities().shared;
        ok(C, "insert", one.insert(key("k"), self.plain("v", 1)).await);
        let seen = ok(C, "get", two.get(&key("k")).await);
        if !shared {
            assert!(
                seen.is_none(),
                "[contract: {C}] shared is false, yet a second store of the same cache reads \
                 the first one's write: declare shared = true (two stores opened for the same \
                 cache see the same data), or a reconfiguration will delete the only copy"
            );
            return;
        }
        assert_eq!(
            payload_of(&seen),
            Some(&b"v"[..]),
            "[contract: {C}] shared is true, so a second store of the same cache must read \
             the first one's write"
        );
        // Removes are not checked across the two: a stacked store's L1
        // keeps its copy until its coherence bus or l1_max_ttl drops it.
    }

    pub(super) async fn errors(&self) {
        const C: &str = "errors";
        let store = self.store(C).await;
        let caps = store.capabilities();
        let backend = store.backend().to_owned();
        let names_backend = |what: &str, e: Option<StoreError>| {
            if let Some(e) = e {
                match e {
                    StoreError::Unsupported { backend: b, .. } => assert_eq!(
                        b, backend,
                        "[contract: {C}] {what}: Unsupported must name the store's backend()"
                    ),
                    other => panic!(
                        "[contract: {C}] {what} is not supported, so it must answer \
                         StoreError::Unsupported, got {other}"
                    ),
                }
            }
        };
        let any = KeyPattern::parse("*").unwrap_or_else(|e| panic!("{e}"));
        if !caps.pattern_invalidation {
            names_backend(
                "invalidate_pattern",
                store.invalidate_pattern(&any).await.err(),
            );
        }
        if !caps.tag_invalidation {
            names_backend(
                "invalidate_tags",
                store.invalidate_tags(&[tag("t")]).await.err(),
            );
        }
        if !caps.export {
            names_backend("entries", store.entries().await.err());
            names_backend("entries_page", store.entries_page(0, 1).await.err());
        }
        let Some(unreachable) = &self.contract.unreachable else {
            return;
        };
        let store = unreachable(self.name("errors-unreachable")).await;
        let check = |what: &'static str, r: Option<StoreError>| match r {
            Some(StoreError::Unavailable { backend, .. } | StoreError::Timeout { backend, .. }) => {
                assert!(
                    !backend.is_empty(),
                    "[contract: {C}] {what}: name the backend"
                );
            }
            Some(other) => panic!(
                "[contract: {C}] {what} on an unreachable backend must answer Unavailable or \
                 Timeout (retrying may help), got {other}"
            ),
            None => panic!("[contract: {C}] {what} on an unreachable backend succeeded"),
        };
        let r = tokio::time::timeout(UNREACHABLE_DEADLINE, store.ping()).await;
        check(
            "ping",
            r.unwrap_or_else(|_| panic!("[contract: {C}] ping hung"))
                .err(),
        );
        let r = tokio::time::timeout(UNREACHABLE_DEADLINE, store.get(&key("k"))).await;
        check(
            "get",
            r.unwrap_or_else(|_| panic!("[contract: {C}] get hung"))
                .err(),
        );
        let r = tokio::time::timeout(
            UNREACHABLE_DEADLINE,
            store.insert(key("k"), self.plain("v", 1)),
        )
        .await;
        check(
            "insert",
            r.unwrap_or_else(|_| panic!("[contract: {C}] insert hung"))
                .err(),
        );
    }
}
