//! [`RedisConfigurationRepository`]: configurations in Redis, shared by
//! every instance of a deployment (`[cluster] config_backend`).
//!
//! Key layout, with the default prefix `strata:config`:
//!
//! - `strata:config:<cache>` — a hash: `version` (the stored version) and
//!   `record` (the JSON record of `record.rs`, carrying the same version);
//! - `strata:configs` — a set of the cache names stored.
//!
//! Every change is one Lua script that compares the stored `version` with
//! the expected one and writes only when they agree, so two instances
//! changing one cache at once are ordered: one wins, the other gets
//! [`SaveError::Conflict`]. [`ExpectedVersion::Any`] reads the version and
//! compares-and-sets on it, retrying up to [`MAX_CAS_ATTEMPTS`] times.
//! A standalone Redis only (the scripts touch two keys of different slots).

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use strata_domain::{
    CacheConfiguration, CacheName, ConfigVersion, ConfigurationRepository, ExpectedVersion,
    Provenance, RepositoryError, SaveError, StoredConfiguration,
};

use super::record;
use crate::RedisConnection;

/// The default key prefix.
pub const DEFAULT_CONFIG_KEY_PREFIX: &str = "strata:config";
/// Compare-and-set attempts of a save or delete with [`ExpectedVersion::Any`].
/// Each lost attempt means another writer's save of the same cache
/// succeeded, so the bound only stops a writer starved by a burst of
/// saves elsewhere (16 was hit in a test of two writers saving 20 times).
pub(crate) const MAX_CAS_ATTEMPTS: u32 = 256;

/// KEYS[1] = the cache's hash, KEYS[2] = the name set. ARGV[1] = expected
/// version (0 = absent), ARGV[2] = new version, ARGV[3] = record,
/// ARGV[4] = cache name. Returns {1, new} on success, {0, stored} on a
/// conflict.
static SAVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then return {0, v} end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return {1, tonumber(ARGV[2])}
",
    )
});

/// KEYS as [`SAVE`]. ARGV[1] = expected version, ARGV[2] = cache name.
/// Returns {1, deleted} on success, {0, stored} on a conflict.
static DELETE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then return {0, v} end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return {1, v}
",
    )
});

/// Cache configurations in a standalone Redis, compared-and-set by version.
#[derive(Clone)]
pub struct RedisConfigurationRepository {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisConfigurationRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfigurationRepository")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn failed(e: impl std::error::Error + Send + Sync + 'static) -> RepositoryError {
    RepositoryError(Box::new(e))
}

fn corrupt(name: &str, reason: String) -> RepositoryError {
    RepositoryError(format!("stored configuration of cache {name:?} is invalid: {reason}").into())
}

impl RedisConfigurationRepository {
    /// A repository on `connection` under the keys [`DEFAULT_CONFIG_KEY_PREFIX`]`:*`.
    pub fn new(connection: &RedisConnection) -> Self {
        Self::with_prefix(connection, DEFAULT_CONFIG_KEY_PREFIX)
    }

    /// A repository on `connection` under the keys `<prefix>:*`.
    pub fn with_prefix(connection: &RedisConnection, prefix: &str) -> Self {
        Self {
            conn: connection.manager(),
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn index(&self) -> String {
        format!("{}s", self.prefix)
    }

    /// The stored version of `name`, 0 when absent.
    async fn version(&self, name: &CacheName) -> Result<ConfigVersion, RepositoryError> {
        let v: Option<u64> = redis::cmd("HGET")
            .arg(self.key(name.as_str()))
            .arg("version")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(failed)?;
        Ok(v.unwrap_or(0))
    }

    /// One compare-and-set save at `expected` (0 = absent).
    async fn try_save(
        &self,
        stored: &StoredConfiguration,
        expected: ConfigVersion,
    ) -> Result<Result<(), ConfigVersion>, RepositoryError> {
        let name = stored.config.name().as_str();
        let json = record::encode(stored).map_err(failed)?;
        let (ok, v): (i64, u64) = SAVE
            .key(self.key(name))
            .key(self.index())
            .arg(expected)
            .arg(stored.version)
            .arg(json)
            .arg(name)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(failed)?;
        Ok(if ok == 1 { Ok(()) } else { Err(v) })
    }
}

fn conflict(v: ConfigVersion) -> SaveError {
    SaveError::Conflict {
        current: (v > 0).then_some(v),
    }
}

#[async_trait]
impl ConfigurationRepository for RedisConfigurationRepository {
    async fn get(&self, name: &CacheName) -> Result<Option<StoredConfiguration>, RepositoryError> {
        let json: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(self.key(name.as_str()))
            .arg("record")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(failed)?;
        json.map(|j| record::decode(&j).map_err(|e| corrupt(name.as_str(), e)))
            .transpose()
    }

    async fn list(&self) -> Result<Vec<StoredConfiguration>, RepositoryError> {
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.index())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(failed)?;
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let Ok(cache) = CacheName::parse(&name) else {
                return Err(corrupt(&name, "not a cache name".into()));
            };
            // A name deleted since SMEMBERS is skipped.
            if let Some(stored) = self.get(&cache).await? {
                out.push(stored);
            }
        }
        Ok(out)
    }

    async fn save(
        &self,
        config: CacheConfiguration,
        provenance: Provenance,
        expected: ExpectedVersion,
    ) -> Result<StoredConfiguration, SaveError> {
        let mut stored = StoredConfiguration {
            config,
            version: 0,
            provenance,
        };
        let fixed = match expected {
            ExpectedVersion::Any => None,
            ExpectedVersion::Absent => Some(0),
            ExpectedVersion::Exactly(v) => Some(v),
        };
        for _ in 0..MAX_CAS_ATTEMPTS {
            let at = match fixed {
                Some(v) => v,
                None => self.version(stored.config.name()).await?,
            };
            stored.version = at.saturating_add(1);
            match self.try_save(&stored, at).await? {
                Ok(()) => return Ok(stored),
                Err(v) if fixed.is_some() => return Err(conflict(v)),
                Err(_) => continue,
            }
        }
        Err(SaveError::Repository(RepositoryError(
            format!("no compare-and-set succeeded in {MAX_CAS_ATTEMPTS} attempts").into(),
        )))
    }

    async fn delete(
        &self,
        name: &CacheName,
        expected: ExpectedVersion,
    ) -> Result<Option<StoredConfiguration>, SaveError> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let current = self.get(name).await?;
            let at = current.as_ref().map_or(0, |s| s.version);
            match expected {
                ExpectedVersion::Absent if at != 0 => return Err(conflict(at)),
                ExpectedVersion::Exactly(v) if v != at => return Err(conflict(at)),
                _ => {}
            }
            if current.is_none() {
                return Ok(None);
            }
            let (ok, v): (i64, u64) = DELETE
                .key(self.key(name.as_str()))
                .key(self.index())
                .arg(at)
                .arg(name.as_str())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(failed)?;
            match (ok, expected) {
                (1, _) => return Ok(current),
                (_, ExpectedVersion::Any) => continue,
                _ => return Err(conflict(v)),
            }
        }
        Err(SaveError::Repository(RepositoryError(
            format!("no compare-and-set succeeded in {MAX_CAS_ATTEMPTS} attempts").into(),
        )))
    }
}
