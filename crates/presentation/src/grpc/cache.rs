//! `strata.cache.v1.Cache` (`proto/strata/cache/v1/cache.proto`, documented
//! field by field there): the REST cache API's operations over gRPC, on
//! the same [`CacheService`](strata_application::CacheService) calls and
//! the same parsers (`params`), so the names, keys, TTLs, tags, batch
//! sizes and roles allowed are exactly REST's, and a failure has the same
//! problem code (first in the status message).
//!
//! Audit, as over REST: invalidations by pattern or tags append an
//! `attempt` and an outcome record (the call fails UNAVAILABLE when the
//! audit log cannot be written, and then does not run), and a call
//! refused PERMISSION_DENIED by a missing grant is recorded as
//! `forbidden`. Records name the peer and carry `protocol=grpc` and the
//! RPC as `method`.

use std::net::SocketAddr;

use bytes::Bytes;
use strata_application::commands::delete_entry::DeleteEntry;
use strata_application::commands::invalidate_entries::InvalidateEntries;
use strata_application::commands::put_entries::{BatchItem, PutEntries};
use strata_application::commands::put_entry::PutEntry;
use strata_application::queries::get_cache_stats::GetCacheStats;
use strata_application::queries::get_entries::GetEntries;
use strata_application::queries::get_entry::GetEntry;
use strata_application::queries::list_caches::ListCaches;
use strata_domain::{
    AUDIT_ATTEMPT, AUDIT_OK, AuditAction, AuditRecord, CacheEntry, CacheName, CacheValue,
    ContentType, HitTier, InsertOutcome, InvalidationSelector, KeyPattern, Principal,
};
use tonic::{Request, Response, Status};

use super::auth::principal;
use crate::edge::config_dto::CacheConfigurationDto;
use crate::edge::error::ApiError;
use crate::edge::headers::etag;
use crate::edge::metrics::count_outcome;
use crate::edge::params::{cache_key, cache_name, tags, ttl};
use crate::edge::state::AppState;

/// The generated `strata.cache.v1` messages, server and client.
#[expect(missing_docs, reason = "generated code; documented in the .proto")]
pub mod pb {
    tonic::include_proto!("strata.cache.v1");

    /// The encoded descriptor set of `strata.cache.v1`, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/strata_cache_v1.bin"));
}

use pb::cache_server::Cache;

/// The cache API over `state`.
#[derive(Clone)]
pub struct CacheApi {
    state: AppState,
}

impl CacheApi {
    /// The API over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The default media type of a value set without one.
const OCTET_STREAM: &str = "application/octet-stream";

fn content_type(raw: &str, field: &str) -> Result<ContentType, ApiError> {
    ContentType::parse(if raw.is_empty() { OCTET_STREAM } else { raw })
        .map_err(|e| ApiError::invalid_parameter(e.to_string()).field(field.to_owned()))
}

impl CacheApi {
    fn entry(&self, entry: &CacheEntry) -> pb::Entry {
        let now = self.state.clock.now();
        pb::Entry {
            value: entry.value().bytes().to_vec(),
            content_type: entry.value().content_type().as_str().to_owned(),
            etag: etag(entry),
            ttl_remaining_secs: entry.fresh_ttl(now).map(|d| d.as_secs()),
            age_secs: now.saturating_since(entry.created_at()).as_secs(),
            tags: entry.tags().iter().map(|t| t.as_str().to_owned()).collect(),
        }
    }

    /// Appends `record` when there is an audit log.
    ///
    /// # Errors
    /// 503 `audit_unavailable` when it cannot be written.
    async fn append(&self, record: &AuditRecord) -> Result<(), ApiError> {
        match &self.state.audit {
            Some(log) => log
                .append(record)
                .await
                .map_err(ApiError::audit_unavailable),
            None => Ok(()),
        }
    }

