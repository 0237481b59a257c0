//! `WriteBlob`: start a streamed CAS upload, or learn that the blob is
//! already there.

use strata_domain::{BlobWriter, DigestHash, InstanceName, Principal, Role};

use super::context::BuildCacheContext;

/// Start uploading the CAS blob `hash` of `instance`, `expected_size`
/// bytes when known (an uncompressed `Content-Length`).
///
/// The role is checked first. Then:
/// - the empty blob with `expected_size` 0 always exists;
/// - a present blob of the expected size (or of any size when none is
///   given) exists: the answer is [`WriteBlobStart::Exists`] and nothing
///   is rewritten (Bazel re-uploads). The HTTP layer then answers 2xx; it
///   drains the body without storing or hashing it, so the keep-alive
///   connection stays usable, and a body that does not match the digest
///   cannot harm the stored blob;
/// - otherwise [`WriteBlobStart::Upload`] hands out the store's
///   [`BlobWriter`], whose commit verifies the SHA-256 and size.
#[derive(Clone, Debug)]
pub struct WriteBlob {
    /// Who acts; needs [`Role::CasWriter`].
    pub principal: Principal,
    /// The instance.
    pub instance: InstanceName,
    /// The blob's SHA-256 (the content's, uncompressed).
    pub hash: DigestHash,
    /// The uncompressed size, when known.
    pub expected_size: Option<u64>,
}

/// What the caller does next.
pub enum WriteBlobStart {
    /// The blob is already stored, with this size: nothing to upload.
    Exists {
        /// Its size in bytes.
        size_bytes: u64,
    },
    /// Push the content into this writer, then commit it.
    Upload(Box<dyn BlobWriter>),
}

impl std::fmt::Debug for WriteBlobStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exists { size_bytes } => write!(f, "Exists({size_bytes})"),
            Self::Upload(_) => f.write_str("Upload(..)"),
        }
    }
}

access_or_store_error! {
    /// Why an upload cannot start.
    pub enum WriteBlobError { Store: "[`BuildCacheError::TooLarge`](strata_domain::BuildCacheError::TooLarge) for an announced size over the limit; backend failures." }
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    cmd: WriteBlob,
) -> Result<WriteBlobStart, WriteBlobError> {
    ctx.authorize(&cmd.principal, Role::CasWriter)?;
    if cmd.hash == DigestHash::EMPTY && cmd.expected_size == Some(0) {
        return Ok(WriteBlobStart::Exists { size_bytes: 0 });
    }
    if let Some(size) = ctx.cas.contains(&cmd.instance, &cmd.hash).await?
        && cmd.expected_size.is_none_or(|e| e == size)
    {
        return Ok(WriteBlobStart::Exists { size_bytes: size });
    }
    let writer = ctx
        .cas
        .begin_write(&cmd.instance, cmd.hash, cmd.expected_size)
        .await?;
    Ok(WriteBlobStart::Upload(writer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;
    use crate::registry::AccessError;

    fn write(principal: Principal, hash: DigestHash, size: Option<u64>) -> WriteBlob {
        WriteBlob {
            principal,
            instance: InstanceName::default(),
            hash,
            expected_size: size,
        }
    }

    #[tokio::test]
    async fn the_role_is_checked_before_anything_else() {
        let mut m = Mocks::default();
        m.cas.expect_contains().never();
        m.cas.expect_begin_write().never();
        let err = m
            .service(true)
            .write_blob(write(reader(), DigestHash::EMPTY, Some(0)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            WriteBlobError::Access(AccessError::Forbidden { .. })
        ));
    }

    #[tokio::test]
    async fn empty_and_present_blobs_exist() {
        let mut m = Mocks::default();
        m.cas
            .expect_contains()
            .returning(|_, h| Ok((*h == hash('a')).then_some(3)));
        m.cas.expect_begin_write().never();
        let s = m.service(true);
        let cas = principal_with("build-*", Role::CasWriter);
        assert!(matches!(
            s.write_blob(write(cas.clone(), DigestHash::EMPTY, Some(0)))
                .await
                .unwrap(),
            WriteBlobStart::Exists { size_bytes: 0 }
        ));
        for size in [Some(3), None] {
            assert!(matches!(
                s.write_blob(write(cas.clone(), hash('a'), size))
                    .await
                    .unwrap(),
                WriteBlobStart::Exists { size_bytes: 3 }
            ));
        }
    }

    #[tokio::test]
    async fn a_new_blob_or_another_size_is_uploaded() {
        let mut m = Mocks::default();
        m.cas
            .expect_contains()
            .returning(|_, h| Ok((*h == hash('a')).then_some(3)));
        m.cas
            .expect_begin_write()
            .times(2)
            .returning(|_, _, _| Ok(Box::new(MockWriter::new())));
        let s = m.service(true);
        for (h, size) in [(hash('a'), Some(4)), (hash('b'), None)] {
            assert!(matches!(
                s.write_blob(write(writer(), h, size)).await.unwrap(),
                WriteBlobStart::Upload(_)
            ));
        }
    }
}
