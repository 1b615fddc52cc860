//! Flush test support: a per-test environment (key prefix, MySQL database, topic; the Redis
//! Cluster of `TEST_REDIS_CLUSTER_NODES` when set), outbox entries appended in the booking
//! scripts' format to any outbox stream, readers for MySQL, every outbox stream and the
//! topic, and private mariadbd and broker processes for the outage tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use concert_queue::flush::event::{
    ReservationConfirmed, WalletCharged, RESERVATION_CONFIRMED, WALLET_CHARGED,
};
use concert_queue::flush::{self, Lag, GROUP};
use concert_queue::store::Keys;
use concert_queue::Config;
use mysql_async::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::services;

/// One test's own prefix, database and topic over the shared services.
pub struct FlushEnv {
    pub config: Config,
    pub database: String,
    pub server_url: String,
    pub keys: Keys,
}

impl FlushEnv {
    /// Everything fresh, on the shared Redis, MySQL server and broker.
    pub async fn new(name: &str) -> FlushEnv {
        let server_url = services::mysql_server_url().await;
        let brokers = services::kafka_brokers().await;
        Self::on(name, &server_url, &brokers).await
    }

    /// Everything fresh, on the shared Redis and the given MySQL server and broker.
    pub async fn on(name: &str, mysql_server_url: &str, brokers: &str) -> FlushEnv {
        // RUST_LOG=concert_queue=info shows the worker's logs under --nocapture.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "off".into()),
            )
            .with_test_writer()
            .try_init();
        let redis_url = services::redis_url().await;
        let prefix = super::unique_prefix(name);
        let unique = prefix.replace([':', '-'], "_").replace("t_", "");
        let database = format!(
            "cqt_{}",
            unique
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        );
        let database: String = database.chars().take(64).collect();
        let mut config = super::test_config(&redis_url, &prefix);
        config.redis_cluster_nodes = super::cluster_nodes();
        config.mysql_url = format!("{mysql_server_url}/{database}");
        config.kafka_brokers = brokers.to_string();
        config.kafka_topic = format!("cq-test-{}", unique.replace('_', "-"));
        config.kafka_queue_events_topic = format!("cq-test-q-{}", unique.replace('_', "-"));
        config.kafka_topic_partitions = 3;
        config.flush_sink_timeout = Duration::from_secs(5);
        config.flush_idle_poll = Duration::from_millis(20);
        config.flush_metrics_addr = None;
        FlushEnv {
            keys: Keys::new(prefix),
            config,
            database,
            server_url: mysql_server_url.to_string(),
        }
    }

    /// A direct connection: to the one Redis, or to the cluster.
    pub async fn redis(&self) -> super::TestRedis {
        super::TestRedis::of(&self.config).await
    }

    /// Appends reservation.confirmed entries for ids `r-<n>` to the global outbox stream
    /// of earlier releases.
    pub async fn append_reservations(&self, range: std::ops::Range<u64>) {
        self.append_reservations_to(&self.keys.outbox(), range)
            .await;
    }

    /// Appends reservation.confirmed entries for ids `r-<n>` to `stream`.
    pub async fn append_reservations_to(&self, stream: &str, range: std::ops::Range<u64>) {
        append_reservations_to(&mut self.redis().await, stream, range).await;
    }

    /// Appends wallet.charged entries for ledger ids `c-<n>` to the global outbox stream.
    pub async fn append_charges(&self, range: std::ops::Range<u64>) {
        self.append_charges_to(&self.keys.outbox(), range).await;
    }

    /// Appends wallet.charged entries for ledger ids `c-<n>` to `stream`.
    pub async fn append_charges_to(&self, stream: &str, range: std::ops::Range<u64>) {
        let mut conn = self.redis().await;
        let mut pipe = redis::pipe();
        for n in range {
            let (kind, id, data) = charge_entry(&WalletCharged {
                ledger_id: format!("c-{n}"),
                user_id: 1000 + n % 50,
                amount: 100_000,
                balance_after: 100_000 * (n + 1),
                idempotency_key: Some(format!("idem-{n}")),
                charged_at_ms: entries_base_ms() + n,
            });
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("type")
                .arg(kind)
                .arg("id")
                .arg(id)
                .arg("data")
                .arg(data)
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.unwrap();
    }

    /// Appends one entry with exactly these fields to the global outbox stream; returns
    /// its stream id.
    pub async fn append_raw(&self, fields: &[(&str, &str)]) -> String {
        self.append_raw_to(&self.keys.outbox(), fields).await
    }

    /// Appends one entry with exactly these fields to `stream`; returns its stream id.
    pub async fn append_raw_to(&self, stream: &str, fields: &[(&str, &str)]) -> String {
        let mut conn = self.redis().await;
        redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg(fields)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// The store over this test's prefix (on the cluster, when the tests run there).
    pub async fn store(&self) -> concert_queue::store::Store {
        let mut config = self.config.clone();
        config.redis_timeout = Duration::from_secs(2);
        concert_queue::store::Store::from_config(&config)
            .await
            .unwrap()
    }

    pub async fn lag(&self) -> Lag {
        flush::lag(&self.store().await).await.unwrap()
    }

    /// The global outbox stream's dead letters, oldest first, each as its fields.
    pub async fn dead_letters(&self) -> Vec<BTreeMap<String, String>> {
        self.dead_letters_of(&self.keys.outbox()).await
    }

    /// The dead letters of `stream` (in `<stream>:dead`), oldest first, each as its fields.
    pub async fn dead_letters_of(&self, stream: &str) -> Vec<BTreeMap<String, String>> {
        let mut conn = self.redis().await;
        let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(Keys::dead_letters(stream))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        dead.ids
            .iter()
            .map(|entry| {
                entry
                    .map
                    .iter()
                    .map(|(name, value)| {
                        (name.clone(), redis::from_redis_value_ref(value).unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    pub async fn xlen(&self, key: &str) -> u64 {
        let mut conn = self.redis().await;
        redis::cmd("XLEN")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// Entries of the group's pending lists, over every outbox stream.
    pub async fn pending(&self) -> u64 {
        self.lag().await.pending
    }

    /// Entries of the group's pending list of one stream.
    pub async fn pending_on(&self, stream: &str) -> u64 {
        let mut conn = self.redis().await;
        let reply: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(stream)
            .arg(GROUP)
            .query_async(&mut conn)
            .await
            .unwrap();
        reply.count() as u64
    }

    /// Every entry of every outbox stream of the prefix; see [`outbox_entries`].
    pub async fn outbox(&self) -> Vec<(String, redis::streams::StreamId)> {
        outbox_entries(&mut self.redis().await, &self.keys).await
    }

    pub async fn mysql(&self) -> mysql_async::Pool {
        mysql_async::Pool::new(self.config.mysql_url.as_str())
    }

    /// (rows, distinct ids) of `reservations`.
    pub async fn reservation_rows(&self) -> (u64, u64) {
        let pool = self.mysql().await;
        let mut conn = pool.get_conn().await.unwrap();
        let row: Option<(u64, u64)> = conn
            .query_first("SELECT COUNT(*), COUNT(DISTINCT reservation_id) FROM reservations")
            .await
            .unwrap();
        drop(conn);
        pool.disconnect().await.unwrap();
        row.unwrap()
    }

    /// Every reservation id in MySQL.
    pub async fn reservation_ids(&self) -> Vec<String> {
        let pool = self.mysql().await;
        let mut conn = pool.get_conn().await.unwrap();
        let ids: Vec<String> = conn
            .query("SELECT reservation_id FROM reservations")
            .await
            .unwrap();
        drop(conn);
        pool.disconnect().await.unwrap();
        ids
    }

    pub async fn count(&self, sql: &str) -> u64 {
        let pool = self.mysql().await;
        let mut conn = pool.get_conn().await.unwrap();
        let n: Option<u64> = conn.query_first(sql).await.unwrap();
        drop(conn);
        pool.disconnect().await.unwrap();
        n.unwrap()
    }

    /// Every message key on the topic, duplicates included; see [`read_topic`].
    pub async fn topic_keys(&self, expect_distinct: usize) -> Vec<String> {
        self.topic_messages(expect_distinct)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    /// Every message on the topic as (key, JSON value); see [`read_topic`].
    pub async fn topic_messages(&self, expect_distinct: usize) -> Vec<(String, serde_json::Value)> {
        let brokers = self.config.kafka_brokers.clone();
        let topic = self.config.kafka_topic.clone();
        tokio::task::spawn_blocking(move || read_topic(&brokers, &topic, expect_distinct))
            .await
            .unwrap()
    }

    /// Environment for the `concert-queue` binary over this test's prefix, database, topic.
    pub fn binary_env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        let cluster = c
            .redis_cluster_nodes
            .as_ref()
            .map(|nodes| ("REDIS_CLUSTER_NODES", nodes.to_string()));
        vec![
            ("REDIS_URL", c.redis_url.clone()),
            ("REDIS_KEY_PREFIX", c.key_prefix.clone()),
            ("MYSQL_URL", c.mysql_url.clone()),
            ("KAFKA_BROKERS", c.kafka_brokers.clone()),
            ("KAFKA_TOPIC", c.kafka_topic.clone()),
            (
                "KAFKA_QUEUE_EVENTS_TOPIC",
                c.kafka_queue_events_topic.clone(),
            ),
            ("FLUSH_BATCH_SIZE", c.flush_batch_size.to_string()),
            (
                "FLUSH_CLAIM_IDLE_SECS",
                c.flush_claim_idle.as_secs().to_string(),
            ),
            ("FLUSH_MAX_DELIVERIES", c.flush_max_deliveries.to_string()),
            (
                "FLUSH_SINK_TIMEOUT_SECS",
                c.flush_sink_timeout.as_secs().to_string(),
            ),
            (
                "FLUSH_IDLE_POLL_MS",
                c.flush_idle_poll.as_millis().to_string(),
            ),
            ("FLUSH_METRICS_ADDR", "off".to_string()),
            ("RUST_LOG", "warn".to_string()),
        ]
        .into_iter()
        .chain(cluster)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for FlushEnv {
    fn drop(&mut self) {
        super::delete_keys_of(&self.config);
        super::mysql::drop_database_blocking(&self.server_url, &self.database);
    }
}

/// Appends reservation.confirmed entries for ids `r-<n>` to the global outbox of `keys`.
pub async fn append_reservations(
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
    range: std::ops::Range<u64>,
) {
    append_reservations_to(conn, &keys.outbox(), range).await;
}

/// Appends reservation.confirmed entries for ids `r-<n>` to `stream`.
pub async fn append_reservations_to(
    conn: &mut impl redis::aio::ConnectionLike,
    stream: &str,
    range: std::ops::Range<u64>,
) {
    let ids: Vec<u64> = range.collect();
    for chunk in ids.chunks(1000) {
        let mut pipe = redis::pipe();
        for &n in chunk {
            let (kind, id, data) = reservation_entry(n);
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("type")
                .arg(kind)
                .arg("id")
                .arg(id)
                .arg("data")
                .arg(data)
                .ignore();
        }
        let _: () = pipe.query_async(conn).await.unwrap();
    }
}

/// Runs the commands of `pipe` (on keys of any slots): in one pipeline on a single Redis,
/// one after the other on a cluster.
pub async fn run_each(conn: &mut super::TestRedis, pipe: &redis::Pipeline) {
    match conn {
        super::TestRedis::Node(node) => {
            let _: () = pipe.query_async(node).await.unwrap();
        }
        super::TestRedis::Cluster(cluster) => {
            for cmd in pipe.cmd_iter() {
                let _: redis::Value = cmd.query_async(cluster).await.unwrap();
            }
        }
    }
}

/// Every entry of every outbox stream of `keys` (the global one, each concert's in the set
/// at `keys.concerts()`, each wallet bucket's) as (stream, entry), in stream id order:
/// entries of different streams within the same millisecond come in no set order.
pub async fn outbox_entries(
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
) -> Vec<(String, redis::streams::StreamId)> {
    let concerts: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(keys.concerts())
        .query_async(conn)
        .await
        .unwrap();
    let mut entries = Vec::new();
    for stream in keys.outbox_streams(concerts) {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(conn)
            .await
            .unwrap();
        entries.extend(reply.ids.into_iter().map(|entry| (stream.clone(), entry)));
    }
    let pos = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap();
        (ms.parse().unwrap(), seq.parse().unwrap())
    };
    entries.sort_by_key(|(_, entry)| pos(&entry.id));
    entries
}

/// When this test process's made-up outbox entries happened: the clock at first use (whole
/// seconds), so nothing compares a fixed instant with the calendar.
pub fn entries_base_ms() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        now.as_secs() * 1000
    })
}

/// `ms` as MySQL prints a DATETIME(3) (UTC).
pub fn mysql_datetime(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// The (type, id, data) of reservation `r-<n>`, in the outbox format (flush/event.rs).
pub fn reservation_entry(n: u64) -> (&'static str, String, String) {
    let event = ReservationConfirmed {
        reservation_id: format!("r-{n}"),
        payment_id: format!("p-{n}"),
        user_id: 1000 + n % 50,
        concert_id: 1,
        schedule_id: 1 + n / 10_000,
        seat_no: (n % 10_000 + 1) as u32,
        amount: 50_000,
        balance_after: 150_000,
        ledger_id: format!("l-{n}"),
        confirmed_at_ms: entries_base_ms() + n,
    };
    (
        RESERVATION_CONFIRMED,
        event.reservation_id.clone(),
        serde_json::to_string(&event).unwrap(),
    )
}

/// The (type, id, data) of a wallet charge, in the outbox format (flush/event.rs).
pub fn charge_entry(charge: &WalletCharged) -> (&'static str, String, String) {
    (
        WALLET_CHARGED,
        charge.ledger_id.clone(),
        serde_json::to_string(charge).unwrap(),
    )
}

/// Reads a topic from the beginning of every partition until `expect_distinct` distinct
/// keys arrived and then nothing more for a second (or 60 s passed). tansu 0.6's high
/// watermarks do not count records, so the end is found by quiet, not by offsets.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    expect_distinct: usize,
) -> Vec<(String, serde_json::Value)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("cq-test-reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        list.add_partition_offset(topic, partition.id(), Offset::Beginning)
            .unwrap();
    }
    assert!(list.count() > 0, "topic {topic} has no partitions");
    consumer.assign(&list).unwrap();
    let mut out = Vec::new();
    let mut distinct: HashSet<String> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_message = Instant::now();
    while Instant::now() < deadline {
        if distinct.len() >= expect_distinct && last_message.elapsed() > Duration::from_secs(1) {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.unwrap();
        last_message = Instant::now();
        let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
        let value: serde_json::Value =
            serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
        distinct.insert(key.clone());
        out.push((key, value));
    }
    out
}

/// Every key under the test's prefix with its value (hashes as maps, other types as
/// their text), for before/after comparisons of Redis state.
pub async fn dump_keys(env: &FlushEnv) -> BTreeMap<String, Dumped> {
    let mut conn = env.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", env.config.key_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let value = match kind.as_str() {
            "hash" => Dumped::Hash(
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
            ),
            "zset" => {
                let z: Vec<(String, f64)> = redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                Dumped::Text(format!("{z:?}"))
            }
            "set" => {
                let mut members: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                members.sort();
                Dumped::Text(format!("{members:?}"))
            }
            "string" => Dumped::Text(
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
            ),
            "list" => Dumped::Text(format!(
                "{:?}",
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async::<Vec<String>>(&mut conn)
                    .await
                    .unwrap()
            )),
            "stream" => Dumped::Text("<stream>".into()),
            other => panic!("unexpected {other} at {key}"),
        };
        out.insert(key, value);
    }
    out
}

/// One dumped value.
#[derive(Clone, Debug, PartialEq)]
pub enum Dumped {
    Hash(BTreeMap<String, String>),
    Text(String),
}

impl Dumped {
    /// The value as text, a hash without the given fields.
    pub fn text_without(&self, fields: &[&str]) -> String {
        match self {
            Dumped::Hash(h) => {
                let mut h = h.clone();
                for f in fields {
                    h.remove(*f);
                }
                format!("{h:?}")
            }
            Dumped::Text(t) => t.clone(),
        }
    }
}
