//! Flushes of [`RedisBuildStore`](super::RedisBuildStore): candidates
//! chosen per instance from the index (see the wing's docs, "Flushes"),
//! decided by [`FlushCriteria::matches`], removed (or counted) in batches
//! by one script each. Knows nothing of reads and writes.

use std::collections::HashSet;
use std::time::Instant;

use strata_domain::{
    BuildCacheError, DigestHash, FlushCriteria, FlushResult, FlushScope, StoreFlushReport,
    StoreKind, Timestamp,
};

use super::keys::Keys;
use super::scripts::FLUSH;
use super::{BATCH, STORE, Shared, unavailable};

/// The latest last access an `older_than(age)` flush at `now` removes:
/// `now - last > age` on whole milliseconds means `last <= now - age_ms - 1`.
fn older_than_bound(now: Timestamp, age: std::time::Duration) -> Option<u64> {
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    now.as_millis().checked_sub(age_ms.checked_add(1)?)
}

impl Shared {
    /// Runs [`FLUSH`] over `hashes` of one instance.
    async fn flush_batch(
        &self,
        keys: &Keys,
        hashes: &[DigestHash],
        bound: Option<u64>,
        dry_run: bool,
    ) -> Result<(u64, u64), BuildCacheError> {
        if hashes.is_empty() {
            return Ok((0, 0));
        }
        let mut invocation = FLUSH.key(&keys.index);
        invocation.key(&keys.sizes).key(&keys.bytes);
        for h in hashes {
            invocation.key(keys.entry(h));
        }
        invocation
            .arg(bound.map_or_else(String::new, |b| b.to_string()))
            .arg(u8::from(dry_run));
        for h in hashes {
            invocation.arg(h.to_string());
        }
        invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("flush", &e))
    }

    pub(super) async fn flush_kind(
        &self,
        kind: StoreKind,
        criteria: &FlushCriteria,
    ) -> Result<FlushResult, BuildCacheError> {
        let started = Instant::now();
        let now = self.clock.now();
        let only = match &criteria.scope {
            FlushScope::Instance(name) => Some(name),
            _ => criteria.instance.as_ref(),
        };
        let mut report = StoreFlushReport {
            store: STORE.to_owned(),
            ..Default::default()
        };
        let dry = criteria.dry_run;
        for instance in self.instances(only).await? {
            let keys = self.keys(kind, &instance);
            let goes = |h: &DigestHash, last: Option<u64>| {
                criteria.matches(&instance, h, last.map_or(now, Timestamp::from_millis), now)
            };
            let mut seen = HashSet::new();
            let mut removed = (0, 0);
            match &criteria.scope {
                FlushScope::Digests(hashes) => {
                    // The instance filter already chose `instance`; calling
                    // `matches` per hash would scan the list again (O(n²)).
                    let picked: Vec<DigestHash> = hashes
                        .iter()
                        .filter(|h| {
                            seen.insert(**h)
                                && (criteria.keep.is_empty()
                                    || !criteria.keep.contains(&(instance.clone(), **h)))
                        })
                        .copied()
                        .collect();
                    for chunk in picked.chunks(BATCH) {
                        let r = self.flush_batch(&keys, chunk, None, dry).await?;
                        removed = (removed.0 + r.0, removed.1 + r.1);
                    }
                }
                FlushScope::OlderThan(age) => {
                    let Some(bound) = older_than_bound(now, *age) else {
                        continue;
                    };
                    let mut offset = 0;
                    loop {
                        let (members, page) = self.older_page(&keys, bound, offset).await?;
                        if members == 0 {
                            break;
                        }
                        let picked: Vec<DigestHash> = page
                            .into_iter()
                            .filter(|(h, last)| last.is_some() && goes(h, *last))
                            .map(|(h, _)| h)
                            .collect();
                        let r = self.flush_batch(&keys, &picked, Some(bound), dry).await?;
                        removed = (removed.0 + r.0, removed.1 + r.1);
                        // Handed-in members leave the range unless dry; the
                        // rest stay ahead of the next page.
                        offset += if dry { members } else { members - picked.len() };
                    }
                }
                scope => {
                    let pattern = match scope {
                        FlushScope::DigestPrefix(p) => Some(format!("{}*", p.as_str())),
                        _ => None,
                    };
                    let mut cursor = 0;
                    loop {
                        let (next, page) =
                            self.scan_index(&keys, cursor, pattern.as_deref()).await?;
                        let picked: Vec<DigestHash> = page
                            .into_iter()
                            .filter(|(h, last)| goes(h, *last) && seen.insert(*h))
                            .map(|(h, _)| h)
                            .collect();
                        let r = self.flush_batch(&keys, &picked, None, dry).await?;
                        removed = (removed.0 + r.0, removed.1 + r.1);
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
            }
            report.entries_removed += removed.0;
            report.bytes_reclaimed += removed.1;
        }
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(FlushResult::single(kind, dry, report))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_domain::InstanceName;

    use super::*;

    #[test]
    fn older_than_bound_matches_the_criteria() {
        let now = Timestamp::from_millis(100_000);
        let bound = older_than_bound(now, Duration::from_secs(90)).unwrap();
        assert_eq!(bound, 9_999);
        let c = FlushCriteria::new(FlushScope::OlderThan(Duration::from_secs(90)));
        let i = InstanceName::default();
        assert!(c.matches(&i, &DigestHash::EMPTY, Timestamp::from_millis(bound), now));
        assert!(!c.matches(
            &i,
            &DigestHash::EMPTY,
            Timestamp::from_millis(bound + 1),
            now
        ));
        let half = older_than_bound(now, Duration::from_micros(1_500)).unwrap();
        assert_eq!(half, 99_998);
        assert!(older_than_bound(now, Duration::from_secs(100)).is_none());
    }
}
