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
/// entry lives until evicted or removed. Stores drop the entry at
/// `expires_at`. An entry kept for a stale window (RFC 5861
/// stale-while-revalidate, see [`CacheEntry::kept_stale_for`]) also has a
/// `stale_at`, its logical expiry, before `expires_at`: from `stale_at` on
/// it is stale, and only served as such. Cloning is cheap
/// (reference-counted payload and tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    value: CacheValue,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    stale_at: Option<Timestamp>,
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
            stale_at: None,
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
            stale_at: None,
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
    /// an L1 tier); an entry without TTL gets `cap` as its expiry. A
    /// `stale_at` past `cap` is dropped.
    pub fn expiring_by(&self, cap: Timestamp) -> Self {
        let mut entry = self.clone();
        entry.expires_at = Some(self.expires_at.map_or(cap, |at| at.min(cap)));
        entry.stale_at = self.stale_at.filter(|&at| at < cap);
        entry
    }

    /// When the entry turns stale: its logical expiry when a store keeps
    /// it past that for a stale window; `None` when it has no stale window
    /// (it is fresh until [`expires_at`](Self::expires_at)).
    pub fn stale_at(&self) -> Option<Timestamp> {
        self.stale_at
    }

    /// The entry's logical expiry: `stale_at` when it has a stale window,
    /// else `expires_at`. What clients see as the TTL's end.
    pub fn fresh_until(&self) -> Option<Timestamp> {
        self.stale_at.or(self.expires_at)
    }

    /// Whether the entry is past its logical expiry at `now`
    /// ([`fresh_until`](Self::fresh_until), exclusive like `is_expired`).
    pub fn is_stale(&self, now: Timestamp) -> bool {
        self.fresh_until().is_some_and(|at| now >= at)
    }

    /// Time left before the logical expiry at `now`; `None` for entries
    /// without a TTL. The TTL clients see (`Cache-Control: max-age`).
    pub fn fresh_ttl(&self, now: Timestamp) -> Option<Duration> {
        self.fresh_until().map(|at| at.saturating_since(now))
    }

    /// The same entry kept `window` past its logical expiry, so that it
    /// can be served stale (RFC 5861): `stale_at` becomes the logical
    /// expiry and `expires_at`, when stores drop it, moves `window` later.
    /// An entry without TTL, or a zero window, is returned unchanged.
    pub fn kept_stale_for(mut self, window: Duration) -> Self {
        if let (Some(fresh_until), false) = (self.fresh_until(), window.is_zero()) {
            self.stale_at = Some(fresh_until);
            self.expires_at = Some(fresh_until.saturating_add(window));
        }
        self
    }

    /// The same entry with `stale_at` set as read back from a store that
    /// recorded it (`None`: no stale window). A `stale_at` at or past
    /// `expires_at` is dropped.
    pub fn with_stale_at(mut self, stale_at: Option<Timestamp>) -> Self {
        self.stale_at = stale_at.filter(|&at| self.expires_at.is_some_and(|end| at < end));
        self
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
