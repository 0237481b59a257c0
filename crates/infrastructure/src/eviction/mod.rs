//! Pluggable eviction policies and the trace simulator that measures them.
//!
//! One [`EvictionPolicy`] trait, one module per algorithm with its own config
//! struct, and a closed [`PolicyConfig`] enum that builds an [`AnyPolicy`]:
//! an enum over the concrete policies, dispatched by `match`, so the hot
//! path has no `dyn`. The same code runs in the store and in
//! [`simulator::simulate`], which replays real traces and reproduces
//! libCacheSim's reference miss ratios (see `docs/eviction.md`).
//!
//! Policies track keys and weights only (never values): a store keeps its
//! values elsewhere and asks the policy what to evict. Every policy is
//! single-threaded (`&mut self`); a concurrent store shards or locks it.
//!
//! The bookkeeping every policy shares (key index, slab of entries, weight
//! accounting, the evict-until-it-fits insert, drain) is written once in
//! `keyed.rs`: FIFO, LRU, CLOCK and SIEVE are a queue discipline, LFU and
//! TTL-first a ranking, over its `Keyed` base; ARC, S3-FIFO and W-TinyLFU
//! keep their several queues in its `Segments`. All of it is generic and
//! statically dispatched.
//!
//! ```
//! use strata_infrastructure::eviction::{EvictionPolicy, PolicyConfig};
//!
//! let mut policy = PolicyConfig::parse("sieve")?.build::<&str>(2);
//! let mut evicted = Vec::new();
//! assert!(!policy.access(&"a"));
//! policy.insert("a", 1, None, &mut evicted);
//! policy.insert("b", 1, None, &mut evicted);
//! policy.insert("c", 1, None, &mut evicted);
//! assert_eq!(evicted, vec![("a", 1)]);
//! # Ok::<(), strata_infrastructure::eviction::UnknownPolicy>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;

pub mod arc;
pub mod auto;
pub mod clock;
pub mod fifo;
mod key_hash;
mod keyed;
pub mod lfu;
mod list;
pub mod lru;
pub mod mrc;
pub mod s3fifo;
pub mod sieve;
pub mod simulator;
mod sketch;
pub mod synthetic;
pub mod ttl_first;
pub mod wtinylfu;

pub use arc::{ArcConfig, ArcPolicy};
pub use clock::{ClockConfig, ClockPolicy};
pub use fifo::{Fifo, FifoConfig};
pub use lfu::{Lfu, LfuConfig};
pub use lru::{Lru, LruConfig};
pub use s3fifo::{S3Fifo, S3FifoConfig};
pub use sieve::{Sieve, SieveConfig};
pub use ttl_first::{TtlFirst, TtlFirstConfig};
pub use wtinylfu::{SketchAgeing, WTinyLfu, WTinyLfuConfig};

