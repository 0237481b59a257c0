//! Reads: whole AC entries, small CAS reads in one step, and streamed
//! large reads chunk by chunk. Both read from the page cache on the
//! calling thread when they can, into a reused per-thread buffer; what is
//! not cached is read on the blocking pool (a streamed read then stays
//! there, one chunk ahead).
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
/// (async) thread, but only if they are in the page cache: see
/// [`pread_cached`]. The `open` itself runs here too, as nginx's does.
#[cfg(target_os = "linux")]
pub(super) fn read_cached(path: &Path, start: u64, len: u64) -> Cached {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Cached::Gone,
        Err(_) => return Cached::Uncached,
    };
    match pread_cached(&file, start, len) {
        Some(chunk) => Cached::Read(chunk),
        None => Cached::Uncached,
    }
}

/// `len` bytes (at most [`DISK_READ_CHUNK_BYTES`]) at `start` of `file`,
/// read on the calling (async) thread, but only if they are all in the
/// page cache: `preadv2` with `RWF_NOWAIT` (Linux 4.14+, `preadv2(2)`)
/// fails with `EAGAIN` instead of waiting for the disk, as nginx's
/// thread-pool reads try first. A hot blob then costs no trip to the
/// blocking pool (two thread wake-ups, the largest cost of a small GET).
/// `None`: read on the blocking pool.
#[cfg(target_os = "linux")]
fn pread_cached(file: &fs::File, start: u64, len: u64) -> Option<Bytes> {
    use std::sync::atomic::AtomicBool;
    /// Cleared once the file system refuses `RWF_NOWAIT`.
    static SUPPORTED: AtomicBool = AtomicBool::new(true);
    if !SUPPORTED.load(Ordering::Relaxed) {
        return None;
    }
    // `len` is at most DISK_READ_CHUNK_BYTES (the callers check).
    let len_usize = usize::try_from(len).unwrap_or(DISK_READ_CHUNK_BYTES);
    CHUNK_BUFFER.with_borrow_mut(|buf| {
        // Reuses the allocation once the previous chunk cut from it was
        // dropped (the server copies a chunk into its write buffer as soon
        // as it gets it): no fresh large allocation, and no page faults
        // zeroing it, per chunk.
        buf.clear();
        buf.resize(len_usize, 0);
        let mut slices = [io::IoSliceMut::new(&mut buf[..])];
        match rustix::io::preadv2(file, &mut slices, start, rustix::io::ReadWriteFlags::NOWAIT) {
            Ok(n) if n == len_usize => Some(buf.split().freeze()),
            Ok(_) => None,
            Err(
                rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS,
            ) => {
                SUPPORTED.store(false, Ordering::Relaxed);
                None
            }
            Err(_) => None,
        }
    })
}

