//! [`Record`]: the JSON shape of one stored configuration, written by the
//! file and the Redis repositories.
//!
//! ```json
//! {"format":1,"name":"users","version":3,"origin":"runtime",
//!  "explicit":["eviction","max_entries"],
//!  "config":{"tiers":["memory"],"eviction":"lru","active_eviction":"sieve",
//!            "max_entries":1000,"max_value_bytes":1048576,
//!            "compression":"zstd","compression_threshold_bytes":1024,
//!            "persist":true,"snapshot_interval_secs":60}}
//! ```
//!
//! `format` is the version of this shape ([`FORMAT`]); a reader refuses
//! any other. Fields added later (`persist`, `snapshot_interval_secs`)
//! are optional, so records written before them still load, with the
//! default. Decoding rebuilds the configuration through the domain's
//! checks, so a record that breaks an invariant is refused too.
//!
//! Both directions go through [`CacheConfigurationParts`] without `..`:
//! a setting added to the domain does not compile here until this record
//! carries it.

use serde::{Deserialize, Serialize};
use strata_domain::{
    CacheAsideDefaults, CacheConfiguration, CacheConfigurationParts, CacheName, Compression,
    ConfigOrigin, EvictionPolicyKind, Fraction, Provenance, StalePolicy, StoredConfiguration,
    TierName, Ttl,
};

/// The version of the record shape this module writes and reads.
pub(crate) const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
pub(crate) struct Record {
    format: u32,
    name: String,
    pub(crate) version: u64,
    origin: String,
    explicit: Vec<String>,
    config: ConfigRecord,
}

#[derive(Serialize, Deserialize)]
struct ConfigRecord {
    tiers: Vec<String>,
    eviction: String,
    /// The policy `auto` runs; under another policy, older records hold
    /// that policy's name here and newer ones the default: either way it
    /// is ignored there.
    active_eviction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_entries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_ttl_secs: Option<u64>,
    max_value_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l1_max_ttl_secs: Option<u64>,
    compression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compression_threshold_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    persist: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot_interval_secs: Option<u64>,
    /// `get_with_options` defaults; absent in records written before them.
    #[serde(default, skip_serializing_if = "CacheAsideRecord::is_empty")]
    cache_aside: CacheAsideRecord,
    /// Stale windows and lease TTL in seconds; absent (0) in records
    /// written before them.
    #[serde(default, skip_serializing_if = "is_zero")]
    stale_if_error_secs: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    stale_while_revalidate_secs: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    lease_ttl_secs: u64,
    /// Destructive operations need `confirm=<cache name>`; absent (false)
    /// in records written before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    confirm_destructive: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// [`CacheAsideDefaults`], fractions as numbers from 0 to 1.
#[derive(Default, Serialize, Deserialize)]
struct CacheAsideRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fail_safe_max_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fail_safe_throttle_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    soft_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hard_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eager_refresh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    negative_ttl_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl_jitter: Option<f64>,
}

impl CacheAsideRecord {
    fn is_empty(&self) -> bool {
        matches!(
            self,
            Self {
                fail_safe_max_secs: None,
                fail_safe_throttle_secs: None,
                soft_timeout_ms: None,
                hard_timeout_ms: None,
                eager_refresh: None,
                negative_ttl_secs: None,
                ttl_jitter: None,
            }
        )
    }
}

impl From<CacheAsideDefaults> for CacheAsideRecord {
    fn from(d: CacheAsideDefaults) -> Self {
        // No `..`: a new option must be stored before this compiles.
        let CacheAsideDefaults {
            fail_safe_max_secs,
            fail_safe_throttle_secs,
            soft_timeout_ms,
            hard_timeout_ms,
            eager_refresh,
            negative_ttl_secs,
            ttl_jitter,
        } = d;
        Self {
            fail_safe_max_secs,
            fail_safe_throttle_secs,
            soft_timeout_ms,
            hard_timeout_ms,
            eager_refresh: eager_refresh.map(Fraction::as_f64),
            negative_ttl_secs,
            ttl_jitter: ttl_jitter.map(Fraction::as_f64),
        }
    }
}