/// Decides which resident keys to evict when a bounded cache is full.
///
/// A policy knows keys and their *weights* (bytes in byte mode, 1 per entry
/// in object mode; any unit, as long as the capacity uses the same one).
///
/// Contract, which every implementation in this module satisfies and checks
/// in its property tests:
/// - `used()` MUST equal the sum of the weights of resident keys and MUST
///   NOT exceed `capacity()` after any call returns; `len()` MUST equal the
///   number of resident keys.
/// - `access` MUST return `true` exactly when the key is resident, MAY
///   update recency/frequency state, and MUST NOT change a weight, evict, or
///   make a key resident.
/// - `insert` of a weight larger than `capacity()` or than [`MAX_WEIGHT`]
///   MUST return `false` and MUST NOT evict anything (a resident key of that name is removed,
///   as for any insert of a resident key). Otherwise it MUST
///   evict (oldest-ranked first, one at a time) until `used() + weight <=
///   capacity()`, push every evicted `(key, weight)` onto `evicted` in
///   eviction order, and then either make the key resident (return `true`)
///   or, for admission-filtered policies, decide not to (return `false`;
///   only W-TinyLFU and S3-FIFO reject, for weights above their window or
///   small queue). Evicted keys MUST NOT be resident when `insert` returns.
///   Inserting a key that is already resident MUST behave like `remove`
///   followed by `insert`.
/// - `remove` MUST return the weight of a resident key and make it
///   non-resident, or return `None` and change nothing visible for a
///   non-resident key. (ARC and S3-FIFO keep ghost history of removed keys.)
/// - `contains` MUST NOT change any state.
/// - `drain` MUST return every resident key exactly once, roughly in
///   eviction order, and leave the policy empty (`len() == 0`,
///   `used() == 0`) and ready for reuse.
///
/// Implementations are `Send` so a store can move them between threads;
/// they are not `Sync`-shared: callers serialise access.
///
/// Look-ups (`access`, `remove`, `contains`, `get`) take any borrowed form
/// of the key (`&str` for a string-like key), hashed as [`Borrow`]
/// requires. Each key is stored once, in the policy: `get` hands it back,
/// so a store can keep its payload in the key itself ([`PolicyKey`]).
pub trait EvictionPolicy<K>: Send
where
    K: PolicyKey,
{
    /// Records a request for `key`; returns `true` (a hit) when it is
    /// resident. Updates recency/frequency state; never changes a weight.
    fn access<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Inserts `key` with `weight` (in the capacity's unit) and an optional
    /// expiry hint in milliseconds since an arbitrary epoch (only
    /// [`TtlFirst`] uses it). Evicts until the key fits, pushing every
    /// evicted `(key, weight)` onto `evicted`; returns whether the key was
    /// admitted. See the trait documentation for the full contract.
    fn insert(
        &mut self,
        key: K,
        weight: u64,
        expires_at_ms: Option<u64>,
        evicted: &mut Vec<(K, u64)>,
    ) -> bool;

    /// Removes a resident key (explicit delete or expiry), returning its
    /// weight, or `None` when it was not resident.
    fn remove<Q>(&mut self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Whether `key` is resident; changes no state.
    fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// The resident key equal to `key`, as it was inserted; changes no
    /// state (`None` for a ghost or an unknown key).
    fn get<Q>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Calls `f` with every resident key and its weight, in no particular
    /// order; changes no state.
    fn for_each_resident(&self, f: &mut dyn FnMut(&K, u64));

    /// Number of resident keys.
    fn len(&self) -> usize;

    /// Whether no key is resident.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the weights of resident keys.
    fn used(&self) -> u64;

    /// The most weight this policy holds.
    fn capacity(&self) -> u64;

    /// Removes and returns every resident key with its weight, roughly in
    /// eviction order (used when switching policies at run time).
    fn drain(&mut self) -> Vec<(K, u64)>;

    /// How often the resident `key` was requested, as far as this policy
    /// knows: LFU's count, CLOCK's counter, SIEVE's visited bit,
    /// W-TinyLFU's sketch estimate; 0 for a key it does not hold or a
    /// policy that keeps no such state (the default). A switch carries it
    /// to the next policy ([`migrate`]); changes no state.
    fn frequency_hint(&self, key: &K) -> u32 {
        let _ = key;
        0
    }

    /// Takes a frequency hint for `key` from the policy a switch leaves,
    /// before `key` is inserted ([`migrate`]). W-TinyLFU adds it to its
    /// sketch, so a key that was hot before the switch wins admission
    /// contests against a cold one; the default ignores it.
    fn seed_frequency<Q>(&mut self, key: &Q, hint: u32)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _ = (key, hint);
    }
}

/// Moves every resident entry of `from` into `to`, oldest first, carrying
/// over what `to` can use: residency for all, and each key's
/// [`EvictionPolicy::frequency_hint`] for a policy that takes it
/// ([`EvictionPolicy::seed_frequency`]; W-TinyLFU seeds its sketch). The
/// hints are read before `from` is drained and seeded before the first
/// insert, so the migration's own admission contests already use them.
/// Entries `to` evicts on the way are pushed onto `evicted`.
pub fn migrate<K: PolicyKey>(
    from: &mut AnyPolicy<K>,
    to: &mut AnyPolicy<K>,
    evicted: &mut Vec<(K, u64)>,
) {
    use std::hash::BuildHasher;
    let hasher = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
    let mut hints = std::collections::HashMap::new();
    from.for_each_resident(&mut |key, _| {
        let hint = from.frequency_hint(key);
        if hint > 0 {
            hints.insert(hasher.hash_one(key), hint);
        }
    });
    let entries = from.drain();
    if !hints.is_empty() {
        for (key, _) in &entries {
            if let Some(&hint) = hints.get(&hasher.hash_one(key)) {
                to.seed_frequency(key, hint);
            }
        }
    }
    for (key, weight) in entries {
        to.insert(key, weight, None, evicted);
    }
}

/// The largest weight a policy admits (4 GiB - 1 in byte mode): policies
/// keep weights in 32 bits. A store's entries are far lighter (values are
/// at most 64 MiB).
pub const MAX_WEIGHT: u64 = u32::MAX as u64;

/// What a policy needs of its keys: hashing, equality, and a way to copy a
/// key for the policy's own memory.
///
/// Every `Clone` key is one (the copy is a clone). A key type that carries
/// a payload (a store's entry, stored once, in the policy) implements it
/// itself, and its copy keeps only what identifies the key: ARC's and
/// S3-FIFO's ghost lists keep such copies of evicted keys, and
/// [`EvictionPolicy::drain`] may return them, so a ghost never keeps a
/// payload alive. A copy MUST hash and compare equal to the original.
pub trait PolicyKey: Hash + Eq + Send {
    /// A copy identifying the same key (see the trait documentation).
    fn key_copy(&self) -> Self;
}

impl<T: Hash + Eq + Clone + Send> PolicyKey for T {
    #[inline]
    fn key_copy(&self) -> Self {
        self.clone()
    }
}

/// The configuration name of a [`PolicyConfig`] or [`AnyPolicy`] (they share
/// variant names), written once for both.
macro_rules! variant_name {
    ($value:expr) => {
        match $value {
            Self::Lru(_) => "lru",
            Self::Fifo(_) => "fifo",
            Self::Lfu(_) => "lfu",
            Self::Clock(_) => "clock",
            Self::Sieve(_) => "sieve",
            Self::S3Fifo(_) => "s3fifo",
            Self::Arc(_) => "arc",
            Self::WTinyLfu(_) => "w-tinylfu",
            Self::TtlFirst(_) => "ttl-first",
        }
    };
}

/// The configuration of one eviction policy: a closed set, one variant per
/// algorithm, each with its own config struct.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyConfig {
    /// Least recently used.
    Lru(LruConfig),
    /// First in, first out.
    Fifo(FifoConfig),
    /// Least frequently used (in-cache frequency, ties by age).
    Lfu(LfuConfig),
    /// CLOCK / second chance.
    Clock(ClockConfig),
    /// SIEVE (NSDI'24).
    Sieve(SieveConfig),
    /// S3-FIFO (SOSP'23).
    S3Fifo(S3FifoConfig),
    /// Adaptive Replacement Cache (FAST'03).
    Arc(ArcConfig),
    /// Window TinyLFU (ACM ToS 2017).
    WTinyLfu(WTinyLfuConfig),
    /// Soonest expiry first (Redis `volatile-ttl`).
    TtlFirst(TtlFirstConfig),
}

