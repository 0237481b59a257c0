//! [`PolicyStore`], the sharded in-process store with a pluggable eviction
//! policy: `store` (the type and its `CacheStore` port), `shard` (one
//! lock's map, policy and indexes), `builder` (shard sizing).

mod builder;
mod shard;
mod store;
#[cfg(test)]
mod tests;

pub use builder::PolicyStoreBuilder;
pub use store::PolicyStore;
