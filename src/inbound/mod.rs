//! Inbound adapters that are not a served protocol: they take work from
//! outside (a broker) and drive the application, as presentation's faces
//! do for HTTP and gRPC. They depend on `strata-application` and on their
//! drivers; no other crate knows them, and presentation must not know
//! their drivers (Redis, AMQP).
//!
//! - `invalidation_events/`: `[invalidation_events]`, invalidation events
//!   from Redis streams and RabbitMQ, applied through `InvalidateEntries`
//!   (docs/operations.md "Invalidation events").

pub(crate) mod invalidation_events;
