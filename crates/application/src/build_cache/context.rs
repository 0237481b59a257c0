//! What every build-cache handler shares: the ports, the AC validation
//! settings and the one access check.

use std::collections::HashMap;
use std::sync::Arc;

use strata_domain::{
    ActionCache, ActionResultFormat, CacheName, ContentStore, InstanceName, Principal, Role,
};

use crate::registry::{AccessError, check_role};

/// The cache name every build-cache instance's access is checked against.
pub const BUILD_CACHE_NAME: &str = "build-cache";

/// Whether AC entries are validated, per instance: `default` for every
/// instance not in `overrides`.
///
/// ```
/// use strata_application::build_cache::AcValidation;
/// use strata_domain::InstanceName;
/// let ccache = InstanceName::parse("ccache").unwrap();
/// let v = AcValidation::default().set(ccache.clone(), false);
/// assert!(v.validates(&InstanceName::default()));
/// assert!(!v.validates(&ccache));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcValidation {
    /// For instances not in `overrides` (default `true`).
    pub default: bool,
    /// Per-instance choices.
    pub overrides: HashMap<InstanceName, bool>,
}

impl Default for AcValidation {
    fn default() -> Self {
        Self {
            default: true,
            overrides: HashMap::new(),
        }
    }
}

impl AcValidation {
    /// Validation `on` for every instance, no overrides.
    pub fn all(on: bool) -> Self {
        Self {
            default: on,
            overrides: HashMap::new(),
        }
    }

    /// The same settings with `instance` set to `on`.
    #[must_use]
    pub fn set(mut self, instance: InstanceName, on: bool) -> Self {
        self.overrides.insert(instance, on);
        self
    }

    /// Whether `instance`'s AC entries are validated.
    pub fn validates(&self, instance: &InstanceName) -> bool {
        self.overrides
            .get(instance)
            .copied()
            .unwrap_or(self.default)
    }
}

/// The ports the build cache needs, wired by the composition root.
pub struct BuildCacheDependencies {
    /// The action cache.
    pub ac: Arc<dyn ActionCache>,
    /// The content-addressable storage.
    pub cas: Arc<dyn ContentStore>,
    /// Decodes serialized `ActionResult`s for validation.
    pub format: Arc<dyn ActionResultFormat>,
    /// Which instances validate AC entries.
    pub validation: AcValidation,
    /// Where flushes are reported for the flush alert rule; `None`
    /// reports nothing.
    pub flush_watch: Option<crate::FlushWatch>,
}

/// State shared by every build-cache handler.
pub(crate) struct BuildCacheContext {
    pub(crate) ac: Arc<dyn ActionCache>,
    pub(crate) cas: Arc<dyn ContentStore>,
    pub(crate) format: Arc<dyn ActionResultFormat>,
    pub(crate) validation: AcValidation,
    pub(crate) flush_watch: Option<crate::FlushWatch>,
    /// Each REAPI instance's requests, for the trends.
    pub(crate) traffic: super::traffic::InstanceTraffic,
    name: CacheName,
}

impl BuildCacheContext {
    /// Reports a real (not dry-run) flush's removals per store to the
    /// alert engine, as `ac/<store>` or `cas/<store>` (the trends' labels).
    pub(crate) fn report_flush(&self, result: &strata_domain::FlushResult) {
        let Some(watch) = &self.flush_watch else {
            return;
        };
        if result.dry_run {
            return;
        }
        let kind = match result.target {
            strata_domain::StoreKind::Ac => "ac",
            strata_domain::StoreKind::Cas => "cas",
        };
        for store in &result.stores {
            watch.record(&format!("{kind}/{}", store.store), store.entries_removed);
        }
    }

    pub(crate) fn new(deps: BuildCacheDependencies) -> Self {
        Self {
            ac: deps.ac,
            cas: deps.cas,
            format: deps.format,
            validation: deps.validation,
            flush_watch: deps.flush_watch,
            traffic: Default::default(),
            // A valid cache name by construction (tested below).
            name: CacheName::parse(BUILD_CACHE_NAME).unwrap_or_else(|_| unreachable!()),
        }
    }

    /// Whether `principal` may act in `role` on the build cache.
    ///
    /// # Errors
    /// [`AccessError::Forbidden`].
    pub(crate) fn authorize(&self, principal: &Principal, role: Role) -> Result<(), AccessError> {
        check_role(principal, role, &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_cache_name_is_a_cache_name() {
        assert!(CacheName::parse(BUILD_CACHE_NAME).is_ok());
    }
}
