//! Snapshot files: a memory cache's entries (`persist = true`) or a
//! stacked cache's hottest keys (warming), written atomically and
//! verified whole before anything is loaded.
//!
//! # Format (version 1)
//! ```text
//! header   magic (8 bytes: "STRSNAP\0" entries, "STRWARM\0" keys), version u32 LE
//! records  repeated: length u32 LE (< 0xFFFF_FFFF), payload
//! trailer  0xFFFF_FFFF u32, record count u64 LE, SHA-256 of every byte before it (32)
//! ```
//! An entry's payload: key (u16 length + UTF-8), content type (u16 + UTF-8),
//! tag count u16 and each tag (u16 + UTF-8), created-at, version and
//! expiry in Unix milliseconds (u64 LE each, expiry 0 = none), then the
//! value's bytes to the end of the payload. A key file's payload is the key.
//!
//! # Guarantees
//! - Written to `<path>.tmp`, fsynced, renamed over `<path>`, and the
//!   directory fsynced: a crash leaves the old file or the new one.
//! - Loading reads the file twice: the first pass checks the framing,
//!   parses every record and the checksum, and only then does the second
//!   pass insert. A torn, truncated or corrupt file is an error before any
//!   entry reaches the store; it is never half-loaded.
//! - Memory: one page of entries (writing) or one batch (loading) at a time.
//! - A length read from the file is believed only when the file holds
//!   that many bytes after it and it is no longer than the largest record
//!   of its kind ([`MAX_ENTRY_RECORD_BYTES`], [`MAX_WARM_KEY_RECORD_BYTES`]);
//!   otherwise the file is corrupt, named with the record's offset, and
//!   nothing is allocated for it.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use strata_domain::{
    CacheEntry, CacheKey, CacheStore, CacheValue, ContentType, EntryVersion, HARD_MAX_VALUE_BYTES,
    MAX_CONTENT_TYPE_BYTES, MAX_KEY_BYTES, MAX_TAG_BYTES, StoreError, Tag, Timestamp,
};

/// Magic of an entries snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"STRSNAP\0";
/// Magic of a warm-keys file.
pub const WARM_KEYS_MAGIC: &[u8; 8] = b"STRWARM\0";
/// The format version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Entries per page read from the store, and per batch inserted.
const BATCH: usize = 512;
const END: u32 = u32::MAX;

/// The longest entry record any cache can write, in bytes: the longest
/// key, content type and tags (a u16 count of the longest tags, each with
/// its u16 length), the three timestamps, and the largest value any cache
/// accepts ([`HARD_MAX_VALUE_BYTES`]). About 72 MiB.
pub const MAX_ENTRY_RECORD_BYTES: u64 = (2 + MAX_KEY_BYTES as u64)
    + (2 + MAX_CONTENT_TYPE_BYTES as u64)
    + 2
    + u16::MAX as u64 * (2 + MAX_TAG_BYTES as u64)
    + 3 * 8
    + HARD_MAX_VALUE_BYTES;
/// The longest record of a warm-keys file, in bytes: one key.
pub const MAX_WARM_KEY_RECORD_BYTES: u64 = MAX_KEY_BYTES as u64;

/// Why a snapshot could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("snapshot {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is torn, truncated, of another version or corrupt.
    #[error("snapshot {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a load did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Entries inserted.
    pub loaded: u64,
    /// Entries dropped because they had expired.
    pub expired: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A file being written: every byte also goes through the checksum.
struct Writer {
    out: BufWriter<File>,
    hash: Sha256,
    count: u64,
}

impl Writer {
    fn create(tmp: &Path, magic: &[u8; 8]) -> std::io::Result<Self> {
        if let Some(dir) = tmp.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut w = Self {
            out: BufWriter::new(File::create(tmp)?),
            hash: Sha256::new(),
            count: 0,
        };
        w.raw(magic)?;
        w.raw(&SNAPSHOT_VERSION.to_le_bytes())?;
        Ok(w)
    }

    fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }

    fn record(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l != END)
            .ok_or_else(|| std::io::Error::other("record over 4 GiB"))?;
        self.raw(&len.to_le_bytes())?;
        self.raw(payload)?;
        self.count += 1;
        Ok(())
    }

    /// Trailer, fsync, rename, directory fsync.
    fn finish(mut self, tmp: &Path, path: &Path) -> std::io::Result<()> {
        self.raw(&END.to_le_bytes())?;
        let count = self.count.to_le_bytes();
        self.raw(&count)?;
        let digest = self.hash.finalize();
        self.out.write_all(&digest)?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(tmp, path)?;
        if let Some(dir) = path.parent()
            && let Ok(dir) = File::open(dir)
        {
            dir.sync_all()?;
        }
        Ok(())
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Keys, tags and content types are at most 255 bytes.
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_entry(key: &CacheKey, entry: &CacheEntry) -> Vec<u8> {
    let value = entry.value();
    let mut out = Vec::with_capacity(64 + key.as_str().len() + value.len());
    put_str(&mut out, key.as_str());
    put_str(&mut out, value.content_type().as_str());
    out.extend_from_slice(&(entry.tags().len() as u16).to_le_bytes());
    for tag in entry.tags() {
        put_str(&mut out, tag.as_str());
    }
    out.extend_from_slice(&entry.created_at().as_millis().to_le_bytes());
    out.extend_from_slice(&entry.version().get().to_le_bytes());
    // The logical expiry: a restored entry is not kept for a stale window
    // (it would otherwise read as fresh until its physical expiry).
    let expiry = entry.fresh_until().map_or(0, Timestamp::as_millis);
    out.extend_from_slice(&expiry.to_le_bytes());
    out.extend_from_slice(value.bytes());
    out
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("record ends early".to_owned());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())
    }
}

