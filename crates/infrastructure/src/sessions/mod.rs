//! [`SessionStore`](strata_domain::SessionStore) adapters for the web
//! console: [`MemorySessions`], one process's sessions in a map, and
//! [`RedisSessions`], sessions in Redis that every instance behind one
//! load balancer shares (the root picks it when `[cluster]
//! config_backend` names a Redis backend). The console does not know
//! which it has.

mod memory;
mod redis;

pub use memory::MemorySessions;
pub use redis::{DEFAULT_SESSION_KEY_PREFIX, RedisSessions};
