//! The policy store's unit tests: invariants after every operation,
//! expiry, events and sharding.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use strata_domain::{CacheValue, ContentType, EntryVersion, InvalidationCount};
use strata_testkit::ManualClock;

use std::mem;
use std::sync::{Arc, Mutex};

use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, Clock, DomainEvent, EventPublisher, EvictionCause,
    InsertOutcome, KeyPattern, MAX_KEY_BYTES, Tag, Timestamp,
};

use super::PolicyStore;
use super::builder::MIN_ENTRIES_PER_SHARD;
use super::shard::EXPIRY_SWEEP_PER_INSERT;
use crate::eviction::PolicyConfig;

/// Records every published event.
#[derive(Default)]
struct Recorder(Mutex<Vec<DomainEvent>>);

impl Recorder {
    fn take(&self) -> Vec<DomainEvent> {
        mem::take(&mut *self.0.lock().unwrap())
    }
}

impl EventPublisher for Recorder {
    fn publish(&self, event: DomainEvent) {
        self.0.lock().unwrap().push(event);
    }
}

fn key(s: &str) -> CacheKey {
    CacheKey::parse(s).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap()
}

fn name() -> CacheName {
    CacheName::parse("c").unwrap()
}

fn entry_at(len: usize, created_ms: u64, expires_ms: Option<u64>, tags: &[&str]) -> CacheEntry {
    CacheEntry::new(
        CacheValue::new(Bytes::from(vec![7; len]), ContentType::default()),
        Timestamp::from_millis(created_ms),
        expires_ms.map(Timestamp::from_millis),
        tags.iter().map(|t| tag(t)).collect(),
        EntryVersion::new(created_ms),
    )
}

fn entry(len: usize, tags: &[&str]) -> CacheEntry {
    entry_at(len, 0, None, tags)
}

fn check(store: &PolicyStore) {
    for index in 0..store.shard_count() {
        store.lock(index).check(store.byte_mode);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_expired_entry_is_dropped_counted_and_published() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
    let events = Arc::new(Recorder::default());
    let store = PolicyStore::builder(name())
        .max_entries(Some(100))
        .clock(clock.clone())
        .events(events.clone())
        .build();
    store
        .insert(key("k"), entry_at(1, 0, Some(1_000), &["t"]))
        .await
        .unwrap();
    clock.advance(Duration::from_millis(999));
    assert!(store.get(&key("k")).await.unwrap().is_some());
    clock.advance(Duration::from_millis(1));
    assert!(store.get(&key("k")).await.unwrap().is_none());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.entries, stats.bytes, stats.expirations), (0, 0, 1));
    assert_eq!(
        events.take(),
        vec![DomainEvent::EntryExpired {
            cache: name(),
            key: key("k")
        }]
    );
    // Already expired on arrival: not stored, counted once.
    let outcome = store
        .insert(key("old"), entry_at(1, 0, Some(500), &[]))
        .await
        .unwrap();
    assert_eq!(outcome, InsertOutcome::Created);
    assert!(store.get(&key("old")).await.unwrap().is_none());
    assert_eq!(store.stats().await.unwrap().expirations, 2);
    check(&store);
}

#[tokio::test]
async fn stats_and_inserts_collect_expired_entries_nobody_reads() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
    let store = PolicyStore::builder(name())
        .max_entries(Some(10_000))
        .shards(1)
        .clock(clock.clone())
        .build();
    for i in 0..100 {
        store
            .insert(key(&format!("k{i}")), entry_at(1, 0, Some(10 + i), &[]))
            .await
            .unwrap();
    }
    clock.advance(Duration::from_millis(50)); // k0 (expires at 10) to k40 (at 50) have expired.
    // One insert collects a bounded number of the expired entries...
    store.insert(key("fresh"), entry(1, &[])).await.unwrap();
    assert_eq!(store.lock(0).len(), 101 - EXPIRY_SWEEP_PER_INSERT);
    // ...and stats collects the rest.
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.entries, stats.expirations), (60, 41));
    assert_eq!(store.entries().await.unwrap().len(), 60);
    check(&store);
}

