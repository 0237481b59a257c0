//! `InvalidateEntries`: remove entries by keys, by glob pattern or by tags.

use std::collections::HashSet;

use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, DomainEvent, InvalidationCount,
    InvalidationSelector, Principal, Role, StoreError,
};

use crate::batch::{BatchSizeError, check_batch_len};
use crate::commands::put_entry::{revoke_all_leases, revoke_leases};
use crate::context::Context;
use crate::registry::AccessError;

/// Remove the entries `selector` picks from `cache`.
#[derive(Clone, Debug)]
pub struct InvalidateEntries {
    /// Who acts; needs [`Role::Writer`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// Keys, a pattern or tags; keys and tags 1 to
    /// [`MAX_BATCH`](crate::batch::MAX_BATCH) of them (checked first,
    /// before the cache and the role).
    pub selector: InvalidationSelector,
    /// Count what the selector picks and remove nothing: no confirmation
    /// is needed, no lease is revoked and no event is published. Patterns
    /// and tags are counted by enumerating the cache, so they need a
    /// store that can list its entries (not Memcached).
    pub dry_run: bool,
    /// The cache's name again, required for a pattern or tags selector
    /// when the cache has `confirm_destructive` on
    /// ([`AccessError::ConfirmationRequired`] otherwise). Ignored for keys.
    pub confirm: Option<String>,
}

/// Why an invalidation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvalidateEntriesError {
    /// The keys or tags selector holds none, or more than
    /// [`MAX_BATCH`](crate::batch::MAX_BATCH).
    #[error("{selector}: {source}")]
    BatchSize {
        /// Which selector: `keys` or `tags`.
        selector: &'static str,
        /// The size found.
        source: BatchSizeError,
    },
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend cannot select this way (e.g. patterns on Memcached), or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Returns how many entries were removed: exact for keys and patterns,
/// and for tags unless the store cannot count them
/// ([`InvalidationCount::Uncounted`], Memcached).
pub(crate) async fn handle(
    ctx: &Context,
    cmd: InvalidateEntries,
) -> Result<InvalidationCount, InvalidateEntriesError> {
    let (selector, len) = match &cmd.selector {
        InvalidationSelector::Keys(keys) => ("keys", Some(keys.len())),
        InvalidationSelector::Tags(tags) => ("tags", Some(tags.len())),
        InvalidationSelector::Pattern(_) => ("pattern", None),
    };
    if let Some(len) = len {
        check_batch_len(len)
            .map_err(|source| InvalidateEntriesError::BatchSize { selector, source })?;
    }
    let cache = ctx
        .registry
        .authorize(&cmd.cache, &cmd.principal, Role::Writer)?;
    let store = cache.store();
    let unsupported = |operation| StoreError::Unsupported {
        backend: store.backend().to_owned(),
        operation,
    };
    if cmd.dry_run {
        return dry_run(store.as_ref(), &cmd.selector).await;
    }
    if !matches!(cmd.selector, InvalidationSelector::Keys(_)) {
        crate::registry::check_confirmation(&cache, cmd.confirm.as_deref())?;
    }
    let count = match &cmd.selector {
        InvalidationSelector::Keys(keys) => {
            let mut n = 0;
            for key in keys {
                n += u64::from(store.remove(key).await?);
            }
            InvalidationCount::Exact(n)
        }
        InvalidationSelector::Pattern(pattern) => {
            if !store.capabilities().pattern_invalidation {
                return Err(unsupported("pattern invalidation").into());
            }
            InvalidationCount::Exact(store.invalidate_pattern(pattern).await?)
        }
        InvalidationSelector::Tags(tags) => {
            if !store.capabilities().tag_invalidation {
                return Err(unsupported("tag invalidation").into());
            }
            store.invalidate_tags(tags).await?
        }
    };
    match &cmd.selector {
        InvalidationSelector::Keys(keys) => revoke_leases(&cache, keys).await,
        InvalidationSelector::Pattern(_) | InvalidationSelector::Tags(_) => {
            revoke_all_leases(&cache).await;
        }
    }
    if let Some(n) = count.exact() {
        cache.counters().removed(n);
    }
    ctx.events.publish(DomainEvent::EntriesInvalidated {
        cache: cmd.cache,
        selector: cmd.selector,
        count,
        principal: cmd.principal,
        at: ctx.clock.now(),
    });
    Ok(count)
}

/// Whether an entry is one a dry run counts.
type Matcher = dyn Fn(&CacheKey, &CacheEntry) -> bool + Send + Sync;

/// Entries a dry run reads from the store per page.
const DRY_RUN_PAGE: usize = 1024;

