//! `ExportEntries`: every live entry of a cache, page by page
//! (`GET /admin/v1/caches/{cache}/export`, an admin action), so an export
//! never holds the whole cache in memory.

use std::sync::Arc;

use strata_domain::{CacheEntry, CacheKey, CacheName, CacheStore, Principal, Role, StoreError};

use crate::context::Context;
use crate::registry::AccessError;

/// Entries per page an [`Export`] asks its store for.
pub const EXPORT_PAGE: usize = 512;

/// Export every live entry of `cache`.
#[derive(Clone, Debug)]
pub struct ExportEntries {
    /// Who acts; needs [`Role::Admin`].
    pub principal: Principal,
    /// The cache.
    pub cache: CacheName,
}

/// Why an export cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ExportEntriesError {
    /// Unknown cache or missing role.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The backend cannot enumerate (`StoreError::Unsupported` naming
    /// `export`, e.g. Memcached) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An export under way: call [`next_page`](Self::next_page) until it
/// returns `None`. Entries written meanwhile may or may not appear, and an
/// entry may appear twice (see [`CacheStore::entries_page`]).
pub struct Export {
    store: Arc<dyn CacheStore>,
    cursor: Option<u64>,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("backend", &self.store.backend())
            .field("cursor", &self.cursor)
            .finish()
    }
}

impl Export {
    /// The next page of at most [`EXPORT_PAGE`] entries (possibly empty),
    /// or `None` once every page was read.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails; the export cannot go on.
    pub async fn next_page(&mut self) -> Result<Option<Vec<(CacheKey, CacheEntry)>>, StoreError> {
        let Some(cursor) = self.cursor else {
            return Ok(None);
        };
        let page = self.store.entries_page(cursor, EXPORT_PAGE).await?;
        self.cursor = page.next;
        Ok(Some(page.entries))
    }
}

pub(crate) fn handle(ctx: &Context, query: ExportEntries) -> Result<Export, ExportEntriesError> {
    let cache = ctx
        .registry
        .authorize(&query.cache, &query.principal, Role::Admin)?;
    let store = cache.store().clone();
    if !store.capabilities().export {
        return Err(StoreError::Unsupported {
            backend: store.backend().to_owned(),
            operation: "export",
        }
        .into());
    }
    Ok(Export {
        store,
        cursor: Some(0),
    })
}

#[cfg(test)]
mod tests {
    use strata_domain::{EntriesPage, StoreCapabilities};

    use super::*;
    use crate::test_support::*;

    #[tokio::test]
    async fn follows_the_cursor_to_the_end() {
        let mut store = MockStore::new();
        store
            .expect_capabilities()
            .return_const(StoreCapabilities::IN_PROCESS);
        store
            .expect_entries_page()
            .withf(|cursor, _| *cursor == 0)
            .returning(|_, _| {
                Ok(EntriesPage {
                    entries: vec![],
                    next: Some(7),
                })
            });
        store
            .expect_entries_page()
            .withf(|cursor, _| *cursor == 7)
            .returning(|_, _| Ok(EntriesPage::default()));
        let (service, _) = service_with(config("c", None, 10), store).await;
        let mut export = service
            .export(ExportEntries {
                principal: Principal::Anonymous,
                cache: name("c"),
            })
            .unwrap();
        assert!(export.next_page().await.unwrap().is_some());
        assert!(export.next_page().await.unwrap().is_some());
        assert!(export.next_page().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_store_that_cannot_enumerate_is_unsupported() {
        let mut store = MockStore::new();
        store.expect_capabilities().return_const(StoreCapabilities {
            export: false,
            ..StoreCapabilities::IN_PROCESS
        });
        store.expect_backend().return_const("memcached".to_owned());
        let (service, _) = service_with(config("c", None, 10), store).await;
        let err = service
            .export(ExportEntries {
                principal: Principal::Anonymous,
                cache: name("c"),
            })
            .unwrap_err();
        assert!(err.to_string().contains("export"), "{err}");
    }
}
