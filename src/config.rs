//! Every setting, declared once: each is an environment variable (and a command-line flag)
//! with its default, so `concert-queue serve --help` lists them all. `main` reads `./.env`
//! first; a variable already set in the environment wins.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, FromArgMatches};

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

/// The largest `maxActive` a concert may be given (PATCH /admin/concerts/{id}/queue).
pub const MAX_CONCERT_MAX_ACTIVE: u64 = 100_000;

/// The largest `admitPerSec` a concert may be given.
pub const MAX_CONCERT_ADMIT_PER_SEC: u64 = 100_000;

/// The longest `activeTtlSecs` a concert may be given (a day).
pub const MAX_CONCERT_ACTIVE_TTL_SECS: u64 = 86_400;

/// The largest `ADMIT_PER_AVAILABLE_SEAT` (10^6: as good as no bound, for tests that want
/// more buyers than seats).
pub const MAX_ADMIT_PER_AVAILABLE_SEAT: f64 = 1_000_000.0;

/// Everything the server, the ticker and the worker need to know.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Settings (environment variable, or flag)")]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,
    /// Redis holding the queue and every hot-path state.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Redis Cluster instead of one Redis: seed nodes as comma-separated host:port (any
    /// few of the cluster's); when set, REDIS_URL is not used. Payments run in three
    /// single-slot steps there (docs/operations.md, "Redis Cluster").
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_parser = cluster_nodes)]
    pub redis_cluster_nodes: Option<ClusterNodes>,
    /// MySQL or MariaDB for the catalog and confirmed reservations; the database is
    /// created if missing.
    #[arg(
        long,
        env = "MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306/concert_queue"
    )]
    pub mysql_url: String,
    /// Kafka bootstrap servers, comma-separated.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Prefix of every Redis key (no braces or spaces).
    #[arg(
        long = "redis-key-prefix",
        env = "REDIS_KEY_PREFIX",
        default_value = "cq"
    )]
    pub key_prefix: String,
    /// HMAC key for queue tokens, at least 16 bytes; the default is a published
    /// development value (`serve` warns about it).
    #[arg(long, env = "TOKEN_SECRET", default_value = DEV_TOKEN_SECRET, hide_default_value = true)]
    pub token_secret: String,
    /// Most buyers ACTIVE at once per concert; 0 pauses admission.
    #[arg(long, env = "QUEUE_MAX_ACTIVE", default_value_t = 500)]
    pub queue_max_active: u64,
    /// Admissions per second per concert, enforced in Redis across all servers.
    #[arg(long, env = "QUEUE_ADMIT_PER_SEC", default_value_t = 100)]
    pub queue_admit_per_sec: u64,
    /// How long an ACTIVE token lasts, in seconds.
    #[arg(long = "active-ttl-secs", env = "ACTIVE_TTL_SECS", default_value = "300", value_parser = secs)]
    pub active_ttl: Duration,
    /// A WAITING token that stops polling for this long is dropped, in seconds; 0 means
    /// never; at most 1800.
    #[arg(long = "wait-idle-timeout-secs", env = "WAIT_IDLE_TIMEOUT_SECS", default_value = "120", value_parser = secs)]
    pub wait_idle_timeout: Duration,
    /// Most buyers ACTIVE at once per AVAILABLE seat of the concert (all schedules); above
    /// 0, at most 10^6. A concert with no seats seeded has no such bound.
    #[arg(long, env = "ADMIT_PER_AVAILABLE_SEAT", default_value = "1.0")]
    pub admit_per_available_seat: f64,
    /// Address of the admin API (its own listener; loopback by default).
    #[arg(long, env = "ADMIN_BIND_ADDR", default_value = "127.0.0.1:9091")]
    pub admin_bind_addr: SocketAddr,
    /// Bearer token of the admin API, at least 16 bytes; unset, the admin listener is off.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Token requests per second per server before 429; 0 turns the limiter off.
    #[arg(long, env = "TOKEN_RATE_LIMIT_PER_SEC", default_value_t = 100)]
    pub token_rate_limit_per_sec: u32,
    /// Who the user is: `none` (whoever the body or path says; the default only when
    /// BIND_ADDR is a loopback address, and `serve` refuses to start unset elsewhere) or
    /// `jwt` (the `sub` of a verified JWT).
    #[arg(long, env = "AUTH_MODE", value_enum)]
    pub auth_mode: Option<crate::auth::AuthMode>,
    /// AUTH_MODE=jwt: the HS256 key of the platform's JWTs, at least 32 bytes.
    #[arg(long, env = "AUTH_JWT_SECRET", hide_env_values = true)]
    pub auth_jwt_secret: Option<String>,
    /// AUTH_MODE=jwt: a JWKS file with the RS256 / ES256 public keys, picked by `kid`.
    #[arg(long, env = "AUTH_JWKS_FILE")]
    pub auth_jwks_file: Option<std::path::PathBuf>,
    /// AUTH_MODE=jwt: the `iss` every JWT must carry (not checked when unset).
    #[arg(long, env = "AUTH_JWT_ISSUER")]
    pub auth_jwt_issuer: Option<String>,
    /// AUTH_MODE=jwt: the `aud` every JWT must carry (not checked when unset).
    #[arg(long, env = "AUTH_JWT_AUDIENCE")]
    pub auth_jwt_audience: Option<String>,
    /// Token requests per second per client (the verified user in jwt mode, the client IP
    /// otherwise) before 429; over it, nothing is drawn from the server-wide limiter. 0
    /// turns it off.
    #[arg(long, env = "CLIENT_RATE_LIMIT_PER_SEC", default_value_t = 2)]
    pub client_rate_limit_per_sec: u32,
    /// Token requests one client may send at once before its per-second rate applies.
    #[arg(long, env = "CLIENT_RATE_LIMIT_BURST", default_value_t = 10)]
    pub client_rate_limit_burst: u32,
    /// Proxies in front of the server that append to X-Forwarded-For: the client IP is the
    /// entry this many from the right; 0 uses the peer address.
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,
    /// A WAITING token polling sooner than this times its pollAfterMs gets 429 (checked
    /// per server); 0 turns that off; at most 1.
    #[arg(long, env = "POLL_MIN_INTERVAL_FACTOR", default_value_t = 0.5)]
    pub poll_min_interval_factor: f64,
    /// WAITING polls far back in the line answered from this server's snapshot, taken every
    /// activation tick, with no Redis round trip (`off`: every poll asks Redis).
    #[arg(long, env = "STATUS_SNAPSHOT", default_value = "on", value_parser = on_or_off, action = clap::ArgAction::Set)]
    pub status_snapshot: bool,
    /// With STATUS_SNAPSHOT=on: the first this many positions are always asked of Redis
    /// (exact); further back the snapshot answers within 1%.
    #[arg(long, env = "STATUS_EXACT_POSITIONS", default_value_t = 1000)]
    pub status_exact_positions: u64,
    /// How often each server runs the admission script for every concert, in milliseconds.
    #[arg(long = "activation-tick-ms", env = "ACTIVATION_TICK_MS", default_value = "100", value_parser = millis)]
    pub activation_tick: Duration,
    /// Bound on one Redis round trip before the request fails with 503, in milliseconds.
    #[arg(long = "redis-timeout-ms", env = "REDIS_TIMEOUT_MS", default_value = "1000", value_parser = millis)]
    pub redis_timeout: Duration,
    /// 0: one multiplexed, self-reconnecting Redis connection; N: a pool of N.
    #[arg(long, env = "REDIS_POOL_SIZE", default_value_t = 0)]
    pub redis_pool_size: u32,
    /// How the ticker and the sweeper run their script for every concert: pipeline,
    /// concurrent or sequential.
    #[arg(long, env = "SCRIPT_FANOUT", default_value_t = crate::store::Fanout::Pipeline)]
    pub script_fanout: crate::store::Fanout,
    /// Open HTTP connections accepted at once; further ones wait in the backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// How long a client may take to send its request headers, in seconds.
    #[arg(long = "header-read-timeout-secs", env = "HEADER_READ_TIMEOUT_SECS", default_value = "10", value_parser = secs)]
    pub header_read_timeout: Duration,
    /// Open HTTP connections one client IP (the peer address) may hold at once; further
    /// ones are closed at once; 0: no cap.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 1_000)]
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a whole request, headers and body, in seconds
    /// (408 and the connection closed beyond).
    #[arg(long = "request-read-timeout-secs", env = "REQUEST_READ_TIMEOUT_SECS", default_value = "10", value_parser = secs)]
    pub request_read_timeout: Duration,
    /// How long an answer may wait for the client to read it, in seconds; beyond, the
    /// connection is closed.
    #[arg(long = "response-write-timeout-secs", env = "RESPONSE_WRITE_TIMEOUT_SECS", default_value = "10", value_parser = secs)]
    pub response_write_timeout: Duration,
    /// On SIGTERM, how long the server keeps accepting while `/health/ready` answers 503
    /// (so load balancers stop sending first), before graceful shutdown, in seconds.
    #[arg(long = "shutdown-ready-delay-secs", env = "SHUTDOWN_READY_DELAY_SECS", default_value = "5", value_parser = secs)]
    pub shutdown_ready_delay: Duration,
    /// How long graceful shutdown waits for in-flight requests, in seconds.
    #[arg(long = "shutdown-grace-secs", env = "SHUTDOWN_GRACE_SECS", default_value = "10", value_parser = secs)]
    pub shutdown_grace: Duration,
    /// Log lines as `text` (for people) or `json` (one object per line, for collectors).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// One access-log line per request (method, route, status, latency, request id);
    /// `off` turns it off.
    #[arg(long, env = "ACCESS_LOG", default_value = "on", value_parser = on_or_off, action = clap::ArgAction::Set)]
    pub access_log: bool,
    /// Origins whose browser scripts may call the API (CORS), comma-separated, e.g.
    /// `https://tickets.example`; `*` allows any; empty allows none.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: String,
    /// The tokio runtime: multi_thread, or current_thread (everything on one thread).
    #[arg(long, env = "TOKIO_RUNTIME", value_enum, default_value_t = crate::runtime::Flavor::MultiThread)]
    pub tokio_runtime: crate::runtime::Flavor,
    /// Worker threads of the multi-threaded runtime (tokio's own variable); one per core
    /// when unset.
    #[arg(long, env = "TOKIO_WORKER_THREADS")]
    pub tokio_worker_threads: Option<usize>,
    /// The topic the flush worker publishes confirmed reservations to.
    #[arg(long, env = "KAFKA_TOPIC", default_value = "reservation-confirmed")]
    pub kafka_topic: String,
    /// The topic the flush worker publishes queue events to (key: the concert id).
    #[arg(long, env = "KAFKA_QUEUE_EVENTS_TOPIC", default_value = "queue-events")]
    pub kafka_queue_events_topic: String,
    /// Partitions the worker creates the topics with when they are missing.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = 3)]
    pub kafka_topic_partitions: i32,
    /// Replication factor the worker creates the topics with when they are missing.
    #[arg(long, env = "KAFKA_TOPIC_REPLICATION", default_value_t = 1)]
    pub kafka_topic_replication: i32,
    /// Outbox entries the flush worker reads, writes and acknowledges at a time.
    #[arg(long, env = "FLUSH_BATCH_SIZE", default_value_t = 2000)]
    pub flush_batch_size: usize,
    /// Consumers one `concert-queue flush` process runs side by side (each with its own
    /// batch at MySQL and at the broker).
    #[arg(long, env = "FLUSH_WORKERS", default_value_t = 2)]
    pub flush_workers: usize,
    /// A pending outbox entry idle this long belongs to a dead worker and is claimed, in
    /// seconds; must exceed the longest a live worker waits on a write
    /// (`FLUSH_SINK_TIMEOUT_SECS` plus the broker's report guard).
    #[arg(long = "flush-claim-idle-secs", env = "FLUSH_CLAIM_IDLE_SECS", default_value = "60", value_parser = secs)]
    pub flush_claim_idle: Duration,
    /// Deliveries after which an entry that keeps failing goes to the dead-letter stream.
    #[arg(long, env = "FLUSH_MAX_DELIVERIES", default_value_t = 5)]
    pub flush_max_deliveries: u64,
    /// Bound on one MySQL batch and on one Kafka delivery before the batch is retried, in
    /// seconds.
    #[arg(long = "flush-sink-timeout-secs", env = "FLUSH_SINK_TIMEOUT_SECS", default_value = "30", value_parser = secs)]
    pub flush_sink_timeout: Duration,
    /// How long the worker sleeps when the outbox is empty, in milliseconds.
    #[arg(long = "flush-idle-poll-ms", env = "FLUSH_IDLE_POLL_MS", default_value = "200", value_parser = millis)]
    pub flush_idle_poll: Duration,
    /// Where the worker serves Prometheus metrics; `off` serves none.
    #[arg(long, env = "FLUSH_METRICS_ADDR", default_value = "127.0.0.1:9464", value_parser = addr_or_off)]
    pub flush_metrics_addr: ::std::option::Option<SocketAddr>,
    /// Live holds one buyer may have per schedule (409 HOLD_LIMIT beyond).
    #[arg(long, env = "HOLDS_PER_USER", default_value_t = 4)]
    pub holds_per_user: u64,
    /// How long a seat hold lasts, in seconds; then the seat is AVAILABLE again, at once.
    #[arg(long = "hold-ttl-secs", env = "HOLD_TTL_SECS", default_value = "300", value_parser = secs)]
    pub hold_ttl: Duration,
    /// Largest single wallet charge in won (400 INVALID_AMOUNT beyond; at most 10^12).
    #[arg(long, env = "CHARGE_MAX", default_value_t = 10_000_000)]
    pub charge_max: u64,
    /// Charges one wallet may take per minute, across all servers (replays of an
    /// Idempotency-Key excepted); 0: no budget.
    #[arg(long, env = "CHARGES_PER_USER_PER_MIN", default_value_t = 10)]
    pub charges_per_user_per_min: u32,
    /// Idempotency-Key answers kept per user; a new key beyond evicts the oldest.
    #[arg(long, env = "IDEMPOTENCY_KEYS_PER_USER", default_value_t = 100)]
    pub idempotency_keys_per_user: u32,
    /// How payments run: `auto` (one script on a single Redis, three steps on a Redis
    /// Cluster, where the wallet and the seat live in different slots) or `steps` (three
    /// steps everywhere; to exercise them on a single Redis).
    #[arg(long, env = "PAYMENT_STEPS", default_value_t = PaymentSteps::Auto)]
    pub payment_steps: PaymentSteps,
    /// How often the background sweeper ends lapsed holds, in milliseconds (an
    /// optimisation only).
    #[arg(long = "hold-sweep-ms", env = "HOLD_SWEEP_MS", default_value = "1000", value_parser = millis)]
    pub hold_sweep_interval: Duration,
    /// Bound on one catalog query before the route answers 503, in milliseconds.
    #[arg(long = "mysql-timeout-ms", env = "MYSQL_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub mysql_timeout: Duration,
}

