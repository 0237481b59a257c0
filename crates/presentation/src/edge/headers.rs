//! Header names and values that more than one module sets. It imports
//! nothing from its siblings, so any module may use it.

use actix_web::http::header::{HeaderName, HeaderValue};
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

/// `X-Cache` value: a stale value served within `stale_while_revalidate`
/// (RFC 5861) while the lease holder refreshes it.
pub const STALE: &str = "STALE";
/// `X-Cache` value: an L1 copy past its freshness served within
/// `stale_if_error` (RFC 5861) because the shared tier failed.
pub const STALE_L1: &str = "STALE-L1";

/// `X-Cache-Lease: <token>`: on a GET, the key's lease given to this
/// client (a miss to fill, or a stale value to refresh); on a PUT, the
/// lease the write fills (issue 27, section 3; docs/resilience.md).
pub const X_CACHE_LEASE: HeaderName = HeaderName::from_static("x-cache-lease");

/// `Strata-Retry-After-Ms` on `lease_pending`: when to read again, in
/// milliseconds (`Retry-After` has whole seconds only).
pub const STRATA_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("strata-retry-after-ms");

/// `Cache-Status` (RFC 9211) on stale answers:
/// `Strata; fwd=stale; detail=expired` or `detail=backend-unavailable`.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// `X-Cache-Stale: possibly` on an L1 hit served while the shared tier's
/// circuit breaker is open or the coherence channel is down (degraded
/// mode): other instances' writes may not have reached this copy.
pub const X_CACHE_STALE: HeaderName = HeaderName::from_static("x-cache-stale");

/// `X-Cache-Stale` value.
pub const POSSIBLY: &str = "possibly";

/// `X-Request-Id` on every response: the id [`request::observe`](crate::http::request::observe) gave the
/// request, also in the request's log lines and in 5xx problem bodies.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The strong `ETag` of an entry: its version in hex, quoted.
pub fn etag(entry: &CacheEntry) -> String {
    EntityTag::of(entry).as_str().to_owned()
}

/// [`etag`] on the stack (at most 16 hex digits and two quotes), for the
/// hot read and write paths: no formatting machinery, no allocation until
/// it becomes a header value.
#[derive(Clone, Copy)]
pub struct EntityTag {
    buf: [u8; 18],
    len: u8,
}

impl EntityTag {
    /// The tag of `entry`'s version.
    pub fn of(entry: &CacheEntry) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let version = entry.version().get();
        let digits = (16 - version.leading_zeros() as usize / 4).max(1);
        let mut buf = [b'"'; 18];
        for i in 0..digits {
            buf[digits - i] = HEX[((version >> (4 * i)) & 0xF) as usize];
        }
        Self {
            buf,
            len: (digits + 2) as u8,
        }
    }

    /// The quoted tag, e.g. `"1a"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII quotes and hex digits are ever written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The tag as an `ETag` header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(self.as_str()).unwrap_or(HeaderValue::from_static("\"0\""))
    }
}

/// `Cache-Control: max-age=<secs>` without the formatting machinery.
pub fn max_age(secs: u64) -> HeaderValue {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(secs);
    let mut buf = [0u8; 28];
    buf[..8].copy_from_slice(b"max-age=");
    buf[8..8 + digits.len()].copy_from_slice(digits.as_bytes());
    HeaderValue::from_bytes(&buf[..8 + digits.len()])
        .unwrap_or(HeaderValue::from_static("max-age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_spells_the_seconds() {
        assert_eq!(max_age(0), "max-age=0");
        assert_eq!(max_age(u64::MAX), "max-age=18446744073709551615");
    }
}
