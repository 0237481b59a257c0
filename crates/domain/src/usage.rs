//! What a usage report is made of: the hot keys of a sampled stream of
//! reads ([`SpaceSaving`]) and size histograms ([`SizeHistogram`]).
//!
//! Space-Saving (Metwally, Agrawal and El Abbadi, "Efficient Computation
//! of Frequent and Top-k Elements in Data Streams", ICDT 2005) keeps `m`
//! counters. A key already counted adds one to its counter; a new key
//! takes over the counter with the smallest count `min`, starting at
//! `min + 1` with error `min`. Every key's counter then over-estimates its
//! true count by at most its error, and every error is at most `N / m`
//! for a stream of `N` items; any key more frequent than `N / m` is
//! counted. Pure: no clock, no locking, no sampling (the caller samples).

use std::collections::HashMap;

/// Counters of a [`SpaceSaving`] summary kept per cache.
pub const HOT_KEY_COUNTERS: usize = 200;

/// A counted key: its estimated count and the most that estimate may be
/// above the truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotKey {
    /// The key.
    pub key: String,
    /// Estimated occurrences: at least the true count, at most
    /// `error` more.
    pub count: u64,
    /// The over-estimate bound of `count`.
    pub error: u64,
}

/// See the module docs.
#[derive(Clone, Debug)]
pub struct SpaceSaving {
    capacity: usize,
    counters: Vec<HotKey>,
    index: HashMap<String, usize>,
    total: u64,
}

impl SpaceSaving {
    /// A summary with `capacity` counters (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            counters: Vec::new(),
            index: HashMap::new(),
            total: 0,
        }
    }

    /// Counts one occurrence of `key`.
    pub fn offer(&mut self, key: &str) {
        self.total += 1;
        if let Some(&i) = self.index.get(key) {
            self.counters[i].count += 1;
            return;
        }
        if self.counters.len() < self.capacity {
            self.index.insert(key.to_owned(), self.counters.len());
            self.counters.push(HotKey {
                key: key.to_owned(),
                count: 1,
                error: 0,
            });
            return;
        }
        // The counter with the smallest count: a linear scan, fine for
        // the few hundred counters of a sampled stream.
        let (i, min) = self
            .counters
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.count)
            .map(|(i, c)| (i, c.count))
            .unwrap_or((0, 0));
        let evicted = std::mem::replace(
            &mut self.counters[i],
            HotKey {
                key: key.to_owned(),
                count: min + 1,
                error: min,
            },
        );
        self.index.remove(&evicted.key);
        self.index.insert(key.to_owned(), i);
    }

    /// Items offered so far (`N`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The guaranteed bound of every error: `N / m`, rounded down.
    pub fn error_bound(&self) -> u64 {
        self.total / self.capacity as u64
    }

    /// The `n` keys with the highest counts, highest first (ties by key).
    pub fn top(&self, n: usize) -> Vec<HotKey> {
        let mut all = self.counters.clone();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        all.truncate(n);
        all
    }

    /// Bytes the summary holds (keys, counters, index).
    pub fn memory_bytes(&self) -> usize {
        self.counters
            .iter()
            .map(|c| 2 * c.key.len() + std::mem::size_of::<HotKey>() + 24)
            .sum()
    }
}

/// A histogram of sizes in bytes by power of two: bucket `i` counts sizes
/// from `2^(i-1)` to `2^i - 1` bytes (bucket 0: empty values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeHistogram {
    counts: [u64; 41],
}

impl Default for SizeHistogram {
    fn default() -> Self {
        Self { counts: [0; 41] }
    }
}

impl SizeHistogram {
    /// Counts one size.
    pub fn record(&mut self, bytes: u64) {
        let bucket = (64 - bytes.leading_zeros() as usize).min(self.counts.len() - 1);
        self.counts[bucket] += 1;
    }

    /// `(upper bound in bytes, count)` of every non-empty bucket, smallest
    /// first: a size `s` is counted under the smallest power of two above
    /// it, minus one (0 for empty).
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| (if i == 0 { 0 } else { (1u64 << i) - 1 }, c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic Zipf(s) stream over `keys` keys (inverse CDF with
    /// a fixed linear congruential generator).
    fn zipf(keys: usize, s: f64, n: usize) -> Vec<usize> {
        let weights: Vec<f64> = (1..=keys).map(|k| 1.0 / (k as f64).powf(s)).collect();
        let total: f64 = weights.iter().sum();
        let mut cdf = Vec::with_capacity(keys);
        let mut acc = 0.0;
        for w in weights {
            acc += w / total;
            cdf.push(acc);
        }
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                cdf.partition_point(|&c| c < u).min(keys - 1)
            })
            .collect()
    }

    #[test]
    fn finds_the_top_ten_of_a_zipf_stream_within_its_bound() {
        let stream = zipf(10_000, 1.0, 100_000);
        let mut truth = vec![0u64; 10_000];
        let mut summary = SpaceSaving::new(HOT_KEY_COUNTERS);
        for &k in &stream {
            truth[k] += 1;
            summary.offer(&format!("key{k}"));
        }
        let top = summary.top(10);
        let mut expected: Vec<usize> = (0..10_000).collect();
        expected.sort_by(|a, b| truth[*b].cmp(&truth[*a]));
        let names: Vec<_> = top.iter().map(|h| h.key.clone()).collect();
        for k in &expected[..10] {
            assert!(
                names.contains(&format!("key{k}")),
                "key{k} missing: {names:?}"
            );
        }
        for h in &top {
            let k: usize = h.key[3..].parse().unwrap();
            assert!(h.count >= truth[k], "{h:?} under {}", truth[k]);
            assert!(h.count - truth[k] <= h.error, "{h:?} vs {}", truth[k]);
            assert!(h.error <= summary.error_bound());
        }
        assert_eq!(summary.total(), 100_000);
    }

    #[test]
    fn a_new_key_takes_the_smallest_counter() {
        let mut s = SpaceSaving::new(2);
        for k in ["a", "a", "b", "c"] {
            s.offer(k);
        }
        let top = s.top(2);
        assert_eq!(top[0].key, "a");
        assert_eq!(
            top[1],
            HotKey {
                key: "c".into(),
                count: 2,
                error: 1
            }
        );
    }

    #[test]
    fn sizes_fall_in_power_of_two_buckets() {
        let mut h = SizeHistogram::default();
        for s in [0, 1, 2, 3, 4, 1000, 1023, 1024] {
            h.record(s);
        }
        assert_eq!(
            h.buckets(),
            vec![(0, 1), (1, 1), (3, 2), (7, 1), (1023, 2), (2047, 1)]
        );
    }
}