impl Default for Config {
    /// Every setting at its declared default, whatever the environment says.
    fn default() -> Self {
        Config::from_lookup(|_| None).expect("the declared defaults are valid")
    }
}

impl Config {
    /// Reads every setting from the environment, falling back to the defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup` (by its environment name), falling back to
    /// the declared defaults; a blank value counts as unset. Tests use it to leave the
    /// process environment alone.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut args = vec!["concert-queue".to_string()];
        for arg in Self::command().get_arguments() {
            let (Some(long), Some(name)) = (arg.get_long(), env_name(arg)) else {
                continue;
            };
            if let Some(value) = lookup(&name).filter(|v| !v.trim().is_empty()) {
                args.push(format!("--{long}={}", value.trim()));
            }
        }
        let matches = Self::command_without_env()
            .try_get_matches_from(args)
            .map_err(|err| anyhow::anyhow!("{}", err.render().to_string().trim_end()))?;
        let config = Config::from_arg_matches(&matches)?;
        config.validate()?;
        Ok(config)
    }

    /// The settings as a command of their own, each with its environment name and default
    /// (what `--help` shows, and what tests compare the docs with).
    pub fn command() -> clap::Command {
        name_values_by_env(Config::augment_args(clap::Command::new("concert-queue")))
    }

    /// [`Config::command`] reading nothing from the environment.
    fn command_without_env() -> clap::Command {
        Self::command().mut_args(|arg| arg.env(None::<&str>))
    }

    /// Every setting's environment variable with its default (`None` when it has none).
    pub fn documented() -> Vec<(String, Option<String>)> {
        Self::command()
            .get_arguments()
            .filter_map(|arg| {
                let name = env_name(arg)?;
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned());
                Some((name, default))
            })
            .collect()
    }

    /// Rejects settings the engine cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        crate::http::service::cors_policy(&self.cors_allowed_origins)?;
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
        if self.status_exact_positions == 0 {
            bail!("STATUS_EXACT_POSITIONS must be at least 1");
        }
        if self.max_connections == 0 {
            bail!("MAX_CONNECTIONS must be positive");
        }
        if self.request_read_timeout.is_zero() || self.response_write_timeout.is_zero() {
            bail!("REQUEST_READ_TIMEOUT_SECS and RESPONSE_WRITE_TIMEOUT_SECS must be at least 1");
        }
        if self.kafka_topic.is_empty() || self.kafka_topic.len() > 249 {
            bail!("KAFKA_TOPIC must be 1 to 249 characters");
        }
        if self.kafka_queue_events_topic.is_empty()
            || self.kafka_queue_events_topic.len() > 249
            || self.kafka_queue_events_topic == self.kafka_topic
        {
            bail!("KAFKA_QUEUE_EVENTS_TOPIC must be 1 to 249 characters, and not KAFKA_TOPIC");
        }
        if !(self.admit_per_available_seat > 0.0
            && self.admit_per_available_seat <= MAX_ADMIT_PER_AVAILABLE_SEAT)
        {
            bail!("ADMIT_PER_AVAILABLE_SEAT must be above 0 and at most {MAX_ADMIT_PER_AVAILABLE_SEAT}");
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("ADMIN_TOKEN must be at least 16 bytes");
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
        if self.flush_claim_idle <= self.longest_flush_write_wait() {
            bail!(
                "FLUSH_CLAIM_IDLE_SECS ({} s) must exceed the longest a live worker waits on a write: \
                 FLUSH_SINK_TIMEOUT_SECS ({} s) plus the wait for the broker's reports ({} s more), \
                 or a batch still being written is claimed by another worker",
                self.flush_claim_idle.as_secs_f64(),
                self.flush_sink_timeout.as_secs_f64(),
                delivery_report_guard(self.flush_sink_timeout).as_secs_f64()
            );
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
        if self.client_rate_limit_per_sec > 0 && self.client_rate_limit_burst == 0 {
            bail!("CLIENT_RATE_LIMIT_BURST must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.poll_min_interval_factor) {
            bail!("POLL_MIN_INTERVAL_FACTOR must be between 0 and 1");
        }
        if self.trusted_proxy_hops > 16 {
            bail!("TRUSTED_PROXY_HOPS must be at most 16");
        }
        if self.idempotency_keys_per_user == 0 {
            bail!("IDEMPOTENCY_KEYS_PER_USER must be at least 1");
        }
        if self.hold_sweep_interval.is_zero() || self.mysql_timeout.is_zero() {
            bail!("HOLD_SWEEP_MS and MYSQL_TIMEOUT_MS must be positive");
        }
        Ok(())
    }

    /// The longest a live flush worker waits on one write: a MySQL batch is bounded by
    /// `FLUSH_SINK_TIMEOUT_SECS`, the broker's delivery reports by the same plus
    /// [`delivery_report_guard`]. A pending entry idle longer belongs to a dead worker.
    pub fn longest_flush_write_wait(&self) -> Duration {
        self.flush_sink_timeout + delivery_report_guard(self.flush_sink_timeout)
    }

    /// Whether the token secret is still the published development value.
    pub fn uses_dev_secret(&self) -> bool {
        self.token_secret == DEV_TOKEN_SECRET
    }
}

/// How much longer than `message.timeout.ms` (the sink timeout) the worker waits for the
/// broker's delivery reports before giving up on a producer that stopped reporting: 5 s,
/// or the sink timeout itself when that is shorter.
pub fn delivery_report_guard(sink_timeout: Duration) -> Duration {
    sink_timeout.min(Duration::from_secs(5))
}

/// Unsets every setting's environment variable that holds only blanks, so that it counts
/// as unset (its default) rather than as an invalid empty value. Call it before any other
/// thread starts.
pub fn forget_blank_settings() {
    for (name, _) in Config::documented() {
        if std::env::var_os(&name).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
            std::env::remove_var(&name);
        }
    }
}

