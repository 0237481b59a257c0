//! `GetEntries`: read several keys in one batch (`batchGet`).

use strata_domain::{CacheEntry, CacheKey, CacheName, Principal, Role, StoreError};

use crate::batch::{BatchSizeError, check_batch_len};
use crate::context::Context;
use crate::registry::AccessError;

/// Read every key of `keys` from `cache`.
#[derive(Clone, Debug)]
pub struct GetEntries {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The keys, 1 to [`MAX_BATCH`](crate::batch::MAX_BATCH) of them
    /// (checked first, before the cache and the role).
    pub keys: Vec<CacheKey>,
}

/// One slot per requested key, in request order.
#[derive(Clone, Debug)]
pub struct GetEntriesOutput {
    /// `(key, Some(entry))` for hits, `(key, None)` for misses.
    pub results: Vec<(CacheKey, Option<CacheEntry>)>,
}

/// Why a batch read failed.
#[derive(Debug, thiserror::Error)]
pub enum GetEntriesError {
    /// No key, or more than [`MAX_BATCH`](crate::batch::MAX_BATCH).
    #[error(transparent)]
    BatchSize(#[from] BatchSizeError),
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn handle(
    ctx: &Context,
    query: GetEntries,
) -> Result<GetEntriesOutput, GetEntriesError> {
    check_batch_len(query.keys.len())?;
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Reader)?;
    let now = ctx.clock.now();
    // An entry kept for a stale window is a miss in a batch read.
    let found: Vec<Option<CacheEntry>> = cache
        .store()
        .get_many(&query.keys)
        .await?
        .into_iter()
        .map(|entry| entry.filter(|e| !e.is_stale(now)))
        .collect();
    if found.len() != query.keys.len() {
        return Err(StoreError::Unexpected(
            format!(
                "store answered {} slots for {} keys",
                found.len(),
                query.keys.len()
            )
            .into(),
        )
        .into());
    }
    if let Some(analyzer) = cache.analyzer() {
        for (key, entry) in query.keys.iter().zip(&found) {
            analyzer.record(key, entry.as_ref().map(|e| e.weight(key.as_str().len())));
        }
    }
    if ctx.trends.enabled() {
        for (key, entry) in query.keys.iter().zip(&found) {
            cache
                .counters()
                .track_read(key.as_str(), now, entry.is_some());
        }
    }
    let hits = found.iter().filter(|e| e.is_some()).count() as u64;
    cache.counters().hit(hits);
    cache.counters().miss(found.len() as u64 - hits);
    Ok(GetEntriesOutput {
        results: query.keys.into_iter().zip(found).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use strata_domain::EntryVersion;

    #[tokio::test]
    async fn pairs_keys_with_results_in_order() {
        let mut store = MockStore::new();
        store.expect_get_many().returning(|keys| {
            Ok(keys
                .iter()
                .map(|k| {
                    (k.as_str() != "b").then(|| {
                        CacheEntry::new(value_of(b"v"), now(), None, vec![], EntryVersion::new(1))
                    })
                })
                .collect())
        });
        let (service, _) = service_with(config("c", None, 10), store).await;
        let out = service
            .get_many(GetEntries {
                principal: Principal::Anonymous,
                cache: name("c"),
                keys: vec![key("a"), key("b"), key("c")],
            })
            .await
            .unwrap();
        let shape: Vec<_> = out
            .results
            .iter()
            .map(|(k, e)| (k.as_str(), e.is_some()))
            .collect();
        assert_eq!(shape, vec![("a", true), ("b", false), ("c", true)]);
    }

    #[tokio::test]
    async fn a_store_answering_the_wrong_number_of_slots_is_an_error() {
        let mut store = MockStore::new();
        store.expect_get_many().returning(|_| Ok(vec![]));
        let (service, _) = service_with(config("c", None, 10), store).await;
        let err = service
            .get_many(GetEntries {
                principal: Principal::Anonymous,
                cache: name("c"),
                keys: vec![key("a")],
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            GetEntriesError::Store(StoreError::Unexpected(_))
        ));
    }

    #[tokio::test]
    async fn the_batch_size_is_checked_first() {
        use crate::batch::MAX_BATCH;
        let mut store = MockStore::new();
        store.expect_get_many().never();
        let (service, _) = service_with(config("c", None, 10), store).await;
        for (cache, len) in [("c", 0), ("c", MAX_BATCH + 1), ("unknown", MAX_BATCH + 1)] {
            let err = service
                .get_many(GetEntries {
                    // A reader of nothing: the size is refused before the role.
                    principal: principal(vec![]),
                    cache: name(cache),
                    keys: (0..len).map(|i| key(&format!("k{i}"))).collect(),
                })
                .await
                .unwrap_err();
            assert!(
                matches!(err, GetEntriesError::BatchSize(BatchSizeError { len: l }) if l == len),
                "{cache} {len}: {err:?}"
            );
        }
    }
}
