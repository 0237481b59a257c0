//! Cache-aside reads for Rust callers:
//! [`CacheService::get_with`](crate::CacheService::get_with) (single-flight)
//! and [`CacheService::get_with_options`](crate::CacheService::get_with_options)
//! (single-flight plus fail-safe, loader timeouts, eager refresh, negative
//! caching and TTL jitter, chosen per call with [`GetWithOptions`]).
//!
//! On a miss, one caller per `(cache, key)` in this process runs its
//! loader and stores the value (through the same path as a PUT: size
//! limit, TTL, write-through to every tier); concurrent callers for the
//! same key wait for that result instead of running their own loaders (a
//! joining caller's options other than its timeouts do not apply: the
//! load is the first caller's). The in-flight load is a shared future, so
//! it completes even if the caller that started it is dropped.
//!
//! # Where the stale value comes from
//! Stores drop expired entries, and the Redis and Memcached envelopes
//! have no field for a logical expiry distinct from the physical one. So
//! rather than change those wire formats (and every instance reading
//! them), each [`CacheService`](crate::CacheService) keeps a bounded
//! in-process [`Memory`]: for calls with `fail_safe_max` set, a copy of
//! the last value it loaded per `(cache, key)` with that value's expiry;
//! for calls with `negative_ttl` set, the loader's "absent" answers. At
//! most [`MEMORY_CAPACITY`] keys are remembered per service, oldest out.
//! A stale value is served only by this instance, only to
//! `get_with_options`, and only for values this instance loaded.
//!
//! A delete, PUT, invalidation, flush or cache deletion made through the
//! same `CacheService` forgets what it touches (an invalidation or flush
//! forgets the whole cache), so fail-safe never serves a value deleted
//! through it. Limit: invalidations made on other instances (or straight
//! on the backend) do not reach this memory; until the copy's
//! `fail_safe_max` runs out, a failing loader may still get it served.
//!
//! # Negative caching
//! A loader returns `Ok(None)` for "absent"; with `negative_ttl` set the
//! answer is remembered in process (never written to the store, so REST
//! and gRPC readers never see it as a value) and
//! [`Fetched::Absent`] is returned until it runs out or a value is
//! written for the key.
//!
//! # Timeouts and background work
//! Waiting and background completion go through the
//! [`Scheduler`](strata_domain::Scheduler) port. Past `soft_timeout` a
//! caller that has a stale value gets it; past `hard_timeout` a caller gets
//! the stale value if it has one, else [`GetWithError::Timeout`]. Either
//! way the load keeps running in the background and refreshes the entry.
//!
//! # Eager refresh
//! A hit read past `eager_refresh` of its entry's TTL starts one
//! background refresh per key. It first reads the shared tier
//! ([`CacheStore::get_shared`](strata_domain::CacheStore::get_shared)) and
//! calls the loader only if what it finds is not newer than the entry that
//! triggered it (another instance may have refreshed it already).

mod memory;
mod options;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Either, Shared, select};
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, Principal, Role, Scheduler,
    StoreError, Timestamp, Ttl,
};

use crate::commands::put_entry::{self, PutEntry, PutEntryError};
use crate::context::Context;
use crate::registry::AccessError;
use crate::single_flight::SingleFlight;
pub use memory::MEMORY_CAPACITY;
use memory::{Memory, Recall, Slot};
pub use options::{
    DEFAULT_FAIL_SAFE_THROTTLE, GetWithOptions, GetWithOptionsBuilder, InvalidGetWithOptions,
};

/// Why [`CacheService::get_with`](crate::CacheService::get_with) or
/// [`get_with_options`](crate::CacheService::get_with_options) failed.
#[derive(Debug, thiserror::Error)]
pub enum GetWithError<E> {
    /// Unknown cache.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Reading the cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The loader failed and no stale value could be served; every caller
    /// waiting on that load gets the same error. Nothing was stored.
    #[error("loader failed")]
    Loader(Arc<E>),
    /// The loaded value could not be stored (too large, backend down).
    #[error("could not store the loaded value: {0}")]
    Fill(Arc<PutEntryError>),
    /// The loader ran past the hard timeout and no stale value could be
    /// served; it keeps running in the background and stores its value.
    #[error("loader still running after the hard timeout of {0:?}")]
    Timeout(Duration),
}

