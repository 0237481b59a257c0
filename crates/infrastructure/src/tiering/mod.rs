//! The tiering wing: [`TieredStore`] stacks an in-process L1 over a shared
//! L2, and the [`CoherenceBus`] keeps the L1s of several instances
//! coherent over Redis pub/sub ([`Invalidation`] messages, applied through
//! [`CoherenceListener`]s).
//!
//! It owns the read, write-through and invalidation order between tiers,
//! promotion with its race guard (the per-key generation stripes, private
//! to this wing) and degraded-mode reads while L2's breaker is not closed.
//!
//! It must not know: which technology either tier is (it sees two
//! `CacheStore`s), nor how a tier encodes values.

mod coherence;
mod tiered;

pub use coherence::{CoherenceBus, CoherenceListener, Invalidation, ReconfigureNotice};
pub use tiered::{TieredStore, TieredStoreBuilder};
