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
//!
//! This wing must not know HTTP, or how the caches store their entries.

mod amqp;
mod backoff;
mod event;
mod redis_stream;

pub use amqp::AmqpConsumer;
pub use event::{InvalidEvent, InvalidationEvent, MAX_EVENT_BYTES, MAX_EVENT_ID_BYTES};
pub use redis_stream::RedisStreamConsumer;

/// The counter of events by `source` and `result`: `consumed` (received),
/// `applied`, `failed` (the invalidation failed: retried when the failure
/// is transient, dead-lettered when it is permanent) and `dead_lettered`.
pub const EVENTS_TOTAL: &str = "strata_invalidation_events_total";
/// The gauge of events waiting for this consumer, by `source` (Redis: the
/// group's `lag` from `XINFO GROUPS`, or its pending count on Redis < 7;
/// RabbitMQ: the queue's ready message count).
pub const EVENTS_LAG: &str = "strata_invalidation_events_lag";

fn count(source: &str, result: &'static str) {
    metrics::counter!(EVENTS_TOTAL, "source" => source.to_owned(), "result" => result).increment(1);
}

fn lag(source: &str, value: f64) {
    metrics::gauge!(EVENTS_LAG, "source" => source.to_owned()).set(value);
}
