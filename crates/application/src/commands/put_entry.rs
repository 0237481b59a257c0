//! `PutEntry`: write one entry (cache-aside `set`).

use strata_domain::{
    CacheConfiguration, CacheEntry, CacheKey, CacheName, CacheValue, DomainEvent, InsertOutcome,
    LeaseToken, Principal, Role, StoreError, Tag, Ttl,
};

use crate::context::Context;
use crate::registry::{AccessError, LiveCache};

/// Write `value` under `key` in `cache`.
#[derive(Clone, Debug)]
pub struct PutEntry {
    /// Who acts; needs [`Role::Writer`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The key.
    pub key: CacheKey,
    /// The value.
    pub value: CacheValue,
    /// TTL; `None` applies the cache's `default_ttl`.
    pub ttl: Option<Ttl>,
    /// Tags for invalidation by tag.
    pub tags: Vec<Tag>,
    /// The key's lease, when this write fills a miss the caller was given
    /// the lease for: the write stores nothing if the lease was
    /// invalidated meanwhile. `None` writes unconditionally, and ends any
    /// lease on the key.
    pub lease: Option<LeaseToken>,
}

/// What the write did.
#[derive(Clone, Debug)]
pub struct PutEntryOutput {
    /// Created or replaced.
    pub outcome: InsertOutcome,
    /// The entry as stored (its version gives the ETag).
    pub entry: CacheEntry,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum PutEntryError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The value exceeds the cache's `max_value_bytes`. HTTP: 413.
    #[error("value is {size} bytes; cache {cache} accepts at most {limit} bytes")]
    ValueTooLarge {
        /// The cache.
        cache: CacheName,
        /// The value's size in bytes.
        size: u64,
        /// The cache's limit in bytes.
        limit: u64,
    },
    /// The write carried a lease that was invalidated (by a delete, an
    /// invalidation or a newer write) or ran out: nothing was stored, so
    /// that an older value never overwrites a newer one. HTTP: 409.
    #[error(
        "the lease on key {key:?} was invalidated or ran out before this write; nothing was \
         stored (a newer write or an invalidation wins)"
    )]
    LeaseInvalidated {
        /// The key.
        key: CacheKey,
    },
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds the entry a write stores: size check, default TTL, version.
pub(crate) fn build_entry(
    ctx: &Context,
    config: &CacheConfiguration,
    value: CacheValue,
    ttl: Option<Ttl>,
    tags: Vec<Tag>,
) -> Result<CacheEntry, PutEntryError> {
    let size = value.len() as u64;
    if size > config.max_value_bytes() {
        return Err(PutEntryError::ValueTooLarge {
            cache: config.name().clone(),
            size,
            limit: config.max_value_bytes(),
        });
    }
    let now = ctx.clock.now();
    let expires_at = ttl
        .or(config.default_ttl())
        .map(|ttl| now.saturating_add(ttl.as_duration()));
    // With stale-while-revalidate the store keeps the entry that much
    // longer, marked stale from its TTL on.
    Ok(
        CacheEntry::new(value, now, expires_at, tags, ctx.next_version())
            .kept_stale_for(config.stale().stale_while_revalidate()),
    )
}

/// Ends the leases on `keys` after a write or delete without a lease:
/// a fill that started before it must not overwrite it. A lease store
/// that fails is logged; the write already happened.
pub(crate) async fn revoke_leases(cache: &LiveCache, keys: &[CacheKey]) {
    let Some(leases) = cache.leases() else {
        return;
    };
    for key in keys {
        if let Err(e) = leases.revoke(key).await {
            tracing::warn!(cache = %cache.config().name(), error = %e, "could not end a lease");
        }
    }
}

/// Ends every lease of the cache after a pattern or tag invalidation, a
/// flush or an import.
pub(crate) async fn revoke_all_leases(cache: &LiveCache) {
    if let Some(leases) = cache.leases()
        && let Err(e) = leases.revoke_all().await
    {
        tracing::warn!(cache = %cache.config().name(), error = %e, "could not end the leases");
    }
}

pub(crate) fn written_event(
    cache: &CacheName,
    key: &CacheKey,
    principal: &Principal,
    outcome: InsertOutcome,
    entry: &CacheEntry,
) -> DomainEvent {
    let (cache, key, principal, at) = (
        cache.clone(),
        key.clone(),
        principal.clone(),
        entry.created_at(),
    );
    match outcome {
        InsertOutcome::Created => DomainEvent::EntryCreated {
            cache,
            key,
            principal,
            at,
        },
        InsertOutcome::Replaced => DomainEvent::EntryUpdated {
            cache,
            key,
            principal,
            at,
        },
    }
}

