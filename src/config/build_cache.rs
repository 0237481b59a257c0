//! `[build_cache]` and `[build_cache.instances.<name>]`: which store holds
//! the remote build cache, its budgets, and AC validation per instance.
//! The stores themselves are built by the composition root.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use strata_application::build_cache::AcValidation;
use strata_domain::InstanceName;

/// Default byte budget of the build cache's memory store: 1 GiB.
pub const DEFAULT_BUILD_CACHE_MAX_BYTES: u64 = 1 << 30;

/// `[build_cache]`: the remote build cache, bazel-remote's HTTP protocol
/// (`GET`/`HEAD`/`PUT` on `[/<instance>]/ac/<sha256>` and
/// `[/<instance>]/cas/<sha256>`; docs/build-cache.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildCacheSettings {
    /// Serve the build cache at all (default true). Off, `/ac/` and
    /// `/cas/` paths answer 404 `not_found`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Where AC entries and CAS blobs live: `memory`, `disk`,
    /// `memory+disk`, or a local tier in front of S3-compatible object
    /// storage, `disk+s3` or `memory+s3` (with `[build_cache.s3]`). Default: `disk` when `dir` is set, else `memory`
    /// (so the README's `cargo run` and the tests write no files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<BuildStoreKind>,
    /// The disk store's directory (`disk` and `memory+disk`): created when
    /// missing; its index is rebuilt from the files at start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// A `[backends.<name>]` of kind `redis` or `redis-cluster` that holds
    /// the action cache instead of `store`, so every Strata instance on
    /// that Redis shares AC entries (CAS blobs stay in `store`). Keys are
    /// `strata:bc:{<instance>}:ac:...`; AC entries up to 4 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ac_backend: Option<String>,
    /// A `[backends.<name>]` of kind `redis` or `redis-cluster` that holds
    /// CAS blobs of at most `cas_backend_max_blob_bytes`, so every Strata
    /// instance on that Redis sees the small outputs its shared AC entries
    /// reference; larger blobs stay in `store`. Reads try Redis first,
    /// then `store`. Keys are `strata:bc:{<instance>}:cas:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas_backend: Option<String>,
    /// The largest blob `cas_backend` holds, in bytes (default 1 MiB, at
    /// most 64 MiB, Redis's practical string size here).
    #[serde(default = "default_cas_backend_max_blob_bytes")]
    pub cas_backend_max_blob_bytes: u64,
    /// The memory tier's byte budget in `memory+disk` (default the lesser
    /// of 256 MiB and `max_bytes / 4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The store's byte budget, AC and CAS together (default 1 GiB); the
    /// least recently used entries are evicted past it.
    #[serde(default = "default_build_cache_max_bytes")]
    pub max_bytes: u64,
    /// The largest CAS blob or AC entry accepted, in bytes (default the
    /// lesser of 1 GiB and `max_bytes`); larger uploads get 413.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_blob_bytes: Option<u64>,
    /// Validate AC entries (default true): a PUT must be a REAPI
    /// `ActionResult`, and a GET answers 404 when a blob it references is
    /// missing. Off, raw bytes are stored (ccache's `layout=bazel`).
    #[serde(default = "default_true")]
    pub validate_ac: bool,
    /// `[build_cache.s3]`: the object-store tier of `disk+s3` and
    /// `memory+s3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<BuildCacheS3Settings>,
    /// `[build_cache.instances.<name>]`: per-instance overrides; the name
    /// is the HTTP path prefix (`""` is the default instance).
    #[serde(default)]
    pub instances: BTreeMap<String, BuildCacheInstanceSettings>,
}

/// Which store holds the build cache. Each variant names its technology;
/// a store with settings of its own (the disk store's `dir`) adds its
/// keys to [`BuildCacheSettings`] beside this kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStoreKind {
    /// In process memory (`MemoryBuildStore`), LRU by bytes; lost on restart.
    #[default]
    Memory,
    /// Files under `dir` (`DiskBuildStore`): atomic writes, LRU by bytes
    /// down to a 90% watermark, kept across restarts.
    Disk,
    /// A memory tier over the disk store (`StackedBuildStore`).
    #[serde(rename = "memory+disk")]
    MemoryDisk,
    /// The disk store in front of S3-compatible object storage
    /// (`FastSlowBuildStore` over `S3BuildStore`), shared by every
    /// instance on the bucket.
    #[serde(rename = "disk+s3")]
    DiskS3,
    /// The memory store in front of S3-compatible object storage.
    #[serde(rename = "memory+s3")]
    MemoryS3,
}

