//! L1 coherence between Strata instances over Redis pub/sub.
//!
//! Several stateless instances share one Redis (L2), each with an
//! in-process L1 tier. A [`CoherenceBus`] publishes every invalidation of
//! this instance on one Redis pub/sub channel, tagged with the instance's
//! id, and applies the invalidations of the other instances to the L1s
//! registered with it (one or more [`CoherenceListener`]s per cache).
//!
//! Pub/sub is fire-and-forget: a message published while a subscriber is
//! disconnected is lost for it. So when the subscription is lost
//! (server restart, `CLIENT KILL TYPE pubsub`, a failed keep-alive
//! `PING`), the subscriber task retries with back-off (50 ms doubling to
//! 2 s) and, once subscribed again, calls [`CoherenceListener::clear`] on
//! every registered listener of every cache, because messages may have
//! been missed. [`CoherenceBus::is_subscribed`] turns true again only
//! after those clears.
//!
//! For a Redis Cluster, connect to any one node: `PUBLISH` is broadcast
//! to every node, and a `SUBSCRIBE` on any node receives it.
//!
//! # Wire format
//!
//! One JSON object per message; see the `message` module for the
//! fields and the [`Invalidation`] each `op` stands for.
//!
//! # Metrics
//!
//! Through the `metrics` facade:
//!
//! | series                                                          | kind    | meaning                                                     |
//! |-----------------------------------------------------------------|---------|-------------------------------------------------------------|
//! | `strata_coherence_messages_total{direction="published",op}`     | counter | invalidations published (the `PUBLISH` was answered)        |
//! | `strata_coherence_messages_total{direction="received",op}`      | counter | invalidations from other instances, applied                 |
//! | `strata_coherence_publish_failures_total`                       | counter | publishes that failed or timed out                          |
//! | `strata_coherence_malformed_messages_total`                     | counter | received payloads dropped as malformed or of another version |
//! | `strata_coherence_l1_clears_total`                              | counter | re-subscriptions, each of which cleared every registered L1 |
//! | `strata_coherence_subscribed`                                   | gauge   | 1 while the subscription is established, else 0             |
//!
//! `op` is the wire `op` above.
//!
//! # Logs
//!
//! `info` on (re)subscription, `warn` when the subscription is lost, when
//! a publish fails and when a malformed message arrives. Logs name the
//! server as `host:port` only, never the URL (which may hold a password).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use strata_domain::{CacheKey, CacheName};
//! # use strata_infrastructure::{CoherenceBus, CoherenceListener, Invalidation};
//! # async fn demo(l1: Arc<dyn CoherenceListener>) -> Result<(), strata_domain::StoreError> {
//! let bus = CoherenceBus::connect("redis://127.0.0.1:6379/", "strata:coherence", "web-1").await?;
//! let users = CacheName::parse("users").unwrap();
//! bus.register(&users, Arc::downgrade(&l1));
//! bus.publish(&users, Invalidation::Keys(vec![CacheKey::parse("u:1").unwrap()]))
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod bus;
mod message;

pub use bus::{CoherenceBus, ReconfigureNotice};
pub use message::{CoherenceListener, Invalidation};
