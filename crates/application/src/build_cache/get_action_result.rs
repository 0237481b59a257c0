//! `GetActionResult`: read an AC entry, answering a miss when validation
//! finds it incomplete.

use bytes::Bytes;
use strata_domain::{BlobRead, BuildCacheError, DigestHash, InstanceName, Principal, Role};

use super::context::BuildCacheContext;

/// Read the AC entry `key` of `instance`.
///
/// When the instance validates AC entries ([`AcValidation`]), the entry
/// is decoded as a REAPI `ActionResult` and answered only if every CAS
/// blob it references (output files, output directory trees, stdout,
/// stderr) is present; otherwise the answer is a miss, so Bazel re-runs
/// the action instead of failing on a dangling entry (bazel-remote #106).
/// An entry that does not decode (written while validation was off) is a
/// miss too.
///
/// [`AcValidation`]: super::AcValidation
#[derive(Clone, Debug)]
pub struct GetActionResult {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The instance.
    pub instance: InstanceName,
    /// The action digest's hash.
    pub key: DigestHash,
}

/// The largest AC entry a validating instance decodes, in bytes (16 MiB).
///
/// Validation parses the whole `ActionResult`, so the entry is held in
/// memory; this keeps that memory bounded whatever `max_blob_bytes` is. A
/// REAPI `ActionResult` travels as one gRPC message (4 MiB at most by
/// default in Bazel and tonic), so real ones are far smaller. A write over
/// it is refused ([`BuildCacheError::TooLarge`](strata_domain::BuildCacheError::TooLarge),
/// HTTP 413); a read of a bigger entry (written while validation was off)
/// is a miss, and reads no further than its length.
pub const MAX_VALIDATED_AC_BYTES: u64 = 16 << 20;

access_or_store_error! {
    /// Why an AC read failed.
    pub enum GetActionResultError { Store: "A store failed." }
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    q: GetActionResult,
) -> Result<Option<Bytes>, GetActionResultError> {
    ctx.authorize(&q.principal, Role::Reader)?;
    if !ctx.validation.validates(&q.instance) {
        return Ok(ctx.ac.get(&q.instance, &q.key).await?.map(|e| e.value));
    }
    let Some(read) = ctx.ac.get_streamed(&q.instance, &q.key).await? else {
        return Ok(None);
    };
    if read.len > MAX_VALIDATED_AC_BYTES {
        tracing::debug!(instance = %q.instance, key = %q.key, size_bytes = read.len, limit_bytes = MAX_VALIDATED_AC_BYTES, "AC entry too large to validate: a miss");
        return Ok(None);
    }
    let value = read
        .into_bytes()
        .await
        .map_err(|e| BuildCacheError::io(ctx.ac.store_name(), "read an AC entry", e))?;
    let refs = match ctx.format.decode(&value) {
        Ok(refs) => refs,
        Err(e) => {
            tracing::debug!(instance = %q.instance, key = %q.key, error = %e, "AC entry does not decode: a miss");
            return Ok(None);
        }
    };
    let missing = ctx.cas.find_missing(&q.instance, &refs.digests()).await?;
    if let Some(first) = missing.first() {
        tracing::debug!(instance = %q.instance, key = %q.key, missing = missing.len(), first = %first, "AC entry references missing blobs: a miss");
        return Ok(None);
    }
    Ok(Some(value))
}

