//! [`RequestId`]: the id of one HTTP request, 128 bits shown as a UUID
//! (8-4-4-4-12 lowercase hex, version 4 layout): a per-process random
//! seed mixed with a counter through SplitMix64, so ids look random,
//! collide no more than v4 UUIDs do, and cost no system call (a v4 UUID
//! from the `uuid` crate reads the OS's random source per request).
//! A trusted proxy's own id ([`RequestIdText::from_proxy`]) is kept
//! instead, so its log and ours name a request alike.

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

impl RequestId {
    /// The UUID form (`8-4-4-4-12` lowercase hex, 36 bytes) without the
    /// formatting machinery: the request middleware needs it once per
    /// request, for the header and the span.
    pub fn text(self) -> RequestIdText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; RequestIdText::MAX_LEN];
        let mut nibble = 0;
        for (i, byte) in out[..36].iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            *byte = HEX[((self.0 >> (124 - 4 * nibble)) & 0xF) as usize];
            nibble += 1;
        }
        RequestIdText {
            bytes: out,
            len: 36,
        }
    }
}

/// A request's id as text: a [`RequestId`] in its 36-byte UUID form
/// ([`RequestId::text`]), or a trusted proxy's `X-Request-Id`
/// ([`from_proxy`](Self::from_proxy)). `Copy`, so the task-local that
/// carries it costs no allocation.
#[derive(Clone, Copy)]
pub struct RequestIdText {
    bytes: [u8; Self::MAX_LEN],
    len: u8,
}

impl RequestIdText {
    /// The longest id kept from a proxy, in bytes.
    pub const MAX_LEN: usize = 64;

    /// A trusted proxy's `X-Request-Id`, when it is 1 to
    /// [`MAX_LEN`](Self::MAX_LEN) bytes of `A-Z a-z 0-9 - _ . :` (nginx's
    /// `$request_id` is 32 hex digits, Envoy's a UUID); `None` otherwise,
    /// and the request gets an id of its own. The alphabet keeps log lines
    /// and headers unambiguous.
    pub fn from_proxy(raw: &[u8]) -> Option<Self> {
        let fits = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if !fits {
            return None;
        }
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Self {
            bytes,
            len: u8::try_from(raw.len()).ok()?,
        })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII of the alphabet above is ever written.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
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
    fn text_is_the_uuid_layout_of_the_bits() {
        let id = RequestId(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(id.text().as_str(), "01234567-89ab-cdef-fedc-ba9876543210");
        assert_eq!(id.to_string(), id.text().as_str());
    }

    #[test]
    fn proxy_ids_are_kept_only_when_short_and_plain() {
        let nginx = "0f3c9a7d2b1e4c5f8a6b7c8d9e0f1a2b";
        assert_eq!(
            RequestIdText::from_proxy(nginx.as_bytes())
                .unwrap()
                .as_str(),
            nginx
        );
        let longest = "a".repeat(RequestIdText::MAX_LEN);
        assert_eq!(
            RequestIdText::from_proxy(longest.as_bytes())
                .unwrap()
                .as_str(),
            longest
        );
        for bad in [
            "".to_owned(),
            "a".repeat(RequestIdText::MAX_LEN + 1),
            "has space".to_owned(),
            "new\nline".to_owned(),
            "quote\"".to_owned(),
            "é".to_owned(),
        ] {
            assert!(
                RequestIdText::from_proxy(bad.as_bytes()).is_none(),
                "{bad:?}"
            );
        }
    }

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
