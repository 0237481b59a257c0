//! [`Baseline`]: the running state of an [`AnomalyBand`] for one rule and
//! one source.

use super::rule::{AnomalyBand, Direction};

/// An EWMA of a signal and of its absolute deviation (see
/// [`AnomalyBand`] for the method and its source).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Baseline {
    mean: f64,
    deviation: f64,
    seen: u32,
}

impl Baseline {
    /// The mean so far (0 before any value).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Whether `value` lies on the `bad` side of the baseline beyond the
    /// band; then learns it (with a tenth of the weight when it did).
    /// False during the warm-up.
    pub fn judge(&mut self, value: f64, band: &AnomalyBand, bad: Direction) -> bool {
        if !value.is_finite() {
            return false;
        }
        if self.seen == 0 {
            self.mean = value;
            self.seen = 1;
            return false;
        }
        let warm = self.seen >= band.warmup;
        let off = match bad {
            Direction::Low => self.mean - value,
            Direction::High => value - self.mean,
        };
        let limit = (band.k * self.deviation)
            .max(band.min_abs)
            .max(band.min_rel * self.mean.abs());
        let anomalous = warm && off > limit;
        let alpha = if anomalous {
            band.alpha / 10.0
        } else {
            band.alpha
        };
        let before = self.mean;
        self.mean += alpha * (value - before);
        self.deviation += alpha * ((value - before).abs() - self.deviation);
        self.seen = self.seen.saturating_add(1);
        anomalous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeriesId;
    use crate::alerts::rule::Signal;

    #[test]
    fn a_collapse_after_warm_up_is_anomalous_and_noise_is_not() {
        let band = AnomalyBand::for_signal(Signal::Series(SeriesId::HitRatio));
        let mut b = Baseline::default();
        for i in 0..60 {
            // 0.88 to 0.92: ordinary noise.
            let v = 0.9 + if i % 2 == 0 { 0.02 } else { -0.02 };
            assert!(!b.judge(v, &band, Direction::Low), "window {i}");
        }
        assert!(!b.judge(0.85, &band, Direction::Low), "within the band");
        assert!(!b.judge(0.99, &band, Direction::Low), "the good side");
        assert!(b.judge(0.3, &band, Direction::Low));
        // A lasting new level stays anomalous for a while...
        for _ in 0..20 {
            assert!(b.judge(0.3, &band, Direction::Low));
        }
        // ...and recovery ends it.
        assert!(!b.judge(0.9, &band, Direction::Low));
    }

    #[test]
    fn nothing_is_anomalous_during_warm_up() {
        let band = AnomalyBand::for_signal(Signal::Series(SeriesId::Misses));
        let mut b = Baseline::default();
        for i in 0..band.warmup {
            let v = if i == 10 { 10_000.0 } else { 5.0 };
            assert!(!b.judge(v, &band, Direction::High));
        }
    }
}
