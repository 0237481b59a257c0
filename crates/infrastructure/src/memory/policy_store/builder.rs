//! [`PolicyStoreBuilder`]: turns a capacity, a policy and a value size
//! limit into a [`PolicyStore`]'s shards (see "Sharding" on the store).

use std::hash::RandomState;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use strata_domain::{
    CacheName, Clock, DEFAULT_MAX_VALUE_BYTES, EventPublisher, MAX_CONTENT_TYPE_BYTES,
    MAX_KEY_BYTES,
};

use super::shard::Shard;
use super::store::PolicyStore;
use crate::SystemClock;
use crate::eviction::{EvictionPolicy as _, LruConfig, PolicyConfig};

/// Fewest entries an object-mode shard may hold: below this, the builder
/// uses fewer shards, so each shard's policy keeps room for its segments
/// (W-TinyLFU's 1% window, S3-FIFO's 10% small queue, ARC's two lists).
pub(super) const MIN_ENTRIES_PER_SHARD: u64 = 256;

/// Configures a [`PolicyStore`].
pub struct PolicyStoreBuilder {
    name: CacheName,
    policy: PolicyConfig,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    max_value_bytes: u64,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventPublisher>>,
    shards: Option<usize>,
}

impl PolicyStore {
    /// A builder for the store of cache `name`: LRU, unbounded, values up
    /// to [`DEFAULT_MAX_VALUE_BYTES`], the system clock, no events.
    pub fn builder(name: CacheName) -> PolicyStoreBuilder {
        PolicyStoreBuilder {
            name,
            policy: LruConfig.into(),
            max_entries: None,
            max_bytes: None,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            clock: Arc::new(SystemClock),
            events: None,
            shards: None,
        }
    }
}

impl PolicyStoreBuilder {
    /// The eviction policy (default: LRU).
    pub fn policy(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
        self
    }
    /// Capacity in entries (ignored when `max_bytes` is set).
    pub fn max_entries(mut self, max_entries: Option<u64>) -> Self {
        self.max_entries = max_entries;
        self
    }
    /// Capacity in bytes, weighing each entry by [`CacheEntry::weight`](strata_domain::CacheEntry::weight).
    pub fn max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        self.max_bytes = max_bytes;
        self
    }
    /// The largest value the cache accepts, in bytes (default
    /// [`DEFAULT_MAX_VALUE_BYTES`]); in byte mode, the builder picks the
    /// shard count so that such a value, with the longest key and content
    /// type, fits in one shard.
    pub fn max_value_bytes(mut self, max_value_bytes: u64) -> Self {
        self.max_value_bytes = max_value_bytes;
        self
    }
    /// The clock TTLs are measured against (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Where eviction and expiry events go.
    pub fn events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = Some(events);
        self
    }
    /// The most shards to use, rounded up to a power of two (default: the
    /// next power of two >= 4 x available parallelism, at least 4). The
    /// builder uses fewer when the capacity is small: see
    /// [`PolicyStore`]'s "Sharding".
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Builds the store.
    pub fn build(self) -> PolicyStore {
        let requested = self
            .shards
            .unwrap_or_else(default_shards)
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(1 << (usize::BITS - 1));
        let (total, byte_mode) = match (self.max_bytes, self.max_entries) {
            (Some(bytes), _) => (Some(bytes), true),
            (None, Some(entries)) => (Some(entries), false),
            (None, None) => (None, false),
        };
        let max_entry_weight = self
            .max_value_bytes
            .saturating_add((MAX_KEY_BYTES + MAX_CONTENT_TYPE_BYTES) as u64);
        let count = match total {
            None => requested,
            Some(total) => {
                let mut count = requested;
                while count > 1
                    && !shard_fits(
                        &self.policy,
                        total / count as u64,
                        byte_mode,
                        max_entry_weight,
                    )
                {
                    count /= 2;
                }
                count
            }
        };
        let shards = (0..count as u64)
            .map(|i| {
                let capacity = total.map_or(u64::MAX, |t| {
                    t / count as u64 + u64::from(i < t % count as u64)
                });
                Mutex::new(Shard::new(self.policy.build(capacity)))
            })
            .collect();
        PolicyStore {
            shards,
            mask: count - 1,
            hasher: RandomState::new(),
            name: self.name,
            policy: self.policy,
            byte_mode,
            clock: self.clock,
            events: self.events,
        }
    }
}

fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .saturating_mul(4)
        .next_power_of_two()
        .max(4)
}

/// Whether a shard of `capacity` is big enough (see "Sharding" on
/// [`PolicyStore`]). Byte mode asks a fresh policy of that capacity whether
/// it admits the heaviest entry, so admission windows are accounted for
/// exactly as the policy computes them.
fn shard_fits(
    policy: &PolicyConfig,
    capacity: u64,
    byte_mode: bool,
    max_entry_weight: u64,
) -> bool {
    if byte_mode {
        policy
            .build::<u8>(capacity)
            .insert(0, max_entry_weight, None, &mut Vec::new())
    } else {
        capacity >= MIN_ENTRIES_PER_SHARD
    }
}
