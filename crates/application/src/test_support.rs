//! Mocks of the ports (mockall) and small builders for handler tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use mockall::mock;
use strata_domain::*;

use crate::{CacheService, Dependencies};

pub(crate) const NOW: u64 = 1_700_000_000_000;

mock! {
    pub(crate) Store {}
    #[async_trait]
    impl CacheStore for Store {
        fn backend(&self) -> &str;
        fn capabilities(&self) -> StoreCapabilities;
        async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError>;
        async fn get_shared(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError>;
        async fn stale_copy(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError>;
        async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError>;
        async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError>;
        async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<CacheEntry>>, StoreError>;
        async fn insert_many(&self, entries: Vec<(CacheKey, CacheEntry)>) -> Result<Vec<InsertOutcome>, StoreError>;
        async fn invalidate_pattern(&self, pattern: &KeyPattern) -> Result<u64, StoreError>;
        async fn invalidate_tags(&self, tags: &[Tag]) -> Result<InvalidationCount, StoreError>;
        async fn flush(&self) -> Result<(), StoreError>;
        async fn stats(&self) -> Result<StoreStats, StoreError>;
        async fn ping(&self) -> Result<(), StoreError>;
        async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError>;
        async fn entries_page(&self, cursor: u64, limit: usize) -> Result<EntriesPage, StoreError>;
        async fn frequency_hint(&self, key: &CacheKey) -> u32;
        async fn seed_frequency(&self, key: &CacheKey, hint: u32);
    }
}

mock! {
    pub(crate) Repository {}
    #[async_trait]
    impl ConfigurationRepository for Repository {
        async fn get(&self, name: &CacheName) -> Result<Option<StoredConfiguration>, RepositoryError>;
        async fn list(&self) -> Result<Vec<StoredConfiguration>, RepositoryError>;
        async fn save(&self, config: CacheConfiguration, provenance: Provenance, expected: ExpectedVersion) -> Result<StoredConfiguration, SaveError>;
        async fn delete(&self, name: &CacheName, expected: ExpectedVersion) -> Result<Option<StoredConfiguration>, SaveError>;
    }
}

mock! {
    pub(crate) Analyzer {}
    impl MrcAnalyzer for Analyzer {
        fn record(&self, key: &CacheKey, weight: Option<u64>);
        fn record_write(&self, key: &CacheKey, weight: u64);
        fn curves(&self) -> MissRatioCurves;
        fn shape(&self) -> (u64, bool);
        fn rebuilt(&self, policy: EvictionPolicyKind);
    }
}

mock! {
    pub(crate) AuditLog {}
    #[async_trait]
    impl AuditLog for AuditLog {
        async fn append(&self, record: &AuditRecord) -> Result<(), AuditError>;
        async fn read(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError>;
    }
}

/// An analyzer provider giving every cache the same analyzer.
pub(crate) struct OneAnalyzer(pub(crate) Arc<dyn MrcAnalyzer>);

impl AnalyzerProvider for OneAnalyzer {
    fn open(&self, _: &CacheConfiguration) -> Option<Arc<dyn MrcAnalyzer>> {
        Some(self.0.clone())
    }
}

mock! {
    pub(crate) Clock {}
    impl Clock for Clock {
        fn now(&self) -> Timestamp;
    }
}

/// A provider handing out queued mock stores, one per `open`.
#[derive(Default)]
pub(crate) struct QueueProvider {
    queue: Mutex<Vec<Arc<dyn CacheStore>>>,
}

impl QueueProvider {
    pub(crate) fn next(&self, store: MockStore) {
        self.next_store(Arc::new(store));
    }

    pub(crate) fn next_store(&self, store: Arc<dyn CacheStore>) {
        self.queue.lock().unwrap().insert(0, store);
    }
}

#[async_trait]
impl StoreProvider for QueueProvider {
    async fn open(&self, _: &CacheConfiguration) -> Result<Arc<dyn CacheStore>, ProvisionError> {
        self.queue
            .lock()
            .unwrap()
            .pop()
            .ok_or_else(|| ProvisionError::Unsupported("no store queued".into()))
    }

    async fn open_leases(
        &self,
        _: &CacheConfiguration,
    ) -> Result<Option<Arc<dyn strata_domain::LeaseStore>>, ProvisionError> {
        Ok(None)
    }
}

/// Records published events.
#[derive(Default)]
pub(crate) struct RecordingEvents(Mutex<Vec<DomainEvent>>);

impl RecordingEvents {
    pub(crate) fn kinds(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(|e| e.kind()).collect()
    }

    /// The counts of the `EntriesInvalidated` events, in order.
    pub(crate) fn invalidation_counts(&self) -> Vec<InvalidationCount> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                DomainEvent::EntriesInvalidated { count, .. } => Some(*count),
                _ => None,
            })
            .collect()
    }
}

