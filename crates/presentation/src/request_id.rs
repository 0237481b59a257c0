//! [`RequestId`]: the id of one HTTP request, 128 bits shown as a UUID
//! (8-4-4-4-12 lowercase hex, version 4 layout): a per-process random
//! seed mixed with a counter through SplitMix64, so ids look random,
//! collide no more than v4 UUIDs do, and cost no system call (a v4 UUID
//! from the `uuid` crate reads the OS's random source per request).

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A request's id, in the request's extensions; `Display` gives the UUID
/// form sent as `X-Request-Id` and written to audit records.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u128);

impl RequestId {
    /// The next id of this process.
    pub fn next() -> Self {
        static SEED: OnceLock<(u64, u64)> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (hi, lo) = *SEED.get_or_init(|| (rand::random(), rand::random()));
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let high = splitmix64(n ^ hi);
        let low = splitmix64(n.rotate_left(32) ^ lo);
        // The version (4) and variant (10) bits of a random UUID.
        let id = (u128::from(high) << 64 | u128::from(low)) & !(0xF << 76) & !(0b11 << 62)
            | (0x4 << 76)
            | (0b10 << 62);
        Self(id)
    }
}

/// SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA'14): a bijection on `u64`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xFFFF_FFFF_FFFF
        )
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({self})")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_distinct_uuids() {
        let ids: HashSet<String> = (0..10_000).map(|_| RequestId::next().to_string()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                vec![8, 4, 4, 4, 12],
                "{id}"
            );
            assert!(parts[2].starts_with('4'), "version 4: {id}");
            assert!(
                matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
                "variant: {id}"
            );
            assert!(
                id.chars()
                    .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }
}
