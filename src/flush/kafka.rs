//! The Kafka sink: the topics created when missing (AdminClient), and every confirmed
//! reservation (key: reservation id) and queue event (key: concert id, on the queue events
//! topic) published with the idempotent producer (acks=all). A batch is handed to the
//! producer at once; its delivery reports come back as a future that borrows nothing, so
//! the worker can write the next batch while the broker answers.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use tracing::Instrument;

use super::event::Event;
use crate::Config;

/// How one message's publication failed.
#[derive(Debug)]
pub enum PublishError {
    /// The broker refused this message itself (too large, invalid): retrying cannot help.
    Rejected(String),
    /// The broker was unreachable, timed out, or the topic is missing: retry later.
    Unavailable(String),
}

/// Which topic a message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// `KAFKA_TOPIC`: confirmed reservations.
    Reservations,
    /// `KAFKA_QUEUE_EVENTS_TOPIC`: queue events.
    QueueEvents,
}

/// One message for the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: Topic,
    pub key: String,
    pub payload: Vec<u8>,
}

impl Outgoing {
    /// What an event publishes: a reservation its JSON, keyed by its id; a queue event its
    /// data as written, keyed by its concert; a charge nothing.
    pub fn of(event: &Event) -> Option<Result<Outgoing, PublishError>> {
        match event {
            Event::Reservation(r) => Some(
                serde_json::to_vec(r)
                    .map(|payload| Outgoing {
                        topic: Topic::Reservations,
                        key: r.reservation_id.clone(),
                        payload,
                    })
                    .map_err(|err| PublishError::Rejected(format!("cannot encode: {err}"))),
            ),
            Event::Queue(q) => Some(Ok(Outgoing {
                topic: Topic::QueueEvents,
                key: q.concert_id.to_string(),
                payload: q.data.clone().into_bytes(),
            })),
            Event::Charge(_) => None,
        }
    }
}

/// The delivery reports of one batch, in the order of its messages.
pub type Deliveries = Pin<Box<dyn Future<Output = Vec<Result<(), PublishError>>> + Send>>;

/// The pause before trying again when the producer's queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(10);

/// Producer, admin client and the topic settings.
pub struct KafkaSink {
    brokers: String,
    topic: String,
    queue_topic: String,
    partitions: i32,
    replication: i32,
    timeout: Duration,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
}

impl KafkaSink {
    /// Builds the clients; connects lazily (librdkafka reconnects by itself).
    pub fn new(config: &Config) -> anyhow::Result<KafkaSink> {
        Ok(KafkaSink {
            brokers: config.kafka_brokers.clone(),
            topic: config.kafka_topic.clone(),
            queue_topic: config.kafka_queue_events_topic.clone(),
            partitions: config.kafka_topic_partitions,
            replication: config.kafka_topic_replication,
            timeout: config.flush_sink_timeout,
            producer: producer(&config.kafka_brokers, config.flush_sink_timeout)?,
            admin: ClientConfig::new()
                .set("bootstrap.servers", &config.kafka_brokers)
                .create()
                .context("creating the Kafka admin client")?,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn queue_topic(&self) -> &str {
        &self.queue_topic
    }

    fn topic_name(&self, topic: Topic) -> &str {
        match topic {
            Topic::Reservations => &self.topic,
            Topic::QueueEvents => &self.queue_topic,
        }
    }

    /// Creates both topics unless they exist.
    #[tracing::instrument(name = "ensure_topics", skip_all, fields(topic = %self.topic, queue_topic = %self.queue_topic))]
    pub async fn ensure_topic(&self) -> anyhow::Result<()> {
        let topics: Vec<NewTopic> = [&self.topic, &self.queue_topic]
            .into_iter()
            .map(|name| {
                NewTopic::new(
                    name,
                    self.partitions,
                    TopicReplication::Fixed(self.replication),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let results =
            tokio::time::timeout(self.timeout, self.admin.create_topics(&topics, &options))
                .await
                .with_context(|| {
                    format!(
                        "creating topics {}, {} timed out",
                        self.topic, self.queue_topic
                    )
                })?
                .with_context(|| format!("creating topics {}, {}", self.topic, self.queue_topic))?;
        for result in results {
            match result {
                Ok(name) => tracing::info!(topic = %name, "created the Kafka topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
            }
        }
        Ok(())
    }

    /// Hands every message to the producer now (waiting only while its queue is full)
    /// and returns the future of their delivery reports, in the order of `messages` (one
    /// that could not be built fails as it is). librdkafka times a message out after
    /// `message.timeout.ms`; the future also gives up a few seconds later, should the
    /// producer stop reporting.
    pub async fn enqueue(&self, messages: Vec<Result<Outgoing, PublishError>>) -> Deliveries {
        let span = tracing::info_span!("publish_messages", count = messages.len());
        let queued: Vec<Result<DeliveryFuture, PublishError>> = async {
            let mut queued = Vec::with_capacity(messages.len());
            for message in messages {
                queued.push(match message {
                    Ok(message) => self.enqueue_one(&message).await,
                    Err(err) => Err(err),
                });
            }
            queued
        }
        .instrument(span)
        .await;
        let guard = self.timeout + crate::config::delivery_report_guard(self.timeout);
        Box::pin(async move {
            let count = queued.len();
            let reports = queued.into_iter().map(|queued| async move {
                match queued?.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((err, _))) => Err(classify(&err)),
                    Err(_) => Err(PublishError::Unavailable(
                        "the producer went away before reporting".into(),
                    )),
                }
            });
            match tokio::time::timeout(guard, futures::future::join_all(reports)).await {
                Ok(results) => results,
                Err(_) => (0..count)
                    .map(|_| {
                        Err(PublishError::Unavailable(format!(
                            "no delivery report within {guard:?}"
                        )))
                    })
                    .collect(),
            }
        })
    }

    async fn enqueue_one(&self, message: &Outgoing) -> Result<DeliveryFuture, PublishError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let record = FutureRecord::to(self.topic_name(message.topic))
                .key(message.key.as_bytes())
                .payload(&message.payload);
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((err, _)) => return Err(classify(&err)),
            }
        }
    }

    /// Replaces the producer after failed deliveries. An idempotent producer whose
    /// messages timed out, or whose broker lost its state (a restarted broker), may wait
    /// forever for sequence numbers the broker will never acknowledge; a new producer
    /// starts a new idempotent session. Every delivery future has completed by then.
    pub fn reset(&mut self) -> anyhow::Result<()> {
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            tracing::warn!(%code, %reason, "the Kafka producer hit a fatal error");
        }
        self.producer = producer(&self.brokers, self.timeout)?;
        Ok(())
    }

    /// Waits for every message still queued.
    pub fn flush(&self) {
        let _ = self.producer.flush(self.timeout);
    }
}

fn producer(brokers: &str, timeout: Duration) -> anyhow::Result<FutureProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "concert-queue-flush")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", timeout.as_millis().to_string())
        .create()
        .context("creating the Kafka producer")
}

fn classify(err: &KafkaError) -> PublishError {
    match err.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord,
        ) => PublishError::Rejected(format!("Kafka rejected it: {err}")),
        _ => PublishError::Unavailable(err.to_string()),
    }
}
