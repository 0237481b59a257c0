//! `[build_cache]` -> the build cache's action cache and content store
//! (memory, disk, memory over disk; optionally Redis for the AC and for
//! small CAS blobs) and the `BuildCacheService` over them. The settings
//! types are `config`'s; this module must not define any.

use std::sync::Arc;

use anyhow::Context;
use strata_application::build_cache::AcValidation;
use strata_application::{BuildCacheDependencies, BuildCacheService, FlushWatch};
use strata_domain::{ActionCache, ActionResultFormat, Clock, ContentStore};
use strata_infrastructure::{
    AcReferences, DiskBuildStore, FastSlowBuildStore, MemoryBuildStore, ProstActionResultFormat,
    RebuildHook, S3BuildStore, S3Credentials, SizeSplitContentStore, StackedBuildStore,
    StrataStoreProvider, UnlinkHook,
};

use crate::config::{BuildCacheS3Settings, BuildStoreKind, MAX_CAS_BACKEND_BLOB_BYTES, Settings};

/// The object-store tier `[build_cache.s3]` describes. Only the bucket,
/// prefix and endpoint are logged, never credentials.
fn object_tier(
    s3: &BuildCacheS3Settings,
    max_blob_bytes: Option<u64>,
    provider: &StrataStoreProvider,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Arc<S3BuildStore>> {
    let mut builder = S3BuildStore::builder(&s3.bucket)
        .prefix(&s3.prefix)
        .region(&s3.region)
        .clock(clock.clone());
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.endpoint(endpoint);
    }
    if let Some(path) = &s3.credentials_file {
        let credentials = S3Credentials::from_file(path)
            .map_err(|e| anyhow::anyhow!("[build_cache.s3] credentials_file: {e}"))?;
        builder = builder.credentials(credentials);
    }
    if let Some(max) = max_blob_bytes {
        builder = builder.max_blob_bytes(max);
    }
    if let Some(name) = &s3.index_backend {
        let scope = format!("{}/{}", s3.bucket, s3.prefix.trim_matches('/'));
        let index = provider
            .s3_access_index(name, &scope)
            .map_err(|e| anyhow::anyhow!("[build_cache.s3] index_backend = {name:?}: {e}"))?;
        match s3.max_bytes {
            Some(max) => builder = builder.eviction(index, max),
            None => anyhow::bail!(
                "[build_cache.s3] index_backend = {name:?} needs max_bytes, the budget it enforces"
            ),
        }
    } else if s3.max_bytes.is_some() {
        tracing::warn!(bucket = %s3.bucket, "[build_cache.s3] max_bytes without index_backend is not enforced by Strata; give the bucket a lifecycle rule");
    }
    let store = builder
        .build()
        .map_err(|e| anyhow::anyhow!("[build_cache.s3]: {e}"))?;
    tracing::info!(bucket = %s3.bucket, prefix = %s3.prefix, endpoint = ?s3.endpoint, "build-cache object tier on");
    Ok(store)
}

/// The referenced blobs of an AC value, for the object tier's
/// completeness checks: validated instances only.
fn ac_references(validation: AcValidation) -> AcReferences {
    let format = ProstActionResultFormat;
    Arc::new(move |instance, value| {
        if !validation.validates(instance) {
            return None;
        }
        Some(
            format
                .decode(value)
                .map(|r| r.digests())
                .unwrap_or_default(),
        )
    })
}

