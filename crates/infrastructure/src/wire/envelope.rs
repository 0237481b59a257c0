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
//! | `flags`         | uint (u8 bits)       | payload transforms applied, see [`envelope_flags`]|
//! | `payload`       | bin                  | the value's bytes, after the transforms in `flags`|
//! | `key`           | str (optional)       | the original key when the backend key is a hash   |
//! | `tag_gens`      | array of uint (opt.) | per-tag generations at write time (Memcached)     |
//! | `kid`           | str (optional)       | encryption key id; present iff `flags` has `AES256GCM` |
//! | `nonce`         | bin (optional)       | 12-byte AES-GCM nonce; present iff `kid` is       |
//! | `stale_at_ms`   | uint (optional)      | logical expiry of an entry kept for a stale window (RFC 5861), before `expires_at_ms` |
//!
//! `stale_at_ms` was added without a new `v`: a build that predates it
//! ignores the field and serves such an entry as fresh until
//! `expires_at_ms`, so run one version across instances before turning on
//! `stale_while_revalidate`.
//!
//! `flags` bits ([`envelope_flags`]), applied on write in this order by a
//! [`ValueCodec`] and undone in reverse on read:
//!
//! | bit    | name        | transform                                                        |
//! |--------|-------------|------------------------------------------------------------------|
//! | `0x01` | `ZSTD`      | one Zstandard frame (RFC 8878) with its content size             |
//! | `0x02` | `AES256GCM` | AES-256-GCM (NIST SP 800-38D): ciphertext then 16-byte tag; AAD = `"strata-envelope\0"`, `v`, `flags`, `kid` |
//!
//! Flags 0 is a bare payload: envelopes written before codecs existed, or
//! by [`ValueCodec::plain`], read unchanged with any codec.
//!
//! Readers reject any `v` other than [`ENVELOPE_VERSION`] and any flag bit
//! they do not understand, so that a newer writer's data is never
//! misread as plain bytes.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use strata_domain::{
    CacheEntry, CacheValue, ContentType, EntryVersion, StoreError, Tag, Timestamp,
};

use super::codec::ValueCodec;
use super::format::{ENVELOPE_VERSION, EnvelopeError, envelope_flags};

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

#[derive(Serialize)]
struct WireOut<'a> {
    v: u8,
    content_type: &'a str,
    created_at_ms: u64,
    expires_at_ms: Option<u64>,
    tags: Vec<&'a str>,
    version: u64,
    flags: u8,
    /// Byte fields are MessagePack `bin`, not arrays of integers.
    #[serde(with = "serde_bytes")]
    payload: &'a [u8],
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "<[u64]>::is_empty")]
    tag_gens: &'a [u64],
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    nonce: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stale_at_ms: Option<u64>,
}

#[derive(Deserialize)]
struct Probe {
    v: u64,
}

