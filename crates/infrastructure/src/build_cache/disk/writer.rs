//! Writes: every upload goes to a temporary file, is fsynced, and is
//! renamed to its final name, so a digest's name never holds a partial
//! blob.
//!
//! The install (`Shared::install`) claims the key in the index
//! ([`Busy::Installing`]), chooses eviction victims and reserves the bytes
//! under the lock, then unlinks the victims and renames the file with no
//! lock held, on the blocking pool.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use strata_domain::{AcWriter, BlobWriter, BuildCacheError, Committed, Digest};
use tokio::io::AsyncWriteExt;

use super::super::key::Key;
use super::super::verify::Verifier;
use super::index::Busy;
use super::{STORE, Shared, blocking, io_err};

impl Shared {
    /// Moves the finished temporary file `tmp` (of `size` bytes) to `key`'s
    /// name, evicting as needed; `Ok(false)` when `replace` is off and the
    /// entry already exists (the temporary file is then deleted).
    ///
    /// Blocking, and it may wait for an unlink or another install of the
    /// same key: call it on the blocking pool.
    ///
    /// # Errors
    /// [`BuildCacheError::InsufficientStorage`] when `size` does not fit
    /// even after eviction; an I/O error when the rename fails.
    pub(super) fn install(
        &self,
        key: Key,
        tmp: &Path,
        size: u64,
        replace: bool,
    ) -> Result<bool, BuildCacheError> {
        let now = self.clock.now();
        let mut index = self.lock();
        while matches!(index.busy(&key), Some(Busy::Unlinking | Busy::Installing)) {
            index = self.settled.wait(index).unwrap_or_else(|e| e.into_inner());
        }
        if !replace && index.lookup(&key, Some(now)).is_some() {
            drop(index);
            let _ = fs::remove_file(tmp);
            return Ok(false);
        }
        // A doomed key is taken over: the rename replaces its old file,
        // and the unlinker skips it.
        let was_doomed = index.busy(&key) == Some(Busy::Doomed);
        let replaced = index.remove(&key);
        index.set_busy(&key, Busy::Installing);
        // While the index is rebuilt its byte count is partial: nothing is
        // evicted (the rebuild's end evicts down to the watermark).
        let rebuilding = index.rebuilding();
        let victims = if !rebuilding && index.bytes() + size > self.capacity {
            self.choose_victims(&mut index, size)
        } else {
            Vec::new()
        };
        let fits = size <= self.capacity && (rebuilding || index.bytes() + size <= self.capacity);
        if fits {
            index.reserve(size);
        } else {
            self.release(&mut index, &key, was_doomed, replaced);
        }
        drop(index);
        self.settled.notify_all();
        // Failures are logged and put back in the index.
        self.unlink(victims);
        if !fits {
            let _ = fs::remove_file(tmp);
            return Err(BuildCacheError::InsufficientStorage {
                needed_bytes: size,
                capacity_bytes: self.capacity,
            });
        }
        let path = self.path(&key);
        let installed = path
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::rename(tmp, &path));
        let mut index = self.lock();
        let result = match installed {
            Ok(()) => {
                index.settle(&key);
                index.insert(key, size, now);
                Ok(true)
            }
            Err(e) => {
                index.unreserve(size);
                self.release(&mut index, &key, was_doomed, replaced);
                Err(e)
            }
        };
        drop(index);
        self.settled.notify_all();
        result.map_err(|e| {
            let _ = fs::remove_file(tmp);
            io_err("install a disk entry", e)
        })
    }

    /// Gives up an install's claim on `key`: a doomed key goes back to the
    /// unlinker, a replaced entry (whose file is untouched) back in the
    /// index.
    fn release(
        &self,
        index: &mut super::index::Index,
        key: &Key,
        was_doomed: bool,
        replaced: Option<super::index::Meta>,
    ) {
        if was_doomed {
            index.set_busy(key, Busy::Doomed);
        } else {
            index.settle(key);
        }
        if let Some(old) = replaced {
            index.restore(key.clone(), old);
        }
    }
}

