mod store;

pub use store::{PolicyStore, PolicyStoreBuilder};
