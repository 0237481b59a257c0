//! The index side of [`RedisBuildStore`](super::RedisBuildStore): the
//! registry of instances, pages of each instance's last-access index,
//! listings and usage. Reads only; removing entries is `flush.rs`'s.

use std::collections::HashSet;

use redis::Value;
use strata_domain::{
    BuildCacheError, DigestHash, EntryMeta, InstanceName, StoreKind, StoreUsage, Timestamp,
};

use super::keys::Keys;
use super::reply::scored;
use super::scripts::SIZES;
use super::{BATCH, STORE, Shared, unavailable, unexpected_reply};

impl Shared {
    /// `[only]`, or every registered instance.
    pub(super) async fn instances(
        &self,
        only: Option<&InstanceName>,
    ) -> Result<Vec<InstanceName>, BuildCacheError> {
        if let Some(only) = only {
            return Ok(vec![only.clone()]);
        }
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&self.registry)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("list instances", &e))?;
        let mut out: Vec<InstanceName> = names
            .iter()
            .filter_map(|n| InstanceName::parse(n).ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// One page of `ZSCAN index cursor [MATCH pattern]`.
    pub(super) async fn scan_index(
        &self,
        keys: &Keys,
        cursor: u64,
        pattern: Option<&str>,
    ) -> Result<(u64, Vec<(DigestHash, Option<u64>)>), BuildCacheError> {
        let mut cmd = redis::cmd("ZSCAN");
        cmd.arg(&keys.index).arg(cursor);
        if let Some(p) = pattern {
            cmd.arg("MATCH").arg(p);
        }
        cmd.arg("COUNT").arg(BATCH);
        let reply: (u64, Vec<Value>) = cmd
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("scan index", &e))?;
        Ok((reply.0, scored(&reply.1)))
    }

    /// One page of the entries last accessed at or before `bound`.
    pub(super) async fn older_page(
        &self,
        keys: &Keys,
        bound: u64,
        offset: usize,
    ) -> Result<(usize, Vec<(DigestHash, Option<u64>)>), BuildCacheError> {
        let reply: Value = redis::cmd("ZRANGEBYSCORE")
            .arg(&keys.index)
            .arg("-inf")
            .arg(bound)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(offset)
            .arg(BATCH)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("range index", &e))?;
        let Value::Array(items) = reply else {
            return Err(unexpected_reply("ZRANGEBYSCORE", "not an array"));
        };
        // Members in the page, whether or not they parse (paging counts all).
        let members = if items.iter().all(|v| matches!(v, Value::Array(_))) {
            items.len()
        } else {
            items.len() / 2
        };
        Ok((members, scored(&items)))
    }

    pub(super) async fn list_kind(
        &self,
        kind: StoreKind,
        only: Option<&InstanceName>,
    ) -> Result<Vec<EntryMeta>, BuildCacheError> {
        let mut out = Vec::new();
        for instance in self.instances(only).await? {
            let keys = self.keys(kind, &instance);
            let mut seen = HashSet::new();
            let mut cursor = 0;
            loop {
                let (next, page) = self.scan_index(&keys, cursor, None).await?;
                let page: Vec<(DigestHash, u64)> = page
                    .into_iter()
                    .filter_map(|(h, last)| Some((h, last?)))
                    .filter(|(h, _)| seen.insert(*h))
                    .collect();
                if !page.is_empty() {
                    let mut invocation = SIZES.prepare_invoke();
                    for (h, _) in &page {
                        invocation.key(keys.entry(h));
                    }
                    let sizes: Vec<i64> = invocation
                        .invoke_async(&mut self.conn())
                        .await
                        .map_err(|e| unavailable("list", &e))?;
                    for ((hash, last), size) in page.into_iter().zip(sizes) {
                        // -1: indexed, but the value is gone.
                        if let Ok(size_bytes) = u64::try_from(size) {
                            out.push(EntryMeta {
                                instance: instance.clone(),
                                hash,
                                size_bytes,
                                last_access: Timestamp::from_millis(last),
                            });
                        }
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(out)
    }

    pub(super) async fn usage(&self, kind: StoreKind) -> Result<StoreUsage, BuildCacheError> {
        let (mut entries, mut bytes) = (0, 0);
        for instance in self.instances(None).await? {
            let keys = self.keys(kind, &instance);
            let (n, b): (u64, Option<i64>) = redis::pipe()
                .cmd("ZCARD")
                .arg(&keys.index)
                .cmd("GET")
                .arg(&keys.bytes)
                .query_async(&mut self.conn())
                .await
                .map_err(|e| unavailable("stats", &e))?;
            entries += n;
            bytes += b.map_or(0, |b| u64::try_from(b).unwrap_or(0));
        }
        Ok(self.counters.usage(STORE, kind, entries, bytes))
    }
}
