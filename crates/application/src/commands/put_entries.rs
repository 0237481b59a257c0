//! `PutEntries`: write several entries in one batch (`batchPut`).

use strata_domain::{CacheKey, CacheName, CacheValue, InsertOutcome, Principal, Role, Tag, Ttl};

use crate::batch::{BatchSizeError, check_batch_len};
use crate::commands::put_entry::{
    PutEntryError, build_entry, follow_swap_many, probe_value, revoke_leases, written_event,
};
use crate::context::Context;

/// One entry of a batch.
#[derive(Clone, Debug)]
pub struct BatchItem {
    /// The key.
    pub key: CacheKey,
    /// The value.
    pub value: CacheValue,
    /// TTL; `None` applies the cache's `default_ttl`.
    pub ttl: Option<Ttl>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// Write every item to `cache`. The batch is validated whole before
/// anything is written: one oversized value rejects the batch.
#[derive(Clone, Debug)]
pub struct PutEntries {
    /// Who acts; needs [`Role::Writer`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The entries, 1 to [`MAX_BATCH`](crate::batch::MAX_BATCH) of them
    /// (checked first, before the cache and the role).
    pub items: Vec<BatchItem>,
}

/// One outcome per item, in order.
#[derive(Clone, Debug)]
pub struct PutEntriesOutput {
    /// Created or replaced, per item.
    pub outcomes: Vec<InsertOutcome>,
}

/// Why a batch write failed: the batch's size, or one of a single
/// write's cases.
#[derive(Debug, thiserror::Error)]
pub enum PutEntriesError {
    /// No entry, or more than [`MAX_BATCH`](crate::batch::MAX_BATCH).
    #[error(transparent)]
    BatchSize(#[from] BatchSizeError),
    /// What a single write can fail with ([`PutEntryError`]).
    #[error(transparent)]
    Entry(#[from] PutEntryError),
}

pub(crate) async fn handle(
    ctx: &Context,
    cmd: PutEntries,
) -> Result<PutEntriesOutput, PutEntriesError> {
    check_batch_len(cmd.items.len())?;
    let cache = ctx
        .registry
        .authorize(&cmd.cache, &cmd.principal, Role::Writer)
        .map_err(PutEntryError::from)?;
    let mut batch = Vec::with_capacity(cmd.items.len());
    for item in cmd.items {
        probe_value(ctx, &cache, &item.value);
        let entry = build_entry(ctx, cache.config(), item.value, item.ttl, item.tags)?;
        batch.push((item.key, entry));
    }
    let events: Vec<_> = batch.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
    if let Some(analyzer) = cache.analyzer() {
        for (key, entry) in &batch {
            analyzer.record_write(key, entry.weight(key.as_str().len()));
        }
    }
    let outcomes = cache
        .store()
        .insert_many(batch)
        .await
        .map_err(PutEntryError::from)?;
    follow_swap_many(ctx, &cache, &events)
        .await
        .map_err(PutEntryError::from)?;
    let keys: Vec<_> = events.iter().map(|(key, _)| key.clone()).collect();
    revoke_leases(&cache, &keys).await;
    let followed = ctx.trends.enabled().then(|| ctx.clock.now());
    for ((key, entry), outcome) in events.iter().zip(&outcomes) {
        cache
            .counters()
            .inserted(*outcome == InsertOutcome::Created);
        if let Some(now) = followed {
            cache
                .counters()
                .track_write(key.as_str(), now, entry.expires_at());
        }
        ctx.events.publish(written_event(
            &cmd.cache,
            key,
            &cmd.principal,
            *outcome,
            entry,
        ));
    }
    Ok(PutEntriesOutput { outcomes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[tokio::test]
    async fn writes_in_one_store_call_and_reports_each_outcome() {
        let mut store = MockStore::new();
        store
            .expect_insert_many()
            .withf(|batch| batch.len() == 2)
            .times(1)
            .returning(|_| Ok(vec![InsertOutcome::Created, InsertOutcome::Replaced]));
        let (service, events) = service_with(config("c", None, 10), store).await;
        let item = |k: &str| BatchItem {
            key: key(k),
            value: value_of(b"v"),
            ttl: None,
            tags: vec![],
        };
        let out = service
            .put_many(PutEntries {
                principal: Principal::Anonymous,
                cache: name("c"),
                items: vec![item("a"), item("b")],
            })
            .await
            .unwrap();
        assert_eq!(
            out.outcomes,
            vec![InsertOutcome::Created, InsertOutcome::Replaced]
        );
        assert_eq!(events.kinds(), vec!["EntryCreated", "EntryUpdated"]);
    }

    #[tokio::test]
    async fn one_oversized_value_rejects_the_whole_batch() {
        let mut store = MockStore::new();
        store.expect_insert_many().never();
        let (service, _) = service_with(config("c", None, 2), store).await;
        let err = service
            .put_many(PutEntries {
                principal: Principal::Anonymous,
                cache: name("c"),
                items: vec![
                    BatchItem {
                        key: key("a"),
                        value: value_of(b"ok"),
                        ttl: None,
                        tags: vec![],
                    },
                    BatchItem {
                        key: key("b"),
                        value: value_of(b"big"),
                        ttl: None,
                        tags: vec![],
                    },
                ],
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            PutEntriesError::Entry(PutEntryError::ValueTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn the_batch_size_is_checked_first() {
        use crate::batch::MAX_BATCH;
        let mut store = MockStore::new();
        store.expect_insert_many().never();
        let (service, events) = service_with(config("c", None, 10), store).await;
        let item = |i: usize| BatchItem {
            key: key(&format!("k{i}")),
            value: value_of(b"v"),
            ttl: None,
            tags: vec![],
        };
        for (cache, len) in [("c", 0), ("c", MAX_BATCH + 1), ("unknown", MAX_BATCH + 1)] {
            let err = service
                .put_many(PutEntries {
                    // A writer of nothing: the size is refused before the role.
                    principal: principal(vec![]),
                    cache: name(cache),
                    items: (0..len).map(item).collect(),
                })
                .await
                .unwrap_err();
            assert!(
                matches!(err, PutEntriesError::BatchSize(BatchSizeError { len: l }) if l == len),
                "{cache} {len}: {err:?}"
            );
        }
        assert!(events.kinds().is_empty());
    }
}
