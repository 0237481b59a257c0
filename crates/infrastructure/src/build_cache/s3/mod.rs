//! [`S3BuildStore`]: the object-store tier of the build cache, the AC and
//! CAS as objects in an S3-compatible bucket, shared by every Strata
//! instance pointed at it (through the `object_store` crate's S3 client).
//!
//! - Keys: `keys.rs` (`<prefix>/{ac,cas}/!<instance>/<64 hex>`).
//! - Uploads: `writer.rs`, verified before they become visible (one `PUT`
//!   up to a part, else a multipart upload completed only after the
//!   digest checks out).
//! - Existence: `existence.rs`, a cache of the blobs known present, which
//!   `contains`, `find_missing` and `HEAD` consult before asking the
//!   bucket; any miss drops the entry. Requests to the bucket for
//!   existence checks go through one semaphore per store
//!   ([`S3BuildStoreBuilder::concurrency`]).
//! - `credentials.rs`: the AWS shared-credentials file, never logged.
//! - `ports.rs`: the [`ActionCache`] and [`ContentStore`] ports.
//!
//! Other clouds are out of scope until they are tested; the wing knows
//! nothing of HTTP routes or of the local tiers.
//!
//! [`ActionCache`]: strata_domain::ActionCache
//! [`ContentStore`]: strata_domain::ContentStore

mod credentials;
mod existence;
mod index;
mod keys;
mod ports;
mod reader;
mod sweep;
mod writer;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use secrecy::ExposeSecret;
use strata_domain::{BuildCacheError, Clock};
use tokio::sync::Semaphore;

pub use self::credentials::S3Credentials;
use self::existence::ExistenceCache;
pub use self::index::S3AccessIndex;
use self::keys::ObjectKeys;
pub use self::sweep::S3_LOW_WATERMARK_PERCENT;
use super::DEFAULT_MAX_BLOB_BYTES;
use super::key::HitCounters;
use crate::clock::SystemClock;

/// The store's name in reports, stats and metrics.
const STORE: &str = "s3";

/// Default size of a multipart upload's parts, in bytes: 8 MiB (S3 needs
/// at least 5 MiB for every part but the last). A blob up to this size is
/// one `PUT`.
pub const DEFAULT_S3_PART_BYTES: usize = 8 << 20;

/// Default bound on the existence checks (`HEAD`s) in flight to the
/// bucket at once, per store.
pub const DEFAULT_S3_CONCURRENCY: usize = 64;

/// Default time a blob stays in the existence cache after it was seen,
/// in seconds: 300. It bounds how long an instance believes in a blob
/// that another instance's sweeper removed (a read then misses and drops
/// the entry at once).
pub const DEFAULT_S3_EXISTENCE_TTL_SECS: u64 = 300;

/// Default capacity of the existence cache, in entries: 1,000,000
/// (about 100 MB at most).
pub const DEFAULT_S3_EXISTENCE_ENTRIES: u64 = 1_000_000;

/// What the reader, the writer and both ports share.
pub(crate) struct S3Shared {
    store: Arc<dyn ObjectStore>,
    keys: ObjectKeys,
    part_bytes: usize,
    max_blob_bytes: u64,
    exists: ExistenceCache,
    permits: Semaphore,
    concurrency: usize,
    clock: Arc<dyn Clock>,
    counters: HitCounters,
    index: Option<S3AccessIndex>,
    max_bytes: Option<u64>,
    sweeping: AtomicBool,
    /// The last listing's entries and bytes of the AC (`[0]`) and the
    /// CAS (`[1]`), and when it was taken (see [`USAGE_MAX_AGE`]).
    listed: std::sync::Mutex<[Option<(std::time::Instant, u64, u64)>; 2]>,
}

/// How old the s3 tier's entries and bytes in `stats` may be: listing a
/// bucket costs one request per 1,000 objects, and the trends sample
/// `stats` every 10 s, so a listing is reused for up to a minute. This
/// instance's own uploads and flushes make the next `stats` list again;
/// other instances' show within the minute.
pub(crate) const USAGE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

impl S3Shared {
    /// The port error for an `object_store` error: every failure of the
    /// bucket other than a missing object is an outage (HTTP 503, gRPC
    /// UNAVAILABLE); the message keeps the context and the cause.
    fn error(&self, context: &str, e: object_store::Error) -> BuildCacheError {
        BuildCacheError::Unavailable {
            store: STORE.to_owned(),
            source: format!("{context}: {e}").into(),
        }
    }

    /// Records a committed upload: the blob exists now, and was just
    /// accessed.
    async fn uploaded(self: &Arc<Self>, path: &Path, size_bytes: u64) {
        self.exists.insert(path, size_bytes).await;
        self.touch(path, size_bytes).await;
        self.changed();
    }

    /// Forgets the listings `stats` reuses: this instance changed the
    /// bucket.
    fn changed(&self) {
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = [None, None];
    }
}

/// The AC and CAS in an S3-compatible bucket (see the module docs).
///
/// ```no_run
/// use strata_infrastructure::S3BuildStore;
/// let store = S3BuildStore::builder("build-cache")
///     .prefix("team-a")
///     .endpoint("http://127.0.0.1:9000")
///     .build()?;
/// # Ok::<_, strata_domain::BuildCacheError>(())
/// ```
pub struct S3BuildStore {
    shared: Arc<S3Shared>,
}

impl std::fmt::Debug for S3BuildStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BuildStore")
            .field("prefix", &self.shared.keys)
            .finish_non_exhaustive()
    }
}

