//! Configuration repositories: where cache configurations live, each with
//! a version checked on every change ([`strata_domain::check_expected`]).
//!
//! - `memory.rs`: [`InMemoryConfigurationRepository`], process-local (run-time
//!   changes are lost on restart);
//! - `file.rs`: [`FileConfigurationRepository`], one JSON state file under
//!   `[server] data_dir`, rewritten atomically on every change;
//! - `redis.rs`: [`RedisConfigurationRepository`], one Redis key per
//!   cache, changed by a compare-and-set Lua script, shared by every
//!   instance of a deployment;
//! - `record.rs`: the JSON shape of one stored configuration, shared by
//!   the file and Redis repositories.

mod file;
mod memory;
mod record;
mod redis;

pub use file::FileConfigurationRepository;
pub use memory::InMemoryConfigurationRepository;
pub use redis::{DEFAULT_CONFIG_KEY_PREFIX, RedisConfigurationRepository};