#[tokio::test]
async fn reads_share_the_stored_value_and_it_outlives_the_entry() {
    let store = PolicyStore::builder(name()).max_entries(Some(100)).build();
    store.insert(key("k"), entry(64, &["t"])).await.unwrap();
    let first = store.get(&key("k")).await.unwrap().unwrap();
    let second = store.get(&key("k")).await.unwrap().unwrap();
    assert_eq!(
        first.value().bytes().as_ptr(),
        second.value().bytes().as_ptr(),
        "both reads hand out the stored bytes, not copies"
    );
    assert_eq!(first, entry(64, &["t"]));
    assert!(store.remove(&key("k")).await.unwrap());
    store.flush().await.unwrap();
    assert_eq!(first.value().bytes().as_ref(), &[7; 64][..]);
    assert_eq!(first.tags(), &[tag("t")]);
    check(&store);
}

#[tokio::test]
async fn replacing_an_entry_reindexes_its_tags() {
    let store = PolicyStore::builder(name()).max_entries(Some(100)).build();
    store.insert(key("k"), entry(1, &["a", "b"])).await.unwrap();
    let outcome = store.insert(key("k"), entry(2, &["b"])).await.unwrap();
    assert_eq!(outcome, InsertOutcome::Replaced);
    check(&store);
    assert_eq!(
        store.invalidate_tags(&[tag("a")]).await.unwrap(),
        InvalidationCount::Exact(0)
    );
    assert!(store.get(&key("k")).await.unwrap().is_some());
    assert_eq!(
        store.invalidate_tags(&[tag("b"), tag("a")]).await.unwrap(),
        InvalidationCount::Exact(1)
    );
    assert!(store.get(&key("k")).await.unwrap().is_none());
    check(&store);
}

#[tokio::test]
async fn an_entry_the_policy_declines_counts_as_an_eviction() {
    let events = Arc::new(Recorder::default());
    let store = PolicyStore::builder(name())
        .max_bytes(Some(1_000))
        .max_value_bytes(100)
        .events(events.clone())
        .build();
    store.insert(key("big"), entry(10, &[])).await.unwrap();
    let outcome = store
        .insert(key("big"), entry(2_000, &["t"]))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        InsertOutcome::Replaced,
        "the live entry was replaced"
    );
    assert!(store.get(&key("big")).await.unwrap().is_none());
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.entries, stats.bytes, stats.evictions_capacity),
        (0, 0, 1)
    );
    assert_eq!(
        events.take(),
        vec![DomainEvent::EntryEvicted {
            cache: name(),
            key: key("big"),
            cause: EvictionCause::Capacity,
        }]
    );
    check(&store);
}

#[test]
fn small_caches_get_fewer_shards_and_every_valid_entry_fits_a_shard() {
    let objects = |n| {
        PolicyStore::builder(name())
            .max_entries(Some(n))
            .shards(16)
            .build()
    };
    assert_eq!(objects(100).shard_count(), 1);
    assert_eq!(objects(4 * MIN_ENTRIES_PER_SHARD).shard_count(), 4);
    assert_eq!(objects(1_000_000).shard_count(), 16);
    assert_eq!(
        PolicyStore::builder(name()).shards(5).build().shard_count(),
        8,
        "unbounded, rounded up to a power of two"
    );
    let rt = runtime();
    for config in PolicyConfig::all() {
        for max_bytes in [10_000, 1 << 20, 64 << 20] {
            let max_value_bytes = 4_096;
            let store = PolicyStore::builder(name())
                .policy(config.clone())
                .max_bytes(Some(max_bytes))
                .max_value_bytes(max_value_bytes)
                .shards(64)
                .build();
            let heaviest = CacheEntry::new(
                CacheValue::new(
                    Bytes::from(vec![0; max_value_bytes as usize]),
                    ContentType::parse(&format!("a/{}", "b".repeat(253))).unwrap(),
                ),
                Timestamp::from_millis(0),
                None,
                vec![],
                EntryVersion::new(1),
            );
            let k = key(&"k".repeat(MAX_KEY_BYTES));
            rt.block_on(store.insert(k.clone(), heaviest)).unwrap();
            let stored = rt.block_on(store.get(&k)).unwrap().is_some();
            // Only a policy's own admission limit can refuse it, and
            // then only with one shard left.
            assert!(stored || store.shard_count() == 1, "{config} {max_bytes}");
            if max_bytes == 64 << 20 {
                assert!(stored, "{config}: {} shards", store.shard_count());
                assert!(store.shard_count() > 1, "{config}");
            }
        }
    }
}

