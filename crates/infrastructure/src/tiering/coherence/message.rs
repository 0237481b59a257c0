//! The coherence messages: [`Invalidation`], what one instance tells the
//! others to drop, the [`CoherenceListener`] that applies it to an L1,
//! and their JSON wire format.
//!
//! # Wire format
//!
//! One JSON object per message (the `PUBLISH` payload), version `v` = 1:
//!
//! | `op`          | extra fields                    | [`Invalidation`]              |
//! |---------------|---------------------------------|-------------------------------|
//! | `keys`        | `"keys": ["<key>", ...]`        | [`Invalidation::Keys`]        |
//! | `pattern`     | `"pattern": "<Redis glob>"`     | [`Invalidation::Pattern`]     |
//! | `tags`        | `"tags": ["<tag>", ...]`        | [`Invalidation::Tags`]        |
//! | `flush`       | none                            | [`Invalidation::Flush`]       |
//! | `reconfigure` | none                            | [`Invalidation::Reconfigure`] |
//!
//! Every message also carries `"v": 1`, `"origin": "<instance id>"` and
//! `"cache": "<cache name>"`, e.g.
//! `{"v":1,"origin":"web-1","cache":"users","op":"keys","keys":["u:1","u:2"]}`.
//! A key list of any length travels as one message. Receivers ignore
//! messages whose `origin` is their own id, ignore unknown fields, and
//! drop (with a warning and a count) payloads that are not JSON, have
//! another `v`, an unknown `op`, or a cache name, key, tag or pattern that
//! does not parse.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use strata_domain::{CacheKey, CacheName, KeyPattern, Tag};

/// The wire format version this module writes and reads.
const WIRE_VERSION: u64 = 1;

/// What one instance tells the others to drop from their L1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// A put or delete of these keys.
    Keys(Vec<CacheKey>),
    /// Every key matching this Redis glob.
    Pattern(KeyPattern),
    /// Every entry carrying one of these tags.
    Tags(Vec<Tag>),
    /// The whole cache.
    Flush,
    /// The cache's configuration changed: drop its L1.
    Reconfigure,
}

impl Invalidation {
    /// The wire `op`, also the metrics label.
    pub(super) fn op(&self) -> &'static str {
        match self {
            Self::Keys(_) => "keys",
            Self::Pattern(_) => "pattern",
            Self::Tags(_) => "tags",
            Self::Flush => "flush",
            Self::Reconfigure => "reconfigure",
        }
    }
}

/// Applies invalidations received from other instances to one cache's L1.
///
/// Calls come from the bus's subscriber task, one at a time, in message
/// order; a slow listener delays every later message.
#[async_trait::async_trait]
pub trait CoherenceListener: Send + Sync + 'static {
    /// Drops what `invalidation` names from L1.
    async fn invalidate(&self, invalidation: &Invalidation);

    /// Drops all of L1 (called after a lost subscription is re-established,
    /// because messages may have been missed).
    async fn clear(&self);
}

