//! Trends: what a cache (or a build-cache store) did over the last hour,
//! day and month, as bounded ring buffers of windowed points, with
//! annotations for the configuration changes that explain them.
//!
//! A sampler reads a source's cumulative [`TrendTotals`] (counters that
//! only grow while the process runs) and its gauges into a
//! [`TrendReading`], and hands it to the source's [`TrendHistory`] with
//! the time. Each of the three [`TrendRange`]s keeps the totals it saw at
//! the start of its current window; when the time crosses into a later
//! window the range gets one [`TrendPoint`] of the difference (so hit
//! ratio, p50 and p99 are per window, not since start) and starts the next
//! window. Ring buffers drop their oldest point when full, so memory is
//! bounded by [`TrendHistory::MAX_BYTES`] plus the annotations'
//! ([`MAX_ANNOTATIONS`]).
//!
//! Latency percentiles come from a log-linear histogram
//! ([`latency_bucket`]): four buckets per power of two of microseconds, so
//! a percentile is its bucket's upper bound, at most 25 % above the truth.
//!
//! Nothing here reads a clock or does I/O: the time is an argument, and
//! persistence is the [`TrendArchive`] port.

use std::collections::VecDeque;

use async_trait::async_trait;

/// Buckets of the latency histogram: 4 exact ones (0 to 3 µs), then four
/// per power of two up to 2^27 µs (about 134 s; slower lands in the last).
pub const LATENCY_BUCKETS: usize = 4 + 4 * 26;

/// Annotations kept per source; older ones are dropped first.
pub const MAX_ANNOTATIONS: usize = 256;

/// The bucket of a latency of `micros` microseconds.
///
/// ```
/// use strata_domain::{latency_bucket, latency_bucket_upper_micros};
/// assert_eq!(latency_bucket(3), 3);
/// let b = latency_bucket(1000);
/// assert!(latency_bucket_upper_micros(b) >= 1000);
/// assert!(latency_bucket_upper_micros(b) <= 1250);
/// ```
pub fn latency_bucket(micros: u64) -> usize {
    if micros < 4 {
        // Below 4, so it fits.
        return micros as usize;
    }
    let exp = 63 - micros.leading_zeros() as usize; // floor(log2), >= 2
    let sub = ((micros >> (exp - 2)) & 3) as usize;
    (4 + (exp - 2) * 4 + sub).min(LATENCY_BUCKETS - 1)
}

/// The largest latency in microseconds that falls in `bucket`.
pub fn latency_bucket_upper_micros(bucket: usize) -> u64 {
    if bucket < 4 {
        return bucket as u64;
    }
    let exp = (bucket - 4) / 4 + 2;
    let sub = ((bucket - 4) % 4) as u64;
    ((4 + sub + 1) << (exp - 2)) - 1
}

/// The `q` quantile (0 to 1) of a latency histogram, in milliseconds: the
/// upper bound of the bucket it falls in; `None` when it is empty.
pub fn latency_quantile_ms(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile, 1-based: at least the first sample.
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (bucket, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(latency_bucket_upper_micros(bucket) as f64 / 1000.0);
        }
    }
    None
}

/// A series of a trend, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesId {
    /// Requests answered on the cache's entries (HTTP requests and gRPC
    /// calls; a batch is one).
    Requests,
    /// Reads that found a live entry.
    Hits,
    /// Reads that found none.
    Misses,
    /// hits / (hits + misses) of the window; none without reads.
    HitRatio,
    /// Entries evicted to make room.
    Evictions,
    /// Entries dropped at their TTL.
    Expirations,
    /// Live entries at the end of the window (a gauge).
    Entries,
    /// Bytes held at the end of the window (a gauge).
    Bytes,
    /// Requests answered with a server error (5xx).
    Errors,
    /// Median request latency in the window, milliseconds.
    P50,
    /// 99th-percentile request latency in the window, milliseconds.
    P99,
    /// Answers served stale.
    Stale,
    /// Flushes (remove every entry).
    Flushes,
    /// Value bytes sent in answers.
    BytesRead,
    /// Value bytes received in writes.
    BytesWritten,
}