impl BuildStoreKind {
    /// Whether the kind has an object-store tier (`[build_cache.s3]`).
    pub fn has_object_tier(self) -> bool {
        matches!(self, Self::DiskS3 | Self::MemoryS3)
    }

    /// Whether the kind has a disk tier (needs `dir`).
    pub fn has_disk(self) -> bool {
        matches!(self, Self::Disk | Self::MemoryDisk | Self::DiskS3)
    }
}

/// `[build_cache.s3]`: where `disk+s3` and `memory+s3` keep the shared
/// tier. Credentials come from `credentials_file` or the standard
/// `AWS_*` environment variables, and are never logged.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildCacheS3Settings {
    /// The bucket (3 to 63 characters, S3's rule); it must exist.
    pub bucket: String,
    /// The key prefix every object lives under (default none), so one
    /// bucket can hold several caches.
    #[serde(default)]
    pub prefix: String,
    /// The bucket's region (default `us-east-1`).
    #[serde(default = "default_s3_region")]
    pub region: String,
    /// An S3-compatible server instead of AWS (`http://` allowed), e.g.
    /// `http://minio.internal:9000`; path-style requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// An AWS shared-credentials file whose `[default]` profile signs the
    /// requests; without it, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// (and `AWS_SESSION_TOKEN`) from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// The object tier's own byte budget, AC and CAS together. Enforced
    /// (least recently used first, across instances) only with
    /// `index_backend`; without it Strata does not evict the bucket: use a
    /// lifecycle rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// A `[backends.<name>]` of kind `redis` that holds the access index
    /// (digest -> last access, size) eviction needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_backend: Option<String>,
}

fn default_s3_region() -> String {
    "us-east-1".to_owned()
}

impl BuildCacheS3Settings {
    /// Checks the values, naming the key at fault.
    ///
    /// # Errors
    /// A bucket name of the wrong length, an endpoint that is not an
    /// `http://` or `https://` URL, a `max_bytes` of 0.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(3..=63).contains(&self.bucket.len()) {
            anyhow::bail!(
                "[build_cache.s3] bucket = {:?}: a bucket name has 3 to 63 characters",
                self.bucket
            );
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            anyhow::bail!(
                "[build_cache.s3] endpoint = {endpoint:?}: must start with http:// or https://"
            );
        }
        if self.max_bytes == Some(0) {
            anyhow::bail!("[build_cache.s3] max_bytes = 0: must be at least 1");
        }
        if let Some(path) = &self.credentials_file
            && !path.is_file()
        {
            anyhow::bail!(
                "[build_cache.s3] credentials_file = {:?}: no such file",
                path.display()
            );
        }
        Ok(())
    }
}

/// `[build_cache.instances.<name>]`: one instance's overrides.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildCacheInstanceSettings {
    /// Overrides `[build_cache] validate_ac` for this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_ac: Option<bool>,
}

fn default_cas_backend_max_blob_bytes() -> u64 {
    strata_infrastructure::DEFAULT_SMALL_BLOB_MAX_BYTES
}

/// The largest `cas_backend_max_blob_bytes`: 64 MiB.
pub const MAX_CAS_BACKEND_BLOB_BYTES: u64 = 64 << 20;

fn default_build_cache_max_bytes() -> u64 {
    DEFAULT_BUILD_CACHE_MAX_BYTES
}

impl Default for BuildCacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            store: None,
            ac_backend: None,
            cas_backend: None,
            cas_backend_max_blob_bytes: default_cas_backend_max_blob_bytes(),
            dir: None,
            memory_bytes: None,
            max_bytes: DEFAULT_BUILD_CACHE_MAX_BYTES,
            max_blob_bytes: None,
            validate_ac: true,
            s3: None,
            instances: BTreeMap::new(),
        }
    }
}

impl BuildCacheSettings {
    /// The store in use: `store`, or `disk` when only `dir` is set, or
    /// `memory`.
    ///
    /// # Errors
    /// `disk`, `memory+disk` or `disk+s3` without `dir`; `disk+s3` or
    /// `memory+s3` without a valid `[build_cache.s3]`, or
    /// `[build_cache.s3]` with a store that has no object tier.
    pub fn store_kind(&self) -> anyhow::Result<BuildStoreKind> {
        let kind = self.store.unwrap_or(if self.dir.is_some() {
            BuildStoreKind::Disk
        } else {
            BuildStoreKind::Memory
        });
        if kind.has_disk() && self.dir.is_none() {
            anyhow::bail!("[build_cache] store = {kind:?} needs dir = \"<directory>\"");
        }
        match (&self.s3, kind.has_object_tier()) {
            (None, true) => anyhow::bail!(
                "[build_cache] store = {kind:?} needs [build_cache.s3] with bucket = \"<name>\""
            ),
            (Some(_), false) => anyhow::bail!(
                "[build_cache.s3] is set but [build_cache] store = {kind:?} has no object tier: use \"disk+s3\" or \"memory+s3\""
            ),
            (Some(s3), true) => s3.check()?,
            (None, false) => {}
        }
        Ok(kind)
    }

