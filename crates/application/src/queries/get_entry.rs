//! `GetEntry`: read one entry; counts a hit or a miss. The answer says
//! which tier held the entry and whether it may be stale (degraded mode).
//! An entry kept past its TTL for a stale window is a miss here.
//!
//! `ReadEntry`: the same read with the stale windows and leases of issue
//! 27 (RFC 5861; memcached's leases), for the REST face: see
//! [`ReadOutcome`].

use std::time::Duration;

use strata_domain::{
    CacheEntry, CacheKey, CacheName, LeaseGrant, LeaseToken, Lookup, Principal, Role, StoreError,
    Timestamp,
};

use crate::context::Context;
use crate::registry::{AccessError, LiveCache};

/// Read `key` from `cache`.
#[derive(Clone, Debug)]
pub struct GetEntry {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The key.
    pub key: CacheKey,
}

/// Why a read failed (a miss is not a failure: it is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum GetEntryError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) async fn handle(
    ctx: &Context,
    query: GetEntry,
) -> Result<Option<Lookup>, GetEntryError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Reader)?;
    let now = ctx.clock.now();
    let entry = lookup_current(ctx, &cache, &query.key)
        .await?
        .filter(|hit| !hit.entry.is_stale(now));
    let followed = ctx.trends.enabled().then_some(now);
    record(
        &cache,
        &query.key,
        entry.as_ref().map(|hit| &hit.entry),
        followed,
    );
    Ok(entry)
}

/// `key`'s lookup in `cache`'s store; on a miss, when a reconfiguration
/// swapped the cache's store since `cache` was read from the registry,
/// once more in the store now serving. A reconfiguration moves entries
/// out of the store it replaces, so a read that took the cache just
/// before the swap and looked just after the move would otherwise miss
/// an entry that never left the cache.
async fn lookup_current(
    ctx: &Context,
    cache: &LiveCache,
    key: &CacheKey,
) -> Result<Option<Lookup>, StoreError> {
    let found = cache.store().lookup(key).await?;
    if found.is_some() {
        return Ok(found);
    }
    match ctx.registry.get(cache.config().name()) {
        Some(current) if !std::sync::Arc::ptr_eq(current.store(), cache.store()) => {
            current.store().lookup(key).await
        }
        _ => Ok(None),
    }
}

/// Counts a read of `key` as a hit (`found`) or a miss, and shows it to
/// the cache's analyzer and, with `followed` (the time, when the usage
/// report is on), to its entry lifetimes.
fn record(
    cache: &LiveCache,
    key: &CacheKey,
    found: Option<&CacheEntry>,
    followed: Option<Timestamp>,
) {
    if let Some(analyzer) = cache.analyzer() {
        analyzer.record(key, found.map(|entry| entry.weight(key.as_str().len())));
    }
    if let Some(now) = followed {
        cache
            .counters()
            .track_read(key.as_str(), now, found.is_some());
    }
    if found.is_some() {
        cache.counters().hit(1);
    } else {
        cache.counters().miss(1);
    }
}

/// What a client accepts of stale answers, from its request's
/// `Cache-Control` (RFC 9111 section 5.2.1, RFC 5861 section 4): it can
/// only ask for less than the cache's windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StaleDirectives {
    /// `no-cache`: no stale answer at all.
    pub no_cache: bool,
    /// `max-stale=N`: at most this far past expiry (stale-while-revalidate).
    pub max_stale: Option<Duration>,
    /// `stale-if-error=N`: at most this far past expiry when the backend
    /// fails.
    pub stale_if_error: Option<Duration>,
}

/// [`GetEntry`] with stale windows and leases.
#[derive(Clone, Debug)]
pub struct ReadEntry {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
    /// The key.
    pub key: CacheKey,
    /// What the client accepts of stale answers.
    pub directives: StaleDirectives,
}

/// Why a stale value was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleReason {
    /// Past its TTL, within `stale_while_revalidate`.
    Expired,
    /// The backend failed; an L1 copy within `stale_if_error`.
    BackendUnavailable,
}

impl StaleReason {
    /// The label in metrics and `Cache-Status` details: `expired` or
    /// `backend-unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::BackendUnavailable => "backend-unavailable",
        }
    }
}

/// What a [`ReadEntry`] found.
#[derive(Debug)]
pub enum ReadOutcome {
    /// A fresh hit (or, in degraded mode, an L1 hit flagged possibly
    /// stale), as [`GetEntry`] answers.
    Fresh(Lookup),
    /// A value past its freshness, served within a stale window.
    Stale {
        /// The entry and the tier that held it.
        lookup: Lookup,
        /// Which window allowed it.
        reason: StaleReason,
        /// With `Expired`: the key's lease, when this read got it (the
        /// caller is the one to refresh the value).
        lease: Option<LeaseToken>,
    },
    /// A miss; with leases on, the lease when this read got it.
    Miss {
        /// The key's lease for this caller.
        lease: Option<LeaseToken>,
    },
    /// A miss while another client holds the key's lease: wait and read
    /// again rather than recompute.
    LeasePending {
        /// Time left on the other client's lease.
        remaining: Duration,
    },
}

