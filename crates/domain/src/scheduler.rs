//! [`Scheduler`]: the port through which the application waits and runs
//! work in the background without knowing the async runtime.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A future the scheduler can own: boxed, `Send`, `'static`.
pub type ScheduledFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Timers and background tasks, for use cases that must stop waiting
/// (loader timeouts) or finish work after their caller returned
/// (background refreshes). The composition root wires the runtime's
/// (tokio's); tests wire one on paused time.
///
/// Implementations MUST run a spawned future to completion even when
/// nothing awaits it, and MUST NOT run it on the caller's stack.
pub trait Scheduler: Send + Sync + 'static {
    /// A future that completes once `duration` has passed on the
    /// runtime's timer (monotonic, not the wall [`Clock`](crate::Clock)).
    fn sleep(&self, duration: Duration) -> ScheduledFuture;

    /// Runs `task` in the background; its result is dropped.
    fn spawn(&self, task: ScheduledFuture);
}
