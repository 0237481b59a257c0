//! Invalidation events from outside: a publisher (the test, with the
//! broker's own client) adds events to a Redis stream or a RabbitMQ queue,
//! and a running Strata applies them (docs/operations.md
//! "Invalidation events").

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use redis::aio::MultiplexedConnection;
use reqwest::StatusCode;
use serde_json::json;
use strata::config::EventSourceSettings;
use strata::config::{BackendSettings, Settings};
use strata_testkit::{RabbitMqServer, RedisServer, require};

use crate::helpers::{TestApp, eventually, spawn_app_with};

/// Long enough for a busy machine (and a reconnection after a back-off).
const DEADLINE: Duration = Duration::from_secs(30);

fn redis_stream_settings(redis: &RedisServer, source: &str, consumer: &str) -> Settings {
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.insert(
        "events".into(),
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(1000),
        },
    );
    settings
        .invalidation_events
        .sources
        .push(EventSourceSettings::RedisStream {
            name: Some(source.into()),
            backend: "events".into(),
            stream: format!("inv:{source}"),
            group: "strata".into(),
            consumer: Some(consumer.into()),
            dead_letter: None,
        });
    settings
}

async fn redis_conn(redis: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn xadd(conn: &mut MultiplexedConnection, stream: &str, event: &str) {
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("event")
        .arg(event)
        .query_async(conn)
        .await
        .unwrap();
}

/// The pending count of group `strata` on `inv:rs-pending`.
async fn pending(mut conn: MultiplexedConnection) -> redis::Value {
    let v: redis::Value = redis::cmd("XPENDING")
        .arg("inv:rs-pending")
        .arg("strata")
        .query_async(&mut conn)
        .await
        .unwrap();
    match v {
        redis::Value::Array(s) => s[0].clone(),
        other => other,
    }
}

async fn gone(app: &TestApp, cache: &str, key: &str) -> bool {
    app.get(cache, key).await.status() == StatusCode::NOT_FOUND
}

/// The value of `strata_invalidation_events_total{source,result}`, 0 when absent.
async fn events_total(app: &TestApp, source: &str, result: &str) -> u64 {
    let text = app.get_text("/metrics").await;
    text.lines()
        .filter(|l| l.starts_with("strata_invalidation_events_total{"))
        .filter(|l| {
            l.contains(&format!("source=\"{source}\""))
                && l.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn put_tagged(app: &TestApp, key: &str, tags: &str) {
    let r = app
        .client
        .put(app.entry("default", key) + "?tags=" + tags)
        .header("content-type", "text/plain")
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stream_events_invalidate_keys_patterns_and_tags() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let app = spawn_app_with(redis_stream_settings(&redis, "rs-apply", "a")).await;
    for key in ["k1", "k2", "user:1", "user:2", "t1", "keep"] {
        put_tagged(&app, key, if key == "t1" { "blue" } else { "red" }).await;
    }
    let mut conn = redis_conn(&redis).await;
    xadd(
        &mut conn,
        "inv:rs-apply",
        r#"{"cache":"default","keys":["k1","k2"],"id":"e1"}"#,
    )
    .await;
    xadd(
        &mut conn,
        "inv:rs-apply",
        r#"{"cache":"default","pattern":"user:*"}"#,
    )
    .await;
    xadd(
        &mut conn,
        "inv:rs-apply",
        r#"{"cache":"default","tags":["blue"]}"#,
    )
    .await;
    assert!(
        eventually(DEADLINE, || async {
            gone(&app, "default", "k1").await
                && gone(&app, "default", "k2").await
                && gone(&app, "default", "user:1").await
                && gone(&app, "default", "user:2").await
                && gone(&app, "default", "t1").await
        })
        .await,
        "the events were not applied"
    );
    assert_eq!(app.get("default", "keep").await.status(), StatusCode::OK);
    assert!(
        eventually(DEADLINE, || async {
            events_total(&app, "rs-apply", "applied").await == 3
        })
        .await
    );
    assert_eq!(events_total(&app, "rs-apply", "consumed").await, 3);
    // Every entry is acknowledged: nothing pending in the group.
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("inv:rs-apply")
        .arg("strata")
        .query_async(&mut conn)
        .await
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("XPENDING: {pending:?}")
    };
    assert_eq!(summary[0], redis::Value::Int(0), "{summary:?}");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("strata_invalidation_events_lag{source=\"rs-apply\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_redis_event_is_dead_lettered_and_counted() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let app = spawn_app_with(redis_stream_settings(&redis, "rs-bad", "a")).await;
    app.put("default", "after", "v").await;
    let mut conn = redis_conn(&redis).await;
    xadd(&mut conn, "inv:rs-bad", "not json").await;
    xadd(
        &mut conn,
        "inv:rs-bad",
        r#"{"cache":"nosuchcache","keys":["a"]}"#,
    )
    .await;
    // A good event after the bad ones still applies.
    xadd(
        &mut conn,
        "inv:rs-bad",
        r#"{"cache":"default","keys":["after"]}"#,
    )
    .await;
    assert!(eventually(DEADLINE, || gone(&app, "default", "after")).await);
    assert!(
        eventually(DEADLINE, || async {
            events_total(&app, "rs-bad", "dead_lettered").await == 2
        })
        .await
    );
    assert_eq!(events_total(&app, "rs-bad", "failed").await, 1);
    let dead: redis::Value = redis::cmd("XRANGE")
        .arg("inv:rs-bad:dead-letter")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    let text = format!("{dead:?}");
    let redis::Value::Array(entries) = dead else {
        panic!("XRANGE: {text}")
    };
    assert_eq!(entries.len(), 2, "{text}");
    assert!(
        text.contains("not json") && text.contains("nosuchcache"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_delivered_but_not_acknowledged_before_a_crash_is_applied_at_start() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    // A first instance, without event sources, writes to a Redis-tier cache.
    let mut writer_settings = Settings::load(None).expect("defaults");
    writer_settings.backends.insert(
        "events".into(),
        BackendSettings::Redis {
            url: redis.url(),
            timeout_ms: Some(1000),
        },
    );
    let writer = spawn_app_with(writer_settings).await;
    writer
        .create_cache("shared", json!({"tiers": ["events"]}))
        .await;
    assert_eq!(
        writer.put("shared", "order:7", "v").await.status(),
        StatusCode::CREATED
    );

    // The crashed consumer "b" had read the event into the group, never acked.
    let mut conn = redis_conn(&redis).await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("inv:rs-pending")
        .arg("strata")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await
        .unwrap();
    xadd(
        &mut conn,
        "inv:rs-pending",
        r#"{"cache":"shared","keys":["order:7"]}"#,
    )
    .await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("strata")
        .arg("b")
        .arg("STREAMS")
        .arg("inv:rs-pending")
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending(conn.clone()).await, redis::Value::Int(1));
    // ">" reads would never see it again: only the pending replay can.
    assert_eq!(
        writer.get("shared", "order:7").await.status(),
        StatusCode::OK
    );

    // Consumer "b" restarts: the configured cache must exist there too.
    let mut settings = redis_stream_settings(&redis, "rs-pending", "b");
    settings.caches.insert(
        "shared".into(),
        serde_json::from_value(json!({"tiers": ["events"]})).unwrap(),
    );
    let restarted = spawn_app_with(settings).await;
    assert!(eventually(DEADLINE, || gone(&writer, "shared", "order:7")).await);
    assert!(
        eventually(DEADLINE, || async {
            pending(conn.clone()).await == redis::Value::Int(0)
        })
        .await
    );
    assert_eq!(events_total(&restarted, "rs-pending", "applied").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_consumer_reconnects_after_the_server_restarts() {
    let Some(mut redis) = require(RedisServer::spawn()) else {
        return;
    };
    let app = spawn_app_with(redis_stream_settings(&redis, "rs-restart", "a")).await;
    app.put("default", "before", "v").await;
    let mut conn = redis_conn(&redis).await;
    xadd(
        &mut conn,
        "inv:rs-restart",
        r#"{"cache":"default","keys":["before"]}"#,
    )
    .await;
    assert!(eventually(DEADLINE, || gone(&app, "default", "before")).await);

    // The restarted server is empty: no stream, no group.
    redis.restart().expect("redis restarts");
    app.put("default", "after", "v").await;
    let mut conn = redis_conn(&redis).await;
    xadd(
        &mut conn,
        "inv:rs-restart",
        r#"{"cache":"default","keys":["after"]}"#,
    )
    .await;
    assert!(
        eventually(DEADLINE, || gone(&app, "default", "after")).await,
        "no event applied after the restart"
    );
}

/// One broker for every RabbitMQ check (it takes seconds to boot): apply,
/// dead-letter, redelivery of an unacknowledged message, reconnection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_events_apply_dead_letter_replay_and_survive_a_broker_restart() {
    let Some(mut rabbit) = require(RabbitMqServer::spawn()) else {
        return;
    };
    let queue = "strata.invalidations";
    let url = rabbit.url();
    let connect = || async {
        Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("AMQP connection")
    };
    let publisher = connect().await;
    let channel = publisher.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let publish = |channel: lapin::Channel, body: &'static str| async move {
        channel
            .basic_publish(
                "".into(),
                "strata.invalidations".into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    };

    let mut settings = Settings::load(None).expect("defaults");
    settings
        .invalidation_events
        .sources
        .push(EventSourceSettings::Rabbitmq {
            name: Some("amqp".into()),
            url: url.clone(),
            queue: queue.into(),
            dead_letter_queue: None,
            declare: true,
        });

    // Delivered to a consumer that dies before acknowledging: the broker
    // gives it back to the queue, and Strata applies it once it starts.
    publish(channel.clone(), r#"{"cache":"default","keys":["early"]}"#).await;
    {
        let crashed = connect().await;
        let c = crashed.create_channel().await.unwrap();
        let mut consumer = c
            .basic_consume(
                queue.into(),
                "crashed".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let delivery = consumer.next().await.unwrap().unwrap();
        assert!(delivery.data.starts_with(b"{\"cache\""));
        crashed.close(0, "crash".into()).await.unwrap();
    }
    let app = spawn_app_with(settings).await;
    // "early" is not cached here: the counter shows the event was applied.
    assert!(
        eventually(DEADLINE, || async {
            events_total(&app, "amqp", "applied").await == 1
        })
        .await
    );

    for key in ["k1", "k2"] {
        app.put("default", key, "v").await;
    }
    publish(channel.clone(), r#"{"cache":"default","keys":["k1","k2"]}"#).await;
    assert!(
        eventually(DEADLINE, || async {
            gone(&app, "default", "k1").await && gone(&app, "default", "k2").await
        })
        .await
    );

    publish(channel.clone(), "{not json").await;
    assert!(
        eventually(DEADLINE, || async {
            events_total(&app, "amqp", "dead_lettered").await == 1
        })
        .await
    );
    let dead = channel
        .basic_get(
            "strata.invalidations.dead-letter".into(),
            BasicGetOptions::default(),
        )
        .await
        .unwrap()
        .expect("a dead-lettered message");
    assert_eq!(dead.delivery.data, b"{not json");
    dead.delivery.ack(BasicAckOptions::default()).await.unwrap();

    // The broker restarts: Strata reconnects with back-off and consumes again.
    drop(channel);
    let _ = publisher.close(0, "restart".into()).await;
    rabbit.restart().expect("rabbitmq restarts");
    let publisher = connect().await;
    let channel = publisher.create_channel().await.unwrap();
    app.put("default", "after", "v").await;
    publish(channel.clone(), r#"{"cache":"default","keys":["after"]}"#).await;
    assert!(
        eventually(Duration::from_secs(60), || gone(&app, "default", "after")).await,
        "no event applied after the broker restarted"
    );
    assert!(
        app.get_text("/metrics")
            .await
            .contains("strata_invalidation_events_lag{source=\"amqp\"}")
    );
}