impl CacheAsideRecord {
    fn into_domain(self) -> Result<CacheAsideDefaults, String> {
        let fraction = |value: Option<f64>, field: &str| {
            value
                .map(|v| {
                    Fraction::from_f64(v)
                        .ok_or_else(|| format!("cache_aside.{field}: {v} is not a fraction"))
                })
                .transpose()
        };
        Ok(CacheAsideDefaults {
            fail_safe_max_secs: self.fail_safe_max_secs,
            fail_safe_throttle_secs: self.fail_safe_throttle_secs,
            soft_timeout_ms: self.soft_timeout_ms,
            hard_timeout_ms: self.hard_timeout_ms,
            eager_refresh: fraction(self.eager_refresh, "eager_refresh")?,
            negative_ttl_secs: self.negative_ttl_secs,
            ttl_jitter: fraction(self.ttl_jitter, "ttl_jitter")?,
        })
    }
}

impl From<&StoredConfiguration> for Record {
    fn from(s: &StoredConfiguration) -> Self {
        // No `..`: a new setting must be stored before this compiles.
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
        } = s.config.to_parts();
        let (compression, compression_threshold_bytes) = match compression {
            Compression::None => ("none", None),
            Compression::Zstd { threshold_bytes } => ("zstd", Some(threshold_bytes)),
        };
        Self {
            format: FORMAT,
            name: name.as_str().to_owned(),
            version: s.version,
            origin: match s.provenance.origin {
                ConfigOrigin::File => "file",
                ConfigOrigin::Runtime => "runtime",
            }
            .to_owned(),
            explicit: s.provenance.explicit.iter().cloned().collect(),
            config: ConfigRecord {
                tiers: tiers.iter().map(|t| t.as_str().to_owned()).collect(),
                eviction: eviction.as_str().to_owned(),
                active_eviction: auto_active.as_str().to_owned(),
                max_entries,
                max_bytes,
                default_ttl_secs: default_ttl.map(Ttl::as_secs),
                max_value_bytes,
                l1_max_ttl_secs: l1_max_ttl.map(Ttl::as_secs),
                compression: compression.to_owned(),
                compression_threshold_bytes,
                encryption_key_id,
                persist,
                snapshot_interval_secs,
                cache_aside: cache_aside.into(),
                stale_if_error_secs: stale.stale_if_error_secs,
                stale_while_revalidate_secs: stale.stale_while_revalidate_secs,
                lease_ttl_secs: stale.lease_ttl_secs,
                confirm_destructive,
            },
        }
    }
}

impl Record {
    /// The stored configuration this record holds.
    ///
    /// # Errors
    /// A message naming what is wrong: another `format`, a bad name, an
    /// unknown origin or a configuration that breaks an invariant.
    pub(crate) fn into_domain(self) -> Result<StoredConfiguration, String> {
        if self.format != FORMAT {
            return Err(format!(
                "record format {} is not the supported {FORMAT}",
                self.format
            ));
        }
        let name = CacheName::parse(&self.name).map_err(|e| format!("name: {e}"))?;
        let origin = match self.origin.as_str() {
            "file" => ConfigOrigin::File,
            "runtime" => ConfigOrigin::Runtime,
            other => return Err(format!("unknown origin {other:?}")),
        };
        let ConfigRecord {
            tiers,
            eviction,
            active_eviction,
            max_entries,
            max_bytes,
            default_ttl_secs,
            max_value_bytes,
            l1_max_ttl_secs,
            compression,
            compression_threshold_bytes,
            encryption_key_id,
            persist,
            snapshot_interval_secs,
            cache_aside,
            stale_if_error_secs,
            stale_while_revalidate_secs,
            lease_ttl_secs,
            confirm_destructive,
        } = self.config;
        let ttl = |secs: Option<u64>, field: &str| {
            secs.map(Ttl::from_secs)
                .transpose()
                .map_err(|e| format!("{field}: {e}"))
        };
        let policy = |s: &str| EvictionPolicyKind::parse(s).map_err(|e| e.to_string());
        let tiers = tiers
            .iter()
            .map(|t| TierName::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let compression = match (compression.as_str(), compression_threshold_bytes) {
            ("none", _) => Compression::None,
            ("zstd", Some(threshold_bytes)) => Compression::Zstd { threshold_bytes },
            (other, _) => return Err(format!("bad compression {other:?}")),
        };
        let config = CacheConfiguration::from_parts(CacheConfigurationParts {
            name,
            tiers,
            eviction: policy(&eviction)?,
            auto_active: policy(&active_eviction)?,
            max_entries,
            max_bytes,
            default_ttl: ttl(default_ttl_secs, "default_ttl_secs")?,
            max_value_bytes,
            l1_max_ttl: ttl(l1_max_ttl_secs, "l1_max_ttl_secs")?,
            compression,
            encryption_key_id,
            persist,
            snapshot_interval_secs,
            cache_aside: cache_aside.into_domain()?,
            stale: StalePolicy {
                stale_if_error_secs,
                stale_while_revalidate_secs,
                lease_ttl_secs,
            },
            confirm_destructive,
        })
        .map_err(|e| e.to_string())?;
        Ok(StoredConfiguration {
            config,
            version: self.version,
            provenance: Provenance::new(origin, self.explicit),
        })
    }
}

/// `stored` as one JSON document.
pub(crate) fn encode(stored: &StoredConfiguration) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Record::from(stored))
}

