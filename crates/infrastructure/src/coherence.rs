//! PLACEHOLDER: replaced by the coherence branch at merge.
#![allow(missing_docs, unreachable_pub, dead_code)]
use std::sync::{Arc, Weak};

use strata_domain::{CacheKey, CacheName, KeyPattern, StoreError, Tag};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    Keys(Vec<CacheKey>),
    Pattern(KeyPattern),
    Tags(Vec<Tag>),
    Flush,
    Reconfigure,
}

#[async_trait::async_trait]
pub trait CoherenceListener: Send + Sync + 'static {
    async fn invalidate(&self, invalidation: &Invalidation);
    async fn clear(&self);
}

pub struct CoherenceBus;
impl CoherenceBus {
    pub async fn connect(_url: &str, _channel: &str, _instance_id: &str) -> Result<Arc<Self>, StoreError> {
        Ok(Arc::new(Self))
    }
    pub fn instance_id(&self) -> &str { "" }
    pub fn register(&self, _cache: &CacheName, _listener: Weak<dyn CoherenceListener>) {}
    pub async fn publish(&self, _cache: &CacheName, _invalidation: Invalidation) -> Result<(), StoreError> { Ok(()) }
    pub fn is_subscribed(&self) -> bool { true }
    pub fn resubscribe_clears(&self) -> u64 { 0 }
    pub fn received(&self) -> u64 { 0 }
}
