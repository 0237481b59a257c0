use crate::{
    CacheConfiguration, CacheKey, CacheName, EvictionPolicyKind, InvalidationCount, KeyPattern,
    Principal, Tag, Timestamp,
};

/// Why a configuration changed.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeCause {
    /// An administrator asked, through the admin API.
    Admin,
    /// `eviction = "auto"` switched policies, on these estimated miss
    /// ratios at the current capacity.
    AutoTune {
        /// Every candidate's estimate.
        estimates: Vec<(EvictionPolicyKind, f64)>,
    },
    /// Another instance changed the shared configuration; this instance
    /// applied it from the repository.
    Peer,
    /// The configuration file created or updated the cache at start-up.
    /// Nobody acted: it is not an admin action (the event's principal is
    /// `Anonymous` only because one must be named) and is not audited.
    Startup,
}

impl ChangeCause {
    /// `admin`, `auto_tune`, `peer` or `startup`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::AutoTune { .. } => "auto_tune",
            Self::Peer => "peer",
            Self::Startup => "startup",
        }
    }
}

/// Why an entry left a cache without being removed by a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvictionCause {
    /// The cache was full: the eviction policy chose the entry.
    Capacity,
    /// The entry's TTL ran out.
    Expired,
}

impl EvictionCause {
    /// Stable lower-case label, used in metrics and stats.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Capacity => "capacity",
            Self::Expired => "expired",
        }
    }
}

/// What an invalidation selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidationSelector {
    /// Explicit keys.
    Keys(Vec<CacheKey>),
    /// Every key matching a glob pattern.
    Pattern(KeyPattern),
    /// Every entry carrying any of the tags.
    Tags(Vec<Tag>),
}

/// Something that happened to a cache. Published through the
/// [`EventPublisher`](crate::EventPublisher) port; the audit trail, metrics
/// and (later) cross-instance coherence consume them.
#[derive(Clone, Debug, PartialEq)]
pub enum DomainEvent {
    /// A key was written that was not present.
    EntryCreated {
        /// The cache.
        cache: CacheName,
        /// The key.
        key: CacheKey,
        /// Who wrote it.
        principal: Principal,
        /// When.
        at: Timestamp,
    },
    /// A present key was overwritten.
    EntryUpdated {
        /// The cache.
        cache: CacheName,
        /// The key.
        key: CacheKey,
        /// Who wrote it.
        principal: Principal,
        /// When.
        at: Timestamp,
    },
    /// The eviction policy removed an entry to make room.
    EntryEvicted {
        /// The cache.
        cache: CacheName,
        /// The key.
        key: CacheKey,
        /// Why.
        cause: EvictionCause,
    },
    /// An entry's TTL ran out and the store dropped it.
    EntryExpired {
        /// The cache.
        cache: CacheName,
        /// The key.
        key: CacheKey,
    },
    /// Entries were invalidated by key, pattern or tag (deletes included).
    EntriesInvalidated {
        /// The cache.
        cache: CacheName,
        /// What was selected.
        selector: InvalidationSelector,
        /// How many entries were removed (uncounted when the store cannot
        /// tell, as Memcached's tag invalidation cannot).
        count: InvalidationCount,
        /// Who asked.
        principal: Principal,
        /// When.
        at: Timestamp,
    },
    /// Every entry of a cache was removed.
    CacheFlushed {
        /// The cache.
        cache: CacheName,
        /// Who asked.
        principal: Principal,
        /// When.
        at: Timestamp,
    },
    /// A cache was created, reconfigured or deleted.
    ConfigurationChanged {
        /// The cache.
        cache: CacheName,
        /// The configuration before; `None` when the cache was created.
        before: Option<Box<CacheConfiguration>>,
        /// The configuration after; `None` when the cache was deleted.
        after: Option<Box<CacheConfiguration>>,
        /// Why.
        cause: ChangeCause,
        /// Who asked.
        principal: Principal,
        /// When.
        at: Timestamp,
    },
}

impl DomainEvent {
    /// The cache the event concerns.
    pub fn cache(&self) -> &CacheName {
        match self {
            Self::EntryCreated { cache, .. }
            | Self::EntryUpdated { cache, .. }
            | Self::EntryEvicted { cache, .. }
            | Self::EntryExpired { cache, .. }
            | Self::EntriesInvalidated { cache, .. }
            | Self::CacheFlushed { cache, .. }
            | Self::ConfigurationChanged { cache, .. } => cache,
        }
    }

    /// Stable name of the event kind, e.g. `"EntryCreated"`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::EntryCreated { .. } => "EntryCreated",
            Self::EntryUpdated { .. } => "EntryUpdated",
            Self::EntryEvicted { .. } => "EntryEvicted",
            Self::EntryExpired { .. } => "EntryExpired",
            Self::EntriesInvalidated { .. } => "EntriesInvalidated",
            Self::CacheFlushed { .. } => "CacheFlushed",
            Self::ConfigurationChanged { .. } => "ConfigurationChanged",
        }
    }

    /// Whether the event records an administrative action that belongs in
    /// the audit trail.
    pub const fn is_admin_action(&self) -> bool {
        matches!(
            self,
            Self::CacheFlushed { .. } | Self::ConfigurationChanged { .. }
        )
    }
}
