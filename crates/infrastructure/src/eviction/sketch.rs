//! A count-min sketch of 16-bit saturating counters: the frequency
//! estimator behind W-TinyLFU's admission filter.
//!
//! Paper: G. Cormode, S. Muthukrishnan, "An improved data stream summary:
//! the count-min sketch and its applications", Journal of Algorithms 2005.
//!
//! Each of the `DEPTH` rows maps a key hash to one counter with an
//! independent mixer; the estimate is the minimum over the rows, so it never
//! underestimates (until saturation or [`CountMinSketch::halve`]). The width
//! is a power of two and can [`grow`](CountMinSketch::grow) without losing
//! counts: doubling a row copies each counter into both of its new slots,
//! because a key's slot `mix(h) & (2w - 1)` is either its old slot or the
//! old slot plus `w`.

const DEPTH: usize = 4;
const SEEDS: [u64; DEPTH] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x27D4_EB2F_1656_67C5,
];

#[derive(Debug, Clone)]
pub(crate) struct CountMinSketch {
    rows: [Vec<u16>; DEPTH],
    mask: u64,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl CountMinSketch {
    /// A sketch with at least `width` counters per row (rounded up to a
    /// power of two, minimum 16).
    pub(crate) fn new(width: usize) -> Self {
        let width = width.max(16).next_power_of_two();
        Self {
            rows: std::array::from_fn(|_| vec![0; width]),
            mask: width as u64 - 1,
        }
    }

    pub(crate) fn width(&self) -> usize {
        self.rows[0].len()
    }

    fn slot(&self, row: usize, hash: u64) -> usize {
        (mix(hash ^ SEEDS[row]) & self.mask) as usize
    }

    /// Adds one occurrence of the key with hash `hash`.
    pub(crate) fn increment(&mut self, hash: u64) {
        for row in 0..DEPTH {
            let slot = self.slot(row, hash);
            let counter = &mut self.rows[row][slot];
            *counter = counter.saturating_add(1);
        }
    }

    /// Adds one occurrence of the key with hash `hash` to each of its
    /// counters below `max` (Caffeine's conservative 4-bit increment);
    /// returns whether any counter changed.
    pub(crate) fn increment_capped(&mut self, hash: u64, max: u16) -> bool {
        let mut added = false;
        for row in 0..DEPTH {
            let slot = self.slot(row, hash);
            let counter = &mut self.rows[row][slot];
            if *counter < max {
                *counter += 1;
                added = true;
            }
        }
        added
    }

    /// The estimated number of occurrences of the key with hash `hash`.
    pub(crate) fn estimate(&self, hash: u64) -> u16 {
        (0..DEPTH)
            .map(|row| self.rows[row][self.slot(row, hash)])
            .min()
            .unwrap_or(0)
    }

    /// Halves every counter (ageing).
    pub(crate) fn halve(&mut self) {
        for row in &mut self.rows {
            for counter in row.iter_mut() {
                *counter >>= 1;
            }
        }
    }

    /// Doubles the width, keeping every estimate unchanged.
    pub(crate) fn grow(&mut self) {
        for row in &mut self.rows {
            let copy = row.clone();
            row.extend_from_slice(&copy);
        }
        self.mask = self.width() as u64 - 1;
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
}
