//! `UpdateActionResult`: write an AC entry.

use bytes::Bytes;
use strata_domain::{
    BuildCacheError, DigestHash, InstanceName, InvalidActionResult, Principal, Role,
};

use super::context::BuildCacheContext;
use super::get_action_result::MAX_VALIDATED_AC_BYTES;
use crate::registry::AccessError;

/// Write `value` as the AC entry `key` of `instance`, replacing any.
///
/// When the instance validates AC entries, `value` must decode as a REAPI
/// `ActionResult` (its referenced blobs need not be present yet: Bazel
/// uploads outputs and the entry in any order, and reads check them), and
/// be at most [`MAX_VALIDATED_AC_BYTES`] long.
#[derive(Clone, Debug)]
pub struct UpdateActionResult {
    /// Who acts; needs [`Role::Writer`] (a `cas-writer` may not: AC
    /// writes are how build caches get poisoned).
    pub principal: Principal,
    /// The instance.
    pub instance: InstanceName,
    /// The action digest's hash.
    pub key: DigestHash,
    /// The serialized `ActionResult` (or raw bytes without validation).
    pub value: Bytes,
}

/// Why an AC write failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateActionResultError {
    /// Missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Validation is on and the bytes are not an `ActionResult`. HTTP: 400.
    #[error(transparent)]
    Invalid(#[from] InvalidActionResult),
    /// A store failed (including [`BuildCacheError::TooLarge`]).
    #[error(transparent)]
    Store(#[from] BuildCacheError),
}

impl UpdateActionResultError {
    /// Whether the store failed (not the caller).
    pub fn is_server_error(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_server_error())
    }
}

/// Start writing the AC entry `key` of `instance` from a stream of chunks,
/// for instances that do not validate AC entries (raw bytes, as ccache
/// stores its results): the entry passes through a bounded buffer when the
/// store streams ([`ActionCache::begin_put`](strata_domain::ActionCache::begin_put)),
/// and is gathered in memory, up to `max_blob_bytes`, when it does not.
/// Validating instances decode the whole `ActionResult`, so they take
/// [`UpdateActionResult`].
#[derive(Clone, Debug)]
pub struct BeginActionResult {
    /// Who acts; needs [`Role::Writer`].
    pub principal: Principal,
    /// The instance.
    pub instance: InstanceName,
    /// The action digest's hash.
    pub key: DigestHash,
}

/// An AC entry being written ([`BeginActionResult`]): feed it with
/// [`write`](Self::write), then [`commit`](Self::commit). Dropped before
/// the commit, it stores nothing.
pub struct ActionResultUpload {
    pub(crate) instance: InstanceName,
    pub(crate) written: u64,
    pub(crate) limit: u64,
    pub(crate) sink: Sink,
}

/// Where an upload's bytes go.
pub(crate) enum Sink {
    /// The store's own streaming writer.
    Streamed(Box<dyn strata_domain::AcWriter>),
    /// Gathered here, then one `put`.
    Buffered {
        ac: std::sync::Arc<dyn strata_domain::ActionCache>,
        key: DigestHash,
        buf: bytes::BytesMut,
    },
}

impl std::fmt::Debug for ActionResultUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionResultUpload")
            .field("instance", &self.instance)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl ActionResultUpload {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `chunk`.
    ///
    /// # Errors
    /// [`BuildCacheError::TooLarge`] past `max_blob_bytes`; store failures.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), UpdateActionResultError> {
        let size = self.written + chunk.len() as u64;
        if size > self.limit {
            return Err(BuildCacheError::TooLarge {
                size_bytes: size,
                limit_bytes: self.limit,
            }
            .into());
        }
        match &mut self.sink {
            Sink::Streamed(w) => w.write(chunk).await?,
            Sink::Buffered { buf, .. } => buf.extend_from_slice(&chunk),
        }
        self.written = size;
        Ok(())
    }

    /// Installs the entry, replacing any.
    ///
    /// # Errors
    /// Store failures.
    pub(crate) async fn finish(self) -> Result<(), UpdateActionResultError> {
        match self.sink {
            Sink::Streamed(w) => w.commit().await?,
            Sink::Buffered { ac, key, buf } => ac.put(&self.instance, key, buf.freeze()).await?,
        }
        Ok(())
    }
}

