use std::sync::Arc;
use std::time::Duration;

use crate::{CacheValue, Tag, Timestamp};

/// A version stamp that changes whenever an entry is written; the HTTP layer
/// turns it into an `ETag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryVersion(u64);

impl EntryVersion {
    /// A version from its raw number.
    pub const fn new(v: u64) -> Self {
        Self(v)
    }

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// One stored entry: the value plus its metadata.
///
/// `expires_at` is absolute (the write time plus the TTL); `None` means the
/// entry lives until evicted or removed. Cloning is cheap (reference-counted
/// payload and tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    value: CacheValue,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    tags: Arc<[Tag]>,
    version: EntryVersion,
}

impl CacheEntry {
    /// Assembles an entry. Tags are de-duplicated and sorted.
    pub fn new(
        value: CacheValue,
        created_at: Timestamp,
        expires_at: Option<Timestamp>,
        mut tags: Vec<Tag>,
        version: EntryVersion,
    ) -> Self {
        tags.sort();
        tags.dedup();
        Self {
            value,
            created_at,
            expires_at,
            tags: tags.into(),
            version,
        }
    }

    /// Assembles an entry around an already shared tag list (a store
    /// handing out what it keeps, without a new allocation). Tags are
    /// de-duplicated and sorted only when they are not already.
    pub fn with_tags(
        value: CacheValue,
        created_at: Timestamp,
        expires_at: Option<Timestamp>,
        tags: Arc<[Tag]>,
        version: EntryVersion,
    ) -> Self {
        let tags = if tags.windows(2).all(|w| w[0] < w[1]) {
            tags
        } else {
            let mut sorted = tags.to_vec();
            sorted.sort();
            sorted.dedup();
            sorted.into()
        };
        Self {
            value,
            created_at,
            expires_at,
            tags,
            version,
        }
    }

    /// The stored value.
    pub fn value(&self) -> &CacheValue {
        &self.value
    }

    /// When the entry was written.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the entry expires, if it has a TTL.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// The entry's tags, sorted and unique.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The entry's version.
    pub fn version(&self) -> EntryVersion {
        self.version
    }

    /// Whether the entry has expired at `now` (expiry is exclusive: an entry
    /// is gone from the millisecond `expires_at` on).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Time left before expiry at `now`; `None` for entries without a TTL.
    pub fn remaining_ttl(&self, now: Timestamp) -> Option<Duration> {
        self.expires_at.map(|at| at.saturating_since(now))
    }

    /// The same entry expiring no later than `cap` (a shorter-lived copy for
    /// an L1 tier); an entry without TTL gets `cap` as its expiry.
    pub fn expiring_by(&self, cap: Timestamp) -> Self {
        let mut entry = self.clone();
        entry.expires_at = Some(self.expires_at.map_or(cap, |at| at.min(cap)));
        entry
    }

    /// Whether the entry carries `tag`.
    pub fn has_tag(&self, tag: &Tag) -> bool {
        self.tags.binary_search(tag).is_ok()
    }

    /// Bytes the entry weighs for capacity accounting: key plus payload
    /// plus content type. Per-entry bookkeeping overhead is not counted.
    pub fn weight(&self, key_len: usize) -> u64 {
        (key_len + self.value.len() + self.value.content_type().as_str().len()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_tags() {
        let e = CacheEntry::new(
            CacheValue::default(),
            Timestamp::from_millis(1_000),
            Some(Timestamp::from_millis(3_000)),
            vec![
                Tag::parse("b").unwrap(),
                Tag::parse("a").unwrap(),
                Tag::parse("b").unwrap(),
            ],
            EntryVersion::new(1),
        );
        assert_eq!(e.tags().len(), 2);
        assert!(e.has_tag(&Tag::parse("a").unwrap()));
        assert!(!e.is_expired(Timestamp::from_millis(2_999)));
        assert!(e.is_expired(Timestamp::from_millis(3_000)));
        assert_eq!(
            e.remaining_ttl(Timestamp::from_millis(2_000)),
            Some(Duration::from_secs(1))
        );
    }
}
