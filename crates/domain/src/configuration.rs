use std::fmt;

use crate::cache_aside::CacheAsideDefaults;
pub use crate::invalid_configuration::InvalidConfiguration;
use crate::stale_policy::StalePolicy;
use crate::{CacheName, Ttl};

/// Name of the in-process memory tier.
pub const MEMORY_TIER: &str = "memory";
/// Largest value any cache accepts, in bytes (64 MiB). The HTTP layer sizes
/// its body limit from it.
pub const HARD_MAX_VALUE_BYTES: u64 = 64 * 1024 * 1024;
/// Value size limit of a cache that names none, in bytes (1 MiB).
pub const DEFAULT_MAX_VALUE_BYTES: u64 = 1024 * 1024;
/// Entry capacity of a cache that names neither `max_entries` nor `max_bytes`.
pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

/// Default zstd threshold for values written to a shared tier, in bytes.
pub const DEFAULT_COMPRESSION_THRESHOLD_BYTES: u64 = 1024;

/// Longest encryption key id, in bytes: the limit on a cache's
/// `encryption_key_id` and on the ids of the keyring that holds the keys
/// (the infrastructure's codec checks it there). The id is stored in every
/// encrypted envelope and bound into its AES-GCM additional data; neither
/// caps its length.
pub const MAX_KEY_ID_BYTES: usize = 64;

/// How values are compressed before they are written to a shared (L2)
/// tier. In-process tiers always hold plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Never compress.
    None,
    /// zstd (RFC 8878) for payloads of at least `threshold_bytes`, kept
    /// only when it makes the payload smaller.
    Zstd {
        /// Smallest payload worth compressing, in bytes.
        threshold_bytes: u64,
    },
}

impl Default for Compression {
    fn default() -> Self {
        Self::Zstd {
            threshold_bytes: DEFAULT_COMPRESSION_THRESHOLD_BYTES,
        }
    }
}

/// The policy `eviction = "auto"` (the default) starts on before its
/// curves have decided anything, and the policy it runs while they cannot
/// tell the candidates apart: adaptive W-TinyLFU, the candidate with the
/// smallest mean and worst gap to the best fixed policy over the workload
/// families of `docs/eviction.md` (Zipf, loops, multi-program scans,
/// zigzags, shifting sets, recency, web one-hit wonders, regime changes).
pub const AUTO_START_POLICY: EvictionPolicyKind = EvictionPolicyKind::WTinyLfu;

/// Which eviction policy a cache's memory tier runs, by name. The policy
/// itself (the algorithm) is the infrastructure's `EvictionPolicy` trait;
/// this value object only names it, hence `Kind`.
///
/// Configuration names (the strings `parse` accepts and `as_str` returns)
/// are stable: they appear in TOML, in the admin API and in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EvictionPolicyKind {
    /// `tinylfu`: moka's own TinyLFU admission over LRU, through `MokaStore`.
    TinyLfu,
    /// `lru`: least recently used.
    Lru,
    /// `fifo`: first in, first out.
    Fifo,
    /// `lfu`: least frequently used, ties broken by recency.
    Lfu,
    /// `clock`: one-bit CLOCK (second chance).
    Clock,
    /// `sieve`: SIEVE (Zhang et al., NSDI'24): no admission size limit, a
    /// hit only sets a bit, and the lowest-cost hit path measured (see
    /// `docs/benchmarks.md`).
    Sieve,
    /// `s3fifo`: S3-FIFO (Yang et al., SOSP'23).
    S3Fifo,
    /// `arc`: Adaptive Replacement Cache (Megiddo and Modha, FAST'03).
    Arc,
    /// `w-tinylfu`: Window TinyLFU (Einziger et al., 2017) whose window
    /// starts at 1% and is resized by Caffeine's hill climber (Einziger et
    /// al., Middleware'18).
    WTinyLfu,
    /// `ttl-first`: evict the entry closest to expiry first (Redis `volatile-ttl`).
    TtlFirst,
    /// `auto`, the default: start on [`AUTO_START_POLICY`]
    /// (the fixed policy most robust across the workload families of
    /// `docs/eviction.md`) and switch, at run time, to the policy the
    /// cache's live miss-ratio curves favour (see
    /// [`AutoTuner`](crate::AutoTuner)); the policy in force is
    /// [`CacheConfiguration::active_eviction`]. Any other policy pins.
    #[default]
    Auto,
}

