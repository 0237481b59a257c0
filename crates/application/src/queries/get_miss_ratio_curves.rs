//! `GetMissRatioCurves`: a cache's live miss-ratio curves per policy, next
//! to the miss ratio the store observes; and `GetRecommendation`, the
//! advice derived from them (admin). Both read the cache's analyzer.

use strata_domain::{
    CacheName, EvictionPolicyKind, MissRatioCurves, Principal, Recommendation, Role, recommend,
};

use crate::context::Context;
use crate::registry::{AccessError, LiveCache};

/// Read the curves of `cache`.
#[derive(Clone, Debug)]
pub struct GetMissRatioCurves {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
}

/// A cache's curves and what its store observes.
#[derive(Clone, Debug)]
pub struct MissRatioReport {
    /// The cache.
    pub cache: CacheName,
    /// The configured policy (`auto` included).
    pub eviction: EvictionPolicyKind,
    /// The policy the store runs now.
    pub active_policy: EvictionPolicyKind,
    /// misses / reads the live store counted since start; `None` before
    /// the first read.
    pub observed_miss_ratio: Option<f64>,
    /// The estimates.
    pub curves: MissRatioCurves,
}

/// Why curves could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GetMissRatioCurvesError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The cache is not analysed (analysis off, an unbounded cache, or one
    /// whose first tier is not the memory tier). HTTP: 422.
    #[error("cache {0} has no miss-ratio analysis (analysis off, or no bounded memory tier)")]
    NotAnalyzed(CacheName),
}

/// Read the recommendation for `cache`.
#[derive(Clone, Debug)]
pub struct GetRecommendation {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
}

fn report(cache: &LiveCache) -> Result<MissRatioReport, GetMissRatioCurvesError> {
    let name = cache.config().name().clone();
    let analyzer = cache
        .analyzer()
        .ok_or_else(|| GetMissRatioCurvesError::NotAnalyzed(name.clone()))?;
    let counters = cache.counters().snapshot();
    let reads = counters.hits + counters.misses;
    Ok(MissRatioReport {
        cache: name,
        eviction: cache.config().eviction(),
        active_policy: cache.config().active_eviction(),
        observed_miss_ratio: (reads > 0).then(|| counters.misses as f64 / reads as f64),
        curves: analyzer.curves(),
    })
}

pub(crate) fn handle(
    ctx: &Context,
    query: GetMissRatioCurves,
) -> Result<MissRatioReport, GetMissRatioCurvesError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Reader)?;
    report(&cache)
}

pub(crate) fn handle_recommendation(
    ctx: &Context,
    query: GetRecommendation,
) -> Result<(MissRatioReport, Recommendation), GetMissRatioCurvesError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Admin)?;
    let report = report(&cache)?;
    let recommendation = recommend(&report.curves, report.active_policy);
    Ok((report, recommendation))
}

/// Every analysed cache's curves (for the metrics gauges), by name.
pub(crate) fn all(ctx: &Context) -> Vec<(CacheName, MissRatioCurves)> {
    ctx.registry
        .all()
        .iter()
        .filter_map(|cache| {
            cache
                .analyzer()
                .map(|a| (cache.config().name().clone(), a.curves()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[tokio::test]
    async fn a_cache_without_an_analyzer_is_not_analyzed_and_grants_are_checked() {
        let (service, _) = service_with(config("c", None, 10), MockStore::new()).await;
        let err = service
            .miss_ratio_curves(GetMissRatioCurves {
                principal: Principal::Anonymous,
                cache: name("c"),
            })
            .unwrap_err();
        assert!(matches!(err, GetMissRatioCurvesError::NotAnalyzed(_)));
        let outsider = principal(vec![grant("other", Role::Admin)]);
        let err = service
            .recommendation(GetRecommendation {
                principal: outsider,
                cache: name("c"),
            })
            .unwrap_err();
        assert!(matches!(
            err,
            GetMissRatioCurvesError::Access(AccessError::Forbidden { .. })
        ));
        let reader = principal(vec![grant("c", Role::Reader)]);
        let err = service
            .recommendation(GetRecommendation {
                principal: reader,
                cache: name("c"),
            })
            .unwrap_err();
        assert!(matches!(
            err,
            GetMissRatioCurvesError::Access(AccessError::Forbidden { .. })
        ));
    }
}