impl EventPublisher for RecordingEvents {
    fn publish(&self, event: DomainEvent) {
        self.0.lock().unwrap().push(event);
    }
}

pub(crate) fn name(s: &str) -> CacheName {
    CacheName::parse(s).unwrap()
}
pub(crate) fn key(s: &str) -> CacheKey {
    CacheKey::parse(s).unwrap()
}
pub(crate) fn now() -> Timestamp {
    Timestamp::from_millis(NOW)
}
pub(crate) fn value_of(v: &'static [u8]) -> CacheValue {
    CacheValue::new(Bytes::from_static(v), ContentType::default())
}
pub(crate) fn grant(caches: &str, role: Role) -> Grant {
    Grant {
        caches: KeyPattern::parse(caches).unwrap(),
        role,
    }
}
pub(crate) fn principal(grants: Vec<Grant>) -> Principal {
    Principal::Authenticated {
        subject: "p".into(),
        grants,
    }
}
pub(crate) fn reader() -> Principal {
    Principal::Authenticated {
        subject: "r".into(),
        grants: vec![grant("*", Role::Reader)],
    }
}
pub(crate) fn writer() -> Principal {
    Principal::Authenticated {
        subject: "w".into(),
        grants: vec![grant("*", Role::Writer)],
    }
}
pub(crate) fn config(
    cache: &str,
    default_ttl: Option<u64>,
    max_value_bytes: u64,
) -> CacheConfiguration {
    CacheConfiguration::builder(name(cache))
        .default_ttl(default_ttl.map(|s| Ttl::from_secs(s).unwrap()))
        .max_value_bytes(max_value_bytes)
        .build()
        .unwrap()
}

/// A service with one open cache served by `store`; the repository accepts saves.
pub(crate) async fn service_with_provider(
    initial: CacheConfiguration,
    store: MockStore,
) -> (CacheService, Arc<RecordingEvents>, Arc<QueueProvider>) {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now());
    let (service, events, provider) = service_on(
        initial,
        store,
        Arc::new(clock),
        Arc::new(TestScheduler::default()),
    )
    .await;
    (service, events, provider)
}

/// A service with one open cache served by `store`, on `clock` and
/// `scheduler`; the repository accepts saves.
pub(crate) async fn service_on(
    initial: CacheConfiguration,
    store: MockStore,
    clock: Arc<dyn Clock>,
    scheduler: Arc<dyn Scheduler>,
) -> (CacheService, Arc<RecordingEvents>, Arc<QueueProvider>) {
    service_on_store(initial, Arc::new(store), clock, scheduler).await
}

/// [`service_on`] with any store.
pub(crate) async fn service_on_store(
    initial: CacheConfiguration,
    store: Arc<dyn CacheStore>,
    clock: Arc<dyn Clock>,
    scheduler: Arc<dyn Scheduler>,
) -> (CacheService, Arc<RecordingEvents>, Arc<QueueProvider>) {
    service_analyzed(initial, store, clock, scheduler, None).await
}