impl SeriesId {
    /// Every series, in the order of [`TrendPoint`]'s values.
    pub const ALL: [SeriesId; 15] = [
        Self::Requests,
        Self::Hits,
        Self::Misses,
        Self::HitRatio,
        Self::Evictions,
        Self::Expirations,
        Self::Entries,
        Self::Bytes,
        Self::Errors,
        Self::P50,
        Self::P99,
        Self::Stale,
        Self::Flushes,
        Self::BytesRead,
        Self::BytesWritten,
    ];

    /// The id as the API spells it: `requests`, `hit_ratio`, `p99`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Hits => "hits",
            Self::Misses => "misses",
            Self::HitRatio => "hit_ratio",
            Self::Evictions => "evictions",
            Self::Expirations => "expirations",
            Self::Entries => "entries",
            Self::Bytes => "bytes",
            Self::Errors => "errors",
            Self::P50 => "p50",
            Self::P99 => "p99",
            Self::Stale => "stale",
            Self::Flushes => "flushes",
            Self::BytesRead => "bytes_read",
            Self::BytesWritten => "bytes_written",
        }
    }

    /// The series `id` names; `None` for an unknown id.
    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == id)
    }

    /// Its position in [`SeriesId::ALL`] (and in a point's values).
    const fn index(self) -> usize {
        self as usize
    }
}

/// How far back a trend looks, which sets its resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrendRange {
    /// The last hour, a point every 10 s (360 points).
    Hour,
    /// The last 24 hours, a point a minute (1440 points).
    Day,
    /// The last 30 days, a point an hour (720 points).
    Month,
}

impl TrendRange {
    /// Every range, finest first.
    pub const ALL: [TrendRange; 3] = [Self::Hour, Self::Day, Self::Month];

    /// `1h`, `24h` or `30d`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Month => "30d",
        }
    }

    /// The range `text` names (`1h`, `24h`, `30d`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Seconds between points.
    pub const fn resolution_secs(self) -> u64 {
        match self {
            Self::Hour => 10,
            Self::Day => 60,
            Self::Month => 3600,
        }
    }

    /// Seconds the range spans.
    pub const fn span_secs(self) -> u64 {
        match self {
            Self::Hour => 3600,
            Self::Day => 86_400,
            Self::Month => 30 * 86_400,
        }
    }

    /// Points its ring holds: span / resolution.
    pub const fn capacity(self) -> usize {
        (self.span_secs() / self.resolution_secs()) as usize
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Cumulative counters of a source: each only grows while the process
/// runs (a smaller value later means the source restarted from zero).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrendTotals {
    /// Requests answered.
    pub requests: u64,
    /// Reads that hit.
    pub hits: u64,
    /// Reads that missed.
    pub misses: u64,
    /// Capacity evictions.
    pub evictions: u64,
    /// TTL expirations.
    pub expirations: u64,
    /// Server errors.
    pub errors: u64,
    /// Stale answers.
    pub stale: u64,
    /// Flushes.
    pub flushes: u64,
    /// Value bytes read.
    pub bytes_read: u64,
    /// Value bytes written.
    pub bytes_written: u64,
    /// Request latencies by [`latency_bucket`]; empty or
    /// [`LATENCY_BUCKETS`] long.
    pub latency: Vec<u64>,
}

impl TrendTotals {
    /// What happened between `earlier` and `self`, field by field; a
    /// field that went down (the source restarted) counts from zero.
    fn since(&self, earlier: &Self) -> Self {
        let d = |now: u64, then: u64| if now >= then { now - then } else { now };
        let latency = (0..self.latency.len())
            .map(|i| {
                d(
                    self.latency[i],
                    earlier.latency.get(i).copied().unwrap_or(0),
                )
            })
            .collect();
        Self {
            requests: d(self.requests, earlier.requests),
            hits: d(self.hits, earlier.hits),
            misses: d(self.misses, earlier.misses),
            evictions: d(self.evictions, earlier.evictions),
            expirations: d(self.expirations, earlier.expirations),
            errors: d(self.errors, earlier.errors),
            stale: d(self.stale, earlier.stale),
            flushes: d(self.flushes, earlier.flushes),
            bytes_read: d(self.bytes_read, earlier.bytes_read),
            bytes_written: d(self.bytes_written, earlier.bytes_written),
            latency,
        }
    }
}

