//! The memory wing: in-process stores, the L1 tier of every cache.
//!
//! It owns [`PolicyStore`] (sharded maps evicting with any policy of
//! [`eviction`](crate::eviction), chosen at run time) and [`MokaStore`]
//! (moka's concurrent cache). Both implement the domain's `CacheStore`
//! port, count their own evictions and expirations and publish them as
//! domain events; time comes from the `Clock` port.
//!
//! It must not know: a network, a serialization format or another tier.
//! Stacking over a shared tier is [`tiering`](crate::tiering)'s concern.

mod moka_store;
mod policy_store;

pub use moka_store::{MokaStore, MokaStoreBuilder};
pub use policy_store::{PolicyStore, PolicyStoreBuilder};
