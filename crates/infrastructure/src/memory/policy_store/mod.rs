//! [`PolicyStore`], the sharded in-process store with a pluggable eviction
//! policy: `store` (the type and its `CacheStore` port), `shard` (one
//! lock's policy and indexes), `record` (one entry in one allocation, the
//! key the policy tracks), `builder` (shard sizing).

mod builder;
mod record;
mod shard;
mod store;
#[cfg(test)]
mod tests;

pub use builder::PolicyStoreBuilder;
pub use store::PolicyStore;
