//! Header names and values that more than one module sets. It imports
//! nothing from its siblings, so any module may use it.

use actix_web::http::header::HeaderName;
use strata_domain::CacheEntry;

/// `X-Cache` on reads: [`HIT_L1`] (the first tier answered: the memory
/// tier of a stacked cache, or the only tier), [`HIT_L2`] (the shared tier
/// of a stacked cache answered) or [`MISS`].
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// `X-Cache` value: the first tier answered.
pub const HIT_L1: &str = "HIT-L1";
/// `X-Cache` value: the shared tier of a stacked cache answered.
pub const HIT_L2: &str = "HIT-L2";
/// `X-Cache` value: no tier held the entry.
pub const MISS: &str = "MISS";

/// `X-Cache-Stale: possibly` on an L1 hit served while the shared tier's
/// circuit breaker is open or the coherence channel is down (degraded
/// mode): other instances' writes may not have reached this copy.
pub const X_CACHE_STALE: HeaderName = HeaderName::from_static("x-cache-stale");

/// `X-Cache-Stale` value.
pub const POSSIBLY: &str = "possibly";

/// `X-Request-Id` on every response: the id [`request::observe`](crate::request::observe) gave the
/// request, also in the request's log lines and in 5xx problem bodies.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The strong `ETag` of an entry: its version in hex, quoted.
pub fn etag(entry: &CacheEntry) -> String {
    format!("\"{:x}\"", entry.version().get())
}
