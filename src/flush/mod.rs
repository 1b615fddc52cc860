//! The flush worker: drains the Redis outbox into MySQL and Kafka, at least once, losing
//! nothing. One step ([`Worker::flush_once`], in `step.rs`) takes a batch (entries dead
//! workers left pending first, then new ones) and writes it to MySQL in one transaction
//! while the broker acknowledges the previous batch's reservations, then acknowledges in
//! Redis only what both sinks have. [`Worker::run`] loops over steps with backoff;
//! [`Worker::drain`] is `flush --once`.

pub mod event;
pub mod kafka;
pub mod mysql;
pub mod outbox;
mod sql;
mod step;
pub mod timing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;

use crate::store::Store;
use crate::Config;
use kafka::{Deliveries, KafkaSink};
use mysql::MysqlSink;
pub use outbox::{lag, Lag, Outbox, RawEntry, GROUP};
use timing::{Stage, StageTimes};

/// How often the worker refreshes the lag gauges and trims the stream.
const OBSERVE_EVERY: Duration = Duration::from_secs(1);
/// How often the worker scans the pending list for entries dead workers left, when a
/// scan found none: a scan walks every pending entry, the batches in flight included.
const CLAIM_SCAN_EVERY: Duration = Duration::from_secs(1);
/// First and longest pause between attempts while a sink is down.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The outcome of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A batch was handled.
    Flushed(BatchReport),
    /// Nothing to do: no new entries, none claimable.
    Empty,
}

/// What one step did: it takes and writes one batch and acknowledges the one before
/// (see [`Worker::flush_once`]), so over the steps the fields add up per batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Entries taken (read, claimed or retried) and written to MySQL.
    pub entries: usize,
    /// Entries of the batch before acknowledged after both sinks had them.
    pub acked: usize,
    /// Entries taken whose rows MySQL already had (replays).
    pub duplicates: u64,
    /// Entries moved to the dead-letter stream.
    pub dead_lettered: usize,
    /// Entries kept for another attempt.
    pub retrying: usize,
}

/// Totals of a drain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Batches taken (read, claimed or retried).
    pub batches: usize,
    pub acked: usize,
    pub duplicates: u64,
    pub dead_lettered: usize,
    /// Where the drain's time went.
    pub stages: StageTimes,
}

/// Which sink a step failed on.
#[derive(Clone, Copy, Debug)]
enum Sink {
    Redis,
    Mysql,
    Kafka,
}

impl Sink {
    fn label(self) -> &'static str {
        match self {
            Sink::Redis => "redis",
            Sink::Mysql => "mysql",
            Sink::Kafka => "kafka",
        }
    }
}

/// One flush worker: a consumer of the `flush` group with its two sinks.
pub struct Worker {
    outbox: Outbox,
    mysql: MysqlSink,
    kafka: KafkaSink,
    batch_size: usize,
    claim_idle: Duration,
    max_deliveries: u64,
    idle_poll: Duration,
    /// Entries to attempt again before taking new ones (a sink was down, or they failed).
    in_hand: Vec<RawEntry>,
    /// The batch MySQL has whose delivery reports the broker owes, with their future.
    publishing: Option<(step::Publishing, Deliveries)>,
    /// Where the next XAUTOCLAIM scan of the pending list starts.
    claim_cursor: String,
    /// When a scan last walked the whole pending list and found nothing to claim.
    claim_scanned: Option<Instant>,
    /// The last step skipped the scan (one ran less than `CLAIM_SCAN_EVERY` ago).
    claim_skipped: bool,
    /// A Kafka failure happened: make sure the topic exists before publishing again.
    recheck_topic: bool,
    last_observed: Option<Instant>,
    last_lag: Lag,
    /// Time spent in each stage since the worker started.
    stages: StageTimes,
}

