//! `FlushActionCache`: remove AC entries by scope.

use strata_domain::{FlushCriteria, FlushResult, Principal, Role};

use super::context::BuildCacheContext;

/// Remove (or, in a dry run, count) the AC entries `criteria` selects,
/// in every store of the AC; a failing store is named in its report
/// while the others are still flushed.
#[derive(Clone, Debug)]
pub struct FlushActionCache {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// What goes.
    pub criteria: FlushCriteria,
}

access_or_store_error! {
    /// Why the flush failed.
    pub enum FlushActionCacheError { Store: "The (single) store failed outright." }
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    cmd: FlushActionCache,
) -> Result<FlushResult, FlushActionCacheError> {
    ctx.authorize(&cmd.principal, Role::Admin)?;
    let result = ctx.ac.flush(&cmd.criteria).await?;
    ctx.report_flush(&result);
    tracing::info!(
        target: "strata::audit",
        principal = %cmd.principal,
        scope = cmd.criteria.scope.as_str(),
        dry_run = cmd.criteria.dry_run,
        entries = result.entries_removed(),
        bytes = result.bytes_reclaimed(),
        "action cache flushed"
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;
    use strata_domain::{FlushScope, StoreFlushReport, StoreKind};

    #[tokio::test]
    async fn only_admins_flush() {
        let mut m = Mocks::default();
        m.ac.expect_flush().times(1).returning(|c| {
            Ok(FlushResult::single(
                StoreKind::Ac,
                c.dry_run,
                StoreFlushReport {
                    store: "memory".into(),
                    entries_removed: 2,
                    ..Default::default()
                },
            ))
        });
        let s = m.service(true);
        let criteria = FlushCriteria::new(FlushScope::All);
        let err = s
            .flush_action_cache(FlushActionCache {
                principal: writer(),
                criteria: criteria.clone(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, FlushActionCacheError::Access(_)));
        let r = s
            .flush_action_cache(FlushActionCache {
                principal: principal_with("build-cache", Role::Admin),
                criteria,
            })
            .await
            .unwrap();
        assert_eq!(r.entries_removed(), 2);
    }
}
