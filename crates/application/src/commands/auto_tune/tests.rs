//! The auto-tune handler's rebuild (issue 31): a fresh start of the active
//! policy that beats the running one by more than the margin rebuilds the
//! store (same policy, built anew, the entries moved in, the analyzer told,
//! an audit record with `rebuild = true`); one within the margin does not.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata_domain::{
    AUTO_START_POLICY, AutoTuneSettings, CANDIDATE_POLICIES, CAPACITY_FACTORS, CacheEntry,
    CacheStore, CurvePoint, EntryVersion, EvictionPolicyKind, FreshStart, MissRatioCurve,
    MissRatioCurves,
};

use crate::CacheService;
use crate::test_support::*;

const CAPACITY: u64 = 100;

/// Curves where the active policy (the start policy) is estimated at 0.50
/// and every other at 0.60 (no switch), and a fresh start of the active
/// policy reached `fresh` beside the running one's 0.50 over 4,096
/// samples; each snapshot has more samples than the last, as an analyzer
/// that keeps replaying has.
fn analyzer(fresh: f64, rebuilds: usize) -> MockAnalyzer {
    let sampled = AtomicU64::new(0);
    let mut analyzer = MockAnalyzer::new();
    analyzer.expect_shape().return_const((CAPACITY, false));
    analyzer.expect_record().return_const(());
    analyzer.expect_record_write().return_const(());
    analyzer.expect_curves().returning(move || {
        let sampled_requests = 4096 * (sampled.fetch_add(1, Ordering::SeqCst) + 1);
        MissRatioCurves {
            capacity: CAPACITY,
            byte_mode: false,
            sampling_rate: 1.0,
            requests: sampled_requests,
            sampled_requests,
            dropped_samples: 0,
            memory_bytes: 0,
            max_memory_bytes: 8 << 20,
            epochs: sampled_requests / 100,
            effective_samples: 4096.0,
            leader_epochs: 10,
            curves: CANDIDATE_POLICIES
                .iter()
                .map(|&policy| {
                    let active = policy == AUTO_START_POLICY;
                    let m = if active { 0.50 } else { 0.60 };
                    MissRatioCurve {
                        policy,
                        points: CAPACITY_FACTORS
                            .iter()
                            .map(|&f| CurvePoint {
                                capacity_factor: f,
                                capacity: (CAPACITY as f64 * f) as u64,
                                miss_ratio: Some(m),
                            })
                            .collect(),
                        fresh: active.then_some(FreshStart {
                            miss_ratio: fresh,
                            running_miss_ratio: 0.50,
                            samples: 4096,
                        }),
                    }
                })
                .collect(),
        }
    });
    analyzer
        .expect_rebuilt()
        .withf(|&p| p == AUTO_START_POLICY)
        .times(rebuilds)
        .return_const(());
    analyzer
}

type Map = Arc<Mutex<BTreeMap<strata_domain::CacheKey, CacheEntry>>>;

/// A service with one `auto` cache `cache` holding "a" and "b" in an
/// in-process store over `old`, analysed by `analyzer`; a rebuild opens a
/// store over `new`.
async fn auto_cache(cache: &str, analyzer: MockAnalyzer, old: &Map, new: &Map) -> CacheService {
    let config = config(cache, None, 10)
        .to_builder()
        .eviction(EvictionPolicyKind::Auto)
        .max_entries(Some(CAPACITY))
        .build()
        .unwrap();
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now());
    let (service, _, provider) = service_analyzed(
        config,
        Arc::new(SharedMapStore::new(old.clone(), false)),
        Arc::new(clock),
        Arc::new(TestScheduler::default()),
        Some(Arc::new(OneAnalyzer(Arc::new(analyzer)))),
    )
    .await;
    provider.next_store(Arc::new(SharedMapStore::new(new.clone(), false)));
    let store = service
        .registry()
        .get(&name(cache))
        .unwrap()
        .store()
        .clone();
    for k in ["a", "b"] {
        let entry = CacheEntry::new(value_of(b"v"), now(), None, vec![], EntryVersion::new(1));
        store.insert(key(k), entry).await.unwrap();
    }
    service
}

fn settings() -> AutoTuneSettings {
    // Decide on one evaluation; the margin stays the default 0.01.
    AutoTuneSettings {
        window: 1,
        min_interval: 0,
        ..AutoTuneSettings::default()
    }
}

fn keys(map: &Map) -> Vec<String> {
    map.lock()
        .unwrap()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn a_fresh_start_beating_the_running_policy_rebuilds_the_store() {
    let (old, new) = (Map::default(), Map::default());
    // A gain of 0.05 clears the margin (0.01), the prior switch cost
    // (0.01) and the noise band over 4,096 samples (0.015).
    let service = auto_cache("auto-tune-rebuild", analyzer(0.45, 1), &old, &new).await;
    let before = service.registry().get(&name("auto-tune-rebuild")).unwrap();
    let mut audit = MockAuditLog::new();
    audit
        .expect_append()
        .withf(|record| {
            let param = |k: &str| {
                record
                    .params
                    .iter()
                    .find(|p| p.0 == k)
                    .map(|p| p.1.as_str())
            };
            record.principal == "auto_tune"
                && record.cache.as_deref() == Some("auto-tune-rebuild")
                && param("rebuild") == Some("true")
                && param("from") == Some(AUTO_START_POLICY.as_str())
                && param("to") == Some(AUTO_START_POLICY.as_str())
        })
        .times(1)
        .returning(|_| Ok(()));

    let made = service.auto_tune(settings(), Some(&audit)).await;

    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].switch.is_rebuild());
    assert_eq!(made[0].switch.to, AUTO_START_POLICY);
    let after = service.registry().get(&name("auto-tune-rebuild")).unwrap();
    assert!(
        !Arc::ptr_eq(before.store(), after.store()),
        "a new store serves"
    );
    assert_eq!(after.config(), before.config(), "the configuration is kept");
    assert_eq!(after.version(), before.version());
    assert_eq!(keys(&new), ["a", "b"], "the entries were moved in");
    assert!(keys(&old).is_empty(), "and out of the old store");
}

#[tokio::test]
async fn a_fresh_start_within_the_margin_keeps_the_store() {
    let (old, new) = (Map::default(), Map::default());
    // A gain of 0.008: within the margin, however many evaluations.
    let service = auto_cache("auto-tune-no-rebuild", analyzer(0.492, 0), &old, &new).await;
    let before = service
        .registry()
        .get(&name("auto-tune-no-rebuild"))
        .unwrap();
    let mut audit = MockAuditLog::new();
    audit.expect_append().times(0);

    for _ in 0..5 {
        let made = service.auto_tune(settings(), Some(&audit)).await;
        assert!(made.is_empty(), "{made:?}");
    }

    let after = service
        .registry()
        .get(&name("auto-tune-no-rebuild"))
        .unwrap();
    assert!(Arc::ptr_eq(before.store(), after.store()));
    assert_eq!(keys(&old), ["a", "b"]);
    assert!(keys(&new).is_empty());
}
