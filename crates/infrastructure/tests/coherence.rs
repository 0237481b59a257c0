//! `CoherenceBus` against a real `redis-server`: delivery between two
//! instances, routing by cache, re-subscription after `CLIENT KILL` and
//! after a server restart, malformed payloads and dead listeners.
//!
//! Synchronisation is by polling with a deadline (`eventually`); the only
//! bound checked is that a publish to a dead server gives up instead of
//! hanging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use strata_domain::{CacheKey, CacheName, KeyPattern, Tag};
use strata_infrastructure::{CoherenceBus, CoherenceListener, Invalidation};
use strata_testkit::{RedisServer, require};

const CHANNEL: &str = "strata:coherence:test";
/// How long a condition may take to hold; generous for a loaded 2-core box.
const DEADLINE: Duration = Duration::from_secs(10);
/// Upper bound for a publish to a dead server: its 1 s timeout plus slack.
const PUBLISH_BOUND: Duration = Duration::from_secs(5);

/// Records what it is told.
#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<Invalidation>>,
    clears: AtomicU64,
}

impl Recording {
    fn seen(&self) -> Vec<Invalidation> {
        self.seen.lock().unwrap().clone()
    }

    fn clears(&self) -> u64 {
        self.clears.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl CoherenceListener for Recording {
    async fn invalidate(&self, invalidation: &Invalidation) {
        self.seen.lock().unwrap().push(invalidation.clone());
    }

    async fn clear(&self) {
        self.clears.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `condition` every 5 ms until it holds; panics after [`DEADLINE`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < until,
            "timed out after {DEADLINE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn name(s: &str) -> CacheName {
    CacheName::parse(s).unwrap()
}

fn keys(names: &[&str]) -> Invalidation {
    Invalidation::Keys(names.iter().map(|k| CacheKey::parse(k).unwrap()).collect())
}

fn listen(bus: &CoherenceBus, cache: &CacheName) -> Arc<Recording> {
    let listener = Arc::new(Recording::default());
    let weak: Weak<Recording> = Arc::downgrade(&listener);
    bus.register(cache, weak);
    listener
}

async fn two_buses(server: &RedisServer) -> (Arc<CoherenceBus>, Arc<CoherenceBus>) {
    let a = CoherenceBus::connect(&server.url(), CHANNEL, "a")
        .await
        .expect("connect bus a");
    let b = CoherenceBus::connect(&server.url(), CHANNEL, "b")
        .await
        .expect("connect bus b");
    assert!(a.is_subscribed() && b.is_subscribed());
    assert_eq!((a.instance_id(), b.instance_id()), ("a", "b"));
    (a, b)
}

async fn raw_publish(server: &RedisServer, payload: &[u8]) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(payload)
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// Publishes `invalidation` from `from` until a publish succeeds (the
/// publisher may still be reconnecting), then waits until `to` has it.
async fn publish_until_received(
    from: &CoherenceBus,
    cache: &CacheName,
    invalidation: Invalidation,
    to: &Recording,
) {
    let until = Instant::now() + DEADLINE;
    while from.publish(cache, invalidation.clone()).await.is_err() {
        assert!(Instant::now() < until, "publish never succeeded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("the published message arrives", || {
        to.seen().contains(&invalidation)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_reaches_the_other_instance_in_order_and_not_its_origin() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let users = name("users");
    let on_a = listen(&a, &users);
    let on_b = listen(&b, &users);

    let sent = vec![
        keys(&["u:1", "u:2"]),
        Invalidation::Pattern(KeyPattern::parse("u:*").unwrap()),
        Invalidation::Tags(vec![Tag::parse("team").unwrap(), Tag::parse("x").unwrap()]),
        Invalidation::Flush,
        Invalidation::Reconfigure,
    ];
    for invalidation in &sent {
        a.publish(&users, invalidation.clone())
            .await
            .expect("publish");
    }
    eventually("b applied all five", || b.received() >= 5).await;
    assert_eq!(on_b.seen(), sent);
    assert_eq!(b.received(), 5);

    // A sentinel from b: a's subscriber handled its own five messages
    // before it (channel order), so a's listener must hold only the sentinel.
    let sentinel = keys(&["sentinel"]);
    b.publish(&users, sentinel.clone()).await.expect("publish");
    eventually("a applied the sentinel", || a.received() >= 1).await;
    assert_eq!(on_a.seen(), vec![sentinel]);
    assert_eq!(a.received(), 1);
    assert_eq!((on_a.clears(), on_b.clears()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_key_list_travels_as_one_message() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let users = name("users");
    let on_b = listen(&b, &users);
    let many: Vec<String> = (0..20_000).map(|i| format!("user:{i}:profile")).collect();
    let many = keys(&many.iter().map(String::as_str).collect::<Vec<_>>());
    a.publish(&users, many.clone()).await.expect("publish");
    eventually("b received the list", || !on_b.seen().is_empty()).await;
    assert_eq!(on_b.seen(), vec![many]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_for_another_cache_do_not_reach_the_listener() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let (users, orders) = (name("users"), name("orders"));
    let on_users = listen(&b, &users);
    let on_orders = listen(&b, &orders);

    a.publish(&orders, keys(&["o:1"])).await.expect("publish");
    a.publish(&name("nobody-listens"), Invalidation::Flush)
        .await
        .expect("publish");
    a.publish(&users, keys(&["u:1"])).await.expect("publish");
    eventually("b applied all three", || b.received() >= 3).await;

    assert_eq!(on_users.seen(), vec![keys(&["u:1"])]);
    assert_eq!(on_orders.seen(), vec![keys(&["o:1"])]);
    assert_eq!(b.received(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_subscription_is_re_established_and_l1_cleared() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let users = name("users");
    let on_b = listen(&b, &users);
    let on_other_cache = listen(&b, &name("orders"));

    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 2, "both buses' subscriptions are killed");

    eventually("b re-subscribed after clearing L1", || {
        b.resubscribe_clears() == 1 && b.is_subscribed()
    })
    .await;
    assert_eq!(on_b.clears(), 1);
    assert_eq!(on_other_cache.clears(), 1, "every cache's L1 is cleared");

    publish_until_received(&a, &users, keys(&["after-kill"]), &on_b).await;
    assert_eq!(b.resubscribe_clears(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_re_subscribes_and_publish_fails_fast_while_down() {
    let Some(mut server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let users = name("users");
    let on_b = listen(&b, &users);

    server.stop();
    eventually("b notices the loss", || !b.is_subscribed()).await;
    let outcome = tokio::time::timeout(PUBLISH_BOUND, a.publish(&users, keys(&["while-down"])))
        .await
        .expect("publish to a dead server must give up within its timeout");
    assert!(outcome.is_err(), "publish to a dead server must fail");

    tokio::task::block_in_place(|| server.restart()).expect("restart redis-server");
    eventually("b re-subscribed after clearing L1", || {
        b.resubscribe_clears() == 1 && b.is_subscribed()
    })
    .await;
    assert!(on_b.clears() >= 1);
    eventually("a re-subscribed too", || a.is_subscribed()).await;

    publish_until_received(&a, &users, keys(&["after-restart"]), &on_b).await;
    assert!(!on_b.seen().contains(&keys(&["while-down"])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_are_dropped_and_the_subscriber_survives() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let users = name("users");
    let on_b = listen(&b, &users);

    raw_publish(&server, b"this is not json").await;
    raw_publish(&server, &[0xff, 0x00, 0xfe]).await;
    raw_publish(
        &server,
        br#"{"v":99,"origin":"future","cache":"users","op":"flush"}"#,
    )
    .await;
    raw_publish(
        &server,
        br#"{"v":1,"origin":"x","cache":"users","op":"keys","keys":[""]}"#,
    )
    .await;
    a.publish(&users, keys(&["valid"])).await.expect("publish");

    eventually("the valid message is applied", || b.received() >= 1).await;
    assert_eq!(on_b.seen(), vec![keys(&["valid"])]);
    assert_eq!(b.malformed(), 4);
    assert_eq!(b.received(), 1);
    assert!(b.is_subscribed());
    assert_eq!(b.resubscribe_clears(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_listener_is_skipped_without_panic() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let users = name("users");
    let dropped = listen(&b, &users);
    let kept = listen(&b, &users);
    drop(dropped);
    let dropped_alone = listen(&b, &name("orders"));
    drop(dropped_alone);

    a.publish(&name("orders"), Invalidation::Flush)
        .await
        .expect("publish");
    a.publish(&users, keys(&["k"])).await.expect("publish");
    eventually("b applied both", || b.received() >= 2).await;
    assert_eq!(kept.seen(), vec![keys(&["k"])]);
    assert_eq!(b.received(), 2);

    // A listener registered after the drop still works.
    let late = listen(&b, &users);
    a.publish(&users, Invalidation::Flush)
        .await
        .expect("publish");
    eventually("the late listener receives", || !late.seen().is_empty()).await;
    assert_eq!(late.seen(), vec![Invalidation::Flush]);
    assert!(b.is_subscribed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_bus_ends_its_subscription() {
    let Some(server) = require(RedisServer::spawn()) else {
        return;
    };
    let (a, b) = two_buses(&server).await;
    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let mut subscribers = async || -> i64 {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(CHANNEL)
            .query_async(&mut admin)
            .await
            .unwrap();
        counts[0].1
    };
    assert_eq!(subscribers().await, 2);
    drop(b);
    let until = Instant::now() + DEADLINE;
    while subscribers().await != 1 {
        assert!(Instant::now() < until, "b's subscription outlived the bus");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(a);
    while subscribers().await != 0 {
        assert!(Instant::now() < until, "a's subscription outlived the bus");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