/// The error of [`PolicyConfig::parse`]: the name is not a known policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown eviction policy {:?}; expected one of: {}",
            self.0,
            PolicyConfig::NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

impl PolicyConfig {
    /// The configuration names [`PolicyConfig::parse`] accepts, in
    /// [`PolicyConfig::all`] order.
    pub const NAMES: [&'static str; 9] = [
        "lru",
        "fifo",
        "lfu",
        "clock",
        "sieve",
        "s3fifo",
        "arc",
        "w-tinylfu",
        "ttl-first",
    ];

    /// Every policy with its default configuration.
    pub fn all() -> Vec<PolicyConfig> {
        Self::NAMES
            .iter()
            .filter_map(|name| Self::parse(name).ok())
            .collect()
    }

    /// The configuration name of this policy (one of [`PolicyConfig::NAMES`]).
    pub fn name(&self) -> &'static str {
        variant_name!(self)
    }

    /// Parses a configuration name (case-insensitive; `s3-fifo`, `wtinylfu`,
    /// `ttl` and `volatile-ttl` are accepted as aliases) into the policy's
    /// default configuration. `tinylfu` is not a name here: in a cache's
    /// configuration it means moka's own policy (`MokaStore`).
    ///
    /// # Errors
    /// [`UnknownPolicy`] when the name is not a known policy.
    pub fn parse(name: &str) -> Result<Self, UnknownPolicy> {
        let lower = name.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "lru" => LruConfig.into(),
            "fifo" => FifoConfig.into(),
            "lfu" => LfuConfig.into(),
            "clock" => ClockConfig::default().into(),
            "sieve" => SieveConfig.into(),
            "s3fifo" | "s3-fifo" => S3FifoConfig::default().into(),
            "arc" => ArcConfig.into(),
            "w-tinylfu" | "wtinylfu" => WTinyLfuConfig::default().into(),
            "ttl-first" | "ttl" | "volatile-ttl" => TtlFirstConfig.into(),
            _ => return Err(UnknownPolicy(name.to_owned())),
        })
    }

    /// Builds an empty policy holding at most `capacity` weight units.
    pub fn build<K>(&self, capacity: u64) -> AnyPolicy<K>
    where
        K: PolicyKey,
    {
        match self {
            Self::Lru(c) => AnyPolicy::Lru(Lru::new(capacity, c)),
            Self::Fifo(c) => AnyPolicy::Fifo(Fifo::new(capacity, c)),
            Self::Lfu(c) => AnyPolicy::Lfu(Lfu::new(capacity, c)),
            Self::Clock(c) => AnyPolicy::Clock(ClockPolicy::new(capacity, c)),
            Self::Sieve(c) => AnyPolicy::Sieve(Sieve::new(capacity, c)),
            Self::S3Fifo(c) => AnyPolicy::S3Fifo(S3Fifo::new(capacity, c)),
            Self::Arc(c) => AnyPolicy::Arc(ArcPolicy::new(capacity, c)),
            Self::WTinyLfu(c) => AnyPolicy::WTinyLfu(WTinyLfu::new(capacity, c)),
            Self::TtlFirst(c) => AnyPolicy::TtlFirst(TtlFirst::new(capacity, c)),
        }
    }
}

