//! [`Sha2Hasher`]: SHA-256 with the `sha2` crate.

use sha2::{Digest as _, Sha256};
use strata_domain::DigestHash;
use strata_domain::tasks::ContentHasher;

/// SHA-256 (FIPS 180-4) on `sha2`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sha2Hasher;

impl ContentHasher for Sha2Hasher {
    fn sha256(&self, bytes: &[u8]) -> DigestHash {
        DigestHash::from_bytes(Sha256::digest(bytes).into())
    }
}
