//! `RedisBuildStore` on a real `redis-server` (and a three-master Redis
//! Cluster), beyond the testkit contract it also passes
//! (`build_cache_contract.rs`: round trips, ranges, find_missing, instance
//! isolation): the AC's stats and last access, uploads that leave no key
//! behind, every flush scope with dry runs and `older_than` on a
//! `ManualClock`, two stores sharing one Redis, values Redis dropped on
//! its own, and concurrent flushes that never count an entry twice.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_domain::{
    ActionCache, BuildCacheError, Clock, ContentStore, DigestHash, DigestPrefix, FlushCriteria,
    FlushScope, InstanceName, ReadRange,
};
use strata_infrastructure::{
    RedisBuildStore, RedisClusterConnection, RedisConnection, RedisOptions,
};
use strata_testkit::{ManualClock, RedisCluster, RedisServer, require};

#[path = "common/build_cache.rs"]
mod common;
use common::*;

async fn connect(server: &RedisServer) -> RedisConnection {
    RedisConnection::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect to redis")
}

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn store(server: &RedisServer, clock: &Arc<ManualClock>) -> Arc<RedisBuildStore> {
    RedisBuildStore::builder(connect(server).await)
        .max_blob_bytes(64 << 10)
        .clock(clock.clone())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_results_round_trip_with_stats_and_last_access() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let clock = Arc::new(ManualClock::default());
    let s = store(&server, &clock).await;
    let a = inst("team-a/linux");
    let written_at = clock.now();
    let key = put_ac(&*s, &a, "action", "result").await;

    clock.advance(Duration::from_secs(5));
    assert_eq!(
        &s.peek(&a, key.hash()).await.unwrap().unwrap()[..],
        b"result"
    );
    let got = s.get(&a, key.hash()).await.unwrap().unwrap();
    assert_eq!(&got.value[..], b"result");
    assert_eq!(got.last_access, written_at, "peek does not refresh");
    let again = s.get(&a, key.hash()).await.unwrap().unwrap();
    assert_eq!(again.last_access, clock.now(), "get refreshed it");
    assert!(
        s.get(&a, digest_of(b"other").hash())
            .await
            .unwrap()
            .is_none()
    );
    assert!(ActionCache::contains(&*s, &a, key.hash()).await.unwrap());

    // put replaces, and the byte count follows.
    s.put(&a, *key.hash(), Bytes::from_static(b"longer result"))
        .await
        .unwrap();
    assert_eq!(
        &s.peek(&a, key.hash()).await.unwrap().unwrap()[..],
        b"longer result"
    );
    // An empty AC value is a value (ccache's layout=bazel stores anything).
    let empty = put_ac(&*s, &a, "empty", "").await;
    assert_eq!(&s.peek(&a, empty.hash()).await.unwrap().unwrap()[..], b"");

    let usage = ActionCache::stats(&*s).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].store, "redis");
    assert_eq!(
        (
            usage[0].entries,
            usage[0].bytes,
            usage[0].hits,
            usage[0].misses
        ),
        (2, 13, 2, 1)
    );
    let mut listed = ActionCache::list(&*s, None).await.unwrap();
    listed.sort_by_key(|e| e.size_bytes);
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0].hash, listed[0].size_bytes), (*empty.hash(), 0));
    assert_eq!((listed[1].hash, listed[1].size_bytes), (*key.hash(), 13));
    assert_eq!(listed[1].instance, a);
    assert_eq!(listed[1].last_access, clock.now());
    // The AC is not the CAS.
    assert!(!has_blob(&*s, &a, &key).await);

    // Keys follow <prefix>{<instance>}:ac:<hex>.
    let mut r = raw(&server).await;
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("strata:bc:{{team-a/linux}}:ac:{}", key.hash()))
        .query_async(&mut r)
        .await
        .unwrap();
    assert!(exists);

    let too_big = Bytes::from(vec![0u8; (4 << 20) + 1]);
    assert!(matches!(
        s.put(&a, *key.hash(), too_big).await,
        Err(BuildCacheError::TooLarge { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_oversized_and_dropped_uploads_store_nothing() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let clock = Arc::new(ManualClock::default());
    let s = store(&server, &clock).await;
    let a = inst("a");
    let d = digest_of(b"abc");

    for (expected, data) in [(Some(3), b"abd".as_slice()), (None, b"abcd")] {
        let committed = commit_upload(&*s, &a, &d, expected, data).await;
        assert!(
            matches!(committed, Err(BuildCacheError::DigestMismatch { .. })),
            "{data:?}: {committed:?}"
        );
    }
    let mut w = begin(&*s, &a, &d, Some(2)).await;
    assert!(w.write(Bytes::from_static(b"abc")).await.is_err());
    let mut w = begin(&*s, &a, &d, Some(3)).await;
    w.write(Bytes::from_static(b"ab")).await.unwrap();
    drop(w);

    // Over max_blob_bytes (64 KiB here): refused up front, or mid-stream.
    assert_eq!(ContentStore::max_blob_bytes(&*s), 64 << 10);
    assert!(matches!(
        ContentStore::begin_write(&*s, &a, *d.hash(), Some((64 << 10) + 1)).await,
        Err(BuildCacheError::TooLarge { .. })
    ));
    let big = vec![7u8; (64 << 10) + 1];
    let bd = digest_of(&big);
    let mut w = ContentStore::begin_write(&*s, &a, *bd.hash(), None)
        .await
        .unwrap();
    w.write(Bytes::copy_from_slice(&big[..40 << 10]))
        .await
        .unwrap();
    assert!(matches!(
        w.write(Bytes::copy_from_slice(&big[40 << 10..])).await,
        Err(BuildCacheError::TooLarge { .. })
    ));
    drop(w);

    // Writing the empty blob stores nothing either; it always exists.
    let w = ContentStore::begin_write(&*s, &a, DigestHash::EMPTY, Some(0))
        .await
        .unwrap();
    assert!(!w.commit().await.unwrap().created);
    assert_eq!(
        ContentStore::contains(&*s, &a, &DigestHash::EMPTY)
            .await
            .unwrap(),
        Some(0)
    );

    assert!(!has_blob(&*s, &a, &d).await);
    let mut r = raw(&server).await;
    let keys: u64 = redis::cmd("DBSIZE").query_async(&mut r).await.unwrap();
    assert_eq!(keys, 0, "no key was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flush_scope_with_dry_runs() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let clock = Arc::new(ManualClock::default());
    let s = store(&server, &clock).await;
    let (a, b) = (inst("a"), inst("b"));
    let old_a = put_blob(&*s, &a, b"old blob").await; // 8 bytes
    clock.advance(Duration::from_secs(100));
    let new_a = put_blob(&*s, &a, b"new blob in a").await; // 13
    let new_b = put_blob(&*s, &b, b"new blob!").await; // 9

    // Dry run of `all`: everything reported, nothing gone.
    let dry = FlushCriteria::new(FlushScope::All).dry_run(true);
    let r = ContentStore::flush(&*s, &dry).await.unwrap();
    assert!(r.dry_run);
    assert_eq!(r.stores.len(), 1);
    assert_eq!(r.stores[0].store, "redis");
    assert_eq!((r.entries_removed(), r.bytes_reclaimed()), (3, 30));
    assert_eq!(ContentStore::stats(&*s).await.unwrap()[0].entries, 3);

    // older_than: strictly older than 50 s by the store's clock.
    let older = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(50)));
    assert_eq!(flush_cas(&*s, &older.clone().dry_run(true)).await, (1, 8));
    assert!(has_blob(&*s, &a, &old_a).await);
    let exactly = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(100)));
    assert_eq!(
        flush_cas(&*s, &exactly).await.0,
        0,
        "exactly 100 s old is not older than 100 s"
    );
    assert_eq!(flush_cas(&*s, &older).await, (1, 8));
    assert!(!has_blob(&*s, &a, &old_a).await);
    assert!(has_blob(&*s, &a, &new_a).await);

    // digests, narrowed by an instance filter.
    let digests = FlushCriteria::new(FlushScope::Digests(vec![
        *new_a.hash(),
        *new_b.hash(),
        *new_b.hash(),
        *old_a.hash(),
    ]));
    assert_eq!(
        flush_cas(&*s, &digests.clone().instance(b.clone()).dry_run(true)).await,
        (1, 9)
    );
    assert_eq!(
        flush_cas(&*s, &digests.clone().instance(b.clone())).await,
        (1, 9)
    );
    assert!(!has_blob(&*s, &b, &new_b).await);
    assert!(has_blob(&*s, &a, &new_a).await);

    // digest_prefix: only the matching hashes, of the filtered instance.
    let new_b = put_blob(&*s, &b, b"new blob!").await;
    let prefix = DigestPrefix::parse(&new_a.hash().to_string()[..4]).unwrap();
    let by_prefix = FlushCriteria::new(FlushScope::DigestPrefix(prefix));
    assert_eq!(
        flush_cas(&*s, &by_prefix.clone().instance(b.clone()))
            .await
            .0,
        0
    );
    assert_eq!(
        flush_cas(&*s, &by_prefix.clone().dry_run(true)).await,
        (1, 13)
    );
    assert_eq!(flush_cas(&*s, &by_prefix).await, (1, 13));
    assert!(!has_blob(&*s, &a, &new_a).await);
    assert!(has_blob(&*s, &b, &new_b).await);

    // instance, with a dry run first.
    let new_a = put_blob(&*s, &a, b"new blob in a").await;
    let of_a = FlushCriteria::new(FlushScope::Instance(a.clone()));
    assert_eq!(flush_cas(&*s, &of_a.clone().dry_run(true)).await, (1, 13));
    assert!(has_blob(&*s, &a, &new_a).await);
    assert_eq!(flush_cas(&*s, &of_a).await, (1, 13));
    // An instance scope against a different instance filter selects nothing.
    let r = ContentStore::flush(&*s, &of_a.clone().instance(b.clone()))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 0);
    assert!(has_blob(&*s, &b, &new_b).await);

    // all, then nothing is left, and the byte count is back to zero.
    assert_eq!(
        flush_cas(&*s, &FlushCriteria::new(FlushScope::All)).await,
        (1, 9)
    );
    let usage = ContentStore::stats(&*s).await.unwrap();
    assert_eq!((usage[0].entries, usage[0].bytes), (0, 0));
    assert!(ContentStore::list(&*s, None).await.unwrap().is_empty());
    assert_eq!(
        flush_cas(&*s, &FlushCriteria::new(FlushScope::All)).await.0,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_cache_flushes_by_age_and_a_read_keeps_an_entry_young() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let clock = Arc::new(ManualClock::default());
    let s = store(&server, &clock).await;
    let a = inst("a");
    let read_later = put_ac(&*s, &a, "read later", "r1").await;
    let left_alone = put_ac(&*s, &a, "left alone", "r22").await;
    let blob = put_blob(&*s, &a, b"a blob is not an AC entry").await;
    clock.advance(Duration::from_secs(3600));
    assert!(s.get(&a, read_later.hash()).await.unwrap().is_some());
    clock.advance(Duration::from_secs(60));

    let hour = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(1800)));
    assert_eq!(flush_ac(&*s, &hour.clone().dry_run(true)).await, (1, 3));
    assert_eq!(flush_ac(&*s, &hour).await, (1, 3));
    assert!(
        !ActionCache::contains(&*s, &a, left_alone.hash())
            .await
            .unwrap()
    );
    assert!(
        ActionCache::contains(&*s, &a, read_later.hash())
            .await
            .unwrap()
    );
    // The AC flush left the CAS alone.
    assert!(has_blob(&*s, &a, &blob).await);
    let usage = ActionCache::stats(&*s).await.unwrap();
    assert_eq!((usage[0].entries, usage[0].bytes), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_redis_share_the_action_cache() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let clock = Arc::new(ManualClock::default());
    // Two Strata instances: separate connections and stores, one Redis.
    let first = store(&server, &clock).await;
    let second = store(&server, &clock).await;
    let a = inst("ci");
    let key = put_ac(&*first, &a, "compile main.c", "action result").await;
    let blob = put_blob(&*second, &a, b"main.o").await;

    let got = second.get(&a, key.hash()).await.unwrap().unwrap();
    assert_eq!(&got.value[..], b"action result");
    let read = first
        .read(&a, blob.hash(), ReadRange::FULL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&read.into_bytes().await.unwrap()[..], b"main.o");
    assert_eq!(ActionCache::stats(&*first).await.unwrap()[0].entries, 1);

    // A flush through one is seen by the other.
    let r = ActionCache::flush(&*second, &FlushCriteria::new(FlushScope::All))
        .await
        .unwrap();
    assert_eq!(r.entries_removed(), 1);
    assert!(first.get(&a, key.hash()).await.unwrap().is_none());

    // Another key prefix is another cache on the same Redis.
    let other = RedisBuildStore::builder(connect(&server).await)
        .key_prefix("other:bc:")
        .clock(clock.clone())
        .build();
    put_ac(&*first, &a, "compile main.c", "action result").await;
    assert!(other.get(&a, key.hash()).await.unwrap().is_none());
    assert!(ActionCache::list(&*other, None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_flushes_never_count_an_entry_twice() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let clock = Arc::new(ManualClock::default());
    let first = store(&server, &clock).await;
    let second = store(&server, &clock).await;
    let instances = [inst("a"), inst("b"), InstanceName::default()];
    let mut expected_bytes = 0u64;
    let mut writes = Vec::new();
    for i in 0..1_500u32 {
        let instance = instances[i as usize % instances.len()].clone();
        let value = format!("result {i}");
        expected_bytes += value.len() as u64;
        let s = first.clone();
        writes.push(async move { put_ac(&*s, &instance, &format!("action {i}"), &value).await });
    }
    futures_util::future::join_all(writes).await;
    assert_eq!(ActionCache::stats(&*first).await.unwrap()[0].entries, 1_500);

    for round in 0..2 {
        if round == 1 {
            // Again with age-based flushes, which page through the index.
            for i in 0..1_500u32 {
                put_ac(
                    &*first,
                    &instances[i as usize % 3],
                    &format!("action {i}"),
                    "v",
                )
                .await;
            }
            expected_bytes = 1_500;
            clock.advance(Duration::from_secs(10));
        }
        let all = if round == 0 {
            FlushCriteria::new(FlushScope::All)
        } else {
            FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(5)))
        };
        let (x, y) = tokio::join!(
            tokio::spawn({
                let s = first.clone();
                let c = all.clone();
                async move { ActionCache::flush(&*s, &c).await.unwrap() }
            }),
            tokio::spawn({
                let s = second.clone();
                let c = all.clone();
                async move { ActionCache::flush(&*s, &c).await.unwrap() }
            }),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(
            x.entries_removed() + y.entries_removed(),
            1_500,
            "round {round}"
        );
        assert_eq!(
            x.bytes_reclaimed() + y.bytes_reclaimed(),
            expected_bytes,
            "round {round}"
        );
        let usage = ActionCache::stats(&*first).await.unwrap();
        assert_eq!((usage[0].entries, usage[0].bytes), (0, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_redis_dropped_on_its_own_leaves_no_stale_bookkeeping() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let clock = Arc::new(ManualClock::default());
    let s = store(&server, &clock).await;
    let a = inst("a");
    let gone = put_ac(&*s, &a, "evicted", "12345").await;
    let kept = put_ac(&*s, &a, "kept", "678").await;
    // As an eviction by Redis would: the value key alone disappears.
    let mut r = raw(&server).await;
    let _: u64 = redis::cmd("DEL")
        .arg(format!("strata:bc:{{a}}:ac:{}", gone.hash()))
        .query_async(&mut r)
        .await
        .unwrap();
    let listed = ActionCache::list(&*s, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].hash, *kept.hash());
    let dry = ActionCache::flush(&*s, &FlushCriteria::new(FlushScope::All).dry_run(true))
        .await
        .unwrap();
    assert_eq!((dry.entries_removed(), dry.bytes_reclaimed()), (1, 3));
    // The miss drops its bookkeeping: stats count what is there.
    assert!(s.get(&a, gone.hash()).await.unwrap().is_none());
    let usage = ActionCache::stats(&*s).await.unwrap();
    assert_eq!((usage[0].entries, usage[0].bytes), (1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_on_a_redis_cluster() {
    let Some(cluster) = require(RedisCluster::spawn(3)) else {
        return;
    };
    let connection = RedisClusterConnection::connect(&cluster.urls(), RedisOptions::default())
        .await
        .expect("connect to the cluster");
    let clock = Arc::new(ManualClock::default());
    let s = RedisBuildStore::cluster_builder(connection)
        .clock(clock.clone())
        .build();
    // Enough instances that their hash tags land on different masters.
    let instances: Vec<InstanceName> = (0..12).map(|i| inst(&format!("i{i}"))).collect();
    let mut blobs = Vec::new();
    for (n, instance) in instances.iter().enumerate() {
        put_ac(&*s, instance, "action", "result").await;
        blobs.push(put_blob(&*s, instance, format!("blob {n}").as_bytes()).await);
    }
    put_ac(&*s, &InstanceName::default(), "action", "result").await;
    for (instance, blob) in instances.iter().zip(&blobs) {
        let key = digest_of(b"action");
        assert_eq!(
            &s.get(instance, key.hash()).await.unwrap().unwrap().value[..],
            b"result"
        );
        let read = s
            .read(instance, blob.hash(), ReadRange::FULL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.size_bytes, blob.size_bytes());
        assert!(s.find_missing(instance, &[*blob]).await.unwrap().is_empty());
    }
    assert_eq!(ActionCache::list(&*s, None).await.unwrap().len(), 13);
    let usage = ContentStore::stats(&*s).await.unwrap();
    assert_eq!(usage[0].entries, 12);
    clock.advance(Duration::from_secs(10));
    let r = ContentStore::flush(
        &*s,
        &FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(5))),
    )
    .await
    .unwrap();
    assert_eq!(r.entries_removed(), 12);
    assert_eq!(
        flush_ac(&*s, &FlushCriteria::new(FlushScope::All)).await,
        (13, 13 * 6)
    );
    assert!(ActionCache::list(&*s, None).await.unwrap().is_empty());
}
