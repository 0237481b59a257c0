//! `ImportEntries`: write a batch of exported entries back into a cache
//! (`POST /admin/v1/caches/{cache}/import`, an admin action). The HTTP
//! layer parses the stream and calls this once per batch, so a whole
//! import is never held in memory.

use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheValue, InsertOutcome, Principal, Role, StoreError, Tag,
    Timestamp,
};

use crate::commands::put_entry::written_event;
use crate::context::Context;
use crate::registry::AccessError;

/// What an import does with a key the cache holds already.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Replace the present entry (the default).
    #[default]
    Overwrite,
    /// Keep the present entry and count the record as skipped.
    Skip,
}

/// One record of an import, already parsed.
#[derive(Clone, Debug)]
pub struct ImportItem {
    /// Where the record sits in the input (NDJSON line number or
    /// MessagePack record index), echoed in [`ImportOutput::rejected`].
    pub position: u64,
    /// The key.
    pub key: CacheKey,
    /// The value and its content type.
    pub value: CacheValue,
    /// Absolute expiry; `None` keeps the entry until evicted (the cache's
    /// `default_ttl` is not applied: the export said it had no TTL).
    pub expires_at: Option<Timestamp>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// Write `items` into `cache`.
#[derive(Clone, Debug)]
pub struct ImportEntries {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// Overwrite or skip present keys.
    pub on_conflict: OnConflict,
    /// The batch.
    pub items: Vec<ImportItem>,
}

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutput {
    /// Records written.
    pub imported: u64,
    /// Records not written because the key was present (`on_conflict =
    /// skip`) or the entry had expired already.
    pub skipped: u64,
    /// Records refused: `(position, reason)`, e.g. a value above the
    /// cache's `max_value_bytes`.
    pub rejected: Vec<(u64, String)>,
}

/// Why an import batch failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportEntriesError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn handle(
    ctx: &Context,
    cmd: ImportEntries,
) -> Result<ImportOutput, ImportEntriesError> {
    let cache = ctx
        .registry
        .authorize(&cmd.cache, &cmd.principal, Role::Admin)?;
    let capabilities = cache.store().capabilities();
    if !capabilities.export {
        // Import is the other half of export: a backend that cannot
        // enumerate (Memcached) takes part in neither.
        return Err(StoreError::Unsupported {
            backend: cache.store().backend().to_owned(),
            operation: "export",
        }
        .into());
    }
    let config = cache.config();
    let now = ctx.clock.now();
    let mut out = ImportOutput::default();
    let mut batch: Vec<(CacheKey, CacheEntry)> = Vec::with_capacity(cmd.items.len());
    for item in cmd.items {
        let size = item.value.len() as u64;
        if size > config.max_value_bytes() {
            out.rejected.push((
                item.position,
                format!(
                    "value is {size} bytes; cache {} accepts at most {} bytes",
                    config.name(),
                    config.max_value_bytes()
                ),
            ));
            continue;
        }
        if item.expires_at.is_some_and(|at| at <= now) {
            out.skipped += 1;
            continue;
        }
        let entry = CacheEntry::new(
            item.value,
            now,
            item.expires_at,
            item.tags,
            ctx.next_version(),
        );
        batch.push((item.key, entry));
    }
    if cmd.on_conflict == OnConflict::Skip && !batch.is_empty() {
        let keys: Vec<CacheKey> = batch.iter().map(|(k, _)| k.clone()).collect();
        let present = cache.store().get_many(&keys).await?;
        let before = batch.len();
        batch = batch
            .into_iter()
            .zip(present)
            .filter_map(|(item, present)| present.is_none().then_some(item))
            .collect();
        out.skipped += (before - batch.len()) as u64;
    }
    if batch.is_empty() {
        return Ok(out);
    }
    if let Some(analyzer) = cache.analyzer() {
        for (key, entry) in &batch {
            analyzer.record_write(key, entry.weight(key.as_str().len()));
        }
    }
    let events: Vec<_> = batch.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
    let outcomes = cache.store().insert_many(batch).await?;
    crate::commands::put_entry::follow_swap_many(ctx, &cache, &events).await?;
    crate::commands::put_entry::revoke_all_leases(&cache).await;
    for ((key, entry), outcome) in events.iter().zip(&outcomes) {
        cache
            .counters()
            .inserted(*outcome == InsertOutcome::Created);
        ctx.events.publish(written_event(
            &cmd.cache,
            key,
            &cmd.principal,
            *outcome,
            entry,
        ));
    }
    out.imported = outcomes.len() as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    fn item(position: u64, k: &str, v: &'static [u8], expires_at: Option<u64>) -> ImportItem {
        ImportItem {
            position,
            key: key(k),
            value: value_of(v),
            expires_at: expires_at.map(Timestamp::from_millis),
            tags: vec![],
        }
    }

    #[tokio::test]
    async fn skips_present_keys_expired_entries_and_rejects_oversized_values() {
        let mut store = MockStore::new();
        store
            .expect_capabilities()
            .return_const(strata_domain::StoreCapabilities::IN_PROCESS);
        store
            .expect_get_many()
            .withf(|keys| keys.len() == 2)
            .returning(|keys| {
                Ok(keys
                    .iter()
                    .map(|k| {
                        (k.as_str() == "present").then(|| {
                            CacheEntry::new(
                                value_of(b"old"),
                                Timestamp::from_millis(NOW),
                                None,
                                vec![],
                                strata_domain::EntryVersion::new(1),
                            )
                        })
                    })
                    .collect())
            });
        store
            .expect_insert_many()
            .withf(|batch| batch.len() == 1 && batch[0].0.as_str() == "new")
            .times(1)
            .returning(|_| Ok(vec![InsertOutcome::Created]));
        let (service, events) = service_with(config("c", None, 4), store).await;
        let out = service
            .import(ImportEntries {
                principal: Principal::Anonymous,
                cache: name("c"),
                on_conflict: OnConflict::Skip,
                items: vec![
                    item(1, "present", b"v", None),
                    item(2, "new", b"v", Some(NOW + 1_000)),
                    item(3, "gone", b"v", Some(NOW)),
                    item(4, "big", b"too big", None),
                ],
            })
            .await
            .unwrap();
        assert_eq!(out.imported, 1);
        assert_eq!(out.skipped, 2);
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].0, 4);
        assert_eq!(events.kinds(), vec!["EntryCreated"]);
    }

    #[tokio::test]
    async fn needs_the_admin_role() {
        let mut store = MockStore::new();
        store.expect_insert_many().never();
        let (service, _) = service_with(config("c", None, 10), store).await;
        let err = service
            .import(ImportEntries {
                principal: writer(),
                cache: name("c"),
                on_conflict: OnConflict::Overwrite,
                items: vec![item(1, "a", b"v", None)],
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ImportEntriesError::Access(AccessError::Forbidden { .. })
        ));
    }
}
