//! [`CircuitBreaker`]: one breaker per shared backend, its configuration,
//! counters and the permit a call holds.
//!
//! State machine (after Nygard, *Release It!*, "Circuit Breaker"), in the
//! domain's [`CircuitState`]:
//!
//! - **Closed**: calls pass. It opens after
//!   [`CircuitBreakerConfig::failure_threshold`] consecutive failures, or
//!   when, within one [`CircuitBreakerConfig::window`], at least
//!   [`CircuitBreakerConfig::min_calls`] calls were made and the failure
//!   ratio reached [`CircuitBreakerConfig::failure_rate`].
//! - **Open**: calls fail fast with [`StoreError::Unavailable`] ("circuit
//!   breaker open") until the current cool-down has passed. The first
//!   cool-down after closing is [`CircuitBreakerConfig::min_cool_down`]
//!   (100 ms); each failed probe doubles it, up to
//!   [`CircuitBreakerConfig::cool_down`] (500 ms). A backend that comes back
//!   is probed within that bound, and one that stays down gets one probe
//!   per `cool_down`.
//! - **HalfOpen**: one probe call passes, the others still fail fast; the
//!   probe's success closes the breaker (and resets the cool-down), its
//!   failure re-opens it for a doubled cool-down.
//!
//! Only [`StoreError::Unavailable`] and [`StoreError::Timeout`] count as
//! failures: `Unsupported` and `Unexpected` mean the backend answered.
//!
//! [`StoreError::Unavailable`]: strata_domain::StoreError::Unavailable
//! [`StoreError::Timeout`]: strata_domain::StoreError::Timeout

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strata_domain::CircuitState;

/// Default consecutive failures that open the breaker: 5.
pub(crate) const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// Default longest time the breaker stays open before a probe: 500 ms.
pub(crate) const DEFAULT_COOL_DOWN: Duration = Duration::from_millis(500);
/// Default first cool-down after the breaker opens: 100 ms.
pub(crate) const DEFAULT_MIN_COOL_DOWN: Duration = Duration::from_millis(100);

/// A source of monotonic time for the breaker; tests substitute a manual one.
pub trait MonotonicClock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// [`MonotonicClock`] on `std::time::Instant::now()`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SystemMonotonicClock;

impl MonotonicClock for SystemMonotonicClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// When a [`CircuitBreaker`] opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that open a closed breaker (default 5).
    pub failure_threshold: u32,
    /// Failure ratio in `0.0..=1.0` over one window that opens the breaker
    /// (default 0.5).
    pub failure_rate: f64,
    /// Fewest calls in a window before `failure_rate` is considered
    /// (default 20).
    pub min_calls: u32,
    /// Length of the tumbling window for `failure_rate` (default 10 s).
    pub window: Duration,
    /// The longest time an open breaker waits before letting one probe
    /// through (default 500 ms): failed probes double the wait from
    /// `min_cool_down` up to this.
    pub cool_down: Duration,
    /// The first wait after the breaker opens (default 100 ms; a value
    /// above `cool_down` counts as `cool_down`).
    pub min_cool_down: Duration,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            failure_rate: 0.5,
            min_calls: 20,
            window: Duration::from_secs(10),
            cool_down: DEFAULT_COOL_DOWN,
            min_cool_down: DEFAULT_MIN_COOL_DOWN,
        }
    }
}

/// Counters of a [`CircuitBreaker`] since it was created, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerMetrics {
    /// State at the time of reading.
    pub state: CircuitState,
    /// Calls that completed without a backend failure.
    pub successes: u64,
    /// Calls that failed with `Unavailable` or `Timeout`.
    pub failures: u64,
    /// Calls refused because the breaker was open.
    pub rejected: u64,
    /// Times the breaker went to Open.
    pub opened: u64,
}

#[derive(Debug)]
struct Inner {
    state: CircuitState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    /// The wait of the current opening.
    cool_down: Duration,
    probe_in_flight: bool,
    /// The latest failure's text, for the log line of a call the open
    /// breaker refuses.
    last_error: Option<Arc<str>>,
    window_start: Instant,
    window_calls: u32,
    window_failures: u32,
}

/// A circuit breaker for one backend. Cheap to share (`Arc`); all methods
/// take `&self` and are safe to call concurrently.
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    clock: Arc<dyn MonotonicClock>,
    inner: Mutex<Inner>,
    /// Mirrors `inner.state == Closed` for the lock-free [`Self::is_closed`].
    closed: AtomicBool,
    successes: AtomicU64,
    failures: AtomicU64,
    rejected: AtomicU64,
    opened: AtomicU64,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("config", &self.config)
            .field("state", &self.state())
            .finish()
    }
}