/// A temporary file, deleted on drop unless it was installed.
pub(super) struct TmpFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl TmpFile {
    pub(super) async fn create(shared: &Shared) -> Result<Self, BuildCacheError> {
        let path = shared.tmp_path();
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io_err("create a temporary file", e))?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    pub(super) async fn write(&mut self, chunk: &[u8]) -> Result<(), BuildCacheError> {
        match &mut self.file {
            Some(f) => f
                .write_all(chunk)
                .await
                .map_err(|e| io_err("write a temporary file", e)),
            None => Ok(()),
        }
    }

    /// Flushes and fsyncs the file, then closes it; the path stays owned.
    async fn finish(&mut self) -> Result<(), BuildCacheError> {
        if let Some(mut f) = self.file.take() {
            f.flush()
                .await
                .map_err(|e| io_err("flush a temporary file", e))?;
            f.sync_all()
                .await
                .map_err(|e| io_err("fsync a temporary file", e))?;
        }
        Ok(())
    }

    /// Installs the file as `key` (see [`Shared::install`]).
    pub(super) async fn install(
        mut self,
        shared: &Arc<Shared>,
        key: Key,
        size: u64,
        replace: bool,
    ) -> Result<bool, BuildCacheError> {
        self.finish().await?;
        let shared = Arc::clone(shared);
        // From here `install` owns the path: it renames or deletes it.
        let path = std::mem::take(&mut self.path);
        blocking(move || shared.install(key, &path, size, replace)).await
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A CAS upload to a temporary file, renamed to the digest's name at
/// commit; dropping it deletes the temporary file.
pub(super) struct DiskWriter {
    pub(super) shared: Arc<Shared>,
    pub(super) key: Key,
    pub(super) verifier: Verifier,
    pub(super) tmp: Option<TmpFile>,
}

#[async_trait]
impl BlobWriter for DiskWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        self.verifier.update(&chunk)?;
        if chunk.is_empty() {
            return Ok(());
        }
        let tmp = match &mut self.tmp {
            Some(t) => t,
            None => self.tmp.insert(TmpFile::create(&self.shared).await?),
        };
        tmp.write(&chunk).await
    }

    async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
        let DiskWriter {
            shared,
            key,
            verifier,
            tmp,
        } = *self;
        let digest: Digest = verifier.finish()?;
        if digest.is_empty_blob() {
            return Ok(Committed {
                digest,
                created: false,
            });
        }
        let Some(tmp) = tmp else {
            // Unreachable: a non-empty verified blob had chunks written.
            return Err(BuildCacheError::Unexpected {
                store: STORE.to_owned(),
                source: "a non-empty upload has no temporary file".into(),
            });
        };
        if super::reader::find(&shared, &key, true).await?.is_some() {
            // Already stored: no rewrite; `tmp` is deleted on drop.
            return Ok(Committed {
                digest,
                created: false,
            });
        }
        let created = tmp
            .install(&shared, key, digest.size_bytes(), false)
            .await?;
        Ok(Committed { digest, created })
    }
}

/// An action-cache entry streamed to a temporary file, installed (as
/// [`ActionCache::put`](strata_domain::ActionCache::put) does, replacing
/// any entry) at commit; dropping it deletes the temporary file.
pub(super) struct DiskAcWriter {
    pub(super) shared: Arc<Shared>,
    pub(super) key: Key,
    pub(super) size: u64,
    pub(super) tmp: TmpFile,
}

#[async_trait]
impl AcWriter for DiskAcWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BuildCacheError> {
        let size = self.size + chunk.len() as u64;
        if size > self.shared.max_blob_bytes {
            return Err(BuildCacheError::TooLarge {
                size_bytes: size,
                limit_bytes: self.shared.max_blob_bytes,
            });
        }
        self.size = size;
        self.tmp.write(&chunk).await
    }

    async fn commit(self: Box<Self>) -> Result<(), BuildCacheError> {
        let DiskAcWriter {
            shared,
            key,
            size,
            tmp,
        } = *self;
        tmp.install(&shared, key, size, true).await.map(|_| ())
    }
}
