//! `[invalidation_events]`: consumers of invalidation events published
//! from outside (docs/operations.md "Invalidation events").

use serde::{Deserialize, Serialize};
use strata_application::CacheService;
use strata_infrastructure::{AmqpConsumer, RedisStreamConsumer};
use tokio::task::JoinHandle;

use crate::config::{BackendSettings, Settings};

/// The consumer group a Redis stream source joins when it names none.
pub const DEFAULT_GROUP: &str = "strata";

/// `[invalidation_events]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidationEventSettings {
    /// `[[invalidation_events.sources]]`: one consumer each.
    #[serde(default)]
    pub sources: Vec<EventSourceSettings>,
}

/// One `[[invalidation_events.sources]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EventSourceSettings {
    /// A Redis stream read in a consumer group.
    RedisStream {
        /// The `source` label of the metrics (default: the stream).
        #[serde(default)]
        name: Option<String>,
        /// A `[backends.<name>]` of kind `redis` the stream lives on.
        backend: String,
        /// The stream key.
        stream: String,
        /// The consumer group (default `strata`); every instance of a
        /// deployment joins its own group when each must apply every event
        /// (the usual case: each instance has its own memory tier).
        #[serde(default = "default_group")]
        group: String,
        /// This instance's consumer name in the group (default:
        /// `[coherence] instance_id`, else the host name). It must survive
        /// restarts for pending events to be replayed.
        #[serde(default)]
        consumer: Option<String>,
        /// The dead-letter stream (default `<stream>:dead-letter`).
        #[serde(default)]
        dead_letter: Option<String>,
    },
    /// A RabbitMQ queue.
    Rabbitmq {
        /// The `source` label of the metrics (default: the queue).
        #[serde(default)]
        name: Option<String>,
        /// `amqp://user:password@host:port/vhost` (never logged; no TLS).
        url: String,
        /// The queue consumed.
        queue: String,
        /// The dead-letter queue (default `<queue>.dead-letter`).
        #[serde(default)]
        dead_letter_queue: Option<String>,
        /// Declare both queues durable at connection (default true).
        #[serde(default = "default_true")]
        declare: bool,
    },
}

fn default_group() -> String {
    DEFAULT_GROUP.to_owned()
}
fn default_true() -> bool {
    true
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
                let url = match settings.backends.get(backend) {
                    Some(BackendSettings::Redis { url, .. }) => url.clone(),
                    _ => anyhow::bail!(
                        "{}: backend = {backend:?} must name a [backends.<name>] of kind \"redis\"",
                        at()
                    ),
                };
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
