//! Tests of `get_with` and `get_with_options` on mock stores, the manual
//! clock and tokio's paused time.

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

// ---- get_with_options ----

use std::sync::Mutex;
use std::time::Duration;

use strata_domain::Clock;
use strata_testkit::ManualClock;

use crate::commands::delete_entry::DeleteEntry;

/// What the fixture's store was asked to insert, in order.
type Inserted = Arc<Mutex<Vec<CacheEntry>>>;

struct Fixture {
    service: CacheService,
    clock: Arc<ManualClock>,
    scheduler: Arc<TestScheduler>,
    inserted: Inserted,
    loads: Arc<AtomicUsize>,
}

/// A store that misses every read (an expired entry is gone) and records
/// its inserts; `store` may add expectations first.
async fn fixture_with(store: MockStore) -> Fixture {
    fixture_on(store, config("c", None, 100)).await
}

async fn fixture_on(mut store: MockStore, cache: strata_domain::CacheConfiguration) -> Fixture {
    let inserted: Inserted = Arc::default();
    let sink = inserted.clone();
    store.expect_get().returning(|_| Ok(None));
    store.expect_insert().returning(move |_, entry| {
        sink.lock().unwrap().push(entry);
        Ok(InsertOutcome::Created)
    });
    store.expect_remove().returning(|_| Ok(true));
    store.expect_backend().return_const("mock".to_owned());
    let clock = Arc::new(ManualClock::default());
    let scheduler = Arc::new(TestScheduler::default());
    let (service, _, _) = service_on(cache, store, clock.clone(), scheduler.clone()).await;
    Fixture {
        service,
        clock,
        scheduler,
        inserted,
        loads: Arc::default(),
    }
}

async fn fixture() -> Fixture {
    fixture_with(MockStore::new()).await
}

type Outcome = Result<Fetched, GetWithError<std::io::Error>>;