/// Permission to make one call, from [`CircuitBreaker::try_acquire`].
/// Report the outcome with [`Permit::success`] or [`Permit::failure`];
/// dropping it unreported (a cancelled call) counts as a failure.
#[must_use = "report the call's outcome on the permit"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    done: bool,
}

impl Permit<'_> {
    /// The call reached the backend and it answered.
    pub fn success(mut self) {
        self.done = true;
        self.breaker.on_success(self.probe);
    }

    /// The backend failed (unreachable or too slow).
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.on_failure(self.probe);
    }

    /// The backend failed with `error`, whose text the calls the breaker
    /// then refuses carry ([`BreakerOpen::last_error`]), so their log
    /// lines name the underlying failure.
    pub fn failure_because(self, error: &dyn std::fmt::Display) {
        self.breaker.lock().last_error = Some(Arc::from(error.to_string()));
        self.failure();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.on_failure(self.probe);
        }
    }
}

/// The breaker refused a call: it is open.
#[derive(Debug, Clone, thiserror::Error)]
#[error("circuit breaker open; next probe in {retry_in_ms} ms{}", last_error.as_deref().map(|e| format!("; last backend error: {e}")).unwrap_or_default())]
pub struct BreakerOpen {
    /// Milliseconds until the breaker lets a probe through (0 when a probe
    /// is already in flight).
    pub retry_in_ms: u64,
    /// The text of the failure that last counted against the breaker
    /// (e.g. `broken pipe`), when one was recorded.
    pub last_error: Option<Arc<str>>,
}

impl CircuitBreaker {
    /// A closed breaker on the system's monotonic clock; [`Self::clock`]
    /// swaps the clock before the breaker is shared.
    pub fn new(config: CircuitBreakerConfig) -> Self {
        let clock: Arc<dyn MonotonicClock> = Arc::new(SystemMonotonicClock);
        let now = clock.now();
        Self {
            config,
            clock,
            inner: Mutex::new(Inner {
                state: CircuitState::Closed,
                consecutive_failures: 0,
                opened_at: None,
                cool_down: Duration::ZERO,
                probe_in_flight: false,
                last_error: None,
                window_start: now,
                window_calls: 0,
                window_failures: 0,
            }),
            closed: AtomicBool::new(true),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }

    /// This breaker measuring cool-downs and failure windows on `clock`
    /// instead (tests pass a manual clock); its current window starts now by
    /// that clock.
    pub fn clock(mut self, clock: Arc<dyn MonotonicClock>) -> Self {
        let now = clock.now();
        match self.inner.get_mut() {
            Ok(inner) => inner.window_start = now,
            Err(poisoned) => poisoned.into_inner().window_start = now,
        }
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is a handful of plain fields updated in one step; a
        // panic elsewhere cannot leave it half-written, so poison is moot.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state. An open breaker whose cool-down has passed reads
    /// as [`CircuitState::HalfOpen`].
    pub fn state(&self) -> CircuitState {
        let inner = self.lock();
        match inner.state {
            CircuitState::Open if self.cooled_down(&inner) => CircuitState::HalfOpen,
            s => s,
        }
    }

    /// Whether the breaker is closed, without taking its lock: for hot
    /// paths that only need to know whether the backend is trusted.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Counters and state, for metrics and `/health/ready`.
    pub fn metrics(&self) -> BreakerMetrics {
        BreakerMetrics {
            state: self.state(),
            successes: self.successes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            opened: self.opened.load(Ordering::Relaxed),
        }
    }

    fn cooled_down(&self, inner: &Inner) -> bool {
        inner
            .opened_at
            .is_none_or(|at| self.clock.now().saturating_duration_since(at) >= inner.cool_down)
    }

    /// Asks to make one call.
    ///
    /// # Errors
    /// [`BreakerOpen`] while the breaker is open, or half-open with its
    /// probe already in flight.
    pub fn try_acquire(&self) -> Result<Permit<'_>, BreakerOpen> {
        let mut inner = self.lock();
        let probe = match inner.state {
            CircuitState::Closed => false,
            CircuitState::Open | CircuitState::HalfOpen => {
                if inner.state == CircuitState::Open && self.cooled_down(&inner) {
                    inner.state = CircuitState::HalfOpen;
                }
                if inner.state == CircuitState::Open || inner.probe_in_flight {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                    let retry_in = inner.opened_at.map_or(Duration::ZERO, |at| {
                        (at + inner.cool_down).saturating_duration_since(self.clock.now())
                    });
                    return Err(BreakerOpen {
                        retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                        last_error: inner.last_error.clone(),
                    });
                }
                inner.probe_in_flight = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            done: false,
        })
    }

    /// A permit for a background probe ([`spawn_prober`](super::probe::spawn_prober)):
    /// granted while the breaker is open or half-open with no probe in
    /// flight, cool-down or not, so a backend that is back is found within
    /// one probe interval instead of one cool-down; `None` otherwise. Its
    /// outcome moves the breaker as a request's probe would.
    pub fn try_background_probe(&self) -> Option<Permit<'_>> {
        let mut inner = self.lock();
        if inner.state == CircuitState::Closed || inner.probe_in_flight {
            return None;
        }
        inner.state = CircuitState::HalfOpen;
        inner.probe_in_flight = true;
        Some(Permit {
            breaker: self,
            probe: true,
            done: false,
        })
    }

