//! [`TracingEventPublisher`]: domain events to the structured log.

use strata_domain::{ChangeCause, DomainEvent, EventPublisher, InvalidationSelector};

/// Publishes domain events as `tracing` events.
///
/// Administrative actions (`ConfigurationChanged`, `CacheFlushed`) are the
/// audit trail: they are logged at INFO on target `strata::audit` with the
/// principal, the cache and what changed. A cache the configuration file
/// created or updated at start-up ([`ChangeCause::Startup`]) is no admin
/// action: nobody acted, so it is not audited; its configuration goes to
/// DEBUG on target `strata::config` (the application already logs one
/// INFO line per configured cache). Invalidations are logged at DEBUG,
/// per-entry events at TRACE (they are on the hot path).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingEventPublisher;

impl EventPublisher for TracingEventPublisher {
    fn publish(&self, event: DomainEvent) {
        match &event {
            DomainEvent::ConfigurationChanged {
                cache,
                after,
                cause: ChangeCause::Startup,
                ..
            } => {
                tracing::debug!(
                    target: "strata::config",
                    cache = %cache,
                    after = ?after,
                    "cache configured from the configuration file"
                );
            }
            DomainEvent::ConfigurationChanged {
                cache,
                before,
                after,
                cause,
                principal,
                at,
            } => {
                let action = match (before, after) {
                    (None, Some(_)) => "create",
                    (Some(_), Some(_)) => "reconfigure",
                    _ => "delete",
                };
                tracing::info!(
                    target: "strata::audit",
                    event = event.kind(),
                    action,
                    cache = %cache,
                    principal = %principal,
                    at_ms = at.as_millis(),
                    cause = cause.as_str(),
                    estimates = ?match cause {
                        ChangeCause::AutoTune { estimates } => estimates.as_slice(),
                        ChangeCause::Admin | ChangeCause::Peer | ChangeCause::Startup => &[],
                    },
                    before = ?before,
                    after = ?after,
                    "admin action"
                );
            }
            DomainEvent::CacheFlushed {
                cache,
                principal,
                at,
            } => {
                tracing::info!(
                    target: "strata::audit",
                    event = event.kind(),
                    action = "flush",
                    cache = %cache,
                    principal = %principal,
                    at_ms = at.as_millis(),
                    "admin action"
                );
            }
            DomainEvent::EntriesInvalidated {
                cache,
                selector,
                count,
                principal,
                ..
            } => {
                let selector = match selector {
                    InvalidationSelector::Keys(k) => format!("{} keys", k.len()),
                    InvalidationSelector::Pattern(p) => format!("pattern {p}"),
                    InvalidationSelector::Tags(t) => format!("tags {t:?}"),
                };
                tracing::debug!(event = event.kind(), cache = %cache, principal = %principal, %selector, count = count.exact(), "entries invalidated");
            }
            _ => tracing::trace!(event = event.kind(), cache = %event.cache(), "cache event"),
        }
    }
}