/// Shows each setting's value by its environment variable (`--active-ttl-secs
/// <ACTIVE_TTL_SECS>`), so help and error messages name the variable to fix.
pub fn name_values_by_env(command: clap::Command) -> clap::Command {
    command.mut_args(|arg| match env_name(&arg) {
        Some(name) => arg.value_name(name),
        None => arg,
    })
}

/// How payments run (`PAYMENT_STEPS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentSteps {
    /// One script on a single Redis, three steps on a Redis Cluster.
    #[default]
    Auto,
    /// Three steps, whatever the topology.
    Steps,
}

impl std::fmt::Display for PaymentSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PaymentSteps::Auto => "auto",
            PaymentSteps::Steps => "steps",
        })
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one readable line per event.
    #[default]
    Text,
    /// For collectors: one JSON object per line.
    Json,
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

fn on_or_off(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

/// The environment variable an argument reads.
fn env_name(arg: &clap::Arg) -> Option<String> {
    arg.get_env()
        .map(|name| name.to_string_lossy().into_owned())
}

fn secs(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|err| format!("expected whole seconds: {err}"))
}

/// The seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`): at least one `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNodes(pub Vec<String>);

impl ClusterNodes {
    /// The nodes as `redis://host:port` URLs, as the cluster client takes them.
    pub fn urls(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|node| format!("redis://{node}"))
            .collect()
    }
}

