//! `GetEntry`: read one entry; counts a hit or a miss. The answer says
//! which tier held the entry and whether it may be stale (degraded mode).

use strata_domain::{CacheKey, CacheName, Lookup, Principal, Role, StoreError};

use crate::context::Context;
use crate::registry::AccessError;

/// Read `key` from `cache`.
#[derive(Clone, Debug)]
pub struct GetEntry {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The key.
    pub key: CacheKey,
}

/// Why a read failed (a miss is not a failure: it is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum GetEntryError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn handle(
    ctx: &Context,
    query: GetEntry,
) -> Result<Option<Lookup>, GetEntryError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Reader)?;
    let entry = cache.store().lookup(&query.key).await?;
    if let Some(analyzer) = cache.analyzer() {
        let weight = entry
            .as_ref()
            .map(|found| found.entry.weight(query.key.as_str().len()));
        analyzer.record(&query.key, weight);
    }
    if entry.is_some() {
        cache.counters().hit(1);
    } else {
        cache.counters().miss(1);
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::get_cache_stats::GetCacheStats;
    use crate::test_support::*;
    use strata_domain::{CacheEntry, EntryVersion, StoreStats};

    #[tokio::test]
    async fn counts_hits_and_misses() {
        let mut store = MockStore::new();
        store.expect_get().returning(|k| {
            Ok((k.as_str() == "hit").then(|| {
                CacheEntry::new(value_of(b"v"), now(), None, vec![], EntryVersion::new(1))
            }))
        });
        store.expect_stats().returning(|| Ok(StoreStats::default()));
        store.expect_backend().return_const("mock".to_owned());
        let (service, _) = service_with(config("c", None, 10), store).await;
        let get = |k: &str| GetEntry {
            principal: Principal::Anonymous,
            cache: name("c"),
            key: key(k),
        };
        assert!(service.get(get("hit")).await.unwrap().is_some());
        assert!(service.get(get("miss")).await.unwrap().is_none());
        assert!(service.get(get("hit")).await.unwrap().is_some());
        let stats = service
            .stats(GetCacheStats {
                principal: Principal::Anonymous,
                cache: name("c"),
            })
            .await
            .unwrap();
        assert_eq!((stats.counters.hits, stats.counters.misses), (2, 1));
        assert!((stats.hit_ratio - 2.0 / 3.0).abs() < 1e-9);
    }
}
