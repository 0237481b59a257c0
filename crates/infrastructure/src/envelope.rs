//! The versioned value envelope that shared backends (Redis, Memcached)
//! store in place of a bare payload.
//!
//! A backend value is one MessagePack map (rmp-serde, named fields):
//!
//! | field           | MessagePack type     | meaning                                           |
//! |-----------------|----------------------|---------------------------------------------------|
//! | `v`             | uint                 | envelope format version, [`ENVELOPE_VERSION`]     |
//! | `content_type`  | str                  | the value's media type                            |
//! | `created_at_ms` | uint                 | write time, ms since the Unix epoch               |
//! | `expires_at_ms` | uint or nil          | expiry, ms since the Unix epoch; nil = no TTL     |
//! | `tags`          | array of str         | sorted, unique tags                               |
//! | `version`       | uint                 | the entry's [`EntryVersion`]                      |
//! | `flags`         | uint (u8 bits)       | payload transforms; 0 today (see [`flags`])       |
//! | `payload`       | bin                  | the value's bytes                                 |
//! | `key`           | str (optional)       | the original key when the backend key is a hash   |
//! | `tag_gens`      | array of uint (opt.) | per-tag generations at write time (Memcached)     |
//!
//! Readers reject any `v` other than [`ENVELOPE_VERSION`] and any flag bit
//! they do not understand, so that a newer writer's data is never
//! misread as plain bytes.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strata_domain::{
    CacheEntry, CacheValue, ContentType, EntryVersion, StoreError, Tag, Timestamp,
};

/// The envelope format version this build writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;

/// Bits of the envelope's `flags` field. None is defined yet; the bits are
/// reserved for payload transforms (compression, encryption) so that
/// readers can refuse what they cannot undo.
pub mod flags {
    /// The bits this build understands: none.
    pub const KNOWN: u8 = 0;
}

/// A [`CacheEntry`] plus the backend-specific fields stored alongside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The entry itself.
    pub entry: CacheEntry,
    /// The user key, stored when the backend key is derived from a hash of
    /// it (Memcached long keys), to detect hash collisions on read.
    pub key: Option<String>,
    /// One generation per tag of `entry`, in the order of
    /// [`CacheEntry::tags`]; empty when the backend does not use tag
    /// generations.
    pub tag_generations: Vec<u64>,
}

/// Why bytes could not be decoded as an [`Envelope`].
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
}

impl From<EnvelopeError> for StoreError {
    fn from(e: EnvelopeError) -> Self {
        StoreError::Unexpected(Box::new(e))
    }
}

/// A byte slice serialized as MessagePack `bin` (not an array of ints).
struct BinRef<'a>(&'a [u8]);

impl Serialize for BinRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Owned `bin` for decoding; accepts borrowed and owned byte input.
struct Bin(Vec<u8>);

