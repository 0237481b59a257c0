//! Strata's domain: the pure model of a cache service.
//!
//! It holds the validated value objects ([`CacheName`], [`CacheKey`],
//! [`CacheValue`], [`Ttl`], [`Tag`], [`KeyPattern`]), the
//! [`CacheConfiguration`] aggregate, the domain events and the ports the
//! outer layers implement ([`CacheStore`], [`StoreProvider`],
//! [`ConfigurationRepository`], [`EventPublisher`], [`Clock`],
//! [`Authenticator`], [`AuditLog`], [`MrcAnalyzer`]) and who acts ([`Principal`], its [`Grant`]s and
//! [`Role`]s).
//!
//! It must not know: an async runtime, a serialization format, HTTP, a
//! database driver or the system clock (time comes from the [`Clock`] port).
//! The architecture-conformance test in `tests/architecture.rs` enforces it.

mod advice;
mod alerts;
mod audit;
mod build_cache;
mod cache_aside;
mod configuration;
mod credential;
mod entry;
mod events;
mod invalid_configuration;
mod invalidation;
mod key;
mod lease;
mod lifetimes;
mod mrc;
mod name;
mod pattern;
mod ports;
mod principal;
mod provenance;
mod scheduler;
mod session;
mod stale_policy;
mod tag;
pub mod tasks;
mod time;
mod trends;
mod usage;
mod value;

pub use advice::{
    CompressibilitySample, CompressionProbe, EXPIRED_UNREAD_SHARE, MAX_PROBES, MIN_EXPIRED_LIVES,
    MIN_PROBES, NOT_WORTH_COMPRESSING, PROBE_EVERY_WRITES, PROBE_MAX_BYTES,
    REQUESTED_AFTER_EXPIRY_SHARE, SettingRecommendation, WORTH_COMPRESSING,
    compression_recommendation, ttl_recommendation,
};
pub use alerts::{
    Alert, AlertNotification, AlertNotifier, AlertRule, AlertRuleError, AlertState, AnomalyBand,
    BUILTIN_MIN_REQUESTS, Baseline, BuiltinParameters, Comparison, Condition, Direction,
    MAX_FOR_SECS, SERVER_SOURCE, Severity, Signal, Silence, builtin_rules,
};
pub use audit::{
    AUDIT_ATTEMPT, AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, AUDIT_OK, AuditAction, AuditError,
    AuditLog, AuditQuery, AuditRecord,
};
pub use build_cache::{
    AcEntry, AcWriter, ActionCache, ActionResultFormat, ActionResultRefs, BlobRead, BlobReader,
    BlobWriter, BuildCacheError, Committed, ContentStore, Digest, DigestHash, DigestPrefix,
    EntryMeta, FlushCriteria, FlushResult, FlushScope, IndexRebuild, InstanceName,
    InvalidActionResult, InvalidDigest, InvalidInstanceName, MAX_INSTANCE_NAME_BYTES, ReadRange,
    SHA256_HEX_LEN, StoreFlushReport, StoreKind, StoreUsage,
};
pub use cache_aside::{CacheAsideDefaults, Fraction, MAX_LOADER_TIMEOUT_MS};
pub use configuration::{
    AUTO_START_POLICY, CacheConfiguration, CacheConfigurationBuilder, CacheConfigurationParts,
    Compression, ConfigVersion, DEFAULT_COMPRESSION_THRESHOLD_BYTES, DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_VALUE_BYTES, EvictionPolicyKind, HARD_MAX_VALUE_BYTES, InvalidConfiguration,
    MAX_KEY_ID_BYTES, MEMORY_TIER, TierName,
};
pub use credential::{AuthError, Credential, Secret, TokenRejection};
pub use entry::{CacheEntry, EntryVersion};
pub use events::{ChangeCause, DomainEvent, EvictionCause, InvalidationSelector};
pub use invalidation::InvalidationCount;
pub use key::{CacheKey, InvalidKey, MAX_KEY_BYTES};
pub use lease::{InvalidLeaseToken, LeaseToken, MAX_LEASE_TOKEN_BYTES};
pub use lifetimes::{EntryLifetimes, LIFETIME_SAMPLE_KEYS, LifetimeCounts};
pub use mrc::{
    AnalyzerProvider, AutoSwitch, AutoTuneSettings, AutoTuner, CANDIDATE_POLICIES,
    CAPACITY_FACTORS, CURRENT_CAPACITY_INDEX, CapacityChange, CurvePoint, DEFAULT_AUTO_HYSTERESIS,
    DEFAULT_AUTO_MARGIN, DEFAULT_AUTO_MIN_INTERVAL, DEFAULT_AUTO_WINDOW, FreshStart,
    MIN_DECISION_SAMPLES, MissRatioCurve, MissRatioCurves, MrcAnalyzer, PolicyCapacityChanges,
    PolicyEstimate, REBUILD_POLICIES, Recommendation, noise_band, recommend,
};
pub use name::{CacheName, InvalidName, MAX_NAME_BYTES};
pub use pattern::{InvalidPattern, KeyPattern};
pub use ports::{
    Authenticator, BackendHealth, CacheStore, CircuitState, Clock, ConfigurationRepository,
    EntriesPage, EventPublisher, ExpectedVersion, HitTier, InsertOutcome, LeaseGrant, LeaseStore,
    Lookup, MAX_ENTRIES_CURSOR, ProvisionError, RepositoryError, SaveError, StoreCapabilities,
    StoreError, StoreProvider, StoreStats, TierStats, check_expected,
};
pub use principal::{Grant, Principal, Role, UnknownRole};
pub use provenance::{ConfigOrigin, Provenance, SettingSource, StoredConfiguration};
pub use scheduler::{ScheduledFuture, Scheduler};
pub use session::{ConsoleSession, SessionStore};
pub use stale_policy::{MAX_LEASE_TTL_SECS, StalePolicy};
pub use tag::{InvalidTag, MAX_TAG_BYTES, Tag};
pub use time::{InvalidTtl, MAX_TTL_SECS, MIN_TTL_SECS, Timestamp, Ttl};
pub use trends::{
    Annotation, AnnotationKind, LATENCY_BUCKETS, MAX_ANNOTATIONS, SeriesId, TrendArchive,
    TrendArchiveError, TrendHistory, TrendPoint, TrendRange, TrendReading, TrendSource,
    TrendTotals, latency_bucket, latency_bucket_upper_micros, latency_quantile_ms,
};
pub use usage::{HOT_KEY_COUNTERS, HotKey, SizeHistogram, SpaceSaving};
pub use value::{
    CacheValue, ContentType, DEFAULT_CONTENT_TYPE, InvalidContentType, MAX_CONTENT_TYPE_BYTES,
};
