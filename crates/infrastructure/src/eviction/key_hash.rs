//! The hasher of the policies' key index ([`Entries`](super::keyed::Entries)).
//!
//! A policy over 64-bit keys (every simulation: `strata simulate`, the
//! miniatures of the live curves, the offline `auto` replay) hashes one
//! word per lookup, and SipHash-1-3 on one word was the largest single cost
//! of a replay (about 30% of the workload-family suite's time). A key that
//! hashes as exactly one `u64` is therefore mixed by one folded multiply
//! (the 128-bit product's halves XORed, as foldhash and aHash do) of the
//! word XOR a random per-table seed; any other key
//! (a store's textual keys) is hashed by the standard library's randomly
//! keyed SipHash-1-3, as before. Either way the hash only places keys in
//! the index: no policy decision depends on it, so replays are unchanged.
//!
//! The seeded mix keeps the index's lookups fast for adversarial 64-bit
//! keys as far as the seed stays unknown; textual keys, which clients
//! choose, keep SipHash's protection against hash flooding.

use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};

/// The odd constant of the folded multiply (the fractional digits of pi,
/// as in foldhash).
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;

/// The folded multiply of a seeded word: the 128-bit product of `word ^
/// seed` and [`MULTIPLIER`], its high and low halves XORed.
#[inline(always)]
fn fold(word: u64, seed: u64) -> u64 {
    let product = u128::from(word ^ seed) * u128::from(MULTIPLIER);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Builds [`KeyHashing`] hashers: a random SipHash key and a random seed,
/// drawn once per table.
#[derive(Debug, Clone)]
pub(crate) struct KeyHasher {
    sip: RandomState,
    seed: u64,
}

impl Default for KeyHasher {
    fn default() -> Self {
        let sip = RandomState::new();
        let seed = RandomState::new().hash_one(0x5eed_u64);
        Self { sip, seed }
    }
}

impl BuildHasher for KeyHasher {
    type Hasher = KeyHashing;

    #[inline(always)]
    fn build_hasher(&self) -> KeyHashing {
        KeyHashing {
            sip: self.sip.build_hasher(),
            word: None,
            sipped: false,
            seed: self.seed,
        }
    }
}

/// A hasher that mixes a lone `u64` with a seed and hashes anything else
/// with SipHash-1-3 (see the module docs).
#[derive(Debug)]
pub(crate) struct KeyHashing {
    sip: DefaultHasher,
    /// The one word written, while nothing else was.
    word: Option<u64>,
    /// Whether anything was fed to `sip`.
    sipped: bool,
    seed: u64,
}

impl KeyHashing {
    /// Readies `sip` for more input: a word written alone so far goes in
    /// first.
    #[inline]
    fn feed(&mut self) -> &mut DefaultHasher {
        if let Some(word) = self.word.take() {
            self.sip.write_u64(word);
        }
        self.sipped = true;
        &mut self.sip
    }
}

impl Hasher for KeyHashing {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.feed().write(bytes);
    }

    #[inline(always)]
    fn write_u64(&mut self, word: u64) {
        if self.sipped || self.word.is_some() {
            self.feed().write_u64(word);
        } else {
            self.word = Some(word);
        }
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        match self.word {
            Some(word) => fold(word, self.seed),
            None => self.sip.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_words_are_mixed_with_the_seed() {
        let hasher = KeyHasher::default();
        assert_eq!(hasher.hash_one(42_u64), hasher.hash_one(42_u64));
        assert_eq!(hasher.hash_one(42_u64), fold(42, hasher.seed));
        assert_eq!(hasher.hash_one("key"), hasher.hash_one("key"));
        assert_eq!(
            hasher.hash_one((1_u64, 2_u64)),
            hasher.hash_one((1_u64, 2_u64))
        );
        // Two words go to SipHash, never to the one-word mix.
        assert_ne!(hasher.hash_one((1_u64, 2_u64)), fold(1, hasher.seed));
        // Another table draws another seed.
        assert_ne!(KeyHasher::default().seed, hasher.seed);
    }
}
