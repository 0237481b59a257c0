//! [`ValueCodec`]: the payload transforms applied to values that shared
//! backends (Redis, Memcached) store, recorded in the envelope's `flags`
//! (see [`Envelope`](super::Envelope)).
//!
//! On write, in this order:
//!
//! 1. **Compression**: Zstandard ([RFC 8878]) at level
//!    [`ZSTD_LEVEL`], for payloads of at least the codec's threshold (in
//!    bytes), kept only when the compressed frame is strictly smaller than
//!    the payload. Flag [`envelope_flags::ZSTD`](super::format::envelope_flags::ZSTD).
//! 2. **Encryption at rest**: AES-256-GCM ([NIST SP 800-38D]) of the
//!    (possibly compressed) payload with the codec's current key, a fresh
//!    random 96-bit nonce per write, and a 128-bit tag appended to the
//!    ciphertext. The envelope records the key id (`kid`) and the nonce
//!    (`nonce`); the additional authenticated data binds the envelope
//!    version, the flags and the key id, so none of them can be altered
//!    without decryption failing. Flag
//!    [`envelope_flags::AES256GCM`](super::format::envelope_flags::AES256GCM).
//!
//! Reads undo whatever the envelope's flags say, whatever the reading
//! codec's own write settings: any codec decompresses, and any codec whose
//! [`Keyring`] holds the envelope's key id decrypts. Envelopes without
//! flags (written before codecs existed) read unchanged, also by an
//! encrypting codec.
//!
//! Only the payload is encrypted: the content type, timestamps, tags,
//! entry version and (Memcached long keys) the user key stay readable in
//! the backend, and are not authenticated.
//!
//! Key rotation: add the new key to every node's keyring first, then make
//! it the current key id; remove the old key once the entries written with
//! it have expired. Random 96-bit nonces keep GCM's nonce-collision
//! probability below 2^-32 for up to 2^32 writes per key (NIST SP 800-38D
//! §8.3): rotate well before that many writes.
//!
//! [RFC 8878]: https://www.rfc-editor.org/rfc/rfc8878
//! [NIST SP 800-38D]: https://csrc.nist.gov/pubs/sp/800/38/d/final

use std::collections::BTreeMap;
use std::sync::Arc;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice};
use strata_domain::{DEFAULT_COMPRESSION_THRESHOLD_BYTES, MAX_KEY_ID_BYTES};

use super::format::{EnvelopeError, envelope_flags};

/// The Zstandard compression level used on write (zstd's own default).
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// Length of an AES-256 key, in bytes.
pub const KEY_BYTES: usize = 32;

/// Length of an AES-GCM nonce as stored in the envelope, in bytes.
pub(crate) const NONCE_BYTES: usize = 12;

/// Largest decompressed payload accepted on read, in bytes: 512 MiB,
/// Redis's own limit for a string. A compressed payload claiming more is
/// rejected as malformed instead of being inflated.
pub(crate) const MAX_DECOMPRESSED_BYTES: usize = 512 * 1024 * 1024;

/// Prefix of the additional authenticated data, so that a ciphertext
/// cannot be replayed into another protocol that uses the same keys.
const AAD_CONTEXT: &[u8] = b"strata-envelope\0";

/// Why a [`Keyring`] or [`ValueCodec`] could not be built. Messages name
/// key ids, never key material.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A key id is empty, too long, or has characters other than visible
    /// ASCII.
    #[error(
        "invalid key id {key_id:?}: {reason} (key ids are 1 to {MAX_KEY_ID_BYTES} visible \
         ASCII characters, e.g. \"k1\")"
    )]
    InvalidKeyId {
        /// The rejected id.
        key_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key is not standard padded base64 or not 32 bytes long.
    #[error("invalid key for key id `{key_id}`: {reason}")]
    InvalidKey {
        /// The id the key was given under.
        key_id: String,
        /// What is wrong with it (never the key itself).
        reason: String,
    },
    /// The same key id was given twice.
    #[error("key id `{0}` is given twice in the keyring")]
    DuplicateKeyId(String),
    /// The codec's current key id is not in its keyring.
    #[error("the current encryption key id `{0}` is not in the keyring")]
    CurrentKeyMissing(String),
}

