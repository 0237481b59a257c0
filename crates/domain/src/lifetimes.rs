//! What happens to the entries of a cache between their write and their
//! end: the TTL they were written with, and whether anyone read them
//! before they expired or were evicted ("one-hit wonders": written once,
//! never read; a cache full of them spends its memory on nothing).
//!
//! [`EntryLifetimes`] follows a spatial sample of the keys, as SHARDS
//! (Waldspurger et al., "Efficient MRC Construction with SHARDS", FAST
//! 2015) does for miss-ratio curves: a key is followed when its hash is
//! below a threshold, so every access of a followed key is seen, and the
//! fixed-size variant lowers the threshold (halving it here) whenever the
//! table is full, forgetting the keys above it. The sample stays uniform
//! over keys and its memory bounded.
//!
//! A followed entry's life ends when:
//! - a read misses it: it was evicted or removed before its expiry, or it
//!   expired (the read came after `expires_at`);
//! - its expiry passes ([`EntryLifetimes::settle`]): it expired;
//! - a write replaces it: replaced (neither expired nor evicted, so not
//!   counted among the endings a one-hit-wonder share is taken over).
//!
//! Pure: no clock (callers pass milliseconds since the Unix epoch), no
//! hashing (callers pass the key's 64-bit hash), no locking.

use std::collections::HashMap;

use crate::SizeHistogram;

/// Keys an [`EntryLifetimes`] follows at most, per cache.
pub const LIFETIME_SAMPLE_KEYS: usize = 1024;

/// One followed entry: when it was written, when it expires, how often it
/// was read and when last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lifetime {
    written_ms: u64,
    expires_ms: Option<u64>,
    reads: u64,
    last_read_ms: u64,
}

/// How followed lives ended, and the TTLs entries were written with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifetimeCounts {
    /// Lives that ended at their expiry.
    pub expired: u64,
    /// Of those, lives without a single read.
    pub expired_unread: u64,
    /// Lives that ended before their expiry: a read missed them (evicted,
    /// deleted, invalidated or flushed).
    pub evicted: u64,
    /// Of those, lives without a single read.
    pub evicted_unread: u64,
    /// Lives a write replaced.
    pub replaced: u64,
    /// TTLs of the followed writes, in seconds, by power of two.
    pub ttl_secs: SizeHistogram,
    /// Followed writes without a TTL.
    pub no_ttl: u64,
    /// Of the lives that were read, the age of the entry at its last
    /// read, in seconds, by power of two: how long an entry stays
    /// wanted.
    pub last_read_age_secs: SizeHistogram,
    /// Expired lives whose key was asked for again (a miss) within one
    /// TTL after the expiry: misses a TTL twice as long would have
    /// served.
    pub requested_after_expiry: u64,
}

impl LifetimeCounts {
    /// Expired and evicted lives without a read over all expired and
    /// evicted lives; `None` before any ended.
    pub fn one_hit_wonder_share(&self) -> Option<f64> {
        let ended = self.expired + self.evicted;
        (ended > 0).then(|| (self.expired_unread + self.evicted_unread) as f64 / ended as f64)
    }
}

/// See the module docs.
#[derive(Clone, Debug)]
pub struct EntryLifetimes {
    capacity: usize,
    threshold: u64,
    live: HashMap<u64, Lifetime>,
    /// Lives that expired, by key hash: until when a miss counts as a
    /// request after expiry (the expiry plus one TTL).
    expired: HashMap<u64, u64>,
    counts: LifetimeCounts,
}

impl Default for EntryLifetimes {
    fn default() -> Self {
        Self::new(LIFETIME_SAMPLE_KEYS)
    }
}