/// How many live entries `selector` picks, removing nothing. Keys are
/// looked up one by one; patterns and tags walk every entry page by page
/// (the store's own SCAN semantics) and count each matching key once.
async fn dry_run(
    store: &dyn CacheStore,
    selector: &InvalidationSelector,
) -> Result<InvalidationCount, InvalidateEntriesError> {
    let unsupported = |operation| StoreError::Unsupported {
        backend: store.backend().to_owned(),
        operation,
    };
    let matches: Box<Matcher> = match selector {
        InvalidationSelector::Keys(keys) => {
            let mut n = 0;
            for key in keys {
                n += u64::from(store.get(key).await?.is_some());
            }
            return Ok(InvalidationCount::Exact(n));
        }
        InvalidationSelector::Pattern(pattern) => {
            let pattern = pattern.clone();
            Box::new(move |key, _| pattern.matches(key.as_str()))
        }
        InvalidationSelector::Tags(tags) => {
            let tags = tags.clone();
            Box::new(move |_, entry| tags.iter().any(|t| entry.has_tag(t)))
        }
    };
    if !store.capabilities().export {
        return Err(unsupported("dry run").into());
    }
    // Matching keys, once each: a Redis SCAN may return a key twice.
    let mut seen = HashSet::new();
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let page = store.entries_page(at, DRY_RUN_PAGE).await?;
        seen.extend(
            page.entries
                .into_iter()
                .filter(|(key, entry)| matches(key, entry))
                .map(|(key, _)| key),
        );
        cursor = page.next;
    }
    Ok(InvalidationCount::Exact(seen.len() as u64))
}