#[tokio::test]
async fn every_policy_builds_a_working_store() {
    for config in PolicyConfig::all() {
        let events = Arc::new(Recorder::default());
        let store = PolicyStore::builder(name())
            .policy(config.clone())
            .max_entries(Some(1_000))
            .shards(4)
            .events(events.clone())
            .build();
        assert_eq!(store.policy_name(), config.name());
        for i in 0..3_000u64 {
            let k = key(&format!("k{:04}", i % 1_500));
            if store.get(&k).await.unwrap().is_none() {
                store.insert(k, entry_at(8, i, None, &[])).await.unwrap();
            }
        }
        let stats = store.stats().await.unwrap();
        assert!(
            stats.entries <= 1_000 && stats.entries >= 500,
            "{config}: {stats:?}"
        );
        assert_eq!(
            stats.bytes,
            stats.entries * entry(8, &[]).weight(5),
            "{config}"
        );
        assert!(stats.evictions_capacity >= 500, "{config}: {stats:?}");
        let evicted = events
            .take()
            .into_iter()
            .filter(|e| matches!(e, DomainEvent::EntryEvicted { .. }))
            .count();
        assert_eq!(evicted as u64, stats.evictions_capacity, "{config}");
        let exported = store.entries().await.unwrap();
        assert_eq!(exported.len() as u64, stats.entries);
        assert!(exported.is_sorted_by_key(|(_, e)| e.created_at()));
        check(&store);
        store.flush().await.unwrap();
        let flushed = store.stats().await.unwrap();
        assert_eq!((flushed.entries, flushed.bytes), (0, 0), "{config}");
        assert_eq!(flushed.evictions_capacity, stats.evictions_capacity);
        store.insert(key("again"), entry(1, &[])).await.unwrap();
        assert!(
            store.get(&key("again")).await.unwrap().is_some(),
            "{config}"
        );
    }
}

#[tokio::test]
async fn frequency_hints_leave_one_policy_and_seed_the_next() {
    let store = |policy: PolicyConfig| {
        PolicyStore::builder(name())
            .policy(policy)
            .max_entries(Some(1_000))
            .shards(2)
            .build()
    };
    let lfu = store(PolicyConfig::Lfu(crate::eviction::LfuConfig));
    lfu.insert(key("hot"), entry(8, &[])).await.unwrap();
    lfu.insert(key("cold"), entry(8, &[])).await.unwrap();
    for _ in 0..9 {
        lfu.get(&key("hot")).await.unwrap();
    }
    let (hot, cold) = (
        lfu.frequency_hint(&key("hot")).await,
        lfu.frequency_hint(&key("cold")).await,
    );
    assert!(hot >= 9 && hot > cold, "LFU counts: hot {hot}, cold {cold}");
    assert_eq!(lfu.frequency_hint(&key("absent")).await, 0);

    // W-TinyLFU takes the hint into its sketch (which stops at 15).
    let next = store(PolicyConfig::WTinyLfu(Default::default()));
    next.seed_frequency(&key("hot"), hot).await;
    next.insert(key("hot"), entry(8, &[])).await.unwrap();
    next.insert(key("cold"), entry(8, &[])).await.unwrap();
    let (seeded, unseeded) = (
        next.frequency_hint(&key("hot")).await,
        next.frequency_hint(&key("cold")).await,
    );
    assert!(
        seeded >= hot.min(15) && seeded > unseeded + 5,
        "W-TinyLFU sketch after the seed: hot {seeded}, cold {unseeded}"
    );
}