impl EvictionPolicyKind {
    /// Every policy, in documentation order.
    pub const ALL: [EvictionPolicyKind; 11] = [
        Self::TinyLfu,
        Self::Lru,
        Self::Fifo,
        Self::Lfu,
        Self::Clock,
        Self::Sieve,
        Self::S3Fifo,
        Self::Arc,
        Self::WTinyLfu,
        Self::TtlFirst,
        Self::Auto,
    ];

    /// Parses a configuration name such as `"lru"` (case-insensitive).
    ///
    /// # Errors
    /// [`InvalidConfiguration`] naming the accepted values.
    pub fn parse(s: &str) -> Result<Self, InvalidConfiguration> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
                InvalidConfiguration::new(
                    "eviction",
                    format!("unknown policy {s:?}; expected one of {}", names.join(", ")),
                )
            })
    }

    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TinyLfu => "tinylfu",
            Self::Lru => "lru",
            Self::Fifo => "fifo",
            Self::Lfu => "lfu",
            Self::Clock => "clock",
            Self::Sieve => "sieve",
            Self::S3Fifo => "s3fifo",
            Self::Arc => "arc",
            Self::WTinyLfu => "w-tinylfu",
            Self::TtlFirst => "ttl-first",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for EvictionPolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of a storage tier: [`MEMORY_TIER`] or a configured backend.
/// Same syntax as a [`CacheName`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TierName(CacheName);

impl TierName {
    /// Parses a tier name.
    ///
    /// # Errors
    /// [`InvalidConfiguration`] on the `tiers` field.
    pub fn parse(s: &str) -> Result<Self, InvalidConfiguration> {
        CacheName::parse(s)
            .map(Self)
            .map_err(|e| InvalidConfiguration::new("tiers", format!("tier {s:?}: {}", e.reason)))
    }

    /// The in-process memory tier.
    pub fn memory() -> Self {
        Self(CacheName::parse(MEMORY_TIER).unwrap_or_else(|_| unreachable!("valid literal")))
    }

    /// Whether this is the in-process memory tier.
    pub fn is_memory(&self) -> bool {
        self.0.as_str() == MEMORY_TIER
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// The configuration of one cache: the aggregate root of cache settings.
///
/// Invariants, enforced by [`CacheConfigurationBuilder::build`]:
/// - at least one tier, no tier twice, and [`MEMORY_TIER`] only as the first
///   (L1) tier;
/// - capacity: `max_entries` and `max_bytes` are at least 1 when set, and a
///   cache with neither gets [`DEFAULT_MAX_ENTRIES`];
/// - `max_value_bytes` is 1 to [`HARD_MAX_VALUE_BYTES`] and no larger than
///   `max_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfiguration {
    name: CacheName,
    tiers: Vec<TierName>,
    eviction: EvictionPolicyKind,
    auto_active: EvictionPolicyKind,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    default_ttl: Option<Ttl>,
    max_value_bytes: u64,
    l1_max_ttl: Option<Ttl>,
    compression: Compression,
    encryption_key_id: Option<String>,
    persist: bool,
    snapshot_interval_secs: Option<u64>,
    cache_aside: CacheAsideDefaults,
    stale: StalePolicy,
    confirm_destructive: bool,
}

impl CacheConfiguration {
    /// A builder for cache `name`, preset to one memory tier, the default
    /// policy, no default TTL and [`DEFAULT_MAX_VALUE_BYTES`].
    ///
    /// ```
    /// use strata_domain::{CacheConfiguration, CacheName, EvictionPolicyKind};
    /// let config = CacheConfiguration::builder(CacheName::parse("sessions").unwrap())
    ///     .eviction(EvictionPolicyKind::Lru)
    ///     .max_bytes(Some(64 << 20))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.max_entries(), None);
    /// ```
    pub fn builder(name: CacheName) -> CacheConfigurationBuilder {
        CacheConfigurationBuilder {
            draft: CacheConfiguration {
                name,
                tiers: vec![TierName::memory()],
                eviction: EvictionPolicyKind::default(),
                auto_active: AUTO_START_POLICY,
                max_entries: None,
                max_bytes: None,
                default_ttl: None,
                max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
                l1_max_ttl: None,
                compression: Compression::default(),
                encryption_key_id: None,
                persist: false,
                snapshot_interval_secs: None,
                cache_aside: CacheAsideDefaults::default(),
                stale: StalePolicy::default(),
                confirm_destructive: false,
            },
        }
    }