/// A consumer name unique across hosts, processes and workers in one process.
pub fn consumer_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "flush".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Worker {
    /// Connects to Redis, MySQL (creating the database and applying migrations) and
    /// Kafka (creating the topic), and joins the `flush` group.
    pub async fn start(config: &Config) -> anyhow::Result<Worker> {
        config.validate()?;
        let store = Store::from_config(config)
            .await
            .context("connecting to Redis")?;
        let outbox = Outbox::new(store, consumer_name());
        outbox.ensure_group().await?;
        let pool = crate::db::connect(&config.mysql_url).await?;
        crate::db::migrate(&pool).await?;
        let kafka = KafkaSink::new(config)?;
        kafka.ensure_topic().await?;
        tracing::info!(
            consumer = outbox.consumer(),
            stream = outbox.stream_key(),
            topic = kafka.topic(),
            "flush worker started"
        );
        Ok(Worker {
            outbox,
            mysql: MysqlSink::new(pool, config.flush_sink_timeout),
            kafka,
            batch_size: config.flush_batch_size,
            claim_idle: config.flush_claim_idle,
            max_deliveries: config.flush_max_deliveries,
            idle_poll: config.flush_idle_poll,
            in_hand: Vec::new(),
            publishing: None,
            claim_cursor: "0-0".into(),
            claim_scanned: None,
            claim_skipped: false,
            recheck_topic: false,
            last_observed: None,
            last_lag: Lag::default(),
            stages: StageTimes::default(),
        })
    }

    /// Like [`Worker::start`], retrying with backoff while a dependency is down, until
    /// `shutdown` turns true (then `None`).
    pub async fn start_when_ready(
        config: &Config,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Worker>> {
        config.validate()?;
        let mut backoff = BACKOFF_MIN;
        loop {
            match Worker::start(config).await {
                Ok(worker) => return Ok(Some(worker)),
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), retry_in = ?backoff, "flush worker cannot start yet");
                }
            }
            if sleep_or_shutdown(backoff, shutdown).await {
                return Ok(None);
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The lag measured last (refreshed at most every second while running).
    pub fn last_lag(&self) -> Lag {
        self.last_lag
    }

    /// Time spent in each stage since the worker started.
    pub fn stages(&self) -> StageTimes {
        self.stages
    }

    /// Claims entries other consumers left pending past the claim idle time, scanning the
    /// whole pending list if need be; after a scan that found nothing, the next one waits
    /// `CLAIM_SCAN_EVERY`.
    async fn claim(&mut self) -> anyhow::Result<Vec<RawEntry>> {
        self.claim_skipped = self
            .claim_scanned
            .is_some_and(|t| t.elapsed() < CLAIM_SCAN_EVERY);
        if self.claim_skipped {
            return Ok(Vec::new());
        }
        let idle_ms = self.claim_idle.as_millis() as u64;
        loop {
            let started = Instant::now();
            let (claimed, next) = self
                .outbox
                .claim_idle(idle_ms, &self.claim_cursor, self.batch_size)
                .await?;
            self.stages.since(Stage::Claim, started);
            let wrapped = next == "0-0";
            self.claim_cursor = next;
            if !claimed.is_empty() {
                tracing::info!(
                    claimed = claimed.len(),
                    "claimed outbox entries a dead or stalled worker left pending"
                );
                metrics::counter!("outbox_claimed_total").increment(claimed.len() as u64);
                return Ok(claimed);
            }
            if wrapped {
                self.claim_scanned = Some(Instant::now());
                return Ok(Vec::new());
            }
        }
    }

    /// Entries that failed on their own merit: dead-lettered once delivered
    /// `max_deliveries` times, otherwise counted as one more delivery and retried next
    /// step. Returns how many were dead-lettered.
    async fn fail(&mut self, failures: Vec<(RawEntry, String)>) -> anyhow::Result<usize> {
        if failures.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = failures.iter().map(|(e, _)| e.stream_id.as_str()).collect();
        let deliveries = self.outbox.deliveries(&ids).await?;
        let mut dead = 0;
        let mut again: Vec<RawEntry> = Vec::new();
        for (entry, reason) in failures {
            let Some(&count) = deliveries.get(&entry.stream_id) else {
                // No longer pending: another worker acknowledged or dead-lettered it.
                continue;
            };
            if count >= self.max_deliveries {
                tracing::warn!(
                    stream_id = %entry.stream_id,
                    deliveries = count,
                    %reason,
                    "dead-lettering an outbox entry"
                );
                self.outbox.dead_letter(&entry, &reason, count).await?;
                metrics::counter!("outbox_dead_lettered_total").increment(1);
                dead += 1;
            } else {
                tracing::warn!(
                    stream_id = %entry.stream_id,
                    deliveries = count,
                    %reason,
                    "an outbox entry failed; retrying it"
                );
                again.push(entry);
            }
        }
        let again_ids: Vec<&str> = again.iter().map(|e| e.stream_id.as_str()).collect();
        self.outbox.redeliver(&again_ids).await?;
        self.in_hand.extend(again);
        Ok(dead)
    }

    /// Refreshes the lag gauges and trims the stream, at most every second unless forced;
    /// a failure here is logged, never fatal.
    async fn observe(&mut self, force: bool) {
        if !force
            && self
                .last_observed
                .is_some_and(|t| t.elapsed() < OBSERVE_EVERY)
        {
            return;
        }
        let started = Instant::now();
        self.last_observed = Some(started);
        self.observe_now().await;
        self.stages.since(Stage::Observe, started);
    }

    async fn observe_now(&mut self) {
        match self.outbox.lag().await {
            Ok(lag) => {
                self.last_lag = lag;
                metrics::gauge!("outbox_lag_entries").set(lag.entries as f64);
                metrics::gauge!("outbox_pending_entries").set(lag.pending as f64);
                metrics::gauge!("outbox_lag_seconds").set(lag.seconds());
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "cannot read the outbox lag"),
        }
        match self.outbox.dead_len().await {
            Ok(n) => metrics::gauge!("outbox_dead_letter_entries").set(n as f64),
            Err(err) => tracing::warn!(
                error = format!("{err:#}"),
                "cannot read the dead-letter length"
            ),
        }
        match self.outbox.trim().await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("outbox_trimmed_total").increment(n);
                tracing::debug!(trimmed = n, "trimmed acknowledged outbox entries");
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "cannot trim the outbox"),
        }
    }

    /// Runs steps until `shutdown` turns true, then waits for the broker's reports on the
    /// batch it has and acknowledges it; while a sink is down the worker backs off
    /// (100 ms doubling to 5 s) and retries.
    pub async fn run(&mut self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut backoff = BACKOFF_MIN;
        let idle_poll = self.idle_poll;
        while !*shutdown.borrow() {
            match self.flush_once().await {
                Ok(Step::Flushed(_)) => backoff = BACKOFF_MIN,
                Ok(Step::Empty) => {
                    backoff = BACKOFF_MIN;
                    if sleep_or_shutdown(idle_poll, &mut shutdown).await {
                        break;
                    }
                }
                Err(err) => {
                    tracing::error!(
                        error = format!("{err:#}"),
                        retry_in = ?backoff,
                        in_hand = self.in_hand.len(),
                        "flush step failed; nothing unwritten was acknowledged"
                    );
                    if sleep_or_shutdown(backoff, &mut shutdown).await {
                        break;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        if let Err(err) = self.settle().await {
            tracing::error!(
                error = format!("{err:#}"),
                "the last batch stays pending; a worker takes it again"
            );
        }
        self.kafka.flush();
        tracing::info!(in_hand = self.in_hand.len(), "flush worker stopped");
        Ok(())
    }

    /// Drains everything there is (`flush --once`): new entries, and entries dead workers
    /// left pending past the claim idle time. A sink outage is retried with backoff;
    /// `max_failures` consecutive failures end the drain with the last error.
    pub async fn drain(&mut self, max_failures: u32) -> anyhow::Result<DrainReport> {
        let mut total = DrainReport::default();
        let stages_before = self.stages;
        self.claim_scanned = None;
        let mut failures = 0;
        let mut backoff = BACKOFF_MIN;
        loop {
            match self.flush_once().await {
                Ok(Step::Flushed(report)) => {
                    failures = 0;
                    backoff = BACKOFF_MIN;
                    if report.entries > 0 {
                        total.batches += 1;
                    }
                    total.acked += report.acked;
                    total.duplicates += report.duplicates;
                    total.dead_lettered += report.dead_lettered;
                }
                // Nothing new, but the pending list was not scanned this time: once more.
                Ok(Step::Empty) if self.claim_skipped => self.claim_scanned = None,
                Ok(Step::Empty) => break,
                Err(err) => {
                    failures += 1;
                    if failures >= max_failures {
                        return Err(
                            err.context(format!("giving up after {failures} failed attempts"))
                        );
                    }
                    tracing::warn!(error = format!("{err:#}"), retry_in = ?backoff, "drain step failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        self.observe(true).await;
        self.kafka.flush();
        total.stages = self.stages.since_snapshot(&stages_before);
        Ok(total)
    }
}

impl DrainReport {
    /// Adds another drain's totals (another worker's, run side by side).
    pub fn absorb(&mut self, other: &DrainReport) {
        self.batches += other.batches;
        self.acked += other.acked;
        self.duplicates += other.duplicates;
        self.dead_lettered += other.dead_lettered;
        self.stages.absorb(&other.stages);
    }
}

/// `flush --once` with `FLUSH_WORKERS` consumers side by side: starts them one after the
/// other (the first creates the database, the group and the topic), drains with all at
/// once, and adds up their totals (stage times summed over the workers).
pub async fn drain_with_workers(config: &Config, max_failures: u32) -> anyhow::Result<DrainReport> {
    let mut workers = Vec::with_capacity(config.flush_workers);
    for _ in 0..config.flush_workers {
        workers.push(Worker::start(config).await?);
    }
    let drains: Vec<_> = workers
        .into_iter()
        .map(|mut worker| tokio::spawn(async move { worker.drain(max_failures).await }))
        .collect();
    let mut total = DrainReport::default();
    let mut first_error = None;
    for drain in drains {
        match drain.await.context("a drain task panicked")? {
            Ok(report) => total.absorb(&report),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(total),
    }
}

/// `concert-queue flush` with `FLUSH_WORKERS` consumers side by side until `shutdown`;
/// each starts once its dependencies answer, and each finishes its last batch on the way
/// out.
pub async fn run_with_workers(
    config: &Config,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut running = Vec::with_capacity(config.flush_workers);
    for _ in 0..config.flush_workers {
        let Some(mut worker) = Worker::start_when_ready(config, &mut shutdown).await? else {
            break;
        };
        let stopped = shutdown.clone();
        running.push(tokio::spawn(async move { worker.run(stopped).await }));
    }
    for worker in running {
        worker.await.context("a flush worker panicked")??;
    }
    Ok(())
}

/// Sleeps for `duration` unless `shutdown` turns true first; returns whether it did.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => *shutdown.borrow(),
        changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
    }
}

fn record_flushed(done: &[RawEntry]) {
    let mut by_type: HashMap<String, u64> = HashMap::new();
    for entry in done {
        let kind = entry
            .fields
            .get("type")
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .unwrap_or_default();
        *by_type.entry(kind).or_default() += 1;
    }
    for (kind, n) in by_type {
        metrics::counter!("outbox_flushed_total", "type" => kind).increment(n);
    }
}

fn count_duplicates(duplicates: u64) {
    if duplicates > 0 {
        metrics::counter!("outbox_duplicates_total").increment(duplicates);
    }
}
