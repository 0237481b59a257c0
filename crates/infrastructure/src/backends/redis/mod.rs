mod core;

pub use core::{
    RedisClusterConnection, RedisClusterStore, RedisClusterStoreBuilder, RedisConnection,
    RedisOptions, RedisStore, RedisStoreBuilder,
};