/// What a sampler read of a source at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrendReading {
    /// The cumulative counters.
    pub totals: TrendTotals,
    /// Live entries now.
    pub entries: u64,
    /// Bytes held now.
    pub bytes: u64,
}

/// One window of every series: its end time and a value per
/// [`SeriesId`] (NaN where the window has none, e.g. no reads for the hit
/// ratio). Values are `f32`: exact for counts up to 2^24 per window, and
/// within 1e-7 relative beyond, which halves the memory of `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrendPoint {
    /// End of the window, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// A value per series, in [`SeriesId::ALL`] order.
    pub values: [f32; SeriesId::ALL.len()],
}

impl TrendPoint {
    /// The point of a window ending at `at_ms`, from what happened in it
    /// (`delta`) and the gauges at its end.
    fn of_window(at_ms: u64, delta: &TrendTotals, reading: &TrendReading) -> Self {
        let mut values = [0.0_f32; SeriesId::ALL.len()];
        let mut set = |id: SeriesId, v: f64| values[id.index()] = v as f32;
        let reads = delta.hits + delta.misses;
        set(SeriesId::Requests, delta.requests as f64);
        set(SeriesId::Hits, delta.hits as f64);
        set(SeriesId::Misses, delta.misses as f64);
        set(
            SeriesId::HitRatio,
            if reads == 0 {
                f64::NAN
            } else {
                delta.hits as f64 / reads as f64
            },
        );
        set(SeriesId::Evictions, delta.evictions as f64);
        set(SeriesId::Expirations, delta.expirations as f64);
        set(SeriesId::Entries, reading.entries as f64);
        set(SeriesId::Bytes, reading.bytes as f64);
        set(SeriesId::Errors, delta.errors as f64);
        set(
            SeriesId::P50,
            latency_quantile_ms(&delta.latency, 0.5).unwrap_or(f64::NAN),
        );
        set(
            SeriesId::P99,
            latency_quantile_ms(&delta.latency, 0.99).unwrap_or(f64::NAN),
        );
        set(SeriesId::Stale, delta.stale as f64);
        set(SeriesId::Flushes, delta.flushes as f64);
        set(SeriesId::BytesRead, delta.bytes_read as f64);
        set(SeriesId::BytesWritten, delta.bytes_written as f64);
        Self { at_ms, values }
    }

    /// The value of `series`; `None` where the window has none.
    pub fn value(&self, series: SeriesId) -> Option<f64> {
        let v = self.values[series.index()];
        (!v.is_nan()).then_some(f64::from(v))
    }
}

/// What an annotation marks.
#[derive(Clone, Debug, PartialEq)]
pub enum AnnotationKind {
    /// A configuration change (admin, peer or start-up).
    Configuration,
    /// `eviction = "auto"` switched policies, on these estimated miss
    /// ratios (policy id, miss ratio) at the current capacity.
    AutoSwitch {
        /// Every candidate's estimate.
        estimates: Vec<(String, f64)>,
    },
}

/// An event drawn on a trend: when, what, and a summary of the change.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub kind: AnnotationKind,
    /// Who or what caused it: `admin`, `auto_tune`, `peer`, `startup`.
    pub cause: String,
    /// The settings that changed, e.g. `eviction: lru -> sieve`.
    pub summary: String,
}

/// One range's ring and the window it is filling.
#[derive(Clone, Debug, Default)]
struct Ring {
    points: VecDeque<TrendPoint>,
    /// The window being filled (time / resolution) and the totals at its
    /// start; `None` before the first reading.
    open: Option<(u64, TrendTotals)>,
}

