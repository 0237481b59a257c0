//! `FindMissingBlobs`: which of these blobs the CAS lacks.

use strata_domain::{Digest, InstanceName, Principal, Role};

use super::context::BuildCacheContext;

/// The digests of `digests` that `instance`'s CAS does not hold (a blob of
/// another size counts as missing; the empty blob is never missing), in
/// the given order.
#[derive(Clone, Debug)]
pub struct FindMissingBlobs {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
    /// The instance.
    pub instance: InstanceName,
    /// The digests to check.
    pub digests: Vec<Digest>,
}

access_or_store_error! {
    /// Why the check failed.
    pub enum FindMissingBlobsError { Store: "A store failed." }
}

pub(crate) async fn handle(
    ctx: &BuildCacheContext,
    q: FindMissingBlobs,
) -> Result<Vec<Digest>, FindMissingBlobsError> {
    ctx.authorize(&q.principal, Role::Reader)?;
    let wanted: Vec<Digest> = q
        .digests
        .into_iter()
        .filter(|d| !d.is_empty_blob())
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(ctx.cas.find_missing(&q.instance, &wanted).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_cache::test_support::*;

    #[tokio::test]
    async fn the_empty_blob_is_never_asked_for() {
        let mut m = Mocks::default();
        m.cas
            .expect_find_missing()
            .withf(|_, d| d == [digest('a', 1)])
            .returning(|_, d| Ok(d.to_vec()));
        let missing = m
            .service(true)
            .find_missing_blobs(FindMissingBlobs {
                principal: reader(),
                instance: InstanceName::default(),
                digests: vec![Digest::EMPTY, digest('a', 1)],
            })
            .await
            .unwrap();
        assert_eq!(missing, vec![digest('a', 1)]);
    }
}
