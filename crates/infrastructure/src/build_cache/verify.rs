//! `Verifier`: the digest check of an upload; `BufferedUpload`: a
//! verified upload held in memory until commit (memory and Redis stores).

use bytes::{Bytes, BytesMut};
use sha2::{Digest as _, Sha256};
use strata_domain::{BuildCacheError, Digest, DigestHash};

/// Hashes and counts an upload's chunks and checks them against the
/// digest it claims, and against the store's size limit.
pub(crate) struct Verifier {
    hasher: Sha256,
    len: u64,
    expected: DigestHash,
    expected_size: Option<u64>,
    limit_bytes: u64,
}

impl Verifier {
    /// A verifier for `expected` (`expected_size` bytes when known), in a
    /// store accepting at most `limit_bytes`.
    ///
    /// # Errors
    /// [`BuildCacheError::TooLarge`] when the announced size is over the limit.
    pub(crate) fn new(
        expected: DigestHash,
        expected_size: Option<u64>,
        limit_bytes: u64,
    ) -> Result<Self, BuildCacheError> {
        if let Some(size) = expected_size
            && size > limit_bytes
        {
            return Err(BuildCacheError::TooLarge {
                size_bytes: size,
                limit_bytes,
            });
        }
        Ok(Self {
            hasher: Sha256::new(),
            len: 0,
            expected,
            expected_size,
            limit_bytes,
        })
    }

    /// Feeds a chunk.
    ///
    /// # Errors
    /// [`BuildCacheError::TooLarge`] once past the limit;
    /// [`BuildCacheError::DigestMismatch`] once past the announced size.
    pub(crate) fn update(&mut self, chunk: &[u8]) -> Result<(), BuildCacheError> {
        self.len += chunk.len() as u64;
        if self.len > self.limit_bytes {
            return Err(BuildCacheError::TooLarge {
                size_bytes: self.len,
                limit_bytes: self.limit_bytes,
            });
        }
        if let Some(size) = self.expected_size
            && self.len > size
        {
            return Err(self.mismatch(DigestHash::from_bytes([0; 32])));
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// The verified digest.
    ///
    /// # Errors
    /// [`BuildCacheError::DigestMismatch`] when the hash or size differ.
    pub(crate) fn finish(self) -> Result<Digest, BuildCacheError> {
        let actual = DigestHash::from_bytes(self.hasher.clone().finalize().into());
        let size_ok = self.expected_size.is_none_or(|s| s == self.len);
        if actual == self.expected && size_ok {
            Ok(Digest::new(actual, self.len))
        } else {
            Err(self.mismatch(actual))
        }
    }

    fn mismatch(&self, actual: DigestHash) -> BuildCacheError {
        BuildCacheError::DigestMismatch {
            expected: self.expected,
            expected_size: self.expected_size,
            actual: Digest::new(actual, self.len),
        }
    }
}

/// An upload buffered whole (at most the verifier's limit) and verified
/// chunk by chunk: the body of the memory and Redis stores' writers.
pub(crate) struct BufferedUpload {
    verifier: Verifier,
    buf: BytesMut,
}

/// What a verified upload holds once its last chunk is in.
pub(crate) enum Verified {
    /// The empty blob, which every store holds without storing it.
    Empty(Digest),
    /// Content that hashes to its digest, to store under it.
    Content(Digest, Bytes),
}

impl BufferedUpload {
    /// See [`Verifier::new`].
    ///
    /// # Errors
    /// As [`Verifier::new`].
    pub(crate) fn new(
        expected: DigestHash,
        expected_size: Option<u64>,
        limit_bytes: u64,
    ) -> Result<Self, BuildCacheError> {
        Ok(Self {
            verifier: Verifier::new(expected, expected_size, limit_bytes)?,
            buf: BytesMut::new(),
        })
    }

    /// Verifies and keeps one chunk.
    ///
    /// # Errors
    /// As [`Verifier::update`].
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), BuildCacheError> {
        self.verifier.update(chunk)?;
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The verified content.
    ///
    /// # Errors
    /// As [`Verifier::finish`].
    pub(crate) fn finish(self) -> Result<Verified, BuildCacheError> {
        let digest = self.verifier.finish()?;
        Ok(if digest.is_empty_blob() {
            Verified::Empty(digest)
        } else {
            Verified::Content(digest, self.buf.freeze())
        })
    }
}

/// The SHA-256 of `bytes`.
#[cfg(test)]
pub(crate) fn sha256(bytes: &[u8]) -> DigestHash {
    DigestHash::from_bytes(Sha256::digest(bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_hash_and_size() {
        let h = sha256(b"hello");
        let mut v = Verifier::new(h, Some(5), 100).unwrap();
        v.update(b"hel").unwrap();
        v.update(b"lo").unwrap();
        assert_eq!(v.finish().unwrap(), Digest::new(h, 5));

        let mut v = Verifier::new(h, Some(4), 100).unwrap();
        assert!(matches!(
            v.update(b"hello"),
            Err(BuildCacheError::DigestMismatch { .. })
        ));
        let mut v = Verifier::new(h, None, 100).unwrap();
        v.update(b"hellO").unwrap();
        assert!(matches!(
            v.finish(),
            Err(BuildCacheError::DigestMismatch { .. })
        ));
        assert!(matches!(
            Verifier::new(h, Some(101), 100),
            Err(BuildCacheError::TooLarge { .. })
        ));
        let mut v = Verifier::new(h, None, 3).unwrap();
        assert!(matches!(
            v.update(b"hello"),
            Err(BuildCacheError::TooLarge { .. })
        ));
    }
}
