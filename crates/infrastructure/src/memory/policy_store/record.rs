//! [`Record`]: one stored entry of a [`PolicyStore`](super::PolicyStore)
//! in one allocation, which is also the key its eviction policy tracks, so
//! the key is stored once and a shard needs no map of its own.
//!
//! # Layout
//! One heap block, aligned to 8:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..2 | reference count (`AtomicU16`: the policy's `Record` plus every value handed out by a read) |
//! | 2 | key length (a key is at most 250 bytes) |
//! | 3 | flags: bits 0..=5 the content type's number in the shard's [`ContentTypes`] ([`CT_EXTENDED`]: in the extension), bit 6 an expiry follows the value, bit 7 an extension pointer follows |
//! | 4..8 | value length (`u32`; a value is at most 64 MiB) |
//! | 8..16 | `created_at`, ms |
//! | 16..24 | version |
//! | 24.. | key bytes, then value bytes |
//! | then | `expires_at` in ms (8 bytes, unaligned), when flagged |
//! | then | a pointer to an [`Extension`] (tags, an uncommon content type), when flagged |
//!
//! So an entry without TTL or tags costs 24 bytes besides its key and value.
//!
//! # Allocator
//! Blocks come from the system allocator ([`System`], glibc's malloc),
//! whatever the process's global allocator is: glibc rounds a block plus
//! its 8-byte chunk header up to 16 bytes (a 136-byte record of a 12-byte
//! key and a 100-byte value takes 144), where jemalloc, the binary's
//! global allocator, would put it in its 160-byte class. Measured with
//! `scripts/bench-memory.sh` (1M such entries): 184 B of RSS per entry
//! this way, 202 with every block from jemalloc, 180 with glibc for all.
//!
//! # Sharing
//! A read hands the value out as [`Bytes`] over the block itself
//! ([`Bytes::from_owner`] of a [`SharedValue`], which holds a reference):
//! no copy, and the block lives until the last reader drops its value.
//! The count is 16 bits; in the unlikely case that 65,534 values of one
//! entry are alive at once, a read copies the value instead.
//!
//! # Safety
//! The block is written once, in [`Record::new`] or [`Record::key_copy`],
//! before any pointer to it is shared; afterwards only the atomic count
//! changes. Every handle ([`Record`], [`SharedValue`]) owns one count; the
//! last one to drop frees the extension and the block with the layout it
//! was allocated with (recomputed from the header).

use std::alloc::{self, GlobalAlloc as _, Layout, System};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering, fence};

use bytes::Bytes;
use strata_domain::{CacheEntry, CacheKey, CacheValue, ContentType, EntryVersion, Tag, Timestamp};

use crate::eviction::PolicyKey;

/// The content-type number meaning "kept in the extension".
pub(super) const CT_EXTENDED: u8 = 0x3f;
const CT_MASK: u8 = 0x3f;
const HAS_EXPIRY: u8 = 0x40;
const HAS_EXTENSION: u8 = 0x80;

/// The fixed start of a block (see the module documentation).
#[repr(C)]
struct Header {
    refs: AtomicU16,
    key_len: u8,
    flags: u8,
    value_len: u32,
    created_at_ms: u64,
    version: u64,
}

const HEADER: usize = size_of::<Header>();
const _: () = assert!(HEADER == 24);

/// What only some entries have, out of line: tags, and a content type that
/// is not among the shard's [`ContentTypes`].
struct Extension {
    tags: Arc<[Tag]>,
    content_type: Option<ContentType>,
    /// [`CacheEntry::stale_at`]: only entries kept for a stale window
    /// have one, so the common record stays without an extension.
    stale_at: Option<Timestamp>,
}

/// The content types of one shard, numbered in order of first use: an
/// entry stores a number (0 to 62) instead of the string. Past 63 distinct
/// types, further ones are stored with their entry (in its extension).
#[derive(Default)]
pub(super) struct ContentTypes {
    list: Vec<ContentType>,
}