fn decode_entry(payload: &[u8]) -> Result<(CacheKey, CacheEntry), String> {
    let mut c = Cursor(payload);
    let key = CacheKey::parse(c.str()?).map_err(|e| e.to_string())?;
    let content_type = ContentType::parse(c.str()?).map_err(|e| e.to_string())?;
    let tags = (0..c.u16()?)
        .map(|_| {
            c.str()
                .and_then(|t| Tag::parse(t).map_err(|e| e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let created = Timestamp::from_millis(c.u64()?);
    let version = EntryVersion::new(c.u64()?);
    let expiry = c.u64()?;
    let value = CacheValue::new(Bytes::copy_from_slice(c.0), content_type);
    let expires_at = (expiry != 0).then(|| Timestamp::from_millis(expiry));
    Ok((
        key,
        CacheEntry::new(value, created, expires_at, tags, version),
    ))
}

/// Writes every live entry of `store` to `path` (atomically); returns how
/// many. Pages are read from the store one at a time
/// ([`CacheStore::entries_page`]); the file is written on tokio's blocking
/// pool. A key seen twice (a page of a store changing meanwhile) is written
/// twice; the later copy wins at load.
///
/// # Errors
/// [`SnapshotError::Io`] or the store's error; the old file is then kept.
pub async fn write_snapshot(
    store: &dyn CacheStore,
    path: &Path,
    now: Timestamp,
) -> Result<u64, SnapshotError> {
    let tmp = tmp_path(path);
    let t = tmp.clone();
    let mut writer = blocking(move || Writer::create(&t, SNAPSHOT_MAGIC))
        .await
        .map_err(io(path))?;
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let page = store.entries_page(at, BATCH).await?;
        cursor = page.next;
        writer = blocking(move || {
            for (key, entry) in &page.entries {
                if !entry.is_stale(now) {
                    writer.record(&encode_entry(key, entry))?;
                }
            }
            Ok(writer)
        })
        .await
        .map_err(io(path))?;
    }
    let count = writer.count;
    let (t, p) = (tmp.clone(), path.to_owned());
    blocking(move || writer.finish(&t, &p))
        .await
        .map_err(io(path))?;
    Ok(count)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

/// Reads `path`'s records in order, calling `each` with every payload;
/// checks magic, version, framing, count and checksum, and refuses a
/// record length over `max_record` or over what the file still holds
/// before allocating for it.
fn read_records(
    path: &Path,
    magic: &[u8; 8],
    max_record: u64,
    mut each: impl FnMut(&[u8]) -> Result<(), SnapshotError>,
) -> Result<u64, SnapshotError> {
    let corrupt = |reason: &str| SnapshotError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let file = File::open(path).map_err(io(path))?;
    let size = file.metadata().map_err(io(path))?.len();
    let mut input = BufReader::new(file);
    let mut hash = Sha256::new();
    // Bytes consumed so far: the offset of the next read.
    let offset = std::cell::Cell::new(0u64);
    let mut read = |n: usize, hash: &mut Sha256| -> Result<Vec<u8>, SnapshotError> {
        let mut buf = vec![0; n];
        input.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt("the file ends early (torn write?)")
            } else {
                io(path)(e)
            }
        })?;
        hash.update(&buf);
        offset.set(offset.get() + n as u64);
        Ok(buf)
    };
    if read(8, &mut hash)? != magic {
        return Err(corrupt("not a Strata snapshot of this kind (bad magic)"));
    }
    let version = read(4, &mut hash)?;
    let version = u32::from_le_bytes([version[0], version[1], version[2], version[3]]);
    if version != SNAPSHOT_VERSION {
        return Err(corrupt(&format!(
            "format version {version}; this build reads {SNAPSHOT_VERSION}"
        )));
    }
    let mut count: u64 = 0;
    loop {
        let at = offset.get();
        let len = read(4, &mut hash)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        if len == END {
            break;
        }
        let left = size.saturating_sub(at + 4);
        if u64::from(len) > left {
            return Err(corrupt(&format!(
                "the record at offset {at} claims {len} bytes, but only {left} follow in the file"
            )));
        }
        if u64::from(len) > max_record {
            return Err(corrupt(&format!(
                "the record at offset {at} claims {len} bytes, over the largest possible \
                 record of {max_record} bytes"
            )));
        }
        let payload = read(len as usize, &mut hash)?;
        each(&payload)?;
        count += 1;
    }
    let stated = read(8, &mut hash)?;
    let mut a = [0; 8];
    a.copy_from_slice(&stated);
    if u64::from_le_bytes(a) != count {
        return Err(corrupt("record count mismatch"));
    }
    let digest = hash.finalize();
    let mut stored = [0; 32];
    input
        .read_exact(&mut stored)
        .map_err(|_| corrupt("the checksum is missing"))?;
    if stored[..] != digest[..] {
        return Err(corrupt("checksum mismatch"));
    }
    let mut rest = [0; 1];
    if input.read(&mut rest).map_err(io(path))? != 0 {
        return Err(corrupt("bytes after the checksum"));
    }
    Ok(count)
}

/// Loads `path` into `store`: verifies the whole file first (nothing is
/// inserted from a bad file), then inserts its entries in batches,
/// dropping those expired at `now`. `progress` is called after each batch
/// with (records read, records in the file).
///
/// # Errors
/// [`SnapshotError::Corrupt`] for a torn, truncated or corrupt file,
/// [`SnapshotError::Io`] (including a missing file: check first), or the
/// store's error (entries before it were inserted).
pub async fn load_snapshot(
    store: &dyn CacheStore,
    path: &Path,
    now: Timestamp,
    mut progress: impl FnMut(u64, u64),
) -> Result<LoadReport, SnapshotError> {
    let p = path.to_owned();
    let total = tokio::task::spawn_blocking(move || {
        read_records(&p, SNAPSHOT_MAGIC, MAX_ENTRY_RECORD_BYTES, |payload| {
            decode_entry(payload)
                .map(drop)
                .map_err(|reason| SnapshotError::Corrupt {
                    path: p.clone(),
                    reason,
                })
        })
    })
    .await
    .map_err(|e| io(path)(std::io::Error::other(e)))??;
    // Second pass: the file was whole a moment ago; stream it into the
    // store through a bounded channel.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(CacheKey, CacheEntry)>>(2);
    let p = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let result = read_records(&p, SNAPSHOT_MAGIC, MAX_ENTRY_RECORD_BYTES, |payload| {
            if let Ok(record) = decode_entry(payload) {
                batch.push(record);
            }
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.blocking_send(full).is_err() {
                    return Err(SnapshotError::Corrupt {
                        path: p.clone(),
                        reason: "load cancelled".to_owned(),
                    });
                }
            }
            Ok(())
        });
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        result
    });
    let mut report = LoadReport::default();
    let mut seen = 0;
    while let Some(batch) = rx.recv().await {
        seen += batch.len() as u64;
        let live: Vec<_> = batch
            .into_iter()
            .filter(|(_, e)| {
                let expired = e.is_expired(now);
                report.expired += u64::from(expired);
                !expired
            })
            .collect();
        report.loaded += live.len() as u64;
        if !live.is_empty() {
            store.insert_many(live).await?;
        }
        progress(seen, total);
    }
    reader
        .await
        .map_err(|e| io(path)(std::io::Error::other(e)))??;
    Ok(report)
}