/// The body of [`CacheService::read`](crate::CacheService::read).
pub(crate) async fn read(ctx: &Context, query: ReadEntry) -> Result<ReadOutcome, GetEntryError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Reader)?;
    let policy = cache.config().stale();
    let d = query.directives;
    let now = ctx.clock.now();
    let followed = ctx.trends.enabled().then_some(now);
    let window = |configured: Duration, asked: Option<Duration>| {
        if d.no_cache {
            Duration::ZERO
        } else {
            asked.map_or(configured, |asked| asked.min(configured))
        }
    };
    let past_expiry = |entry: &CacheEntry| {
        entry
            .fresh_until()
            .map_or(Duration::ZERO, |at| now.saturating_since(at))
    };
    let found = match lookup_current(ctx, &cache, &query.key).await {
        Ok(found) => found,
        // Any failure of the backend (RFC 5861's "error"), not a missing
        // capability: the L1 copy may stand in within stale_if_error.
        Err(e) if !matches!(e, StoreError::Unsupported { .. }) => {
            let allowed = window(policy.stale_if_error(), d.stale_if_error);
            if allowed.is_zero() {
                return Err(e.into());
            }
            tracing::debug!(cache = %query.cache, error = %e, "backend failed; looking for a stale L1 copy");
            let copy = cache.store().stale_copy(&query.key).await.ok().flatten();
            return match copy {
                Some(entry) if past_expiry(&entry) < allowed => {
                    record(&cache, &query.key, Some(&entry), followed);
                    cache.counters().served_stale(1);
                    Ok(ReadOutcome::Stale {
                        lookup: Lookup {
                            entry,
                            tier: strata_domain::HitTier::L1,
                            possibly_stale: true,
                        },
                        reason: StaleReason::BackendUnavailable,
                        lease: None,
                    })
                }
                _ => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    match found {
        Some(hit) if !hit.entry.is_stale(now) => {
            record(&cache, &query.key, Some(&hit.entry), followed);
            Ok(ReadOutcome::Fresh(hit))
        }
        Some(hit)
            if past_expiry(&hit.entry) < window(policy.stale_while_revalidate(), d.max_stale) =>
        {
            record(&cache, &query.key, Some(&hit.entry), followed);
            cache.counters().served_stale(1);
            let lease = match acquire(&cache, &query.key).await {
                Some(LeaseGrant::Granted(token)) => Some(token),
                _ => None,
            };
            Ok(ReadOutcome::Stale {
                lookup: hit,
                reason: StaleReason::Expired,
                lease,
            })
        }
        _ => {
            record(&cache, &query.key, None, followed);
            Ok(match acquire(&cache, &query.key).await {
                Some(LeaseGrant::Granted(token)) => ReadOutcome::Miss { lease: Some(token) },
                Some(LeaseGrant::Pending { remaining }) => ReadOutcome::LeasePending { remaining },
                None => ReadOutcome::Miss { lease: None },
            })
        }
    }
}

/// The key's lease for this caller, when the cache has leases; `None`
/// without leases, and when the lease store fails (the read is answered
/// without a lease rather than failed: logged).
async fn acquire(cache: &LiveCache, key: &CacheKey) -> Option<LeaseGrant> {
    let ttl = cache.config().stale().lease_ttl()?;
    let leases = cache.leases()?;
    match leases.acquire(key, ttl).await {
        Ok(grant) => Some(grant),
        Err(e) => {
            tracing::warn!(cache = %cache.config().name(), error = %e, "could not take a lease; answering without one");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::get_cache_stats::GetCacheStats;
    use crate::test_support::*;
    use std::time::Duration;
    use strata_domain::{CacheEntry, EntryVersion, StalePolicy, StoreStats};

    #[tokio::test]
    async fn counts_hits_and_misses() {
        let mut store = MockStore::new();
        store.expect_get().returning(|k| {
            Ok((k.as_str() == "hit").then(|| {
                CacheEntry::new(value_of(b"v"), now(), None, vec![], EntryVersion::new(1))
            }))
        });
        store.expect_stats().returning(|| Ok(StoreStats::default()));
        store.expect_backend().return_const("mock".to_owned());
        let (service, _) = service_with(config("c", None, 10), store).await;
        let get = |k: &str| GetEntry {
            principal: Principal::Anonymous,
            cache: name("c"),
            key: key(k),
        };
        assert!(service.get(get("hit")).await.unwrap().is_some());
        assert!(service.get(get("miss")).await.unwrap().is_none());
        assert!(service.get(get("hit")).await.unwrap().is_some());
        let stats = service
            .stats(GetCacheStats {
                principal: Principal::Anonymous,
                cache: name("c"),
            })
            .await
            .unwrap();
        assert_eq!((stats.counters.hits, stats.counters.misses), (2, 1));
        assert!((stats.hit_ratio - 2.0 / 3.0).abs() < 1e-9);
    }

    /// An entry of value `v` written `age` seconds before the test's now,
    /// fresh for `ttl` seconds, kept `kept` seconds past that.
    fn written(age: u64, ttl: u64, kept: u64) -> CacheEntry {
        let created = strata_domain::Timestamp::from_millis(NOW - age * 1000);
        CacheEntry::new(
            value_of(b"v"),
            created,
            Some(created.saturating_add(Duration::from_secs(ttl))),
            vec![],
            EntryVersion::new(1),
        )
        .kept_stale_for(Duration::from_secs(kept))
    }

    fn stale_config(stale: StalePolicy) -> strata_domain::CacheConfiguration {
        config("c", None, 10)
            .to_builder()
            .stale(stale)
            .build()
            .unwrap()
    }

    fn read(directives: StaleDirectives) -> ReadEntry {
        ReadEntry {
            principal: Principal::Anonymous,
            cache: name("c"),
            key: key("k"),
            directives,
        }
    }

    #[tokio::test]
    async fn a_failing_backend_serves_the_l1_copy_only_within_stale_if_error() {
        let mut store = MockStore::new();
        store.expect_get().returning(|_| {
            Err(StoreError::Unavailable {
                backend: "mock".into(),
                source: "down".into(),
            })
        });
        // Expired 30 s ago; a copy expired 90 s ago is past the window.
        let mut copies = vec![written(100, 10, 60), written(40, 10, 60)];
        store
            .expect_stale_copy()
            .returning(move |_| Ok(Some(copies.pop().unwrap_or_else(|| written(40, 10, 60)))));
        store.expect_backend().return_const("mock".to_owned());
        let policy = StalePolicy {
            stale_if_error_secs: 60,
            ..StalePolicy::default()
        };
        let (service, _) = service_with(stale_config(policy), store).await;
        match service
            .read(read(StaleDirectives::default()))
            .await
            .unwrap()
        {
            ReadOutcome::Stale { reason, lease, .. } => {
                assert_eq!(reason, StaleReason::BackendUnavailable);
                assert!(lease.is_none());
            }
            other => panic!("expected a stale answer, got {other:?}"),
        }
        assert!(
            matches!(
                service.read(read(StaleDirectives::default())).await,
                Err(GetEntryError::Store(StoreError::Unavailable { .. }))
            ),
            "90 s past expiry is past the 60 s window"
        );
        let asks_less = StaleDirectives {
            stale_if_error: Some(Duration::from_secs(10)),
            ..StaleDirectives::default()
        };
        assert!(
            service.read(read(asks_less)).await.is_err(),
            "30 s past a 10 s limit"
        );
        let no_cache = StaleDirectives {
            no_cache: true,
            ..StaleDirectives::default()
        };
        assert!(service.read(read(no_cache)).await.is_err());
        // Plain reads never take the stale copy.
        assert!(
            service
                .get(GetEntry {
                    principal: Principal::Anonymous,
                    cache: name("c"),
                    key: key("k"),
                })
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_entry_past_its_ttl_is_stale_within_the_window_and_a_miss_for_plain_reads() {
        let mut store = MockStore::new();
        store
            .expect_get()
            .returning(|_| Ok(Some(written(15, 10, 30))));
        store.expect_backend().return_const("mock".to_owned());
        let policy = StalePolicy {
            stale_while_revalidate_secs: 30,
            lease_ttl_secs: 5,
            ..StalePolicy::default()
        };
        let (service, _) = service_with(stale_config(policy), store).await;
        let plain = service
            .get(GetEntry {
                principal: Principal::Anonymous,
                cache: name("c"),
                key: key("k"),
            })
            .await
            .unwrap();
        assert!(plain.is_none(), "a stale entry is a miss for GetEntry");
        assert!(matches!(
            service
                .read(read(StaleDirectives::default()))
                .await
                .unwrap(),
            ReadOutcome::Stale {
                reason: StaleReason::Expired,
                ..
            }
        ));
        let strict = StaleDirectives {
            max_stale: Some(Duration::from_secs(4)),
            ..StaleDirectives::default()
        };
        assert!(
            matches!(
                service.read(read(strict)).await.unwrap(),
                ReadOutcome::Miss { lease: None }
            ),
            "5 s past expiry, 4 s allowed"
        );
    }
}