/// What [`CacheService::get_with_options`](crate::CacheService::get_with_options) returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched {
    /// A live entry: read from the cache, or just loaded and stored.
    Fresh(CacheEntry),
    /// A value served by fail-safe from this service's memory because the
    /// store no longer has it and the loader failed, is throttled, or ran
    /// past a timeout. Usually expired (`expires_at` in the past); it may
    /// not be when the store evicted it early.
    Stale(CacheEntry),
    /// The loader said "absent" (now, or within `negative_ttl`).
    Absent,
}

impl Fetched {
    /// The entry, fresh or stale; `None` when absent.
    pub fn entry(&self) -> Option<&CacheEntry> {
        match self {
            Self::Fresh(e) | Self::Stale(e) => Some(e),
            Self::Absent => None,
        }
    }

    /// The entry by value, fresh or stale; `None` when absent.
    pub fn into_entry(self) -> Option<CacheEntry> {
        match self {
            Self::Fresh(e) | Self::Stale(e) => Some(e),
            Self::Absent => None,
        }
    }
}

/// How a shared load failed, cloneable for every waiter.
#[derive(Clone)]
pub(crate) enum Failure {
    Loader(Arc<dyn Any + Send + Sync>),
    Fill(Arc<PutEntryError>),
}

type LoadOutput = Result<Option<CacheEntry>, Failure>;

/// The cache-aside state of one service: loads in flight, background
/// refreshes in flight and the fail-safe [`Memory`].
#[derive(Default)]
pub(crate) struct Aside {
    flights: SingleFlight<Slot, LoadOutput>,
    refreshing: Mutex<HashSet<Slot>>,
    memory: Memory,
}

impl Aside {
    /// Forgets what is remembered of `key` (it was written or deleted).
    pub(crate) fn forget(&self, cache: &CacheName, key: &CacheKey) {
        self.memory.forget(&(cache.clone(), key.clone()));
    }

    /// Forgets everything remembered of `cache` (invalidated, flushed or
    /// deleted).
    pub(crate) fn forget_cache(&self, cache: &CacheName) {
        self.memory.forget_cache(cache);
    }
}

/// The body of [`CacheService::get_with`](crate::CacheService::get_with):
/// [`get_with_options`] with only a TTL.
pub(crate) async fn get_with<F, Fut, E>(
    ctx: &Arc<Context>,
    aside: &Arc<Aside>,
    cache: &CacheName,
    key: &CacheKey,
    ttl: Option<Ttl>,
    loader: F,
) -> Result<CacheEntry, GetWithError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<CacheValue, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let options = GetWithOptions::with_ttl(ttl);
    let loader = || loader().map(|r| r.map(Some));
    match get_with_options(ctx, aside, cache, key, options, loader).await? {
        Fetched::Fresh(entry) | Fetched::Stale(entry) => Ok(entry),
        // A `get_with_options` caller's "absent": a flight it started that
        // this call joined, or its remembered negative answer.
        Fetched::Absent => Err(GetWithError::Fill(Arc::new(PutEntryError::Store(
            StoreError::Unexpected("a concurrent loader found no value".into()),
        )))),
    }
}

/// The body of [`CacheService::get_with_options`](crate::CacheService::get_with_options);
/// a stale answer counts in the cache's `stale` trend.
pub(crate) async fn get_with_options<F, Fut, E>(
    ctx: &Arc<Context>,
    aside: &Arc<Aside>,
    cache: &CacheName,
    key: &CacheKey,
    options: GetWithOptions,
    loader: F,
) -> Result<Fetched, GetWithError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<CacheValue>, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let fetched = fetch(ctx, aside, cache, key, options, loader).await;
    if let (Ok(Fetched::Stale(_)), Some(live)) = (&fetched, ctx.registry.get(cache)) {
        live.counters().served_stale(1);
    }
    fetched
}

