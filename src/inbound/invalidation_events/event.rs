//! The invalidation event: one JSON object per message, parsed in one
//! place for every broker, and applied through `InvalidateEntries`.

use serde::Deserialize;
use strata_application::CacheService;
use strata_application::check_batch_len;
use strata_application::commands::invalidate_entries::{InvalidateEntries, InvalidateEntriesError};
use strata_domain::{
    CacheKey, CacheName, InvalidationSelector, KeyPattern, Principal, StoreError, Tag,
};

/// Largest event accepted, in bytes (1000 keys of 250 bytes fit).
pub(crate) const MAX_EVENT_BYTES: usize = 512 * 1024;
/// Longest optional `id`, in bytes.
pub(crate) const MAX_EVENT_ID_BYTES: usize = 256;

/// A parsed event: which entries of which cache to remove.
///
/// The JSON shape is `{"cache": "users", "keys": ["u:1", "u:2"]}`,
/// `{"cache": "users", "pattern": "u:*"}` or
/// `{"cache": "users", "tags": ["team-7"]}`: exactly one selector, each
/// batch 1 to 1000 items, plus an optional `"id"` (a string of at most
/// [`MAX_EVENT_ID_BYTES`], logged with the outcome). Unknown fields are
/// rejected.
#[derive(Clone, Debug)]
pub(crate) struct InvalidationEvent {
    /// The publisher's id for the event, if it gave one.
    pub(crate) id: Option<String>,
    /// The cache.
    pub(crate) cache: CacheName,
    /// Keys, a pattern or tags.
    pub(crate) selector: InvalidationSelector,
}

/// Why a message is not an event; such messages are dead-lettered.
#[derive(Debug, thiserror::Error)]
#[error("invalid invalidation event: {0}")]
pub(crate) struct InvalidEvent(String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson {
    #[serde(default)]
    id: Option<String>,
    cache: String,
    #[serde(default)]
    keys: Option<Vec<String>>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl InvalidationEvent {
    /// Parses one message body.
    ///
    /// # Errors
    /// [`InvalidEvent`] naming the problem: over [`MAX_EVENT_BYTES`], not
    /// JSON of the shape above, not exactly one selector, a batch outside
    /// 1..=[`MAX_BATCH`](strata_application::MAX_BATCH), or an invalid cache name, key, pattern or tag.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, InvalidEvent> {
        if body.len() > MAX_EVENT_BYTES {
            return Err(InvalidEvent(format!(
                "{} bytes, over the limit of {MAX_EVENT_BYTES}",
                body.len()
            )));
        }
        let json: EventJson =
            serde_json::from_slice(body).map_err(|e| InvalidEvent(e.to_string()))?;
        if let Some(id) = &json.id
            && id.len() > MAX_EVENT_ID_BYTES
        {
            return Err(InvalidEvent(format!(
                "id is over {MAX_EVENT_ID_BYTES} bytes"
            )));
        }
        let cache =
            CacheName::parse(&json.cache).map_err(|e| InvalidEvent(format!("cache: {e}")))?;
        let batch = |len: usize, field: &str| {
            check_batch_len(len).map_err(|e| InvalidEvent(format!("{field}: {e}")))
        };
        let selector = match (json.keys, json.pattern, json.tags) {
            (Some(keys), None, None) => {
                batch(keys.len(), "keys")?;
                InvalidationSelector::Keys(
                    keys.iter()
                        .map(|k| CacheKey::parse(k).map_err(|e| InvalidEvent(format!("keys: {e}"))))
                        .collect::<Result<_, _>>()?,
                )
            }
            (None, Some(pattern), None) => InvalidationSelector::Pattern(
                KeyPattern::parse(&pattern).map_err(|e| InvalidEvent(format!("pattern: {e}")))?,
            ),
            (None, None, Some(tags)) => {
                batch(tags.len(), "tags")?;
                InvalidationSelector::Tags(
                    tags.iter()
                        .map(|t| Tag::parse(t).map_err(|e| InvalidEvent(format!("tags: {e}"))))
                        .collect::<Result<_, _>>()?,
                )
            }
            _ => {
                return Err(InvalidEvent(
                    "exactly one of `keys`, `pattern` and `tags` is required".into(),
                ));
            }
        };
        Ok(Self {
            id: json.id,
            cache,
            selector,
        })
    }
}

/// What became of one message.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Applied; acknowledge it.
    Applied,
    /// Never applicable (unparseable, unknown cache, unsupported selector):
    /// dead-letter it with this reason and acknowledge it.
    DeadLetter {
        /// Why, for the dead-letter message.
        reason: String,
    },
    /// The invalidation failed for a reason that may pass (a backend down
    /// or slow): leave it unacknowledged and retry after a back-off.
    Retry(String),
}