/// [`service_on_store`] whose caches are analysed by `analyzers`.
pub(crate) async fn service_analyzed(
    initial: CacheConfiguration,
    store: Arc<dyn CacheStore>,
    clock: Arc<dyn Clock>,
    scheduler: Arc<dyn Scheduler>,
    analyzers: Option<Arc<dyn AnalyzerProvider>>,
) -> (CacheService, Arc<RecordingEvents>, Arc<QueueProvider>) {
    let mut repository = MockRepository::new();
    repository.expect_list().return_once(move || {
        Ok(vec![StoredConfiguration {
            config: initial,
            version: 1,
            provenance: Provenance::new(ConfigOrigin::Runtime, []),
        }])
    });
    repository.expect_save().returning(|config, provenance, _| {
        Ok(StoredConfiguration {
            config,
            version: 2,
            provenance,
        })
    });
    repository.expect_delete().returning(|_, _| Ok(None));
    let provider = Arc::new(QueueProvider::default());
    provider.next_store(store);
    let events = Arc::new(RecordingEvents::default());
    let service = CacheService::new(Dependencies {
        repository: Arc::new(repository),
        provider: provider.clone(),
        events: events.clone(),
        clock,
        scheduler,
        analyzers,
        compression_probe: None,
    });
    service.bootstrap().await.unwrap();
    (service, events, provider)
}

/// [`service_with_provider`] without the provider handle.
pub(crate) async fn service_with(
    initial: CacheConfiguration,
    store: MockStore,
) -> (CacheService, Arc<RecordingEvents>) {
    let (service, events, _) = service_with_provider(initial, store).await;
    (service, events)
}

/// A [`Scheduler`] on tokio's timer (follows paused time) that keeps the
/// handles of what it spawns, so a test can wait for every background task
/// to finish ([`TestScheduler::drain`]) instead of sleeping.
#[derive(Default)]
pub(crate) struct TestScheduler {
    spawned: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl TestScheduler {
    /// Awaits every task spawned so far, and those they spawn.
    pub(crate) async fn drain(&self) {
        loop {
            let handles: Vec<_> = std::mem::take(&mut *self.spawned.lock().unwrap());
            if handles.is_empty() {
                return;
            }
            for handle in handles {
                handle.await.unwrap();
            }
        }
    }

    /// How many tasks were spawned and not yet drained.
    pub(crate) fn pending(&self) -> usize {
        self.spawned.lock().unwrap().len()
    }
}

impl Scheduler for TestScheduler {
    fn sleep(&self, duration: std::time::Duration) -> ScheduledFuture {
        Box::pin(tokio::time::sleep(duration))
    }

    fn spawn(&self, task: ScheduledFuture) {
        self.spawned.lock().unwrap().push(tokio::spawn(task));
    }
}

/// A store over a map that every store made from it shares, as a plugin
/// over one database file is: two stores of one cache see the same data.
/// Its capabilities say `shared` as told, so a test can make it lie.
pub(crate) struct SharedMapStore {
    map: Arc<Mutex<std::collections::BTreeMap<CacheKey, CacheEntry>>>,
    shared: bool,
}

impl SharedMapStore {
    /// A store on `map`, declaring `shared`.
    pub(crate) fn new(
        map: Arc<Mutex<std::collections::BTreeMap<CacheKey, CacheEntry>>>,
        shared: bool,
    ) -> Self {
        Self { map, shared }
    }
}

#[async_trait]
impl CacheStore for SharedMapStore {
    fn backend(&self) -> &str {
        "shared-map"
    }
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities {
            shared: self.shared,
            ..StoreCapabilities::IN_PROCESS
        }
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, StoreError> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }
    async fn insert(&self, key: CacheKey, entry: CacheEntry) -> Result<InsertOutcome, StoreError> {
        Ok(match self.map.lock().unwrap().insert(key, entry) {
            Some(_) => InsertOutcome::Replaced,
            None => InsertOutcome::Created,
        })
    }
    async fn remove(&self, key: &CacheKey) -> Result<bool, StoreError> {
        Ok(self.map.lock().unwrap().remove(key).is_some())
    }
    async fn invalidate_pattern(&self, _: &KeyPattern) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn invalidate_tags(&self, _: &[Tag]) -> Result<InvalidationCount, StoreError> {
        Ok(InvalidationCount::Exact(0))
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.map.lock().unwrap().clear();
        Ok(())
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(StoreStats {
            entries: self.map.lock().unwrap().len() as u64,
            ..StoreStats::default()
        })
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn entries(&self) -> Result<Vec<(CacheKey, CacheEntry)>, StoreError> {
        Ok(self
            .map
            .lock()
            .unwrap()
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect())
    }
}
