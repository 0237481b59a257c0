//! [`CacheConfigurationDto`]: a cache's settings as spelled in TOML
//! (`[caches.<name>]`) and in the admin API's JSON.

use serde::{Deserialize, Serialize};
use strata_domain::{
    CacheAsideDefaults, CacheConfiguration, CacheName, Compression,
    DEFAULT_COMPRESSION_THRESHOLD_BYTES, EvictionPolicyKind, Fraction, InvalidConfiguration,
    StalePolicy, TierName, Ttl,
};

/// A cache's settings. Omitted fields take their defaults: `tiers =
/// ["memory"]`, `eviction = "auto"`, `max_entries = 100000` when neither
/// capacity is given, no `default_ttl`, `max_value_bytes = 1048576`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheConfigurationDto {
    /// Tiers from L1 outwards: `"memory"` or the name of a configured backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, schema_with = crate::edge::schemas::tier_list)]
    pub tiers: Option<Vec<String>>,
    /// Eviction policy of the memory tier: `auto` (default: start on
    /// adaptive `w-tinylfu`, switch to the policy the live miss-ratio
    /// curves favour; docs/eviction.md), or one pinned policy: `tinylfu`
    /// (moka), `lru`, `fifo`, `lfu`, `clock`, `sieve`, `s3fifo`, `arc`,
    /// `w-tinylfu`, `ttl-first`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::edge::schemas::eviction_policy)]
    pub eviction: Option<String>,
    /// Capacity in entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "whole_number")]
    pub max_entries: Option<u64>,
    /// Capacity in bytes (key + value + content type per entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "whole_number")]
    pub max_bytes: Option<u64>,
    /// TTL in seconds for writes that give none (1 to 31536000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 31536000)]
    #[serde(deserialize_with = "whole_number")]
    pub default_ttl: Option<u64>,
    /// Largest accepted value in bytes (1 to 67108864).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 67108864)]
    #[serde(deserialize_with = "whole_number")]
    pub max_value_bytes: Option<u64>,
    /// Stacked caches only: longest time in seconds an entry stays in the
    /// memory tier (1 to 31536000), bounding staleness if an invalidation
    /// message between instances is lost. Default: the entry's own TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 31536000)]
    #[serde(deserialize_with = "whole_number")]
    pub l1_max_ttl: Option<u64>,
    /// Compression of values written to a shared tier: `zstd` (default) or
    /// `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::edge::schemas::compression)]
    pub compression: Option<String>,
    /// Smallest value in bytes that is zstd-compressed (default 1024); the
    /// compressed form is kept only when smaller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "whole_number")]
    pub compression_threshold_bytes: Option<u64>,
    /// Id of the AES-256-GCM key (from `[encryption.keys]`) that encrypts
    /// values at rest in the shared tier; absent = not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub encryption_key_id: Option<String>,
    /// Memory-only caches: write a snapshot to `[server] data_dir` at
    /// graceful shutdown and load it at start-up (default false; needs
    /// `data_dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<bool>,
    /// With `persist`: also snapshot every this many seconds, bounding
    /// what a crash loses (default: at shutdown only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "whole_number")]
    pub snapshot_interval_secs: Option<u64>,
    /// Defaults for Rust callers' fail-safe cache-aside reads
    /// (`CacheService::get_with_options`; docs/resilience.md): each
    /// option a call leaves unset takes this value; absent, every option
    /// is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_aside: Option<CacheAsideDto>,
    /// Seconds past its freshness an entry may be served when the backend
    /// fails (RFC 5861 `stale-if-error`; 0, the default, is off, to
    /// 31536000): a stacked cache keeps L1 copies this long past their TTL
    /// and `l1_max_ttl` and serves them, marked stale, only while the
    /// shared tier fails (docs/resilience.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 31536000)]
    #[serde(deserialize_with = "whole_number")]
    pub stale_if_error: Option<u64>,
    /// Seconds past expiry during which a hit is served stale while the
    /// holder of the key's lease refreshes it (RFC 5861
    /// `stale-while-revalidate`; 0, the default, is off, to 31536000;
    /// needs `lease_ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 31536000)]
    #[serde(deserialize_with = "whole_number")]
    pub stale_while_revalidate: Option<u64>,
    /// Seconds a lease lasts (0, the default, turns leases off; at most
    /// 3600): the first client that misses a key gets `X-Cache-Lease`,
    /// the others `lease_pending` or the stale value (docs/resilience.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 3600)]
    #[serde(deserialize_with = "whole_number")]
    pub lease_ttl: Option<u64>,
    /// Refuse a flush, a delete of the cache and an invalidation by pattern
    /// or tags that lacks `confirm=<cache name>` with 428
    /// `confirmation_required` (default false): for caches where such a
    /// mistake is expensive. The API and the console alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_destructive: Option<bool>,
    /// Read-only, in `GET` answers: the configuration's version, also its
    /// `ETag` (send it back in `If-Match`). Ignored on `PUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub version: Option<u64>,
    /// Read-only, in `GET` answers: where each setting came from, by
    /// setting name: `file` (the configuration file), `runtime` (a
    /// run-time change) or `default`. Ignored on `PUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only, value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub sources: Option<std::collections::BTreeMap<String, String>>,
}