impl S3BuildStore {
    /// A builder for a store in `bucket`.
    pub fn builder(bucket: impl Into<String>) -> S3BuildStoreBuilder {
        S3BuildStoreBuilder {
            bucket: bucket.into(),
            prefix: String::new(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            credentials: None,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            part_bytes: DEFAULT_S3_PART_BYTES,
            concurrency: DEFAULT_S3_CONCURRENCY,
            existence_ttl: Duration::from_secs(DEFAULT_S3_EXISTENCE_TTL_SECS),
            request_timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            index: None,
            max_bytes: None,
        }
    }

    /// Evicts least recently used objects until the bucket holds at
    /// most [`S3_LOW_WATERMARK_PERCENT`] of `max_bytes`, when an access
    /// index and `max_bytes` are set and no other instance is sweeping;
    /// the bytes evicted. Uploads start a sweep by themselves when the
    /// index passes `max_bytes`; this runs one now.
    ///
    /// # Errors
    /// Redis or the bucket failing.
    pub async fn sweep(&self) -> Result<u64, BuildCacheError> {
        self.shared.sweep().await
    }

    /// The bytes the access index holds (`None` without an index).
    ///
    /// # Errors
    /// Redis failing.
    pub async fn indexed_bytes(&self) -> Result<Option<u64>, BuildCacheError> {
        match &self.shared.index {
            Some(index) => index.bytes().await.map(Some),
            None => Ok(None),
        }
    }
}

/// Builds an [`S3BuildStore`].
pub struct S3BuildStoreBuilder {
    bucket: String,
    prefix: String,
    region: String,
    endpoint: Option<String>,
    credentials: Option<S3Credentials>,
    max_blob_bytes: u64,
    part_bytes: usize,
    concurrency: usize,
    existence_ttl: Duration,
    request_timeout: Duration,
    clock: Arc<dyn Clock>,
    index: Option<S3AccessIndex>,
    max_bytes: Option<u64>,
}

impl S3BuildStoreBuilder {
    /// The access index every instance on this bucket and prefix shares,
    /// and the byte budget it enforces (least recently used first, see
    /// [`S3BuildStore::sweep`]). Without it the tier is not evicted.
    #[must_use]
    pub fn eviction(mut self, index: S3AccessIndex, max_bytes: u64) -> Self {
        self.index = Some(index);
        self.max_bytes = Some(max_bytes);
        self
    }

    /// The key prefix every object of this store lives under (default
    /// none); leading and trailing `/` are dropped.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The bucket's region (default `us-east-1`).
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// An S3-compatible server instead of AWS, e.g.
    /// `http://127.0.0.1:9000` (`http://` is allowed; path-style
    /// requests).
    #[must_use]
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Credentials to sign with; without them the standard `AWS_*`
    /// environment variables are read.
    #[must_use]
    pub fn credentials(mut self, credentials: S3Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The largest blob accepted, in bytes (default 1 GiB).
    #[must_use]
    pub fn max_blob_bytes(mut self, bytes: u64) -> Self {
        self.max_blob_bytes = bytes;
        self
    }

    /// The part size of multipart uploads, in bytes (default 8 MiB; at
    /// least 5 MiB for S3 itself).
    #[must_use]
    pub fn part_bytes(mut self, bytes: usize) -> Self {
        self.part_bytes = bytes.max(1);
        self
    }

    /// The most existence checks in flight to the bucket at once
    /// (default [`DEFAULT_S3_CONCURRENCY`]).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long a blob seen present stays in the existence cache
    /// (default [`DEFAULT_S3_EXISTENCE_TTL_SECS`]).
    #[must_use]
    pub fn existence_ttl(mut self, ttl: Duration) -> Self {
        self.existence_ttl = ttl;
        self
    }

    /// The deadline of one request to the bucket (default 30 s). Failed
    /// requests are retried at most twice, within this deadline.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The clock that stamps AC reads (default the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store. No request is made yet.
    ///
    /// # Errors
    /// [`BuildCacheError::Unexpected`] when the client cannot be built
    /// (e.g. a malformed endpoint).
    pub fn build(self) -> Result<Arc<S3BuildStore>, BuildCacheError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: self.request_timeout,
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(self.request_timeout)
                    .with_connect_timeout(Duration::from_secs(5)),
            );
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(c) = &self.credentials {
            builder = builder
                .with_access_key_id(&c.access_key_id)
                .with_secret_access_key(c.secret_access_key.expose_secret());
            if let Some(token) = &c.session_token {
                builder = builder.with_token(token.expose_secret());
            }
        }
        let store = builder.build().map_err(|e| BuildCacheError::Unexpected {
            store: STORE.to_owned(),
            source: format!("the S3 client: {e}").into(),
        })?;
        Ok(Arc::new(S3BuildStore {
            shared: Arc::new(S3Shared {
                store: Arc::new(store),
                keys: ObjectKeys::new(&self.prefix),
                part_bytes: self.part_bytes,
                max_blob_bytes: self.max_blob_bytes,
                exists: ExistenceCache::new(DEFAULT_S3_EXISTENCE_ENTRIES, self.existence_ttl),
                permits: Semaphore::new(self.concurrency),
                concurrency: self.concurrency,
                clock: self.clock,
                counters: HitCounters::default(),
                index: self.index,
                max_bytes: self.max_bytes,
                sweeping: AtomicBool::new(false),
                listed: std::sync::Mutex::new([None, None]),
            }),
        }))
    }
}
