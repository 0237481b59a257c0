//! A count-min sketch of saturating counters, 4 or 16 bits wide, packed
//! in 64-bit words: the frequency estimator behind W-TinyLFU's admission
//! filter.
//!
//! Paper: G. Cormode, S. Muthukrishnan, "An improved data stream summary:
//! the count-min sketch and its applications", Journal of Algorithms 2005.
//! The 4-bit counters follow Caffeine's `FrequencySketch` (counters stop at
//! 15, so four bits hold them: 8 bytes per sized-for entry at four
//! counters per entry and row); 16-bit counters serve libCacheSim's
//! ageing, whose counts pass 15.
//!
//! Each of the `DEPTH` rows maps a key hash to one counter with an
//! independent mixer; the estimate is the minimum over the rows, so it never
//! underestimates (until saturation or [`CountMinSketch::halve`]). The width
//! is a power of two and can [`grow`](CountMinSketch::grow) without losing
//! counts: doubling a row copies each counter into both of its new slots,
//! because a key's slot `mix(h) & (2w - 1)` is either its old slot or the
//! old slot plus `w`. The counter width changes only the storage: a sketch
//! whose counts stay at or below 15 estimates the same in both widths.

const DEPTH: usize = 4;
const SEEDS: [u64; DEPTH] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x27D4_EB2F_1656_67C5,
];

/// The width of a sketch's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CounterBits {
    /// 4-bit counters, saturating at 15 (Caffeine's).
    Four,
    /// 16-bit counters, saturating at 65,535.
    Sixteen,
}