/// The trends of one source: a ring per [`TrendRange`] and the recent
/// annotations.
#[derive(Clone, Debug, Default)]
pub struct TrendHistory {
    rings: [Ring; 3],
    annotations: VecDeque<Annotation>,
}

impl TrendHistory {
    /// The most the points of one history take, in bytes: every ring full
    /// (2520 points of 72 bytes, about 177 KiB).
    pub const MAX_BYTES: usize =
        (TrendRange::Hour.capacity() + TrendRange::Day.capacity() + TrendRange::Month.capacity())
            * std::mem::size_of::<TrendPoint>();

    /// A history holding `points` per range (oldest first; each cut to
    /// the range's capacity, keeping the newest) and `annotations`, as a
    /// [`TrendArchive`] restores it. Its windows start at the next reading.
    pub fn restore(
        points: impl IntoIterator<Item = (TrendRange, Vec<TrendPoint>)>,
        annotations: Vec<Annotation>,
    ) -> Self {
        let mut history = Self::default();
        for (range, mut list) in points {
            let excess = list.len().saturating_sub(range.capacity());
            list.drain(..excess);
            history.rings[range.index()].points = list.into();
        }
        let excess = annotations.len().saturating_sub(MAX_ANNOTATIONS);
        history.annotations = annotations.into_iter().skip(excess).collect();
        history
    }

    /// Takes a reading at `now_ms`. The first reading opens each range's
    /// window (counting from zero: a source's totals start at zero when
    /// the process does); a later one in a later window closes the open
    /// one into a point stamped with the new window's start, and opens
    /// it. Returns how many points were added (0 to 3).
    pub fn record(&mut self, now_ms: u64, reading: &TrendReading) -> usize {
        let mut added = 0;
        for range in TrendRange::ALL {
            let resolution_ms = range.resolution_secs() * 1000;
            let window = now_ms / resolution_ms;
            let ring = &mut self.rings[range.index()];
            let Some((open, start)) = &ring.open else {
                ring.open = Some((window, TrendTotals::default()));
                // The totals so far belong to this first window.
                continue;
            };
            if window <= *open {
                continue;
            }
            let delta = reading.totals.since(start);
            if ring.points.len() == range.capacity() {
                ring.points.pop_front();
            }
            ring.points.push_back(TrendPoint::of_window(
                window * resolution_ms,
                &delta,
                reading,
            ));
            ring.open = Some((window, reading.totals.clone()));
            added += 1;
        }
        added
    }

    /// Adds `annotation`, dropping the oldest beyond [`MAX_ANNOTATIONS`].
    pub fn annotate(&mut self, annotation: Annotation) {
        if self.annotations.len() == MAX_ANNOTATIONS {
            self.annotations.pop_front();
        }
        self.annotations.push_back(annotation);
    }

    /// The points of `range`, oldest first.
    pub fn points(&self, range: TrendRange) -> impl Iterator<Item = &TrendPoint> {
        self.rings[range.index()].points.iter()
    }

    /// The points of `range` within its span before `now_ms`, oldest
    /// first.
    pub fn recent(&self, range: TrendRange, now_ms: u64) -> impl Iterator<Item = &TrendPoint> {
        let since = now_ms.saturating_sub(range.span_secs() * 1000);
        self.points(range).filter(move |p| p.at_ms > since)
    }

    /// Every annotation kept, oldest first.
    pub fn annotations(&self) -> impl Iterator<Item = &Annotation> {
        self.annotations.iter()
    }

    /// The annotations within `range`'s span before `now_ms`.
    pub fn recent_annotations(
        &self,
        range: TrendRange,
        now_ms: u64,
    ) -> impl Iterator<Item = &Annotation> {
        let since = now_ms.saturating_sub(range.span_secs() * 1000);
        self.annotations.iter().filter(move |a| a.at_ms > since)
    }

