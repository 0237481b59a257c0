//! [`spawn_prober`]: while a backend's breaker is open, a background task
//! pings the backend, so the breaker closes as soon as the backend answers
//! instead of when the next request happens to be its probe.
//!
//! The prober holds its breaker weakly: it ends when the breaker is
//! dropped (the provider that owns the backend went away).

use std::sync::{Arc, Weak};
use std::time::Duration;

use strata_domain::CacheStore;
use tokio::task::JoinHandle;

use super::breaker::CircuitBreaker;

/// Default interval between two background probes of an open breaker:
/// 100 ms.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Spawns, on the current Tokio runtime, a task that every `every` checks
/// `breaker` and, when it is not closed and no probe is in flight, pings
/// `store` (the backend, unguarded) with deadline `timeout` as the
/// breaker's probe ([`CircuitBreaker::try_background_probe`]): an answer
/// closes the breaker, a failure keeps it open. While the breaker is
/// closed a tick costs one lock-free load. `None` outside a runtime.
pub fn spawn_prober(
    breaker: &Arc<CircuitBreaker>,
    store: Arc<dyn CacheStore>,
    every: Duration,
    timeout: Duration,
) -> Option<JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let breaker: Weak<CircuitBreaker> = Arc::downgrade(breaker);
    Some(runtime.spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(breaker) = breaker.upgrade() else {
                return;
            };
            if breaker.is_closed() {
                continue;
            }
            let Some(permit) = breaker.try_background_probe() else {
                continue;
            };
            match tokio::time::timeout(timeout, store.ping()).await {
                Ok(Ok(())) => {
                    tracing::info!(
                        backend = store.backend(),
                        "background probe: the backend answers"
                    );
                    permit.success();
                }
                Ok(Err(e)) => permit.failure_because(&e),
                Err(_) => permit.failure_because(&"ping timed out"),
            }
        }
    }))
}
