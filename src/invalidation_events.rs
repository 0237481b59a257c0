//! `[invalidation_events]`: consumers of invalidation events published
//! from outside (docs/operations.md "Invalidation events").

use strata_application::CacheService;
use strata_infrastructure::{AmqpConsumer, RedisStreamConsumer};
use tokio::task::JoinHandle;

pub use crate::config::{DEFAULT_GROUP, EventSourceSettings, InvalidationEventSettings};
use crate::config::{Settings, validation};

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
