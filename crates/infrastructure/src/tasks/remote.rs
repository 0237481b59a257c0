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
    /// A client of `base` (without a trailing `/`).
    ///
    /// # Errors
    /// [`RemoteError::Unavailable`] when the HTTP client cannot be built.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Self, RemoteError> {
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