impl EntryLifetimes {
    /// Follows at most `capacity` keys (at least 1), starting with every
    /// key.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            threshold: u64::MAX,
            live: HashMap::new(),
            expired: HashMap::new(),
            counts: LifetimeCounts::default(),
        }
    }

    /// Whether a key of `hash` is followed: callers skip the others (and
    /// any locking) before calling [`write`](Self::write) or
    /// [`read`](Self::read).
    pub fn follows(threshold: u64, hash: u64) -> bool {
        hash <= threshold
    }

    /// The current threshold: keys whose hash is at most this are followed.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The share of keys followed, in `(0, 1]`.
    pub fn sampling_rate(&self) -> f64 {
        (self.threshold as f64 + 1.0) / 2f64.powi(64)
    }

    /// A write of the key of `hash` at `now_ms`, expiring at `expires_ms`
    /// (`None`: no TTL). Ends the life it replaces.
    pub fn write(&mut self, hash: u64, now_ms: u64, expires_ms: Option<u64>) {
        if !Self::follows(self.threshold, hash) {
            return;
        }
        match expires_ms {
            Some(at) => self
                .counts
                .ttl_secs
                .record(at.saturating_sub(now_ms) / 1000),
            None => self.counts.no_ttl += 1,
        }
        let life = Lifetime {
            written_ms: now_ms,
            expires_ms,
            reads: 0,
            last_read_ms: now_ms,
        };
        self.expired.remove(&hash);
        if let Some(old) = self.live.insert(hash, life) {
            if old.expires_ms.is_some_and(|at| at <= now_ms) {
                self.count_expired(old);
                // Rewritten, not asked for: not a request after expiry.
                self.expired.remove(&hash);
            } else {
                self.count_read_age(&old);
                self.counts.replaced += 1;
            }
            return;
        }
        while self.live.len() > self.capacity {
            self.settle(now_ms);
            if self.live.len() <= self.capacity {
                break;
            }
            // Fixed-size SHARDS: follow half as many keys.
            self.threshold /= 2;
            let threshold = self.threshold;
            self.live.retain(|&h, _| h <= threshold);
            self.expired.retain(|&h, _| h <= threshold);
        }
    }

    /// A read of the key of `hash` at `now_ms`; `hit` when it found the
    /// entry.
    pub fn read(&mut self, hash: u64, now_ms: u64, hit: bool) {
        if !Self::follows(self.threshold, hash) {
            return;
        }
        if hit {
            if let Some(life) = self.live.get_mut(&hash) {
                life.reads += 1;
                life.last_read_ms = now_ms;
            }
        } else if let Some(old) = self.live.remove(&hash) {
            if old.expires_ms.is_some_and(|at| at <= now_ms) {
                self.count_expired(old);
                // Asked for after its expiry, within one TTL?
                let ttl = old
                    .expires_ms
                    .map_or(0, |at| at.saturating_sub(old.written_ms));
                if old
                    .expires_ms
                    .is_some_and(|at| now_ms <= at.saturating_add(ttl))
                {
                    self.counts.requested_after_expiry += 1;
                }
            } else {
                self.count_read_age(&old);
                self.counts.evicted += 1;
                if old.reads == 0 {
                    self.counts.evicted_unread += 1;
                }
            }
        } else {
            self.missed_after_expiry(hash, now_ms);
        }
    }

    /// Ends every followed life whose expiry is at or before `now_ms`.
    pub fn settle(&mut self, now_ms: u64) {
        let mut ended = Vec::new();
        self.live.retain(|&hash, life| {
            let over = life.expires_ms.is_some_and(|at| at <= now_ms);
            if over {
                ended.push((hash, *life));
            }
            !over
        });
        for (hash, life) in ended {
            self.count_expired(life);
            self.remember_expiry(hash, life);
        }
        self.expired.retain(|_, until| *until > now_ms);
    }

    fn count_expired(&mut self, life: Lifetime) {
        self.count_read_age(&life);
        self.counts.expired += 1;
        if life.reads == 0 {
            self.counts.expired_unread += 1;
        }
    }

    /// Records how old a read life was at its last read.
    fn count_read_age(&mut self, life: &Lifetime) {
        if life.reads > 0 {
            self.counts
                .last_read_age_secs
                .record(life.last_read_ms.saturating_sub(life.written_ms) / 1000);
        }
    }

    /// Keeps an expired life's key for one more TTL, so a miss on it
    /// counts as a request after expiry (bounded like the live table).
    fn remember_expiry(&mut self, hash: u64, life: Lifetime) {
        let Some(at) = life.expires_ms else {
            return;
        };
        if self.expired.len() >= self.capacity {
            // Forget the soonest to lapse half.
            let mut untils: Vec<u64> = self.expired.values().copied().collect();
            untils.sort_unstable();
            let cut = untils[untils.len() / 2];
            self.expired.retain(|_, until| *until > cut);
        }
        let ttl = at.saturating_sub(life.written_ms);
        self.expired.insert(hash, at.saturating_add(ttl));
    }

    /// A miss of the key of `hash` at `now_ms`: a request after expiry
    /// when it expired within one TTL.
    fn missed_after_expiry(&mut self, hash: u64, now_ms: u64) {
        if let Some(until) = self.expired.remove(&hash)
            && now_ms <= until
        {
            self.counts.requested_after_expiry += 1;
        }
    }

    /// The counts so far (call [`settle`](Self::settle) first to count
    /// the lives that expired since the last access).
    pub fn counts(&self) -> &LifetimeCounts {
        &self.counts
    }

    /// Keys followed now.
    pub fn followed(&self) -> usize {
        self.live.len()
    }

    /// Bytes the followed keys take, roughly.
    pub fn memory_bytes(&self) -> usize {
        self.live.capacity() * (std::mem::size_of::<(u64, Lifetime)>() + 8)
            + self.expired.capacity() * 24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_that_expires_unread_is_a_one_hit_wonder_and_a_read_one_is_not() {
        let mut l = EntryLifetimes::new(16);
        l.write(1, 0, Some(10_000));
        l.write(2, 0, Some(10_000));
        l.read(2, 5_000, true);
        l.settle(9_999);
        assert_eq!(l.counts().expired, 0);
        l.settle(10_000);
        let c = l.counts();
        assert_eq!((c.expired, c.expired_unread), (2, 1));
        assert_eq!(c.one_hit_wonder_share(), Some(0.5));
        assert_eq!(l.followed(), 0);
    }

    #[test]
    fn a_miss_before_the_expiry_ends_the_life_as_evicted() {
        let mut l = EntryLifetimes::new(16);
        l.write(1, 0, None);
        l.write(2, 0, Some(60_000));
        l.read(2, 1_000, true);
        l.read(1, 2_000, false);
        l.read(2, 3_000, false);
        let c = l.counts();
        assert_eq!((c.evicted, c.evicted_unread, c.expired), (2, 1, 0));
        // A miss of a key nobody follows any more changes nothing.
        l.read(2, 4_000, false);
        assert_eq!(l.counts().evicted, 2);
    }

    #[test]
    fn a_miss_after_the_expiry_counts_as_expired() {
        let mut l = EntryLifetimes::new(16);
        l.write(1, 0, Some(1_000));
        l.read(1, 5_000, false);
        assert_eq!((l.counts().expired, l.counts().evicted), (1, 0));
    }

    #[test]
    fn a_key_asked_for_within_a_ttl_after_its_expiry_is_counted() {
        let mut l = EntryLifetimes::new(16);
        // Read at 40 s, expired at 60 s, asked for again at 100 s.
        l.write(1, 0, Some(60_000));
        l.read(1, 40_000, true);
        l.settle(60_000);
        l.read(1, 100_000, false);
        // Expired at 60 s, asked for at 200 s: more than a TTL later.
        l.write(2, 0, Some(60_000));
        l.settle(60_000);
        l.read(2, 200_000, false);
        // Missed before it was settled, within a TTL.
        l.write(3, 0, Some(60_000));
        l.read(3, 90_000, false);
        let c = l.counts();
        assert_eq!(c.requested_after_expiry, 2);
        assert_eq!(c.expired, 3);
        assert_eq!(c.last_read_age_secs.buckets(), vec![(63, 1)]);
    }

    #[test]
    fn a_replaced_entry_is_neither_expired_nor_evicted() {
        let mut l = EntryLifetimes::new(16);
        l.write(1, 0, Some(60_000));
        l.write(1, 1_000, Some(60_000));
        let c = l.counts();
        assert_eq!((c.replaced, c.expired, c.evicted), (1, 0, 0));
        assert_eq!(c.one_hit_wonder_share(), None);
    }

    #[test]
    fn ttls_are_counted_by_power_of_two_of_seconds() {
        let mut l = EntryLifetimes::new(16);
        l.write(1, 0, Some(60_000));
        l.write(2, 0, Some(61_000));
        l.write(3, 0, Some(3_600_000));
        l.write(4, 0, None);
        let c = l.counts();
        assert_eq!(c.ttl_secs.buckets(), vec![(63, 2), (4095, 1)]);
        assert_eq!(c.no_ttl, 1);
    }

    #[test]
    fn a_full_table_halves_the_threshold_and_forgets_the_keys_above_it() {
        let mut l = EntryLifetimes::new(4);
        let hashes = [1, u64::MAX / 4, u64::MAX / 2 + 1, u64::MAX - 1, 2];
        for h in hashes {
            l.write(h, 0, None);
        }
        assert_eq!(l.threshold(), u64::MAX / 2);
        assert_eq!(l.followed(), 3);
        assert!((l.sampling_rate() - 0.5).abs() < 1e-9);
        // A key above the threshold is not followed any more.
        l.write(u64::MAX - 1, 0, None);
        assert_eq!(l.followed(), 3);
        assert!(l.memory_bytes() > 0);
    }

    #[test]
    fn a_full_table_first_drops_what_expired() {
        let mut l = EntryLifetimes::new(2);
        l.write(1, 0, Some(1_000));
        l.write(2, 0, Some(1_000));
        l.write(u64::MAX, 5_000, None);
        assert_eq!(l.threshold(), u64::MAX, "no key forgotten");
        assert_eq!(l.counts().expired_unread, 2);
    }
}
