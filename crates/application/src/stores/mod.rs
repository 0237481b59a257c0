//! Store decorators: [`CacheStore`](strata_domain::CacheStore)s that wrap
//! other stores to give a use case a behaviour no single store has. They
//! are application policy, not adapters: they know the domain's store port
//! and no backend technology, and no command or query.
//!
//! - `migrating.rs`: [`MigratingStore`], the store a cache serves from
//!   while a run-time switch moves its entries to a new store.

mod migrating;

pub(crate) use migrating::MigratingStore;