impl ContentTypes {
    /// The number of `content_type`, adding it when there is room;
    /// [`CT_EXTENDED`] when there is none.
    fn intern(&mut self, content_type: &ContentType) -> u8 {
        if let Some(i) = self
            .list
            .iter()
            .position(|known| known.as_str() == content_type.as_str())
        {
            return i as u8;
        }
        if self.list.len() < usize::from(CT_EXTENDED) {
            self.list.push(content_type.clone());
            return (self.list.len() - 1) as u8;
        }
        CT_EXTENDED
    }

    fn get(&self, number: u8) -> Option<&ContentType> {
        self.list.get(usize::from(number))
    }
}

/// One stored entry (key, value, metadata) in one block; see the module
/// documentation. Hashes, compares and borrows as its key's `str`.
pub(super) struct Record {
    ptr: NonNull<Header>,
}

// SAFETY: the block is immutable once shared except for its atomic count,
// and the extension holds only `Send + Sync` values (`Arc`s).
unsafe impl Send for Record {}
// SAFETY: as above.
unsafe impl Sync for Record {}

/// Sizes of a block's parts, from which its layout follows.
struct Shape {
    key_len: usize,
    value_len: usize,
    flags: u8,
}

impl Shape {
    fn tail(&self) -> usize {
        HEADER + self.key_len + self.value_len
    }

    fn size(&self) -> usize {
        self.tail()
            + if self.flags & HAS_EXPIRY != 0 { 8 } else { 0 }
            + if self.flags & HAS_EXTENSION != 0 {
                size_of::<*const Extension>()
            } else {
                0
            }
    }

    fn layout(&self) -> Layout {
        // A block is at most 24 + 250 + 64 MiB + 16 bytes: far from isize::MAX.
        Layout::from_size_align(self.size(), align_of::<Header>())
            .unwrap_or_else(|_| unreachable!("record blocks are small"))
    }
}

impl Record {
    /// Encodes `key` and `entry`, numbering its content type in `types`.
    /// `None` when the value is longer than `u32::MAX` bytes (no valid
    /// entry is).
    pub(super) fn new(
        key: &CacheKey,
        entry: &CacheEntry,
        types: &mut ContentTypes,
    ) -> Option<Self> {
        let key = key.as_str().as_bytes();
        let value = entry.value().bytes();
        let key_len = u8::try_from(key.len()).ok()?;
        let value_len = u32::try_from(value.len()).ok()?;
        let number = types.intern(entry.value().content_type());
        let extended =
            number == CT_EXTENDED || !entry.tags().is_empty() || entry.stale_at().is_some();
        let extension = extended.then(|| {
            Box::new(Extension {
                tags: Arc::from(entry.tags()),
                content_type: (number == CT_EXTENDED).then(|| entry.value().content_type().clone()),
                stale_at: entry.stale_at(),
            })
        });
        let mut flags = number;
        if entry.expires_at().is_some() {
            flags |= HAS_EXPIRY;
        }
        if extension.is_some() {
            flags |= HAS_EXTENSION;
        }
        let header = Header {
            refs: AtomicU16::new(1),
            key_len,
            flags,
            value_len,
            created_at_ms: entry.created_at().as_millis(),
            version: entry.version().get(),
        };
        Some(Self::write(
            header,
            key,
            value,
            entry.expires_at().map(Timestamp::as_millis),
            extension,
        ))
    }

    /// Allocates and fills a block.
    fn write(
        header: Header,
        key: &[u8],
        value: &[u8],
        expires_at_ms: Option<u64>,
        extension: Option<Box<Extension>>,
    ) -> Self {
        let shape = Shape {
            key_len: key.len(),
            value_len: value.len(),
            flags: header.flags,
        };
        let layout = shape.layout();
        // SAFETY: the layout has a non-zero size (at least the header).
        let base = unsafe { System.alloc(layout) };
        let Some(ptr) = NonNull::new(base.cast::<Header>()) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: `base` points at `shape.size()` writable bytes aligned to
        // 8; every write below stays within them (offsets from `Shape`).
        unsafe {
            ptr.as_ptr().write(header);
            let mut at = base.add(HEADER);
            std::ptr::copy_nonoverlapping(key.as_ptr(), at, key.len());
            at = at.add(key.len());
            std::ptr::copy_nonoverlapping(value.as_ptr(), at, value.len());
            at = at.add(value.len());
            if let Some(ms) = expires_at_ms {
                at.cast::<u64>().write_unaligned(ms);
                at = at.add(8);
            }
            if let Some(extension) = extension {
                at.cast::<*const Extension>()
                    .write_unaligned(Box::into_raw(extension));
            }
        }
        Self { ptr }
    }

