//! [`Record`]: the JSON shape of one stored configuration, written by the
//! file and the Redis repositories.
//!
//! ```json
//! {"format":1,"name":"users","version":3,"origin":"runtime",
//!  "explicit":["eviction","max_entries"],
//!  "config":{"tiers":["memory"],"eviction":"lru","active_eviction":"sieve",
//!            "max_entries":1000,"max_value_bytes":1048576,
//!            "compression":"zstd","compression_threshold_bytes":1024}}
//! ```
//!
//! `format` is the version of this shape ([`FORMAT`]); a reader refuses
//! any other. Decoding rebuilds the configuration through the domain's
//! builder, so a record that breaks an invariant is refused too.

use serde::{Deserialize, Serialize};
use strata_domain::{
    CacheConfiguration, CacheName, Compression, ConfigOrigin, EvictionPolicyKind, Provenance,
    StoredConfiguration, TierName, Ttl,
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
}

impl From<&StoredConfiguration> for Record {
    fn from(s: &StoredConfiguration) -> Self {
        let c = &s.config;
        let (compression, compression_threshold_bytes) = match c.compression() {
            Compression::None => ("none", None),
            Compression::Zstd { threshold_bytes } => ("zstd", Some(threshold_bytes)),
        };
        Self {
            format: FORMAT,
            name: c.name().as_str().to_owned(),
            version: s.version,
            origin: match s.provenance.origin {
                ConfigOrigin::File => "file",
                ConfigOrigin::Runtime => "runtime",
            }
            .to_owned(),
            explicit: s.provenance.explicit.iter().cloned().collect(),
            config: ConfigRecord {
                tiers: c.tiers().iter().map(|t| t.as_str().to_owned()).collect(),
                eviction: c.eviction().as_str().to_owned(),
                active_eviction: c.active_eviction().as_str().to_owned(),
                max_entries: c.max_entries(),
                max_bytes: c.max_bytes(),
                default_ttl_secs: c.default_ttl().map(Ttl::as_secs),
                max_value_bytes: c.max_value_bytes(),
                l1_max_ttl_secs: c.l1_max_ttl().map(Ttl::as_secs),
                compression: compression.to_owned(),
                compression_threshold_bytes,
                encryption_key_id: c.encryption_key_id().map(str::to_owned),
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
        let c = self.config;
        let ttl = |secs: Option<u64>, field: &str| {
            secs.map(Ttl::from_secs)
                .transpose()
                .map_err(|e| format!("{field}: {e}"))
        };
        let tiers = c
            .tiers
            .iter()
            .map(|t| TierName::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let compression = match (c.compression.as_str(), c.compression_threshold_bytes) {
            ("none", _) => Compression::None,
            ("zstd", Some(threshold_bytes)) => Compression::Zstd { threshold_bytes },
            (other, _) => return Err(format!("bad compression {other:?}")),
        };
        let config = CacheConfiguration::builder(name)
            .tiers(tiers)
            .eviction(EvictionPolicyKind::parse(&c.eviction).map_err(|e| e.to_string())?)
            .active_eviction(
                EvictionPolicyKind::parse(&c.active_eviction).map_err(|e| e.to_string())?,
            )
            .max_entries(c.max_entries)
            .max_bytes(c.max_bytes)
            .default_ttl(ttl(c.default_ttl_secs, "default_ttl_secs")?)
            .max_value_bytes(c.max_value_bytes)
            .l1_max_ttl(ttl(c.l1_max_ttl_secs, "l1_max_ttl_secs")?)
            .compression(compression)
            .encryption_key_id(c.encryption_key_id)
            .build()
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
}