/// A [`PutEntry`]'s precondition, checked before its value is read (an
/// HTTP face can then refuse a body without reading it): `principal` may
/// write `cache` ([`Role::Writer`]). Returns the largest value the cache
/// accepts, its `max_value_bytes`.
///
/// # Errors
/// [`AccessError`]: no such cache, or no writer grant.
pub(crate) fn admit(
    ctx: &Context,
    principal: &Principal,
    cache: &CacheName,
) -> Result<u64, AccessError> {
    let cache = ctx.registry.authorize(cache, principal, Role::Writer)?;
    Ok(cache.config().max_value_bytes())
}

/// Probes one write in [`strata_domain::PROBE_EVERY_WRITES`] of `cache`
/// for how well its value compresses (at most
/// [`strata_domain::PROBE_MAX_BYTES`] of it), with trends on and a probe
/// wired.
pub(crate) fn probe_value(ctx: &Context, cache: &LiveCache, value: &CacheValue) {
    let Some(probe) = &ctx.compression_probe else {
        return;
    };
    if !ctx.trends.enabled() || !cache.counters().probe_due() {
        return;
    }
    let bytes = value.bytes();
    let head = &bytes[..bytes.len().min(strata_domain::PROBE_MAX_BYTES)];
    if !head.is_empty() {
        cache
            .counters()
            .record_probe(head.len(), probe.compressed_len(head));
    }
}

/// Writes `entry` again to the store now serving `cache` when a
/// reconfiguration swapped the cache's store while this write went to the
/// one it replaces, and the entry is still there: the move out of the
/// replaced store may have listed its entries before this write landed,
/// which would leave the entry behind in a store nobody reads (the write
/// side of `get_entry`'s `lookup_current`). An entry the replaced store
/// no longer holds (evicted, or moved) is not written again, so every
/// write is counted once, live or evicted.
async fn follow_swap(
    ctx: &Context,
    cache: &LiveCache,
    key: &CacheKey,
    entry: &CacheEntry,
) -> Result<(), StoreError> {
    // One atomic load on the usual path; the registry only after a swap.
    if !cache.replaced() {
        return Ok(());
    }
    let Some(current) = ctx.registry.get(cache.config().name()) else {
        return Ok(());
    };
    if std::sync::Arc::ptr_eq(current.store(), cache.store()) {
        return Ok(());
    }
    if cache.store().get(key).await?.is_some() {
        current.store().insert(key.clone(), entry.clone()).await?;
    }
    Ok(())
}

/// [`follow_swap`] for each entry of a batch write (`batchPut`, import).
pub(crate) async fn follow_swap_many(
    ctx: &Context,
    cache: &LiveCache,
    entries: &[(CacheKey, CacheEntry)],
) -> Result<(), StoreError> {
    if !cache.replaced() {
        return Ok(());
    }
    for (key, entry) in entries {
        follow_swap(ctx, cache, key, entry).await?;
    }
    Ok(())
}

pub(crate) async fn handle(ctx: &Context, cmd: PutEntry) -> Result<PutEntryOutput, PutEntryError> {
    let cache = ctx
        .registry
        .authorize(&cmd.cache, &cmd.principal, Role::Writer)?;
    probe_value(ctx, &cache, &cmd.value);
    let entry = build_entry(ctx, cache.config(), cmd.value, cmd.ttl, cmd.tags)?;
    if let Some(analyzer) = cache.analyzer() {
        analyzer.record_write(&cmd.key, entry.weight(cmd.key.as_str().len()));
    }
    let outcome = match &cmd.lease {
        None => {
            let outcome = cache.store().insert(cmd.key.clone(), entry.clone()).await?;
            follow_swap(ctx, &cache, &cmd.key, &entry).await?;
            revoke_leases(&cache, std::slice::from_ref(&cmd.key)).await;
            outcome
        }
        Some(token) => fill(&cache, &cmd.key, token, entry.clone()).await?,
    };
    cache.counters().inserted(outcome == InsertOutcome::Created);
    if ctx.trends.enabled() {
        cache
            .counters()
            .track_write(cmd.key.as_str(), ctx.clock.now(), entry.expires_at());
    }
    ctx.events.publish(written_event(
        &cmd.cache,
        &cmd.key,
        &cmd.principal,
        outcome,
        &entry,
    ));
    Ok(PutEntryOutput { outcome, entry })
}