    fn header(&self) -> &Header {
        // SAFETY: `ptr` is a live block (this handle owns a count).
        unsafe { self.ptr.as_ref() }
    }

    fn shape(&self) -> Shape {
        shape_of(self.header())
    }

    fn base(&self) -> *const u8 {
        self.ptr.as_ptr().cast::<u8>().cast_const()
    }

    /// The key.
    pub(super) fn key(&self) -> &str {
        let len = usize::from(self.header().key_len);
        // SAFETY: the key bytes follow the header and were copied from a
        // `str`.
        unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.base().add(HEADER), len))
        }
    }

    /// The key as a domain key (a new allocation).
    pub(super) fn cache_key(&self) -> CacheKey {
        CacheKey::parse(self.key())
            .unwrap_or_else(|_| unreachable!("a record's key was a valid key"))
    }

    /// The value's bytes.
    pub(super) fn value(&self) -> &[u8] {
        value_of(self.ptr)
    }

    /// When the entry expires, if it has a TTL.
    pub(super) fn expires_at(&self) -> Option<Timestamp> {
        let shape = self.shape();
        (shape.flags & HAS_EXPIRY != 0).then(|| {
            // SAFETY: the flag says 8 bytes of expiry follow the value.
            let ms = unsafe { self.base().add(shape.tail()).cast::<u64>().read_unaligned() };
            Timestamp::from_millis(ms)
        })
    }

    /// Whether the entry has expired at `now` (as [`CacheEntry::is_expired`]).
    pub(super) fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }

    fn extension(&self) -> Option<&Extension> {
        extension_of(self.ptr).map(|ptr| {
            // SAFETY: the extension lives as long as the block.
            unsafe { &*ptr }
        })
    }

    /// The entry's tags, sorted and unique.
    pub(super) fn tags(&self) -> &[Tag] {
        self.extension().map_or(&[], |ext| &ext.tags)
    }

    /// The content type, from the record or from `types`.
    pub(super) fn content_type<'a>(&'a self, types: &'a ContentTypes) -> Option<&'a ContentType> {
        match self.extension().and_then(|ext| ext.content_type.as_ref()) {
            Some(content_type) => Some(content_type),
            None => types.get(self.header().flags & CT_MASK),
        }
    }

    /// [`CacheEntry::weight`] of this entry.
    pub(super) fn weight(&self, types: &ContentTypes) -> u64 {
        let header = self.header();
        u64::from(header.key_len)
            + u64::from(header.value_len)
            + self
                .content_type(types)
                .map_or(0, |content_type| content_type.as_str().len() as u64)
    }

    /// The entry, its value shared with this block (no copy). `no_tags`
    /// is the shared empty tag list given to entries without tags.
    pub(super) fn entry(&self, types: &ContentTypes, no_tags: &Arc<[Tag]>) -> CacheEntry {
        let bytes = match self.share() {
            Some(shared) => Bytes::from_owner(shared),
            None => Bytes::copy_from_slice(self.value()),
        };
        let content_type = self.content_type(types).cloned().unwrap_or_default();
        let header = self.header();
        let tags = self
            .extension()
            .map_or_else(|| no_tags.clone(), |ext| ext.tags.clone());
        CacheEntry::with_tags(
            CacheValue::new(bytes, content_type),
            Timestamp::from_millis(header.created_at_ms),
            self.expires_at(),
            tags,
            EntryVersion::new(header.version),
        )
        .with_stale_at(self.extension().and_then(|ext| ext.stale_at))
    }

    /// Another count on the block, for a value handed out; `None` when
    /// the count is at its limit.
    fn share(&self) -> Option<SharedValue> {
        let refs = &self.header().refs;
        let mut current = refs.load(Ordering::Relaxed);
        loop {
            if current == u16::MAX {
                return None;
            }
            match refs.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(SharedValue { ptr: self.ptr }),
                Err(now) => current = now,
            }
        }
    }
}