/// Convenience: a selector of explicit keys.
pub fn keys(keys: Vec<CacheKey>) -> InvalidationSelector {
    InvalidationSelector::Keys(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use strata_domain::{KeyPattern, StoreCapabilities, Tag};

    fn cmd(selector: InvalidationSelector) -> InvalidateEntries {
        InvalidateEntries {
            principal: Principal::Anonymous,
            cache: name("c"),
            selector,
            dry_run: false,
            confirm: None,
        }
    }

    #[tokio::test]
    async fn pattern_and_tags_go_to_the_store() {
        let mut store = MockStore::new();
        store
            .expect_capabilities()
            .return_const(StoreCapabilities::IN_PROCESS);
        store
            .expect_invalidate_pattern()
            .withf(|p| p.as_str() == "user:*")
            .returning(|_| Ok(3));
        store
            .expect_invalidate_tags()
            .withf(|t| t.len() == 1)
            .returning(|_| Ok(InvalidationCount::Exact(2)));
        let (service, events) = service_with(config("c", None, 10), store).await;
        let p = KeyPattern::parse("user:*").unwrap();
        assert_eq!(
            service
                .invalidate(cmd(InvalidationSelector::Pattern(p)))
                .await
                .unwrap(),
            InvalidationCount::Exact(3)
        );
        let t = vec![Tag::parse("t").unwrap()];
        assert_eq!(
            service
                .invalidate(cmd(InvalidationSelector::Tags(t)))
                .await
                .unwrap(),
            InvalidationCount::Exact(2)
        );
        assert_eq!(
            events.kinds(),
            vec!["EntriesInvalidated", "EntriesInvalidated"]
        );
    }

    #[tokio::test]
    async fn keys_count_only_present_entries() {
        let mut store = MockStore::new();
        store.expect_remove().returning(|k| Ok(k.as_str() == "a"));
        let (service, _) = service_with(config("c", None, 10), store).await;
        let n = service
            .invalidate(cmd(keys(vec![key("a"), key("b")])))
            .await
            .unwrap();
        assert_eq!(n, InvalidationCount::Exact(1));
    }

    #[tokio::test]
    async fn a_tag_invalidation_the_store_cannot_count_stays_uncounted() {
        let mut store = MockStore::new();
        store
            .expect_capabilities()
            .return_const(StoreCapabilities::IN_PROCESS);
        store
            .expect_invalidate_tags()
            .returning(|_| Ok(InvalidationCount::Uncounted));
        let (service, events) = service_with(config("c", None, 10), store).await;
        let t = vec![Tag::parse("t").unwrap()];
        let n = service
            .invalidate(cmd(InvalidationSelector::Tags(t)))
            .await
            .unwrap();
        assert_eq!(n, InvalidationCount::Uncounted, "no made-up count");
        assert_eq!(
            events.invalidation_counts(),
            vec![InvalidationCount::Uncounted]
        );
    }

    #[tokio::test]
    async fn a_missing_capability_is_refused_before_calling_the_store() {
        let mut store = MockStore::new();
        store.expect_backend().return_const("memcached".to_owned());
        store.expect_capabilities().return_const(StoreCapabilities {
            pattern_invalidation: false,
            ..StoreCapabilities::IN_PROCESS
        });
        store.expect_invalidate_pattern().never();
        let (service, _) = service_with(config("c", None, 10), store).await;
        let p = KeyPattern::parse("*").unwrap();
        let err = service
            .invalidate(cmd(InvalidationSelector::Pattern(p)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            InvalidateEntriesError::Store(StoreError::Unsupported { ref backend, .. }) if backend == "memcached"
        ));
    }

    #[tokio::test]
    async fn keys_and_tags_batch_sizes_are_checked_first() {
        use crate::batch::{BatchSizeError, MAX_BATCH};
        let mut store = MockStore::new();
        store.expect_remove().never();
        store.expect_invalidate_tags().never();
        let (service, events) = service_with(config("c", None, 10), store).await;
        let keys =
            |n: usize| InvalidationSelector::Keys((0..n).map(|i| key(&format!("k{i}"))).collect());
        let tags = |n: usize| {
            InvalidationSelector::Tags(
                (0..n)
                    .map(|i| Tag::parse(&format!("t{i}")).unwrap())
                    .collect(),
            )
        };
        for (selector, len, expected) in [
            (keys(0), 0, "keys"),
            (keys(MAX_BATCH + 1), MAX_BATCH + 1, "keys"),
            (tags(0), 0, "tags"),
            (tags(MAX_BATCH + 1), MAX_BATCH + 1, "tags"),
        ] {
            let err = service
                .invalidate(InvalidateEntries {
                    // A writer of nothing, on no cache: the size comes first.
                    principal: principal(vec![]),
                    cache: name("unknown"),
                    selector,
                    dry_run: false,
                    confirm: None,
                })
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    InvalidateEntriesError::BatchSize { selector, source: BatchSizeError { len: l } }
                        if selector == expected && l == len
                ),
                "{expected} {len}: {err:?}"
            );
        }
        assert!(events.kinds().is_empty());
    }

    fn entry(tags: &[&str]) -> CacheEntry {
        CacheEntry::new(
            value_of(b"v"),
            now(),
            None,
            tags.iter().map(|t| Tag::parse(t).unwrap()).collect(),
            strata_domain::EntryVersion::new(1),
        )
    }

    /// Two pages; `user:1` comes twice, as a Redis SCAN may return it.
    fn paged_store() -> MockStore {
        let mut store = MockStore::new();
        store
            .expect_capabilities()
            .return_const(StoreCapabilities::IN_PROCESS);
        store.expect_entries_page().returning(|cursor, _| {
            Ok(if cursor == 0 {
                strata_domain::EntriesPage {
                    entries: vec![
                        (key("user:1"), entry(&["a"])),
                        (key("order:1"), entry(&["a", "b"])),
                    ],
                    next: Some(7),
                }
            } else {
                strata_domain::EntriesPage {
                    entries: vec![(key("user:2"), entry(&[])), (key("user:1"), entry(&["a"]))],
                    next: None,
                }
            })
        });
        store.expect_invalidate_pattern().never();
        store.expect_invalidate_tags().never();
        store.expect_remove().never();
        store
    }

    #[tokio::test]
    async fn a_dry_run_counts_each_matching_key_once_and_removes_nothing() {
        let (service, events) = service_with(config("c", None, 10), paged_store()).await;
        let dry = |selector| InvalidateEntries {
            dry_run: true,
            ..cmd(selector)
        };
        let p = KeyPattern::parse("user:*").unwrap();
        let n = service
            .invalidate(dry(InvalidationSelector::Pattern(p)))
            .await
            .unwrap();
        assert_eq!(n, InvalidationCount::Exact(2));
        let t = vec![Tag::parse("a").unwrap()];
        let n = service
            .invalidate(dry(InvalidationSelector::Tags(t)))
            .await
            .unwrap();
        assert_eq!(n, InvalidationCount::Exact(2));
        assert!(events.kinds().is_empty(), "a dry run publishes nothing");
    }

    #[tokio::test]
    async fn a_protected_cache_refuses_a_pattern_without_its_name_but_not_a_dry_run() {
        let protected = config("c", None, 10)
            .to_builder()
            .confirm_destructive(true)
            .build()
            .unwrap();
        let mut store = MockStore::new();
        store
            .expect_capabilities()
            .return_const(StoreCapabilities::IN_PROCESS);
        store.expect_entries_page().returning(|_, _| {
            Ok(strata_domain::EntriesPage {
                entries: vec![(key("user:1"), entry(&[]))],
                next: None,
            })
        });
        store
            .expect_invalidate_pattern()
            .times(1)
            .returning(|_| Ok(1));
        let (service, events) = service_with(protected, store).await;
        let pattern = || InvalidationSelector::Pattern(KeyPattern::parse("user:*").unwrap());
        for confirm in [None, Some("other".to_owned())] {
            let err = service
                .invalidate(InvalidateEntries {
                    confirm,
                    ..cmd(pattern())
                })
                .await
                .unwrap_err();
            assert!(matches!(
                err,
                InvalidateEntriesError::Access(AccessError::ConfirmationRequired(_))
            ));
        }
        let dry = service
            .invalidate(InvalidateEntries {
                dry_run: true,
                ..cmd(pattern())
            })
            .await
            .unwrap();
        assert_eq!(dry, InvalidationCount::Exact(1));
        let done = service
            .invalidate(InvalidateEntries {
                confirm: Some("c".to_owned()),
                ..cmd(pattern())
            })
            .await
            .unwrap();
        assert_eq!(done, InvalidationCount::Exact(1));
        assert_eq!(events.kinds(), vec!["EntriesInvalidated"]);
    }
}