    /// A builder preset to this configuration, to derive a changed one.
    pub fn to_builder(&self) -> CacheConfigurationBuilder {
        CacheConfigurationBuilder {
            draft: self.clone(),
        }
    }

    /// The cache's name.
    pub fn name(&self) -> &CacheName {
        &self.name
    }
    /// Tiers from L1 outwards.
    pub fn tiers(&self) -> &[TierName] {
        &self.tiers
    }
    /// Eviction policy of the memory tier, as configured (`Auto` included).
    pub fn eviction(&self) -> EvictionPolicyKind {
        self.eviction
    }
    /// The policy the memory tier runs: [`Self::eviction`], or under
    /// `auto` the policy the tuner chose ([`AUTO_START_POLICY`] at first).
    pub fn active_eviction(&self) -> EvictionPolicyKind {
        if self.eviction == EvictionPolicyKind::Auto {
            self.auto_active
        } else {
            self.eviction
        }
    }
    /// Capacity in entries, if bounded by count.
    pub fn max_entries(&self) -> Option<u64> {
        self.max_entries
    }
    /// Capacity in bytes (see [`CacheEntry::weight`](crate::CacheEntry::weight)), if bounded by size.
    pub fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }
    /// TTL applied to writes that name none; `None` keeps such entries until evicted.
    pub fn default_ttl(&self) -> Option<Ttl> {
        self.default_ttl
    }
    /// Largest accepted value, in bytes.
    pub fn max_value_bytes(&self) -> u64 {
        self.max_value_bytes
    }

    /// Cap on an entry's time in the memory tier of a stacked cache.
    pub fn l1_max_ttl(&self) -> Option<Ttl> {
        self.l1_max_ttl
    }

    /// Compression of values written to the shared tier.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Key id that encrypts values written to the shared tier, if any.
    pub fn encryption_key_id(&self) -> Option<&str> {
        self.encryption_key_id.as_deref()
    }

    /// Whether a memory-only cache snapshots its entries to disk at
    /// graceful shutdown (and every `snapshot_interval_secs`) and loads
    /// them at start-up (docs/operations.md, "Snapshots and warming").
    pub fn persist(&self) -> bool {
        self.persist
    }

    /// Seconds between periodic snapshots of a `persist` cache; `None`
    /// snapshots at graceful shutdown only.
    pub fn snapshot_interval_secs(&self) -> Option<u64> {
        self.snapshot_interval_secs
    }

    /// Defaults for `CacheService::get_with_options` on this cache.
    pub fn cache_aside(&self) -> CacheAsideDefaults {
        self.cache_aside
    }

    /// Stale windows and leases (RFC 5861; memcached's leases).
    pub fn stale(&self) -> StalePolicy {
        self.stale
    }

    /// Whether a flush, a delete of the cache, or an invalidation by
    /// pattern or tags must name the cache (`confirm=<cache name>`) to
    /// run: a guard against running them on the wrong cache by mistake
    /// (HTTP: 428 `confirmation_required`). Default false.
    pub fn confirm_destructive(&self) -> bool {
        self.confirm_destructive
    }

    /// Whether this cache stacks the memory tier over a shared one.
    pub fn is_tiered(&self) -> bool {
        self.tiers.len() > 1 && self.tiers[0].is_memory()
    }
}

