//! [`HttpRemoteCache`]: the remote task cache over `/ac` and `/cas`.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::StatusCode;
use strata_application::tasks::{RemoteError, RemoteTaskCache};
use strata_domain::tasks::ContentHasher as _;
use strata_domain::{Digest, DigestHash};

use super::Sha2Hasher;

/// Attempts per upload (the first and two retries).
const UPLOAD_ATTEMPTS: u32 = 3;
/// Backoff before the first retry; doubled for each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// bazel-remote's HTTP protocol, as Strata serves it: `GET`/`PUT`
/// `<base>/ac/<sha256>` and `<base>/cas/<sha256>`, where `base` may end in
/// an instance prefix (`http://cache:8080/team-a`). A token goes in
/// `Authorization: Bearer`.
///
/// - Every request has `timeout` (connect included): a slow remote is an
///   unavailable one.
/// - 404 is a miss; 401, 403, 413 and other 4xx are
///   [`RemoteError::Refused`] (not retried); connection errors, timeouts
///   and 5xx are [`RemoteError::Unavailable`], retried on uploads
///   ([`UPLOAD_ATTEMPTS`] attempts, backoff from 100 ms, doubling).
/// - Downloaded blobs are verified against their digest; a mismatch is a
///   miss.
#[derive(Clone, Debug)]
pub struct HttpRemoteCache {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl HttpRemoteCache {
    /// A client of `base`: an `http://` or `https://` URL with a host,
    /// perhaps an instance prefix, without a query (a trailing `/` is
    /// dropped).
    ///
    /// # Errors
    /// [`RemoteError::Misconfigured`] naming what is wrong with `base` (no
    /// scheme, another scheme, no host, a query or fragment);
    /// [`RemoteError::Unavailable`] when the HTTP client cannot be built.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Self, RemoteError> {
        check_url(base)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| RemoteError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        kind: &str,
        hash: &DigestHash,
    ) -> reqwest::RequestBuilder {
        let r = self
            .client
            .request(method, format!("{}/{kind}/{hash}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn get(&self, kind: &str, hash: &DigestHash) -> Result<Option<Bytes>, RemoteError> {
        let r = self
            .request(reqwest::Method::GET, kind, hash)
            .send()
            .await
            .map_err(unavailable)?;
        match r.status() {
            StatusCode::OK => Ok(Some(r.bytes().await.map_err(unavailable)?)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(status_error(s, kind)),
        }
    }

    async fn put(&self, kind: &str, hash: &DigestHash, body: Bytes) -> Result<(), RemoteError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let result = match self
                .request(reqwest::Method::PUT, kind, hash)
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(status_error(r.status(), kind)),
                Err(e) => Err(unavailable(e)),
            };
            match result {
                Err(RemoteError::Unavailable(_)) if attempt < UPLOAD_ATTEMPTS => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// What is wrong with a remote URL, in words a user can act on.
fn check_url(base: &str) -> Result<(), RemoteError> {
    let wrong = |why: String| RemoteError::Misconfigured(format!("the remote URL {base:?} {why}"));
    let example = |rest: &str| format!("(e.g. http://{rest} or https://{rest})");
    let Some((scheme, rest)) = base.split_once("://") else {
        return Err(wrong(format!(
            "has no scheme: it must start with http:// or https:// {}",
            example(base.trim_start_matches('/'))
        )));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(wrong(format!(
            "has the scheme {scheme:?}: it must be http or https {}",
            example(rest)
        )));
    }
    let url = reqwest::Url::parse(base).map_err(|e| wrong(format!("is not a URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(wrong("has no host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(wrong(
            "has a query or fragment: give the server and an optional instance prefix only"
                .to_owned(),
        ));
    }
    Ok(())
}

fn unavailable(e: reqwest::Error) -> RemoteError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    RemoteError::Unavailable(format!("{what}: {e}"))
}

fn status_error(s: StatusCode, kind: &str) -> RemoteError {
    if s.is_server_error() {
        RemoteError::Unavailable(format!("{kind}: HTTP {s}"))
    } else {
        RemoteError::Refused(format!("{kind}: HTTP {s}"))
    }
}

#[async_trait]
impl RemoteTaskCache for HttpRemoteCache {
    async fn get_action(&self, key: &DigestHash) -> Result<Option<Bytes>, RemoteError> {
        self.get("ac", key).await
    }

    async fn get_blob(&self, digest: &Digest) -> Result<Option<Bytes>, RemoteError> {
        if digest.is_empty_blob() {
            return Ok(Some(Bytes::new()));
        }
        let Some(bytes) = self.get("cas", digest.hash()).await? else {
            return Ok(None);
        };
        let ok = bytes.len() as u64 == digest.size_bytes()
            && Sha2Hasher.sha256(&bytes) == *digest.hash();
        Ok(ok.then_some(bytes))
    }

    /// `HEAD <base>/cas/<sha256>`: 200 with the blob's size is a yes.
    async fn has_blob(&self, digest: &Digest) -> Result<bool, RemoteError> {
        if digest.is_empty_blob() {
            return Ok(true);
        }
        let r = self
            .request(reqwest::Method::HEAD, "cas", digest.hash())
            .send()
            .await
            .map_err(unavailable)?;
        match r.status() {
            StatusCode::OK => Ok(r
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .is_none_or(|len| len == digest.size_bytes())),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(status_error(s, "cas")),
        }
    }

    async fn put_blob(&self, digest: Digest, content: Bytes) -> Result<(), RemoteError> {
        if digest.is_empty_blob() {
            return Ok(());
        }
        self.put("cas", digest.hash(), content).await
    }

    async fn put_action(&self, key: DigestHash, value: Bytes) -> Result<(), RemoteError> {
        self.put("ac", &key, value).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(url: &str) -> String {
        match HttpRemoteCache::new(url, None, Duration::from_secs(1)) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_url_without_a_usable_scheme_says_what_is_wrong() {
        let e = error("127.0.0.1:8080");
        assert!(
            e.contains("has no scheme") && e.contains("http://127.0.0.1:8080"),
            "{e}"
        );
        // `localhost:8080` parses as a URL of scheme `localhost`.
        let e = error("localhost:8080");
        assert!(e.contains("has no scheme"), "{e}");
        let e = error("ftp://cache:21");
        assert!(
            e.contains("\"ftp\"") && e.contains("http://cache:21"),
            "{e}"
        );
        assert!(error("http://").contains("host"), "{}", error("http://"));
        assert!(error("http://cache:8080/team-a?x=1").contains("query"));
        // Valid ones (checked without building a client, which needs a
        // process-wide TLS provider).
        assert!(check_url("http://cache:8080/team-a/").is_ok());
        assert!(check_url("HTTPS://cache").is_ok());
    }
}