/// Every setting of a cache, as spelled in TOML and in the admin API.
pub const SETTINGS: [&str; 17] = [
    "tiers",
    "eviction",
    "max_entries",
    "max_bytes",
    "default_ttl",
    "max_value_bytes",
    "l1_max_ttl",
    "compression",
    "compression_threshold_bytes",
    "encryption_key_id",
    "persist",
    "snapshot_interval_secs",
    "cache_aside",
    "stale_if_error",
    "stale_while_revalidate",
    "lease_ttl",
    "confirm_destructive",
];

/// `cache_aside`: a cache's defaults for `get_with_options`, units in the
/// names; omitted options are off unless the call sets them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheAsideDto {
    /// Seconds past expiry a value may be served when the loader fails (1 to 31536000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 31536000)]
    pub fail_safe_max_secs: Option<u64>,
    /// Seconds between loader retries of a key served stale (1 to 31536000; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 31536000)]
    pub fail_safe_throttle_secs: Option<u64>,
    /// Milliseconds before a caller with a stale value gets it (1 to 3600000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 3600000)]
    pub soft_timeout_ms: Option<u64>,
    /// Milliseconds before a caller gets the stale value or an error (1 to
    /// 3600000, above `soft_timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 3600000)]
    pub hard_timeout_ms: Option<u64>,
    /// Fraction of the TTL past which a read starts one background refresh
    /// (strictly between 0 and 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub eager_refresh: Option<FractionDto>,
    /// Seconds a loader's "absent" answer is remembered (1 to 31536000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 31536000)]
    pub negative_ttl_secs: Option<u64>,
    /// Loaded TTLs are lengthened by a random 0 to this fraction (above 0, at most 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0.0, maximum = 1.0)]
    pub ttl_jitter: Option<FractionDto>,
}

/// A fraction from 0 to 1 as a JSON or TOML number, held exactly
/// ([`Fraction`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FractionDto(pub Fraction);

impl Serialize for FractionDto {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0.as_f64())
    }
}

impl<'de> Deserialize<'de> for FractionDto {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        Fraction::from_f64(value).map(Self).ok_or_else(|| {
            serde::de::Error::custom(format!("{value} is not a fraction from 0 to 1"))
        })
    }
}

impl From<CacheAsideDto> for CacheAsideDefaults {
    fn from(d: CacheAsideDto) -> Self {
        Self {
            fail_safe_max_secs: d.fail_safe_max_secs,
            fail_safe_throttle_secs: d.fail_safe_throttle_secs,
            soft_timeout_ms: d.soft_timeout_ms,
            hard_timeout_ms: d.hard_timeout_ms,
            eager_refresh: d.eager_refresh.map(|f| f.0),
            negative_ttl_secs: d.negative_ttl_secs,
            ttl_jitter: d.ttl_jitter.map(|f| f.0),
        }
    }
}