impl Fixture {
    /// `get_with_options` of key `k` whose loader counts its calls and
    /// returns `answer`.
    async fn get(&self, k: &str, options: &GetWithOptions, answer: Answer) -> Outcome {
        let loads = self.loads.clone();
        self.service
            .get_with_options(&name("c"), &key(k), options.clone(), move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                match answer {
                    Answer::Value(v) => Ok(Some(value_of(v))),
                    Answer::Absent => Ok(None),
                    Answer::Fail => Err(std::io::Error::other("origin down")),
                    Answer::After(gate, v) => {
                        let _ = gate.await;
                        Ok(Some(value_of(v)))
                    }
                }
            })
            .await
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    fn advance_secs(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

enum Answer {
    Value(&'static [u8]),
    Absent,
    Fail,
    /// The value once the gate opens (or its sender is dropped).
    After(tokio::sync::oneshot::Receiver<()>, &'static [u8]),
}

fn bytes_of(fetched: &Fetched) -> &[u8] {
    fetched.entry().unwrap().value().bytes().as_ref()
}

fn fail_safe(max_secs: u64) -> GetWithOptionsBuilder {
    GetWithOptions::builder()
        .ttl(Ttl::from_secs(60).unwrap())
        .fail_safe_max(Duration::from_secs(max_secs))
}

#[tokio::test]
async fn fail_safe_serves_the_expired_value_while_the_loader_fails_until_fail_safe_max() {
    let f = fixture().await;
    let options = fail_safe(600)
        .fail_safe_throttle(Duration::from_secs(1))
        .build()
        .unwrap();
    let first = f.get("k", &options, Answer::Value(b"v1")).await.unwrap();
    assert!(matches!(first, Fetched::Fresh(_)));

    f.advance_secs(61); // expired 1 s ago
    let stale = f.get("k", &options, Answer::Fail).await.unwrap();
    assert!(matches!(stale, Fetched::Stale(_)), "{stale:?}");
    assert_eq!(bytes_of(&stale), b"v1");

    f.advance_secs(600); // 601 s past expiry: past fail_safe_max
    match f.get("k", &options, Answer::Fail).await {
        Err(GetWithError::Loader(e)) => assert_eq!(e.to_string(), "origin down"),
        other => panic!("expected the loader's error, got {other:?}"),
    }
    assert_eq!(f.loads(), 3);
}

#[tokio::test]
async fn without_fail_safe_a_failing_loader_is_an_error_even_with_a_past_value() {
    let f = fixture().await;
    let options = GetWithOptions::builder()
        .ttl(Ttl::from_secs(60).unwrap())
        .build()
        .unwrap();
    f.get("k", &options, Answer::Value(b"v1")).await.unwrap();
    f.advance_secs(61);
    assert!(matches!(
        f.get("k", &options, Answer::Fail).await,
        Err(GetWithError::Loader(_))
    ));
}

#[tokio::test]
async fn after_a_failure_the_loader_is_retried_at_most_every_throttle() {
    let f = fixture().await;
    let options = fail_safe(3600)
        .fail_safe_throttle(Duration::from_secs(30))
        .build()
        .unwrap();
    f.get("k", &options, Answer::Value(b"v1")).await.unwrap();
    f.advance_secs(61);
    assert!(matches!(
        f.get("k", &options, Answer::Fail).await.unwrap(),
        Fetched::Stale(_)
    ));
    assert_eq!(f.loads(), 2);

    f.advance_secs(29); // inside the throttle: stale, loader not called
    let throttled = f.get("k", &options, Answer::Value(b"v2")).await.unwrap();
    assert!(matches!(throttled, Fetched::Stale(_)));
    assert_eq!(bytes_of(&throttled), b"v1");
    assert_eq!(f.loads(), 2);

    f.advance_secs(1); // the throttle is over: the loader runs again
    let fresh = f.get("k", &options, Answer::Value(b"v2")).await.unwrap();
    assert!(matches!(fresh, Fetched::Fresh(_)));
    assert_eq!(bytes_of(&fresh), b"v2");
    assert_eq!(f.loads(), 3);
}

#[tokio::test(start_paused = true)]
async fn past_the_soft_timeout_the_stale_value_is_served_and_the_load_finishes_in_background() {
    let f = fixture().await;
    let options = fail_safe(3600)
        .soft_timeout(Duration::from_millis(100))
        .hard_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    f.get("k", &options, Answer::Value(b"v1")).await.unwrap();
    f.advance_secs(61);

    let (open, gate) = tokio::sync::oneshot::channel();
    let started = tokio::time::Instant::now();
    let stale = f
        .get("k", &options, Answer::After(gate, b"v2"))
        .await
        .unwrap();
    assert!(matches!(stale, Fetched::Stale(_)), "{stale:?}");
    assert_eq!(bytes_of(&stale), b"v1");
    // Paused time moved only as far as the soft timeout.
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(f.scheduler.pending(), 1);

    open.send(()).unwrap();
    f.scheduler.drain().await;
    let inserted = f.inserted.lock().unwrap().clone();
    assert_eq!(inserted.len(), 2);
    assert_eq!(inserted[1].value().bytes().as_ref(), b"v2");
}

#[tokio::test(start_paused = true)]
async fn a_caller_without_a_stale_value_waits_past_the_soft_timeout() {
    let f = fixture().await;
    let options = fail_safe(3600)
        .soft_timeout(Duration::from_millis(100))
        .hard_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (open, gate) = tokio::sync::oneshot::channel();
    let (fetched, ()) =
        futures_util::join!(f.get("k", &options, Answer::After(gate, b"v1")), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            open.send(()).unwrap();
        });
    assert_eq!(bytes_of(&fetched.unwrap()), b"v1");
}

#[tokio::test(start_paused = true)]
async fn past_the_hard_timeout_without_a_stale_value_the_caller_gets_an_error_and_the_load_completes()
 {
    let f = fixture().await;
    let options = GetWithOptions::builder()
        .hard_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let (open, gate) = tokio::sync::oneshot::channel();
    let started = tokio::time::Instant::now();
    match f.get("k", &options, Answer::After(gate, b"late")).await {
        Err(GetWithError::Timeout(d)) => assert_eq!(d, Duration::from_secs(2)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert!(f.inserted.lock().unwrap().is_empty());

    open.send(()).unwrap();
    f.scheduler.drain().await;
    let inserted = f.inserted.lock().unwrap().clone();
    assert_eq!(inserted.len(), 1);
    assert_eq!(inserted[0].value().bytes().as_ref(), b"late");
}

#[tokio::test(start_paused = true)]
async fn past_the_hard_timeout_with_a_stale_value_the_stale_value_is_served() {
    let f = fixture().await;
    let options = fail_safe(3600)
        .hard_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    f.get("k", &options, Answer::Value(b"v1")).await.unwrap();
    f.advance_secs(61);
    let (open, gate) = tokio::sync::oneshot::channel();
    let stale = f
        .get("k", &options, Answer::After(gate, b"v2"))
        .await
        .unwrap();
    assert!(matches!(stale, Fetched::Stale(_)));
    drop(open); // the loader gives up waiting and still answers v2
    f.scheduler.drain().await;
    assert_eq!(f.inserted.lock().unwrap().len(), 2);
}

/// A store whose reads hit `entry` and whose shared tier holds `shared`.
async fn eager_fixture(
    entry: CacheEntry,
    shared: Option<CacheEntry>,
) -> (Fixture, Arc<AtomicUsize>) {
    let shared_reads = Arc::new(AtomicUsize::new(0));
    let counter = shared_reads.clone();
    let mut store = MockStore::new();
    store
        .expect_get()
        .returning(move |_| Ok(Some(entry.clone())));
    store.expect_get_shared().returning(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(shared.clone())
    });
    (fixture_with(store).await, shared_reads)
}

/// An entry written at the fixture clock's start, live for 100 s.
fn entry_at(start: Timestamp, created_after_secs: u64, bytes: &'static [u8]) -> CacheEntry {
    let created = start.saturating_add(Duration::from_secs(created_after_secs));
    CacheEntry::new(
        value_of(bytes),
        created,
        Some(created.saturating_add(Duration::from_secs(100))),
        vec![],
        strata_domain::EntryVersion::new(created.as_millis()),
    )
}

fn eager(fraction: f64) -> GetWithOptions {
    GetWithOptions::builder()
        .eager_refresh(fraction)
        .build()
        .unwrap()
}

#[tokio::test]
async fn eager_refresh_starts_one_background_load_past_the_fraction_when_l2_has_nothing_newer() {
    let start = Timestamp::from_millis(ManualClock::DEFAULT_START_MS);
    let seen = entry_at(start, 0, b"old");
    let (f, shared_reads) = eager_fixture(seen.clone(), Some(seen)).await;

    f.advance_secs(79); // 79% of the TTL: not yet
    let hit = f
        .get("k", &eager(0.8), Answer::Value(b"new"))
        .await
        .unwrap();
    assert_eq!(bytes_of(&hit), b"old");
    assert_eq!(f.scheduler.pending(), 0);

    f.advance_secs(1); // 80%: the first two reads start one refresh
    for _ in 0..2 {
        let hit = f
            .get("k", &eager(0.8), Answer::Value(b"new"))
            .await
            .unwrap();
        assert!(matches!(hit, Fetched::Fresh(_)));
        assert_eq!(bytes_of(&hit), b"old");
    }
    f.scheduler.drain().await;
    assert_eq!(shared_reads.load(Ordering::SeqCst), 1);
    assert_eq!(f.loads(), 1);
    let inserted = f.inserted.lock().unwrap().clone();
    assert_eq!(inserted.len(), 1);
    assert_eq!(inserted[0].value().bytes().as_ref(), b"new");
}

#[tokio::test]
async fn eager_refresh_does_not_call_the_loader_when_l2_has_a_newer_entry() {
    let start = Timestamp::from_millis(ManualClock::DEFAULT_START_MS);
    let seen = entry_at(start, 0, b"old");
    let newer = entry_at(start, 50, b"from-another-instance");
    let (f, shared_reads) = eager_fixture(seen, Some(newer)).await;
    f.advance_secs(90);
    let hit = f
        .get("k", &eager(0.8), Answer::Value(b"new"))
        .await
        .unwrap();
    assert_eq!(bytes_of(&hit), b"old");
    f.scheduler.drain().await;
    assert_eq!(shared_reads.load(Ordering::SeqCst), 1);
    assert_eq!(f.loads(), 0);
    assert!(f.inserted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_absent_answer_is_remembered_for_negative_ttl_and_never_stored() {
    let f = fixture().await;
    let options = GetWithOptions::builder()
        .negative_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(
        f.get("k", &options, Answer::Absent).await.unwrap(),
        Fetched::Absent
    );
    f.advance_secs(29);
    assert_eq!(
        f.get("k", &options, Answer::Value(b"v")).await.unwrap(),
        Fetched::Absent
    );
    assert_eq!(f.loads(), 1);
    f.advance_secs(1);
    let fresh = f.get("k", &options, Answer::Value(b"v")).await.unwrap();
    assert_eq!(bytes_of(&fresh), b"v");
    assert_eq!(f.loads(), 2);
    assert_eq!(f.inserted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_negative_ttl_an_absent_answer_calls_the_loader_every_time() {
    let f = fixture().await;
    let options = GetWithOptions::default();
    for _ in 0..2 {
        assert_eq!(
            f.get("k", &options, Answer::Absent).await.unwrap(),
            Fetched::Absent
        );
    }
    assert_eq!(f.loads(), 2);
    assert!(f.inserted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_key_deleted_through_the_service_is_never_served_by_fail_safe() {
    let f = fixture().await;
    let options = fail_safe(3600).build().unwrap();
    f.get("k", &options, Answer::Value(b"v1")).await.unwrap();
    f.get("other", &options, Answer::Value(b"o1"))
        .await
        .unwrap();
    f.service
        .delete(DeleteEntry {
            principal: writer(),
            cache: name("c"),
            key: key("k"),
        })
        .await
        .unwrap();
    f.advance_secs(61);
    assert!(matches!(
        f.get("k", &options, Answer::Fail).await,
        Err(GetWithError::Loader(_))
    ));
    // Another key keeps its fail-safe copy.
    assert!(matches!(
        f.get("other", &options, Answer::Fail).await.unwrap(),
        Fetched::Stale(_)
    ));
}

#[tokio::test]
async fn jittered_ttls_stay_within_the_bound_and_spread() {
    let f = fixture().await;
    let options = GetWithOptions::builder()
        .ttl(Ttl::from_secs(100).unwrap())
        .ttl_jitter(0.5)
        .build()
        .unwrap();
    for i in 0..100 {
        f.get(&format!("k{i}"), &options, Answer::Value(b"v"))
            .await
            .unwrap();
    }
    let start = f.clock.now();
    let ttls: std::collections::BTreeSet<u64> = f
        .inserted
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.expires_at().unwrap().saturating_since(start).as_secs())
        .collect();
    assert!(ttls.iter().all(|t| (100..=150).contains(t)), "{ttls:?}");
    // 100 draws from 51 values: one value only if jitter is broken.
    assert!(ttls.len() > 5, "{ttls:?}");
}

#[tokio::test]
async fn get_with_keeps_its_single_value_contract() {
    let f = fixture().await;
    let entry = f
        .service
        .get_with(
            &name("c"),
            &key("k"),
            Some(Ttl::from_secs(60).unwrap()),
            || async { Ok::<_, std::io::Error>(value_of(b"v")) },
        )
        .await
        .unwrap();
    assert_eq!(entry.value().bytes().as_ref(), b"v");
    assert_eq!(
        entry.expires_at(),
        Some(f.clock.now().saturating_add(Duration::from_secs(60)))
    );
}

#[tokio::test]
async fn an_invalidation_through_the_service_forgets_the_whole_cache() {
    let mut store = MockStore::new();
    store
        .expect_capabilities()
        .return_const(strata_domain::StoreCapabilities::IN_PROCESS);
    store.expect_invalidate_pattern().returning(|_| Ok(1));
    let f = fixture_with(store).await;
    let options = fail_safe(3600).build().unwrap();
    f.get("user:1", &options, Answer::Value(b"v1"))
        .await
        .unwrap();
    f.get("order:1", &options, Answer::Value(b"o1"))
        .await
        .unwrap();
    f.service
        .invalidate(crate::commands::invalidate_entries::InvalidateEntries {
            principal: writer(),
            cache: name("c"),
            selector: strata_domain::InvalidationSelector::Pattern(
                strata_domain::KeyPattern::parse("user:*").unwrap(),
            ),
            dry_run: false,
            confirm: None,
        })
        .await
        .unwrap();
    f.advance_secs(61);
    for k in ["user:1", "order:1"] {
        assert!(
            matches!(
                f.get(k, &options, Answer::Fail).await,
                Err(GetWithError::Loader(_))
            ),
            "{k} was served stale after the invalidation"
        );
    }
}

#[tokio::test]
async fn a_put_through_the_service_forgets_a_remembered_absent() {
    let f = fixture().await;
    let options = GetWithOptions::builder()
        .negative_ttl(Duration::from_secs(300))
        .build()
        .unwrap();
    assert_eq!(
        f.get("k", &options, Answer::Absent).await.unwrap(),
        Fetched::Absent
    );
    f.service
        .put(crate::commands::put_entry::PutEntry {
            principal: writer(),
            cache: name("c"),
            key: key("k"),
            value: value_of(b"written"),
            ttl: None,
            tags: vec![],
            lease: None,
        })
        .await
        .unwrap();
    // The store of this fixture misses every read, so the loader runs:
    // the remembered "absent" was forgotten by the PUT.
    let fetched = f.get("k", &options, Answer::Value(b"v")).await.unwrap();
    assert_eq!(bytes_of(&fetched), b"v");
    assert_eq!(f.loads(), 2);
}

/// The cache's `cache_aside` configuration fills the options a call
/// leaves unset; a call's own option wins.
#[tokio::test]
async fn a_caches_cache_aside_defaults_apply_unless_the_call_sets_its_own() {
    let defaults = strata_domain::CacheAsideDefaults {
        negative_ttl_secs: Some(30),
        ..Default::default()
    };
    let cache = strata_domain::CacheConfiguration::builder(name("c"))
        .cache_aside(defaults)
        .build()
        .unwrap();
    let f = fixture_on(MockStore::new(), cache).await;
    let unset = GetWithOptions::default();
    assert_eq!(
        f.get("k", &unset, Answer::Absent).await.unwrap(),
        Fetched::Absent
    );
    f.advance_secs(29);
    assert_eq!(
        f.get("k", &unset, Answer::Value(b"v")).await.unwrap(),
        Fetched::Absent,
        "the cache's negative_ttl_secs remembered the absent answer"
    );
    assert_eq!(f.loads(), 1);
    let own = GetWithOptions::builder()
        .negative_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(
        f.get("j", &own, Answer::Absent).await.unwrap(),
        Fetched::Absent
    );
    f.advance_secs(1);
    let fresh = f.get("j", &own, Answer::Value(b"w")).await.unwrap();
    assert_eq!(
        bytes_of(&fresh),
        b"w",
        "the call's 1 s won over the cache's 30 s"
    );
    assert_eq!(f.loads(), 3);
}

/// The store itself failing (its backend down) is served by fail-safe as
/// a failing loader is: the copy within `fail_safe_max`, else the error.
#[tokio::test]
async fn a_failing_store_read_is_served_stale_by_fail_safe() {
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut store = MockStore::new();
    let count = reads.clone();
    store.expect_get().returning(move |_| {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(None)
        } else {
            Err(StoreError::Unavailable {
                backend: "mock".into(),
                source: "connection refused".into(),
            })
        }
    });
    let f = fixture_with(store).await;
    let options = fail_safe(3600).build().unwrap();
    let fresh = f.get("k", &options, Answer::Value(b"v1")).await.unwrap();
    assert_eq!(bytes_of(&fresh), b"v1");
    match f.get("k", &options, Answer::Fail).await.unwrap() {
        Fetched::Stale(entry) => assert_eq!(bytes_of(&Fetched::Fresh(entry)), b"v1"),
        other => panic!("expected the fail-safe copy, got {other:?}"),
    }
    assert_eq!(f.loads(), 1, "no load while the store is down");
    // Without fail-safe, the store's error.
    match f.get("k", &GetWithOptions::default(), Answer::Fail).await {
        Err(GetWithError::Store(StoreError::Unavailable { .. })) => {}
        other => panic!("expected the store's error, got {other:?}"),
    }
}
