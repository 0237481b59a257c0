//! [`CoherenceBus`]: the Redis pub/sub connection pair, the registry of
//! listeners per cache and the subscriber task with its re-subscription
//! loop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use strata_domain::{CacheName, StoreError};
use tokio::task::JoinHandle;

use super::message::{CoherenceListener, Decoded, Invalidation, decode, encode};

/// Backend name in errors.
const BACKEND: &str = "redis-pubsub";
/// How long a `PUBLISH` may wait for its reply.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long connecting plus the `SUBSCRIBE` confirmation may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one connection attempt of the publisher may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// First delay before re-subscribing after a loss.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest delay between re-subscription attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often the subscriber `PING`s to detect a half-open connection.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a keep-alive `PING` may wait for its reply.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The listeners per cache, held weakly; dead ones are pruned whenever
/// the registry is touched.
#[derive(Default)]
struct Registry {
    listeners: Mutex<HashMap<CacheName, Vec<Weak<dyn CoherenceListener>>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheName, Vec<Weak<dyn CoherenceListener>>>> {
        // No code panics while holding the lock; a poisoned map is still whole.
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, cache: &CacheName, listener: Weak<dyn CoherenceListener>) {
        let mut map = self.lock();
        map.retain(|_, list| {
            list.retain(|l| l.strong_count() > 0);
            !list.is_empty()
        });
        map.entry(cache.clone()).or_default().push(listener);
    }

    /// The live listeners of `cache`, pruning the dead ones.
    fn live(&self, cache: &CacheName) -> Vec<Arc<dyn CoherenceListener>> {
        let mut map = self.lock();
        let mut live = Vec::new();
        if let Some(list) = map.get_mut(cache) {
            upgrade_into(list, &mut live);
            if list.is_empty() {
                map.remove(cache);
            }
        }
        live
    }

    /// The live listeners of every cache, pruning the dead ones.
    fn all_live(&self) -> Vec<Arc<dyn CoherenceListener>> {
        let mut map = self.lock();
        let mut live = Vec::new();
        map.retain(|_, list| {
            upgrade_into(list, &mut live);
            !list.is_empty()
        });
        live
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

fn upgrade_into(
    list: &mut Vec<Weak<dyn CoherenceListener>>,
    live: &mut Vec<Arc<dyn CoherenceListener>>,
) {
    list.retain(|weak| match weak.upgrade() {
        Some(listener) => {
            live.push(listener);
            true
        }
        None => false,
    });
}

/// State shared by the bus and its subscriber task.
struct Shared {
    instance_id: String,
    channel: String,
    /// `host:port`, for logs.
    address: String,
    registry: Registry,
    subscribed: AtomicBool,
    resubscribe_clears: AtomicU64,
    received: AtomicU64,
    malformed: AtomicU64,
    /// Who hears of configuration changes (see [`CoherenceBus::reconfigure_notices`]).
    notices: Mutex<Vec<tokio::sync::mpsc::UnboundedSender<ReconfigureNotice>>>,
}

/// What [`CoherenceBus::reconfigure_notices`] delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReconfigureNotice {
    /// Another instance changed (created, reconfigured or deleted) this
    /// cache's configuration.
    Cache(CacheName),
    /// The subscription was re-established: notices may have been missed,
    /// so every configuration should be reloaded.
    Resubscribed,
}

impl Shared {
    fn notify(&self, notice: ReconfigureNotice) {
        self.notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|tx| tx.send(notice.clone()).is_ok());
    }

    fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Ordering::Release);
        metrics::gauge!("strata_coherence_subscribed").set(if subscribed { 1.0 } else { 0.0 });
    }

    /// Decodes one payload and applies it to the listeners of its cache.
    async fn handle(&self, payload: &[u8]) {
        match decode(payload, &self.instance_id) {
            Ok(Decoded::Own) => {}
            Ok(Decoded::Foreign(cache, invalidation)) => {
                if invalidation == Invalidation::Reconfigure {
                    self.notify(ReconfigureNotice::Cache(cache.clone()));
                }
                // The lock is released inside `live`: none is held across `.await`.
                for listener in self.registry.live(&cache) {
                    listener.invalidate(&invalidation).await;
                }
                self.received.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(
                    "strata_coherence_messages_total",
                    "direction" => "received",
                    "op" => invalidation.op()
                )
                .increment(1);
            }
            Err(reason) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("strata_coherence_malformed_messages_total").increment(1);
                tracing::warn!(
                    channel = %self.channel,
                    bytes = payload.len(),
                    %reason,
                    "coherence: dropped a malformed message"
                );
            }
        }
    }

    /// Clears every registered L1 after a re-subscription.
    async fn clear_all(&self) {
        for listener in self.registry.all_live() {
            listener.clear().await;
        }
        self.resubscribe_clears.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strata_coherence_l1_clears_total").increment(1);
        self.notify(ReconfigureNotice::Resubscribed);
    }
}

