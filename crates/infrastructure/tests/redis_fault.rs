//! Fault test: `ResilientStore<RedisStore>` while redis-server dies and
//! comes back on the same port.
//!
//! Bounds, not performance assertions: no call may take longer than the
//! timeout plus a generous margin; errors while the server is down are
//! `Timeout` or `Unavailable`; the breaker opens; after the restart,
//! operations succeed again within a deadline.

use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_domain::{
    CacheEntry, CacheKey, CacheName, CacheStore, CacheValue, CircuitState, ContentType,
    EntryVersion, StoreError, Timestamp,
};
use strata_infrastructure::{CircuitBreakerConfig, ResilientStore};
use strata_infrastructure::{RedisConnection, RedisOptions, RedisStore};
use strata_testkit::{RedisServer, require};

const TIMEOUT: Duration = Duration::from_millis(500);
/// Upper bound on any single call: the timeout plus scheduling slack on a
/// loaded 2-core machine.
const CALL_BOUND: Duration = Duration::from_secs(5);
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

fn entry(i: u64) -> CacheEntry {
    CacheEntry::new(
        CacheValue::new(Bytes::from(i.to_string()), ContentType::default()),
        Timestamp::from_millis(0),
        None,
        vec![],
        EntryVersion::new(i),
    )
}

/// Runs one insert + get, checking the time bound and the error kinds.
async fn round(store: &ResilientStore<RedisStore>, i: u64) -> Result<(), StoreError> {
    let key = CacheKey::parse(&format!("k{}", i % 10)).unwrap();
    let started = Instant::now();
    let result = async {
        store.insert(key.clone(), entry(i)).await?;
        store.get(&key).await.map(drop)
    }
    .await;
    let took = started.elapsed();
    assert!(
        took < CALL_BOUND,
        "an operation took {took:?}, more than the bound {CALL_BOUND:?}"
    );
    if let Err(e) = &result {
        assert!(
            matches!(
                e,
                StoreError::Timeout { .. } | StoreError::Unavailable { .. }
            ),
            "a backend outage must surface as Timeout or Unavailable, got {e:?}"
        );
    }
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_outage_and_store_recovers_after_restart() {
    let Some(mut server) = require(RedisServer::spawn()) else {
        return;
    };
    let options = RedisOptions {
        response_timeout: TIMEOUT,
        connection_timeout: Duration::from_millis(200),
        reconnect_retries: 1,
        reconnect_max_delay: Duration::from_millis(200),
    };
    let connection = RedisConnection::connect(&server.url(), options)
        .await
        .expect("connect");
    let store = ResilientStore::builder(
        RedisStore::builder(connection, CacheName::parse("fault").unwrap()).build(),
    )
    .timeout(TIMEOUT)
    .breaker_config(CircuitBreakerConfig {
        failure_threshold: 3,
        cool_down: Duration::from_millis(200),
        ..CircuitBreakerConfig::default()
    })
    .build();
    let breaker = store.breaker();

    // Healthy phase.
    for i in 0..20 {
        round(&store, i).await.expect("healthy redis");
    }
    assert_eq!(breaker.state(), CircuitState::Closed);

    // Outage: a bounded number of rounds, each failing within the bound.
    server.stop();
    let mut failures = 0;
    for i in 20..60 {
        if round(&store, i).await.is_err() {
            failures += 1;
        }
        if breaker.metrics().opened > 0 && failures >= 5 {
            break;
        }
    }
    eprintln!(
        "outage: {failures} failed rounds, breaker {:?}",
        breaker.metrics()
    );
    assert!(failures > 0, "operations must fail while redis is down");
    assert!(
        breaker.metrics().opened > 0,
        "the breaker must open during the outage: {:?}",
        breaker.metrics()
    );
    assert!(
        breaker.metrics().rejected > 0 || breaker.state() != CircuitState::Closed,
        "an open breaker fails calls fast: {:?}",
        breaker.metrics()
    );

    // Recovery on the same port.
    server.restart().expect("restart redis on the same port");
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    let mut i = 100;
    loop {
        if round(&store, i).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "operations did not succeed within {RECOVERY_DEADLINE:?} of the restart: {:?}",
            breaker.metrics()
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for j in 0..10 {
        round(&store, 1_000 + j).await.expect("recovered redis");
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
}

/// After an outage, the first command once Redis answers again succeeds:
/// the failure the connection cached from its last refused reconnection
/// round is not handed to that command (it would fail one breaker probe per
/// connection, and with a connection per HTTP worker, delay recovery).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_command_after_redis_returns_succeeds() {
    let Some(mut server) = require(RedisServer::spawn()) else {
        return;
    };
    let options = RedisOptions {
        response_timeout: TIMEOUT,
        connection_timeout: Duration::from_millis(200),
        reconnect_retries: 0,
        reconnect_max_delay: Duration::from_millis(50),
    };
    let connection = RedisConnection::connect(&server.url(), options)
        .await
        .expect("connect");
    let store = RedisStore::builder(connection, CacheName::parse("returns").unwrap()).build();
    let key = CacheKey::parse("k").unwrap();
    store
        .insert(key.clone(), entry(1))
        .await
        .expect("healthy redis");

    server.stop();
    // Two failures: the dropped connection, then a refused reconnection
    // round (one attempt each: `reconnect_retries: 0`), whose failure the
    // connection keeps until the next command.
    for _ in 0..2 {
        let error = store.get(&key).await.expect_err("redis is down");
        assert!(
            matches!(
                error,
                StoreError::Unavailable { .. } | StoreError::Timeout { .. }
            ),
            "{error:?}"
        );
    }

    server.restart().expect("restart redis on the same port");
    let read = store.get(&key).await;
    assert!(
        matches!(read, Ok(None)),
        "the first read after the restart must reach the new (empty) server: {read:?}"
    );
}
