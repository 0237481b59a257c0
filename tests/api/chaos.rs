//! The chaos test of issue 27: a stacked cache (memory over Redis, with
//! `stale_if_error`) and a Redis-only cache under steady concurrent load
//! from the test, while Redis is killed and restarted.
//!
//! - During the outage every key resident in L1 within the stale window
//!   is served (200, marked stale), and nothing else is: not keys L1
//!   never held, not keys deleted or invalidated via another instance
//!   before the outage, nor during it (the coherence channel runs on a
//!   Redis of its own, `[coherence] backend = "bus"`, which stays up: the
//!   other instance's delete fails on L2 but its message drops A's copy).
//! - Every request started 300 ms or more after Redis answers `PING`
//!   again succeeds, with 4 workers.
//!
//! Counts are asserted, not times: the load runs a fixed number of rounds
//! in each phase.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::json;
use strata::config::{BackendSettings, Settings};
use strata_testkit::{RedisServer, require};

use crate::helpers::{TestApp, eventually, header, spawn_app_with};

/// HTTP workers of the instance under load.
const WORKERS: usize = 4;
/// Keys resident in A's L1, past their TTL and within `stale_if_error`.
const RESIDENT: usize = 10;
/// Requests started together in each round of load.
const CONCURRENCY: usize = 16;
/// Rounds of load during the outage, and after the recovery margin.
const ROUNDS: usize = 10;
/// How long after Redis answers `PING` requests must all succeed.
const MARGIN: Duration = Duration::from_millis(300);

fn settings(redis: &RedisServer, bus: &RedisServer) -> Settings {
    let mut settings = Settings::load(None).expect("defaults");
    settings.server.workers = Some(WORKERS);
    for (name, server) in [("main", redis), ("bus", bus)] {
        settings.backends.insert(
            name.to_owned(),
            BackendSettings::Redis {
                url: server.url(),
                timeout_ms: Some(300),
            },
        );
    }
    settings.coherence.backend = Some("bus".to_owned());
    settings
}

/// One request's result: its key's kind, status and `X-Cache`.
#[derive(Debug)]
struct Answer {
    kind: Kind,
    /// When the request was sent.
    sent: Instant,
    status: StatusCode,
    x_cache: Option<String>,
    cache_status: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// In A's L1, past its TTL, within the stale window.
    Resident,
    /// In A's L1 and still fresh.
    Fresh,
    /// Written via B only: never in A's L1.
    Foreign,
    /// Deleted via B before the outage.
    Deleted,
    /// Invalidated by tag via B before the outage.
    Invalidated,
    /// Resident, then deleted via B during the outage.
    LateDeleted,
    /// Resident, then invalidated by tag via B during the outage.
    LateInvalidated,
    /// In the Redis-only cache.
    RedisOnly,
}

impl Kind {
    fn url(self, app: &TestApp, i: usize) -> String {
        match self {
            Self::Resident => app.entry("stacked", &format!("resident-{i}")),
            Self::Fresh => app.entry("stacked", &format!("fresh-{}", i % 3)),
            Self::Foreign => app.entry("stacked", &format!("foreign-{}", i % 3)),
            Self::Deleted => app.entry("stacked", "deleted"),
            Self::Invalidated => app.entry("stacked", "tagged"),
            Self::LateDeleted => app.entry("stacked", "late-deleted"),
            Self::LateInvalidated => app.entry("stacked", "late-tagged"),
            Self::RedisOnly => app.entry("remote", &format!("r-{}", i % 3)),
        }
    }
}

const KINDS: [Kind; 8] = [
    Kind::Resident,
    Kind::Fresh,
    Kind::Foreign,
    Kind::Deleted,
    Kind::Invalidated,
    Kind::LateDeleted,
    Kind::LateInvalidated,
    Kind::RedisOnly,
];

/// One round: `CONCURRENCY` GETs over every kind of key, each on a
/// connection of its own (so they spread over A's workers).
async fn round(app: &TestApp) -> Vec<Answer> {
    join_all((0..CONCURRENCY).map(|i| {
        let kind = KINDS[i % KINDS.len()];
        let url = kind.url(app, i % RESIDENT);
        async move {
            let client = Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let sent = Instant::now();
            let r = client.get(&url).send().await.expect("answered");
            Answer {
                kind,
                sent,
                status: r.status(),
                x_cache: header(&r, "x-cache"),
                cache_status: header(&r, "cache-status"),
            }
        }
    }))
    .await
}

async fn put(app: &TestApp, cache: &str, key: &str, query: &str) -> StatusCode {
    app.client
        .put(format!("{}{query}", app.entry(cache, key)))
        .body("v")
        .send()
        .await
        .expect("PUT answered")
        .status()
}

/// Via `b`: deletes key `targets.0` and invalidates tag `targets.1` of
/// cache `stacked`, each answered `status` (the delete's; an invalidation
/// answers 200 where a delete answers 204).
async fn invalidate_via(b: &TestApp, targets: (&str, &str), status: StatusCode) {
    let (key, tag) = targets;
    let deleted = b
        .client
        .delete(b.entry("stacked", key))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), status, "delete {key}");
    let tagged = b
        .post_json("/v1/caches/stacked/invalidations", json!({"tags": [tag]}))
        .await;
    let expected = if status.is_success() {
        StatusCode::OK
    } else {
        status
    };
    assert_eq!(tagged.status(), expected, "invalidate tag {tag}");
}

