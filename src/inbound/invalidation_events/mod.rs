//! Invalidation events from outside: a CDC job or an application's write
//! path publishes `{cache, keys | pattern | tags}` events to a broker, and
//! these consumers apply them through the application's
//! `InvalidateEntries` command, exactly as `POST /v1/caches/{cache}/invalidations`
//! does (every tier, and every instance through the coherence bus).
//!
//! - `event.rs`: the one JSON event format and its parser, shared by both
//!   adapters, and how an event is applied ([`Outcome`]).
//! - `redis_stream.rs`: [`RedisStreamConsumer`] (a consumer group, XACK
//!   after applying, pending replay after a restart, dead-letter stream).
//! - `amqp.rs`: [`AmqpConsumer`] (RabbitMQ through lapin: manual ack after
//!   applying, dead-letter queue).
//! - `backoff.rs`: the reconnection back-off both use.
//! - this file: the counters, and the consumers `[invalidation_events]`
//!   describes ([`consumers`]), checked before anything starts.
//!
//! This wing must not know HTTP, or how the caches store their entries:
//! it drives the application's `CacheService` only.

mod amqp;
mod backoff;
mod event;
mod redis_stream;

use amqp::AmqpConsumer;
use redis_stream::RedisStreamConsumer;
use strata_application::CacheService;
use tokio::task::JoinHandle;

use crate::config::{EventSourceSettings, Settings, validation};

/// The counter of events by `source` and `result`: `consumed` (received),
/// `applied`, `failed` (the invalidation failed: retried when the failure
/// is transient, dead-lettered when it is permanent) and `dead_lettered`.
pub(crate) const EVENTS_TOTAL: &str = "strata_invalidation_events_total";
/// The gauge of events waiting for this consumer, by `source` (Redis: the
/// group's `lag` from `XINFO GROUPS`, or its pending count on Redis < 7;
/// RabbitMQ: the queue's ready message count).
pub(crate) const EVENTS_LAG: &str = "strata_invalidation_events_lag";

fn count(source: &str, result: &'static str) {
    metrics::counter!(EVENTS_TOTAL, "source" => source.to_owned(), "result" => result).increment(1);
}

fn lag(source: &str, value: f64) {
    metrics::gauge!(EVENTS_LAG, "source" => source.to_owned()).set(value);
}

/// This instance's stable name: `[coherence] instance_id`, else the host name.
fn instance_name(settings: &Settings) -> String {
    settings.coherence.instance_id.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "strata".to_owned())
    })
}

/// One configured consumer, not yet started.
pub(crate) enum EventConsumer {
    Redis(RedisStreamConsumer),
    Amqp(AmqpConsumer),
}

impl EventConsumer {
    /// Starts the consumer's task on the current runtime.
    pub(crate) fn spawn(self, service: CacheService) -> JoinHandle<()> {
        match self {
            Self::Redis(c) => c.spawn(service),
            Self::Amqp(c) => c.spawn(service),
        }
    }
}

/// The consumers of every source, checked but not started (so a later
/// start-up error leaves nothing running).
///
/// # Errors
/// A Redis stream source whose `backend` is not a `[backends.<name>]` of
/// kind `redis`, or an empty stream or queue name.
pub(crate) fn consumers(settings: &Settings) -> anyhow::Result<Vec<EventConsumer>> {
    let mut tasks = Vec::new();
    for (i, source) in settings.invalidation_events.sources.iter().enumerate() {
        let at = || format!("[[invalidation_events.sources]] #{}", i + 1);
        match source {
            EventSourceSettings::RedisStream {
                name,
                backend,
                stream,
                group,
                consumer,
                dead_letter,
            } => {
                let url = validation::redis_stream_backend_url(settings, backend, &at())?;
                anyhow::ensure!(!stream.is_empty(), "{}: stream is empty", at());
                let source = name.clone().unwrap_or_else(|| stream.clone());
                tracing::info!(%source, %stream, %group, "invalidation events from a Redis stream");
                let consumer = RedisStreamConsumer::new(
                    source,
                    url,
                    stream.clone(),
                    group.clone(),
                    consumer.clone().unwrap_or_else(|| instance_name(settings)),
                    dead_letter
                        .clone()
                        .unwrap_or_else(|| format!("{stream}:dead-letter")),
                );
                tasks.push(EventConsumer::Redis(consumer));
            }
            EventSourceSettings::Rabbitmq {
                name,
                url,
                queue,
                dead_letter_queue,
                declare,
            } => {
                anyhow::ensure!(!queue.is_empty(), "{}: queue is empty", at());
                let source = name.clone().unwrap_or_else(|| queue.clone());
                tracing::info!(%source, %queue, "invalidation events from a RabbitMQ queue");
                let consumer = AmqpConsumer::new(
                    source,
                    url.clone(),
                    queue.clone(),
                    dead_letter_queue
                        .clone()
                        .unwrap_or_else(|| format!("{queue}.dead-letter")),
                    *declare,
                    format!("strata-{}", instance_name(settings)),
                );
                tasks.push(EventConsumer::Amqp(consumer));
            }
        }
    }
    Ok(tasks)
}