impl fmt::Display for PolicyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for PolicyConfig {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

macro_rules! config_from {
    ($($config:ident => $variant:ident),* $(,)?) => {
        $(
            impl From<$config> for PolicyConfig {
                fn from(config: $config) -> Self {
                    Self::$variant(config)
                }
            }
        )*
    };
}

config_from! {
    LruConfig => Lru,
    FifoConfig => Fifo,
    LfuConfig => Lfu,
    ClockConfig => Clock,
    SieveConfig => Sieve,
    S3FifoConfig => S3Fifo,
    ArcConfig => Arc,
    WTinyLfuConfig => WTinyLfu,
    TtlFirstConfig => TtlFirst,
}

/// The error of converting a domain [`strata_domain::EvictionPolicyKind`] to a
/// [`PolicyConfig`]: the policy is not one of this module's (moka's
/// `tinylfu`, which `MokaStore` runs itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInProcess(pub strata_domain::EvictionPolicyKind);

impl fmt::Display for NotInProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "eviction policy {:?} has no PolicyConfig; expected one of: {}",
            self.0.as_str(),
            PolicyConfig::NAMES.join(", ")
        )
    }
}

impl std::error::Error for NotInProcess {}

impl TryFrom<strata_domain::EvictionPolicyKind> for PolicyConfig {
    type Error = NotInProcess;

    /// The default configuration of the configured policy, as
    /// [`PolicyConfig::parse`] of its name gives it.
    ///
    /// # Errors
    /// [`NotInProcess`] for `TinyLfu` (moka's own policy).
    fn try_from(policy: strata_domain::EvictionPolicyKind) -> Result<Self, Self::Error> {
        use strata_domain::EvictionPolicyKind as Configured;
        Ok(match policy {
            Configured::TinyLfu | Configured::Auto => return Err(NotInProcess(policy)),
            Configured::Lru => LruConfig.into(),
            Configured::Fifo => FifoConfig.into(),
            Configured::Lfu => LfuConfig.into(),
            Configured::Clock => ClockConfig::default().into(),
            Configured::Sieve => SieveConfig.into(),
            Configured::S3Fifo => S3FifoConfig::default().into(),
            Configured::Arc => ArcConfig.into(),
            Configured::WTinyLfu => WTinyLfuConfig::default().into(),
            Configured::TtlFirst => TtlFirstConfig.into(),
        })
    }
}

