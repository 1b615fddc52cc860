//! Configuration read from the environment, with the documented defaults.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};

/// The development secret used when `TOKEN_SECRET` is unset; `serve` warns about it.
pub const DEV_TOKEN_SECRET: &str = "concert-queue-development-secret-change-me";

/// Largest balance a wallet may reach, in won: far below 2^53, so every sum the Lua
/// scripts make is exact.
pub const MAX_BALANCE: u64 = 1_000_000_000_000_000;

/// Largest `CHARGE_MAX` accepted.
pub const MAX_CHARGE_LIMIT: u64 = 1_000_000_000_000;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The longest idle timeout: the waiting line keeps each waiter's latest second modulo 68
/// minutes (src/store/line.rs), so an idle timeout must stay well inside that, leaving the
/// idle sweep ample time to go round.
pub const MAX_WAIT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Everything the server, the ticker and the worker need to know.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind_addr: SocketAddr,
    pub redis_url: String,
    pub mysql_url: String,
    pub kafka_brokers: String,
    pub key_prefix: String,
    pub token_secret: String,
    /// Most buyers ACTIVE at once per concert; 0 pauses admission.
    pub queue_max_active: u64,
    /// Admissions per second per concert, enforced inside Redis.
    pub queue_admit_per_sec: u64,
    pub active_ttl: Duration,
    /// A WAITING token that has not polled for this long is dropped; zero means never.
    pub wait_idle_timeout: Duration,
    /// Token issuance requests per second per server; 0 turns the limiter off.
    pub token_rate_limit_per_sec: u32,
    /// How often each server runs the activation script for every concert.
    pub activation_tick: Duration,
    /// Upper bound on one Redis round trip before the request fails with 503.
    pub redis_timeout: Duration,
    /// 0: one multiplexed, self-reconnecting connection; N: a bb8 pool of N connections.
    pub redis_pool_size: u32,
    /// How the ticker and the sweeper run their script for every concert.
    pub script_fanout: crate::store::Fanout,
    /// Open connections the HTTP server accepts at once; further ones wait in the backlog.
    pub max_connections: usize,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// How long graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// The topic the flush worker publishes confirmed reservations to.
    pub kafka_topic: String,
    /// Partitions and replication factor the worker creates the topic with when missing.
    pub kafka_topic_partitions: i32,
    pub kafka_topic_replication: i32,
    /// Outbox entries the flush worker reads, writes and acknowledges at a time.
    pub flush_batch_size: usize,
    /// Consumers of the `flush` group one `concert-queue flush` process runs side by side
    /// (each with its own batch at MySQL and at the broker).
    pub flush_workers: usize,
    /// A pending outbox entry idle this long belongs to a dead worker and is claimed.
    pub flush_claim_idle: Duration,
    /// Deliveries after which an entry that keeps failing goes to the dead-letter stream.
    pub flush_max_deliveries: u64,
    /// Upper bound on one MySQL batch and on one Kafka delivery before the batch is retried.
    pub flush_sink_timeout: Duration,
    /// How long the worker sleeps when the outbox is empty.
    pub flush_idle_poll: Duration,
    /// Where the worker serves Prometheus metrics; `None` (`FLUSH_METRICS_ADDR=off`) serves none.
    pub flush_metrics_addr: Option<SocketAddr>,
    /// Most live holds one buyer may have on one schedule.
    pub holds_per_user: u64,
    /// How long a seat hold lasts before the seat is AVAILABLE again.
    pub hold_ttl: Duration,
    /// Largest single wallet charge, in won.
    pub charge_max: u64,
    /// How often the background sweeper releases lapsed holds (an optimisation only).
    pub hold_sweep_interval: Duration,
    /// Upper bound on one MySQL catalog query before the request fails with 503.
    pub mysql_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind_addr: "127.0.0.1:8080".parse().expect("valid default address"),
            redis_url: "redis://127.0.0.1:6379".into(),
            mysql_url: "mysql://root@127.0.0.1:3306/concert_queue".into(),
            kafka_brokers: "127.0.0.1:9092".into(),
            key_prefix: "cq".into(),
            token_secret: DEV_TOKEN_SECRET.into(),
            queue_max_active: 500,
            queue_admit_per_sec: 100,
            active_ttl: Duration::from_secs(300),
            wait_idle_timeout: Duration::from_secs(120),
            token_rate_limit_per_sec: 100,
            activation_tick: Duration::from_millis(100),
            redis_timeout: Duration::from_millis(1000),
            redis_pool_size: 0,
            script_fanout: crate::store::Fanout::default(),
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            kafka_topic: "reservation-confirmed".into(),
            kafka_topic_partitions: 3,
            kafka_topic_replication: 1,
            flush_batch_size: 2000,
            flush_workers: 2,
            flush_claim_idle: Duration::from_secs(30),
            flush_max_deliveries: 5,
            flush_sink_timeout: Duration::from_secs(30),
            flush_idle_poll: Duration::from_millis(200),
            flush_metrics_addr: Some("127.0.0.1:9464".parse().expect("valid default address")),
            holds_per_user: 4,
            hold_ttl: Duration::from_secs(300),
            charge_max: 10_000_000,
            hold_sweep_interval: Duration::from_millis(1000),
            mysql_timeout: Duration::from_millis(2000),
        }
    }
}