    /// The AC validation choices, per instance.
    ///
    /// # Errors
    /// An instance name that is not a valid [`InstanceName`], naming it.
    pub fn validation(&self) -> anyhow::Result<AcValidation> {
        let mut validation = AcValidation::all(self.validate_ac);
        for (name, instance) in &self.instances {
            let parsed = InstanceName::parse(name)
                .with_context(|| format!("[build_cache.instances.{name:?}]"))?;
            if let Some(on) = instance.validate_ac {
                validation = validation.set(parsed, on);
            }
        }
        Ok(validation)
    }
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    use super::*;
    use crate::config::Settings;

    #[test]
    fn build_cache_defaults_and_overrides() {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(
                "[build_cache]\nvalidate_ac = true\nmax_bytes = 1024\n\
                 [build_cache.instances.ccache]\nvalidate_ac = false\n",
            ))
            .extract()
            .unwrap();
        let bc = &settings.build_cache;
        assert!(bc.enabled);
        assert_eq!(
            (bc.store_kind().unwrap(), bc.max_bytes),
            (BuildStoreKind::Memory, 1024)
        );
        let v = bc.validation().unwrap();
        assert!(v.validates(&InstanceName::default()));
        assert!(!v.validates(&InstanceName::parse("ccache").unwrap()));

        let unknown: Result<Settings, _> = Figment::new()
            .merge(Toml::string("[build_cache]\nstore = \"tape\"\n"))
            .extract();
        assert!(unknown.is_err());
        let typo: Result<Settings, _> = Figment::new()
            .merge(Toml::string("[build_cache]\nvalidate = true\n"))
            .extract();
        assert!(typo.is_err());
        let mut bad = BuildCacheSettings::default();
        bad.instances.insert("a//b".into(), Default::default());
        assert!(bad.validation().is_err());
    }

    fn store_kind_of(toml: &str) -> anyhow::Result<BuildStoreKind> {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(toml))
            .extract()?;
        settings.build_cache.store_kind()
    }

    #[test]
    fn object_tier_settings_are_checked_naming_the_key() {
        let ok = store_kind_of(
            "[build_cache]\nstore = \"memory+s3\"\n[build_cache.s3]\nbucket = \"cache\"\n\
             endpoint = \"http://127.0.0.1:9000\"\nprefix = \"team\"\nmax_bytes = 10\n\
             index_backend = \"main\"\n",
        );
        assert_eq!(ok.unwrap(), BuildStoreKind::MemoryS3);
        let cases = [
            ("[build_cache]\nstore = \"memory+s3\"\n", "[build_cache.s3]"),
            (
                "[build_cache]\nstore = \"disk+s3\"\n[build_cache.s3]\nbucket = \"abc\"\n",
                "dir",
            ),
            (
                "[build_cache]\nstore = \"memory+s3\"\n[build_cache.s3]\nbucket = \"ab\"\n",
                "bucket",
            ),
            (
                "[build_cache]\nstore = \"memory+s3\"\n[build_cache.s3]\nbucket = \"abc\"\nendpoint = \"minio:9000\"\n",
                "endpoint",
            ),
            (
                "[build_cache]\nstore = \"memory+s3\"\n[build_cache.s3]\nbucket = \"abc\"\nmax_bytes = 0\n",
                "max_bytes",
            ),
            (
                "[build_cache]\nstore = \"memory+s3\"\n[build_cache.s3]\nbucket = \"abc\"\ncredentials_file = \"/nonexistent/creds\"\n",
                "credentials_file",
            ),
            (
                "[build_cache]\nstore = \"memory\"\n[build_cache.s3]\nbucket = \"abc\"\n",
                "[build_cache.s3]",
            ),
            (
                "[build_cache.s3]\nbucket = \"abc\"\nregion_name = \"x\"\n",
                "region_name",
            ),
        ];
        for (toml, key) in cases {
            let err = format!("{:#}", store_kind_of(toml).unwrap_err());
            assert!(err.contains(key), "{toml}: {err}");
        }
    }
}
