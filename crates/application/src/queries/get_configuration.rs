//! `GetConfiguration`: one cache's configuration (admin).

use strata_domain::{CacheName, Principal, Role, StoredConfiguration};

use crate::context::Context;
use crate::registry::AccessError;

/// Read the configuration of `cache`.
#[derive(Clone, Debug)]
pub struct GetConfiguration {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GetConfigurationError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// The configuration in force on this instance, with its version and
/// provenance.
pub(crate) async fn handle(
    ctx: &Context,
    query: GetConfiguration,
) -> Result<StoredConfiguration, GetConfigurationError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Admin)?;
    Ok(StoredConfiguration {
        config: cache.config().clone(),
        version: cache.version(),
        provenance: cache.provenance().clone(),
    })
}