#[tokio::test]
async fn batches_match_single_operations_and_patterns_select_keys() {
    let store = PolicyStore::builder(name())
        .max_entries(Some(10_000))
        .shards(8)
        .build();
    let batch: Vec<_> = ["a:1", "b:1", "a:2", "a:1", "c:1"]
        .iter()
        .enumerate()
        .map(|(i, k)| (key(k), entry(i, &[])))
        .collect();
    let outcomes = store.insert_many(batch).await.unwrap();
    use InsertOutcome::{Created, Replaced};
    assert_eq!(outcomes, vec![Created, Created, Created, Replaced, Created]);
    let keys: Vec<_> = ["a:1", "zz", "a:2", "a:1"].iter().map(|k| key(k)).collect();
    let got: Vec<Option<usize>> = store
        .get_many(&keys)
        .await
        .unwrap()
        .iter()
        .map(|e| e.as_ref().map(|e| e.value().len()))
        .collect();
    assert_eq!(got, vec![Some(3), None, Some(2), Some(3)]);
    let pattern = KeyPattern::parse("a:*").unwrap();
    assert_eq!(store.invalidate_pattern(&pattern).await.unwrap(), 2);
    assert_eq!(store.stats().await.unwrap().entries, 2);
    assert!(store.remove(&key("b:1")).await.unwrap());
    assert!(!store.remove(&key("b:1")).await.unwrap());
    check(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_stay_within_capacity() {
    let store = Arc::new(
        PolicyStore::builder(name())
            .policy(PolicyConfig::parse("s3fifo").unwrap())
            .max_entries(Some(4_096))
            .shards(8)
            .build(),
    );
    assert_eq!(store.shard_count(), 8);
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..3_000u64 {
                    let k = key(&format!("k{}", (i * 7 + t * 1_000) % 6_000));
                    store
                        .insert(k.clone(), entry_at(4, i, None, &["t"]))
                        .await
                        .unwrap();
                    store.get(&k).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stats = store.stats().await.unwrap();
    assert!(stats.entries <= 4_096, "{stats:?}");
    check(&store);
    assert_eq!(
        store.invalidate_tags(&[tag("t")]).await.unwrap(),
        InvalidationCount::Exact(stats.entries)
    );
    assert_eq!(store.stats().await.unwrap().entries, 0);
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        key: u8,
        len: u16,
        ttl_ms: Option<u8>,
    },
    Get {
        key: u8,
    },
    Remove {
        key: u8,
    },
    Advance {
        ms: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0u8..80, 0u16..300, prop::option::of(1u8..50))
            .prop_map(|(key, len, ttl_ms)| Op::Insert { key, len, ttl_ms }),
        6 => (0u8..80).prop_map(|key| Op::Get { key }),
        2 => (0u8..80).prop_map(|key| Op::Remove { key }),
        1 => (0u8..30).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// Replays `ops` on a store, checking after each that the bound holds,
/// the shards are consistent, and keys evicted by an insert are gone.
fn replay(
    rt: &tokio::runtime::Runtime,
    config: &PolicyConfig,
    byte_mode: bool,
    capacity: u64,
    ops: &[Op],
) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
    let events = Arc::new(Recorder::default());
    let builder = PolicyStore::builder(name())
        .policy(config.clone())
        .max_value_bytes(300)
        .shards(4)
        .clock(clock.clone())
        .events(events.clone());
    let store = if byte_mode {
        builder.max_bytes(Some(capacity)).build()
    } else {
        builder.max_entries(Some(capacity)).build()
    };
    for op in ops {
        match *op {
            Op::Insert {
                key: k,
                len,
                ttl_ms,
            } => {
                let now = clock.now().as_millis();
                let e = entry_at(
                    usize::from(len),
                    now,
                    ttl_ms.map(|t| now + u64::from(t)),
                    &["t"],
                );
                let k = key(&format!("k{k}"));
                rt.block_on(store.insert(k, e)).unwrap();
                for event in events.take() {
                    if let DomainEvent::EntryEvicted { key: gone, .. } = event {
                        assert!(
                            rt.block_on(store.get(&gone)).unwrap().is_none(),
                            "{config}: evicted {gone:?} returned"
                        );
                    }
                }
            }
            Op::Get { key: k } => {
                let now = clock.now();
                if let Some(e) = rt.block_on(store.get(&key(&format!("k{k}")))).unwrap() {
                    assert!(!e.is_expired(now), "{config}: expired entry returned");
                }
            }
            Op::Remove { key: k } => {
                rt.block_on(store.remove(&key(&format!("k{k}")))).unwrap();
            }
            Op::Advance { ms } => clock.advance(Duration::from_millis(u64::from(ms))),
        }
        let stats = rt.block_on(store.stats()).unwrap();
        if byte_mode {
            assert!(
                stats.bytes <= capacity,
                "{config}: {} bytes > {capacity}",
                stats.bytes
            );
        } else {
            assert!(
                stats.entries <= capacity,
                "{config}: {} entries > {capacity}",
                stats.entries
            );
        }
        check(&store);
        events.take();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn capacity_is_never_exceeded(
        entries in 1u64..1_200,
        bytes in 1_000u64..40_000,
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let rt = runtime();
        for config in PolicyConfig::all() {
            replay(&rt, &config, false, entries, &ops);
            replay(&rt, &config, true, bytes, &ops);
        }
    }
}
