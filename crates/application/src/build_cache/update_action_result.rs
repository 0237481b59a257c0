//! `UpdateActionResult`: write an AC entry.

use bytes::Bytes;
use strata_domain::{
    BuildCacheError, DigestHash, InstanceName, InvalidActionResult, Principal, Role,
};

use super::context::BuildCacheContext;
use crate::registry::AccessError;

/// Write `value` as the AC entry `key` of `instance`, replacing any.
///
/// When the instance validates AC entries, `value` must decode as a REAPI
/// `ActionResult` (its referenced blobs need not be present yet: Bazel
/// uploads outputs and the entry in any order, and reads check them).
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

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    cmd: UpdateActionResult,
) -> Result<(), UpdateActionResultError> {
    ctx.authorize(&cmd.principal, Role::Writer)?;
    if ctx.validation.validates(&cmd.instance) {
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
