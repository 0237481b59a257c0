//! Request parameters to domain types: cache names, keys (from a path or a
//! body), TTLs, tags and batch sizes, each failure as a 400 problem.
//!
//! A key in a path is percent-decoded exactly once (RFC 3986 section 2.1):
//! `a%2Fb` is the key `a/b`, `100%25` is `100%`, `caf%C3%A9` is `café`, and
//! `+` is a literal plus. It is read from the raw request path, because the
//! router decodes some octets and leaves others (`%2F`, `%25`, `%2B`)
//! encoded. A key in a JSON or MessagePack body is taken as written.
//!
//! Query strings are checked as JSON bodies are ([`check_query`]): a
//! parameter the route does not take (`?tll=60`, `?tag=`, `?foo=1`) is 400
//! `invalid_parameter` naming it and the ones the route accepts, instead of
//! being ignored. The health probes, `/metrics`, `/openapi.json` and
//! `/docs` do not take [`Acting`](crate::edge::auth::Acting) and ignore
//! query strings, so load balancers and scrapers may add their own.

use actix_web::HttpRequest;
use actix_web::http::Method;
use percent_encoding::percent_decode_str;
use strata_domain::{CacheKey, CacheName, Tag, Ttl};

use crate::edge::error::ApiError;

/// Parses the `{cache}` path segment.
///
/// # Errors
/// 400 `invalid_parameter` naming `cache`.
pub(crate) fn cache_name(raw: &str) -> Result<CacheName, ApiError> {
    CacheName::parse(raw).map_err(|e| ApiError::invalid_parameter(e.to_string()).field("cache"))
}

/// Parses a key as written (in a request body).
///
/// # Errors
/// 400 `invalid_key`.
pub(crate) fn cache_key(raw: &str) -> Result<CacheKey, ApiError> {
    CacheKey::parse(raw).map_err(|e| ApiError::invalid_key(e.to_string()).field("key"))
}

/// Percent-decodes a path segment once.
///
/// # Errors
/// 400 `invalid_key` when a `%` is not followed by two hex digits or the
/// decoded octets are not UTF-8.
pub(crate) fn decode_path_key(raw: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if malformed {
        return Err(ApiError::invalid_key(
            "a % in a key must start an escape of two hex digits (write % as %25)",
        )
        .field("key"));
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| {
            ApiError::invalid_key("the percent-decoded key is not valid UTF-8").field("key")
        })
}

/// The `{cache}` and `{key}` of `/v1/caches/{cache}/entries/{key}`, the key
/// percent-decoded once from the raw path.
///
/// # Errors
/// 400 `invalid_parameter` (cache) or `invalid_key`.
pub(crate) fn entry_path(req: &HttpRequest) -> Result<(CacheName, CacheKey), ApiError> {
    let info = req.match_info();
    let cache = cache_name(info.get("cache").unwrap_or_default())?;
    // The router matched `/v1/caches/{cache}/entries/{key:.+}`; the raw path
    // has the same segments, since decoding never makes a `/`.
    let raw_key = req
        .uri()
        .path()
        .strip_prefix("/v1/caches/")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(_, rest)| rest.strip_prefix("entries/"))
        .unwrap_or_default();
    let key = cache_key(&decode_path_key(raw_key)?)?;
    Ok((cache, key))
}

/// Parses a TTL in seconds.
///
/// # Errors
/// 400 `invalid_ttl`.
pub(crate) fn ttl(secs: u64) -> Result<Ttl, ApiError> {
    Ttl::from_secs(secs).map_err(|e| ApiError::invalid_ttl(e.to_string()))
}

/// Parses tags.
///
/// # Errors
/// 400 `invalid_parameter` naming `tags`.
pub(crate) fn tags<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<Tag>, ApiError> {
    raw.into_iter()
        .map(|t| {
            Tag::parse(t).map_err(|e| ApiError::invalid_parameter(e.to_string()).field("tags"))
        })
        .collect()
}

/// The query parameters a resource's routes take, by method: resource
/// data, set where the routes are built (`("PUT", PutQuery::PARAMS)`). A
/// resource without it, or a method it does not list, takes none.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AcceptedQuery(pub(crate) &'static [(&'static str, &'static [&'static str])]);