/// The stored configuration in the JSON document `json`.
///
/// # Errors
/// A message naming what is wrong with it.
pub(crate) fn decode(json: &[u8]) -> Result<StoredConfiguration, String> {
    serde_json::from_slice::<Record>(json)
        .map_err(|e| e.to_string())?
        .into_domain()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let config = CacheConfiguration::builder(CacheName::parse("c").unwrap())
            .eviction(EvictionPolicyKind::Auto)
            .active_eviction(EvictionPolicyKind::Lru)
            .max_bytes(Some(1 << 20))
            .default_ttl(Some(Ttl::from_secs(60).unwrap()))
            .build()
            .unwrap();
        let stored = StoredConfiguration {
            config,
            version: 7,
            provenance: Provenance::new(ConfigOrigin::Runtime, ["max_bytes".to_owned()]),
        };
        let json = encode(&stored).unwrap();
        assert_eq!(decode(json.as_bytes()).unwrap(), stored);
        let other = json.replace("\"format\":1", "\"format\":2");
        assert!(decode(other.as_bytes()).unwrap_err().contains("format 2"));
    }

    #[test]
    fn records_written_before_persist_load_with_the_defaults() {
        // A record as the first version wrote it: no `persist`, no
        // `snapshot_interval_secs`, and the policy's own name in
        // `active_eviction` (which `tinylfu` once made unreadable).
        let old = br#"{"format":1,"name":"p","version":2,"origin":"file","explicit":["eviction"],
            "config":{"tiers":["memory"],"eviction":"tinylfu","active_eviction":"tinylfu",
                      "max_entries":100000,"max_value_bytes":1048576,
                      "compression":"zstd","compression_threshold_bytes":1024}}"#;
        let stored = decode(old).unwrap();
        assert_eq!(stored.config.eviction(), EvictionPolicyKind::TinyLfu);
        assert!(!stored.config.persist());
        assert_eq!(stored.config.snapshot_interval_secs(), None);
    }

    #[test]
    fn persist_is_stored() {
        let config = CacheConfiguration::builder(CacheName::parse("p").unwrap())
            .persist(true)
            .snapshot_interval_secs(Some(30))
            .build()
            .unwrap();
        let stored = StoredConfiguration {
            config,
            version: 1,
            provenance: Provenance::new(ConfigOrigin::Runtime, ["persist".to_owned()]),
        };
        let json = encode(&stored).unwrap();
        assert!(
            json.contains(r#""persist":true,"snapshot_interval_secs":30"#),
            "{json}"
        );
        assert_eq!(decode(json.as_bytes()).unwrap(), stored);
    }
}