    fn roll_window(&self, inner: &mut Inner) {
        let now = self.clock.now();
        if now.saturating_duration_since(inner.window_start) >= self.config.window {
            inner.window_start = now;
            inner.window_calls = 0;
            inner.window_failures = 0;
        }
    }

    fn on_success(&self, probe: bool) {
        self.successes.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        self.roll_window(&mut inner);
        inner.window_calls += 1;
        inner.consecutive_failures = 0;
        if probe {
            inner.probe_in_flight = false;
            inner.state = CircuitState::Closed;
            self.closed.store(true, Ordering::Release);
            inner.opened_at = None;
            inner.last_error = None;
            inner.window_start = self.clock.now();
            inner.window_calls = 0;
            inner.window_failures = 0;
            tracing::info!("circuit breaker closed after a successful probe");
        }
    }

    fn on_failure(&self, probe: bool) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        if probe {
            inner.probe_in_flight = false;
            // The backend is still down: wait twice as long next time.
            inner.cool_down = (inner.cool_down * 2).min(self.config.cool_down);
            self.open(&mut inner);
            return;
        }
        if inner.state != CircuitState::Closed {
            // A call admitted before the breaker opened finished late.
            return;
        }
        self.roll_window(&mut inner);
        inner.window_calls += 1;
        inner.window_failures += 1;
        inner.consecutive_failures += 1;
        let by_count = inner.consecutive_failures >= self.config.failure_threshold;
        let by_rate = inner.window_calls >= self.config.min_calls
            && f64::from(inner.window_failures)
                >= self.config.failure_rate * f64::from(inner.window_calls);
        if by_count || by_rate {
            self.open(&mut inner);
        }
    }

    fn open(&self, inner: &mut Inner) {
        if inner.state == CircuitState::Closed {
            inner.cool_down = self.config.min_cool_down.min(self.config.cool_down);
        }
        if inner.state != CircuitState::Open {
            self.opened.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                consecutive_failures = inner.consecutive_failures,
                "circuit breaker opened"
            );
        }
        inner.state = CircuitState::Open;
        self.closed.store(false, Ordering::Release);
        inner.opened_at = Some(self.clock.now());
        inner.consecutive_failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A monotonic clock that moves only when told to (the breaker's
    /// `MonotonicClock`; wall-clock tests use `strata_testkit::ManualClock`).
    struct ManualInstant {
        base: Instant,
        offset: Mutex<Duration>,
    }

    impl ManualInstant {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                base: Instant::now(),
                offset: Mutex::new(Duration::ZERO),
            })
        }
        fn advance(&self, d: Duration) {
            *self.offset.lock().unwrap() += d;
        }
    }

    impl MonotonicClock for ManualInstant {
        fn now(&self) -> Instant {
            self.base + *self.offset.lock().unwrap()
        }
    }

    fn breaker(clock: &Arc<ManualInstant>) -> CircuitBreaker {
        CircuitBreaker::new(CircuitBreakerConfig {
            failure_threshold: 3,
            failure_rate: 0.5,
            min_calls: 10,
            window: Duration::from_secs(10),
            cool_down: Duration::from_secs(5),
            // A fixed cool-down: these tests are about the states.
            min_cool_down: Duration::from_secs(5),
        })
        .clock(clock.clone())
    }

    fn fail(b: &CircuitBreaker) {
        b.try_acquire().expect("admitted").failure();
    }

    fn succeed(b: &CircuitBreaker) {
        b.try_acquire().expect("admitted").success();
    }

    #[test]
    fn opens_after_consecutive_failures_and_fails_fast() {
        let clock = ManualInstant::new();
        let b = breaker(&clock);
        fail(&b);
        fail(&b);
        succeed(&b); // resets the run
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), CircuitState::Closed);
        fail(&b);
        assert_eq!(b.state(), CircuitState::Open);
        let err = b.try_acquire().unwrap_err();
        assert_eq!(err.retry_in_ms, 5_000);
        let m = b.metrics();
        assert_eq!((m.opened, m.rejected, m.failures), (1, 1, 5));
    }

    #[test]
    fn background_probes_skip_the_cool_down_and_refusals_name_the_last_error() {
        let clock = ManualInstant::new();
        let b = breaker(&clock);
        assert!(
            b.try_background_probe().is_none(),
            "closed: nothing to probe"
        );
        (0..2).for_each(|_| fail(&b));
        b.try_acquire().unwrap().failure_because(&"broken pipe");
        assert_eq!(b.state(), CircuitState::Open);
        let refused = b.try_acquire().unwrap_err();
        assert!(
            refused
                .to_string()
                .ends_with("last backend error: broken pipe"),
            "{refused}"
        );
        // Within the cool-down, a background probe still goes out, alone.
        let probe = b.try_background_probe().expect("a background probe");
        assert!(b.try_background_probe().is_none(), "one probe at a time");
        assert!(b.try_acquire().is_err(), "requests still fail fast");
        probe.failure_because(&"connection refused");
        assert_eq!(b.state(), CircuitState::Open);
        assert!(
            b.try_acquire()
                .unwrap_err()
                .to_string()
                .ends_with("connection refused")
        );
        b.try_background_probe().expect("the next probe").success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(b.is_closed());
        b.try_acquire().expect("closed").success();
    }

    #[test]
    fn half_open_admits_one_probe_and_closes_on_success() {
        let clock = ManualInstant::new();
        let b = breaker(&clock);
        (0..3).for_each(|_| fail(&b));
        clock.advance(Duration::from_millis(4_999));
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.try_acquire().is_err());
        clock.advance(Duration::from_millis(1));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(!b.is_closed(), "half-open is not closed");
        let probe = b.try_acquire().expect("probe admitted");
        assert!(b.try_acquire().is_err(), "second call during probe");
        probe.success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(b.is_closed());
        succeed(&b);
    }

    #[test]
    fn failed_or_abandoned_probe_reopens_for_a_new_cool_down() {
        let clock = ManualInstant::new();
        let b = breaker(&clock);
        (0..3).for_each(|_| fail(&b));
        clock.advance(Duration::from_secs(5));
        b.try_acquire().expect("probe").failure();
        assert_eq!(b.state(), CircuitState::Open);
        clock.advance(Duration::from_secs(4));
        assert!(b.try_acquire().is_err(), "cool-down restarted at the probe");
        clock.advance(Duration::from_secs(1));
        drop(b.try_acquire().expect("probe")); // cancelled call
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.metrics().opened, 3);
    }

    #[test]
    fn failed_probes_double_the_cool_down_up_to_the_cap_and_a_close_resets_it() {
        let clock = ManualInstant::new();
        let b = CircuitBreaker::new(CircuitBreakerConfig {
            failure_threshold: 1,
            ..CircuitBreakerConfig::default()
        })
        .clock(clock.clone());
        fail(&b);
        // 100, 200, 400 ms, then 500 ms (the cap) every time.
        for wait_ms in [100, 200, 400, 500, 500] {
            clock.advance(Duration::from_millis(wait_ms - 1));
            let refused = b.try_acquire().expect_err("still cooling down");
            assert_eq!(refused.retry_in_ms, 1, "waiting {wait_ms} ms");
            clock.advance(Duration::from_millis(1));
            b.try_acquire()
                .expect("a probe once the wait is over")
                .failure();
        }
        clock.advance(Duration::from_millis(500));
        b.try_acquire().expect("probe").success();
        assert_eq!(b.state(), CircuitState::Closed);
        fail(&b);
        clock.advance(Duration::from_millis(100));
        assert_eq!(b.state(), CircuitState::HalfOpen, "back to 100 ms");
    }

    #[test]
    fn opens_on_failure_rate_within_a_window() {
        let clock = ManualInstant::new();
        let b = breaker(&clock);
        // Alternate so that the consecutive count never reaches 3.
        for _ in 0..4 {
            succeed(&b);
            fail(&b);
        }
        succeed(&b);
        assert_eq!(b.state(), CircuitState::Closed, "9 calls < min_calls");
        fail(&b);
        assert_eq!(b.state(), CircuitState::Open, "5 of 10 failed");
    }

    #[test]
    fn window_rolls_over() {
        let clock = ManualInstant::new();
        let b = breaker(&clock);
        for _ in 0..4 {
            succeed(&b);
            fail(&b);
        }
        clock.advance(Duration::from_secs(10));
        succeed(&b);
        fail(&b);
        assert_eq!(b.state(), CircuitState::Closed, "new window has 2 calls");
    }
}