/// Writes `keys` (hottest first) to `path`, atomically.
///
/// # Errors
/// [`SnapshotError::Io`].
pub fn write_warm_keys(path: &Path, keys: &[CacheKey]) -> Result<(), SnapshotError> {
    let tmp = tmp_path(path);
    let mut w = Writer::create(&tmp, WARM_KEYS_MAGIC).map_err(io(path))?;
    for key in keys {
        w.record(key.as_str().as_bytes()).map_err(io(path))?;
    }
    w.finish(&tmp, path).map_err(io(path))
}

/// Reads a warm-keys file, verified whole.
///
/// # Errors
/// [`SnapshotError::Corrupt`] or [`SnapshotError::Io`].
pub fn read_warm_keys(path: &Path) -> Result<Vec<CacheKey>, SnapshotError> {
    let mut keys = Vec::new();
    read_records(
        path,
        WARM_KEYS_MAGIC,
        MAX_WARM_KEY_RECORD_BYTES,
        |payload| {
            let key = std::str::from_utf8(payload)
                .ok()
                .and_then(|s| CacheKey::parse(s).ok())
                .ok_or_else(|| SnapshotError::Corrupt {
                    path: path.to_owned(),
                    reason: "a key is invalid".to_owned(),
                })?;
            keys.push(key);
            Ok(())
        },
    )?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use strata_domain::CacheName;

    use super::*;
    use crate::PolicyStore;

    fn entry(v: &'static [u8], expires: Option<u64>) -> CacheEntry {
        CacheEntry::new(
            CacheValue::new(Bytes::from_static(v), ContentType::parse("text/x").unwrap()),
            Timestamp::from_millis(1_000),
            expires.map(Timestamp::from_millis),
            vec![Tag::parse("t").unwrap()],
            EntryVersion::new(7),
        )
    }

    #[tokio::test]
    async fn round_trips_and_refuses_any_flipped_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.snap");
        let name = CacheName::parse("c").unwrap();
        let clock = std::sync::Arc::new(strata_testkit_free_clock::Fixed(5_000));
        let store = PolicyStore::builder(name.clone())
            .clock(clock.clone())
            .build();
        for i in 0..1_200 {
            let key = CacheKey::parse(&format!("k{i}")).unwrap();
            store.insert(key, entry(b"value", None)).await.unwrap();
        }
        store
            .insert(CacheKey::parse("soon").unwrap(), entry(b"x", Some(9_000)))
            .await
            .unwrap();
        let n = write_snapshot(&store, &path, Timestamp::from_millis(5_000))
            .await
            .unwrap();
        assert_eq!(n, 1_201);
        let loaded = PolicyStore::builder(name.clone())
            .clock(clock.clone())
            .build();
        let report = load_snapshot(&loaded, &path, Timestamp::from_millis(10_000), |_, _| {})
            .await
            .unwrap();
        assert_eq!(
            report,
            LoadReport {
                loaded: 1_200,
                expired: 1
            }
        );
        let got = loaded
            .get(&CacheKey::parse("k7").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, entry(b"value", None));

        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let empty = PolicyStore::builder(name.clone())
            .clock(clock.clone())
            .build();
        let err = load_snapshot(&empty, &path, Timestamp::from_millis(5_000), |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, SnapshotError::Corrupt { .. }), "{err}");
        assert_eq!(empty.stats().await.unwrap().entries, 0);
        std::fs::write(&path, &bytes[..middle]).unwrap();
        let err = load_snapshot(&empty, &path, Timestamp::from_millis(5_000), |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, SnapshotError::Corrupt { .. }), "{err}");
        assert_eq!(empty.stats().await.unwrap().entries, 0);
    }

    #[test]
    fn warm_keys_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.keys");
        let keys = vec![CacheKey::parse("a").unwrap(), CacheKey::parse("b").unwrap()];
        write_warm_keys(&path, &keys).unwrap();
        assert_eq!(read_warm_keys(&path).unwrap(), keys);
    }

    /// A file of `magic`, this version and one record claiming `len`
    /// bytes, `size` bytes long in all (sparse: nothing is written past
    /// the header).
    fn crafted(path: &Path, magic: &[u8; 8], len: u32, size: u64) {
        let mut head = magic.to_vec();
        head.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
        std::fs::write(path, &head).unwrap();
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(size)
            .unwrap();
    }

    async fn load_error(path: &Path) -> String {
        let store = PolicyStore::builder(CacheName::parse("c").unwrap()).build();
        let err = load_snapshot(&store, path, Timestamp::from_millis(0), |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, SnapshotError::Corrupt { .. }), "{err}");
        assert_eq!(store.stats().await.unwrap().entries, 0);
        err.to_string()
    }

    #[tokio::test]
    async fn a_record_longer_than_the_file_is_refused_before_it_is_allocated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.snap");
        // Claims 4 GiB; 100 bytes follow.
        crafted(&path, SNAPSHOT_MAGIC, u32::MAX - 1, 16 + 100);
        let message = load_error(&path).await;
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("record at offset 12 claims 4294967294 bytes")
                && message.contains("only 100 follow"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_4_gib_record_is_refused_even_when_the_file_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.snap");
        // A sparse 5 GiB file: reading the record would allocate 4 GiB.
        crafted(&path, SNAPSHOT_MAGIC, u32::MAX - 1, 5 << 30);
        let message = load_error(&path).await;
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("record at offset 12 claims 4294967294 bytes")
                && message.contains(&format!(
                    "largest possible record of {MAX_ENTRY_RECORD_BYTES}"
                )),
            "{message}"
        );
    }

    #[test]
    fn a_warm_key_longer_than_any_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.keys");
        crafted(&path, WARM_KEYS_MAGIC, 4096, 16 + 8192);
        let message = read_warm_keys(&path).unwrap_err().to_string();
        assert!(
            message.contains("record at offset 12 claims 4096 bytes")
                && message.contains(&format!("largest possible record of {MAX_KEY_BYTES}")),
            "{message}"
        );
    }

    #[test]
    fn the_largest_record_fits_the_largest_entry() {
        // Every entry a cache accepts fits the bound the loader enforces.
        let tags: Vec<Tag> = (0..u16::MAX)
            .map(|i| Tag::parse(&format!("{i:0>128}")).unwrap())
            .collect();
        let entry = CacheEntry::new(
            CacheValue::new(
                Bytes::from(vec![0; HARD_MAX_VALUE_BYTES as usize]),
                ContentType::parse(&format!("a/{}", "b".repeat(MAX_CONTENT_TYPE_BYTES - 2)))
                    .unwrap(),
            ),
            Timestamp::from_millis(1),
            Some(Timestamp::from_millis(2)),
            tags,
            EntryVersion::new(1),
        );
        let key = CacheKey::parse(&"k".repeat(MAX_KEY_BYTES)).unwrap();
        assert_eq!(
            encode_entry(&key, &entry).len() as u64,
            MAX_ENTRY_RECORD_BYTES
        );
    }

    mod strata_testkit_free_clock {
        /// A clock that stands still.
        pub(super) struct Fixed(pub(super) u64);
        impl strata_domain::Clock for Fixed {
            fn now(&self) -> strata_domain::Timestamp {
                strata_domain::Timestamp::from_millis(self.0)
            }
        }
    }
}
