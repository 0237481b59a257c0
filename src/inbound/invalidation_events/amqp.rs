//! `AmqpConsumer`: events from a RabbitMQ queue, through lapin.
//!
//! Each message body is one event (the JSON of [`InvalidationEvent`](super::InvalidationEvent)).
//! The consumer declares its queue and the dead-letter queue (durable, no
//! arguments; skip with `declare = false` when the operator declares them
//! with arguments of their own), consumes with manual acknowledgements and
//! a bounded prefetch, and acknowledges a message only after it was
//! applied. A message that can never be applied is published to the
//! dead-letter queue (a persistent message with an `x-strata-error`
//! header, awaited through publisher confirms) and then acknowledged; one
//! whose invalidation failed for a passing reason is rejected with
//! requeue, and the session restarts after a back-off that doubles from
//! 100 ms to 30 s, as after any connection error. Messages unacknowledged
//! when a connection drops go back to the queue (AMQP semantics), so a
//! crash replays them.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use strata_application::CacheService;
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::event::{Outcome, apply};

/// Unacknowledged messages in flight per consumer.
const PREFETCH: u16 = 32;
/// How often the lag gauge is refreshed.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// Consumes one RabbitMQ queue; see the module docs.
#[derive(Clone)]
pub(crate) struct AmqpConsumer {
    source: String,
    url: String,
    queue: String,
    dead_letter: String,
    declare: bool,
    consumer_tag: String,
}

impl std::fmt::Debug for AmqpConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("AmqpConsumer")
            .field("source", &self.source)
            .field("queue", &self.queue)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

impl AmqpConsumer {
    /// A consumer of `queue` on the broker at `url`
    /// (`amqp://user:password@host:port/vhost`, no TLS), publishing events
    /// that cannot be applied to `dead_letter`; `source` labels its metrics
    /// and logs, `consumer_tag` names it on the broker. With `declare`, both
    /// queues are declared durable first. Nothing connects before
    /// [`spawn`](Self::spawn).
    pub(crate) fn new(
        source: impl Into<String>,
        url: impl Into<String>,
        queue: impl Into<String>,
        dead_letter: impl Into<String>,
        declare: bool,
        consumer_tag: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            url: url.into(),
            queue: queue.into(),
            dead_letter: dead_letter.into(),
            declare,
            consumer_tag: consumer_tag.into(),
        }
    }

    /// Runs the consumer on the current tokio runtime until the task is
    /// aborted, applying events through `service`.
    pub(crate) fn spawn(self, service: CacheService) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Backoff::default();
            loop {
                let error = match self.session(&service, &mut backoff).await {
                    Ok(()) => "the broker closed the consumer".to_owned(),
                    Err(e) => e.to_string(),
                };
                let delay = backoff.next_delay();
                tracing::warn!(
                    source = %self.source,
                    queue = %self.queue,
                    error = %error,
                    retry_ms = delay.as_millis() as u64,
                    "invalidation queue disconnected"
                );
                tokio::time::sleep(delay).await;
            }
        })
    }

    async fn session(
        &self,
        service: &CacheService,
        backoff: &mut Backoff,
    ) -> Result<(), SessionError> {
        let connection = Connection::connect(&self.url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        if self.declare {
            for queue in [&self.queue, &self.dead_letter] {
                channel
                    .queue_declare(
                        ShortString::from(queue.as_str()),
                        QueueDeclareOptions::durable(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        // A passive declare that fails closes its channel: a channel of its own.
        let probe = connection.create_channel().await?;
        let mut consumer = channel
            .basic_consume(
                ShortString::from(self.queue.as_str()),
                ShortString::from(self.consumer_tag.as_str()),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(source = %self.source, queue = %self.queue, "consuming invalidation events");
        backoff.reset();
        let mut ticks = tokio::time::interval(LAG_EVERY);
        loop {
            tokio::select! {
                delivery = consumer.next() => {
                    let Some(delivery) = delivery else { return Ok(()) };
                    let delivery = delivery?;
                    match apply(service, &self.source, &delivery.data).await {
                        Outcome::Applied => {
                            delivery.ack(BasicAckOptions::default()).await?;
                        }
                        Outcome::DeadLetter { reason } => {
                            self.dead_letter(&channel, &delivery.data, &reason).await?;
                            delivery.ack(BasicAckOptions::default()).await?;
                        }
                        Outcome::Retry(why) => {
                            delivery
                                .nack(BasicNackOptions { requeue: true, ..Default::default() })
                                .await?;
                            return Err(SessionError::Retry(why));
                        }
                    }
                    backoff.reset();
                }
                _ = ticks.tick() => self.refresh_lag(&probe).await?,
            }
        }
    }

    async fn dead_letter(
        &self,
        channel: &Channel,
        body: &[u8],
        reason: &str,
    ) -> Result<(), SessionError> {
        let mut headers = FieldTable::default();
        headers.insert(
            "x-strata-error".into(),
            AMQPValue::LongString(LongString::from(reason.as_bytes().to_vec())),
        );
        headers.insert(
            "x-strata-source-queue".into(),
            AMQPValue::LongString(LongString::from(self.queue.as_bytes().to_vec())),
        );
        let confirm = channel
            .basic_publish(
                ShortString::from(""),
                ShortString::from(self.dead_letter.as_str()),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_headers(headers),
            )
            .await?
            .await?;
        if confirm.is_nack() {
            return Err(SessionError::Retry(format!(
                "the broker refused the dead-letter message to {}",
                self.dead_letter
            )));
        }
        Ok(())
    }

    async fn refresh_lag(&self, probe: &Channel) -> Result<(), SessionError> {
        let queue = probe
            .queue_declare(
                ShortString::from(self.queue.as_str()),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        super::lag(&self.source, f64::from(queue.message_count()));
        Ok(())
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("invalidation failed: {0}")]
    Retry(String),
}