/// A write with `token`, the key's lease: stored only while the lease
/// stands. The lease is checked before the write and ended after it; if
/// an invalidation ended it in between, the write is undone (the key is
/// removed) and refused, so the key ends absent or newer, never older.
async fn fill(
    cache: &LiveCache,
    key: &CacheKey,
    token: &LeaseToken,
    entry: CacheEntry,
) -> Result<InsertOutcome, PutEntryError> {
    let invalidated = || PutEntryError::LeaseInvalidated { key: key.clone() };
    let Some(leases) = cache.leases() else {
        return Err(invalidated());
    };
    if !leases.holds(key, token).await? {
        return Err(invalidated());
    }
    let outcome = cache.store().insert(key.clone(), entry).await?;
    if !leases.complete(key, token).await? {
        cache.store().remove(key).await?;
        return Err(invalidated());
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use mockall::predicate::always;

    fn cmd(value: &'static [u8], ttl: Option<u64>) -> PutEntry {
        PutEntry {
            principal: Principal::Anonymous,
            cache: name("c"),
            key: key("k"),
            value: value_of(value),
            ttl: ttl.map(|s| Ttl::from_secs(s).unwrap()),
            tags: vec![],
            lease: None,
        }
    }

    #[tokio::test]
    async fn stores_with_explicit_ttl_and_publishes_created() {
        let mut store = MockStore::new();
        store
            .expect_insert()
            .withf(|k, e| {
                k.as_str() == "k"
                    && e.expires_at() == Some(strata_domain::Timestamp::from_millis(NOW + 30_000))
            })
            .times(1)
            .returning(|_, _| Ok(InsertOutcome::Created));
        let (service, events) = service_with(config("c", Some(60), 1024), store).await;
        let out = service.put(cmd(b"v", Some(30))).await.unwrap();
        assert_eq!(out.outcome, InsertOutcome::Created);
        assert_eq!(events.kinds(), vec!["EntryCreated"]);
    }

    #[tokio::test]
    async fn applies_default_ttl() {
        let mut store = MockStore::new();
        store
            .expect_insert()
            .withf(|_, e| {
                e.expires_at() == Some(strata_domain::Timestamp::from_millis(NOW + 60_000))
            })
            .returning(|_, _| Ok(InsertOutcome::Replaced));
        let (service, events) = service_with(config("c", Some(60), 1024), store).await;
        let out = service.put(cmd(b"v", None)).await.unwrap();
        assert_eq!(out.outcome, InsertOutcome::Replaced);
        assert_eq!(events.kinds(), vec!["EntryUpdated"]);
    }

    #[tokio::test]
    async fn rejects_oversized_values_without_touching_the_store() {
        let mut store = MockStore::new();
        store.expect_insert().with(always(), always()).never();
        let (service, _) = service_with(config("c", None, 2), store).await;
        let err = service.put(cmd(b"abc", None)).await.unwrap_err();
        assert!(matches!(
            err,
            PutEntryError::ValueTooLarge {
                size: 3,
                limit: 2,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn unknown_cache_and_missing_role_are_refused() {
        let (service, _) = service_with(config("c", None, 10), MockStore::new()).await;
        let mut c = cmd(b"v", None);
        c.cache = name("other");
        assert!(matches!(
            service.put(c).await.unwrap_err(),
            PutEntryError::Access(AccessError::CacheNotFound(_))
        ));
        let mut c = cmd(b"v", None);
        c.principal = reader();
        assert!(matches!(
            service.put(c).await.unwrap_err(),
            PutEntryError::Access(AccessError::Forbidden { .. })
        ));
    }

    #[tokio::test]
    async fn store_failures_surface() {
        let mut store = MockStore::new();
        store.expect_insert().returning(|_, _| {
            Err(StoreError::Timeout {
                backend: "x".into(),
                timeout_ms: 5,
            })
        });
        let (service, events) = service_with(config("c", None, 10), store).await;
        assert!(matches!(
            service.put(cmd(b"v", None)).await.unwrap_err(),
            PutEntryError::Store(StoreError::Timeout { .. })
        ));
        assert!(events.kinds().is_empty(), "no event for a failed write");
    }
}