impl PolicyKey for Record {
    /// A block holding the key only (no value, metadata or extension).
    fn key_copy(&self) -> Self {
        let header = Header {
            refs: AtomicU16::new(1),
            key_len: self.header().key_len,
            flags: 0,
            value_len: 0,
            created_at_ms: 0,
            version: 0,
        };
        Self::write(header, self.key().as_bytes(), &[], None, None)
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        release(self.ptr);
    }
}

impl Hash for Record {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Record {}

impl Borrow<str> for Record {
    fn borrow(&self) -> &str {
        self.key()
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key", &self.key())
            .field("value_len", &self.header().value_len)
            .finish_non_exhaustive()
    }
}

/// A value handed out by a read: one count on its record's block.
pub(super) struct SharedValue {
    ptr: NonNull<Header>,
}

// SAFETY: as for `Record`.
unsafe impl Send for SharedValue {}
// SAFETY: as for `Record`.
unsafe impl Sync for SharedValue {}

impl AsRef<[u8]> for SharedValue {
    fn as_ref(&self) -> &[u8] {
        value_of(self.ptr)
    }
}

impl Drop for SharedValue {
    fn drop(&mut self) {
        release(self.ptr);
    }
}

fn shape_of(header: &Header) -> Shape {
    Shape {
        key_len: usize::from(header.key_len),
        value_len: header.value_len as usize,
        flags: header.flags,
    }
}

/// The value bytes of the live block at `ptr`.
fn value_of<'a>(ptr: NonNull<Header>) -> &'a [u8] {
    // SAFETY: callers hold a count, so the block is live for as long as
    // they borrow it; the value follows the header and the key.
    unsafe {
        let header = ptr.as_ref();
        let start = ptr
            .as_ptr()
            .cast::<u8>()
            .add(HEADER + usize::from(header.key_len));
        std::slice::from_raw_parts(start, header.value_len as usize)
    }
}

/// The extension pointer of the live block at `ptr`, if it has one.
fn extension_of(ptr: NonNull<Header>) -> Option<*const Extension> {
    // SAFETY: the caller holds a count; the flags say what follows.
    unsafe {
        let shape = shape_of(ptr.as_ref());
        if shape.flags & HAS_EXTENSION == 0 {
            return None;
        }
        let mut at = shape.tail();
        if shape.flags & HAS_EXPIRY != 0 {
            at += 8;
        }
        Some(
            ptr.as_ptr()
                .cast::<u8>()
                .add(at)
                .cast::<*const Extension>()
                .read_unaligned(),
        )
    }
}

/// Drops one count; the last frees the extension and the block.
fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller owns a count, so the block is live here.
    let header = unsafe { ptr.as_ref() };
    if header.refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    let layout = shape_of(header).layout();
    if let Some(extension) = extension_of(ptr) {
        // SAFETY: it came from `Box::into_raw` and is freed only here.
        drop(unsafe { Box::from_raw(extension.cast_mut()) });
    }
    // SAFETY: no count is left; the block was allocated with this layout.
    unsafe { System.dealloc(ptr.as_ptr().cast::<u8>(), layout) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &[u8], content_type: &str, expires: Option<u64>, tags: &[&str]) -> CacheEntry {
        CacheEntry::new(
            CacheValue::new(
                Bytes::copy_from_slice(value),
                ContentType::parse(content_type).unwrap(),
            ),
            Timestamp::from_millis(1_234),
            expires.map(Timestamp::from_millis),
            tags.iter().map(|t| Tag::parse(t).unwrap()).collect(),
            EntryVersion::new(99),
        )
    }