impl AcceptedQuery {
    /// The parameters `method` takes here.
    fn for_method(&self, method: &Method) -> &'static [&'static str] {
        self.0
            .iter()
            .find(|(m, _)| *m == method.as_str())
            .map_or(&[], |(_, params)| params)
    }
}

/// Refuses a query parameter the request's route does not take
/// ([`AcceptedQuery`]). The names are compared after
/// `application/x-www-form-urlencoded` decoding (WHATWG URL standard,
/// section 5.1), as `web::Query` decodes them; values are not looked at.
///
/// # Errors
/// 400 `invalid_parameter` naming the first unknown parameter (its
/// `field`) and the accepted ones.
pub(crate) fn check_query(req: &HttpRequest) -> Result<(), ApiError> {
    let query = req.query_string();
    if query.is_empty() {
        return Ok(());
    }
    let accepted = req
        .app_data::<AcceptedQuery>()
        .map_or(&[][..], |a| a.for_method(req.method()));
    let Some((unknown, _)) = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| !accepted.contains(&name.as_ref()))
    else {
        return Ok(());
    };
    Err(unknown_query_parameter(&unknown, accepted))
}

/// 400 `invalid_parameter`: `name` is not one of `accepted`.
fn unknown_query_parameter(name: &str, accepted: &[&str]) -> ApiError {
    let takes = if accepted.is_empty() {
        "this operation takes no query parameters".to_owned()
    } else {
        let list: Vec<String> = accepted.iter().map(|p| format!("`{p}`")).collect();
        format!("this operation takes {}", list.join(", "))
    };
    // Debug quoting escapes whatever the caller wrote (control characters).
    ApiError::invalid_parameter(format!("unknown query parameter {name:?}; {takes}")).field(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_are_decoded_exactly_once() {
        for (raw, key) in [
            ("plain", "plain"),
            ("a%2Fb", "a/b"),
            ("a/b", "a/b"),
            ("100%25", "100%"),
            ("%2541", "%41"),
            ("a+b", "a+b"),
            ("a%2Bb", "a+b"),
            ("q%3Fx%23y", "q?x#y"),
            ("caf%C3%A9", "café"),
            ("%E6%97%A5%E6%9C%AC", "日本"),
        ] {
            assert_eq!(decode_path_key(raw).unwrap(), key, "{raw}");
        }
    }

    #[test]
    fn malformed_escapes_and_non_utf8_are_invalid_keys() {
        for raw in ["a%", "a%2", "a%zz", "%C3", "%FF"] {
            assert_eq!(
                decode_path_key(raw).unwrap_err().code(),
                "invalid_key",
                "{raw}"
            );
        }
    }

    #[test]
    fn each_query_struct_takes_the_parameters_it_declares() {
        use actix_web::web::Query;

        use crate::http::{audit::AuditParams, entries::PutQuery, export_import::ImportParams};
        for name in PutQuery::PARAMS {
            Query::<PutQuery>::from_query(&format!("{name}=1")).expect(name);
        }
        for name in ImportParams::PARAMS {
            Query::<ImportParams>::from_query(&format!("{name}=skip")).expect(name);
        }
        for name in AuditParams::PARAMS {
            Query::<AuditParams>::from_query(&format!("{name}=1")).expect(name);
        }
        // And nothing else: a field added to a struct without its name in
        // PARAMS would be refused by `check_query` before the handler.
        for e in [
            Query::<PutQuery>::from_query("zz=1")
                .unwrap_err()
                .to_string(),
            Query::<ImportParams>::from_query("zz=1")
                .unwrap_err()
                .to_string(),
            Query::<AuditParams>::from_query("zz=1")
                .unwrap_err()
                .to_string(),
        ] {
            assert!(e.contains("unknown field"), "{e}");
        }
        let expected = |e: String| e.matches('`').count() / 2 - 1;
        assert_eq!(
            expected(
                Query::<PutQuery>::from_query("zz=1")
                    .unwrap_err()
                    .to_string()
            ),
            PutQuery::PARAMS.len()
        );
        assert_eq!(
            expected(
                Query::<ImportParams>::from_query("zz=1")
                    .unwrap_err()
                    .to_string()
            ),
            ImportParams::PARAMS.len()
        );
        assert_eq!(
            expected(
                Query::<AuditParams>::from_query("zz=1")
                    .unwrap_err()
                    .to_string()
            ),
            AuditParams::PARAMS.len()
        );
    }
}