/// Publishes this instance's L1 invalidations on a Redis pub/sub channel
/// and applies the other instances' invalidations to the registered
/// [`CoherenceListener`]s (wire format, metrics and failure handling:
/// `docs/backends.md`, "Coherence between instances", and this module's
/// source docs).
///
/// Dropping the bus stops its subscriber task and closes its connections.
pub struct CoherenceBus {
    shared: Arc<Shared>,
    publisher: ConnectionManager,
    subscriber: JoinHandle<()>,
}

impl std::fmt::Debug for CoherenceBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoherenceBus")
            .field("instance_id", &self.shared.instance_id)
            .field("channel", &self.shared.channel)
            .field("address", &self.shared.address)
            .field("subscribed", &self.is_subscribed())
            .finish_non_exhaustive()
    }
}

impl CoherenceBus {
    /// Connects a publisher and a subscriber to `url` (a standalone Redis
    /// URL, `redis://[:password@]host:port/db`; for a Redis Cluster, one
    /// node's URL), subscribes to `channel`, and returns once the first
    /// `SUBSCRIBE` is confirmed.
    ///
    /// `instance_id` must be unique among the instances sharing the
    /// channel: messages carrying it are taken as this instance's own and
    /// ignored.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is invalid or the server
    /// cannot be reached; [`StoreError::Timeout`] when connecting or the
    /// subscription takes longer than 2 s.
    pub async fn connect(
        url: &str,
        channel: &str,
        instance_id: &str,
    ) -> Result<Arc<Self>, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let address = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(PUBLISH_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(BACKOFF_MAX);
        let publisher = tokio::time::timeout(
            SUBSCRIBE_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| timeout(SUBSCRIBE_TIMEOUT))?
        .map_err(unavailable)?;
        let (sink, stream) = subscribe(&client, channel).await?;
        let shared = Arc::new(Shared {
            instance_id: instance_id.to_owned(),
            channel: channel.to_owned(),
            address,
            registry: Registry::default(),
            subscribed: AtomicBool::new(false),
            resubscribe_clears: AtomicU64::new(0),
            received: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            notices: Mutex::new(Vec::new()),
        });
        shared.set_subscribed(true);
        tracing::info!(
            server = %shared.address,
            channel,
            instance_id,
            "coherence: subscribed"
        );
        let subscriber = tokio::spawn(run_subscriber(Arc::clone(&shared), client, sink, stream));
        Ok(Arc::new(Self {
            shared,
            publisher,
            subscriber,
        }))
    }

    /// This instance's id, as put in the `origin` of every message.
    pub fn instance_id(&self) -> &str {
        &self.shared.instance_id
    }

    /// Routes messages for `cache` to `listener`. The listener is held
    /// weakly: once its last `Arc` is dropped it is pruned. Several
    /// listeners per cache are allowed; each receives every message.
    pub fn register(&self, cache: &CacheName, listener: Weak<dyn CoherenceListener>) {
        self.shared.registry.register(cache, listener);
    }

    /// Publishes one invalidation, tagged with this instance's id, and
    /// waits for the `PUBLISH` reply (at most 1 s). A failure is logged
    /// (`warn`) and counted; the caller decides what to do with it.
    ///
    /// # Errors
    /// [`StoreError::Timeout`] when the reply does not arrive in time;
    /// [`StoreError::Unavailable`] when the server cannot be reached.
    pub async fn publish(
        &self,
        cache: &CacheName,
        invalidation: Invalidation,
    ) -> Result<(), StoreError> {
        let op = invalidation.op();
        // Strings and integers only: serialising does not fail in practice.
        let payload = encode(&self.shared.instance_id, cache, &invalidation)
            .map_err(|e| StoreError::Unexpected(Box::new(e)))?;
        let mut connection = self.publisher.clone();
        let reply = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&self.shared.channel)
                .arg(payload)
                .query_async::<i64>(&mut connection),
        )
        .await;
        let result = match reply {
            Ok(Ok(_receivers)) => Ok(()),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(timeout(PUBLISH_TIMEOUT)),
        };
        match &result {
            Ok(()) => {
                metrics::counter!(
                    "strata_coherence_messages_total",
                    "direction" => "published",
                    "op" => op
                )
                .increment(1);
            }
            Err(error) => {
                metrics::counter!("strata_coherence_publish_failures_total").increment(1);
                tracing::warn!(
                    server = %self.shared.address,
                    channel = %self.shared.channel,
                    cache = %cache.as_str(),
                    op,
                    %error,
                    "coherence: publish failed; other instances' L1 may keep stale entries"
                );
            }
        }
        result
    }

    /// A stream of [`ReconfigureNotice`]s: the caches whose configuration
    /// another instance changed (an [`Invalidation::Reconfigure`] from
    /// another origin, for any cache, registered or not), and every
    /// re-subscription. Dropping the receiver unsubscribes it.
    pub fn reconfigure_notices(&self) -> tokio::sync::mpsc::UnboundedReceiver<ReconfigureNotice> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.shared
            .notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }

    /// Whether the subscription is currently established (and, after a
    /// loss, every registered L1 has been cleared).
    pub fn is_subscribed(&self) -> bool {
        self.shared.subscribed.load(Ordering::Acquire)
    }

    /// How many times L1 was cleared because the subscription was
    /// re-established.
    pub fn resubscribe_clears(&self) -> u64 {
        self.shared.resubscribe_clears.load(Ordering::Relaxed)
    }

    /// Messages received from other instances and applied.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Received payloads dropped as malformed or of another wire version.
    pub fn malformed(&self) -> u64 {
        self.shared.malformed.load(Ordering::Relaxed)
    }
}

