//! [`Digest`] and [`DigestHash`]: how the build cache names content.

use std::fmt;

/// Length of a SHA-256 digest in lowercase hex: 64 characters.
pub const SHA256_HEX_LEN: usize = 64;

/// A SHA-256 hash (32 bytes), written as 64 lowercase hex characters.
///
/// It keys CAS blobs (the hash of their content) and AC entries (the hash
/// of the serialized `Action`; ccache's `layout=bazel` uses its own
/// 64-hex keys, which are not content hashes).
///
/// ```
/// use strata_domain::DigestHash;
/// let h = DigestHash::parse("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
///     .unwrap_err(); // upper case is rejected: REAPI digests are lowercase
/// let h = DigestHash::parse(&"ab".repeat(32)).unwrap();
/// assert_eq!(h.to_string(), "ab".repeat(32));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DigestHash([u8; 32]);

/// Why a string is not a digest hash (or a digest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDigest {
    /// Not exactly [`SHA256_HEX_LEN`] characters.
    #[error("a SHA-256 digest has 64 hex characters, got {0}")]
    Length(usize),
    /// A character outside `0-9a-f` (upper case is rejected too).
    #[error("a SHA-256 digest is lowercase hex (0-9, a-f)")]
    NotHex,
    /// A negative size (REAPI's `size_bytes` is an `int64`).
    #[error("a digest's size must not be negative, got {0}")]
    NegativeSize(i64),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

impl DigestHash {
    /// The SHA-256 of the empty string,
    /// `e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`.
    pub const EMPTY: DigestHash = DigestHash([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// Parses 64 lowercase hex characters.
    ///
    /// # Errors
    /// [`InvalidDigest::Length`] or [`InvalidDigest::NotHex`].
    pub fn parse(hex: &str) -> Result<Self, InvalidDigest> {
        let bytes = hex.as_bytes();
        if bytes.len() != SHA256_HEX_LEN {
            return Err(InvalidDigest::Length(bytes.len()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or(InvalidDigest::NotHex)?;
            let lo = hex_value(pair[1]).ok_or(InvalidDigest::NotHex)?;
            out[i] = hi << 4 | lo;
        }
        Ok(Self(out))
    }

    /// A hash from its 32 raw bytes (e.g. a SHA-256 hasher's output).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, as an array (no allocation).
    pub fn to_hex(&self) -> [u8; SHA256_HEX_LEN] {
        let mut out = [0u8; SHA256_HEX_LEN];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        out
    }

    /// Whether the hex form starts with `prefix` (lowercase hex).
    pub fn has_hex_prefix(&self, prefix: &str) -> bool {
        self.to_hex().starts_with(prefix.as_bytes())
    }
}

impl fmt::Display for DigestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        // The array holds ASCII hex digits only.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for DigestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigestHash({self})")
    }
}

/// A REAPI digest: the SHA-256 of a blob and its size in bytes.
///
/// ```
/// use strata_domain::{Digest, DigestHash};
/// assert_eq!(Digest::EMPTY.hash(), &DigestHash::EMPTY);
/// assert_eq!(Digest::EMPTY.size_bytes(), 0);
/// let d = Digest::parse(&"0f".repeat(32), 3).unwrap();
/// assert_eq!(d.to_string(), format!("{}/3", "0f".repeat(32)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Digest {
    hash: DigestHash,
    size_bytes: u64,
}

impl Digest {
    /// The empty blob: [`DigestHash::EMPTY`], 0 bytes. It always exists in
    /// the CAS of every instance.
    pub const EMPTY: Digest = Digest {
        hash: DigestHash::EMPTY,
        size_bytes: 0,
    };

    /// A digest of `size_bytes` bytes hashing to `hash`.
    pub const fn new(hash: DigestHash, size_bytes: u64) -> Self {
        Self { hash, size_bytes }
    }

    /// Parses the hash and takes the size.
    ///
    /// # Errors
    /// See [`DigestHash::parse`].
    pub fn parse(hex: &str, size_bytes: u64) -> Result<Self, InvalidDigest> {
        Ok(Self::new(DigestHash::parse(hex)?, size_bytes))
    }

    /// Parses a REAPI wire digest, whose `size_bytes` is an `int64`.
    ///
    /// # Errors
    /// See [`DigestHash::parse`]; [`InvalidDigest::NegativeSize`].
    pub fn from_wire(hex: &str, size_bytes: i64) -> Result<Self, InvalidDigest> {
        let size =
            u64::try_from(size_bytes).map_err(|_| InvalidDigest::NegativeSize(size_bytes))?;
        Self::parse(hex, size)
    }

    /// Parses only a hash, as in bazel-remote's HTTP paths `/cas/<hash>`,
    /// which carry no size. Same as [`DigestHash::parse`].
    ///
    /// # Errors
    /// See [`DigestHash::parse`].
    pub fn parse_hash(hex: &str) -> Result<DigestHash, InvalidDigest> {
        DigestHash::parse(hex)
    }

    /// The SHA-256.
    pub const fn hash(&self) -> &DigestHash {
        &self.hash
    }

    /// The size in bytes.
    pub const fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Whether this is the empty blob.
    pub fn is_empty_blob(&self) -> bool {
        self.hash == DigestHash::EMPTY && self.size_bytes == 0
    }
}

impl fmt::Display for Digest {
    /// `<hash>/<size>`, as in REAPI resource names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.hash, self.size_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_constant_matches_its_hex() {
        assert_eq!(
            DigestHash::parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            Ok(DigestHash::EMPTY)
        );
        assert!(Digest::EMPTY.is_empty_blob());
    }

    #[test]
    fn rejects_bad_hex_and_lengths() {
        assert_eq!(DigestHash::parse("ab"), Err(InvalidDigest::Length(2)));
        assert_eq!(
            DigestHash::parse(&"g".repeat(64)),
            Err(InvalidDigest::NotHex)
        );
        assert_eq!(
            DigestHash::parse(&"A".repeat(64)),
            Err(InvalidDigest::NotHex)
        );
        assert_eq!(
            Digest::from_wire(&"a".repeat(64), -1),
            Err(InvalidDigest::NegativeSize(-1))
        );
    }

    #[test]
    fn prefix_matches_hex_form() {
        let h = DigestHash::parse(&format!("abc{}", "0".repeat(61))).unwrap();
        assert!(h.has_hex_prefix("ab"));
        assert!(h.has_hex_prefix("abc0"));
        assert!(!h.has_hex_prefix("abd"));
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            let h = DigestHash::from_bytes(bytes);
            prop_assert_eq!(DigestHash::parse(&h.to_string()), Ok(h));
        }
    }
}
