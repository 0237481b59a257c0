//! `RedisStreamConsumer`: events from a Redis stream, read in a consumer
//! group.
//!
//! Each entry carries the event JSON in its `event` field
//! (`XADD <stream> * event '{"cache":"users","keys":["u:1"]}'`). The
//! consumer creates the group at the stream's beginning (`XGROUP CREATE
//! <stream> <group> 0 MKSTREAM`) if it does not exist, then first replays
//! its own pending entries (delivered before a crash, never
//! acknowledged: `XREADGROUP ... STREAMS <stream> 0`), then blocks for new
//! ones (`>`). An entry is acknowledged (`XACK`) only after it was
//! applied, or copied to the dead-letter stream (in the same `MULTI`).
//! Any error drops the connection and reconnects after a back-off that
//! doubles from 100 ms to 30 s; a lost group (the server restarted empty)
//! is created again.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Value};
use strata_application::CacheService;
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::event::{Outcome, apply};

/// The field of a stream entry that holds the event.
const EVENT_FIELD: &str = "event";
/// Entries read per `XREADGROUP`.
const BATCH: usize = 100;
/// How long one `XREADGROUP` blocks for new entries (and so how often the
/// lag gauge is refreshed when the stream is quiet).
const BLOCK: Duration = Duration::from_secs(1);

/// Consumes one Redis stream in a consumer group; see the module docs.
/// Its `Debug` leaves the URL out: it may hold the Redis password.
#[derive(Clone)]
pub(crate) struct RedisStreamConsumer {
    source: String,
    url: String,
    stream: String,
    group: String,
    consumer: String,
    dead_letter: String,
}

impl std::fmt::Debug for RedisStreamConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamConsumer")
            .field("source", &self.source)
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

/// A stream entry: its id and its `event` field (`None` when the field is
/// missing, or the entry was deleted while pending).
struct Entry {
    id: String,
    event: Option<Vec<u8>>,
    deleted: bool,
}

