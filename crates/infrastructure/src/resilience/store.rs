//! [`ResilientStore`]: a deadline on every call of any [`CacheStore`] and a
//! [`CircuitBreaker`] in front of it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_domain::{
    CacheEntry, CacheKey, CacheStore, InsertOutcome, InvalidationCount, KeyPattern,
    StoreCapabilities, StoreError, StoreStats, Tag,
};

use super::breaker::{BreakerOpen, CircuitBreaker, CircuitBreakerConfig};

/// Default per-call deadline for point operations: 1 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default deadline for bulk operations (flush, pattern and tag
/// invalidation, stats, export), which scan: 30 s.
pub const DEFAULT_BULK_TIMEOUT: Duration = Duration::from_secs(30);

/// Deadlines and a breaker for a [`ResilientStore`].
#[derive(Clone, Debug)]
pub struct ResilientStoreBuilder<S> {
    inner: S,
    timeout: Duration,
    bulk_timeout: Duration,
    breaker: Option<Arc<CircuitBreaker>>,
    breaker_config: CircuitBreakerConfig,
}

impl<S: CacheStore> ResilientStoreBuilder<S> {
    /// Deadline of point operations (`get`, `insert`, `remove`, batches,
    /// `ping`); default [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Deadline of bulk operations (`flush`, `invalidate_pattern`,
    /// `invalidate_tags`, `stats`, `entries`); default [`DEFAULT_BULK_TIMEOUT`].
    pub fn bulk_timeout(mut self, timeout: Duration) -> Self {
        self.bulk_timeout = timeout;
        self
    }

    /// Configuration of the store's own breaker; ignored when
    /// [`breaker`](Self::breaker) supplies a shared one.
    pub fn breaker_config(mut self, config: CircuitBreakerConfig) -> Self {
        self.breaker_config = config;
        self
    }

    /// Shares `breaker` with other stores on the same backend.
    pub fn breaker(mut self, breaker: Arc<CircuitBreaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// The wrapped store.
    pub fn build(self) -> ResilientStore<S> {
        ResilientStore {
            breaker: self
                .breaker
                .unwrap_or_else(|| Arc::new(CircuitBreaker::new(self.breaker_config))),
            inner: self.inner,
            timeout: self.timeout,
            bulk_timeout: self.bulk_timeout,
        }
    }
}

/// A [`CacheStore`] whose every call has a deadline and passes a
/// [`CircuitBreaker`]; it has the capabilities and backend name of the
/// store it wraps.
///
/// ```no_run
/// # async fn demo(store: strata_infrastructure::RedisStore) {
/// use std::time::Duration;
/// use strata_domain::CircuitState;
/// use strata_infrastructure::ResilientStore;
/// let store = ResilientStore::builder(store)
///     .timeout(Duration::from_millis(500))
///     .build();
/// assert_eq!(store.breaker().state(), CircuitState::Closed);
/// # }
/// ```
#[derive(Debug)]
pub struct ResilientStore<S> {
    inner: S,
    breaker: Arc<CircuitBreaker>,
    timeout: Duration,
    bulk_timeout: Duration,
}

impl<S: CacheStore> ResilientStore<S> {
    /// Starts wrapping `inner` with the default deadlines and breaker.
    pub fn builder(inner: S) -> ResilientStoreBuilder<S> {
        ResilientStoreBuilder {
            inner,
            timeout: DEFAULT_TIMEOUT,
            bulk_timeout: DEFAULT_BULK_TIMEOUT,
            breaker: None,
            breaker_config: CircuitBreakerConfig::default(),
        }
    }

