//! [`Tuners`]: each `eviction = "auto"` cache's [`AutoTuner`], the
//! sample count it last evaluated and, after a switch, the cache's
//! `(misses, reads)` counters at the switch (to measure its cost), kept in the [`Context`](crate::context)
//! below the `auto_tune` command that drives them.

use std::collections::HashMap;
use std::sync::Mutex;

use strata_domain::{AutoTuner, CacheName};

/// One cache's tuner, the sample count it last evaluated, and the cache's
/// `(misses, reads)` at the last switch until its cost is measured.
pub(crate) type CacheTuner = (AutoTuner, u64, Option<(u64, u64)>);

/// See the module docs.
#[derive(Default)]
pub(crate) struct Tuners {
    pub(crate) by_cache: Mutex<HashMap<CacheName, CacheTuner>>,
}