impl From<CacheAsideDefaults> for CacheAsideDto {
    fn from(d: CacheAsideDefaults) -> Self {
        Self {
            fail_safe_max_secs: d.fail_safe_max_secs,
            fail_safe_throttle_secs: d.fail_safe_throttle_secs,
            soft_timeout_ms: d.soft_timeout_ms,
            hard_timeout_ms: d.hard_timeout_ms,
            eager_refresh: d.eager_refresh.map(FractionDto),
            negative_ttl_secs: d.negative_ttl_secs,
            ttl_jitter: d.ttl_jitter.map(FractionDto),
        }
    }
}

/// Reads an optional count: a JSON, TOML or MessagePack integer, or a
/// float with no fractional part (`825.0`, which JSON Schema calls an
/// integer too), at most `i64::MAX` (the documented `int64`).
///
/// # Errors
/// A fractional, negative or out-of-range number.
pub(crate) fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Integer(u64),
        Float(f64),
    }
    match Option::<Number>::deserialize(deserializer)? {
        None => Ok(None),
        // The OpenAPI document says int64: larger is refused, not wrapped.
        Some(Number::Integer(n)) if n > i64::MAX as u64 => Err(serde::de::Error::custom(format!(
            "{n} is above the largest accepted number, {}",
            i64::MAX
        ))),
        Some(Number::Integer(n)) => Ok(Some(n)),
        Some(Number::Float(f)) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => {
            Ok(Some(f as u64))
        }
        Some(Number::Float(f)) => Err(serde::de::Error::custom(format!(
            "expected a whole non-negative number, got {f}"
        ))),
    }
}

impl CacheConfigurationDto {
    /// The settings this DTO names (its fields that are present), as in
    /// [`SETTINGS`]; `version` and `sources` are not settings.
    pub fn named_settings(&self) -> std::collections::BTreeSet<String> {
        let present = [
            self.tiers.is_some(),
            self.eviction.is_some(),
            self.max_entries.is_some(),
            self.max_bytes.is_some(),
            self.default_ttl.is_some(),
            self.max_value_bytes.is_some(),
            self.l1_max_ttl.is_some(),
            self.compression.is_some(),
            self.compression_threshold_bytes.is_some(),
            self.encryption_key_id.is_some(),
            self.persist.is_some(),
            self.snapshot_interval_secs.is_some(),
            self.cache_aside.is_some(),
            self.stale_if_error.is_some(),
            self.stale_while_revalidate.is_some(),
            self.lease_ttl.is_some(),
            self.confirm_destructive.is_some(),
        ];
        SETTINGS
            .iter()
            .zip(present)
            .filter(|(_, present)| *present)
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }

    /// The DTO of a stored configuration: its settings, `version` and
    /// each setting's source.
    pub fn from_stored(stored: &strata_domain::StoredConfiguration) -> Self {
        let mut dto = Self::from(&stored.config);
        dto.version = Some(stored.version);
        dto.sources = Some(
            SETTINGS
                .iter()
                .map(|name| {
                    (
                        (*name).to_owned(),
                        stored.provenance.source(name).as_str().to_owned(),
                    )
                })
                .collect(),
        );
        dto
    }