impl CounterBits {
    /// log2 of the counter width in bits.
    fn log2(self) -> u32 {
        match self {
            Self::Four => 2,
            Self::Sixteen => 4,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CountMinSketch {
    /// Each row: `width` counters, `64 / bits` per word.
    rows: [Vec<u64>; DEPTH],
    mask: u64,
    /// log2 of the counter width in bits (2 or 4); the rest derives from
    /// it, so the sketch stays small inside the policy enum.
    bits_log2: u32,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl CountMinSketch {
    /// A sketch of 16-bit counters with at least `width` counters per row
    /// (rounded up to a power of two, minimum 16).
    #[cfg(test)]
    pub(crate) fn new(width: usize) -> Self {
        Self::with_counters(width, CounterBits::Sixteen)
    }

    /// A sketch of `counters`-wide counters with at least `width` counters
    /// per row (rounded up to a power of two, minimum 16).
    pub(crate) fn with_counters(width: usize, counters: CounterBits) -> Self {
        let width = width.max(16).next_power_of_two();
        let bits_log2 = counters.log2();
        let per_word = 1usize << (6 - bits_log2);
        Self {
            rows: std::array::from_fn(|_| vec![0; width / per_word]),
            mask: width as u64 - 1,
            bits_log2,
        }
    }

    /// Counter width in bits.
    #[inline]
    fn bits(&self) -> u32 {
        1 << self.bits_log2
    }

    /// log2 of the counters per word.
    #[inline]
    fn per_word_log2(&self) -> u32 {
        6 - self.bits_log2
    }

    /// The largest count, `2^bits - 1`.
    #[inline]
    fn max(&self) -> u64 {
        (1 << self.bits()) - 1
    }

    /// Counters per row.
    pub(crate) fn width(&self) -> usize {
        (self.mask + 1) as usize
    }

    /// The word and the shift of `hash`'s counter in `row`.
    #[inline]
    fn locate(&self, row: usize, hash: u64) -> (usize, u32) {
        let slot = mix(hash ^ SEEDS[row]) & self.mask;
        let per_word_log2 = self.per_word_log2();
        let word = (slot >> per_word_log2) as usize;
        let lane = (slot & ((1 << per_word_log2) - 1)) as u32;
        (word, lane * self.bits())
    }

    #[inline]
    fn counter(&self, row: usize, hash: u64) -> u64 {
        let (word, shift) = self.locate(row, hash);
        (self.rows[row][word] >> shift) & self.max()
    }

    /// Adds one occurrence of the key with hash `hash` (saturating).
    pub(crate) fn increment(&mut self, hash: u64) {
        self.increment_capped(hash, u16::MAX);
    }

    /// Adds one occurrence of the key with hash `hash` to each of its
    /// counters below `max` (Caffeine's conservative 4-bit increment; the
    /// counters' own ceiling applies too); returns whether any counter
    /// changed.
    pub(crate) fn increment_capped(&mut self, hash: u64, max: u16) -> bool {
        let ceiling = self.max();
        let cap = u64::from(max).min(ceiling);
        let mut added = false;
        for row in 0..DEPTH {
            let (word, shift) = self.locate(row, hash);
            let cell = &mut self.rows[row][word];
            if (*cell >> shift) & ceiling < cap {
                *cell += 1 << shift;
                added = true;
            }
        }
        added
    }

    /// The estimated number of occurrences of the key with hash `hash`.
    pub(crate) fn estimate(&self, hash: u64) -> u16 {
        let min = (0..DEPTH)
            .map(|row| self.counter(row, hash))
            .min()
            .unwrap_or(0);
        // At most `self.max()`, which fits: counters are 4 or 16 bits.
        u16::try_from(min).unwrap_or(u16::MAX)
    }

    /// Halves every counter (ageing).
    pub(crate) fn halve(&mut self) {
        // Every counter's bits but its top one, in every lane of a word:
        // `(word >> 1) & mask` halves each counter.
        let (bits, lane) = (self.bits(), self.max() >> 1);
        let mask = (0..64 / bits).fold(0u64, |m, i| m | (lane << (i * bits)));
        for row in &mut self.rows {
            for word in row.iter_mut() {
                *word = (*word >> 1) & mask;
            }
        }
    }

    /// Doubles the width, keeping every estimate unchanged.
    pub(crate) fn grow(&mut self) {
        for row in &mut self.rows {
            let copy = row.clone();
            row.extend_from_slice(&copy);
        }
        self.mask = (self.width() * 2) as u64 - 1;
    }

    pub(crate) fn clear(&mut self) {
        for row in &mut self.rows {
            row.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_never_undercount_and_survive_growth() {
        let mut sketch = CountMinSketch::new(16);
        for key in 0..100u64 {
            for _ in 0..(key % 7) {
                sketch.increment(key);
            }
        }
        let before: Vec<u16> = (0..100u64).map(|k| sketch.estimate(k)).collect();
        for key in 0..100u64 {
            assert!(u64::from(before[key as usize]) >= key % 7);
        }
        sketch.grow();
        sketch.grow();
        let after: Vec<u16> = (0..100u64).map(|k| sketch.estimate(k)).collect();
        for key in 0..100usize {
            assert!(after[key] <= before[key], "growing never adds counts");
            assert!(u64::from(after[key]) >= key as u64 % 7);
        }
        sketch.halve();
        assert!(sketch.estimate(6) <= after[6] / 2 + 1);
    }

    #[test]
    fn four_bit_counters_estimate_as_sixteen_bit_ones_below_sixteen() {
        let mut wide = CountMinSketch::with_counters(64, CounterBits::Sixteen);
        let mut narrow = CountMinSketch::with_counters(64, CounterBits::Four);
        let mut state = 7u64;
        for step in 0..20_000u64 {
            state = mix(state);
            let key = state % 300;
            assert_eq!(
                wide.increment_capped(key, 15),
                narrow.increment_capped(key, 15),
                "step {step}"
            );
            if step % 997 == 0 && step < 15_000 {
                wide.halve();
                narrow.halve();
            }
            if step == 5_000 || step == 12_000 {
                wide.grow();
                narrow.grow();
            }
        }
        assert_eq!(wide.width(), narrow.width());
        for key in 0..300 {
            assert_eq!(wide.estimate(key), narrow.estimate(key), "key {key}");
        }
        assert!(
            (0..300).any(|k| narrow.estimate(k) == 15),
            "some counter saturated"
        );
    }

    #[test]
    fn counters_saturate_and_halve_within_their_lane() {
        let mut s = CountMinSketch::with_counters(16, CounterBits::Four);
        for _ in 0..40 {
            s.increment(1);
        }
        assert_eq!(s.estimate(1), 15, "4-bit counters stop at 15");
        s.halve();
        assert_eq!(s.estimate(1), 7);
        let mut s = CountMinSketch::with_counters(16, CounterBits::Sixteen);
        for _ in 0..40 {
            s.increment(1);
        }
        assert_eq!(s.estimate(1), 40);
        s.halve();
        assert_eq!(s.estimate(1), 20);
    }
}