/// Encryption keys by key id, for [`ValueCodec`]: writes use the codec's
/// current key id, reads any key the keyring holds, so keys can rotate.
///
/// Keys are 32 random bytes (AES-256), given as standard base64 with
/// padding (RFC 4648 §4, 44 characters), e.g. the output of
/// `openssl rand -base64 32`. Key ids are 1 to 64 visible ASCII
/// characters, e.g. `k1`; they are stored in every envelope.
///
/// `Debug` prints the key ids only.
///
/// ```
/// use strata_infrastructure::Keyring;
///
/// let keyring = Keyring::from_base64([
///     ("k1", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
///     ("k2", "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="),
/// ])?;
/// assert!(keyring.contains("k2"));
/// assert!(!format!("{keyring:?}").contains("AAEC"));
/// # Ok::<(), strata_infrastructure::CodecError>(())
/// ```
#[derive(Clone, Default)]
pub struct Keyring {
    ciphers: BTreeMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.ciphers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn validate_key_id(key_id: &str) -> Result<(), CodecError> {
    let reason = if key_id.is_empty() {
        "it is empty"
    } else if key_id.len() > MAX_KEY_ID_BYTES {
        "it is too long"
    } else if !key_id.bytes().all(|b| b.is_ascii_graphic()) {
        "it has characters other than visible ASCII"
    } else {
        return Ok(());
    };
    Err(CodecError::InvalidKeyId {
        key_id: key_id.to_owned(),
        reason,
    })
}

impl Keyring {
    /// A keyring of `(key id, base64 key)` pairs.
    ///
    /// # Errors
    /// [`CodecError::InvalidKeyId`], [`CodecError::InvalidKey`] (not
    /// standard padded base64, or not 32 bytes) and
    /// [`CodecError::DuplicateKeyId`].
    pub fn from_base64<I, K, V>(keys: I) -> Result<Self, CodecError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: AsRef<str>,
    {
        let mut keyring = Self::default();
        for (key_id, key) in keys {
            keyring.insert_base64(key_id, key.as_ref())?;
        }
        Ok(keyring)
    }

    /// Adds the base64 `key` (standard alphabet, padded; surrounding
    /// whitespace ignored) under `key_id`.
    ///
    /// # Errors
    /// As [`Keyring::from_base64`].
    pub fn insert_base64(
        &mut self,
        key_id: impl Into<String>,
        key: &str,
    ) -> Result<(), CodecError> {
        let key_id = key_id.into();
        validate_key_id(&key_id)?;
        let invalid = |reason: String| CodecError::InvalidKey {
            key_id: key_id.clone(),
            reason,
        };
        // The decoder's error would quote the offending character: keep
        // key material out of messages.
        // Zeroed on drop (`secrecy`): the decoded key leaves no copy behind.
        let bytes: SecretSlice<u8> = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| invalid("not standard base64 with padding (RFC 4648 §4)".to_owned()))?
            .into();
        let key: [u8; KEY_BYTES] = bytes.expose_secret().try_into().map_err(|_| {
            invalid(format!(
                "it decodes to {} bytes, AES-256 needs exactly {KEY_BYTES} \
                 (generate one with `openssl rand -base64 32`)",
                bytes.expose_secret().len()
            ))
        })?;
        self.insert(key_id, key)
    }

    /// Adds the raw 32-byte `key` under `key_id`.
    ///
    /// # Errors
    /// [`CodecError::InvalidKeyId`] and [`CodecError::DuplicateKeyId`].
    pub fn insert(
        &mut self,
        key_id: impl Into<String>,
        key: [u8; KEY_BYTES],
    ) -> Result<(), CodecError> {
        let key_id = key_id.into();
        validate_key_id(&key_id)?;
        if self.ciphers.contains_key(&key_id) {
            return Err(CodecError::DuplicateKeyId(key_id));
        }
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key));
        self.ciphers.insert(key_id, cipher);
        Ok(())
    }

    /// Whether the keyring holds `key_id`.
    pub fn contains(&self, key_id: &str) -> bool {
        self.ciphers.contains_key(key_id)
    }

    /// The key ids, in lexicographic order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.ciphers.keys().map(String::as_str)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.ciphers.len()
    }

    /// Whether the keyring has no key.
    pub fn is_empty(&self) -> bool {
        self.ciphers.is_empty()
    }
}

