//! `InvalidationCount`: what an invalidation removed. Below both the
//! `CacheStore` port (which returns it) and the `EntriesInvalidated` event
//! (which carries it).

/// How many entries an invalidation removed, as far as the store can tell.
///
/// A store that hides entries without visiting them (Memcached's tag
/// invalidation bumps a tag's generation, and every entry written under the
/// old generation reads as a miss from then on) removes them but cannot
/// count them: it answers [`Uncounted`](Self::Uncounted), never a made-up
/// number.
///
/// ```
/// use strata_domain::InvalidationCount;
///
/// let both = InvalidationCount::Exact(2) + InvalidationCount::Exact(3);
/// assert_eq!(both.exact(), Some(5));
/// let unknown = InvalidationCount::Exact(2) + InvalidationCount::Uncounted;
/// assert_eq!(unknown.exact(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidationCount {
    /// Exactly this many live entries were removed.
    Exact(u64),
    /// The selected entries are gone, but the store cannot say how many
    /// there were.
    Uncounted,
}

impl InvalidationCount {
    /// The exact count, or `None` when the store could not count.
    pub fn exact(self) -> Option<u64> {
        match self {
            Self::Exact(n) => Some(n),
            Self::Uncounted => None,
        }
    }
}

impl std::ops::Add for InvalidationCount {
    type Output = Self;

    /// Exact only when both sides are: a sum with an uncounted part is
    /// uncounted.
    fn add(self, other: Self) -> Self {
        match (self, other) {
            (Self::Exact(a), Self::Exact(b)) => Self::Exact(a.saturating_add(b)),
            _ => Self::Uncounted,
        }
    }
}