    /// Bytes this history holds now: its points and annotations (the
    /// rings grow to [`TrendHistory::MAX_BYTES`]).
    pub fn memory_bytes(&self) -> usize {
        let points: usize = self
            .rings
            .iter()
            .map(|r| r.points.capacity() * std::mem::size_of::<TrendPoint>())
            .sum();
        let annotations: usize = self
            .annotations
            .iter()
            .map(|a| {
                std::mem::size_of::<Annotation>()
                    + a.summary.len()
                    + a.cause.len()
                    + match &a.kind {
                        AnnotationKind::AutoSwitch { estimates } => estimates
                            .iter()
                            .map(|(p, _)| p.len() + std::mem::size_of::<(String, f64)>())
                            .sum(),
                        AnnotationKind::Configuration => 0,
                    }
            })
            .sum();
        points + annotations + std::mem::size_of::<Self>()
    }
}

/// Whose trends: a cache, or a build-cache store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrendSource {
    /// A cache, by name.
    Cache(String),
    /// A build-cache store, as `ac/<store>` or `cas/<store>` (e.g.
    /// `cas/disk`).
    BuildCache(String),
}

/// Why trends could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[error("trend archive: {0}")]
pub struct TrendArchiveError(pub String);

/// Where trends are kept across restarts (`[server] data_dir`).
#[async_trait]
pub trait TrendArchive: Send + Sync {
    /// Every history saved, by source; none when nothing was saved yet.
    ///
    /// # Errors
    /// [`TrendArchiveError`] when the archive exists but cannot be read.
    async fn load(&self) -> Result<Vec<(TrendSource, TrendHistory)>, TrendArchiveError>;

    /// Replaces what was saved with `histories`, atomically (a crash
    /// leaves the old or the new archive, never a mix).
    ///
    /// # Errors
    /// [`TrendArchiveError`] when it cannot be written.
    async fn save(
        &self,
        histories: Vec<(TrendSource, TrendHistory)>,
    ) -> Result<(), TrendArchiveError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(hits: u64, misses: u64, entries: u64) -> TrendReading {
        TrendReading {
            totals: TrendTotals {
                requests: hits + misses,
                hits,
                misses,
                ..Default::default()
            },
            entries,
            bytes: entries * 10,
        }
    }

