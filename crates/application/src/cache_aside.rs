//! [`CacheService::get_with`](crate::CacheService::get_with): cache-aside reads with single-flight, the
//! Rust counterpart of a `@cached` decorator.
//!
//! On a miss, one caller per `(cache, key)` in this process runs its
//! loader and stores the value (through the same path as a PUT: size
//! limit, default TTL, write-through to every tier); concurrent callers for
//! the same key wait for that result instead of running their own loaders.
//! The in-flight load is a shared future, so it completes even if the
//! caller that started it is dropped.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheValue, Principal, Role, StoreError, Ttl,
};

use crate::commands::put_entry::{self, PutEntry, PutEntryError};
use crate::context::Context;
use crate::registry::AccessError;
use crate::single_flight::SingleFlight;

/// Why [`CacheService::get_with`](crate::CacheService::get_with) failed.
#[derive(Debug, thiserror::Error)]
pub enum GetWithError<E> {
    /// Unknown cache.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Reading the cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The loader failed; every caller waiting on that load gets the same
    /// error. Nothing was stored.
    #[error("loader failed")]
    Loader(Arc<E>),
    /// The loaded value could not be stored (too large, backend down).
    #[error("could not store the loaded value: {0}")]
    Fill(Arc<PutEntryError>),
}

/// How a shared load failed, cloneable for every waiter.
#[derive(Clone)]
pub(crate) enum Failure {
    Loader(Arc<dyn Any + Send + Sync>),
    Fill(Arc<PutEntryError>),
}

/// Loads in flight, by cache and key.
pub(crate) type Flights = SingleFlight<(CacheName, CacheKey), Result<CacheEntry, Failure>>;

/// The body of [`CacheService::get_with`](crate::CacheService::get_with).
pub(crate) async fn get_with<F, Fut, E>(
    ctx: &Arc<Context>,
    flights: &Flights,
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
    let live = ctx
        .registry
        .authorize(cache, &Principal::Anonymous, Role::Writer)?;
    if let Some(entry) = live.store().get(key).await? {
        live.counters().hit(1);
        return Ok(entry);
    }
    live.counters().miss(1);
    let result = flights
        .run(&(cache.clone(), key.clone()), || {
            start_load(ctx, cache, key, ttl, loader())
        })
        .await;
    result.map_err(|failure| match failure {
        Failure::Fill(e) => GetWithError::Fill(e),
        Failure::Loader(e) => match e.downcast::<E>() {
            Ok(e) => GetWithError::Loader(e),
            // Another caller loaded this key with a loader of another
            // error type; report its failure as a fill failure.
            Err(_) => GetWithError::Fill(Arc::new(PutEntryError::Store(StoreError::Unexpected(
                "a concurrent loader of another type failed".into(),
            )))),
        },
    })
}

fn start_load<Fut, E>(
    ctx: &Arc<Context>,
    cache: &CacheName,
    key: &CacheKey,
    ttl: Option<Ttl>,
    value: Fut,
) -> BoxFuture<'static, Result<CacheEntry, Failure>>
where
    Fut: Future<Output = Result<CacheValue, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let ctx = Arc::clone(ctx);
    let (cache, key) = (cache.clone(), key.clone());
    async move {
        let value = value
            .await
            .map_err(|e| Failure::Loader(Arc::new(e) as Arc<dyn Any + Send + Sync>))?;
        let put = PutEntry {
            principal: Principal::Anonymous,
            cache,
            key,
            value,
            ttl,
            tags: Vec::new(),
        };
        put_entry::handle(&ctx, put)
            .await
            .map(|out| out.entry)
            .map_err(|e| Failure::Fill(Arc::new(e)))
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::join_all;
    use strata_domain::InsertOutcome;

    use super::*;
    use crate::CacheService;
    use crate::test_support::*;

    /// 50 concurrent misses of one key while the first loader is parked on
    /// a gate: the gate opens only after every caller has joined the flight.
    async fn stampede(
        service: &CacheService,
        fail: bool,
    ) -> (usize, Vec<Result<CacheEntry, GetWithError<std::io::Error>>>) {
        let loads = Arc::new(AtomicUsize::new(0));
        let (open, gate) = tokio::sync::oneshot::channel::<()>();
        let gate = gate.shared();
        let calls = (0..50).map(|_| {
            let (loads, gate) = (loads.clone(), gate.clone());
            async move {
                service
                    .get_with(&name("c"), &key("k"), None, move || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        let _ = gate.await;
                        if fail {
                            Err(std::io::Error::other("database down"))
                        } else {
                            Ok(value_of(b"loaded"))
                        }
                    })
                    .await
            }
        });
        let (results, ()) = futures_util::join!(join_all(calls), async {
            open.send(()).unwrap();
        });
        (loads.load(Ordering::SeqCst), results)
    }

    fn store_missing_everything(inserts: usize) -> MockStore {
        let mut store = MockStore::new();
        store.expect_get().returning(|_| Ok(None));
        store
            .expect_insert()
            .times(inserts)
            .returning(|_, _| Ok(InsertOutcome::Created));
        store.expect_backend().return_const("mock".to_owned());
        store
    }

    #[tokio::test]
    async fn concurrent_misses_run_one_loader_and_share_its_value() {
        let (service, _) = service_with(config("c", None, 10), store_missing_everything(1)).await;
        let (loads, results) = stampede(&service, false).await;
        assert_eq!(loads, 1);
        assert_eq!(results.len(), 50);
        for result in results {
            assert_eq!(result.unwrap().value().bytes().as_ref(), b"loaded");
        }
    }

    #[tokio::test]
    async fn a_failing_loader_fails_every_waiter_and_stores_nothing() {
        let (service, _) = service_with(config("c", None, 10), store_missing_everything(0)).await;
        let (loads, results) = stampede(&service, true).await;
        assert_eq!(loads, 1);
        for result in results {
            match result {
                Err(GetWithError::Loader(e)) => assert_eq!(e.to_string(), "database down"),
                other => panic!("expected the loader's error, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_hit_does_not_call_the_loader() {
        let mut store = MockStore::new();
        store.expect_get().returning(|_| {
            Ok(Some(CacheEntry::new(
                value_of(b"cached"),
                now(),
                None,
                vec![],
                strata_domain::EntryVersion::new(1),
            )))
        });
        store.expect_insert().never();
        let (service, _) = service_with(config("c", None, 10), store).await;
        let entry = service
            .get_with(&name("c"), &key("k"), None, || async {
                Err::<CacheValue, _>(std::io::Error::other("must not run"))
            })
            .await
            .unwrap();
        assert_eq!(entry.value().bytes().as_ref(), b"cached");
    }
}