impl RedisStreamConsumer {
    /// A consumer of `stream` on the server at `url`, in `group` as
    /// `consumer`, copying events that cannot be applied to `dead_letter`;
    /// `source` labels its metrics and logs. Nothing connects before
    /// [`spawn`](Self::spawn).
    pub(crate) fn new(
        source: impl Into<String>,
        url: impl Into<String>,
        stream: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
        dead_letter: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            url: url.into(),
            stream: stream.into(),
            group: group.into(),
            consumer: consumer.into(),
            dead_letter: dead_letter.into(),
        }
    }

    /// Runs the consumer on the current tokio runtime until the task is
    /// aborted, applying events through `service`.
    pub(crate) fn spawn(self, service: CacheService) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Backoff::default();
            loop {
                let error = self.session(&service, &mut backoff).await;
                let delay = backoff.next_delay();
                tracing::warn!(
                    source = %self.source,
                    stream = %self.stream,
                    error = %error,
                    retry_ms = delay.as_millis() as u64,
                    "invalidation stream disconnected"
                );
                tokio::time::sleep(delay).await;
            }
        })
    }

    /// One connection's life: returns why it ended.
    async fn session(&self, service: &CacheService, backoff: &mut Backoff) -> RedisError {
        match self.try_session(service, backoff).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn try_session(
        &self,
        service: &CacheService,
        backoff: &mut Backoff,
    ) -> Result<std::convert::Infallible, RedisError> {
        let client = redis::Client::open(self.url.as_str())?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.ensure_group(&mut conn).await?;
        tracing::info!(source = %self.source, stream = %self.stream, group = %self.group,
            consumer = %self.consumer, "consuming invalidation events");
        // Pending entries of this consumer first (a crash before XACK).
        let mut cursor = "0".to_owned();
        loop {
            let entries = self.read(&mut conn, &cursor, None).await?;
            let Some(last) = entries.last() else { break };
            cursor = last.id.clone();
            for entry in entries {
                self.handle(service, &mut conn, entry).await?;
            }
        }
        backoff.reset();
        loop {
            let entries = self.read(&mut conn, ">", Some(BLOCK)).await?;
            for entry in entries {
                self.handle(service, &mut conn, entry).await?;
            }
            backoff.reset();
            self.refresh_lag(&mut conn).await?;
        }
    }

    async fn ensure_group(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        let created: Result<(), RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(conn)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    async fn read(
        &self,
        conn: &mut MultiplexedConnection,
        from: &str,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, RedisError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(BATCH);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(from);
        let reply: Value = cmd.query_async(conn).await?;
        Ok(entries(reply))
    }

    /// Applies one entry and acknowledges it, or leaves it pending (an
    /// error ends the session: the back-off, then the pending replay,
    /// retries it).
    async fn handle(
        &self,
        service: &CacheService,
        conn: &mut MultiplexedConnection,
        entry: Entry,
    ) -> Result<(), RedisError> {
        let outcome = match (&entry.event, entry.deleted) {
            (_, true) => {
                tracing::debug!(source = %self.source, id = %entry.id, "pending entry was deleted");
                Outcome::Applied
            }
            (Some(body), false) => apply(service, &self.source, body).await,
            (None, false) => {
                super::count(&self.source, "consumed");
                super::count(&self.source, "dead_lettered");
                tracing::warn!(source = %self.source, id = %entry.id,
                    "stream entry without an `event` field dead-lettered");
                Outcome::DeadLetter {
                    reason: format!("no `{EVENT_FIELD}` field"),
                }
            }
        };
        match outcome {
            Outcome::Applied => {
                redis::cmd("XACK")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg(&entry.id)
                    .query_async::<()>(conn)
                    .await
            }
            Outcome::DeadLetter { reason } => {
                redis::pipe()
                    .atomic()
                    .cmd("XADD")
                    .arg(&self.dead_letter)
                    .arg("*")
                    .arg(EVENT_FIELD)
                    .arg(entry.event.unwrap_or_default())
                    .arg("error")
                    .arg(reason)
                    .arg("source_stream")
                    .arg(&self.stream)
                    .arg("source_id")
                    .arg(&entry.id)
                    .ignore()
                    .cmd("XACK")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg(&entry.id)
                    .ignore()
                    .query_async::<()>(conn)
                    .await
            }
            Outcome::Retry(why) => Err(RedisError::from((
                redis::ErrorKind::Io,
                "invalidation failed",
                why,
            ))),
        }
    }

    /// Sets the lag gauge from `XINFO GROUPS` (`lag`, or `pending` when
    /// the server does not know the lag).
    async fn refresh_lag(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        let reply: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&self.stream)
            .query_async(conn)
            .await?;
        if let Some(group) = reply.groups.iter().find(|g| g.name == self.group) {
            let lag = group.lag.unwrap_or(group.pending);
            super::lag(&self.source, lag as f64);
        }
        Ok(())
    }
}

/// The entries of an `XREADGROUP` reply for one stream (RESP2 arrays or
/// RESP3 maps; `Nil` when a block timed out).
fn entries(reply: Value) -> Vec<Entry> {
    let streams = match reply {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .collect::<Vec<_>>(),
        Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(items) = stream else {
            continue;
        };
        for item in items {
            let Value::Array(mut parts) = item else {
                continue;
            };
            if parts.len() < 2 {
                continue;
            }
            let fields = parts.swap_remove(1);
            let Some(id) = text(&parts[0]) else { continue };
            let (event, deleted) = match fields {
                Value::Nil => (None, true),
                Value::Array(fields) => (field(&fields), false),
                Value::Map(pairs) => (
                    pairs
                        .into_iter()
                        .find(|(k, _)| text(k).as_deref() == Some(EVENT_FIELD))
                        .and_then(|(_, v)| bytes(v)),
                    false,
                ),
                _ => (None, false),
            };
            out.push(Entry { id, event, deleted });
        }
    }
    out
}

fn field(fields: &[Value]) -> Option<Vec<u8>> {
    fields
        .chunks(2)
        .find(|kv| kv.len() == 2 && text(&kv[0]).as_deref() == Some(EVENT_FIELD))
        .and_then(|kv| bytes(kv[1].clone()))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}