/// Any of this module's policies, dispatched statically by `match`.
#[derive(Debug)]
pub enum AnyPolicy<K> {
    /// See [`Lru`].
    Lru(Lru<K>),
    /// See [`Fifo`].
    Fifo(Fifo<K>),
    /// See [`Lfu`].
    Lfu(Lfu<K>),
    /// See [`ClockPolicy`].
    Clock(ClockPolicy<K>),
    /// See [`Sieve`].
    Sieve(Sieve<K>),
    /// See [`S3Fifo`].
    S3Fifo(S3Fifo<K>),
    /// See [`ArcPolicy`].
    Arc(ArcPolicy<K>),
    /// See [`WTinyLfu`].
    WTinyLfu(WTinyLfu<K>),
    /// See [`TtlFirst`].
    TtlFirst(TtlFirst<K>),
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $body:expr) => {
        match $self {
            AnyPolicy::Lru($p) => $body,
            AnyPolicy::Fifo($p) => $body,
            AnyPolicy::Lfu($p) => $body,
            AnyPolicy::Clock($p) => $body,
            AnyPolicy::Sieve($p) => $body,
            AnyPolicy::S3Fifo($p) => $body,
            AnyPolicy::Arc($p) => $body,
            AnyPolicy::WTinyLfu($p) => $body,
            AnyPolicy::TtlFirst($p) => $body,
        }
    };
}

impl<K> AnyPolicy<K> {
    /// The configuration name of the wrapped policy.
    pub fn name(&self) -> &'static str {
        variant_name!(self)
    }
}

#[cfg(test)]
impl<K: PolicyKey> AnyPolicy<K> {
    pub(crate) fn check_invariants(&self) {
        dispatch!(self, p => p.check_invariants());
    }
}