/// One message on the channel, as JSON (see the module docs).
#[derive(Serialize, Deserialize)]
struct WireMessage<'a> {
    v: u64,
    origin: Cow<'a, str>,
    cache: Cow<'a, str>,
    #[serde(flatten)]
    op: WireOp<'a>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum WireOp<'a> {
    Keys { keys: Vec<Cow<'a, str>> },
    Pattern { pattern: Cow<'a, str> },
    Tags { tags: Vec<Cow<'a, str>> },
    Flush,
    Reconfigure,
}

/// The fields read before the rest, so that a message of another version
/// (or our own) is recognised whatever its other fields hold.
#[derive(Deserialize)]
struct WireHeader {
    v: u64,
    origin: String,
}

pub(super) fn encode(
    origin: &str,
    cache: &CacheName,
    invalidation: &Invalidation,
) -> Result<Vec<u8>, serde_json::Error> {
    let op = match invalidation {
        Invalidation::Keys(keys) => WireOp::Keys {
            keys: keys.iter().map(|k| Cow::Borrowed(k.as_str())).collect(),
        },
        Invalidation::Pattern(pattern) => WireOp::Pattern {
            pattern: Cow::Borrowed(pattern.as_str()),
        },
        Invalidation::Tags(tags) => WireOp::Tags {
            tags: tags.iter().map(|t| Cow::Borrowed(t.as_str())).collect(),
        },
        Invalidation::Flush => WireOp::Flush,
        Invalidation::Reconfigure => WireOp::Reconfigure,
    };
    let message = WireMessage {
        v: WIRE_VERSION,
        origin: Cow::Borrowed(origin),
        cache: Cow::Borrowed(cache.as_str()),
        op,
    };
    serde_json::to_vec(&message)
}

/// What a received payload turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded {
    /// Published by this instance: ignored.
    Own,
    /// An invalidation from another instance.
    Foreign(CacheName, Invalidation),
}

pub(super) fn decode(payload: &[u8], own_id: &str) -> Result<Decoded, String> {
    let header: WireHeader =
        serde_json::from_slice(payload).map_err(|e| format!("not a coherence message: {e}"))?;
    if header.origin == own_id {
        return Ok(Decoded::Own);
    }
    if header.v != WIRE_VERSION {
        return Err(format!(
            "unknown version {} (this instance reads {WIRE_VERSION})",
            header.v
        ));
    }
    let message: WireMessage<'_> =
        serde_json::from_slice(payload).map_err(|e| format!("invalid message: {e}"))?;
    let cache = CacheName::parse(&message.cache).map_err(|e| e.to_string())?;
    let invalidation = match message.op {
        WireOp::Keys { keys } => Invalidation::Keys(
            keys.iter()
                .map(|k| CacheKey::parse(k))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
        ),
        WireOp::Pattern { pattern } => {
            Invalidation::Pattern(KeyPattern::parse(&pattern).map_err(|e| e.to_string())?)
        }
        WireOp::Tags { tags } => Invalidation::Tags(
            tags.iter()
                .map(|t| Tag::parse(t))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
        ),
        WireOp::Flush => Invalidation::Flush,
        WireOp::Reconfigure => Invalidation::Reconfigure,
    };
    Ok(Decoded::Foreign(cache, invalidation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> CacheName {
        CacheName::parse(s).unwrap()
    }

    fn every_kind() -> Vec<Invalidation> {
        vec![
            Invalidation::Keys(vec![
                CacheKey::parse("a").unwrap(),
                CacheKey::parse("b\"c").unwrap(),
            ]),
            Invalidation::Pattern(KeyPattern::parse("user:*").unwrap()),
            Invalidation::Tags(vec![Tag::parse("t1").unwrap()]),
            Invalidation::Flush,
            Invalidation::Reconfigure,
        ]
    }

    #[test]
    fn every_kind_round_trips_and_own_messages_are_recognised() {
        let users = name("users");
        for invalidation in every_kind() {
            let payload = encode("a", &users, &invalidation).unwrap();
            assert_eq!(
                decode(&payload, "b").unwrap(),
                Decoded::Foreign(users.clone(), invalidation.clone())
            );
            assert_eq!(decode(&payload, "a").unwrap(), Decoded::Own);
        }
    }

    #[test]
    fn wire_format_is_the_documented_one() {
        let payload = encode(
            "web-1",
            &name("users"),
            &Invalidation::Keys(vec![CacheKey::parse("u:1").unwrap()]),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            r#"{"v":1,"origin":"web-1","cache":"users","op":"keys","keys":["u:1"]}"#
        );
        let flush = encode("web-1", &name("users"), &Invalidation::Flush).unwrap();
        assert_eq!(
            String::from_utf8(flush).unwrap(),
            r#"{"v":1,"origin":"web-1","cache":"users","op":"flush"}"#
        );
    }

    #[test]
    fn malformed_and_foreign_versions_are_errors() {
        for payload in [
            &b"not json"[..],
            br#"{"v":2,"origin":"x","cache":"users","op":"flush"}"#,
            br#"{"v":1,"origin":"x","cache":"users","op":"explode"}"#,
            br#"{"v":1,"origin":"x","cache":"users","op":"keys"}"#,
            br#"{"v":1,"origin":"x","cache":"","op":"flush"}"#,
            br#"{"v":1,"origin":"x","cache":"users","op":"pattern","pattern":""}"#,
            &[0xff, 0xfe][..],
        ] {
            assert!(decode(payload, "me").is_err(), "{payload:?}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let payload = br#"{"v":1,"origin":"x","cache":"users","op":"flush","extra":[1]}"#;
        assert_eq!(
            decode(payload, "me").unwrap(),
            Decoded::Foreign(name("users"), Invalidation::Flush)
        );
    }
}
