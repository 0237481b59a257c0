//! Reads: whole AC entries, small CAS reads in one step (from the page
//! cache on the calling thread when it can), and streamed large reads.
//!
//! A reader looks the entry up in the index (a short lock, no I/O), then
//! opens the file with no lock held. A file that vanished between the two
//! (evicted or flushed meanwhile) is a clean miss; an open file stays
//! readable when it is unlinked, so a read never yields partial content.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use strata_domain::{BlobReader, BuildCacheError};
use tokio::io::AsyncReadExt;

use super::super::key::Key;
use super::index::Meta;
use super::{DISK_READ_CHUNK_BYTES, Shared, blocking, io_err, recovery};

/// The entry of `key`, refreshing its recency and last access when
/// `touch`: from the index, or, while the start-up rebuild runs and the
/// index lacks it, from its file (stat on the blocking pool), which then
/// joins the index. A file's final name only ever holds a whole blob (an
/// upload is renamed there when complete), so a read of a file the
/// rebuild has not reached yet gets the exact bytes, or a clean miss when
/// there is no such file.
///
/// # Errors
/// The stat failing for another reason than a missing file.
pub(super) async fn find(
    shared: &Arc<Shared>,
    key: &Key,
    touch: bool,
) -> Result<Option<Meta>, BuildCacheError> {
    let now = touch.then(|| shared.clock.now());
    let (meta, rebuilding) = {
        let mut index = shared.lock();
        (index.lookup(key, now), index.rebuilding())
    };
    if meta.is_some() || !rebuilding {
        return Ok(meta);
    }
    let path = shared.path(key);
    let on_disk = blocking(move || match fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(Some((m.len(), recovery::mtime(&m)))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("look at a blob file", e)),
    })
    .await?;
    Ok(on_disk.and_then(|(size, modified)| {
        shared
            .lock()
            .adopt(key.clone(), size, now.unwrap_or(modified))
    }))
}

/// A whole file's bytes; `None` (and the entry forgotten) when it vanished.
pub(super) async fn read_whole(
    shared: &Shared,
    key: &Key,
    meta: &Meta,
) -> Result<Option<Bytes>, BuildCacheError> {
    match tokio::fs::read(shared.path(key)).await {
        Ok(v) => Ok(Some(Bytes::from(v))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            shared.forget(key, meta);
            Ok(None)
        }
        Err(e) => Err(io_err("read a disk entry", e)),
    }
}

/// What [`read_cached`] found.
pub(super) enum Cached {
    /// The bytes, read without blocking.
    Read(Bytes),
    /// No such file (flushed or evicted).
    Gone,
    /// Not (all) in the page cache, or the attempt is not possible here:
    /// read on the blocking pool instead.
    Uncached,
}

/// Reads `len` bytes at `start` of the blob file at `path` on the calling
/// (async) thread, but only if they are in the page cache: `preadv2`
/// with `RWF_NOWAIT` (Linux 4.14+, `preadv2(2)`) fails with `EAGAIN`
/// instead of waiting for the disk, as nginx's thread-pool reads try
/// first. A hot blob then costs no trip to the blocking pool (two thread
/// wake-ups, the largest cost of a small GET). The `open` itself runs
/// here too, as nginx's does.
#[cfg(target_os = "linux")]
pub(super) fn read_cached(path: &Path, start: u64, len: u64) -> Cached {
    use std::sync::atomic::AtomicBool;
    /// Cleared once the file system refuses `RWF_NOWAIT`.
    static SUPPORTED: AtomicBool = AtomicBool::new(true);
    if !SUPPORTED.load(Ordering::Relaxed) {
        return Cached::Uncached;
    }
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Cached::Gone,
        Err(_) => return Cached::Uncached,
    };
    // `len` is at most DISK_READ_CHUNK_BYTES (the caller checks).
    let mut buf = BytesMut::zeroed(usize::try_from(len).unwrap_or(DISK_READ_CHUNK_BYTES));
    let mut slices = [io::IoSliceMut::new(&mut buf)];
    match rustix::io::preadv2(
        &file,
        &mut slices,
        start,
        rustix::io::ReadWriteFlags::NOWAIT,
    ) {
        Ok(n) if n as u64 == len => Cached::Read(buf.freeze()),
        Ok(_) => Cached::Uncached,
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            SUPPORTED.store(false, Ordering::Relaxed);
            Cached::Uncached
        }
        Err(_) => Cached::Uncached,
    }
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
pub(super) fn read_cached(_: &Path, _: u64, _: u64) -> Cached {
    Cached::Uncached
}

/// `len` bytes (at most [`DISK_READ_CHUNK_BYTES`]) of the blob file at
/// `path` from `start`, or `None` when the file is gone.
pub(super) fn read_small(
    path: &Path,
    start: u64,
    len: u64,
) -> Result<Option<Bytes>, BuildCacheError> {
    use std::io::{Read, Seek};
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open a blob", e)),
    };
    if start > 0 {
        file.seek(io::SeekFrom::Start(start))
            .map_err(|e| io_err("seek in a blob", e))?;
    }
    // `len` is at most DISK_READ_CHUNK_BYTES, so it fits in usize.
    let mut buf = BytesMut::zeroed(usize::try_from(len).unwrap_or(DISK_READ_CHUNK_BYTES));
    file.read_exact(&mut buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io_err(
                "read a blob",
                io::Error::new(e.kind(), "blob file shorter than its index entry"),
            )
        } else {
            io_err("read a blob", e)
        }
    })?;
    Ok(Some(buf.freeze()))
}

/// Streams `remaining` bytes of an open blob file in
/// [`DISK_READ_CHUNK_BYTES`] chunks. An open file stays readable when a
/// flush unlinks it, so a read never yields partial content.
pub(super) struct FileReader {
    pub(super) file: tokio::fs::File,
    pub(super) remaining: u64,
}

#[async_trait]
impl BlobReader for FileReader {
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(DISK_READ_CHUNK_BYTES);
        let mut buf = BytesMut::zeroed(want);
        let mut filled = 0;
        while filled < want {
            let n = self.file.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob file shorter than its index entry",
                ));
            }
            filled += n;
        }
        self.remaining -= want as u64;
        Ok(Some(buf.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page-cache path and the blocking-pool path read the same bytes
    /// (whole or ranged), and both tell a missing file from an error.
    #[test]
    fn both_small_read_paths_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        for (start, len) in [(0, 5000), (100, 900), (4999, 1), (0, 0)] {
            let want = &data[start as usize..(start + len) as usize];
            let slow = read_small(&path, start, len).unwrap().unwrap();
            assert_eq!(slow.as_ref(), want, "blocking read at {start}+{len}");
            match read_cached(&path, start, len) {
                Cached::Read(fast) => {
                    assert_eq!(fast.as_ref(), want, "cached read at {start}+{len}")
                }
                // Allowed (a file system without RWF_NOWAIT, or not cached).
                Cached::Uncached => {}
                Cached::Gone => panic!("the file exists"),
            }
        }
        let gone = dir.path().join("gone");
        assert!(read_small(&gone, 0, 1).unwrap().is_none());
        assert!(matches!(
            read_cached(&gone, 0, 1),
            Cached::Gone | Cached::Uncached
        ));
        // A file shorter than its index entry is an error, not short data.
        assert!(read_small(&path, 4990, 20).is_err());
        assert!(!matches!(read_cached(&path, 4990, 20), Cached::Read(_)));
    }
}