    #[test]
    fn buckets_cover_their_bounds_within_a_quarter() {
        let mut previous_upper = None;
        for bucket in 0..LATENCY_BUCKETS {
            let upper = latency_bucket_upper_micros(bucket);
            assert_eq!(latency_bucket(upper), bucket, "bucket {bucket}");
            if let Some(p) = previous_upper {
                assert_eq!(latency_bucket(p + 1), bucket);
                assert!(upper as f64 <= (p + 1) as f64 * 1.25 + 1.0, "{bucket}");
            }
            previous_upper = Some(upper);
        }
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_window_not_since_start() {
        let mut counts = vec![0; LATENCY_BUCKETS];
        counts[latency_bucket(100)] = 98;
        counts[latency_bucket(50_000)] = 2;
        let p50 = latency_quantile_ms(&counts, 0.5).unwrap();
        let p99 = latency_quantile_ms(&counts, 0.99).unwrap();
        assert!((0.1..=0.125).contains(&p50), "{p50}");
        assert!((50.0..=62.5).contains(&p99), "{p99}");
        assert_eq!(latency_quantile_ms(&[0; 4], 0.5), None);
    }

    #[test]
    fn a_point_per_window_with_the_window_s_hit_ratio() {
        let mut h = TrendHistory::default();
        let t0 = 3_600_000 * 277_778; // a multiple of 10 s, 1 min and 1 h
        assert_eq!(h.record(t0 + 1, &reading(0, 0, 0)), 0);
        // Same window: nothing yet.
        assert_eq!(h.record(t0 + 5_000, &reading(9, 1, 5)), 0);
        // The next 10 s window: one point of the first window.
        assert_eq!(h.record(t0 + 10_000, &reading(9, 1, 5)), 1);
        // The one after: 1 hit, 9 misses in it.
        assert_eq!(h.record(t0 + 20_000, &reading(10, 10, 7)), 1);
        let points: Vec<_> = h.points(TrendRange::Hour).collect();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].at_ms, t0 + 10_000);
        assert_eq!(points[0].value(SeriesId::HitRatio), Some(0.9_f32 as f64));
        assert_eq!(points[1].value(SeriesId::Hits), Some(1.0));
        assert_eq!(points[1].value(SeriesId::HitRatio), Some(0.1_f32 as f64));
        assert_eq!(points[1].value(SeriesId::Entries), Some(7.0));
        assert_eq!(points[1].value(SeriesId::P99), None);
        // No window without reads has a hit ratio.
        h.record(t0 + 30_000, &reading(10, 10, 7));
        let last = h.points(TrendRange::Hour).last().unwrap();
        assert_eq!(last.value(SeriesId::HitRatio), None);
        assert_eq!(last.value(SeriesId::Requests), Some(0.0));
        // The minute's window closes at t0 + 60 s with every read in it.
        assert_eq!(h.record(t0 + 60_000, &reading(12, 10, 7)), 2);
        let minute: Vec<_> = h.points(TrendRange::Day).collect();
        assert_eq!(minute.len(), 1);
        assert_eq!(minute[0].value(SeriesId::Hits), Some(12.0));
        assert_eq!(minute[0].value(SeriesId::Requests), Some(22.0));
    }

    #[test]
    fn a_restarted_source_counts_from_zero() {
        let mut h = TrendHistory::default();
        h.record(0, &reading(0, 0, 0));
        h.record(10_000, &reading(100, 0, 0));
        h.record(20_000, &reading(3, 0, 0));
        let last = h.points(TrendRange::Hour).last().unwrap();
        assert_eq!(last.value(SeriesId::Hits), Some(3.0));
    }

    #[test]
    fn rings_and_annotations_are_bounded() {
        let mut h = TrendHistory::default();
        for i in 0..(TrendRange::Hour.capacity() as u64 + 50) {
            h.record(i * 10_000, &reading(i, 0, 0));
        }
        assert_eq!(
            h.points(TrendRange::Hour).count(),
            TrendRange::Hour.capacity()
        );
        for i in 0..(MAX_ANNOTATIONS as u64 + 10) {
            h.annotate(Annotation {
                at_ms: i,
                kind: AnnotationKind::Configuration,
                cause: "admin".into(),
                summary: String::new(),
            });
        }
        assert_eq!(h.annotations().count(), MAX_ANNOTATIONS);
        assert_eq!(h.annotations().next().unwrap().at_ms, 10);
        assert!(h.memory_bytes() < TrendHistory::MAX_BYTES + 64 * 1024);
        assert_eq!(std::mem::size_of::<TrendPoint>(), 72);
    }

    #[test]
    fn recent_keeps_the_range_s_span() {
        let mut h = TrendHistory::default();
        for i in 0..400 {
            h.record(i * 10_000, &reading(i, 0, 0));
        }
        let now = 399 * 10_000;
        let recent: Vec<_> = h.recent(TrendRange::Hour, now).collect();
        assert!(recent.iter().all(|p| p.at_ms > now - 3_600_000));
        assert_eq!(recent.len(), 360);
    }

    #[test]
    fn restore_keeps_the_newest() {
        let point = |at_ms| TrendPoint {
            at_ms,
            values: [0.0; 15],
        };
        let h = TrendHistory::restore([(TrendRange::Month, (0..800).map(point).collect())], vec![]);
        let kept: Vec<_> = h.points(TrendRange::Month).map(|p| p.at_ms).collect();
        assert_eq!(kept.len(), 720);
        assert_eq!(kept[0], 80);
    }

    #[test]
    fn series_and_ranges_parse_as_the_api_spells_them() {
        for s in SeriesId::ALL {
            assert_eq!(SeriesId::parse(s.as_str()), Some(s));
            assert_eq!(SeriesId::ALL[s.index()], s);
        }
        assert_eq!(SeriesId::parse("p95"), None);
        assert_eq!(TrendRange::parse("24h"), Some(TrendRange::Day));
        assert_eq!(TrendRange::parse("7d"), None);
        assert_eq!(TrendRange::Month.capacity(), 720);
    }
}