#[derive(Clone, Debug)]
struct Encryption {
    key_id: String,
    keyring: Arc<Keyring>,
}

/// The payload transforms of one store: Zstandard compression above a
/// threshold, then AES-256-GCM encryption with the current key of a
/// [`Keyring`] (formats: `docs/backends.md`, "Value codecs", and the
/// `wire` modules' source docs).
///
/// [`ValueCodec::default`] compresses payloads of 1024 bytes or more and
/// does not encrypt; [`ValueCodec::plain`] does neither. Reading works
/// with any codec as far as decompression goes; decryption needs the
/// envelope's key id in the codec's keyring.
///
/// ```
/// use std::sync::Arc;
/// use strata_infrastructure::{Keyring, ValueCodec};
///
/// let keyring = Arc::new(Keyring::from_base64([(
///     "k1",
///     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
/// )])?);
/// let codec = ValueCodec::new(Some(1024), Some(("k1".to_owned(), keyring)))?;
/// assert_eq!(codec.key_id(), Some("k1"));
/// # Ok::<(), strata_infrastructure::CodecError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ValueCodec {
    compression_threshold_bytes: Option<usize>,
    encryption: Option<Encryption>,
}

impl Default for ValueCodec {
    /// Compresses payloads of at least the domain's
    /// [`DEFAULT_COMPRESSION_THRESHOLD_BYTES`] (the default of a cache's
    /// `Compression`); no encryption.
    fn default() -> Self {
        Self {
            compression_threshold_bytes: Some(
                usize::try_from(DEFAULT_COMPRESSION_THRESHOLD_BYTES).unwrap_or(usize::MAX),
            ),
            encryption: None,
        }
    }
}

/// A payload after [`ValueCodec::seal`], with what the envelope must
/// record to open it.
pub(crate) struct Sealed {
    pub(crate) flags: u8,
    /// The transformed payload; `None` when no transform applied.
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) key_id: Option<String>,
    pub(crate) nonce: Option<[u8; NONCE_BYTES]>,
}

/// Why a payload could not be sealed (not expected in practice: the
/// system RNG failed, or the payload exceeds GCM's 64 GiB limit).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    #[error("zstd compression failed: {0}")]
    Compress(#[source] std::io::Error),
    #[error("cannot draw a random nonce: {0}")]
    Nonce(String),
    #[error("AES-256-GCM encryption failed (payload too long?)")]
    Encrypt,
}

impl ValueCodec {
    /// A codec compressing payloads of at least `compression_threshold_bytes`
    /// (`None`: never; `Some(0)`: always try) and, when `encryption` is
    /// `Some((current key id, keyring))`, encrypting every payload with that
    /// key and decrypting with any key of the keyring.
    ///
    /// # Errors
    /// [`CodecError::CurrentKeyMissing`] when the keyring lacks the current
    /// key id.
    pub fn new(
        compression_threshold_bytes: Option<usize>,
        encryption: Option<(String, Arc<Keyring>)>,
    ) -> Result<Self, CodecError> {
        let encryption = match encryption {
            Some((key_id, keyring)) => {
                if !keyring.contains(&key_id) {
                    return Err(CodecError::CurrentKeyMissing(key_id));
                }
                Some(Encryption { key_id, keyring })
            }
            None => None,
        };
        Ok(Self {
            compression_threshold_bytes,
            encryption,
        })
    }

    /// A codec that neither compresses nor encrypts (it still reads
    /// compressed envelopes).
    pub fn plain() -> Self {
        Self {
            compression_threshold_bytes: None,
            encryption: None,
        }
    }

    /// Payload size, in bytes, from which writes try to compress; `None`
    /// when they never do.
    pub fn compression_threshold_bytes(&self) -> Option<usize> {
        self.compression_threshold_bytes
    }

