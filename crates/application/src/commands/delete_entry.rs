//! `DeleteEntry`: remove one key.

use strata_domain::{
    CacheKey, CacheName, DomainEvent, InvalidationCount, InvalidationSelector, Principal, Role,
    StoreError,
};

use crate::context::Context;
use crate::registry::AccessError;

/// Remove `key` from `cache`.
#[derive(Clone, Debug)]
pub struct DeleteEntry {
    /// Who acts; needs [`Role::Writer`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The key.
    pub key: CacheKey,
}

/// Why a delete failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteEntryError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Returns whether a live entry was removed.
pub(crate) async fn handle(ctx: &Context, cmd: DeleteEntry) -> Result<bool, DeleteEntryError> {
    let cache = ctx
        .registry
        .authorize(&cmd.cache, &cmd.principal, Role::Writer)?;
    let removed = cache.store().remove(&cmd.key).await?;
    crate::commands::put_entry::revoke_leases(&cache, std::slice::from_ref(&cmd.key)).await;
    if removed {
        cache.counters().removed(1);
        ctx.events.publish(DomainEvent::EntriesInvalidated {
            cache: cmd.cache,
            selector: InvalidationSelector::Keys(vec![cmd.key]),
            count: InvalidationCount::Exact(1),
            principal: cmd.principal,
            at: ctx.clock.now(),
        });
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[tokio::test]
    async fn reports_whether_the_key_was_present() {
        let mut store = MockStore::new();
        let mut answers = vec![false, true];
        store
            .expect_remove()
            .times(2)
            .returning(move |_| Ok(answers.pop().unwrap_or(false)));
        let (service, events) = service_with(config("c", None, 10), store).await;
        let cmd = DeleteEntry {
            principal: Principal::Anonymous,
            cache: name("c"),
            key: key("k"),
        };
        assert!(service.delete(cmd.clone()).await.unwrap());
        assert!(!service.delete(cmd).await.unwrap());
        assert_eq!(events.kinds(), vec!["EntriesInvalidated"]);
    }
}
