//! `[invalidation_events]` and its `[[invalidation_events.sources]]`:
//! where invalidation events published from outside are consumed (Redis
//! streams, RabbitMQ queues). Describes the section only: the consumers
//! are built and started by the composition root.

use serde::{Deserialize, Serialize};

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