    /// The key id writes encrypt with; `None` when they do not encrypt.
    pub fn key_id(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key_id.as_str())
    }

    /// The keyring reads decrypt with; `None` without encryption.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.encryption.as_ref().map(|e| &*e.keyring)
    }

    /// Compresses then encrypts `payload` as configured, for an envelope of
    /// format `version`.
    pub(crate) fn seal(&self, version: u8, payload: &[u8]) -> Result<Sealed, SealError> {
        let mut flags = 0;
        let mut out = None;
        if self
            .compression_threshold_bytes
            .is_some_and(|t| payload.len() >= t)
        {
            let compressed =
                zstd::bulk::compress(payload, ZSTD_LEVEL).map_err(SealError::Compress)?;
            if compressed.len() < payload.len() {
                flags |= envelope_flags::ZSTD;
                out = Some(compressed);
            }
        }
        let Some(enc) = &self.encryption else {
            return Ok(Sealed {
                flags,
                payload: out,
                key_id: None,
                nonce: None,
            });
        };
        flags |= envelope_flags::AES256GCM;
        let cipher = enc
            .keyring
            .ciphers
            .get(&enc.key_id)
            .expect("ValueCodec::new checked that the keyring holds the current key id");
        let nonce = aes_gcm::Nonce::try_generate().map_err(|e| SealError::Nonce(e.to_string()))?;
        let aad = aad(version, flags, &enc.key_id);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: out.as_deref().unwrap_or(payload),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Encrypt)?;
        Ok(Sealed {
            flags,
            payload: Some(ciphertext),
            key_id: Some(enc.key_id.clone()),
            nonce: Some(nonce.into()),
        })
    }

    /// Decrypts then decompresses `payload` as `flags` say. `flags` must
    /// hold known bits only (the envelope checks).
    pub(crate) fn open(
        &self,
        version: u8,
        flags: u8,
        key_id: Option<&str>,
        nonce: Option<&[u8]>,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, EnvelopeError> {
        use envelope_flags::{AES256GCM, ZSTD};
        let malformed = |why: &str| EnvelopeError::Malformed(why.to_owned());
        let mut payload = payload;
        if flags & AES256GCM != 0 {
            let key_id = key_id.ok_or_else(|| malformed("encrypted payload without `kid`"))?;
            let nonce = nonce.ok_or_else(|| malformed("encrypted payload without `nonce`"))?;
            let nonce = <[u8; NONCE_BYTES]>::try_from(nonce)
                .map_err(|_| malformed("`nonce` is not 12 bytes"))?;
            let keyring = self
                .keyring()
                .ok_or_else(|| EnvelopeError::NoKeyring(key_id.to_owned()))?;
            let cipher = keyring
                .ciphers
                .get(key_id)
                .ok_or_else(|| EnvelopeError::UnknownKeyId(key_id.to_owned()))?;
            let aad = aad(version, flags, key_id);
            payload = cipher
                .decrypt(
                    &aes_gcm::Nonce::from(nonce),
                    Payload {
                        msg: &payload,
                        aad: &aad,
                    },
                )
                .map_err(|_| EnvelopeError::DecryptionFailed(key_id.to_owned()))?;
        }
        if flags & ZSTD != 0 {
            payload = decompress(&payload)?;
        }
        Ok(payload)
    }
}

/// The additional authenticated data: context, version, flags, key id.
fn aad(version: u8, flags: u8, key_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 2 + key_id.len());
    aad.extend_from_slice(AAD_CONTEXT);
    aad.push(version);
    aad.push(flags);
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