impl<'de> Deserialize<'de> for Bin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bin;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a MessagePack bin")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bin, E> {
                Ok(Bin(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bin, E> {
                Ok(Bin(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u8,
    content_type: &'a str,
    created_at_ms: u64,
    expires_at_ms: Option<u64>,
    tags: Vec<&'a str>,
    version: u64,
    flags: u8,
    payload: BinRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "<[u64]>::is_empty")]
    tag_gens: &'a [u64],
}

#[derive(Deserialize)]
struct Probe {
    v: u64,
}

#[derive(Deserialize)]
struct WireIn {
    content_type: String,
    created_at_ms: u64,
    expires_at_ms: Option<u64>,
    tags: Vec<String>,
    version: u64,
    flags: u8,
    payload: Bin,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    tag_gens: Vec<u64>,
}

impl Envelope {
    /// An envelope holding just `entry`.
    pub fn new(entry: CacheEntry) -> Self {
        Self {
            entry,
            key: None,
            tag_generations: Vec::new(),
        }
    }

    /// Encodes the envelope as MessagePack bytes.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] if serialization fails (it does not for
    /// well-formed entries; the error is kept rather than a panic).
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let e = &self.entry;
        let wire = WireOut {
            v: ENVELOPE_VERSION,
            content_type: e.value().content_type().as_str(),
            created_at_ms: e.created_at().as_millis(),
            expires_at_ms: e.expires_at().map(Timestamp::as_millis),
            tags: e.tags().iter().map(Tag::as_str).collect(),
            version: e.version().get(),
            flags: 0,
            payload: BinRef(e.value().bytes()),
            key: self.key.as_deref(),
            tag_gens: &self.tag_generations,
        };
        rmp_serde::to_vec_named(&wire).map_err(|err| StoreError::Unexpected(Box::new(err)))
    }

    /// Decodes bytes written by [`Envelope::encode`].
    ///
    /// # Errors
    /// [`EnvelopeError::UnsupportedVersion`] for another format version,
    /// [`EnvelopeError::UnsupportedFlags`] for unknown flag bits, and
    /// [`EnvelopeError::Malformed`] for anything that is not an envelope
    /// (including invalid content types or tags).
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let malformed = |e: &dyn std::fmt::Display| EnvelopeError::Malformed(e.to_string());
        let probe: Probe = rmp_serde::from_slice(bytes).map_err(|e| malformed(&e))?;
        if probe.v != u64::from(ENVELOPE_VERSION) {
            return Err(EnvelopeError::UnsupportedVersion(probe.v));
        }
        let wire: WireIn = rmp_serde::from_slice(bytes).map_err(|e| malformed(&e))?;
        if wire.flags & !flags::KNOWN != 0 {
            return Err(EnvelopeError::UnsupportedFlags(wire.flags));
        }
        let content_type = ContentType::parse(&wire.content_type).map_err(|e| malformed(&e))?;
        let tags = wire
            .tags
            .iter()
            .map(|t| Tag::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| malformed(&e))?;
        let entry = CacheEntry::new(
            CacheValue::new(Bytes::from(wire.payload.0), content_type),
            Timestamp::from_millis(wire.created_at_ms),
            wire.expires_at_ms.map(Timestamp::from_millis),
            tags,
            EntryVersion::new(wire.version),
        );
        Ok(Self {
            entry,
            key: wire.key,
            tag_generations: wire.tag_gens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(payload: &[u8], tags: &[&str], expires: Option<u64>) -> CacheEntry {
        CacheEntry::new(
            CacheValue::new(
                Bytes::copy_from_slice(payload),
                ContentType::parse("text/plain; charset=utf-8").unwrap(),
            ),
            Timestamp::from_millis(1_700_000_000_000),
            expires.map(Timestamp::from_millis),
            tags.iter().map(|t| Tag::parse(t).unwrap()).collect(),
            EntryVersion::new(7),
        )
    }

    #[test]
    fn payload_is_a_msgpack_bin() {
        let bytes = Envelope::new(entry(&[1, 2, 3], &[], None))
            .encode()
            .unwrap();
        // bin 8 marker 0xc4, length 3, then the raw bytes.
        assert!(
            bytes.windows(5).any(|w| w == [0xc4, 3, 1, 2, 3]),
            "payload not encoded as bin: {bytes:x?}"
        );
    }

    #[test]
    fn rejects_unknown_version_naming_it() {
        #[derive(Serialize)]
        struct Future {
            v: u8,
        }
        let bytes = rmp_serde::to_vec_named(&Future { v: 9 }).unwrap();
        let err = Envelope::decode(&bytes).unwrap_err();
        assert!(matches!(err, EnvelopeError::UnsupportedVersion(9)));
        let store_err = StoreError::from(err);
        assert!(store_err.to_string().contains("version 9"), "{store_err}");
    }

    #[test]
    fn rejects_unknown_flags_and_garbage() {
        let mut bytes = Envelope::new(entry(b"x", &[], None)).encode().unwrap();
        // `flags` is encoded as the key "flags" followed by positive fixint 0.
        let pos = bytes.windows(6).position(|w| w == b"\xa5flags").unwrap() + 6;
        bytes[pos] = 0x01;
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(EnvelopeError::UnsupportedFlags(1))
        ));
        assert!(matches!(
            Envelope::decode(b"not msgpack"),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn round_trips(
            payload in proptest::collection::vec(any::<u8>(), 0..2048),
            tags in proptest::collection::vec("[a-z:0-9ü]{1,12}", 0..5),
            expires in proptest::option::of(any::<u64>()),
            key in proptest::option::of("\\PC{1,40}"),
            gens in proptest::collection::vec(any::<u64>(), 0..5),
        ) {
            let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let env = Envelope {
                entry: entry(&payload, &tag_refs, expires),
                key,
                tag_generations: gens,
            };
            let decoded = Envelope::decode(&env.encode().unwrap()).unwrap();
            prop_assert_eq!(decoded, env);
        }
    }
}