pub(crate) async fn begin(
    ctx: &BuildCacheContext,
    cmd: BeginActionResult,
    limit: u64,
) -> Result<ActionResultUpload, UpdateActionResultError> {
    ctx.authorize(&cmd.principal, Role::Writer)?;
    let sink = match ctx.ac.begin_put(&cmd.instance, cmd.key).await? {
        Some(writer) => Sink::Streamed(writer),
        None => Sink::Buffered {
            ac: ctx.ac.clone(),
            key: cmd.key,
            buf: bytes::BytesMut::new(),
        },
    };
    Ok(ActionResultUpload {
        instance: cmd.instance,
        written: 0,
        limit,
        sink,
    })
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    cmd: UpdateActionResult,
) -> Result<(), UpdateActionResultError> {
    ctx.authorize(&cmd.principal, Role::Writer)?;
    if ctx.validation.validates(&cmd.instance) {
        let size_bytes = cmd.value.len() as u64;
        if size_bytes > MAX_VALIDATED_AC_BYTES {
            return Err(BuildCacheError::TooLarge {
                size_bytes,
                limit_bytes: MAX_VALIDATED_AC_BYTES,
            }
            .into());
        }
        ctx.format.decode(&cmd.value)?;
    }
    ctx.ac.put(&cmd.instance, cmd.key, cmd.value).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;
    use strata_domain::ActionResultRefs;

    fn put(principal: Principal) -> UpdateActionResult {
        UpdateActionResult {
            principal,
            instance: InstanceName::default(),
            key: hash('a'),
            value: Bytes::from_static(b"x"),
        }
    }

    #[tokio::test]
    async fn validated_entries_must_decode() {
        let mut m = Mocks::default();
        m.format
            .expect_decode()
            .returning(|_| Err(InvalidActionResult("bad".into())));
        m.ac.expect_put().never();
        let err = m
            .service(true)
            .update_action_result(put(writer()))
            .await
            .unwrap_err();
        assert!(matches!(err, UpdateActionResultError::Invalid(_)));

        let mut m = Mocks::default();
        m.format
            .expect_decode()
            .returning(|_| Ok(ActionResultRefs::default()));
        m.ac.expect_put().times(1).returning(|_, _, _| Ok(()));
        m.service(true)
            .update_action_result(put(writer()))
            .await
            .unwrap();
    }

    /// A validating instance refuses an entry longer than it may decode
    /// (413), and the bound is the instance's AC limit.
    #[tokio::test]
    async fn validated_entries_are_bounded() {
        let mut m = Mocks::default();
        m.format.expect_decode().never();
        m.ac.expect_put().never();
        m.cas.expect_max_blob_bytes().return_const(1_u64 << 30);
        let service = m.service(true);
        let mut cmd = put(writer());
        cmd.value = Bytes::from(vec![0u8; MAX_VALIDATED_AC_BYTES as usize + 1]);
        let err = service.update_action_result(cmd).await.unwrap_err();
        assert!(matches!(
            err,
            UpdateActionResultError::Store(BuildCacheError::TooLarge {
                limit_bytes: MAX_VALIDATED_AC_BYTES,
                ..
            })
        ));
        let instance = InstanceName::default();
        assert_eq!(
            service.max_action_result_bytes(&instance),
            MAX_VALIDATED_AC_BYTES
        );
    }

    #[tokio::test]
    async fn without_validation_anything_is_stored() {
        let mut m = Mocks::default();
        m.format.expect_decode().never();
        m.ac.expect_put().times(1).returning(|_, _, _| Ok(()));
        m.service(false)
            .update_action_result(put(writer()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_streamed_entry_is_gathered_for_a_store_that_takes_whole_values() {
        let mut m = Mocks::default();
        m.ac.expect_put()
            .withf(|_, key, value| *key == hash('a') && value.as_ref() == b"head-tail")
            .times(1)
            .returning(|_, _, _| Ok(()));
        m.cas.expect_max_blob_bytes().return_const(16_u64);
        let service = m.service(false);
        let begin = |principal| BeginActionResult {
            principal,
            instance: InstanceName::default(),
            key: hash('a'),
        };
        let mut upload = service.begin_action_result(begin(writer())).await.unwrap();
        upload.write(Bytes::from_static(b"head-")).await.unwrap();
        upload.write(Bytes::from_static(b"tail")).await.unwrap();
        assert_eq!(upload.written(), 9);
        service
            .commit_action_result(upload, std::time::Instant::now())
            .await
            .unwrap();

        // Past max_blob_bytes: 413's error, and nothing stored.
        let mut upload = service.begin_action_result(begin(writer())).await.unwrap();
        let err = upload
            .write(Bytes::from_static(b"seventeen bytes!!"))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            UpdateActionResultError::Store(BuildCacheError::TooLarge { .. })
        ));

        let err = service
            .begin_action_result(begin(principal_with("build-*", Role::CasWriter)))
            .await
            .unwrap_err();
        assert!(matches!(err, UpdateActionResultError::Access(_)));
    }

    #[tokio::test]
    async fn a_cas_writer_may_not_write_the_ac() {
        let mut m = Mocks::default();
        m.ac.expect_put().never();
        let err = m
            .service(true)
            .update_action_result(put(principal_with("build-*", Role::CasWriter)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            UpdateActionResultError::Access(AccessError::Forbidden { .. })
        ));
    }
}