impl std::fmt::Display for ClusterNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

impl std::str::FromStr for ClusterNodes {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let mut nodes = Vec::new();
        for node in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let (host, port) = node
                .rsplit_once(':')
                .ok_or_else(|| format!("{node}: expected host:port"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() || host.contains(['/', '@', ' ']) {
                return Err(format!("{node}: expected host:port"));
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => return Err(format!("{node}: the port must be 1 to 65535")),
            }
            nodes.push(node.to_string());
        }
        if nodes.is_empty() {
            return Err("expected at least one host:port".into());
        }
        Ok(ClusterNodes(nodes))
    }
}

fn cluster_nodes(raw: &str) -> Result<ClusterNodes, String> {
    raw.parse()
}

fn millis(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|err| format!("expected whole milliseconds: {err}"))
}

fn addr_or_off(raw: &str) -> Result<Option<SocketAddr>, String> {
    if raw.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    raw.trim()
        .parse()
        .map(Some)
        .map_err(|err| format!("expected host:port or off: {err}"))
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
        assert_eq!(c.redis_cluster_nodes, None);
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
        assert_eq!(c.flush_claim_idle, Duration::from_secs(60));
        assert_eq!(c.flush_max_deliveries, 5);
        assert_eq!(c.max_connections_per_ip, 1_000);
        assert_eq!(c.request_read_timeout, Duration::from_secs(10));
        assert_eq!(c.response_write_timeout, Duration::from_secs(10));
        assert_eq!(c.shutdown_ready_delay, Duration::from_secs(5));
        assert_eq!(c.flush_sink_timeout, Duration::from_secs(30));
        assert_eq!(c.flush_idle_poll, Duration::from_millis(200));
        assert_eq!(c.flush_metrics_addr.unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(c.holds_per_user, 4);
        assert_eq!(c.hold_ttl, Duration::from_secs(300));
        assert_eq!(c.charge_max, 10_000_000);
        assert_eq!(c.hold_sweep_interval, Duration::from_millis(1000));
        assert_eq!(c.mysql_timeout, Duration::from_millis(2000));
        assert_eq!(c.script_fanout, crate::store::Fanout::Pipeline);
        assert_eq!(c.auth_mode, None);
        assert_eq!(c.client_rate_limit_per_sec, 2);
        assert_eq!(c.client_rate_limit_burst, 10);
        assert_eq!(c.trusted_proxy_hops, 0);
        assert_eq!(c.poll_min_interval_factor, 0.5);
        assert_eq!(c.charges_per_user_per_min, 10);
        assert_eq!(c.idempotency_keys_per_user, 100);
        assert_eq!(c.admit_per_available_seat, 1.0);
        assert_eq!(c.admin_bind_addr.to_string(), "127.0.0.1:9091");
        assert_eq!(c.admin_token, None);
        assert_eq!(c.kafka_queue_events_topic, "queue-events");
        assert!(c.status_snapshot);
        assert_eq!(c.status_exact_positions, 1000);
    }

    #[test]
    fn identity_and_fairness_settings_come_from_the_environment() {
        let c = from(&[
            ("AUTH_MODE", "jwt"),
            ("AUTH_JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes"),
            ("AUTH_JWT_ISSUER", "https://login.example"),
            ("CLIENT_RATE_LIMIT_PER_SEC", "5"),
            ("TRUSTED_PROXY_HOPS", "2"),
            ("POLL_MIN_INTERVAL_FACTOR", "0"),
        ])
        .unwrap();
        assert_eq!(c.auth_mode, Some(crate::auth::AuthMode::Jwt));
        assert_eq!(c.auth_jwt_issuer.as_deref(), Some("https://login.example"));
        assert_eq!(c.client_rate_limit_per_sec, 5);
        assert_eq!(c.trusted_proxy_hops, 2);
        assert_eq!(c.poll_min_interval_factor, 0.0);
        for (name, value) in [
            ("AUTH_MODE", "oauth"),
            ("POLL_MIN_INTERVAL_FACTOR", "1.5"),
            ("POLL_MIN_INTERVAL_FACTOR", "-0.1"),
            ("POLL_MIN_INTERVAL_FACTOR", "NaN"),
            ("CLIENT_RATE_LIMIT_BURST", "0"),
            ("IDEMPOTENCY_KEYS_PER_USER", "0"),
        ] {
            assert!(from(&[(name, value)]).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn on_sale_settings_are_checked() {
        let c = from(&[
            ("ADMIT_PER_AVAILABLE_SEAT", "1.5"),
            ("ADMIN_TOKEN", "an-admin-token-long-enough"),
        ])
        .unwrap();
        assert_eq!(c.admit_per_available_seat, 1.5);
        assert_eq!(c.admin_token.as_deref(), Some("an-admin-token-long-enough"));
        for (name, value) in [
            ("ADMIT_PER_AVAILABLE_SEAT", "0"),
            ("ADMIT_PER_AVAILABLE_SEAT", "-1"),
            ("ADMIT_PER_AVAILABLE_SEAT", "1000001"),
            ("ADMIT_PER_AVAILABLE_SEAT", "NaN"),
            ("ADMIN_TOKEN", "short"),
            ("KAFKA_QUEUE_EVENTS_TOPIC", "reservation-confirmed"),
        ] {
            assert!(from(&[(name, value)]).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn flush_settings_come_from_the_environment() {
        let c = from(&[
            ("KAFKA_TOPIC", "t-1"),
            ("FLUSH_BATCH_SIZE", "50"),
            ("FLUSH_WORKERS", "3"),
            ("FLUSH_CLAIM_IDLE_SECS", "9"),
            ("FLUSH_MAX_DELIVERIES", "3"),
            ("FLUSH_SINK_TIMEOUT_SECS", "4"),
            ("FLUSH_IDLE_POLL_MS", "10"),
            ("FLUSH_METRICS_ADDR", "0.0.0.0:9999"),
        ])
        .unwrap();
        assert_eq!(c.kafka_topic, "t-1");
        assert_eq!(c.flush_batch_size, 50);
        assert_eq!(c.flush_workers, 3);
        assert_eq!(c.flush_claim_idle, Duration::from_secs(9));
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
    fn the_claim_idle_time_must_exceed_the_longest_write_wait() {
        let defaults = from(&[]).unwrap();
        assert!(defaults.flush_claim_idle > defaults.longest_flush_write_wait());
        assert_eq!(defaults.longest_flush_write_wait(), Duration::from_secs(35));
        // The old defaults: a batch still being written could be claimed.
        let err = from(&[
            ("FLUSH_CLAIM_IDLE_SECS", "30"),
            ("FLUSH_SINK_TIMEOUT_SECS", "30"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("FLUSH_CLAIM_IDLE_SECS") && err.contains("FLUSH_SINK_TIMEOUT_SECS"),
            "{err}"
        );
        assert!(from(&[("FLUSH_CLAIM_IDLE_SECS", "35")]).is_err());
        assert!(from(&[("FLUSH_CLAIM_IDLE_SECS", "36")]).is_ok());
        // A short sink timeout has a guard no longer than itself.
        assert!(from(&[
            ("FLUSH_CLAIM_IDLE_SECS", "3"),
            ("FLUSH_SINK_TIMEOUT_SECS", "1")
        ])
        .is_ok());
        assert!(from(&[
            ("FLUSH_CLAIM_IDLE_SECS", "2"),
            ("FLUSH_SINK_TIMEOUT_SECS", "1")
        ])
        .is_err());
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

    #[test]
    fn cluster_nodes_are_a_list_of_host_and_port() {
        let c = from(&[(
            "REDIS_CLUSTER_NODES",
            "127.0.0.1:7000, redis-a:7001,[::1]:7002",
        )])
        .unwrap();
        let nodes = c.redis_cluster_nodes.unwrap();
        assert_eq!(nodes.0, ["127.0.0.1:7000", "redis-a:7001", "[::1]:7002"]);
        assert_eq!(nodes.urls()[0], "redis://127.0.0.1:7000");
        for bad in [
            ",",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:x",
            ":7000",
            "a:70000",
            "redis://h:1",
        ] {
            assert!(from(&[("REDIS_CLUSTER_NODES", bad)]).is_err(), "{bad}");
        }
    }
}