    /// Records a `forbidden` refusal of `method` (best effort), then
    /// passes `result` on as a status.
    async fn finish<T: ValueBytes>(
        &self,
        call: &Call,
        cache: Option<&CacheName>,
        result: Result<T, ApiError>,
    ) -> Result<Response<T>, Status> {
        // Calls on entries count in the cache's trends, as HTTP ones do.
        if let Some(cache) = cache
            && T::ON_ENTRIES
        {
            let server_error = result.as_ref().is_err_and(|e| e.status().is_server_error());
            let read = result.as_ref().map_or(0, ValueBytes::value_bytes);
            crate::edge::metrics::record_grpc_traffic(
                &self.state.service,
                cache,
                call.started.elapsed(),
                server_error,
                read,
                call.written.load(std::sync::atomic::Ordering::Relaxed),
            );
        }
        if let Err(e) = &result
            && e.code() == "forbidden"
            && self.state.audit.is_some()
        {
            let record = call.record(
                &self.state,
                AuditAction::Forbidden,
                cache,
                Vec::new(),
                "forbidden",
            );
            if let Err(e) = self.append(&record).await {
                tracing::warn!(target: "strata::audit", error = %e, "cannot record a forbidden call");
            }
        }
        result.map(Response::new).map_err(Status::from)
    }
}

/// Who calls which RPC from where, since when, and the value bytes it
/// wrote (for the trends).
struct Call {
    principal: Principal,
    method: &'static str,
    peer: Option<SocketAddr>,
    started: std::time::Instant,
    written: std::sync::atomic::AtomicU64,
}

impl Call {
    fn of<T>(api: &CacheApi, request: &Request<T>, method: &'static str) -> Result<Self, Status> {
        Ok(Self {
            principal: principal(&api.state, request)?,
            method,
            peer: request.remote_addr(),
            started: std::time::Instant::now(),
            written: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn record(
        &self,
        state: &AppState,
        action: AuditAction,
        cache: Option<&CacheName>,
        mut params: Vec<(String, String)>,
        outcome: &str,
    ) -> AuditRecord {
        params.push(("protocol".to_owned(), "grpc".to_owned()));
        params.push(("method".to_owned(), self.method.to_owned()));
        AuditRecord {
            time: state.clock.now(),
            principal: self.principal.to_string(),
            action,
            cache: cache.map(|c| c.as_str().to_owned()),
            params,
            outcome: outcome.to_owned(),
            request_id: None,
            peer: self.peer.map(|p| p.to_string()),
        }
    }
}

fn batch_item(i: usize, e: pb::SetRequest) -> Result<BatchItem, ApiError> {
    let at = |err: ApiError| err.field(format!("entries[{i}]"));
    Ok(BatchItem {
        key: cache_key(&e.key).map_err(at)?,
        value: CacheValue::new(
            Bytes::from(e.value),
            content_type(&e.content_type, "content_type").map_err(at)?,
        ),
        ttl: e.ttl_secs.map(ttl).transpose().map_err(at)?,
        tags: tags(e.tags.iter().map(String::as_str)).map_err(at)?,
    })
}

/// What a response says for the trends: whether its RPC works on entries
/// (counted as a request of the cache), and the value bytes it sends.
trait ValueBytes {
    /// Whether the RPC reads or writes entries.
    const ON_ENTRIES: bool = false;
    /// Value bytes sent.
    fn value_bytes(&self) -> u64 {
        0
    }
}

impl ValueBytes for pb::GetResponse {
    const ON_ENTRIES: bool = true;
    fn value_bytes(&self) -> u64 {
        self.entry.as_ref().map_or(0, |e| e.value.len() as u64)
    }
}

impl ValueBytes for pb::BatchGetResponse {
    const ON_ENTRIES: bool = true;
    fn value_bytes(&self) -> u64 {
        self.results
            .iter()
            .filter_map(|r| r.entry.as_ref())
            .map(|e| e.value.len() as u64)
            .sum()
    }
}

impl ValueBytes for pb::SetResponse {
    const ON_ENTRIES: bool = true;
}

impl ValueBytes for pb::BatchSetResponse {
    const ON_ENTRIES: bool = true;
}

impl ValueBytes for pb::DeleteResponse {
    const ON_ENTRIES: bool = true;
}

impl ValueBytes for pb::InvalidateResponse {}
impl ValueBytes for pb::StatsResponse {}
impl ValueBytes for pb::ListCachesResponse {}

#[tonic::async_trait]
impl Cache for CacheApi {
    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::GetResponse>, Status> {
        let call = Call::of(self, &request, "strata.cache.v1.Cache/Get")?;
        let req = request.into_inner();
        let cache = cache_name(&req.cache).map_err(Status::from)?;
        let result = async {
            let key = cache_key(&req.key)?;
            let result = self
                .state
                .service
                .get(GetEntry {
                    principal: call.principal.clone(),
                    cache: cache.clone(),
                    key,
                })
                .await;
            if result.is_err() {
                crate::edge::metrics::count_error(&self.state.service, &cache, "get");
            }
            Ok(match result? {
                None => pb::GetResponse {
                    found: false,
                    entry: None,
                    served_by: pb::ServedBy::Miss as i32,
                    possibly_stale: false,
                },
                Some(lookup) => pb::GetResponse {
                    found: true,
                    entry: Some(self.entry(&lookup.entry)),
                    served_by: match lookup.tier {
                        HitTier::L1 => pb::ServedBy::HitL1,
                        HitTier::L2 => pb::ServedBy::HitL2,
                    } as i32,
                    possibly_stale: lookup.possibly_stale,
                },
            })
        }
        .await;
        self.finish(&call, Some(&cache), result).await
    }

    async fn set(
        &self,
        request: Request<pb::SetRequest>,
    ) -> Result<Response<pb::SetResponse>, Status> {
        let call = Call::of(self, &request, "strata.cache.v1.Cache/Set")?;
        let req = request.into_inner();
        let cache = cache_name(&req.cache).map_err(Status::from)?;
        let result = async {
            let key = cache_key(&req.key)?;
            let ttl = req.ttl_secs.map(ttl).transpose()?;
            let tags = tags(req.tags.iter().map(String::as_str))?;
            call.written
                .store(req.value.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let value = CacheValue::new(
                Bytes::from(req.value),
                content_type(&req.content_type, "content_type")?,
            );
            let result = self
                .state
                .service
                .put(PutEntry {
                    principal: call.principal.clone(),
                    cache: cache.clone(),
                    key,
                    value,
                    ttl,
                    tags,
                    lease: None,
                })
                .await;
            count_outcome(&self.state.service, &cache, "put", &result);
            let out = result?;
            Ok(pb::SetResponse {
                created: out.outcome == InsertOutcome::Created,
                etag: etag(&out.entry),
            })
        }
        .await;
        self.finish(&call, Some(&cache), result).await
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let call = Call::of(self, &request, "strata.cache.v1.Cache/Delete")?;
        let req = request.into_inner();
        let cache = cache_name(&req.cache).map_err(Status::from)?;
        let result = async {
            let key = cache_key(&req.key)?;
            let result = self
                .state
                .service
                .delete(DeleteEntry {
                    principal: call.principal.clone(),
                    cache: cache.clone(),
                    key,
                })
                .await;
            count_outcome(&self.state.service, &cache, "delete", &result);
            Ok(pb::DeleteResponse { deleted: result? })
        }
        .await;
        self.finish(&call, Some(&cache), result).await
    }

    async fn batch_get(
        &self,
        request: Request<pb::BatchGetRequest>,
    ) -> Result<Response<pb::BatchGetResponse>, Status> {
        let call = Call::of(self, &request, "strata.cache.v1.Cache/BatchGet")?;
        let req = request.into_inner();
        let cache = cache_name(&req.cache).map_err(Status::from)?;
        let result = async {
            let keys = req
                .keys
                .iter()
                .map(|k| cache_key(k))
                .collect::<Result<Vec<_>, _>>()?;
            let result = self
                .state
                .service
                .get_many(GetEntries {
                    principal: call.principal.clone(),
                    cache: cache.clone(),
                    keys,
                })
                .await;
            count_outcome(&self.state.service, &cache, "batch_get", &result);
            Ok(pb::BatchGetResponse {
                results: result?
                    .results
                    .into_iter()
                    .map(|(key, entry)| pb::BatchGetResult {
                        key: key.as_str().to_owned(),
                        found: entry.is_some(),
                        entry: entry.as_ref().map(|e| self.entry(e)),
                    })
                    .collect(),
            })
        }
        .await;
        self.finish(&call, Some(&cache), result).await
    }

    async fn batch_set(
        &self,
        request: Request<pb::BatchSetRequest>,
    ) -> Result<Response<pb::BatchSetResponse>, Status> {
        let call = Call::of(self, &request, "strata.cache.v1.Cache/BatchSet")?;
        let req = request.into_inner();
        let cache = cache_name(&req.cache).map_err(Status::from)?;
        let result = async {
            let items = req
                .entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| batch_item(i, e))
                .collect::<Result<Vec<_>, _>>()?;
            let keys: Vec<String> = items.iter().map(|i| i.key.as_str().to_owned()).collect();
            call.written.store(
                items.iter().map(|i| i.value.len() as u64).sum(),
                std::sync::atomic::Ordering::Relaxed,
            );
            let result = self
                .state
                .service
                .put_many(PutEntries {
                    principal: call.principal.clone(),
                    cache: cache.clone(),
                    items,
                })
                .await;
            count_outcome(&self.state.service, &cache, "batch_put", &result);
            Ok(pb::BatchSetResponse {
                results: keys
                    .into_iter()
                    .zip(result?.outcomes)
                    .map(|(key, outcome)| pb::BatchSetResult {
                        key,
                        created: outcome == InsertOutcome::Created,
                    })
                    .collect(),
            })
        }
        .await;
        self.finish(&call, Some(&cache), result).await
    }

    async fn invalidate(
        &self,
        request: Request<pb::InvalidateRequest>,
    ) -> Result<Response<pb::InvalidateResponse>, Status> {
        use pb::invalidate_request::Selector;
        let call = Call::of(self, &request, "strata.cache.v1.Cache/Invalidate")?;
        let req = request.into_inner();
        let cache = cache_name(&req.cache).map_err(Status::from)?;
        let result = async {
            let selector = match req.selector {
                Some(Selector::Keys(list)) => InvalidationSelector::Keys(
                    list.keys
                        .iter()
                        .map(|k| cache_key(k))
                        .collect::<Result<_, _>>()?,
                ),
                Some(Selector::Pattern(p)) => InvalidationSelector::Pattern(
                    KeyPattern::parse(&p)
                        .map_err(|e| ApiError::invalid_parameter(e.to_string()).field("pattern"))?,
                ),
                Some(Selector::Tags(list)) => {
                    InvalidationSelector::Tags(tags(list.tags.iter().map(String::as_str))?)
                }
                None => {
                    return Err(ApiError::invalid_body(
                        "give exactly one of keys, pattern and tags",
                    ));
                }
            };
            let audited = match &selector {
                InvalidationSelector::Keys(_) => None,
                InvalidationSelector::Pattern(p) => Some(("pattern", p.as_str().to_owned())),
                InvalidationSelector::Tags(t) => Some((
                    "tags",
                    t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","),
                )),
            };
            let params: Vec<(String, String)> = audited
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            if audited.is_some() {
                let record = call.record(
                    &self.state,
                    AuditAction::Invalidate,
                    Some(&cache),
                    params.clone(),
                    AUDIT_ATTEMPT,
                );
                self.append(&record).await?;
            }
            let result = self
                .state
                .service
                .invalidate(InvalidateEntries {
                    principal: call.principal.clone(),
                    cache: cache.clone(),
                    selector,
                    dry_run: req.dry_run,
                    confirm: req.confirm.clone(),
                })
                .await;
            count_outcome(&self.state.service, &cache, "invalidate", &result);
            let result = result.map_err(ApiError::from);
            if audited.is_some() {
                let outcome = match &result {
                    Ok(_) => AUDIT_OK,
                    Err(e) => e.code(),
                };
                let record = call.record(
                    &self.state,
                    AuditAction::Invalidate,
                    Some(&cache),
                    params,
                    outcome,
                );
                self.append(&record).await?;
            }
            let count = result?;
            Ok(pb::InvalidateResponse {
                invalidated: count.exact(),
                counted: count.exact().is_some(),
            })
        }
        .await;
        self.finish(&call, Some(&cache), result).await
    }

    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let call = Call::of(self, &request, "strata.cache.v1.Cache/Stats")?;
        let req = request.into_inner();
        let cache = cache_name(&req.cache).map_err(Status::from)?;
        let result = async {
            let s = self
                .state
                .service
                .stats(GetCacheStats {
                    principal: call.principal.clone(),
                    cache: cache.clone(),
                })
                .await?;
            Ok(pb::StatsResponse {
                cache: s.cache.as_str().to_owned(),
                backend: s.backend,
                hits: s.counters.hits,
                misses: s.counters.misses,
                hit_ratio: s.hit_ratio,
                inserts: s.counters.inserts,
                updates: s.counters.updates,
                removals: s.counters.removals,
                evictions_capacity: s.store.evictions_capacity,
                evictions_expired: s.store.expirations,
                entries: s.store.entries,
                bytes: s.store.bytes,
                tiers: s
                    .tiers
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| pb::TierStats {
                        level: format!("L{}", i + 1),
                        tier: t.tier,
                        hits: t.hits,
                        misses: t.misses,
                        entries: t.store.entries,
                        bytes: t.store.bytes,
                        evictions_capacity: t.store.evictions_capacity,
                        evictions_expired: t.store.expirations,
                    })
                    .collect(),
            })
        }
        .await;
        self.finish(&call, Some(&cache), result).await
    }

    async fn list_caches(
        &self,
        request: Request<pb::ListCachesRequest>,
    ) -> Result<Response<pb::ListCachesResponse>, Status> {
        let call = Call::of(self, &request, "strata.cache.v1.Cache/ListCaches")?;
        let result = async {
            let caches = self
                .state
                .service
                .list(ListCaches {
                    principal: call.principal.clone(),
                })
                .await
                .into_iter()
                .map(|c| {
                    let dto = CacheConfigurationDto::from(&c.config);
                    pb::CacheSummary {
                        name: c.config.name().as_str().to_owned(),
                        backend: c.backend,
                        eviction: dto.eviction.clone().unwrap_or_default(),
                        max_entries: dto.max_entries,
                        max_bytes: dto.max_bytes,
                        default_ttl_secs: dto.default_ttl,
                        max_value_bytes: dto.max_value_bytes,
                        configuration_json: serde_json::to_string(&dto).unwrap_or_default(),
                    }
                })
                .collect();
            Ok(pb::ListCachesResponse { caches })
        }
        .await;
        self.finish(&call, None, result).await
    }
}
