//! The start-up rebuild: stale temporary files are deleted and the index
//! is rebuilt from the files present, each entry's last access taken from
//! its file's modification time (so an age-scoped flush and the eviction
//! order survive a restart). Names outside the layout are logged and
//! skipped. Blocking; runs before the store serves.

use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

use strata_domain::{BuildCacheError, DigestHash, InstanceName, StoreKind, Timestamp};

use super::super::key::Key;
use super::index::Index;
use super::{io_err, kind_dir};

/// Deletes every file in the temporary directory (uploads a previous
/// process left unfinished).
pub(super) fn clear_tmp(tmp: &Path) -> Result<(), BuildCacheError> {
    for entry in fs::read_dir(tmp).map_err(|e| io_err("read the temporary directory", e))? {
        let entry = entry.map_err(|e| io_err("read the temporary directory", e))?;
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "deleted a stale temporary file"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a temporary file")
            }
        }
    }
    Ok(())
}

/// A file's modification time as a last access.
fn mtime(meta: &fs::Metadata) -> Timestamp {
    let ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(ms)
}

/// The index of the files under `dir`, least recently modified first.
pub(super) fn rebuild(dir: &Path) -> Result<Index, BuildCacheError> {
    let mut found = Vec::new();
    let read = |p: &Path| fs::read_dir(p).map_err(|e| io_err("scan the store directory", e));
    for top in read(dir)? {
        let top = top.map_err(|e| io_err("scan the store directory", e))?;
        let name = top.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "tmp" {
            continue;
        }
        let Some(instance) = name
            .strip_prefix('@')
            .and_then(|s| InstanceName::parse(&s.replace('+', "/")).ok())
        else {
            tracing::warn!(path = %top.path().display(), "ignoring a file outside the disk store layout");
            continue;
        };
        for kind in [StoreKind::Ac, StoreKind::Cas] {
            let kdir = top.path().join(kind_dir(kind));
            if !kdir.is_dir() {
                continue;
            }
            for shard in read(&kdir)? {
                let shard = shard.map_err(|e| io_err("scan the store directory", e))?;
                let shard_name = shard.file_name();
                let Some(shard_name) = shard_name.to_str().map(str::to_owned) else {
                    continue;
                };
                if !shard.path().is_dir() {
                    tracing::warn!(path = %shard.path().display(), "ignoring a file outside the disk store layout");
                    continue;
                }
                for file in read(&shard.path())? {
                    let file = file.map_err(|e| io_err("scan the store directory", e))?;
                    let hash = file
                        .file_name()
                        .to_str()
                        .and_then(|s| DigestHash::parse(s).ok())
                        .filter(|h| h.has_hex_prefix(&shard_name) && shard_name.len() == 2);
                    let Some(hash) = hash else {
                        tracing::warn!(path = %file.path().display(), "ignoring a file outside the disk store layout");
                        continue;
                    };
                    let meta = file
                        .metadata()
                        .map_err(|e| io_err("scan the store directory", e))?;
                    if !meta.is_file() {
                        continue;
                    }
                    found.push((Key::new(kind, &instance, hash), meta.len(), mtime(&meta)));
                }
            }
        }
    }
    Ok(Index::rebuilt(found))
}
