//! `FlushContentStore`: remove CAS blobs by scope, and count the AC
//! entries that now dangle.

use strata_domain::{BuildCacheError, FlushCriteria, FlushResult, Principal, Role};

use super::context::BuildCacheContext;

/// Remove (or, in a dry run, count) the CAS blobs `criteria` selects, in
/// every store of the CAS.
///
/// After a real flush, every AC entry of an instance that validates AC
/// entries is decoded and checked against the CAS:
/// [`FlushResult::dangling_ac_entries`] is how many now reference a
/// missing blob (those answer 404 from then on). Entries of instances
/// without validation are raw bytes and are not counted. A dry run leaves
/// the count `None` (nothing was removed, so nothing dangles yet), and so
/// does a count that fails (the flush itself succeeded; the failure is
/// logged).
#[derive(Clone, Debug)]
pub struct FlushContentStore {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// What goes.
    pub criteria: FlushCriteria,
}

access_or_store_error! {
    /// Why the flush failed.
    pub enum FlushContentStoreError { Store: "The (single) store failed outright." }
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    cmd: FlushContentStore,
) -> Result<FlushResult, FlushContentStoreError> {
    ctx.authorize(&cmd.principal, Role::Admin)?;
    let mut result = ctx.cas.flush(&cmd.criteria).await?;
    ctx.report_flush(&result);
    if !cmd.criteria.dry_run {
        match dangling(ctx).await {
            Ok(n) => result.dangling_ac_entries = Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "cannot count dangling AC entries after a CAS flush")
            }
        }
    }
    tracing::info!(
        target: "strata::audit",
        principal = %cmd.principal,
        scope = cmd.criteria.scope.as_str(),
        dry_run = cmd.criteria.dry_run,
        entries = result.entries_removed(),
        bytes = result.bytes_reclaimed(),
        dangling_ac_entries = ?result.dangling_ac_entries,
        "CAS flushed"
    );
    Ok(result)
}

/// How many validated AC entries reference a blob the CAS lacks.
async fn dangling(ctx: &BuildCacheContext) -> Result<u64, BuildCacheError> {
    let mut n = 0;
    for meta in ctx.ac.list(None).await? {
        if !ctx.validation.validates(&meta.instance) {
            continue;
        }
        let Some(value) = ctx.ac.peek(&meta.instance, &meta.hash).await? else {
            continue;
        };
        let Ok(refs) = ctx.format.decode(&value) else {
            continue;
        };
        if !ctx
            .cas
            .find_missing(&meta.instance, &refs.digests())
            .await?
            .is_empty()
        {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;
    use bytes::Bytes;
    use strata_domain::{
        ActionResultRefs, EntryMeta, FlushScope, InstanceName, StoreFlushReport, StoreKind,
        Timestamp,
    };

    fn meta(c: char) -> EntryMeta {
        EntryMeta {
            instance: InstanceName::default(),
            hash: hash(c),
            size_bytes: 1,
            last_access: Timestamp::from_millis(0),
        }
    }

    fn flushed(dry_run: bool) -> FlushResult {
        FlushResult::single(
            StoreKind::Cas,
            dry_run,
            StoreFlushReport {
                store: "memory".into(),
                entries_removed: 1,
                ..Default::default()
            },
        )
    }

    #[tokio::test]
    async fn counts_the_entries_left_dangling() {
        let mut m = Mocks::default();
        m.cas.expect_flush().returning(|c| Ok(flushed(c.dry_run)));
        m.ac.expect_list()
            .returning(|_| Ok(vec![meta('1'), meta('2')]));
        m.ac.expect_peek()
            .returning(|_, k| Ok(Some(Bytes::copy_from_slice(k.as_bytes()))));
        m.format.expect_decode().returning(|bytes| {
            // Entry '1' references blob 'b' (gone), entry '2' blob 'c' (kept).
            let blob = if bytes == hash('1').as_bytes() {
                'b'
            } else {
                'c'
            };
            Ok(ActionResultRefs {
                output_files: vec![digest(blob, 1)],
                ..Default::default()
            })
        });
        m.cas.expect_find_missing().returning(|_, d| {
            Ok(d.iter()
                .filter(|d| *d.hash() == hash('b'))
                .copied()
                .collect())
        });
        let r = m
            .service(true)
            .flush_content_store(FlushContentStore {
                principal: admin(),
                criteria: FlushCriteria::new(FlushScope::All),
            })
            .await
            .unwrap();
        assert_eq!(r.dangling_ac_entries, Some(1));
    }

    #[tokio::test]
    async fn a_dry_run_counts_nothing_dangling() {
        let mut m = Mocks::default();
        m.cas.expect_flush().returning(|c| Ok(flushed(c.dry_run)));
        m.ac.expect_list().never();
        let r = m
            .service(true)
            .flush_content_store(FlushContentStore {
                principal: admin(),
                criteria: FlushCriteria::new(FlushScope::All).dry_run(true),
            })
            .await
            .unwrap();
        assert!(r.dry_run);
        assert_eq!(r.dangling_ac_entries, None);
    }
}