    /// The breaker, for `/health/ready` and metrics.
    pub fn breaker(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.breaker)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn call<T>(
        &self,
        timeout: Duration,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let permit =
            self.breaker
                .try_acquire()
                .map_err(|open: BreakerOpen| StoreError::Unavailable {
                    backend: self.inner.backend().to_owned(),
                    source: Box::new(open),
                })?;
        let result = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout {
                backend: self.inner.backend().to_owned(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        };
        match &result {
            Err(e @ (StoreError::Unavailable { .. } | StoreError::Timeout { .. })) => {
                permit.failure_because(e);
            }
            _ => permit.success(),
        }
        result
    }
}

#[async_trait]
impl<S: CacheStore> CacheStore for ResilientStore<S> {
    fn backend(&self) -> &str {
        self.inner.backend()
    }

    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        self.call(self.timeout, self.inner.get(key)).await
    }

    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        self.call(self.timeout, self.inner.insert(key, entry)).await
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        self.call(self.timeout, self.inner.remove(key)).await
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError> {
        self.call(self.timeout, self.inner.get_many(keys)).await
    }

    async fn insert_many(
        &self,
        entries: Vec<(CacheKey, CacheEntry)>,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        self.call(self.timeout, self.inner.insert_many(entries))
            .await
    }

    async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError> {
        self.call(self.bulk_timeout, self.inner.invalidate_pattern(pattern))
            .await
    }

    async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError> {
        self.call(self.bulk_timeout, self.inner.invalidate_tags(tags))
            .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.call(self.bulk_timeout, self.inner.flush()).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.call(self.bulk_timeout, self.inner.stats()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.call(self.timeout, self.inner.ping()).await
    }

    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        self.call(self.bulk_timeout, self.inner.entries()).await
    }

    async fn hot_keys(&self, limit: usize) -> Result<Vec<CacheKey>, StoreError> {
        self.inner.hot_keys(limit).await
    }

    async fn entries_page(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<strata_domain::EntriesPage, StoreError> {
        self.call(self.bulk_timeout, self.inner.entries_page(cursor, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use strata_domain::CircuitState;

    use super::*;

    /// A store whose `ping` never answers and whose `get` fails on demand.
    struct Flaky;

    #[async_trait]
    impl CacheStore for Flaky {
        fn backend(&self) -> &str {
            "flaky"
        }
        fn capabilities(&self) -> StoreCapabilities {
            StoreCapabilities::IN_PROCESS
        }
        async fn get(&self, _: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
            Err(StoreError::Unavailable {
                backend: "flaky".into(),
                source: "down".into(),
            })
        }
        async fn insert(&self, _: CacheKey, _: CacheEntry) -> Result<InsertOutcome, StoreError> {
            Err(StoreError::Unexpected("bug".into()))
        }
        async fn remove(&self, _: &CacheKey) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn invalidate_pattern(&self, _: &KeyPattern) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn invalidate_tags(&self, _: &[Tag]) -> Result<InvalidationCount, StoreError> {
            Ok(InvalidationCount::Exact(0))
        }
        async fn flush(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn stats(&self) -> Result<StoreStats, StoreError> {
            Ok(StoreStats::default())
        }
        async fn ping(&self) -> Result<(), StoreError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn wrapper_times_out_counts_and_fails_fast() {
        let store = ResilientStore::builder(Flaky)
            .timeout(Duration::from_millis(100))
            .breaker_config(CircuitBreakerConfig {
                failure_threshold: 2,
                ..CircuitBreakerConfig::default()
            })
            .build();
        let key = CacheKey::parse("k").unwrap();
        let e = CacheEntry::new(
            Default::default(),
            Default::default(),
            None,
            vec![],
            strata_domain::EntryVersion::new(1),
        );
        assert!(matches!(
            store.insert(key.clone(), e).await,
            Err(StoreError::Unexpected(_))
        ));
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Timeout {
                timeout_ms: 100,
                ..
            })
        ));
        assert_eq!(store.breaker().state(), CircuitState::Closed);
        assert!(matches!(
            store.get(&key).await,
            Err(StoreError::Unavailable { .. })
        ));
        assert_eq!(store.breaker().state(), CircuitState::Open);
        let err = store.remove(&key).await.unwrap_err();
        assert!(err.to_string().contains("circuit breaker open"), "{err}");
    }
}
