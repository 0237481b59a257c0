//! [`InstanceTraffic`]: what each REAPI instance asked of the build
//! cache, for the trends (`GET /admin/v1/cache/trends?instance=<name>`):
//! requests, hits, misses, server errors, latency, value bytes both ways
//! and flushes, counted by the facade around each use case, so HTTP and
//! gRPC count alike. Entries and bytes held are per store (the stores
//! are shared by every instance), so an instance's `entries` and `bytes`
//! are 0.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use strata_domain::{InstanceName, TrendReading, TrendSource};

use crate::CacheCounters;

/// Instances counted apart; requests of further instances count under
/// [`OTHER_INSTANCES`].
pub const MAX_TRACKED_INSTANCES: usize = 256;

/// The trend source of the instances beyond [`MAX_TRACKED_INSTANCES`].
pub const OTHER_INSTANCES: &str = "_other";

/// What one REAPI instance asked of the build cache since the server
/// started: reads that hit and missed, AC and CAS together, over HTTP and
/// gRPC alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceUsage {
    /// The instance's name, `default` for the unnamed one, or
    /// [`OTHER_INSTANCES`].
    pub instance: String,
    /// Reads that found what they asked for.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
}

/// How one request ended, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A read that found what it asked for.
    Hit,
    /// A read that did not.
    Miss,
    /// A write, or a read that failed.
    Other,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct InstanceTraffic {
    by_instance: RwLock<HashMap<String, Arc<CacheCounters>>>,
}

/// The trends' name of `instance`: its name, or `default` for the
/// unnamed one (as the flush API names it).
pub(crate) fn label(instance: &InstanceName) -> String {
    match instance.as_str() {
        "" => "default".to_owned(),
        name => name.to_owned(),
    }
}

impl InstanceTraffic {
    fn counters(&self, instance: &InstanceName) -> Arc<CacheCounters> {
        let name = label(instance);
        if let Some(c) = self
            .by_instance
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
        {
            return c.clone();
        }
        let mut map = self.by_instance.write().unwrap_or_else(|e| e.into_inner());
        let name = if map.len() >= MAX_TRACKED_INSTANCES && !map.contains_key(&name) {
            OTHER_INSTANCES.to_owned()
        } else {
            name
        };
        map.entry(name).or_default().clone()
    }

    /// Counts one request of `instance`.
    pub(crate) fn record(
        &self,
        instance: &InstanceName,
        answer: Answer,
        elapsed: Duration,
        server_error: bool,
        bytes_read: u64,
        bytes_written: u64,
    ) {
        let c = self.counters(instance);
        match answer {
            Answer::Hit => c.hit(1),
            Answer::Miss => c.miss(1),
            Answer::Other => {}
        }
        c.record_request(elapsed, server_error, bytes_read, bytes_written);
    }

    /// Counts a flush that reached `instance` (`None`: every instance
    /// seen so far).
    pub(crate) fn flushed(&self, instance: Option<&InstanceName>) {
        match instance {
            Some(i) => self.counters(i).flushed(),
            None => {
                for c in self
                    .by_instance
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                {
                    c.flushed();
                }
            }
        }
    }

    /// Every instance seen, by name.
    pub(crate) fn usage(&self) -> Vec<InstanceUsage> {
        let mut usage: Vec<InstanceUsage> = self
            .by_instance
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, c)| {
                let s = c.snapshot();
                InstanceUsage {
                    instance: name.clone(),
                    hits: s.hits,
                    misses: s.misses,
                }
            })
            .collect();
        usage.sort_by(|a, b| a.instance.cmp(&b.instance));
        usage
    }

    /// The readings of every instance seen.
    pub(crate) fn readings(&self) -> Vec<(TrendSource, TrendReading)> {
        self.by_instance
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, c)| {
                (
                    TrendSource::BuildCache(name.clone()),
                    TrendReading {
                        totals: c.trend_totals(0, 0),
                        entries: 0,
                        bytes: 0,
                    },
                )
            })
            .collect()
    }
}
