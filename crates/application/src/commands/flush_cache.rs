//! `FlushCache`: remove every entry of one cache (an admin action).

use strata_domain::{CacheName, DomainEvent, Principal, Role, StoreError};

use crate::context::Context;
use crate::registry::AccessError;

/// Remove every entry of `cache`, and no other cache's.
#[derive(Clone, Debug)]
pub struct FlushCache {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The cache's name again, required when it has `confirm_destructive`
    /// on ([`AccessError::ConfirmationRequired`] otherwise).
    pub confirm: Option<String>,
}

/// Why a flush failed.
#[derive(Debug, thiserror::Error)]
pub enum FlushCacheError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn handle(ctx: &Context, cmd: FlushCache) -> Result<(), FlushCacheError> {
    let cache = ctx
        .registry
        .authorize(&cmd.cache, &cmd.principal, Role::Admin)?;
    crate::registry::check_confirmation(&cache, cmd.confirm.as_deref())?;
    cache.store().flush().await?;
    crate::commands::put_entry::revoke_all_leases(&cache).await;
    cache.counters().flushed();
    ctx.alerts
        .record_flush(cmd.cache.as_str(), None, ctx.clock.now().as_millis());
    ctx.events.publish(DomainEvent::CacheFlushed {
        cache: cmd.cache,
        principal: cmd.principal,
        at: ctx.clock.now(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[tokio::test]
    async fn flushes_and_audits() {
        let mut store = MockStore::new();
        store.expect_flush().times(1).returning(|| Ok(()));
        let (service, events) = service_with(config("c", None, 10), store).await;
        service
            .flush(FlushCache {
                principal: Principal::Anonymous,
                cache: name("c"),
                confirm: None,
            })
            .await
            .unwrap();
        assert_eq!(events.kinds(), vec!["CacheFlushed"]);
    }

    #[tokio::test]
    async fn needs_the_admin_role() {
        let mut store = MockStore::new();
        store.expect_flush().never();
        let (service, events) = service_with(config("c", None, 10), store).await;
        let err = service
            .flush(FlushCache {
                principal: writer(),
                cache: name("c"),
                confirm: None,
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            FlushCacheError::Access(AccessError::Forbidden { .. })
        ));
        assert!(events.kinds().is_empty());
    }

    #[tokio::test]
    async fn a_protected_cache_needs_its_name_as_confirmation() {
        let mut store = MockStore::new();
        store.expect_flush().times(1).returning(|| Ok(()));
        let protected = config("c", None, 10)
            .to_builder()
            .confirm_destructive(true)
            .build()
            .unwrap();
        let (service, events) = service_with(protected, store).await;
        for confirm in [None, Some("other".to_owned())] {
            let err = service
                .flush(FlushCache {
                    principal: Principal::Anonymous,
                    cache: name("c"),
                    confirm,
                })
                .await
                .unwrap_err();
            assert!(matches!(
                err,
                FlushCacheError::Access(AccessError::ConfirmationRequired(_))
            ));
        }
        assert!(events.kinds().is_empty());
        service
            .flush(FlushCache {
                principal: Principal::Anonymous,
                cache: name("c"),
                confirm: Some("c".to_owned()),
            })
            .await
            .unwrap();
        assert_eq!(events.kinds(), vec!["CacheFlushed"]);
    }
}
