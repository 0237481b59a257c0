//! The start-up rebuild: stale temporary files are deleted (before the
//! store serves), then the index is rebuilt from the files present on a
//! thread of its own while the store already serves, each entry's last
//! access taken from its file's modification time (so an age-scoped
//! flush and the eviction order survive a restart). Names outside the
//! layout, and directories that cannot be read, are logged and skipped.
//!
//! The scan builds its index off the lock; at the end
//! [`Index::absorb`] swaps it in, keeping what was written or read
//! meanwhile. Until then a miss of the index looks at the file
//! (`reader::find`), eviction waits (an install only reserves its bytes)
//! and a flush waits for the end.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, UNIX_EPOCH};

use strata_domain::{BuildCacheError, DigestHash, InstanceName, StoreKind, Timestamp};

use super::super::key::Key;
use super::index::Index;
use super::{Shared, io_err, kind_dir};

impl Shared {
    /// Rebuilds the index from the files under the store's directory,
    /// then swaps it in and evicts down to the watermark when the files
    /// exceed the capacity. Blocking, for the rebuild's own thread.
    pub(super) fn rebuild_index(&self) {
        let started = Instant::now();
        let found = rebuild(&self.dir, &self.rebuild_found).unwrap_or_else(|e| {
            tracing::error!(dir = %self.dir.display(), error = %e, "cannot scan the disk store; only new entries are indexed");
            Index::default()
        });
        if let Some(hook) = &self.rebuild_hook {
            hook(self.rebuild_found.load(Ordering::Relaxed));
        }
        let (victims, entries, bytes) = {
            let mut index = self.lock();
            index.absorb(found);
            let victims = if index.bytes() > self.capacity {
                self.choose_victims(&mut index, 0)
            } else {
                Vec::new()
            };
            (victims, index.entries(), index.bytes())
        };
        self.settled.notify_all();
        tracing::info!(
            dir = %self.dir.display(),
            entries,
            bytes,
            rebuild_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "build-cache disk index rebuilt"
        );
        self.unlink(victims);
    }
}

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
pub(super) fn mtime(meta: &fs::Metadata) -> Timestamp {
    let ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(ms)
}

/// The entries of `dir`, or none (logged) when it cannot be read.
fn entries_of(dir: &Path) -> Vec<fs::DirEntry> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| {
                e.map_err(|e| tracing::warn!(dir = %dir.display(), error = %e, "cannot read a disk store directory entry"))
                    .ok()
            })
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read a disk store directory");
            Vec::new()
        }
    }
}

/// The index of the files under `dir`, least recently modified first,
/// adding one to `counter` per file found. Subdirectories that cannot be
/// read are logged and skipped.
///
/// # Errors
/// When `dir` itself cannot be read.
pub(super) fn rebuild(dir: &Path, counter: &AtomicU64) -> Result<Index, BuildCacheError> {
    let mut found = Vec::new();
    for top in fs::read_dir(dir).map_err(|e| io_err("scan the store directory", e))? {
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
            for shard in entries_of(&kdir) {
                let shard_name = shard.file_name();
                let Some(shard_name) = shard_name.to_str().map(str::to_owned) else {
                    continue;
                };
                if !shard.path().is_dir() {
                    tracing::warn!(path = %shard.path().display(), "ignoring a file outside the disk store layout");
                    continue;
                }
                for file in entries_of(&shard.path()) {
                    let hash = file
                        .file_name()
                        .to_str()
                        .and_then(|s| DigestHash::parse(s).ok())
                        .filter(|h| h.has_hex_prefix(&shard_name) && shard_name.len() == 2);
                    let Some(hash) = hash else {
                        tracing::warn!(path = %file.path().display(), "ignoring a file outside the disk store layout");
                        continue;
                    };
                    // Gone since the listing (a flush waits for the
                    // rebuild, but an operator may delete files).
                    let Ok(meta) = file.metadata() else { continue };
                    if !meta.is_file() {
                        continue;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    found.push((Key::new(kind, &instance, hash), meta.len(), mtime(&meta)));
                }
            }
        }
    }
    Ok(Index::rebuilt(found))
}