impl Config {
    /// Reads every setting from the environment, falling back to the defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let d = Config::default();
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let config = Config {
            bind_addr: parse_or(&get, "BIND_ADDR", d.bind_addr)?,
            redis_url: get("REDIS_URL").unwrap_or(d.redis_url),
            mysql_url: get("MYSQL_URL").unwrap_or(d.mysql_url),
            kafka_brokers: get("KAFKA_BROKERS").unwrap_or(d.kafka_brokers),
            key_prefix: get("REDIS_KEY_PREFIX").unwrap_or(d.key_prefix),
            token_secret: get("TOKEN_SECRET").unwrap_or(d.token_secret),
            queue_max_active: parse_or(&get, "QUEUE_MAX_ACTIVE", d.queue_max_active)?,
            queue_admit_per_sec: parse_or(&get, "QUEUE_ADMIT_PER_SEC", d.queue_admit_per_sec)?,
            active_ttl: secs_or(&get, "ACTIVE_TTL_SECS", d.active_ttl)?,
            wait_idle_timeout: secs_or(&get, "WAIT_IDLE_TIMEOUT_SECS", d.wait_idle_timeout)?,
            token_rate_limit_per_sec: parse_or(
                &get,
                "TOKEN_RATE_LIMIT_PER_SEC",
                d.token_rate_limit_per_sec,
            )?,
            activation_tick: millis_or(&get, "ACTIVATION_TICK_MS", d.activation_tick)?,
            redis_timeout: millis_or(&get, "REDIS_TIMEOUT_MS", d.redis_timeout)?,
            redis_pool_size: parse_or(&get, "REDIS_POOL_SIZE", d.redis_pool_size)?,
            script_fanout: parse_or(&get, "SCRIPT_FANOUT", d.script_fanout)?,
            max_connections: parse_or(&get, "MAX_CONNECTIONS", d.max_connections)?,
            header_read_timeout: secs_or(&get, "HEADER_READ_TIMEOUT_SECS", d.header_read_timeout)?,
            shutdown_grace: secs_or(&get, "SHUTDOWN_GRACE_SECS", d.shutdown_grace)?,
            kafka_topic: get("KAFKA_TOPIC").unwrap_or(d.kafka_topic),
            kafka_topic_partitions: parse_or(
                &get,
                "KAFKA_TOPIC_PARTITIONS",
                d.kafka_topic_partitions,
            )?,
            kafka_topic_replication: parse_or(
                &get,
                "KAFKA_TOPIC_REPLICATION",
                d.kafka_topic_replication,
            )?,
            flush_batch_size: parse_or(&get, "FLUSH_BATCH_SIZE", d.flush_batch_size)?,
            flush_workers: parse_or(&get, "FLUSH_WORKERS", d.flush_workers)?,
            flush_claim_idle: secs_or(&get, "FLUSH_CLAIM_IDLE_SECS", d.flush_claim_idle)?,
            flush_max_deliveries: parse_or(&get, "FLUSH_MAX_DELIVERIES", d.flush_max_deliveries)?,
            flush_sink_timeout: secs_or(&get, "FLUSH_SINK_TIMEOUT_SECS", d.flush_sink_timeout)?,
            flush_idle_poll: millis_or(&get, "FLUSH_IDLE_POLL_MS", d.flush_idle_poll)?,
            flush_metrics_addr: match get("FLUSH_METRICS_ADDR") {
                Some(raw) if raw.trim().eq_ignore_ascii_case("off") => None,
                Some(_) => Some(parse_or(&get, "FLUSH_METRICS_ADDR", d.bind_addr)?),
                None => d.flush_metrics_addr,
            },
            holds_per_user: parse_or(&get, "HOLDS_PER_USER", d.holds_per_user)?,
            hold_ttl: secs_or(&get, "HOLD_TTL_SECS", d.hold_ttl)?,
            charge_max: parse_or(&get, "CHARGE_MAX", d.charge_max)?,
            hold_sweep_interval: millis_or(&get, "HOLD_SWEEP_MS", d.hold_sweep_interval)?,
            mysql_timeout: millis_or(&get, "MYSQL_TIMEOUT_MS", d.mysql_timeout)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Rejects settings the engine cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}', ' ']) {
            bail!("REDIS_KEY_PREFIX must be non-empty, without braces or spaces");
        }
        if self.token_secret.len() < 16 {
            bail!("TOKEN_SECRET must be at least 16 bytes");
        }
        if self.active_ttl.is_zero() {
            bail!("ACTIVE_TTL_SECS must be at least 1");
        }
        if self.activation_tick.is_zero() || self.redis_timeout.is_zero() {
            bail!("ACTIVATION_TICK_MS and REDIS_TIMEOUT_MS must be positive");
        }
        if self.max_connections == 0 {
            bail!("MAX_CONNECTIONS must be positive");
        }
        if self.kafka_topic.is_empty() || self.kafka_topic.len() > 249 {
            bail!("KAFKA_TOPIC must be 1 to 249 characters");
        }
        if self.kafka_topic_partitions < 1 || self.kafka_topic_replication < 1 {
            bail!("KAFKA_TOPIC_PARTITIONS and KAFKA_TOPIC_REPLICATION must be at least 1");
        }
        if !(1..=10_000).contains(&self.flush_batch_size) {
            bail!("FLUSH_BATCH_SIZE must be between 1 and 10000");
        }
        if !(1..=64).contains(&self.flush_workers) {
            bail!("FLUSH_WORKERS must be between 1 and 64");
        }
        if self.flush_claim_idle.is_zero() || self.flush_sink_timeout.is_zero() {
            bail!("FLUSH_CLAIM_IDLE_SECS and FLUSH_SINK_TIMEOUT_SECS must be at least 1");
        }
        if self.flush_max_deliveries == 0 {
            bail!("FLUSH_MAX_DELIVERIES must be at least 1");
        }
        if self.flush_idle_poll.is_zero() {
            bail!("FLUSH_IDLE_POLL_MS must be positive");
        }
        if self.wait_idle_timeout > MAX_WAIT_IDLE_TIMEOUT {
            bail!(
                "WAIT_IDLE_TIMEOUT_SECS must be at most {} (0 means never)",
                MAX_WAIT_IDLE_TIMEOUT.as_secs()
            );
        }
        if self.holds_per_user == 0 {
            bail!("HOLDS_PER_USER must be at least 1");
        }
        if self.hold_ttl.is_zero() {
            bail!("HOLD_TTL_SECS must be at least 1");
        }
        if !(1..=MAX_CHARGE_LIMIT).contains(&self.charge_max) {
            bail!("CHARGE_MAX must be between 1 and {MAX_CHARGE_LIMIT}");
        }
        if self.hold_sweep_interval.is_zero() || self.mysql_timeout.is_zero() {
            bail!("HOLD_SWEEP_MS and MYSQL_TIMEOUT_MS must be positive");
        }
        Ok(())
    }

    /// Whether the token secret is still the published development value.
    pub fn uses_dev_secret(&self) -> bool {
        self.token_secret == DEV_TOKEN_SECRET
    }
}

