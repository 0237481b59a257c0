//! What the build-cache store tests share (`#[path]`-included by each):
//! instances, uploads in small chunks, AC writes, and the two questions
//! they keep asking a store (is the blob there, what did a flush remove).

use bytes::Bytes;
use strata_domain::{
    ActionCache, BlobWriter, BuildCacheError, Committed, ContentStore, Digest, FlushCriteria,
    InstanceName,
};
pub(crate) use strata_testkit::build_cache_contract::digest_of;

pub(crate) fn inst(s: &str) -> InstanceName {
    InstanceName::parse(s).unwrap()
}

/// Uploads `data` to `store` in 3-byte writes; checks the committed
/// digest.
pub(crate) async fn put_blob<S: ContentStore + ?Sized>(
    store: &S,
    instance: &InstanceName,
    data: &[u8],
) -> Digest {
    let d = digest_of(data);
    let mut w = store
        .begin_write(instance, *d.hash(), Some(d.size_bytes()))
        .await
        .unwrap();
    for chunk in data.chunks(3) {
        w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(w.commit().await.unwrap().digest, d);
    d
}

/// Writes `value` as the AC entry keyed by the digest of `name`; returns
/// that digest.
pub(crate) async fn put_ac<S: ActionCache + ?Sized>(
    store: &S,
    instance: &InstanceName,
    name: &str,
    value: &str,
) -> Digest {
    let key = digest_of(name.as_bytes());
    store
        .put(instance, *key.hash(), Bytes::from(value.to_owned()))
        .await
        .unwrap();
    key
}

/// Whether `store`'s CAS holds the blob `d` of `instance` (any size).
pub(crate) async fn has_blob<S: ContentStore + ?Sized>(
    store: &S,
    instance: &InstanceName,
    d: &Digest,
) -> bool {
    store.contains(instance, d.hash()).await.unwrap().is_some()
}

/// Flushes `store`'s CAS by `criteria`: (entries removed, bytes reclaimed).
pub(crate) async fn flush_cas<S: ContentStore + ?Sized>(
    store: &S,
    criteria: &FlushCriteria,
) -> (u64, u64) {
    let r = store.flush(criteria).await.unwrap();
    (r.entries_removed(), r.bytes_reclaimed())
}

/// Flushes `store`'s AC by `criteria`: (entries removed, bytes reclaimed).
pub(crate) async fn flush_ac<S: ActionCache + ?Sized>(
    store: &S,
    criteria: &FlushCriteria,
) -> (u64, u64) {
    let r = store.flush(criteria).await.unwrap();
    (r.entries_removed(), r.bytes_reclaimed())
}

/// Starts an upload of the blob `d` announcing `expected` bytes.
pub(crate) async fn begin<S: ContentStore + ?Sized>(
    store: &S,
    instance: &InstanceName,
    d: &Digest,
    expected: Option<u64>,
) -> Box<dyn BlobWriter> {
    store
        .begin_write(instance, *d.hash(), expected)
        .await
        .unwrap()
}

/// Uploads `data` in one write as the blob `d`, announcing `expected`
/// bytes: the commit's outcome.
pub(crate) async fn commit_upload<S: ContentStore + ?Sized>(
    store: &S,
    instance: &InstanceName,
    d: &Digest,
    expected: Option<u64>,
    data: &'static [u8],
) -> Result<Committed, BuildCacheError> {
    let mut w = begin(store, instance, d, expected).await;
    w.write(Bytes::from_static(data)).await.unwrap();
    w.commit().await
}
