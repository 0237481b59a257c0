//! The wire wing: how values are laid out in shared backends. The
//! [`Envelope`] (a versioned MessagePack map around an entry) and the
//! [`ValueCodec`] (zstd compression and AES-256-GCM encryption of its
//! payload, with a [`Keyring`]).
//!
//! Module order, with no loop: `format` (the version, the flag bits and
//! [`EnvelopeError`]) at the bottom, `codec` above it, `envelope` on top
//! (it calls the codec).
//!
//! It must not know: any backend or driver; Redis and Memcached stores
//! hand it bytes.

mod codec;
mod envelope;
mod format;
mod probe;

pub use codec::{CodecError, KEY_BYTES, Keyring, ValueCodec};
pub use envelope::Envelope;
pub use format::{EnvelopeError, envelope_flags};
pub use probe::ZstdProbe;