#[derive(Deserialize)]
struct WireIn<'a> {
    v: u64,
    content_type: String,
    created_at_ms: u64,
    expires_at_ms: Option<u64>,
    tags: Vec<String>,
    version: u64,
    flags: u8,
    /// Borrowed from the input when it lends it (serde's `Cow<[u8]>`
    /// borrowing), so [`Envelope::decode_owned`] can slice, not copy.
    #[serde(borrow, with = "serde_bytes")]
    payload: Cow<'a, [u8]>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    tag_gens: Vec<u64>,
    #[serde(default)]
    kid: Option<String>,
    /// Owned: 12 bytes, copied whatever the input lends.
    #[serde(default, with = "serde_bytes")]
    nonce: Option<Vec<u8>>,
    #[serde(default)]
    stale_at_ms: Option<u64>,
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

    /// Encodes the envelope as MessagePack bytes with an untransformed
    /// payload (flags 0); same as [`Envelope::encode_with`] and
    /// [`ValueCodec::plain`].
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] if serialization fails (it does not for
    /// well-formed entries; the error is kept rather than a panic).
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        self.encode_with(&ValueCodec::plain())
    }

    /// Encodes the envelope as MessagePack bytes, its payload compressed
    /// and/or encrypted as `codec` says.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] if compression, encryption (the system
    /// random source failed, or a payload over 64 GiB) or serialization
    /// fails.
    pub fn encode_with(&self, codec: &ValueCodec) -> Result<Vec<u8>, StoreError> {
        let e = &self.entry;
        let sealed = codec
            .seal(ENVELOPE_VERSION, e.value().bytes())
            .map_err(|err| StoreError::Unexpected(Box::new(err)))?;
        let wire = WireOut {
            v: ENVELOPE_VERSION,
            content_type: e.value().content_type().as_str(),
            created_at_ms: e.created_at().as_millis(),
            expires_at_ms: e.expires_at().map(Timestamp::as_millis),
            tags: e.tags().iter().map(Tag::as_str).collect(),
            version: e.version().get(),
            flags: sealed.flags,
            payload: sealed.payload.as_deref().unwrap_or(e.value().bytes()),
            key: self.key.as_deref(),
            tag_gens: &self.tag_generations,
            kid: sealed.key_id.as_deref(),
            nonce: sealed.nonce.as_ref().map(|n| &n[..]),
            stale_at_ms: e.stale_at().map(Timestamp::as_millis),
        };
        // Sized once: the payload, the strings, and the field names and
        // numbers (under 128 bytes), so that writing it never reallocates.
        let strings: usize = wire.content_type.len()
            + wire.tags.iter().map(|t| t.len() + 5).sum::<usize>()
            + wire.key.map_or(0, str::len)
            + wire.kid.map_or(0, str::len)
            + wire.nonce.map_or(0, <[u8]>::len)
            + 9 * wire.tag_gens.len();
        let mut out = Vec::with_capacity(wire.payload.len() + strings + 128);
        rmp_serde::encode::write_named(&mut out, &wire)
            .map_err(|err| StoreError::Unexpected(Box::new(err)))?;
        Ok(out)
    }

    /// Decodes bytes written by [`Envelope::encode`], or by
    /// [`Envelope::encode_with`] with a codec that does not encrypt.
    ///
    /// # Errors
    /// As [`Envelope::decode_with`]; encrypted envelopes fail with
    /// [`EnvelopeError::NoKeyring`].
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        Self::decode_with(bytes, &ValueCodec::plain())
    }

    /// Decodes bytes written by [`Envelope::encode_with`], undoing the
    /// transforms its flags name: decompression needs nothing from
    /// `codec`, decryption needs the envelope's key id in `codec`'s
    /// keyring. Flags 0 (a bare payload) is read with any codec.
    ///
    /// # Errors
    /// [`EnvelopeError::UnsupportedVersion`] for another format version,
    /// [`EnvelopeError::UnsupportedFlags`] for unknown flag bits,
    /// [`EnvelopeError::NoKeyring`], [`EnvelopeError::UnknownKeyId`] and
    /// [`EnvelopeError::DecryptionFailed`] for payloads `codec` cannot
    /// decrypt, and [`EnvelopeError::Malformed`] for anything that is not
    /// an envelope (including invalid content types or tags, and
    /// corrupt compressed payloads).
    pub fn decode_with(bytes: &[u8], codec: &ValueCodec) -> Result<Self, EnvelopeError> {
        Self::decode_from(bytes, None, codec)
    }

    /// [`Envelope::decode_with`] of bytes the caller hands over (a value
    /// just read from a backend): an untransformed payload (flags 0) is a
    /// slice of `bytes` ([`Bytes::slice_ref`]) instead of a copy.
    ///
    /// # Errors
    /// As [`Envelope::decode_with`].
    pub fn decode_owned(bytes: Vec<u8>, codec: &ValueCodec) -> Result<Self, EnvelopeError> {
        let bytes = Bytes::from(bytes);
        Self::decode_from(&bytes, Some(&bytes), codec)
    }

    /// Decodes `bytes`; `owner`, when given, holds them, so that the
    /// payload can be a slice of it.
    fn decode_from(
        bytes: &[u8],
        owner: Option<&Bytes>,
        codec: &ValueCodec,
    ) -> Result<Self, EnvelopeError> {
        let malformed = |e: &dyn std::fmt::Display| EnvelopeError::Malformed(e.to_string());
        // One parse of the current shape; only bytes it rejects are parsed
        // again, for just the version, to tell another version (whose shape
        // may differ) from garbage.
        let wire: WireIn = match rmp_serde::from_slice(bytes) {
            Ok(wire) => wire,
            Err(e) => {
                return Err(match rmp_serde::from_slice::<Probe>(bytes) {
                    Ok(probe) if probe.v != u64::from(ENVELOPE_VERSION) => {
                        EnvelopeError::UnsupportedVersion(probe.v)
                    }
                    _ => malformed(&e),
                });
            }
        };
        if wire.v != u64::from(ENVELOPE_VERSION) {
            return Err(EnvelopeError::UnsupportedVersion(wire.v));
        }
        if wire.flags & !envelope_flags::KNOWN != 0 {
            return Err(EnvelopeError::UnsupportedFlags(wire.flags));
        }
        let content_type = ContentType::parse(&wire.content_type).map_err(|e| malformed(&e))?;
        let tags = wire
            .tags
            .iter()
            .map(|t| Tag::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| malformed(&e))?;
        let payload = match (wire.flags, wire.payload) {
            (0, Cow::Borrowed(slice)) => match owner {
                Some(owner) => owner.slice_ref(slice),
                None => Bytes::copy_from_slice(slice),
            },
            (0, Cow::Owned(vec)) => Bytes::from(vec),
            (flags, payload) => Bytes::from(codec.open(
                ENVELOPE_VERSION,
                flags,
                wire.kid.as_deref(),
                wire.nonce.as_deref(),
                payload.into_owned(),
            )?),
        };
        let entry = CacheEntry::new(
            CacheValue::new(payload, content_type),
            Timestamp::from_millis(wire.created_at_ms),
            wire.expires_at_ms.map(Timestamp::from_millis),
            tags,
            EntryVersion::new(wire.version),
        )
        .with_stale_at(wire.stale_at_ms.map(Timestamp::from_millis));
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
    use crate::wire::Keyring;
    use proptest::prelude::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Length of the AES-GCM authentication tag, in bytes.
    const TAG_BYTES: usize = 16;

    fn keyring(ids: &[&str]) -> Arc<Keyring> {
        let mut keyring = Keyring::default();
        for id in ids {
            // Keys differ by id; `k1` is the same key in every keyring.
            let tweak = id.bytes().fold(0u8, u8::wrapping_add);
            let key: [u8; 32] = std::array::from_fn(|j| u8::try_from(j).unwrap() ^ tweak);
            keyring.insert(*id, key).unwrap();
        }
        Arc::new(keyring)
    }

    fn encrypting(threshold: Option<usize>, current: &str, ids: &[&str]) -> ValueCodec {
        ValueCodec::new(threshold, Some((current.to_owned(), keyring(ids)))).unwrap()
    }

    /// The four codec shapes: none, compression, encryption, both.
    fn codec(shape: u8) -> ValueCodec {
        match shape {
            0 => ValueCodec::plain(),
            1 => ValueCodec::default(),
            2 => encrypting(None, "k1", &["k1"]),
            _ => encrypting(Some(1024), "k1", &["k1"]),
        }
    }

    /// The stored fields, as a reader of the raw backend value sees them.
    fn wire(bytes: &[u8]) -> WireIn<'_> {
        rmp_serde::from_slice(bytes).unwrap()
    }

    /// Random bytes, or text that compresses well.
    fn payloads() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..8192),
            ("[a-d ]{1,16}", 0usize..8192)
                .prop_map(|(unit, len)| { unit.bytes().cycle().take(len).collect() }),
        ]
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

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
    fn an_entry_kept_for_a_stale_window_keeps_its_logical_expiry() {
        let kept =
            entry(b"v", &[], Some(1_700_000_010_000)).kept_stale_for(Duration::from_secs(30));
        let bytes = Envelope::new(kept.clone()).encode().unwrap();
        let back = Envelope::decode(&bytes).unwrap().entry;
        assert_eq!(back, kept);
        assert_eq!(
            back.fresh_until(),
            Some(Timestamp::from_millis(1_700_000_010_000))
        );
        assert_eq!(
            back.expires_at(),
            Some(Timestamp::from_millis(1_700_000_040_000))
        );
        // Without a stale window the field is not written at all.
        let plain = Envelope::new(entry(b"v", &[], Some(1_700_000_010_000)))
            .encode()
            .unwrap();
        assert!(!plain.windows(11).any(|w| w == b"stale_at_ms"));
        assert!(bytes.windows(11).any(|w| w == b"stale_at_ms"));
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
    fn an_owned_decode_lends_the_payload_instead_of_copying_it() {
        for shape in 0..4 {
            let payload = vec![b'p'; 3000];
            let bytes = Envelope::new(entry(&payload, &["t"], None))
                .encode_with(&codec(shape))
                .unwrap();
            let copied = Envelope::decode_with(&bytes, &codec(shape)).unwrap();
            let input = bytes.as_ptr_range();
            let owned = Envelope::decode_owned(bytes, &codec(shape)).unwrap();
            assert_eq!(owned.entry, copied.entry, "codec shape {shape}");
            let value = owned.entry.value().bytes().as_ptr();
            // Only an untransformed payload (shape 0) can be lent.
            assert_eq!(input.contains(&value), shape == 0, "codec shape {shape}");
        }
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
        // A later version whose fields read as this version's.
        let mut same_shape = Envelope::new(entry(b"x", &[], None)).encode().unwrap();
        let pos = same_shape.windows(2).position(|w| w == b"\xa1v").unwrap() + 2;
        assert_eq!(same_shape[pos], ENVELOPE_VERSION);
        same_shape[pos] = 9;
        let err = Envelope::decode(&same_shape).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::UnsupportedVersion(9)),
            "{err:?}"
        );
        let store_err = StoreError::from(err);
        assert!(store_err.to_string().contains("version 9"), "{store_err}");
    }

    #[test]
    fn rejects_unknown_flags_and_garbage() {
        let mut bytes = Envelope::new(entry(b"x", &[], None)).encode().unwrap();
        // `flags` is encoded as the key "flags" followed by positive fixint 0.
        let pos = bytes.windows(6).position(|w| w == b"\xa5flags").unwrap() + 6;
        bytes[pos] = 0x40;
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(EnvelopeError::UnsupportedFlags(0x40))
        ));
        // A known bit over a payload it does not describe is malformed.
        bytes[pos] = envelope_flags::ZSTD;
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(EnvelopeError::Malformed(m)) if m.contains("zstd")
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

        #[test]
        fn round_trips_through_every_codec(
            payload in payloads(),
            shape in 0u8..4,
            tags in proptest::collection::vec("[a-z]{1,8}", 0..3),
            gens in proptest::collection::vec(any::<u64>(), 0..3),
        ) {
            let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let env = Envelope {
                entry: entry(&payload, &tag_refs, Some(1_800_000_000_000)),
                key: Some("user-key".into()),
                tag_generations: gens,
            };
            let codec = codec(shape);
            let bytes = env.encode_with(&codec).unwrap();
            prop_assert_eq!(&Envelope::decode_with(&bytes, &codec).unwrap(), &env);
            let stored = wire(&bytes);
            let encrypted = stored.flags & envelope_flags::AES256GCM != 0;
            prop_assert_eq!(encrypted, codec.key_id().is_some());
            prop_assert_eq!(stored.kid.is_some(), encrypted);
            prop_assert_eq!(stored.nonce.map(|n| n.len()), encrypted.then_some(12));
        }

        #[test]
        fn compresses_only_from_the_threshold_and_only_when_smaller(
            payload in payloads(),
            threshold in 0usize..4096,
            encrypt in any::<bool>(),
        ) {
            let codec = if encrypt {
                encrypting(Some(threshold), "k1", &["k1"])
            } else {
                ValueCodec::new(Some(threshold), None).unwrap()
            };
            let bytes = Envelope::new(entry(&payload, &[], None)).encode_with(&codec).unwrap();
            let stored = wire(&bytes);
            let overhead = if encrypt { TAG_BYTES } else { 0 };
            if stored.flags & envelope_flags::ZSTD != 0 {
                prop_assert!(payload.len() >= threshold, "compressed below the threshold");
                prop_assert!(
                    stored.payload.len() < payload.len() + overhead,
                    "compressed flag on a payload that did not shrink"
                );
            } else {
                prop_assert_eq!(stored.payload.len(), payload.len() + overhead);
            }
            let never = ValueCodec::new(None, None).unwrap();
            let plain_bytes = Envelope::new(entry(&payload, &[], None)).encode_with(&never).unwrap();
            let plain = wire(&plain_bytes);
            prop_assert_eq!(plain.flags, 0);
        }

        #[test]
        fn ciphertext_never_contains_the_plaintext(
            payload in payloads().prop_filter("at least 16 bytes", |p| p.len() >= 16),
            compress in any::<bool>(),
        ) {
            let codec = encrypting(compress.then_some(0), "k1", &["k1"]);
            let bytes = Envelope::new(entry(&payload, &[], None)).encode_with(&codec).unwrap();
            prop_assert!(!contains(&bytes, &payload));
            prop_assert!(!contains(&bytes, &payload[..16]));
        }

        #[test]
        fn any_altered_ciphertext_byte_fails_authentication(
            payload in payloads(),
            shape in 2u8..4,
            at in any::<prop::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let codec = codec(shape);
            let mut bytes = Envelope::new(entry(&payload, &[], None)).encode_with(&codec).unwrap();
            let stored = wire(&bytes).payload.into_owned();
            let start = bytes
                .windows(stored.len())
                .position(|w| w == stored.as_slice())
                .unwrap();
            bytes[start + at.index(stored.len())] ^= xor;
            let err = Envelope::decode_with(&bytes, &codec).unwrap_err();
            prop_assert!(matches!(err, EnvelopeError::DecryptionFailed(ref id) if id == "k1"));
        }
    }

    #[test]
    fn flipping_a_flag_of_an_encrypted_envelope_fails_authentication() {
        let codec = encrypting(Some(0), "k1", &["k1"]);
        let mut bytes = Envelope::new(entry(&[b'a'; 4096], &[], None))
            .encode_with(&codec)
            .unwrap();
        let pos = bytes.windows(6).position(|w| w == b"\xa5flags").unwrap() + 6;
        assert_eq!(bytes[pos], envelope_flags::ZSTD | envelope_flags::AES256GCM);
        bytes[pos] = envelope_flags::AES256GCM;
        let err = Envelope::decode_with(&bytes, &codec).unwrap_err();
        assert!(matches!(err, EnvelopeError::DecryptionFailed(_)), "{err}");
    }

    #[test]
    fn a_keyring_without_the_key_id_fails_clearly() {
        let bytes = Envelope::new(entry(b"secret value", &[], None))
            .encode_with(&encrypting(None, "k1", &["k1"]))
            .unwrap();
        let other = encrypting(None, "k2", &["k2"]);
        let err = StoreError::from(Envelope::decode_with(&bytes, &other).unwrap_err());
        assert!(matches!(err, StoreError::Unexpected(_)));
        assert!(
            err.to_string().contains("key id `k1`, which is not in"),
            "{err}"
        );
        for plain in [ValueCodec::default(), ValueCodec::plain()] {
            let err = Envelope::decode_with(&bytes, &plain).unwrap_err();
            assert!(
                err.to_string().contains("no encryption keyring configured"),
                "{err}"
            );
        }
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(EnvelopeError::NoKeyring(_))
        ));
    }

    #[test]
    fn the_same_key_id_with_another_key_fails_authentication() {
        let bytes = Envelope::new(entry(b"secret value", &[], None))
            .encode_with(&encrypting(None, "k1", &["k1"]))
            .unwrap();
        let mut impostor = Keyring::default();
        impostor.insert("k1", [0xee; 32]).unwrap();
        let codec = ValueCodec::new(None, Some(("k1".into(), Arc::new(impostor)))).unwrap();
        let err = Envelope::decode_with(&bytes, &codec).unwrap_err();
        assert!(matches!(err, EnvelopeError::DecryptionFailed(ref id) if id == "k1"));
    }

    #[test]
    fn rotation_reads_entries_written_with_an_older_key() {
        let old = Envelope::new(entry(&[b'x'; 3000], &[], None));
        let written_with_k1 = old
            .encode_with(&encrypting(Some(0), "k1", &["k1"]))
            .unwrap();
        let rotated = encrypting(Some(0), "k2", &["k1", "k2"]);
        assert_eq!(
            Envelope::decode_with(&written_with_k1, &rotated).unwrap(),
            old
        );
        let written_with_k2 = old.encode_with(&rotated).unwrap();
        assert_eq!(wire(&written_with_k2).kid.as_deref(), Some("k2"));
        assert_eq!(
            Envelope::decode_with(&written_with_k2, &rotated).unwrap(),
            old
        );
    }

    #[test]
    fn envelopes_without_flags_read_with_any_codec() {
        let env = Envelope::new(entry(&[b'z'; 5000], &["t"], None));
        let old = env.encode().unwrap();
        assert_eq!(wire(&old).flags, 0);
        for shape in 0..4 {
            assert_eq!(Envelope::decode_with(&old, &codec(shape)).unwrap(), env);
        }
    }

    #[test]
    fn compressible_payloads_are_stored_compressed() {
        let payload = b"strata ".repeat(1500);
        let env = Envelope::new(entry(&payload, &[], None));
        let stored_bytes = env.encode_with(&ValueCodec::default()).unwrap();
        let stored = wire(&stored_bytes);
        assert_eq!(stored.flags, envelope_flags::ZSTD);
        assert!(stored.payload.len() < payload.len() / 10);
        let below = Envelope::new(entry(&payload[..1023], &[], None));
        assert_eq!(
            wire(&below.encode_with(&ValueCodec::default()).unwrap()).flags,
            0
        );
    }

    #[test]
    fn nonces_are_fresh_per_write() {
        let codec = encrypting(None, "k1", &["k1"]);
        let env = Envelope::new(entry(b"same value", &[], None));
        let (a, b) = (
            env.encode_with(&codec).unwrap(),
            env.encode_with(&codec).unwrap(),
        );
        let (a, b) = (wire(&a), wire(&b));
        assert_ne!(a.nonce.unwrap(), b.nonce.unwrap());
        assert_ne!(a.payload, b.payload);
    }
}
