//! Flushing the build cache by scope: [`FlushScope`], [`FlushCriteria`],
//! [`FlushResult`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::digest::hex_value;
use super::kind::StoreKind;
use super::{DigestHash, InstanceName, SHA256_HEX_LEN};
use crate::Timestamp;

/// A hex prefix of digest hashes: 1 to 64 lowercase hex characters.
///
/// ```
/// use strata_domain::DigestPrefix;
/// assert!(DigestPrefix::parse("ab12").is_ok());
/// assert!(DigestPrefix::parse("").is_err());
/// assert!(DigestPrefix::parse("AB").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DigestPrefix(Box<str>);

impl DigestPrefix {
    /// Parses a prefix.
    ///
    /// # Errors
    /// [`super::InvalidDigest`] when empty or longer than 64 characters
    /// (`Length`) or not lowercase hex (`NotHex`).
    pub fn parse(s: &str) -> Result<Self, super::InvalidDigest> {
        if s.is_empty() || s.len() > SHA256_HEX_LEN {
            return Err(super::InvalidDigest::Length(s.len()));
        }
        if !s.bytes().all(|b| hex_value(b).is_some()) {
            return Err(super::InvalidDigest::NotHex);
        }
        Ok(Self(s.into()))
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `hash` starts with this prefix.
    pub fn matches(&self, hash: &DigestHash) -> bool {
        hash.has_hex_prefix(&self.0)
    }
}

/// Which entries a flush removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlushScope {
    /// Every entry.
    All,
    /// Every entry of one instance.
    Instance(InstanceName),
    /// The entries with these hashes (AC keys or CAS content hashes).
    Digests(Vec<DigestHash>),
    /// The entries whose hash starts with this hex prefix.
    DigestPrefix(DigestPrefix),
    /// The entries last accessed (or, when a store cannot tell, created)
    /// strictly more than this long ago, by the injected clock.
    OlderThan(Duration),
}

impl FlushScope {
    /// The scope's name in the flush API: `all`, `instance`, `digests`,
    /// `digest_prefix`, `older_than`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Instance(_) => "instance",
            Self::Digests(_) => "digests",
            Self::DigestPrefix(_) => "digest_prefix",
            Self::OlderThan(_) => "older_than",
        }
    }
}

/// A flush request: the scope, an optional instance filter and whether to
/// only report.
///
/// The `instance` filter narrows `digests`, `digest_prefix` and
/// `older_than` (and `all`) to one instance; `None` means every instance.
/// For [`FlushScope::Instance`] the scope's own name applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushCriteria {
    /// What goes.
    pub scope: FlushScope,
    /// Only this instance's entries, when set.
    pub instance: Option<InstanceName>,
    /// Report what would go, per store, and remove nothing.
    pub dry_run: bool,
    /// Entries that stay whatever the scope says: a stacked store keeps
    /// in its lower tier what its upper tier still serves as recently
    /// used (an `older_than` flush removes an entry only when it is old
    /// in every tier holding it). Empty by default.
    pub keep: Arc<HashSet<(InstanceName, DigestHash)>>,
}

impl FlushCriteria {
    /// Criteria for `scope` on every instance, not a dry run.
    pub fn new(scope: FlushScope) -> Self {
        Self {
            scope,
            instance: None,
            dry_run: false,
            keep: Arc::default(),
        }
    }

    /// The same criteria limited to `instance`.
    #[must_use]
    pub fn instance(mut self, instance: InstanceName) -> Self {
        self.instance = Some(instance);
        self
    }

    /// The same criteria as a dry run.
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// The same criteria, also keeping every entry of `keep`.
    #[must_use]
    pub fn keeping(mut self, keep: HashSet<(InstanceName, DigestHash)>) -> Self {
        self.keep = Arc::new(keep);
        self
    }

    /// Whether the entry `hash` of `instance`, last accessed at
    /// `last_access`, goes when the flush runs at `now`. Every store
    /// decides with this one function.
    pub fn matches(
        &self,
        instance: &InstanceName,
        hash: &DigestHash,
        last_access: Timestamp,
        now: Timestamp,
    ) -> bool {
        if let Some(only) = &self.instance
            && only != instance
        {
            return false;
        }
        if !self.keep.is_empty() && self.keep.contains(&(instance.clone(), *hash)) {
            return false;
        }
        match &self.scope {
            FlushScope::All => true,
            FlushScope::Instance(name) => name == instance,
            FlushScope::Digests(hashes) => hashes.contains(hash),
            FlushScope::DigestPrefix(prefix) => prefix.matches(hash),
            FlushScope::OlderThan(age) => now.saturating_since(last_access) > *age,
        }
    }
}

