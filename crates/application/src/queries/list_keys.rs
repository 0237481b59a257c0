//! `ListKeys`: one page of a cache's keys, optionally filtered by a glob
//! (`GET /v1/caches/{cache}/keys`), with Redis `SCAN` semantics: a key
//! present for the whole scan is returned at least once, a key written or
//! removed meanwhile may or may not be, a key may come twice, and a page
//! may be short or empty while the cursor goes on.

use std::time::Duration;

use strata_domain::{CacheName, KeyPattern, Principal, Role, StoreError};

use crate::context::Context;
use crate::registry::AccessError;

/// Most keys one page returns.
pub const MAX_KEYS_PAGE: usize = 1000;

/// Entries one call reads from the store at most, however few match the
/// filter: a selective glob over a million keys answers within this
/// budget with a cursor, as `SCAN MATCH` does.
pub const KEYS_SCAN_BUDGET: usize = 10_000;

/// List keys of `cache` from `cursor`.
#[derive(Clone, Debug)]
pub struct ListKeys {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// Where to go on: `0` to start, then each page's `next`.
    pub cursor: u64,
    /// Only keys this glob matches; `None` for every key.
    pub pattern: Option<KeyPattern>,
    /// Keys wanted, 1 to [`MAX_KEYS_PAGE`] (clamped).
    pub limit: usize,
}

/// One listed key with what the key browser shows beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySummary {
    /// The key.
    pub key: String,
    /// The value's size in bytes (as stored, before any compression).
    pub value_bytes: u64,
    /// Time left before the entry expires; `None` when it never does.
    pub ttl: Option<Duration>,
    /// The entry's tags.
    pub tags: Vec<String>,
}

/// A page of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeysPage {
    /// Matching keys, at most the limit asked for (possibly none even when
    /// `next` is `Some`).
    pub keys: Vec<KeySummary>,
    /// The cursor of the next page; `None` when the scan is done.
    pub next: Option<u64>,
}

/// Why keys cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListKeysError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend cannot enumerate its keys (`StoreError::Unsupported`
    /// naming `key listing`, Memcached) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn handle(ctx: &Context, query: ListKeys) -> Result<KeysPage, ListKeysError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Reader)?;
    let store = cache.store();
    if !store.capabilities().export {
        return Err(StoreError::Unsupported {
            backend: store.backend().to_owned(),
            operation: "key listing",
        }
        .into());
    }
    let limit = query.limit.clamp(1, MAX_KEYS_PAGE);
    let now = ctx.clock.now();
    let mut page = KeysPage {
        keys: Vec::new(),
        next: Some(query.cursor),
    };
    let mut scanned = 0;
    // Ask for what is still missing, so an unfiltered page is one store
    // page and never more than `limit` keys.
    while let Some(cursor) = page.next {
        if page.keys.len() >= limit || scanned >= KEYS_SCAN_BUDGET {
            break;
        }
        let got = store.entries_page(cursor, limit - page.keys.len()).await?;
        scanned += got.entries.len().max(1);
        page.next = got.next;
        for (key, entry) in got.entries {
            if query
                .pattern
                .as_ref()
                .is_some_and(|p| !p.matches(key.as_str()))
            {
                continue;
            }
            page.keys.push(KeySummary {
                value_bytes: entry.value().len() as u64,
                ttl: entry.remaining_ttl(now),
                tags: entry.tags().iter().map(|t| t.as_str().to_owned()).collect(),
                key: key.as_str().to_owned(),
            });
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use strata_domain::{CacheEntry, EntriesPage, EntryVersion, StoreCapabilities};

    use super::*;
    use crate::test_support::*;

    fn entry() -> CacheEntry {
        CacheEntry::new(
            value_of(b"abc"),
            now(),
            None,
            Vec::new(),
            EntryVersion::new(1),
        )
    }

    /// A store of keys `k0`..`k{n}` whose pages are `size` long at most
    /// and whose cursor is the position.
    fn store_of(n: u64) -> MockStore {
        let mut store = MockStore::new();
        store
            .expect_capabilities()
            .return_const(StoreCapabilities::IN_PROCESS);
        store.expect_entries_page().returning(move |cursor, limit| {
            let end = (cursor + limit as u64).min(n);
            Ok(EntriesPage {
                entries: (cursor..end)
                    .map(|i| (key(&format!("k{i}")), entry()))
                    .collect(),
                next: (end < n).then_some(end),
            })
        });
        store
    }

    fn query(cursor: u64, pattern: Option<&str>, limit: usize) -> ListKeys {
        ListKeys {
            principal: reader(),
            cache: name("c"),
            cursor,
            pattern: pattern.map(|p| KeyPattern::parse(p).unwrap()),
            limit,
        }
    }

    #[tokio::test]
    async fn pages_through_every_key_exactly_to_the_end() {
        let (service, _) = service_with(config("c", None, 10), store_of(25)).await;
        let mut seen = Vec::new();
        let mut cursor = Some(0);
        while let Some(at) = cursor {
            let page = service.list_keys(query(at, None, 10)).await.unwrap();
            assert!(page.keys.len() <= 10);
            seen.extend(page.keys.into_iter().map(|k| k.key));
            cursor = page.next;
        }
        assert_eq!(seen.len(), 25);
        assert_eq!(seen[24], "k24");
        assert_eq!(seen[0], "k0");
    }

    #[tokio::test]
    async fn a_glob_filters_and_the_scan_budget_bounds_one_call() {
        let (service, _) = service_with(config("c", None, 10), store_of(30_000)).await;
        let page = service
            .list_keys(query(0, Some("k2999?"), 100))
            .await
            .unwrap();
        // k29990..k29999 sit beyond the first call's budget.
        assert!(page.keys.is_empty());
        let next = page.next.expect("the scan goes on");
        assert!(next >= KEYS_SCAN_BUDGET as u64);
        let mut found = Vec::new();
        let mut cursor = Some(next);
        while let Some(at) = cursor {
            let page = service
                .list_keys(query(at, Some("k2999?"), 100))
                .await
                .unwrap();
            found.extend(page.keys.into_iter().map(|k| k.key));
            cursor = page.next;
        }
        assert_eq!(found.len(), 10);
        assert_eq!(found[0], "k29990");
    }

    #[tokio::test]
    async fn a_store_that_cannot_enumerate_is_unsupported() {
        let mut store = MockStore::new();
        store.expect_backend().return_const("memcached".to_owned());
        store.expect_capabilities().return_const(StoreCapabilities {
            export: false,
            ..StoreCapabilities::IN_PROCESS
        });
        store.expect_entries_page().never();
        let (service, _) = service_with(config("c", None, 10), store).await;
        let err = service.list_keys(query(0, None, 10)).await.unwrap_err();
        assert!(matches!(
            err,
            ListKeysError::Store(StoreError::Unsupported { .. })
        ));
    }

    #[tokio::test]
    async fn needs_the_reader_role() {
        let (service, _) = service_with(config("c", None, 10), store_of(1)).await;
        let err = service
            .list_keys(ListKeys {
                principal: principal(vec![]),
                ..query(0, None, 10)
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ListKeysError::Access(AccessError::Forbidden { .. })
        ));
    }
}