impl Drop for CoherenceBus {
    fn drop(&mut self) {
        // Dropping the task drops its pub/sub connection.
        self.subscriber.abort();
        self.shared.set_subscribed(false);
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND.into(),
        source: Box::new(e),
    }
}

fn timeout(after: Duration) -> StoreError {
    StoreError::Timeout {
        backend: BACKEND.into(),
        timeout_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
    }
}

/// Opens a pub/sub connection and subscribes to `channel`.
async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> Result<(PubSubSink, PubSubStream), StoreError> {
    let attempt = async {
        let (mut sink, stream) = client.get_async_pubsub().await?.split();
        sink.subscribe(channel).await?;
        Ok::<_, redis::RedisError>((sink, stream))
    };
    tokio::time::timeout(SUBSCRIBE_TIMEOUT, attempt)
        .await
        .map_err(|_| timeout(SUBSCRIBE_TIMEOUT))?
        .map_err(unavailable)
}

/// The subscriber task: applies messages until the subscription is lost,
/// then re-subscribes with back-off and clears every L1. Runs until the
/// bus aborts it.
async fn run_subscriber(
    shared: Arc<Shared>,
    client: redis::Client,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
) {
    loop {
        let reason = pump(&shared, &mut sink, &mut stream).await;
        shared.set_subscribed(false);
        tracing::warn!(
            server = %shared.address,
            channel = %shared.channel,
            %reason,
            "coherence: subscription lost; re-subscribing, L1 will be cleared"
        );
        let mut delay = BACKOFF_MIN;
        (sink, stream) = loop {
            tokio::time::sleep(delay).await;
            match subscribe(&client, &shared.channel).await {
                Ok(subscription) => break subscription,
                Err(error) => {
                    tracing::debug!(
                        server = %shared.address,
                        %error,
                        next_attempt_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "coherence: re-subscription attempt failed"
                    );
                    delay = (delay * 2).min(BACKOFF_MAX);
                }
            }
        };
        // Messages arriving from now on queue in `stream` and are applied
        // after the clears, so nothing published after the SUBSCRIBE is lost.
        shared.clear_all().await;
        shared.set_subscribed(true);
        tracing::info!(
            server = %shared.address,
            channel = %shared.channel,
            "coherence: re-subscribed; cleared every registered L1"
        );
    }
}

/// Applies messages until the connection ends or a keep-alive `PING`
/// fails; returns why.
async fn pump(shared: &Shared, sink: &mut PubSubSink, stream: &mut PubSubStream) -> String {
    let mut keepalive = tokio::time::interval_at(
        tokio::time::Instant::now() + KEEPALIVE_INTERVAL,
        KEEPALIVE_INTERVAL,
    );
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => shared.handle(message.get_payload_bytes()).await,
                None => return "connection closed".to_owned(),
            },
            _ = keepalive.tick() => {
                match tokio::time::timeout(KEEPALIVE_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return format!("keep-alive PING failed: {e}"),
                    Err(_) => return "keep-alive PING timed out".to_owned(),
                }
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    struct Nop;

    #[async_trait::async_trait]
    impl CoherenceListener for Nop {
        async fn invalidate(&self, _: &Invalidation) {}
        async fn clear(&self) {}
    }

    fn name(s: &str) -> CacheName {
        CacheName::parse(s).unwrap()
    }

    #[test]
    fn dead_listeners_are_pruned() {
        let registry = Registry::default();
        let users = name("users");
        let alive: Arc<dyn CoherenceListener> = Arc::new(Nop);
        let dead: Arc<dyn CoherenceListener> = Arc::new(Nop);
        registry.register(&users, Arc::downgrade(&alive));
        registry.register(&users, Arc::downgrade(&dead));
        registry.register(&name("orders"), Arc::downgrade(&dead));
        assert_eq!(registry.len(), 3);
        drop(dead);
        assert_eq!(registry.live(&users).len(), 1);
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.all_live().len(), 1);
        assert_eq!(registry.len(), 1);
        drop(alive);
        assert!(registry.all_live().is_empty());
        assert_eq!(registry.len(), 0);
    }
}
