//! `ListCaches`: the caches the caller may read, with their configuration.

use strata_domain::{CacheConfiguration, Principal, Role};

use crate::context::Context;

/// List the caches the caller may read: a cache the principal holds no
/// [`Role::Reader`] grant on is left out, so the listing reveals no cache
/// outside the caller's grants. It never fails for lack of a grant: it is
/// then empty.
#[derive(Clone, Debug)]
pub struct ListCaches {
    /// Who acts; sees the caches it holds [`Role::Reader`] on.
    pub principal: Principal,
}

/// One cache in the listing.
#[derive(Clone, Debug)]
pub struct CacheSummary {
    /// Its configuration.
    pub config: CacheConfiguration,
    /// Its store's technology.
    pub backend: String,
}

pub(crate) async fn handle(ctx: &Context, query: ListCaches) -> Vec<CacheSummary> {
    ctx.registry
        .all()
        .into_iter()
        .filter(|c| query.principal.may(Role::Reader, c.config().name()))
        .map(|c| CacheSummary {
            config: c.config().clone(),
            backend: c.store().backend().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use strata_domain::{Role, StoreCapabilities};

    #[tokio::test]
    async fn lists_only_the_caches_the_caller_may_read() {
        let mut first = MockStore::new();
        first.expect_backend().return_const("mock".to_owned());
        let (service, _events, provider) =
            service_with_provider(config("build-a", None, 10), first).await;
        for cache in ["sessions", "build-b"] {
            let mut store = MockStore::new();
            store.expect_backend().return_const("mock".to_owned());
            store
                .expect_capabilities()
                .return_const(StoreCapabilities::IN_PROCESS);
            provider.next(store);
            service
                .configure(crate::commands::configure_cache::ConfigureCache {
                    principal: Principal::Anonymous,
                    config: config(cache, None, 10),
                    expected_version: None,
                    explicit: None,
                })
                .await
                .unwrap();
        }
        let names = |list: Vec<CacheSummary>| -> Vec<String> {
            list.iter().map(|c| c.config.name().to_string()).collect()
        };
        let builder = principal(vec![grant("build-*", Role::CasWriter)]);
        let listed = service.list(ListCaches { principal: builder }).await;
        assert_eq!(names(listed), ["build-a", "build-b"]);
        let nobody = principal(vec![]);
        assert!(
            service
                .list(ListCaches { principal: nobody })
                .await
                .is_empty()
        );
        let all = service
            .list(ListCaches {
                principal: Principal::Anonymous,
            })
            .await;
        assert_eq!(names(all), ["build-a", "build-b", "sessions"]);
    }
}
