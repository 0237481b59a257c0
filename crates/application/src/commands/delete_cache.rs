//! `DeleteCache`: remove a cache, its configuration and its entries
//! (admin). A cache the configuration file names comes back, as the file
//! seeds it, at the next start-up.

use strata_domain::{
    CacheName, DomainEvent, ExpectedVersion, Principal, RepositoryError, Role, SaveError,
    StoreError,
};

use crate::context::Context;
use crate::registry::AccessError;

/// Delete `cache`.
#[derive(Clone, Debug)]
pub struct DeleteCache {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The cache's name again, required when it has `confirm_destructive`
    /// on ([`AccessError::ConfirmationRequired`] otherwise).
    pub confirm: Option<String>,
}

/// Why a delete failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteCacheError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The entries could not be flushed; the cache is gone all the same.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration could not be deleted.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl From<SaveError> for DeleteCacheError {
    fn from(e: SaveError) -> Self {
        match e {
            SaveError::Repository(r) => Self::Repository(r),
            // `ExpectedVersion::Any` does not conflict.
            conflict @ SaveError::Conflict { .. } => {
                Self::Repository(RepositoryError(Box::new(conflict)))
            }
        }
    }
}

pub(crate) async fn handle(ctx: &Context, cmd: DeleteCache) -> Result<(), DeleteCacheError> {
    let cache = ctx
        .registry
        .authorize(&cmd.cache, &cmd.principal, Role::Admin)?;
    let _serial = ctx.config_lock.lock().await;
    let cache = ctx.registry.get(&cmd.cache).unwrap_or(cache);
    crate::registry::check_confirmation(&cache, cmd.confirm.as_deref())?;
    ctx.repository
        .delete(&cmd.cache, ExpectedVersion::Any)
        .await?;
    ctx.registry.remove(&cmd.cache);
    ctx.events.publish(DomainEvent::ConfigurationChanged {
        cache: cmd.cache,
        before: Some(Box::new(cache.config().clone())),
        after: None,
        cause: strata_domain::ChangeCause::Admin,
        principal: cmd.principal,
        at: ctx.clock.now(),
    });
    cache.store().flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[tokio::test]
    async fn removes_the_cache_and_its_entries() {
        let mut store = MockStore::new();
        store.expect_flush().times(1).returning(|| Ok(()));
        let (service, events) = service_with(config("c", None, 10), store).await;
        service
            .delete_cache(DeleteCache {
                principal: Principal::Anonymous,
                cache: name("c"),
                confirm: None,
            })
            .await
            .unwrap();
        assert!(service.registry().get(&name("c")).is_none());
        assert_eq!(events.kinds(), vec!["ConfigurationChanged"]);
    }
}