/// Waits until `a` answers `status` for each of `keys` of cache `stacked`:
/// it has applied the coherence messages that dropped its copies.
async fn assert_dropped(a: &TestApp, keys: &[&str], status: StatusCode) {
    for key in keys {
        assert!(
            eventually(Duration::from_secs(10), || async {
                a.get("stacked", key).await.status() == status
            })
            .await,
            "A dropped {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_serves_l1_stale_within_its_window_and_recovery_fails_nothing() {
    let (Some(mut redis), Some(bus)) =
        (require(RedisServer::spawn()), require(RedisServer::spawn()))
    else {
        return;
    };
    let a = spawn_app_with(settings(&redis, &bus)).await;
    let b = spawn_app_with(settings(&redis, &bus)).await;
    let stacked = json!({"tiers": ["memory", "main"], "default_ttl": 10, "stale_if_error": 60});
    for app in [&a, &b] {
        app.create_cache("stacked", stacked.clone()).await;
        app.create_cache("remote", json!({"tiers": ["main"]})).await;
    }
    assert_eq!(
        put(&a, "stacked", "deleted", "?ttl=3600").await,
        StatusCode::CREATED
    );
    assert_eq!(
        put(&a, "stacked", "tagged", "?ttl=3600&tags=t1").await,
        StatusCode::CREATED
    );
    // Via B, with A's copies dropped by the coherence messages. Once A has
    // applied them, it has applied every message B sent before, among them
    // the notices of B's cache creations, which clear A's L1: only now may
    // A fill its L1.
    invalidate_via(&b, ("deleted", "t1"), StatusCode::NO_CONTENT).await;
    assert_dropped(&a, &["deleted", "tagged"], StatusCode::NOT_FOUND).await;
    for i in 0..RESIDENT {
        assert_eq!(
            put(&a, "stacked", &format!("resident-{i}"), "").await,
            StatusCode::CREATED
        );
    }
    for i in 0..3 {
        assert_eq!(
            put(&a, "stacked", &format!("fresh-{i}"), "?ttl=3600").await,
            StatusCode::CREATED
        );
        assert_eq!(
            put(&b, "stacked", &format!("foreign-{i}"), "").await,
            StatusCode::CREATED
        );
        assert_eq!(
            put(&a, "remote", &format!("r-{i}"), "").await,
            StatusCode::CREATED
        );
    }
    // The resident keys expire in A's view; their L1 copies stay for the
    // stale window.
    a.clock.advance(Duration::from_secs(15));

    redis.stop();
    // Via B during the outage: L2 refuses (503), the message still goes
    // out on the bus, and A drops its copies.
    invalidate_via(&b, ("late-deleted", "t2"), StatusCode::SERVICE_UNAVAILABLE).await;
    assert_dropped(
        &a,
        &["late-deleted", "late-tagged"],
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    let mut outage = Vec::new();
    for _ in 0..ROUNDS {
        outage.extend(round(&a).await);
    }
    for answer in &outage {
        match answer.kind {
            Kind::Resident => {
                assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
                assert_eq!(answer.x_cache.as_deref(), Some("STALE-L1"), "{answer:?}");
                assert_eq!(
                    answer.cache_status.as_deref(),
                    Some("Strata; fwd=stale; detail=backend-unavailable"),
                    "{answer:?}"
                );
            }
            Kind::Fresh => {
                assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
                assert_eq!(answer.x_cache.as_deref(), Some("HIT-L1"), "{answer:?}");
            }
            _ => assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}"),
        }
    }
    let resident = outage.iter().filter(|a| a.kind == Kind::Resident).count();
    assert!(
        resident >= ROUNDS,
        "every round read resident keys: {resident}"
    );
    // A client that refuses stale answers gets the outage's 503.
    let refused = a
        .client
        .get(a.entry("stacked", "resident-0"))
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);

    redis.restart().expect("redis restarts on its port");
    let back = Instant::now();
    // Load until ROUNDS rounds have started past the margin; rounds that
    // start inside it may fail (the breaker is still closing).
    let mut answers = Vec::new();
    let mut after_margin = 0;
    while after_margin < ROUNDS {
        let started = Instant::now();
        let round = round(&a).await;
        if started >= back + MARGIN {
            after_margin += 1;
            answers.extend(round);
        }
    }
    let failed: Vec<(Duration, &Answer)> = answers
        .iter()
        .filter(|a| a.status.is_server_error())
        .map(|a| (a.sent.duration_since(back), a))
        .collect();
    assert!(
        failed.is_empty(),
        "requests failed after Redis was back: {failed:?}"
    );
    // Redis came back empty; writes work on both caches again.
    assert_eq!(put(&a, "stacked", "after", "").await, StatusCode::CREATED);
    assert_eq!(put(&a, "remote", "after", "").await, StatusCode::CREATED);
    let stale_served = a.get_text("/metrics").await;
    assert!(
        stale_served.lines().any(|l| l.starts_with(
            "strata_cache_stale_served_total{cache=\"stacked\",reason=\"backend-unavailable\"}"
        )),
        "the stale answers are counted"
    );
    a.handle.stop(true).await;
    b.handle.stop(true).await;
}
