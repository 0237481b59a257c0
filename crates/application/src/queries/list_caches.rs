//! `ListCaches`: the caches that exist, with their configuration.

use strata_domain::{CacheConfiguration, Principal, Role};

use crate::context::Context;
use crate::registry::{AccessError, check_role};

/// List every cache.
#[derive(Clone, Debug)]
pub struct ListCaches {
    /// Who acts; needs [`Role::Reader`].
    pub principal: Principal,
}

/// One cache in the listing.
#[derive(Clone, Debug)]
pub struct CacheSummary {
    /// Its configuration.
    pub config: CacheConfiguration,
    /// Its store's technology.
    pub backend: String,
}

/// Why the listing failed.
#[derive(Debug, thiserror::Error)]
pub enum ListCachesError {
    /// Missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
}

pub(crate) async fn handle(
    ctx: &Context,
    query: ListCaches,
) -> Result<Vec<CacheSummary>, ListCachesError> {
    check_role(&query.principal, Role::Reader)?;
    Ok(ctx
        .registry
        .all()
        .into_iter()
        .map(|c| CacheSummary {
            config: c.config().clone(),
            backend: c.store().backend().to_owned(),
        })
        .collect())
}