/// Every setting of a [`CacheConfiguration`] as a plain field, for
/// adapters that store configurations: [`CacheConfiguration::to_parts`]
/// takes one apart and [`CacheConfiguration::from_parts`] checks and
/// rebuilds it.
///
/// Not `#[non_exhaustive]` on purpose: a codec that destructures it
/// without `..` (and builds it as a struct literal) stops compiling when a
/// setting is added, instead of silently dropping the new setting.
///
/// ```
/// use strata_domain::{CacheConfiguration, CacheName};
/// let config = CacheConfiguration::builder(CacheName::parse("p").unwrap())
///     .persist(true)
///     .build()
///     .unwrap();
/// let parts = config.to_parts();
/// assert!(parts.persist);
/// assert_eq!(CacheConfiguration::from_parts(parts).unwrap(), config);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfigurationParts {
    /// See [`CacheConfiguration::name`].
    pub name: CacheName,
    /// See [`CacheConfiguration::tiers`].
    pub tiers: Vec<TierName>,
    /// See [`CacheConfiguration::eviction`].
    pub eviction: EvictionPolicyKind,
    /// The policy `auto` runs (see [`CacheConfiguration::active_eviction`]);
    /// the default policy when `eviction` is not `auto`.
    pub auto_active: EvictionPolicyKind,
    /// See [`CacheConfiguration::max_entries`].
    pub max_entries: Option<u64>,
    /// See [`CacheConfiguration::max_bytes`].
    pub max_bytes: Option<u64>,
    /// See [`CacheConfiguration::default_ttl`].
    pub default_ttl: Option<Ttl>,
    /// See [`CacheConfiguration::max_value_bytes`].
    pub max_value_bytes: u64,
    /// See [`CacheConfiguration::l1_max_ttl`].
    pub l1_max_ttl: Option<Ttl>,
    /// See [`CacheConfiguration::compression`].
    pub compression: Compression,
    /// See [`CacheConfiguration::encryption_key_id`].
    pub encryption_key_id: Option<String>,
    /// See [`CacheConfiguration::persist`].
    pub persist: bool,
    /// See [`CacheConfiguration::snapshot_interval_secs`].
    pub snapshot_interval_secs: Option<u64>,
    /// See [`CacheConfiguration::cache_aside`].
    pub cache_aside: CacheAsideDefaults,
    /// See [`CacheConfiguration::stale`].
    pub stale: StalePolicy,
    /// See [`CacheConfiguration::confirm_destructive`].
    pub confirm_destructive: bool,
}

impl CacheConfiguration {
    /// Every setting as a plain field (see [`CacheConfigurationParts`]).
    pub fn to_parts(&self) -> CacheConfigurationParts {
        let Self {
            name,
            tiers,
            eviction,
            auto_active,
            max_entries,
            max_bytes,
            default_ttl,
            max_value_bytes,
            l1_max_ttl,
            compression,
            encryption_key_id,
            persist,
            snapshot_interval_secs,
            cache_aside,
            stale,
            confirm_destructive,
        } = self;
        CacheConfigurationParts {
            name: name.clone(),
            tiers: tiers.clone(),
            eviction: *eviction,
            auto_active: *auto_active,
            max_entries: *max_entries,
            max_bytes: *max_bytes,
            default_ttl: *default_ttl,
            max_value_bytes: *max_value_bytes,
            l1_max_ttl: *l1_max_ttl,
            compression: *compression,
            encryption_key_id: encryption_key_id.clone(),
            persist: *persist,
            snapshot_interval_secs: *snapshot_interval_secs,
            cache_aside: *cache_aside,
            stale: *stale,
            confirm_destructive: *confirm_destructive,
        }
    }

    /// The configuration `parts` describe, checked as
    /// [`CacheConfigurationBuilder::build`] checks it.
    ///
    /// # Errors
    /// [`InvalidConfiguration`] naming the first violated invariant's field.
    pub fn from_parts(parts: CacheConfigurationParts) -> Result<Self, InvalidConfiguration> {
        let CacheConfigurationParts {
            name,
            tiers,
            eviction,
            auto_active,
            max_entries,
            max_bytes,
            default_ttl,
            max_value_bytes,
            l1_max_ttl,
            compression,
            encryption_key_id,
            persist,
            snapshot_interval_secs,
            cache_aside,
            stale,
            confirm_destructive,
        } = parts;
        CacheConfigurationBuilder {
            draft: CacheConfiguration {
                name,
                tiers,
                eviction,
                auto_active,
                max_entries,
                max_bytes,
                default_ttl,
                max_value_bytes,
                l1_max_ttl,
                compression,
                encryption_key_id,
                persist,
                snapshot_interval_secs,
                cache_aside,
                stale,
                confirm_destructive,
            },
        }
        .build()
    }
}

/// Builds a validated [`CacheConfiguration`]; see its invariants.
#[derive(Clone, Debug)]
pub struct CacheConfigurationBuilder {
    /// The configuration as set so far, not yet checked.
    draft: CacheConfiguration,
}

/// Builder setters, each storing its argument in the draft's field of its
/// name.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.draft.$name = $name;
                self
            }
        )*
    };
}