/// Inflates one zstd frame whose header states its size (as
/// `zstd::bulk::compress` writes), refusing sizes over
/// [`MAX_DECOMPRESSED_BYTES`].
fn decompress(frame: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let malformed = |why: String| EnvelopeError::Malformed(format!("zstd payload: {why}"));
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| malformed("not a zstd frame".to_owned()))?
        .ok_or_else(|| malformed("the frame does not state its content size".to_owned()))?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_DECOMPRESSED_BYTES)
        .ok_or_else(|| {
            malformed(format!(
                "content size {size} exceeds the {MAX_DECOMPRESSED_BYTES}-byte limit"
            ))
        })?;
    let out = zstd::bulk::decompress(frame, size).map_err(|e| malformed(e.to_string()))?;
    if out.len() != size {
        return Err(malformed(format!(
            "decompressed to {} bytes, the frame states {size}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn keyring_reads_base64_keys_and_rejects_bad_ones_clearly() {
        let keyring = Keyring::from_base64([("k1", K1), ("k2", &format!(" {K1}\n"))]).unwrap();
        assert_eq!(keyring.key_ids().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(keyring.len(), 2);

        let short = Keyring::from_base64([("k1", "AAECAwQFBgcICQoLDA0ODw==")]).unwrap_err();
        assert!(
            short
                .to_string()
                .contains("decodes to 16 bytes, AES-256 needs exactly 32"),
            "{short}"
        );
        let not_b64 = Keyring::from_base64([("k1", "not base64 at all!")]).unwrap_err();
        assert!(
            matches!(not_b64, CodecError::InvalidKey { .. }),
            "{not_b64}"
        );
        assert!(not_b64.to_string().contains("base64"), "{not_b64}");
        // URL-safe or unpadded base64 is refused rather than guessed.
        let unpadded = Keyring::from_base64([("k1", K1.trim_end_matches('='))]).unwrap_err();
        assert!(matches!(unpadded, CodecError::InvalidKey { .. }));

        let dup = Keyring::from_base64([("k1", K1), ("k1", K1)]).unwrap_err();
        assert!(matches!(dup, CodecError::DuplicateKeyId(ref id) if id == "k1"));
        for bad in ["", "k 1", "ключ", &"k".repeat(MAX_KEY_ID_BYTES + 1)] {
            let err = Keyring::from_base64([(bad, K1)]).unwrap_err();
            assert!(matches!(err, CodecError::InvalidKeyId { .. }), "{bad:?}");
        }
    }

    #[test]
    fn keyring_debug_and_errors_never_show_key_material() {
        let keyring = Keyring::from_base64([("k1", K1)]).unwrap();
        let debug = format!("{keyring:?}");
        assert!(debug.contains("k1"), "{debug}");
        for needle in ["AAEC", "0, 1, 2", "[0, 1", "00010203"] {
            assert!(!debug.contains(needle), "{debug}");
        }
        let codec = ValueCodec::new(None, Some(("k1".into(), Arc::new(keyring)))).unwrap();
        assert!(!format!("{codec:?}").contains("0, 1, 2"), "{codec:?}");

        let bad = "QUJDREVGR0hJSktMTU5PUA#=";
        let err = Keyring::from_base64([("k1", bad)]).unwrap_err().to_string();
        assert!(!err.contains("QUJD") && !err.contains('#'), "{err}");
    }

    #[test]
    fn codec_needs_its_current_key_in_the_keyring() {
        let keyring = Arc::new(Keyring::from_base64([("k1", K1)]).unwrap());
        let err = ValueCodec::new(None, Some(("k2".into(), keyring))).unwrap_err();
        assert!(matches!(err, CodecError::CurrentKeyMissing(ref id) if id == "k2"));
        assert!(
            err.to_string().contains("`k2` is not in the keyring"),
            "{err}"
        );
    }

    #[test]
    fn default_compresses_from_1024_bytes_without_encryption() {
        let codec = ValueCodec::default();
        assert_eq!(codec.compression_threshold_bytes(), Some(1024));
        assert_eq!(codec.key_id(), None);
        assert!(codec.keyring().is_none());
        let plain = ValueCodec::plain();
        assert_eq!(plain.compression_threshold_bytes(), None);
    }

    #[test]
    fn decompression_refuses_frames_without_or_with_huge_sizes() {
        assert!(matches!(
            decompress(b"definitely not zstd"),
            Err(EnvelopeError::Malformed(_))
        ));
        // A streamed frame does not state its content size.
        let mut streamed = Vec::new();
        {
            use std::io::Write;
            let mut enc = zstd::stream::Encoder::new(&mut streamed, 3).unwrap();
            enc.write_all(&[0u8; 4096]).unwrap();
            enc.finish().unwrap();
        }
        let err = decompress(&streamed).unwrap_err();
        assert!(err.to_string().contains("content size"), "{err}");
    }
}