/// Parses `body` and applies it as `anonymous` (the broker is trusted like
/// the configuration file), counting under `source`.
pub(super) async fn apply(service: &CacheService, source: &str, body: &[u8]) -> Outcome {
    super::count(source, "consumed");
    let event = match InvalidationEvent::parse(body) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(source, error = %e, "invalidation event dead-lettered");
            super::count(source, "dead_lettered");
            return Outcome::DeadLetter {
                reason: e.to_string(),
            };
        }
    };
    let id = event.id.clone().unwrap_or_default();
    let cache = event.cache.clone();
    let result = service
        .invalidate(InvalidateEntries {
            principal: Principal::Anonymous,
            // A configured event source is an operator's standing
            // decision, not a hand-typed request: it confirms by name.
            confirm: Some(event.cache.as_str().to_owned()),
            cache: event.cache,
            selector: event.selector,
            dry_run: false,
        })
        .await;
    match result {
        Ok(removed) => {
            tracing::debug!(source, %cache, id, removed = removed.exact(), "invalidation event applied");
            super::count(source, "applied");
            Outcome::Applied
        }
        Err(
            e @ InvalidateEntriesError::Store(
                StoreError::Unavailable { .. }
                | StoreError::Timeout { .. }
                | StoreError::Unexpected(_),
            ),
        ) => {
            tracing::warn!(source, %cache, id, error = %e, "invalidation event failed; will retry");
            super::count(source, "failed");
            Outcome::Retry(e.to_string())
        }
        Err(e) => {
            tracing::warn!(source, %cache, id, error = %e, "invalidation event failed; dead-lettered");
            super::count(source, "failed");
            super::count(source, "dead_lettered");
            Outcome::DeadLetter {
                reason: e.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<InvalidationEvent, InvalidEvent> {
        InvalidationEvent::parse(s.as_bytes())
    }

    #[test]
    fn parses_each_selector() {
        let e = parse(r#"{"cache":"users","keys":["u:1","u:2"],"id":"x1"}"#).unwrap();
        assert_eq!(e.cache.as_str(), "users");
        assert_eq!(e.id.as_deref(), Some("x1"));
        assert!(matches!(e.selector, InvalidationSelector::Keys(ref k) if k.len() == 2));
        let e = parse(r#"{"cache":"users","pattern":"u:*"}"#).unwrap();
        assert!(matches!(e.selector, InvalidationSelector::Pattern(_)));
        let e = parse(r#"{"cache":"users","tags":["t"]}"#).unwrap();
        assert!(matches!(e.selector, InvalidationSelector::Tags(ref t) if t.len() == 1));
    }

    #[test]
    fn rejects_bad_events() {
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"cache":"users"}"#,
            r#"{"cache":"users","keys":["a"],"pattern":"*"}"#,
            r#"{"cache":"users","keys":[]}"#,
            r#"{"cache":"users","keys":["has space"]}"#,
            r#"{"cache":"bad name!","keys":["a"]}"#,
            r#"{"cache":"users","keys":["a"],"extra":1}"#,
            r#"{"cache":"users","tags":[""]}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let long_id = format!(r#"{{"cache":"u","keys":["a"],"id":"{}"}}"#, "x".repeat(300));
        assert!(parse(&long_id).is_err());
        assert!(InvalidationEvent::parse(&vec![b' '; MAX_EVENT_BYTES + 1]).is_err());
    }
}