fn parse_or<T>(get: &impl Fn(&str) -> Option<String>, name: &str, default: T) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match get(name) {
        Some(raw) => raw
            .trim()
            .parse()
            .with_context(|| format!("{name}={raw:?} is not valid")),
        None => Ok(default),
    }
}

fn secs_or(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    parse_or(get, name, default.as_secs()).map(Duration::from_secs)
}

fn millis_or(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    parse_or(get, name, default.as_millis() as u64).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = from(&[]).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(c.mysql_url, "mysql://root@127.0.0.1:3306/concert_queue");
        assert_eq!(c.kafka_brokers, "127.0.0.1:9092");
        assert_eq!(c.key_prefix, "cq");
        assert!(c.uses_dev_secret());
        assert_eq!(c.queue_max_active, 500);
        assert_eq!(c.queue_admit_per_sec, 100);
        assert_eq!(c.active_ttl, Duration::from_secs(300));
        assert_eq!(c.wait_idle_timeout, Duration::from_secs(120));
        assert_eq!(c.token_rate_limit_per_sec, 100);
        assert_eq!(c.kafka_topic, "reservation-confirmed");
        assert_eq!(c.kafka_topic_partitions, 3);
        assert_eq!(c.kafka_topic_replication, 1);
        assert_eq!(c.flush_batch_size, 2000);
        assert_eq!(c.flush_workers, 2);
        assert_eq!(c.flush_claim_idle, Duration::from_secs(30));
        assert_eq!(c.flush_max_deliveries, 5);
        assert_eq!(c.flush_sink_timeout, Duration::from_secs(30));
        assert_eq!(c.flush_idle_poll, Duration::from_millis(200));
        assert_eq!(c.flush_metrics_addr.unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(c.holds_per_user, 4);
        assert_eq!(c.hold_ttl, Duration::from_secs(300));
        assert_eq!(c.charge_max, 10_000_000);
        assert_eq!(c.hold_sweep_interval, Duration::from_millis(1000));
        assert_eq!(c.mysql_timeout, Duration::from_millis(2000));
        assert_eq!(c.script_fanout, crate::store::Fanout::Pipeline);
    }

    #[test]
    fn flush_settings_come_from_the_environment() {
        let c = from(&[
            ("KAFKA_TOPIC", "t-1"),
            ("FLUSH_BATCH_SIZE", "50"),
            ("FLUSH_WORKERS", "3"),
            ("FLUSH_CLAIM_IDLE_SECS", "2"),
            ("FLUSH_MAX_DELIVERIES", "3"),
            ("FLUSH_SINK_TIMEOUT_SECS", "4"),
            ("FLUSH_IDLE_POLL_MS", "10"),
            ("FLUSH_METRICS_ADDR", "0.0.0.0:9999"),
        ])
        .unwrap();
        assert_eq!(c.kafka_topic, "t-1");
        assert_eq!(c.flush_batch_size, 50);
        assert_eq!(c.flush_workers, 3);
        assert_eq!(c.flush_claim_idle, Duration::from_secs(2));
        assert_eq!(c.flush_max_deliveries, 3);
        assert_eq!(c.flush_sink_timeout, Duration::from_secs(4));
        assert_eq!(c.flush_idle_poll, Duration::from_millis(10));
        assert_eq!(c.flush_metrics_addr.unwrap().port(), 9999);
        assert!(from(&[("FLUSH_METRICS_ADDR", "off")])
            .unwrap()
            .flush_metrics_addr
            .is_none());
    }

    #[test]
    fn bad_flush_settings_are_refused() {
        for (name, value) in [
            ("FLUSH_BATCH_SIZE", "0"),
            ("FLUSH_BATCH_SIZE", "10001"),
            ("FLUSH_CLAIM_IDLE_SECS", "0"),
            ("FLUSH_MAX_DELIVERIES", "0"),
            ("FLUSH_SINK_TIMEOUT_SECS", "0"),
            ("FLUSH_IDLE_POLL_MS", "0"),
            ("KAFKA_TOPIC_PARTITIONS", "0"),
        ] {
            assert!(from(&[(name, value)]).is_err(), "{name}={value}");
        }
        let err = from(&[("FLUSH_METRICS_ADDR", "nowhere")]).unwrap_err();
        assert!(err.to_string().contains("FLUSH_METRICS_ADDR"));
    }

    #[test]
    fn an_idle_timeout_past_half_an_hour_is_refused() {
        let err = from(&[("WAIT_IDLE_TIMEOUT_SECS", "1801")]).unwrap_err();
        assert!(err.to_string().contains("WAIT_IDLE_TIMEOUT_SECS"), "{err}");
        let c = from(&[("WAIT_IDLE_TIMEOUT_SECS", "1800")]).unwrap();
        assert_eq!(c.wait_idle_timeout, MAX_WAIT_IDLE_TIMEOUT);
    }

    #[test]
    fn booking_settings_come_from_the_environment() {
        let c = from(&[
            ("HOLDS_PER_USER", "2"),
            ("HOLD_TTL_SECS", "60"),
            ("CHARGE_MAX", "500"),
            ("HOLD_SWEEP_MS", "250"),
            ("MYSQL_TIMEOUT_MS", "100"),
        ])
        .unwrap();
        assert_eq!(c.holds_per_user, 2);
        assert_eq!(c.hold_ttl, Duration::from_secs(60));
        assert_eq!(c.charge_max, 500);
        assert_eq!(c.hold_sweep_interval, Duration::from_millis(250));
        assert_eq!(c.mysql_timeout, Duration::from_millis(100));
    }

    #[test]
    fn booking_settings_that_cannot_work_are_refused() {
        assert!(from(&[("HOLDS_PER_USER", "0")]).is_err());
        assert!(from(&[("HOLD_TTL_SECS", "0")]).is_err());
        assert!(from(&[("CHARGE_MAX", "0")]).is_err());
        assert!(from(&[("CHARGE_MAX", "1000000000000000")]).is_err());
        assert!(from(&[("HOLD_SWEEP_MS", "0")]).is_err());
        assert!(from(&[("CHARGE_MAX", "-5")]).is_err());
    }

    #[test]
    fn environment_overrides_defaults() {
        let c = from(&[
            ("QUEUE_MAX_ACTIVE", "0"),
            ("WAIT_IDLE_TIMEOUT_SECS", "0"),
            ("TOKEN_RATE_LIMIT_PER_SEC", "0"),
            ("TOKEN_SECRET", "a-long-enough-production-secret"),
        ])
        .unwrap();
        assert_eq!(c.queue_max_active, 0);
        assert!(c.wait_idle_timeout.is_zero());
        assert_eq!(c.token_rate_limit_per_sec, 0);
        assert!(!c.uses_dev_secret());
        let c = from(&[("SCRIPT_FANOUT", "concurrent")]).unwrap();
        assert_eq!(c.script_fanout, crate::store::Fanout::Concurrent);
        assert!(from(&[("SCRIPT_FANOUT", "batched")]).is_err());
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_name() {
        let err = from(&[("QUEUE_MAX_ACTIVE", "many")]).unwrap_err();
        assert!(err.to_string().contains("QUEUE_MAX_ACTIVE"));
        assert!(from(&[("REDIS_KEY_PREFIX", "a{b}")]).is_err());
        assert!(from(&[("TOKEN_SECRET", "short")]).is_err());
        assert!(from(&[("ACTIVE_TTL_SECS", "0")]).is_err());
    }
}
