//! Bad days (issue 27): a Redis restart fails no request once Redis is
//! back.

use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use strata::config::{BackendSettings, Settings};
use strata_presentation::CacheConfigurationDto;
use strata_testkit::{RedisServer, require};

use crate::helpers::{TestApp, eventually, spawn_app_with};

/// HTTP workers: each holds its own Redis connection, left stale by an
/// outage.
const WORKERS: usize = 8;

async fn spawn_on(redis: &RedisServer) -> TestApp {
    let mut settings = Settings::load(None).expect("defaults");
    settings.server.workers = Some(WORKERS);
    settings.backends.insert(
        "main".to_owned(),
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(500),
        },
    );
    settings.caches.insert(
        "remote".to_owned(),
        CacheConfigurationDto {
            tiers: Some(vec!["main".into()]),
            ..Default::default()
        },
    );
    spawn_app_with(settings).await
}

/// `n` GETs of `key`, each on a connection of its own (so they spread over
/// every worker), started together; their statuses.
async fn fresh_gets(app: &TestApp, key: &str, n: usize) -> Vec<StatusCode> {
    let url = app.entry("remote", key);
    join_all((0..n).map(|_| {
        let url = url.clone();
        async move {
            let client = Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            client.get(&url).send().await.expect("answered").status()
        }
    }))
    .await
}

/// The breaker state gauge of backend `main` (0 closed, 1 half-open,
/// 2 open), read without pinging the backend.
async fn breaker_gauge(app: &TestApp) -> Option<String> {
    let metrics = app.get_text("/metrics").await;
    metrics
        .lines()
        .find(|l| l.starts_with("strata_backend_circuit_state{") && l.contains("backend=\"main\""))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_redis_restart_no_request_fails_and_the_breaker_closes_by_itself() {
    let Some(mut redis) = require(RedisServer::spawn()) else {
        return;
    };
    let app = spawn_on(&redis).await;
    assert_eq!(
        app.put("remote", "k", "v").await.status(),
        StatusCode::CREATED
    );
    // Every worker opens its own connection.
    let warm = fresh_gets(&app, "k", 4 * WORKERS).await;
    assert!(warm.iter().all(|s| *s == StatusCode::OK), "{warm:?}");

    redis.stop();
    let down = fresh_gets(&app, "k", 4 * WORKERS).await;
    assert!(
        down.iter().all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "{down:?}"
    );
    assert!(
        eventually(std::time::Duration::from_secs(5), || async {
            breaker_gauge(&app).await.as_deref() != Some("0")
        })
        .await,
        "the breaker opened"
    );

    // Back (answering PING), empty: nobody sends a request, and the
    // breaker's own probe closes it.
    redis.restart().expect("redis restarts on its port");
    assert!(
        eventually(std::time::Duration::from_secs(10), || async {
            breaker_gauge(&app).await.as_deref() == Some("0")
        })
        .await,
        "the breaker did not close without requests"
    );
    // Every request now succeeds, on every worker's connection, stale or not.
    assert_eq!(
        app.put("remote", "k", "v2").await.status(),
        StatusCode::CREATED
    );
    let mut failed = 0;
    for _ in 0..3 {
        let after = fresh_gets(&app, "k", 4 * WORKERS).await;
        failed += after.iter().filter(|s| **s != StatusCode::OK).count();
    }
    assert_eq!(failed, 0, "requests failed after Redis was back");
    app.handle.stop(true).await;
}
