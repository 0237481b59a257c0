//! Synthetic request traces, deterministic for a seed: the workloads the
//! curve-accuracy, `auto` and adaptive W-TinyLFU checks replay (see
//! `docs/eviction.md`). Object mode: every request has size 1.

use super::simulator::Request;

/// splitmix64: a small, fast, seedable generator (Steele et al., 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        super::mrc::mix64(self.0)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Draws ranks `0..n` from a Zipf distribution of exponent `s` by
/// inverting a precomputed CDF (binary search, `8 n` bytes).
#[derive(Debug, Clone)]
pub struct ZipfRanks {
    cdf: Vec<f64>,
}

impl ZipfRanks {
    /// Ranks `0..n` (rank 0 most popular), weight `1 / (rank + 1)^s`.
    pub fn new(n: u64, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut sum = 0.0;
        for rank in 0..n {
            sum += 1.0 / ((rank + 1) as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Self { cdf }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut SplitMix64) -> u64 {
        let u = rng.next_f64();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

fn request(key: u64) -> Request {
    Request { key, size: 1 }
}

/// `len` requests drawn from Zipf(`s`) over `keys` keys (keys are ranks
/// offset by `base`).
pub fn zipf(keys: u64, s: f64, len: usize, seed: u64, base: u64) -> Vec<Request> {
    let ranks = ZipfRanks::new(keys, s);
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| request(base + ranks.sample(&mut rng)))
        .collect()
}

/// Zipf(`s`) over `keys` keys, interrupted every `every` requests by a
/// scan of `scan` keys never requested before.
pub fn zipf_with_scans(
    keys: u64,
    s: f64,
    len: usize,
    every: usize,
    scan: usize,
    seed: u64,
) -> Vec<Request> {
    let ranks = ZipfRanks::new(keys, s);
    let mut rng = SplitMix64::new(seed);
    let mut next_fresh = keys;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        for _ in 0..every {
            out.push(request(ranks.sample(&mut rng)));
        }
        for _ in 0..scan {
            out.push(request(next_fresh));
            next_fresh += 1;
        }
    }
    out.truncate(len);
    out
}

/// A loop over `keys` keys, repeated to `len` requests.
pub fn looping(keys: u64, len: usize) -> Vec<Request> {
    (0..len as u64).map(|i| request(i % keys)).collect()
}

/// A recency-biased trace: each request re-references the key requested
/// `d` requests ago, `d` uniform in `1..=depth` (a sliding working set of
/// about `depth` keys), or with probability `fresh` a key never seen.
/// Recency predicts reuse and frequency does not, which favours LRU.
pub fn recency(depth: usize, fresh: f64, len: usize, seed: u64) -> Vec<Request> {
    let mut rng = SplitMix64::new(seed);
    let mut out: Vec<Request> = Vec::with_capacity(len);
    let mut next_fresh = 0u64;
    while out.len() < len {
        if out.len() < depth || rng.next_f64() < fresh {
            out.push(request(next_fresh));
            next_fresh += 1;
        } else {
            let d = 1 + rng.below(depth as u64) as usize;
            out.push(out[out.len() - d]);
        }
    }
    out
}

/// A multi-program mix: each request comes, with probability `scan_share`,
/// from a program that scans keys `base..base + scan` in order, over and
/// over, and otherwise from one drawing Zipf(`s`) over `keys` hot keys
/// (the interleaved "multi-program" traces of Jiang and Zhang's LIRS
/// evaluation, SIGMETRICS 2002).
pub fn multi_program(
    keys: u64,
    s: f64,
    scan: u64,
    scan_share: f64,
    len: usize,
    seed: u64,
) -> Vec<Request> {
    let ranks = ZipfRanks::new(keys, s);
    let mut rng = SplitMix64::new(seed);
    let mut cursor = 0u64;
    (0..len)
        .map(|_| {
            if rng.next_f64() < scan_share {
                cursor = (cursor + 1) % scan.max(1);
                request(keys + cursor)
            } else {
                request(ranks.sample(&mut rng))
            }
        })
        .collect()
}

/// A zigzag: keys `0..keys` read forwards, then backwards, repeated to
/// `len` requests (LIRS' "zigzag" pattern: recency wins at the turns).
pub fn zigzag(keys: u64, len: usize) -> Vec<Request> {
    let period = 2 * keys.max(1);
    (0..len as u64)
        .map(|i| {
            let at = i % period;
            request(if at < keys { at } else { period - 1 - at })
        })
        .collect()
}

/// Zipf(`s`) over `keys` keys whose working set moves halfway: the second
/// half draws over `keys` other keys.
pub fn shifting(keys: u64, s: f64, len: usize, seed: u64) -> Vec<Request> {
    let mut out = zipf(keys, s, len / 2, seed, 0);
    out.extend(zipf(keys, s, len - len / 2, seed ^ 0x5eed, keys));
    out
}

/// A web-like trace: Zipf(`s`) over `keys` keys, and with probability
/// `one_hit` a key requested once and never again (a one-hit wonder, the
/// share SIEVE's and S3-FIFO's papers report for web and CDN traces).
pub fn web(keys: u64, s: f64, one_hit: f64, len: usize, seed: u64) -> Vec<Request> {
    let ranks = ZipfRanks::new(keys, s);
    let mut rng = SplitMix64::new(seed);
    let mut next_fresh = keys;
    (0..len)
        .map(|_| {
            if rng.next_f64() < one_hit {
                next_fresh += 1;
                request(next_fresh)
            } else {
                request(ranks.sample(&mut rng))
            }
        })
        .collect()
}

/// A regime change: `first` requests of Zipf(`s`) over `keys` keys with a
/// scan of `scan` new keys every `every` requests, then a loop over
/// `loop_keys` keys unseen in the first phase, to `len` requests.
#[expect(clippy::too_many_arguments, reason = "one knob per phase")]
pub fn zipf_scans_then_loop(
    keys: u64,
    s: f64,
    every: usize,
    scan: usize,
    first: usize,
    loop_keys: u64,
    len: usize,
    seed: u64,
) -> Vec<Request> {
    let mut out = zipf_with_scans(keys, s, first.min(len), every, scan, seed);
    let base = 1 << 40;
    out.extend(
        looping(loop_keys, len - out.len())
            .into_iter()
            .map(|r| request(base + r.key)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_is_skewed_and_deterministic() {
        let a = zipf(1000, 1.0, 10_000, 7, 0);
        assert_eq!(a, zipf(1000, 1.0, 10_000, 7, 0));
        let top = a.iter().filter(|r| r.key == 0).count();
        // Rank 0 of Zipf(1.0) over 1000 keys has probability 1/H(1000) = 0.134.
        assert!((1100..1600).contains(&top), "{top}");
    }

    #[test]
    fn recency_reuses_recent_keys() {
        let trace = recency(100, 0.1, 10_000, 1);
        let distinct: std::collections::HashSet<u64> = trace.iter().map(|r| r.key).collect();
        assert!(
            distinct.len() < 2_000 && distinct.len() > 500,
            "{}",
            distinct.len()
        );
    }
}