impl CacheConfigurationBuilder {
    setters! {
        /// Snapshot a memory-only cache to disk (see
        /// [`CacheConfiguration::persist`]).
        persist: bool;
        /// Seconds between periodic snapshots (at least 1; needs `persist`).
        snapshot_interval_secs: Option<u64>;
        /// Defaults for `get_with_options` (checked by `build`).
        cache_aside: CacheAsideDefaults;
        /// Stale windows and lease TTL (checked by `build`).
        stale: StalePolicy;
        /// Require `confirm=<cache name>` for destructive operations (see
        /// [`CacheConfiguration::confirm_destructive`]).
        confirm_destructive: bool;
        /// Tiers from L1 outwards.
        tiers: Vec<TierName>;
        /// Eviction policy of the memory tier.
        eviction: EvictionPolicyKind;
        /// Capacity in entries.
        max_entries: Option<u64>;
        /// Capacity in bytes.
        max_bytes: Option<u64>;
        /// Default TTL.
        default_ttl: Option<Ttl>;
        /// Largest accepted value in bytes.
        max_value_bytes: u64;
        /// Longest time an entry stays in the memory (L1) tier of a stacked
        /// cache, bounding staleness if a coherence message is lost.
        l1_max_ttl: Option<Ttl>;
        /// Compression of values written to the shared tier.
        compression: Compression;
        /// Id of the key (in the service's keyring) that encrypts values
        /// written to the shared tier with AES-256-GCM; `None` stores plain.
        encryption_key_id: Option<String>;
    }

    /// Under `eviction = auto`, the policy in force (ignored, and not
    /// kept, otherwise). Only `tinylfu`, `ttl-first` and `auto` itself are
    /// refused by `build`.
    pub fn active_eviction(mut self, policy: EvictionPolicyKind) -> Self {
        self.draft.auto_active = policy;
        self
    }

    /// Checks the invariants and builds the configuration.
    ///
    /// # Errors
    /// [`InvalidConfiguration`] naming the first violated invariant's field.
    pub fn build(self) -> Result<CacheConfiguration, InvalidConfiguration> {
        let c = self.draft;
        if c.tiers.is_empty() {
            return Err(InvalidConfiguration::new(
                "tiers",
                "at least one tier is required",
            ));
        }
        for (i, tier) in c.tiers.iter().enumerate() {
            if c.tiers[..i].contains(tier) {
                return Err(InvalidConfiguration::new(
                    "tiers",
                    format!("tier {:?} is listed twice", tier.as_str()),
                ));
            }
            if tier.is_memory() && i != 0 {
                return Err(InvalidConfiguration::new(
                    "tiers",
                    "the memory tier can only be the first (L1) tier",
                ));
            }
        }
        if let Some(kid) = &c.encryption_key_id
            && (kid.is_empty()
                || kid.len() > MAX_KEY_ID_BYTES
                || !kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(InvalidConfiguration::new(
                "encryption_key_id",
                format!("must be 1 to {MAX_KEY_ID_BYTES} characters of [A-Za-z0-9_-]"),
            ));
        }
        if c.encryption_key_id.is_some() && c.tiers.len() == 1 && c.tiers[0].is_memory() {
            return Err(InvalidConfiguration::new(
                "encryption_key_id",
                "encryption applies to shared tiers; this cache has only the memory tier",
            ));
        }
        if c.persist && !(c.tiers.len() == 1 && c.tiers[0].is_memory()) {
            return Err(InvalidConfiguration::new(
                "persist",
                "snapshots are for memory-only caches (tiers = [\"memory\"]); a stacked cache warms its L1 from L2 instead",
            ));
        }
        if let Some(secs) = c.snapshot_interval_secs {
            if !c.persist {
                return Err(InvalidConfiguration::new(
                    "snapshot_interval_secs",
                    "needs persist = true",
                ));
            }
            if secs == 0 {
                return Err(InvalidConfiguration::new(
                    "snapshot_interval_secs",
                    "must be at least 1",
                ));
            }
        }
        c.cache_aside.validate()?;
        c.stale.validate()?;
        if c.max_entries == Some(0) {
            return Err(InvalidConfiguration::new(
                "max_entries",
                "must be at least 1",
            ));
        }
        if c.max_bytes == Some(0) {
            return Err(InvalidConfiguration::new("max_bytes", "must be at least 1"));
        }
        if !(1..=HARD_MAX_VALUE_BYTES).contains(&c.max_value_bytes) {
            return Err(InvalidConfiguration::new(
                "max_value_bytes",
                format!("must be between 1 and {HARD_MAX_VALUE_BYTES} bytes"),
            ));
        }
        if let Some(max_bytes) = c.max_bytes
            && c.max_value_bytes > max_bytes
        {
            return Err(InvalidConfiguration::new(
                "max_value_bytes",
                format!(
                    "{} exceeds the cache's max_bytes {max_bytes}",
                    c.max_value_bytes
                ),
            ));
        }
        // The policy `auto` runs means nothing under another policy: it is
        // neither checked nor kept there, so two configurations that behave
        // alike are equal (and a stored one reads back equal).
        let auto_active = if c.eviction == EvictionPolicyKind::Auto {
            c.auto_active
        } else {
            AUTO_START_POLICY
        };
        if matches!(
            auto_active,
            EvictionPolicyKind::Auto | EvictionPolicyKind::TinyLfu | EvictionPolicyKind::TtlFirst
        ) {
            return Err(InvalidConfiguration::new(
                "eviction",
                format!("auto cannot run {:?}", auto_active.as_str()),
            ));
        }
        let max_entries = match (c.max_entries, c.max_bytes) {
            (None, None) => Some(DEFAULT_MAX_ENTRIES),
            (entries, _) => entries,
        };
        Ok(CacheConfiguration {
            auto_active,
            max_entries,
            ..c
        })
    }
}