impl<K> EvictionPolicy<K> for AnyPolicy<K>
where
    K: PolicyKey,
{
    #[inline]
    fn access<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, p => p.access(key))
    }

    #[inline]
    fn insert(
        &mut self,
        key: K,
        weight: u64,
        expires_at_ms: Option<u64>,
        evicted: &mut Vec<(K, u64)>,
    ) -> bool {
        dispatch!(self, p => p.insert(key, weight, expires_at_ms, evicted))
    }

    #[inline]
    fn remove<Q>(&mut self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, p => p.remove(key))
    }

    #[inline]
    fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, p => p.contains(key))
    }

    #[inline]
    fn get<Q>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, p => p.get(key))
    }

    fn for_each_resident(&self, f: &mut dyn FnMut(&K, u64)) {
        dispatch!(self, p => p.for_each_resident(f))
    }

    #[inline]
    fn len(&self) -> usize {
        dispatch!(self, p => p.len())
    }

    #[inline]
    fn used(&self) -> u64 {
        dispatch!(self, p => p.used())
    }

    #[inline]
    fn capacity(&self) -> u64 {
        dispatch!(self, p => p.capacity())
    }

    fn drain(&mut self) -> Vec<(K, u64)> {
        dispatch!(self, p => p.drain())
    }

    fn frequency_hint(&self, key: &K) -> u32 {
        dispatch!(self, p => p.frequency_hint(key))
    }

    fn seed_frequency<Q>(&mut self, key: &Q, hint: u32)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, p => p.seed_frequency(key, hint))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_round_trip() {
        for config in PolicyConfig::all() {
            assert_eq!(PolicyConfig::parse(config.name()).as_ref(), Ok(&config));
            let policy = config.build::<u64>(10);
            assert_eq!(policy.name(), config.name());
        }
        assert_eq!(PolicyConfig::all().len(), PolicyConfig::NAMES.len());
        assert!(PolicyConfig::parse("mru").is_err());
        assert_eq!(
            PolicyConfig::parse("S3-FIFO").map(|c| c.name()),
            Ok("s3fifo")
        );
    }

    #[test]
    fn every_configured_policy_but_moka_converts_as_its_name_parses() {
        for configured in strata_domain::EvictionPolicyKind::ALL {
            let converted = PolicyConfig::try_from(configured);
            if matches!(
                configured,
                strata_domain::EvictionPolicyKind::TinyLfu
                    | strata_domain::EvictionPolicyKind::Auto
            ) {
                assert_eq!(converted, Err(NotInProcess(configured)));
            } else {
                assert_eq!(
                    converted,
                    PolicyConfig::parse(configured.as_str()).map_err(|_| NotInProcess(configured))
                );
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Get { key: u8, weight: u8 },
        Remove { key: u8 },
        Oversized { key: u8 },
        Drain,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            20 => (0u8..40, 1u8..6).prop_map(|(key, weight)| Op::Get { key, weight }),
            3 => (0u8..40).prop_map(|key| Op::Remove { key }),
            1 => (0u8..40).prop_map(|key| Op::Oversized { key }),
            1 => Just(Op::Drain),
        ]
    }

    /// Replays `ops` against one policy, checking the trait contract after
    /// every call against a model of the resident set.
    fn check_contract(config: &PolicyConfig, capacity: u64, ops: &[Op]) {
        let mut policy = config.build::<u8>(capacity);
        let mut resident: HashMap<u8, u64> = HashMap::new();
        let mut evicted = Vec::new();
        for op in ops {
            match *op {
                Op::Get { key, weight } => {
                    let weight = u64::from(weight);
                    let hit = policy.access(&key);
                    assert_eq!(
                        hit,
                        resident.contains_key(&key),
                        "{config}: access of {key}"
                    );
                    if !hit {
                        evicted.clear();
                        let admitted =
                            policy.insert(key, weight, Some(u64::from(key) * 10), &mut evicted);
                        for (gone, w) in &evicted {
                            assert_eq!(
                                resident.remove(gone),
                                Some(*w),
                                "{config}: evicted {gone} was not resident"
                            );
                            assert!(
                                !policy.contains(gone),
                                "{config}: evicted {gone} still resident"
                            );
                        }
                        if admitted {
                            resident.insert(key, weight);
                        } else {
                            assert!(!policy.contains(&key));
                        }
                    }
                }
                Op::Remove { key } => {
                    assert_eq!(
                        policy.remove(&key),
                        resident.remove(&key),
                        "{config}: remove {key}"
                    );
                    assert!(!policy.contains(&key));
                    assert!(!policy.access(&key), "{config}: removed key {key} hit");
                }
                Op::Oversized { key } => {
                    let before = policy.used();
                    let was = policy.contains(&key);
                    evicted.clear();
                    if was {
                        // Inserting a resident key removes it first.
                        resident.remove(&key);
                    }
                    assert!(!policy.insert(key, capacity + 1, None, &mut evicted));
                    assert!(evicted.is_empty(), "{config}: oversized insert evicted");
                    assert!(!policy.contains(&key));
                    if !was {
                        assert_eq!(policy.used(), before);
                    }
                }
                Op::Drain => {
                    let mut drained = policy.drain();
                    drained.sort_unstable();
                    let mut expected: Vec<(u8, u64)> = resident.drain().collect();
                    expected.sort_unstable();
                    assert_eq!(drained, expected, "{config}: drain");
                    assert_eq!((policy.len(), policy.used()), (0, 0));
                }
            }
            assert!(
                policy.used() <= policy.capacity(),
                "{config}: over capacity"
            );
            assert_eq!(
                policy.used(),
                resident.values().sum::<u64>(),
                "{config}: used"
            );
            assert_eq!(policy.len(), resident.len(), "{config}: len");
            for key in resident.keys() {
                assert!(policy.contains(key), "{config}: lost {key}");
            }
            policy.check_invariants();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn every_policy_keeps_the_contract(
            capacity in 1u64..40,
            ops in prop::collection::vec(op(), 1..300),
        ) {
            for config in PolicyConfig::all() {
                check_contract(&config, capacity, &ops);
            }
            let climbing = WTinyLfuConfig { hill_climbing: true, ..WTinyLfuConfig::default() };
            check_contract(&climbing.into(), capacity, &ops);
            check_contract(&ClockConfig { bits: 2 }.into(), capacity, &ops);
            let wide_window = WTinyLfuConfig { window_ratio: 0.25, ..WTinyLfuConfig::default() };
            check_contract(&wide_window.into(), capacity, &ops);
            let big_small = S3FifoConfig { small_ratio: 0.5, ..S3FifoConfig::default() };
            check_contract(&big_small.into(), capacity, &ops);
        }
    }
}