/// What one store removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreFlushReport {
    /// The store's name: `memory`, `disk`, `redis`, ...
    pub store: String,
    /// Entries removed (would be removed, in a dry run).
    pub entries_removed: u64,
    /// Bytes of those entries.
    pub bytes_reclaimed: u64,
    /// Failures; non-empty means this store was not (fully) flushed.
    pub errors: Vec<String>,
    /// Wall time the store took, in milliseconds (0 when not measured).
    pub duration_ms: u64,
}

/// The outcome of a flush of one target (AC or CAS): one report per store
/// it reached, in stacking order (memory first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushResult {
    /// Which store kind was flushed.
    pub target: StoreKind,
    /// Whether nothing was removed (a dry run).
    pub dry_run: bool,
    /// One report per store.
    pub stores: Vec<StoreFlushReport>,
    /// For a CAS flush: how many AC entries now reference a missing blob
    /// (they answer 404 from then on). `None` for an AC flush, or when it
    /// could not be counted (see the flush-CAS use case).
    pub dangling_ac_entries: Option<u64>,
}

impl FlushResult {
    /// A result with one store's report.
    pub fn single(target: StoreKind, dry_run: bool, report: StoreFlushReport) -> Self {
        Self {
            target,
            dry_run,
            stores: vec![report],
            dangling_ac_entries: None,
        }
    }

    /// Appends `other`'s store reports (stacked stores merge their tiers).
    pub fn merge(&mut self, other: FlushResult) {
        self.stores.extend(other.stores);
        self.dangling_ac_entries = match (self.dangling_ac_entries, other.dangling_ac_entries) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
    }

    /// Entries removed over every store (an entry held by two tiers counts
    /// twice: each tier reclaimed its copy).
    pub fn entries_removed(&self) -> u64 {
        self.stores.iter().map(|s| s.entries_removed).sum()
    }

    /// Bytes reclaimed over every store.
    pub fn bytes_reclaimed(&self) -> u64 {
        self.stores.iter().map(|s| s.bytes_reclaimed).sum()
    }

    /// Whether some store failed while others were flushed.
    pub fn is_partial(&self) -> bool {
        self.stores.iter().any(|s| !s.errors.is_empty())
    }

    /// The names of the stores that failed.
    pub fn failed_stores(&self) -> Vec<&str> {
        self.stores
            .iter()
            .filter(|s| !s.errors.is_empty())
            .map(|s| s.store.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(c: char) -> DigestHash {
        DigestHash::parse(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn matches_each_scope() {
        let a = InstanceName::parse("a").unwrap();
        let b = InstanceName::parse("b").unwrap();
        let now = Timestamp::from_millis(100_000);
        let old = Timestamp::from_millis(10_000);
        let all = FlushCriteria::new(FlushScope::All);
        assert!(all.matches(&a, &h('1'), now, now));
        assert!(
            !all.clone()
                .instance(b.clone())
                .matches(&a, &h('1'), now, now)
        );
        let inst = FlushCriteria::new(FlushScope::Instance(a.clone()));
        assert!(inst.matches(&a, &h('1'), now, now));
        assert!(!inst.matches(&b, &h('1'), now, now));
        let digests = FlushCriteria::new(FlushScope::Digests(vec![h('1')]));
        assert!(digests.matches(&b, &h('1'), now, now));
        assert!(!digests.matches(&b, &h('2'), now, now));
        let prefix =
            FlushCriteria::new(FlushScope::DigestPrefix(DigestPrefix::parse("11").unwrap()));
        assert!(prefix.matches(&a, &h('1'), now, now));
        assert!(!prefix.matches(&a, &h('2'), now, now));
        let older = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(90)));
        assert!(
            !older.matches(&a, &h('1'), old, now),
            "exactly 90 s is not older"
        );
        assert!(older.matches(&a, &h('1'), Timestamp::from_millis(9_999), now));
    }

    #[test]
    fn merge_sums_totals_and_names_failures() {
        let mut r = FlushResult::single(
            StoreKind::Cas,
            false,
            StoreFlushReport {
                store: "memory".into(),
                entries_removed: 2,
                bytes_reclaimed: 10,
                ..Default::default()
            },
        );
        r.merge(FlushResult::single(
            StoreKind::Cas,
            false,
            StoreFlushReport {
                store: "disk".into(),
                entries_removed: 3,
                bytes_reclaimed: 5,
                errors: vec!["boom".into()],
                duration_ms: 1,
            },
        ));
        assert_eq!(r.entries_removed(), 5);
        assert_eq!(r.bytes_reclaimed(), 15);
        assert!(r.is_partial());
        assert_eq!(r.failed_stores(), vec!["disk"]);
    }
}