    /// Validates the settings into the domain aggregate for cache `name`.
    ///
    /// # Errors
    /// [`InvalidConfiguration`] naming the offending field.
    pub fn into_domain(self, name: CacheName) -> Result<CacheConfiguration, InvalidConfiguration> {
        let mut builder = CacheConfiguration::builder(name);
        if let Some(tiers) = self.tiers {
            let tiers = tiers
                .iter()
                .map(|t| TierName::parse(t))
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.tiers(tiers);
        }
        if let Some(eviction) = self.eviction {
            builder = builder.eviction(EvictionPolicyKind::parse(&eviction)?);
        }
        if let Some(ttl) = self.default_ttl {
            let ttl = Ttl::from_secs(ttl)
                .map_err(|e| InvalidConfiguration::new("default_ttl", e.to_string()))?;
            builder = builder.default_ttl(Some(ttl));
        }
        if let Some(max) = self.max_value_bytes {
            builder = builder.max_value_bytes(max);
        }
        if let Some(ttl) = self.l1_max_ttl {
            let ttl = Ttl::from_secs(ttl)
                .map_err(|e| InvalidConfiguration::new("l1_max_ttl", e.to_string()))?;
            builder = builder.l1_max_ttl(Some(ttl));
        }
        let threshold_bytes = self
            .compression_threshold_bytes
            .unwrap_or(DEFAULT_COMPRESSION_THRESHOLD_BYTES);
        builder = builder.compression(match self.compression.as_deref() {
            None | Some("zstd") => Compression::Zstd { threshold_bytes },
            Some("none") => Compression::None,
            Some(other) => {
                return Err(InvalidConfiguration::new(
                    "compression",
                    format!("unknown compression {other:?}; expected \"zstd\" or \"none\""),
                ));
            }
        });
        builder
            .persist(self.persist.unwrap_or(false))
            .snapshot_interval_secs(self.snapshot_interval_secs)
            .cache_aside(self.cache_aside.map(Into::into).unwrap_or_default())
            .stale(StalePolicy {
                stale_if_error_secs: self.stale_if_error.unwrap_or(0),
                stale_while_revalidate_secs: self.stale_while_revalidate.unwrap_or(0),
                lease_ttl_secs: self.lease_ttl.unwrap_or(0),
            })
            .encryption_key_id(self.encryption_key_id)
            .confirm_destructive(self.confirm_destructive.unwrap_or(false))
            .max_entries(self.max_entries)
            .max_bytes(self.max_bytes)
            .build()
    }
}

impl From<&CacheConfiguration> for CacheConfigurationDto {
    fn from(c: &CacheConfiguration) -> Self {
        Self {
            tiers: Some(c.tiers().iter().map(|t| t.as_str().to_owned()).collect()),
            eviction: Some(c.eviction().as_str().to_owned()),
            max_entries: c.max_entries(),
            max_bytes: c.max_bytes(),
            default_ttl: c.default_ttl().map(Ttl::as_secs),
            max_value_bytes: Some(c.max_value_bytes()),
            l1_max_ttl: c.l1_max_ttl().map(Ttl::as_secs),
            compression: Some(
                match c.compression() {
                    Compression::None => "none",
                    Compression::Zstd { .. } => "zstd",
                }
                .to_owned(),
            ),
            compression_threshold_bytes: match c.compression() {
                Compression::None => None,
                Compression::Zstd { threshold_bytes } => Some(threshold_bytes),
            },
            encryption_key_id: c.encryption_key_id().map(str::to_owned),
            persist: c.persist().then_some(true),
            snapshot_interval_secs: c.snapshot_interval_secs(),
            cache_aside: (c.cache_aside() != CacheAsideDefaults::default())
                .then(|| c.cache_aside().into()),
            stale_if_error: Some(c.stale().stale_if_error_secs).filter(|&s| s > 0),
            stale_while_revalidate: Some(c.stale().stale_while_revalidate_secs).filter(|&s| s > 0),
            lease_ttl: Some(c.stale().lease_ttl_secs).filter(|&s| s > 0),
            confirm_destructive: c.confirm_destructive().then_some(true),
            version: None,
            sources: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_domain() {
        let dto = CacheConfigurationDto {
            eviction: Some("lru".into()),
            max_bytes: Some(1 << 20),
            default_ttl: Some(60),
            ..Default::default()
        };
        let config = dto.into_domain(CacheName::parse("c").unwrap()).unwrap();
        let back = CacheConfigurationDto::from(&config);
        assert_eq!(back.eviction.as_deref(), Some("lru"));
        assert_eq!(back.default_ttl, Some(60));
        assert_eq!(
            back.clone()
                .into_domain(CacheName::parse("c").unwrap())
                .unwrap(),
            config
        );
    }

    #[test]
    fn names_the_bad_field() {
        let bad = CacheConfigurationDto {
            default_ttl: Some(0),
            ..Default::default()
        };
        assert_eq!(
            bad.into_domain(CacheName::parse("c").unwrap())
                .unwrap_err()
                .field,
            "default_ttl"
        );
        let bad = CacheConfigurationDto {
            eviction: Some("nope".into()),
            ..Default::default()
        };
        assert_eq!(
            bad.into_domain(CacheName::parse("c").unwrap())
                .unwrap_err()
                .field,
            "eviction"
        );
    }
}