/// The build cache `[build_cache]` describes, or `None` when disabled.
///
/// # Errors
/// An invalid instance name under `[build_cache.instances]`.
pub(crate) fn service(
    all: &Settings,
    provider: &StrataStoreProvider,
    clock: Arc<dyn Clock>,
    disk_before_unlink: Option<UnlinkHook>,
    disk_rebuild_hook: Option<RebuildHook>,
    flush_watch: FlushWatch,
) -> anyhow::Result<Option<BuildCacheService>> {
    let settings = &all.build_cache;
    if !settings.enabled {
        return Ok(None);
    }
    let validation = settings.validation()?;
    let kind = settings.store_kind()?;
    let memory = |max_bytes: u64| {
        let mut builder = MemoryBuildStore::builder()
            .max_bytes(max_bytes)
            .clock(clock.clone());
        if let Some(max) = settings.max_blob_bytes {
            builder = builder.max_blob_bytes(max.min(max_bytes));
        }
        builder.build()
    };
    let disk = || -> anyhow::Result<Arc<DiskBuildStore>> {
        let dir = settings.dir.clone().unwrap_or_default();
        // Serve at once; the index is rebuilt in the background (its
        // thread logs the end, /health/ready reports it meanwhile).
        let mut builder = DiskBuildStore::builder(dir.clone())
            .max_bytes(settings.max_bytes)
            .clock(clock.clone())
            .background_rebuild(true);
        if let Some(max) = settings.max_blob_bytes {
            builder = builder.max_blob_bytes(max);
        }
        if let Some(hook) = &disk_before_unlink {
            builder = builder.before_unlink(hook.clone());
        }
        if let Some(hook) = &disk_rebuild_hook {
            builder = builder.rebuild_hook(hook.clone());
        }
        let store = builder
            .build()
            .with_context(|| format!("[build_cache] dir {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), "build-cache disk store open; its index is rebuilt in the background");
        Ok(store)
    };
    let (ac, cas): (Arc<dyn ActionCache>, Arc<dyn ContentStore>) = match kind {
        BuildStoreKind::Memory => {
            let store = memory(settings.max_bytes);
            (store.clone(), store)
        }
        BuildStoreKind::Disk => {
            let store = disk()?;
            (store.clone(), store)
        }
        BuildStoreKind::MemoryDisk => {
            let upper = memory(
                settings
                    .memory_bytes
                    .unwrap_or((settings.max_bytes / 4).min(256 << 20)),
            );
            let store = Arc::new(StackedBuildStore::new(upper, disk()?).clock(clock.clone()));
            (store.clone(), store)
        }
        BuildStoreKind::DiskS3 | BuildStoreKind::MemoryS3 => {
            let s3 = settings.s3.as_ref().context("[build_cache.s3]")?;
            let slow = object_tier(s3, settings.max_blob_bytes, provider, &clock)?;
            let refs = ac_references(validation.clone());
            if kind == BuildStoreKind::DiskS3 {
                let store = Arc::new(
                    FastSlowBuildStore::new(disk()?, slow)
                        .references(refs)
                        .clock(clock.clone()),
                );
                (store.clone(), store)
            } else {
                let store = Arc::new(
                    FastSlowBuildStore::new(memory(settings.max_bytes), slow)
                        .references(refs)
                        .clock(clock.clone()),
                );
                (store.clone(), store)
            }
        }
    };
    let ac: Arc<dyn ActionCache> = match &settings.ac_backend {
        None => ac,
        Some(name) => provider
            .redis_build_store(name)
            .map_err(|e| anyhow::anyhow!("[build_cache] ac_backend = {name:?}: {e}"))?
            .build(),
    };
    let cas: Arc<dyn ContentStore> = match &settings.cas_backend {
        None => cas,
        Some(name) => {
            let max = settings.cas_backend_max_blob_bytes;
            if max == 0 || max > MAX_CAS_BACKEND_BLOB_BYTES {
                anyhow::bail!(
                    "[build_cache] cas_backend_max_blob_bytes = {max}: must be 1..={}",
                    MAX_CAS_BACKEND_BLOB_BYTES
                );
            }
            let small = provider
                .redis_build_store(name)
                .map_err(|e| anyhow::anyhow!("[build_cache] cas_backend = {name:?}: {e}"))?
                .max_blob_bytes(max)
                .build();
            Arc::new(SizeSplitContentStore::new(small, cas).small_max_bytes(max))
        }
    };
    tracing::info!(store = ?kind, max_bytes = settings.max_bytes, "build cache on");
    Ok(Some(BuildCacheService::new(BuildCacheDependencies {
        ac,
        cas,
        format: Arc::new(ProstActionResultFormat),
        validation,
        flush_watch: Some(flush_watch),
    })))
}