/// Version of a stored configuration: 1 for the first save of a cache,
/// then one more on every change. The repository checks it on every save
/// (compare-and-set), so concurrent changes are ordered.
pub type ConfigVersion = u64;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn builder() -> CacheConfigurationBuilder {
        CacheConfiguration::builder(CacheName::parse("c").unwrap())
    }

    #[test]
    fn defaults() {
        let c = builder().build().unwrap();
        assert_eq!(c.tiers(), &[TierName::memory()]);
        assert_eq!(c.max_entries(), Some(DEFAULT_MAX_ENTRIES));
        assert_eq!(c.eviction(), EvictionPolicyKind::Auto);
        assert_eq!(c.active_eviction(), AUTO_START_POLICY);
        assert_ne!(AUTO_START_POLICY, EvictionPolicyKind::Auto);
        let pinned = builder()
            .eviction(EvictionPolicyKind::Sieve)
            .build()
            .unwrap();
        assert_eq!(pinned.active_eviction(), EvictionPolicyKind::Sieve);
        assert_eq!(c.max_value_bytes(), DEFAULT_MAX_VALUE_BYTES);
    }

    #[test]
    fn rejects_broken_invariants() {
        let t = |s: &str| TierName::parse(s).unwrap();
        let cases = [
            (builder().tiers(vec![]), "tiers"),
            (builder().tiers(vec![t("main"), t("memory")]), "tiers"),
            (builder().tiers(vec![t("memory"), t("memory")]), "tiers"),
            (builder().max_entries(Some(0)), "max_entries"),
            (builder().max_bytes(Some(0)), "max_bytes"),
            (builder().max_value_bytes(0), "max_value_bytes"),
            (
                builder().max_value_bytes(HARD_MAX_VALUE_BYTES + 1),
                "max_value_bytes",
            ),
            (
                builder().max_bytes(Some(10)).max_value_bytes(11),
                "max_value_bytes",
            ),
        ];
        for (b, field) in cases {
            assert_eq!(b.build().unwrap_err().field, field);
        }
    }

    #[test]
    fn policy_names_round_trip() {
        for p in EvictionPolicyKind::ALL {
            assert_eq!(EvictionPolicyKind::parse(p.as_str()).unwrap(), p);
        }
        assert!(
            EvictionPolicyKind::parse("random")
                .unwrap_err()
                .reason
                .contains("sieve")
        );
    }

    proptest! {
        #[test]
        fn built_configurations_hold_their_invariants(
            entries in proptest::option::of(0u64..1000),
            bytes in proptest::option::of(0u64..(1 << 30)),
            value in 0u64..(HARD_MAX_VALUE_BYTES * 2),
        ) {
            if let Ok(c) = builder().max_entries(entries).max_bytes(bytes).max_value_bytes(value).build() {
                prop_assert!(c.max_entries().is_some() || c.max_bytes().is_some());
                prop_assert!(c.max_entries() != Some(0) && c.max_bytes() != Some(0));
                prop_assert!((1..=HARD_MAX_VALUE_BYTES).contains(&c.max_value_bytes()));
                prop_assert!(c.max_bytes().is_none_or(|b| c.max_value_bytes() <= b));
                prop_assert_eq!(c.to_builder().build().unwrap(), c);
            }
        }
    }
}
