//! `ReadBlob`: stream a CAS blob out.

use bytes::Bytes;
use strata_domain::{BlobRead, DigestHash, InstanceName, Principal, ReadRange, Role};

use super::context::BuildCacheContext;

/// Open the CAS blob `hash` of `instance` for reading `range` of it. The
/// empty blob always exists (and yields no bytes).
#[derive(Clone, Debug)]
pub struct ReadBlob {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The instance.
    pub instance: InstanceName,
    /// The blob's SHA-256.
    pub hash: DigestHash,
    /// Which bytes.
    pub range: ReadRange,
}

access_or_store_error! {
    /// Why a CAS read failed.
    pub enum ReadBlobError { Store: "A store failed, or [`BuildCacheError::InvalidRange`](strata_domain::BuildCacheError::InvalidRange)." }
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    q: ReadBlob,
) -> Result<Option<BlobRead>, ReadBlobError> {
    ctx.authorize(&q.principal, Role::Reader)?;
    if q.hash == DigestHash::EMPTY {
        return Ok(Some(BlobRead::from_bytes(Bytes::new(), q.range)?));
    }
    Ok(ctx.cas.read(&q.instance, &q.hash, q.range).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;

    #[tokio::test]
    async fn the_empty_blob_never_reaches_the_store() {
        let mut m = Mocks::default();
        m.cas.expect_read().never();
        let read = m
            .service(true)
            .read_blob(ReadBlob {
                principal: reader(),
                instance: InstanceName::default(),
                hash: DigestHash::EMPTY,
                range: ReadRange::FULL,
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.len, 0);
    }

    #[tokio::test]
    async fn reads_from_the_store() {
        let mut m = Mocks::default();
        m.cas
            .expect_read()
            .returning(|_, _, r| Ok(Some(BlobRead::from_bytes(Bytes::from_static(b"abc"), r)?)));
        let read = m
            .service(true)
            .read_blob(ReadBlob {
                principal: reader(),
                instance: InstanceName::default(),
                hash: hash('a'),
                range: ReadRange::FULL,
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.into_bytes().await.unwrap(), Bytes::from_static(b"abc"));
    }
}
