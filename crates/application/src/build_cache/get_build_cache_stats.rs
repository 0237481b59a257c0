//! `GetBuildCacheStats`: the AC's and CAS's counters, per store, and
//! the reads of each REAPI instance.

use strata_domain::{Principal, Role, StoreUsage};

use super::context::BuildCacheContext;
use super::traffic::InstanceUsage;

/// Read the build cache's counters.
#[derive(Clone, Debug)]
pub struct GetBuildCacheStats {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
}

/// The counters of every store, memory first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildCacheStats {
    /// The action cache's stores: entries, bytes, hits, misses.
    pub ac: Vec<StoreUsage>,
    /// The CAS's stores.
    pub cas: Vec<StoreUsage>,
    /// Every REAPI instance seen since the server started, by name. The
    /// stores are shared, so instances have no entries or bytes of their
    /// own.
    pub instances: Vec<InstanceUsage>,
}

access_or_store_error! {
    /// Why the stats cannot be read.
    pub enum GetBuildCacheStatsError { Store: "A store failed." }
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    q: GetBuildCacheStats,
) -> Result<BuildCacheStats, GetBuildCacheStatsError> {
    ctx.authorize(&q.principal, Role::Reader)?;
    Ok(BuildCacheStats {
        ac: ctx.ac.stats().await?,
        cas: ctx.cas.stats().await?,
        instances: ctx.traffic.usage(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;

    #[tokio::test]
    async fn reports_both_stores() {
        let mut m = Mocks::default();
        let usage = |entries| StoreUsage {
            store: "memory".into(),
            entries,
            ..Default::default()
        };
        m.ac.expect_stats().returning(move || Ok(vec![usage(1)]));
        m.cas.expect_stats().returning(move || Ok(vec![usage(2)]));
        let s = m
            .service(true)
            .stats(GetBuildCacheStats {
                principal: reader(),
            })
            .await
            .unwrap();
        assert_eq!((s.ac[0].entries, s.cas[0].entries), (1, 2));
    }
}
