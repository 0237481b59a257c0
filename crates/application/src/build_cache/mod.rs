//! The remote build cache's use cases (Bazel's and ccache's AC and CAS),
//! one file per use case with its input, output, error and handler, and
//! the [`BuildCacheService`] facade that calls them.
//!
//! Access: every instance is checked against one cache name,
//! [`BUILD_CACHE_NAME`] (`build-cache`), so a grant such as
//! `{ caches = "build-*", role = "writer" }` covers the whole build cache.
//! Readers read (AC and CAS, find-missing, stats), `cas-writer` also
//! uploads CAS blobs, `writer` also writes AC entries, `admin` flushes.
//!
//! AC validation ([`AcValidation`], on by default, per instance
//! overridable): an AC write must decode as a REAPI `ActionResult`, and an
//! AC read answers a miss when a CAS blob it references is missing
//! (bazel-remote #106). With validation off, entries are raw bytes
//! (ccache's `layout=bazel`).
//!
//! It knows the domain ports only: no HTTP, no protobuf, no file system.

/// Defines a use case's error enum: `Access` (the principal lacks the
/// role) and `Store` (a store failed), both converted by `?`. Each use
/// case keeps its own type; only the two variants' text is shared.
macro_rules! access_or_store_error {
    ($(#[$attr:meta])* pub enum $name:ident { Store: $store_doc:literal }) => {
        $(#[$attr])*
        #[derive(Debug, thiserror::Error)]
        pub enum $name {
            /// Missing role.
            #[error(transparent)]
            Access(#[from] $crate::registry::AccessError),
            #[doc = $store_doc]
            #[error(transparent)]
            Store(#[from] strata_domain::BuildCacheError),
        }

        impl $name {
            /// Whether the store failed (not the caller: a bad digest,
            /// range or size, or a missing role, is the caller's).
            pub fn is_server_error(&self) -> bool {
                matches!(self, Self::Store(e) if e.is_server_error())
            }
        }
    };
}

mod context;
pub mod find_missing_blobs;
pub mod flush_action_cache;
pub mod flush_content_store;
pub mod get_action_result;
pub mod get_build_cache_stats;
pub mod read_blob;
mod service;
#[cfg(test)]
pub(crate) mod test_support;
mod traffic;
pub mod update_action_result;
pub mod write_blob;

pub use context::{AcValidation, BUILD_CACHE_NAME, BuildCacheDependencies};
pub use service::BuildCacheService;
pub use traffic::{InstanceUsage, MAX_TRACKED_INSTANCES, OTHER_INSTANCES};
