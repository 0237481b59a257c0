//! The wire wing: how values are laid out in shared backends. The
//! [`Envelope`] (a versioned MessagePack map around an entry) and the
//! [`ValueCodec`] (zstd compression and AES-256-GCM encryption of its
//! payload, with a [`Keyring`]).
//!
//! It must not know: any backend or driver; Redis and Memcached stores
//! hand it bytes.

mod codec;
mod envelope;

pub use codec::{
    CodecError, DEFAULT_COMPRESSION_THRESHOLD_BYTES, KEY_BYTES, Keyring, MAX_DECOMPRESSED_BYTES,
    MAX_KEY_ID_BYTES, NONCE_BYTES, ValueCodec, ZSTD_LEVEL,
};
pub use envelope::{ENVELOPE_VERSION, Envelope, EnvelopeError, flags};