/// [`get_with_options`] without the stale count.
async fn fetch<F, Fut, E>(
    ctx: &Arc<Context>,
    aside: &Arc<Aside>,
    cache: &CacheName,
    key: &CacheKey,
    options: GetWithOptions,
    loader: F,
) -> Result<Fetched, GetWithError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<CacheValue>, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let live = ctx
        .registry
        .authorize(cache, &Principal::Anonymous, Role::Writer)?;
    let slot: Slot = (cache.clone(), key.clone());
    let now = ctx.clock.now();
    let load = Load {
        ctx: Arc::clone(ctx),
        aside: Arc::clone(aside),
        slot: slot.clone(),
        default_ttl: live.config().default_ttl(),
        options: options.with_defaults(live.config().cache_aside()),
    };
    let read = match live.store().get(key).await {
        // An entry kept for a stale window is a miss here: fail-safe has
        // its own rules for serving stale values.
        Ok(read) => read.filter(|entry| !entry.is_stale(now)),
        // The backend is down or too slow: fail-safe serves what it holds.
        Err(e @ (StoreError::Unavailable { .. } | StoreError::Timeout { .. })) => {
            return match aside.memory.recall(&slot) {
                Some((Recall::Value(entry), _))
                    if load
                        .options
                        .fail_safe_max()
                        .is_some_and(|max| now < stale_until(&entry, max)) =>
                {
                    Ok(Fetched::Stale(entry))
                }
                Some((Recall::Absent { until }, _)) if now < until => Ok(Fetched::Absent),
                _ => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(entry) = read {
        live.counters().hit(1);
        if let Some(fraction) = load.options.eager_refresh()
            && refresh_due(&entry, now, fraction)
        {
            load.refresh_in_background(Arc::clone(live.store()), entry.clone(), loader);
        }
        return Ok(Fetched::Fresh(entry));
    }
    live.counters().miss(1);
    let mut stale = None;
    match aside.memory.recall(&slot) {
        Some((Recall::Absent { until }, _)) if now < until => return Ok(Fetched::Absent),
        Some((Recall::Value(entry), failed_at)) => {
            if let Some(max) = load.options.fail_safe_max()
                && now < stale_until(&entry, max)
            {
                if failed_at
                    .is_some_and(|at| now < at.saturating_add(load.options.fail_safe_throttle()))
                {
                    return Ok(Fetched::Stale(entry));
                }
                stale = Some(entry);
            }
        }
        _ => {}
    }
    let (soft, hard) = (load.options.soft_timeout(), load.options.hard_timeout());
    let scheduler = Arc::clone(&ctx.scheduler);
    let mut flight = load.join(loader);
    // The soft timeout only matters to a caller with something to serve.
    let limit = if stale.is_some() { soft.or(hard) } else { hard };
    let output = match within(scheduler.as_ref(), limit, &mut flight).await {
        Some(output) => output,
        None => {
            scheduler.spawn(flight.map(drop).boxed());
            return match stale {
                Some(entry) => Ok(Fetched::Stale(entry)),
                None => Err(GetWithError::Timeout(hard.unwrap_or_default())),
            };
        }
    };
    match (output, stale) {
        (Ok(Some(entry)), _) => Ok(Fetched::Fresh(entry)),
        (Ok(None), _) => Ok(Fetched::Absent),
        (Err(Failure::Loader(_)), Some(entry)) => Ok(Fetched::Stale(entry)),
        (Err(Failure::Fill(e)), _) => Err(GetWithError::Fill(e)),
        (Err(Failure::Loader(e)), None) => Err(match e.downcast::<E>() {
            Ok(e) => GetWithError::Loader(e),
            // Another caller loaded this key with a loader of another
            // error type; report its failure as a fill failure.
            Err(_) => GetWithError::Fill(Arc::new(PutEntryError::Store(StoreError::Unexpected(
                "a concurrent loader of another type failed".into(),
            )))),
        }),
    }
}

/// `flight`'s output, or `None` once `limit` has passed first (`flight` is
/// left unfinished for the caller to hand on).
async fn within<T>(
    scheduler: &dyn Scheduler,
    limit: Option<Duration>,
    flight: &mut BoxFuture<'static, T>,
) -> Option<T> {
    let Some(limit) = limit else {
        return Some(flight.await);
    };
    match select(flight, scheduler.sleep(limit)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

/// Until when fail-safe may serve `entry`: its expiry (its creation, for
/// an entry without TTL that the store evicted) plus `max`.
fn stale_until(entry: &CacheEntry, max: Duration) -> Timestamp {
    entry
        .fresh_until()
        .unwrap_or_else(|| entry.created_at())
        .saturating_add(max)
}

/// Whether `entry` is at least `fraction` of its TTL old at `now` (never
/// for an entry without TTL).
fn refresh_due(entry: &CacheEntry, now: Timestamp, fraction: f64) -> bool {
    let Some(expires_at) = entry.fresh_until() else {
        return false;
    };
    let ttl = expires_at.saturating_since(entry.created_at());
    now.saturating_since(entry.created_at()) >= ttl.mul_f64(fraction)
}

/// Whether `found` (read from the shared tier) is newer than `seen`.
fn is_newer(found: &CacheEntry, seen: &CacheEntry) -> bool {
    (found.created_at(), found.fresh_until()) > (seen.created_at(), seen.fresh_until())
}

/// One key's load, with what it needs to store and remember its result.
struct Load {
    ctx: Arc<Context>,
    aside: Arc<Aside>,
    slot: Slot,
    default_ttl: Option<Ttl>,
    options: GetWithOptions,
}

impl Load {
    /// The flight for this key, joined or started with `loader` (called
    /// only when starting); the returned future unregisters the flight
    /// when done and owns everything it needs (it may run in background).
    fn join<F, Fut, E>(self, loader: F) -> BoxFuture<'static, LoadOutput>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CacheValue>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let aside = Arc::clone(&self.aside);
        let slot = self.slot.clone();
        let flight: Shared<BoxFuture<'static, LoadOutput>> =
            aside.flights.join(&slot, || self.run(loader()));
        async move {
            let output = flight.clone().await;
            aside.flights.finish(&slot, &flight);
            output
        }
        .boxed()
    }

    /// Runs `value` and stores and remembers what it yields.
    fn run<Fut, E>(self, value: Fut) -> BoxFuture<'static, LoadOutput>
    where
        Fut: Future<Output = Result<Option<CacheValue>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        async move {
            let memory = &self.aside.memory;
            let value = match value.await {
                Ok(value) => value,
                Err(e) => {
                    memory.failed(&self.slot, self.ctx.clock.now());
                    return Err(Failure::Loader(Arc::new(e) as Arc<dyn Any + Send + Sync>));
                }
            };
            let Some(value) = value else {
                match self.options.negative_ttl() {
                    Some(ttl) => memory.remember(
                        self.slot.clone(),
                        Recall::Absent {
                            until: self.ctx.clock.now().saturating_add(ttl),
                        },
                    ),
                    None => memory.forget(&self.slot),
                }
                return Ok(None);
            };
            let (cache, key) = self.slot.clone();
            let ttl = self
                .options
                .ttl()
                .or(self.default_ttl)
                .map(|ttl| self.options.jittered(ttl, &key));
            let put = PutEntry {
                principal: Principal::Anonymous,
                cache,
                key,
                value,
                ttl,
                tags: Vec::new(),
                lease: None,
            };
            let entry = put_entry::handle(&self.ctx, put)
                .await
                .map(|out| out.entry)
                .map_err(|e| Failure::Fill(Arc::new(e)))?;
            if self.options.fail_safe_max().is_some() {
                memory.remember(self.slot.clone(), Recall::Value(entry.clone()));
            } else {
                memory.forget(&self.slot);
            }
            Ok(Some(entry))
        }
        .boxed()
    }

    /// Starts one background refresh of this key (none, and `loader` is
    /// not called, when one is already running): reads the shared tier,
    /// and runs the loader's future through the flight only if the shared
    /// tier has nothing newer than `seen` (the future is dropped unpolled
    /// otherwise).
    fn refresh_in_background<F, Fut, E>(
        self,
        store: Arc<dyn CacheStore>,
        seen: CacheEntry,
        loader: F,
    ) where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CacheValue>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let refreshing = &self.aside.refreshing;
        if !lock(refreshing).insert(self.slot.clone()) {
            return;
        }
        let value = loader();
        let scheduler = Arc::clone(&self.ctx.scheduler);
        let clock = Arc::clone(&self.ctx.clock);
        let aside = Arc::clone(&self.aside);
        let slot = self.slot.clone();
        scheduler.spawn(
            async move {
                let newer = match store.get_shared(&slot.1).await {
                    Ok(Some(found)) => is_newer(&found, &seen) && !found.is_stale(clock.now()),
                    Ok(None) | Err(_) => false,
                };
                if !newer {
                    let _ = self.join(|| value).await;
                }
                lock(&aside.refreshing).remove(&slot);
            }
            .boxed(),
        );
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