/// [`handle`] as a stream: an instance that does not validate reads the
/// entry through [`ActionCache::get_streamed`](strata_domain::ActionCache::get_streamed),
/// so an entry of any size (ccache's whole results) passes through a
/// bounded buffer; a validating instance decodes the entry, so it is read
/// whole (an `ActionResult`, at most [`MAX_VALIDATED_AC_BYTES`]) and
/// yielded as one chunk.
pub(crate) async fn handle_streamed(
    ctx: &BuildCacheContext,
    q: GetActionResult,
) -> Result<Option<BlobRead>, GetActionResultError> {
    if ctx.validation.validates(&q.instance) {
        return Ok(handle(ctx, q).await?.map(BlobRead::whole));
    }
    ctx.authorize(&q.principal, Role::Reader)?;
    Ok(ctx.ac.get_streamed(&q.instance, &q.key).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;
    use crate::registry::AccessError;
    use strata_domain::{ActionResultRefs, InvalidActionResult};

    fn get(principal: Principal) -> GetActionResult {
        GetActionResult {
            principal,
            instance: InstanceName::default(),
            key: hash('a'),
        }
    }

    #[tokio::test]
    async fn a_complete_entry_is_a_hit() {
        let mut m = Mocks::default();
        m.ac.expect_get_streamed()
            .returning(|_, _| Ok(Some(BlobRead::whole(Bytes::from_static(b"ar")))));
        m.format.expect_decode().returning(|_| {
            Ok(ActionResultRefs {
                output_files: vec![digest('b', 3)],
                ..Default::default()
            })
        });
        m.cas
            .expect_find_missing()
            .withf(|_, d| d == [digest('b', 3)])
            .returning(|_, _| Ok(vec![]));
        let got = m.service(true).get_action_result(get(reader())).await;
        assert_eq!(got.unwrap(), Some(Bytes::from_static(b"ar")));
    }

    #[tokio::test]
    async fn a_missing_blob_or_an_undecodable_entry_is_a_miss() {
        let mut m = Mocks::default();
        m.ac.expect_get_streamed()
            .returning(|_, _| Ok(Some(BlobRead::whole(Bytes::from_static(b"ar")))));
        m.format.expect_decode().times(1).returning(|_| {
            Ok(ActionResultRefs {
                stdout: Some(digest('c', 1)),
                ..Default::default()
            })
        });
        m.cas.expect_find_missing().returning(|_, d| Ok(d.to_vec()));
        let service = m.service(true);
        assert_eq!(
            service.get_action_result(get(reader())).await.unwrap(),
            None
        );

        let mut m = Mocks::default();
        m.ac.expect_get_streamed()
            .returning(|_, _| Ok(Some(BlobRead::whole(Bytes::from_static(b"junk")))));
        m.format
            .expect_decode()
            .returning(|_| Err(InvalidActionResult("bad".into())));
        m.cas.expect_find_missing().never();
        let service = m.service(true);
        assert_eq!(
            service.get_action_result(get(reader())).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn without_validation_raw_bytes_are_answered() {
        let mut m = Mocks::default();
        m.ac.expect_get()
            .returning(|_, _| Ok(Some(ac_entry(b"raw"))));
        m.format.expect_decode().never();
        let got = m.service(false).get_action_result(get(reader())).await;
        assert_eq!(got.unwrap(), Some(Bytes::from_static(b"raw")));
    }

    #[tokio::test]
    async fn without_validation_the_entry_is_streamed_from_the_store() {
        let mut m = Mocks::default();
        m.ac.expect_get_streamed()
            .returning(|_, _| Ok(Some(BlobRead::from_chunk(3, Bytes::from_static(b"raw")))));
        m.ac.expect_get().never();
        let read = m
            .service(false)
            .read_action_result(get(reader()))
            .await
            .unwrap()
            .expect("a hit");
        assert_eq!(read.size_bytes, 3);
        assert_eq!(read.into_bytes().await.unwrap(), Bytes::from_static(b"raw"));
    }

    #[tokio::test]
    async fn with_validation_a_streamed_read_still_checks_the_references() {
        let mut m = Mocks::default();
        m.ac.expect_get().never();
        m.ac.expect_get_streamed()
            .returning(|_, _| Ok(Some(BlobRead::whole(Bytes::from_static(b"ar")))));
        m.format.expect_decode().returning(|_| {
            Ok(ActionResultRefs {
                stdout: Some(digest('c', 1)),
                ..Default::default()
            })
        });
        m.cas.expect_find_missing().returning(|_, d| Ok(d.to_vec()));
        let got = m.service(true).read_action_result(get(reader())).await;
        assert!(got.unwrap().is_none(), "a dangling entry is a miss");
    }

    #[tokio::test]
    async fn a_streamed_read_needs_a_grant_too() {
        let mut m = Mocks::default();
        m.ac.expect_get_streamed().never();
        let err = m
            .service(false)
            .read_action_result(get(principal_with("sessions", Role::Admin)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            GetActionResultError::Access(AccessError::Forbidden { .. })
        ));
    }

    /// A validating instance reads no entry longer than it may decode: an
    /// entry over [`MAX_VALIDATED_AC_BYTES`] is a miss, decided from its
    /// length before any byte is read.
    #[tokio::test]
    async fn with_validation_an_entry_too_large_to_decode_is_a_miss() {
        struct Unread;
        #[async_trait::async_trait]
        impl strata_domain::BlobReader for Unread {
            async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
                Err(std::io::Error::other(
                    "an entry too large to validate is read",
                ))
            }
        }
        let mut m = Mocks::default();
        m.ac.expect_get_streamed().returning(|_, _| {
            Ok(Some(BlobRead {
                size_bytes: MAX_VALIDATED_AC_BYTES + 1,
                len: MAX_VALIDATED_AC_BYTES + 1,
                reader: Box::new(Unread),
            }))
        });
        m.format.expect_decode().never();
        m.cas.expect_find_missing().never();
        let service = m.service(true);
        assert_eq!(
            service.get_action_result(get(reader())).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn needs_a_grant_on_the_build_cache() {
        let mut m = Mocks::default();
        m.ac.expect_get().never();
        let err = m
            .service(true)
            .get_action_result(get(principal_with("sessions", Role::Admin)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            GetActionResultError::Access(AccessError::Forbidden { .. })
        ));
    }
}
