//! Eviction and flush, off the read path.
//!
//! Victims (the least recently used entries down to the watermark, or the
//! entries a flush matches) are chosen and taken out of the index under
//! the lock, marked [`Busy::Doomed`]; their files are unlinked after the
//! lock is released, on the calling blocking thread, never on an async
//! worker. A read of a victim is therefore a clean miss from the moment
//! it is chosen: the index no longer has it, and a reader that opened the
//! file before keeps reading the whole (unlinked) file.
//!
//! Each unlink claims its key first (`Doomed` -> `Unlinking`), in batches
//! of [`UNLINK_BATCH`] per lock, so an installer of the same key either
//! took the key over before (its rename replaces the old file, and the
//! unlink is skipped) or waits until the unlink is done: an unlink never
//! removes a newer file.

use std::io;
use std::path::PathBuf;
use std::time::Instant;

use strata_domain::{FlushCriteria, FlushResult, StoreFlushReport, StoreKind};

use super::super::key::Key;
use super::index::{Index, Meta};
use super::{DISK_LOW_WATERMARK_PERCENT, STORE, Shared};

/// Keys claimed (and then settled) per acquisition of the index lock
/// while unlinking.
const UNLINK_BATCH: usize = 64;

/// An entry whose file could not be unlinked (it was put back in the
/// index) and why.
pub(super) struct UnlinkFailure {
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) error: io::Error,
}

impl Shared {
    /// Takes victims out of `index` so that `needed` more bytes fit under
    /// the low watermark ([`DISK_LOW_WATERMARK_PERCENT`] of capacity);
    /// unlink them with [`Shared::unlink`] once the lock is released.
    pub(super) fn choose_victims(&self, index: &mut Index, needed: u64) -> Vec<(Key, Meta)> {
        let target = (self.capacity / 100 * DISK_LOW_WATERMARK_PERCENT).saturating_sub(needed);
        index.take_victims(target)
    }

    /// Unlinks the files of `doomed` entries (taken out of the index and
    /// marked doomed under the lock). Blocking: call it with no lock held,
    /// off the async workers. An entry whose file cannot be removed (other
    /// than already gone) goes back in the index and is returned; an entry
    /// an installer took over is skipped. Returns the failures; the rest
    /// were removed.
    pub(super) fn unlink(&self, doomed: Vec<(Key, Meta)>) -> Vec<UnlinkFailure> {
        let mut failures = Vec::new();
        let mut doomed = doomed.into_iter().peekable();
        while doomed.peek().is_some() {
            let batch: Vec<(Key, Meta)> = {
                let mut index = self.lock();
                doomed
                    .by_ref()
                    .take(UNLINK_BATCH)
                    .filter(|(key, _)| index.claim_unlink(key))
                    .collect()
            };
            // The path of each file that could not be removed, and why.
            let outcomes: Vec<Result<(), (PathBuf, io::Error)>> = batch
                .iter()
                .map(|(key, _)| {
                    let path = self.path(key);
                    if let Some(hook) = &self.before_unlink {
                        hook(&path);
                    }
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => Err((path, e)),
                        _ => Ok(()),
                    }
                })
                .collect();
            let mut index = self.lock();
            for ((key, meta), outcome) in batch.into_iter().zip(outcomes) {
                index.settle(&key);
                if let Err((path, error)) = outcome {
                    tracing::warn!(path = %path.display(), error = %error, "cannot remove a disk entry");
                    let size = meta.size;
                    index.restore(key, meta);
                    failures.push(UnlinkFailure { path, size, error });
                }
            }
            drop(index);
            self.settled.notify_all();
        }
        failures
    }

    /// Removes the entries of `kind` that `criteria` matches (or only
    /// counts them on a dry run). Blocking: it waits for the start-up
    /// rebuild (a partial index would miss files), and the files are
    /// unlinked after the index lock is released; call it off the async
    /// workers.
    pub(super) fn flush_kind(&self, kind: StoreKind, criteria: &FlushCriteria) -> FlushResult {
        let started = Instant::now();
        let mut index = self.lock();
        while index.rebuilding() {
            index = self.settled.wait(index).unwrap_or_else(|e| e.into_inner());
        }
        let now = self.clock.now();
        let doomed = index.take_matching(
            |k, m| k.kind == kind && criteria.matches(&k.instance, &k.hash, m.last_access, now),
            criteria.dry_run,
        );
        drop(index);
        let mut report = StoreFlushReport {
            store: STORE.to_owned(),
            ..Default::default()
        };
        report.entries_removed = doomed.len() as u64;
        report.bytes_reclaimed = doomed.iter().map(|(_, m)| m.size).sum();
        if !criteria.dry_run {
            for failure in self.unlink(doomed) {
                report.entries_removed -= 1;
                report.bytes_reclaimed -= failure.size;
                report.errors.push(format!(
                    "cannot remove {}: {}",
                    failure.path.display(),
                    failure.error
                ));
            }
        }
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        FlushResult::single(kind, criteria.dry_run, report)
    }
}