#[cfg(target_os = "linux")]
thread_local! {
    /// The buffer [`pread_cached`] reads into, one per thread: each read
    /// splits its bytes off, and the next read takes the allocation back
    /// when nobody holds them any more (`BytesMut::reserve` reclaims a
    /// uniquely owned buffer), else allocates a new one.
    static CHUNK_BUFFER: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
pub(super) fn read_cached(_: &Path, _: u64, _: u64) -> Cached {
    Cached::Uncached
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
fn pread_cached(_: &fs::File, _: u64, _: u64) -> Option<Bytes> {
    None
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

/// Opens the blob file at `path` for a streamed read of `len` bytes from
/// `start`, on the calling thread (as [`read_cached`] does); `Ok(None)`
/// when it is gone.
///
/// # Errors
/// The open failing otherwise.
pub(super) fn open_stream(
    path: &Path,
    start: u64,
    len: u64,
) -> Result<Option<FileReader>, BuildCacheError> {
    match fs::File::open(path) {
        Ok(file) => Ok(Some(FileReader {
            file: Arc::new(file),
            offset: start,
            remaining: len,
            ahead: None,
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("open a blob", e)),
    }
}

/// Streams `remaining` bytes of an open blob file from `offset` in
/// [`DISK_READ_CHUNK_BYTES`] chunks. A chunk in the page cache is read on
/// the calling thread into the thread's reused buffer ([`pread_cached`]).
/// From the first chunk that is not, the reader moves to the blocking
/// pool, one chunk ahead: the next chunk is read from disk while the
/// caller sends the one it got. At most two chunks are in memory whatever
/// the blob's size. An open file stays readable when a flush unlinks it,
/// so a read never yields partial content.
pub(super) struct FileReader {
    file: Arc<fs::File>,
    offset: u64,
    remaining: u64,
    /// The read of the chunk at `offset`, when started ahead.
    ahead: Option<tokio::task::JoinHandle<io::Result<Bytes>>>,
}

impl FileReader {
    /// Starts the read of the chunk at `offset` on the blocking pool.
    fn start_read(&self) -> tokio::task::JoinHandle<io::Result<Bytes>> {
        let (file, offset) = (Arc::clone(&self.file), self.offset);
        let want = self.remaining.min(DISK_READ_CHUNK_BYTES as u64);
        tokio::task::spawn_blocking(move || read_at(&file, offset, want))
    }
}

#[async_trait]
impl BlobReader for FileReader {
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        if self.ahead.is_none() {
            // While the file is in the page cache, each chunk is read here,
            // on the calling thread, with no trip to the blocking pool
            // (two thread wake-ups per chunk, the largest cost of a hot
            // large GET). The first chunk that is not cached moves this
            // read to the blocking pool, one chunk ahead, for good.
            let want = self.remaining.min(DISK_READ_CHUNK_BYTES as u64);
            if let Some(chunk) = pread_cached(&self.file, self.offset, want) {
                self.offset += want;
                self.remaining -= want;
                return Ok(Some(chunk));
            }
        }
        let read = match self.ahead.take() {
            Some(read) => read,
            None => self.start_read(),
        };
        let chunk = read.await.map_err(io::Error::other)??;
        self.offset += chunk.len() as u64;
        self.remaining -= chunk.len() as u64;
        if self.remaining > 0 {
            self.ahead = Some(self.start_read());
        }
        Ok(Some(chunk))
    }
}

/// Exactly `len` bytes (at most [`DISK_READ_CHUNK_BYTES`]) at `offset`
/// of `file`, blocking.
fn read_at(file: &fs::File, offset: u64, len: u64) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = BytesMut::zeroed(usize::try_from(len).unwrap_or(DISK_READ_CHUNK_BYTES));
    file.read_exact_at(&mut buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(e.kind(), "blob file shorter than its index entry")
        } else {
            e
        }
    })?;
    Ok(buf.freeze())
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

    /// A streamed read yields the exact range in bounded chunks (read one
    /// ahead), and a file shorter than its index entry is an error, not
    /// short data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_read_yields_the_exact_range_in_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        for (start, len) in [(0u64, 300_000u64), (70_000, 100_000), (299_999, 1)] {
            let mut reader = open_stream(&path, start, len).unwrap().unwrap();
            // Every chunk is kept until the end: a chunk read into the
            // thread's reused buffer must not change under a later read.
            let mut chunks = Vec::new();
            while let Some(chunk) = reader.next_chunk().await.unwrap() {
                assert!(chunk.len() <= DISK_READ_CHUNK_BYTES);
                chunks.push(chunk);
            }
            let got: Vec<u8> = chunks.concat();
            let (s, e) = (start as usize, (start + len) as usize);
            assert_eq!(got, &data[s..e], "{start}+{len}");
        }
        // The second half dropped from the page cache: the read starts on
        // the calling thread and moves to the blocking pool mid-stream,
        // with the same bytes.
        let file = fs::File::open(&path).unwrap();
        file.sync_all().unwrap();
        rustix::fs::fadvise(&file, 150_000, None, rustix::fs::Advice::DontNeed).unwrap();
        let mut reader = open_stream(&path, 0, 300_000).unwrap().unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = reader.next_chunk().await.unwrap() {
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, data);
        let mut short = open_stream(&path, 290_000, 20_000).unwrap().unwrap();
        assert!(short.next_chunk().await.is_err());
        assert!(
            open_stream(&dir.path().join("gone"), 0, 1)
                .unwrap()
                .is_none()
        );
    }
}
