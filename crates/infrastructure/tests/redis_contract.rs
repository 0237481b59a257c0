//! The `CacheStore` contract against `RedisStore` on a real `redis-server`.

use std::sync::Arc;

use strata_domain::{CacheName, CacheStore};
use strata_infrastructure::{RedisConnection, RedisOptions, RedisStore, ValueCodec};
use strata_testkit::{RedisServer, contract::Contract, require};

#[path = "common/store_contract.rs"]
mod common;

/// Runs the contract on `RedisStore`s over a fresh server, through `codec`
/// when given (the default codec otherwise); the errors clause also runs
/// on a store whose server was stopped after it connected.
async fn honours_the_contract(codec: Option<ValueCodec>) {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let Some(mut stopped) = require(RedisServer::spawn()) else {
        return;
    };
    let connection = RedisConnection::connect(&server.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    let lost = RedisConnection::connect(&stopped.url(), RedisOptions::default())
        .await
        .expect("connect to redis");
    stopped.stop();
    Contract::server_expiry(|name: CacheName| {
        let mut builder = RedisStore::builder(connection.clone(), name);
        if let Some(codec) = codec.clone() {
            builder = builder.codec(codec);
        }
        async move { Arc::new(builder.build()) as Arc<dyn CacheStore> }
    })
    .unreachable(|name: CacheName| {
        let store = RedisStore::builder(lost.clone(), name).build();
        async move { Arc::new(store) as Arc<dyn CacheStore> }
    })
    .check_all()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_honours_the_contract() {
    honours_the_contract(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_honours_the_contract_through_an_encrypting_codec() {
    honours_the_contract(Some(common::encrypting_codec())).await;
}

/// Clients connected to the server, this one included (`CLIENT LIST`).
fn clients(url: &str) -> usize {
    let mut c = redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("connect");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut c)
        .expect("CLIENT LIST");
    list.lines().count()
}

fn entry(value: &'static str) -> strata_domain::CacheEntry {
    strata_domain::CacheEntry::new(
        strata_domain::CacheValue::new(
            bytes::Bytes::from_static(value.as_bytes()),
            strata_domain::ContentType::default(),
        ),
        strata_domain::Timestamp::from_millis(0),
        None,
        vec![],
        strata_domain::EntryVersion::new(1),
    )
}

/// A thread pinned with `pin_redis_connections_to_thread` (an HTTP worker:
/// its own single-threaded runtime) runs its commands on one connection of
/// its own, opened on its first command; other threads share the
/// connection opened by `connect`, and both see the same data.
#[test]
fn a_pinned_thread_runs_its_commands_on_its_own_connection() {
    use strata_domain::{CacheKey, InsertOutcome};
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let url = server.url();
    let shared = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let connection = shared
        .block_on(RedisConnection::connect(&url, RedisOptions::default()))
        .expect("connect to redis");
    let store = RedisStore::builder(connection, CacheName::parse("pinned").unwrap()).build();
    let key = CacheKey::parse("k").unwrap();

    let before = clients(&url);
    let outcome = shared.block_on(store.insert(key.clone(), entry("shared")));
    assert_eq!(outcome.unwrap(), InsertOutcome::Created);
    assert_eq!(
        clients(&url),
        before,
        "an unpinned thread uses the shared connection"
    );

    std::thread::scope(|s| {
        s.spawn(|| {
            let worker = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            strata_infrastructure::pin_redis_connections_to_thread();
            worker.block_on(async {
                let read = store
                    .get(&key)
                    .await
                    .unwrap()
                    .expect("written on the shared one");
                assert_eq!(read.value().bytes().as_ref(), b"shared");
                assert_eq!(
                    clients(&url),
                    before + 1,
                    "the pinned thread opened its own"
                );
                let outcome = store.insert(key.clone(), entry("pinned")).await.unwrap();
                assert_eq!(outcome, InsertOutcome::Replaced);
                assert_eq!(
                    clients(&url),
                    before + 1,
                    "one connection per thread, not per command"
                );
            });
        })
        .join()
        .unwrap();
    });

    let read = shared
        .block_on(store.get(&key))
        .unwrap()
        .expect("written on the pinned one");
    assert_eq!(read.value().bytes().as_ref(), b"pinned");
}

/// The leases of a cache whose last tier is Redis, opened by two
/// providers (two instances) on one server: one holder per key across
/// both, revocation seen by both, and a flush of the cache ends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_leases_are_shared_by_the_instances_on_one_server() {
    use std::time::Duration;
    use strata_domain::{
        CacheConfiguration, CacheKey, LeaseGrant, LeaseToken, StalePolicy, StoreProvider, TierName,
    };
    use strata_infrastructure::{BackendSpec, StrataStoreProvider};

    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let config = CacheConfiguration::builder(CacheName::parse("leased").unwrap())
        .tiers(vec![TierName::parse("main").unwrap()])
        .stale(StalePolicy {
            lease_ttl_secs: 5,
            ..StalePolicy::default()
        })
        .build()
        .unwrap();
    let mut leases = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..2 {
        let provider = StrataStoreProvider::new()
            .connect_backend(
                "main",
                BackendSpec::Redis { url: server.url() },
                Duration::from_secs(1),
            )
            .await
            .expect("connect");
        leases.push(
            provider
                .open_leases(&config)
                .await
                .unwrap()
                .expect("leases on"),
        );
        stores.push(provider.open(&config).await.unwrap());
    }
    let key = |k: &str| CacheKey::parse(k).unwrap();
    let ttl = Duration::from_secs(5);
    let granted = |g: LeaseGrant| match g {
        LeaseGrant::Granted(token) => token,
        LeaseGrant::Pending { .. } => panic!("expected a grant"),
    };

    let token = granted(leases[0].acquire(&key("k"), ttl).await.unwrap());
    match leases[1].acquire(&key("k"), ttl).await.unwrap() {
        LeaseGrant::Pending { remaining } => {
            assert!(
                remaining > Duration::ZERO && remaining <= ttl,
                "{remaining:?}"
            )
        }
        LeaseGrant::Granted(_) => panic!("two holders of one key"),
    }
    assert!(leases[1].holds(&key("k"), &token).await.unwrap());
    assert!(leases[1].complete(&key("k"), &token).await.unwrap());
    assert!(
        !leases[0].complete(&key("k"), &token).await.unwrap(),
        "used once"
    );

    // Revoked by key on one instance, seen on the other.
    let token = granted(leases[0].acquire(&key("a"), ttl).await.unwrap());
    leases[1].revoke(&key("a")).await.unwrap();
    assert!(!leases[0].holds(&key("a"), &token).await.unwrap());

    // Every lease ends with revoke_all, and with a flush of the cache.
    let b = granted(leases[0].acquire(&key("b"), ttl).await.unwrap());
    leases[1].revoke_all().await.unwrap();
    assert!(!leases[0].holds(&key("b"), &b).await.unwrap());
    let c = granted(leases[0].acquire(&key("c"), ttl).await.unwrap());
    assert!(leases[0].holds(&key("c"), &c).await.unwrap());
    stores[1].flush().await.unwrap();
    assert!(!leases[0].holds(&key("c"), &c).await.unwrap());
    // A token no store issued never completes.
    let forged = LeaseToken::parse("0-0000000000000000").unwrap();
    assert!(!leases[0].complete(&key("c"), &forged).await.unwrap());
}
