//! [`TokioScheduler`]: the `Scheduler` port on tokio's timer and executor.

use std::time::Duration;

use strata_domain::{ScheduledFuture, Scheduler};

/// Sleeps with `tokio::time::sleep` and spawns with `tokio::spawn`, so it
/// must be used from inside a tokio runtime (the server's). Under
/// `tokio::time::pause` its sleeps follow the paused clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioScheduler;

impl Scheduler for TokioScheduler {
    fn sleep(&self, duration: Duration) -> ScheduledFuture {
        Box::pin(tokio::time::sleep(duration))
    }

    fn spawn(&self, task: ScheduledFuture) {
        drop(tokio::spawn(task));
    }
}
