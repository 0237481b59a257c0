//! `InvalidateEntries`: remove entries by keys, by glob pattern or by tags.

use strata_domain::{
    CacheKey, CacheName, DomainEvent, InvalidationCount, InvalidationSelector, Principal, Role,
    StoreError,
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
}