    #[test]
    fn round_trips_every_field_and_shares_the_value() {
        let mut types = ContentTypes::default();
        let none: Arc<[Tag]> = Arc::from(Vec::new());
        let key = CacheKey::parse("user:42").unwrap();
        for original in [
            entry(b"", "text/plain", None, &[]),
            entry(b"hello", "text/plain", Some(5_000), &[]),
            entry(&[0, 1, 2, 255], "application/json", None, &["b", "a"]),
            entry(b"x", "a/b", Some(9), &["t"]),
            // Kept for a stale window: `stale_at` rides in the extension.
            entry(b"stale", "text/plain", Some(5_000), &[])
                .kept_stale_for(std::time::Duration::from_secs(30)),
        ] {
            let record = Record::new(&key, &original, &mut types).unwrap();
            assert_eq!(record.key(), "user:42");
            assert_eq!(record.expires_at(), original.expires_at());
            assert_eq!(record.tags(), original.tags());
            assert_eq!(record.weight(&types), original.weight(7));
            let got = record.entry(&types, &none);
            assert_eq!(got, original);
            // The value outlives the record and is the block's own bytes.
            let value = got.value().bytes().clone();
            assert_eq!(value.as_ptr(), record.value().as_ptr());
            drop(record);
            assert_eq!(value, original.value().bytes());
        }
        assert_eq!(types.list.len(), 3);
    }

    #[test]
    fn content_types_beyond_the_table_go_to_the_extension() {
        let mut types = ContentTypes::default();
        let key = CacheKey::parse("k").unwrap();
        let none: Arc<[Tag]> = Arc::from(Vec::new());
        let records: Vec<_> = (0..100)
            .map(|i| {
                let original = entry(b"v", &format!("a/t{i}"), None, &[]);
                (Record::new(&key, &original, &mut types).unwrap(), original)
            })
            .collect();
        assert_eq!(types.list.len(), usize::from(CT_EXTENDED));
        for (record, original) in &records {
            assert_eq!(&record.entry(&types, &none), original);
            assert_eq!(record.weight(&types), original.weight(1));
        }
    }

    #[test]
    fn a_key_copy_is_equal_and_holds_no_value() {
        let mut types = ContentTypes::default();
        let key = CacheKey::parse("ghost").unwrap();
        let record =
            Record::new(&key, &entry(b"payload", "a/b", Some(1), &["t"]), &mut types).unwrap();
        let copy = record.key_copy();
        assert_eq!(copy, record);
        assert_eq!(copy.key(), "ghost");
        assert!(copy.value().is_empty() && copy.tags().is_empty());
        assert_eq!(copy.expires_at(), None);
        let state = std::hash::RandomState::new();
        assert_eq!(
            std::hash::BuildHasher::hash_one(&state, &copy),
            std::hash::BuildHasher::hash_one(&state, "ghost")
        );
    }

    #[test]
    fn values_shared_across_threads_free_the_block_once() {
        let mut types = ContentTypes::default();
        let none: Arc<[Tag]> = Arc::from(Vec::new());
        let key = CacheKey::parse("k").unwrap();
        let record =
            Record::new(&key, &entry(&[7; 1000], "a/b", None, &["x"]), &mut types).unwrap();
        let values: Vec<Bytes> = (0..64)
            .map(|_| record.entry(&types, &none).value().bytes().clone())
            .collect();
        drop(record);
        std::thread::scope(|scope| {
            for chunk in values.chunks(8) {
                let chunk = chunk.to_vec();
                scope.spawn(move || {
                    for value in chunk {
                        assert_eq!(value.as_ref(), &[7; 1000]);
                    }
                });
            }
        });
    }

    #[test]
    fn a_saturated_count_copies_instead_of_sharing() {
        let mut types = ContentTypes::default();
        let none: Arc<[Tag]> = Arc::from(Vec::new());
        let key = CacheKey::parse("k").unwrap();
        let record = Record::new(&key, &entry(b"abc", "a/b", None, &[]), &mut types).unwrap();
        record.header().refs.store(u16::MAX, Ordering::Relaxed);
        let got = record.entry(&types, &none);
        assert_ne!(got.value().bytes().as_ptr(), record.value().as_ptr());
        assert_eq!(got.value().bytes().as_ref(), b"abc");
        record.header().refs.store(1, Ordering::Relaxed);
    }
}
