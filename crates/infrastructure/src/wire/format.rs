//! The envelope's format vocabulary, shared by [`Envelope`](super::Envelope)
//! and [`ValueCodec`](super::ValueCodec): the format version, the `flags`
//! bits naming the payload transforms, and [`EnvelopeError`], why bytes do
//! not decode. It sits below both, so that neither imports the other's
//! internals in a loop (the envelope calls the codec; the codec reports
//! decoding errors and sets flags from here).

use strata_domain::StoreError;

/// The envelope format version this build writes and reads.
pub(crate) const ENVELOPE_VERSION: u8 = 1;

/// Bits of the envelope's `flags` field: the payload transforms applied
/// (see [`ValueCodec`](super::ValueCodec)). Readers refuse bits outside [`envelope_flags::KNOWN`]
/// rather than misread what they cannot undo.
pub mod envelope_flags {
    /// The payload is one Zstandard frame (RFC 8878).
    pub const ZSTD: u8 = 0x01;
    /// The payload is AES-256-GCM ciphertext plus tag (NIST SP 800-38D);
    /// the envelope carries `kid` and `nonce`.
    pub const AES256GCM: u8 = 0x02;
    /// The bits this build understands.
    pub const KNOWN: u8 = ZSTD | AES256GCM;
}

/// Why bytes could not be decoded as an [`Envelope`](super::Envelope).
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope was written by a format version this build does not read.
    #[error("unsupported envelope version {0} (this build reads version {ENVELOPE_VERSION})")]
    UnsupportedVersion(u64),
    /// The envelope uses payload transforms this build does not know.
    #[error("unsupported envelope flags {0:#04x}")]
    UnsupportedFlags(u8),
    /// The bytes are not a well-formed envelope.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// The payload is encrypted but the reading codec has no keyring.
    #[error(
        "envelope payload is encrypted with key id `{0}` but this store has no encryption \
         keyring configured"
    )]
    NoKeyring(String),
    /// The payload is encrypted with a key id the keyring does not hold.
    #[error(
        "envelope payload is encrypted with key id `{0}`, which is not in this store's keyring"
    )]
    UnknownKeyId(String),
    /// AES-GCM authentication failed: the key under that id is not the one
    /// that encrypted, or the stored value was altered.
    #[error(
        "envelope payload failed AES-256-GCM authentication with key id `{0}`: wrong key for \
         that id, or the stored value was altered"
    )]
    DecryptionFailed(String),
}

impl From<EnvelopeError> for StoreError {
    fn from(e: EnvelopeError) -> Self {
        StoreError::Unexpected(Box::new(e))
    }
}
