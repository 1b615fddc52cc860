//! One flush worker: a consumer of the `flush` group of every outbox stream, with its two
//! sinks. Its step ([`Worker::flush_once`]) takes the next batch (entries in hand first,
//! then entries read ahead, then entries dead workers left pending, then new ones, of any
//! streams) and writes it to MySQL in one transaction while the broker acknowledges the
//! previous batch's reservations; then it acknowledges in Redis, on each entry's stream,
//! only what both sinks have. [`Worker::run`] loops over steps with backoff until
//! shutdown; [`Worker::drain`] is `flush --once`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;
use tracing::Instrument;

use super::event::Event;
use super::kafka::{Deliveries, KafkaSink, Outgoing, PublishError};
use super::lag::{dead_len_of, lag_of, trim_of, Lag};
use super::mysql::{MysqlSink, SinkError};
use super::outbox::{Outbox, RawEntry, StreamPos};
use super::pending::PendingScan;
use super::streams::StreamList;
use super::timing::{Stage, StageTimes};
use super::{BatchReport, DrainReport, Step};
use crate::store::Store;
use crate::Config;

/// How often the worker refreshes the lag gauges and trims the streams.
const OBSERVE_EVERY: Duration = Duration::from_secs(1);
/// How often an idle running worker looks for entries pending for itself that it does not
/// hold (delivered by a read whose answer it never saw).
const OWN_PENDING_EVERY: Duration = Duration::from_secs(5);
/// First and longest pause between attempts while a sink is down.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

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

/// A batch MySQL has (or rejected parts of), not yet with the producer.
struct WrittenBatch {
    span: tracing::Span,
    started: Instant,
    /// Entries taken.
    entries: usize,
    /// Entries whose rows MySQL already had.
    duplicates: u64,
    /// Entries MySQL has, in stream order, with their events.
    written: Vec<(RawEntry, Event)>,
    /// Entries that failed on their own merit (malformed, or rejected by MySQL).
    failures: Vec<(RawEntry, String)>,
}

/// A batch MySQL has whose messages are with the producer; the delivery reports travel
/// beside it (see [`Worker::flush_once`]).
struct Publishing {
    span: tracing::Span,
    started: Instant,
    /// Entries MySQL has, each marked when a delivery report belongs to it (a reservation
    /// or a queue event).
    written: Vec<(RawEntry, bool)>,
    failures: Vec<(RawEntry, String)>,
}

/// One flush worker: a consumer of the `flush` group of every outbox stream, with its two
/// sinks.
pub struct Worker {
    outbox: Outbox,
    /// The streams it drains, listed again every few seconds.
    streams: StreamList,
    mysql: MysqlSink,
    kafka: KafkaSink,
    batch_size: usize,
    claim_idle: Duration,
    /// The maintenance marker as `concert-queue flush` reads it (none for `--once`).
    presence: Option<crate::store::presence::Presence>,
    max_deliveries: u64,
    idle_poll: Duration,
    /// Entries to attempt again before taking new ones (a sink was down, or they failed).
    in_hand: Vec<RawEntry>,
    /// Entries read beyond the batch size (XREADGROUP counts per stream): this consumer's,
    /// taken before anything else new.
    read_ahead: VecDeque<RawEntry>,
    /// How many streams the last read found entries on: each read asks every stream for
    /// its share of a batch.
    busy_streams: usize,
    /// Stopping: take no new entries, only those in hand and read ahead.
    finishing: bool,
    /// The batch MySQL has whose delivery reports the broker owes, with their future.
    publishing: Option<(Publishing, Deliveries)>,
    /// The scan of the pending list for entries dead workers left.
    pending_scan: PendingScan,
    /// When a running worker last looked for entries pending for itself that it did not
    /// hold (see [`Worker::take_own_pending`]).
    own_pending_checked: Option<Instant>,
    /// A Kafka failure happened: make sure the topic exists before publishing again.
    recheck_topic: bool,
    last_observed: Option<Instant>,
    last_lag: Lag,
    /// Entries acknowledged and entries dead-lettered since the worker started, counted
    /// as they happen (a step that fails after acknowledging part of a batch still counts
    /// that part).
    acked_total: usize,
    dead_lettered_total: usize,
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
        let streams = outbox.ensure_group().await?;
        let streams = StreamList::listed(streams, outbox.store().is_cluster());
        let pool = crate::db::connect(&config.mysql_url).await?;
        crate::db::migrate(&pool).await?;
        let kafka = KafkaSink::new(config)?;
        kafka.ensure_topic().await?;
        tracing::info!(
            consumer = outbox.consumer(),
            streams = streams.streams().len(),
            topic = kafka.topic(),
            queue_topic = kafka.queue_topic(),
            "flush worker started"
        );
        Ok(Worker {
            outbox,
            streams,
            mysql: MysqlSink::new(pool, config.flush_sink_timeout),
            kafka,
            batch_size: config.flush_batch_size,
            claim_idle: config.flush_claim_idle,
            presence: None,
            max_deliveries: config.flush_max_deliveries,
            idle_poll: config.flush_idle_poll,
            in_hand: Vec::new(),
            read_ahead: VecDeque::new(),
            busy_streams: 1,
            finishing: false,
            publishing: None,
            pending_scan: PendingScan::default(),
            own_pending_checked: None,
            recheck_topic: false,
            last_observed: None,
            last_lag: Lag::default(),
            acked_total: 0,
            dead_lettered_total: 0,
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
            if sleep_or_shutdown(jittered(backoff), shutdown).await {
                return Ok(None);
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Pauses the worker while `restore` runs (the maintenance marker `presence` reads).
    pub fn watch_maintenance(&mut self, presence: crate::store::presence::Presence) {
        self.presence = Some(presence);
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

    /// Entries that failed on their own merit: dead-lettered once delivered
    /// `max_deliveries` times, otherwise counted as one more delivery and retried next
    /// step. Returns how many were dead-lettered.
    async fn fail(&mut self, failures: Vec<(RawEntry, String)>) -> anyhow::Result<usize> {
        if failures.is_empty() {
            return Ok(0);
        }
        let failed: Vec<&RawEntry> = failures.iter().map(|(e, _)| e).collect();
        let deliveries = self.outbox.deliveries(&failed).await?;
        let mut dead = 0;
        let mut again: Vec<RawEntry> = Vec::new();
        for (entry, reason) in failures {
            let key = (entry.stream.clone(), entry.stream_id.clone());
            let Some(&count) = deliveries.get(&key) else {
                // No longer pending: another worker acknowledged or dead-lettered it.
                continue;
            };
            if count >= self.max_deliveries {
                tracing::warn!(
                    stream = %entry.stream,
                    stream_id = %entry.stream_id,
                    deliveries = count,
                    %reason,
                    "dead-lettering an outbox entry"
                );
                self.outbox.dead_letter(&entry, &reason, count).await?;
                self.dead_lettered_total += 1;
                metrics::counter!("outbox_dead_lettered_total").increment(1);
                dead += 1;
            } else {
                tracing::warn!(
                    stream = %entry.stream,
                    stream_id = %entry.stream_id,
                    deliveries = count,
                    %reason,
                    "an outbox entry failed; retrying it"
                );
                again.push(entry);
            }
        }
        let again_refs: Vec<&RawEntry> = again.iter().collect();
        self.outbox.redeliver(&again_refs).await?;
        self.in_hand.extend(again);
        Ok(dead)
    }

    /// Refreshes the lag gauges and trims the streams, at most every second unless forced;
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
        let store = self.outbox.store();
        let streams = self.streams.streams();
        match lag_of(store, streams).await {
            Ok(lag) => {
                self.last_lag = lag;
                metrics::gauge!("outbox_lag_entries").set(lag.entries as f64);
                metrics::gauge!("outbox_pending_entries").set(lag.pending as f64);
                metrics::gauge!("outbox_lag_seconds").set(lag.seconds());
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "cannot read the outbox lag"),
        }
        match dead_len_of(store, streams).await {
            Ok(n) => metrics::gauge!("outbox_dead_letter_entries").set(n as f64),
            Err(err) => tracing::warn!(
                error = format!("{err:#}"),
                "cannot read the dead-letter length"
            ),
        }
        match trim_of(store, streams).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("outbox_trimmed_total").increment(n);
                tracing::debug!(trimmed = n, "trimmed acknowledged outbox entries");
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "cannot trim the outbox"),
        }
    }

    /// Runs steps until `shutdown` turns true, then waits for the broker's reports on the
    /// batch it has and acknowledges it; while a sink is down or Redis refuses work the
    /// worker backs off (100 ms doubling to 5 s, each pause drawn between half and all of
    /// that) and retries.
    pub async fn run(&mut self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut backoff = BACKOFF_MIN;
        let idle_poll = self.idle_poll;
        while !*shutdown.borrow() {
            if self.presence.as_ref().is_some_and(|p| p.in_maintenance()) {
                // restore is rebuilding Redis: write nothing anywhere meanwhile
                if sleep_or_shutdown(idle_poll, &mut shutdown).await {
                    break;
                }
                continue;
            }
            match self.flush_once().await {
                Ok(Step::Flushed(_)) => backoff = BACKOFF_MIN,
                Ok(Step::Empty) => {
                    backoff = BACKOFF_MIN;
                    if self.own_pending_due() {
                        match self.take_own_pending(&mut HashSet::new()).await {
                            Ok(0) => {}
                            Ok(_) => continue,
                            Err(err) => tracing::warn!(
                                error = format!("{err:#}"),
                                "cannot look for this worker's own pending entries"
                            ),
                        }
                    }
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
                    if sleep_or_shutdown(jittered(backoff), &mut shutdown).await {
                        break;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        self.finish_read_ahead().await;
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

    /// Drains everything there is (`flush --once`): new entries, entries dead workers
    /// left pending past the claim idle time, and, once nothing else is left, entries still
    /// pending for this very worker that it does not hold (delivered by a read whose
    /// answer it never saw: a timeout, a failover). A sink outage is retried with backoff;
    /// `max_failures` consecutive failures end the drain with the last error.
    pub async fn drain(&mut self, max_failures: u32) -> anyhow::Result<DrainReport> {
        let mut total = DrainReport::default();
        let stages_before = self.stages;
        let (acked_before, dead_before) = (self.acked_total, self.dead_lettered_total);
        self.pending_scan.rescan_now();
        self.streams.list_now();
        let mut failures = 0;
        let mut backoff = BACKOFF_MIN;
        let mut retaken: HashSet<(Arc<str>, String)> = HashSet::new();
        loop {
            match self.flush_once().await {
                Ok(Step::Flushed(report)) => {
                    failures = 0;
                    backoff = BACKOFF_MIN;
                    if report.entries > 0 {
                        total.batches += 1;
                    }
                    total.duplicates += report.duplicates;
                }
                // Nothing new, but the pending list was not scanned this time: once more.
                Ok(Step::Empty) if self.pending_scan.skipped() => self.pending_scan.rescan_now(),
                Ok(Step::Empty) => match self.take_own_pending(&mut retaken).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(err) => {
                        failures += 1;
                        if failures >= max_failures {
                            return Err(
                                err.context(format!("giving up after {failures} failed attempts"))
                            );
                        }
                        tokio::time::sleep(jittered(backoff)).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                },
                Err(err) => {
                    failures += 1;
                    if failures >= max_failures {
                        return Err(
                            err.context(format!("giving up after {failures} failed attempts"))
                        );
                    }
                    tracing::warn!(error = format!("{err:#}"), retry_in = ?backoff, "drain step failed");
                    tokio::time::sleep(jittered(backoff)).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        self.observe(true).await;
        self.kafka.flush();
        total.stages = self.stages.since_snapshot(&stages_before);
        total.acked = self.acked_total - acked_before;
        total.dead_lettered = self.dead_lettered_total - dead_before;
        Ok(total)
    }

    /// One step: takes the next batch (entries in hand first, then entries dead workers
    /// left pending, then new ones) and writes it to MySQL in one transaction while the
    /// broker acknowledges the previous batch; acknowledges in Redis what both sinks have
    /// of the previous batch; hands the new batch's reservations to the producer. At most
    /// two batches are in the worker, one at MySQL and one at the broker, and nothing is
    /// acknowledged before both sinks have it. An error means a sink or Redis failed:
    /// every entry not acknowledged is kept in hand for the next step (a batch MySQL
    /// already has is written again then, as a replay).
    pub async fn flush_once(&mut self) -> anyhow::Result<Step> {
        let previous = self.publishing.take();
        let had_previous = previous.is_some();
        let (next, finished) = match previous {
            None => (self.take_and_write().await, None),
            Some((batch, deliveries)) => {
                let writing = async {
                    let next = self.take_and_write().await;
                    (next, Instant::now())
                };
                let reporting = async { (deliveries.await, Instant::now()) };
                let ((next, written_at), (reports, reported_at)) = tokio::join!(writing, reporting);
                // The wait on the broker the next batch's write did not hide.
                self.stages.record(
                    Stage::Kafka,
                    reported_at.saturating_duration_since(written_at),
                );
                (next, Some((batch, reports)))
            }
        };

        let mut report = BatchReport::default();
        let mut failed: Option<(Sink, anyhow::Error)> = None;
        if let Some((batch, reports)) = finished {
            let span = batch.span.clone();
            match self.finish(batch, reports).instrument(span).await {
                Ok(done) => {
                    report.acked = done.acked;
                    report.dead_lettered = done.dead_lettered;
                }
                Err(err) => failed = Some(err),
            }
        }
        let took = match next {
            Err(err) => {
                if let Some((sink, first)) = &failed {
                    tracing::warn!(
                        error = format!("{:#}", err.1),
                        after = format!("{} failed: {first:#}", sink.label()),
                        "the next batch failed too"
                    );
                } else {
                    failed = Some(err);
                }
                true
            }
            Ok(None) => false,
            Ok(Some(batch)) => {
                report.entries = batch.entries;
                report.duplicates = batch.duplicates;
                if failed.is_some() {
                    // The broker or Redis failed on the previous batch: this one waits in
                    // hand and is written again (a replay) once they answer.
                    let failures = batch.failures;
                    self.keep(batch.written.into_iter().map(|(e, _)| e), failures);
                } else if let Err(err) = self.start_publishing(batch).await {
                    failed = Some(err);
                }
                true
            }
        };
        self.observe(false).await;
        report.retrying = self.in_hand.len();
        if let Some((sink, err)) = failed {
            metrics::counter!("outbox_flush_errors_total", "sink" => sink.label()).increment(1);
            return Err(err);
        }
        if !took && !had_previous {
            return Ok(Step::Empty);
        }
        Ok(Step::Flushed(report))
    }

    /// Waits for the broker's reports on the batch it has and acknowledges what both
    /// sinks have (when the worker stops); entries not acknowledged stay pending.
    async fn settle(&mut self) -> anyhow::Result<()> {
        if let Some((batch, deliveries)) = self.publishing.take() {
            let reports = deliveries.await;
            let span = batch.span.clone();
            self.finish(batch, reports)
                .instrument(span)
                .await
                .map_err(|(_, err)| err)?;
        }
        Ok(())
    }

    /// Takes the next batch and writes it to MySQL; `None` when there is nothing to take.
    async fn take_and_write(&mut self) -> Result<Option<WrittenBatch>, (Sink, anyhow::Error)> {
        let (batch, source) = if !self.in_hand.is_empty() {
            (std::mem::take(&mut self.in_hand), "retry")
        } else if !self.read_ahead.is_empty() {
            (self.take_read_ahead(), "new")
        } else if self.finishing {
            (Vec::new(), "none")
        } else {
            self.take_from_redis()
                .await
                .map_err(|err| (Sink::Redis, err))?
        };
        if batch.is_empty() {
            return Ok(None);
        }
        let streams = batch
            .iter()
            .map(|e| &e.stream)
            .collect::<HashSet<_>>()
            .len();
        let span = tracing::info_span!("flush_batch", source, size = batch.len(), streams);
        self.write(batch, span.clone())
            .instrument(span)
            .await
            .map(Some)
    }

    /// Entries dead workers left pending, else new ones: of every stream, each stream
    /// asked for its share of a batch (the batch over the streams that had entries last
    /// time), so a busy stream does not starve the others; what comes beyond a batch is
    /// read ahead. A stream that lost its group (Redis lost its data) makes the list of
    /// streams, and their groups, be made again.
    async fn take_from_redis(&mut self) -> anyhow::Result<(Vec<RawEntry>, &'static str)> {
        self.streams.refresh(&self.outbox).await?;
        let claimed = self
            .pending_scan
            .claim(
                &self.outbox,
                self.streams.streams(),
                self.claim_idle,
                self.batch_size,
                &mut self.stages,
            )
            .await
            .inspect_err(|err| self.forget_streams_if_gone(err))?;
        if !claimed.is_empty() {
            self.read_ahead.extend(claimed);
            return Ok((self.take_read_ahead(), "claimed"));
        }
        let started = Instant::now();
        let share = self.batch_size.div_ceil(self.busy_streams.max(1));
        let read = self.outbox.read_new(self.streams.reads(), share).await;
        self.stages.since(Stage::Read, started);
        let read = read.inspect_err(|err| self.forget_streams_if_gone(err))?;
        if !read.is_empty() {
            self.busy_streams = read.iter().map(|e| &e.stream).collect::<HashSet<_>>().len();
        }
        self.read_ahead.extend(read);
        Ok((self.take_read_ahead(), "new"))
    }

    /// Whether a running worker, idle, should look for entries pending for itself that it
    /// does not hold: every `OWN_PENDING_EVERY`, so they wait seconds, not the claim idle
    /// time.
    fn own_pending_due(&mut self) -> bool {
        let due = self
            .own_pending_checked
            .is_none_or(|t| t.elapsed() >= OWN_PENDING_EVERY);
        if due {
            self.own_pending_checked = Some(Instant::now());
        }
        due
    }

    /// When the worker holds nothing: reads the entries still pending for its own consumer
    /// name into the read-ahead, leaving out those `retaken` already in this drain (they
    /// were written but could not be acknowledged). Returns how many it took.
    async fn take_own_pending(
        &mut self,
        retaken: &mut HashSet<(Arc<str>, String)>,
    ) -> anyhow::Result<usize> {
        if !self.in_hand.is_empty() || !self.read_ahead.is_empty() || self.publishing.is_some() {
            return Ok(0);
        }
        self.streams.refresh(&self.outbox).await?;
        let mut own = self
            .outbox
            .read_own_pending(self.streams.reads(), self.batch_size)
            .await?;
        own.retain(|e| retaken.insert((e.stream.clone(), e.stream_id.clone())));
        if !own.is_empty() {
            tracing::info!(
                entries = own.len(),
                "took again entries pending for this worker that it did not hold"
            );
        }
        let n = own.len();
        self.read_ahead.extend(own);
        Ok(n)
    }

    /// Up to a batch of the entries read ahead.
    fn take_read_ahead(&mut self) -> Vec<RawEntry> {
        let n = self.batch_size.min(self.read_ahead.len());
        self.read_ahead.drain(..n).collect()
    }

    fn forget_streams_if_gone(&mut self, err: &anyhow::Error) {
        let gone = err.chain().any(|cause| {
            cause
                .downcast_ref::<crate::store::StoreError>()
                .and_then(|e| e.code())
                == Some("NOGROUP")
        });
        if gone {
            tracing::warn!("an outbox stream lost its consumer group; listing the streams again");
            self.streams.forget();
        }
    }

    /// On the way out: writes and acknowledges the entries read ahead (this consumer's,
    /// which no other worker would take before the claim idle time), taking nothing new;
    /// stops at the first failure (they stay pending, to be claimed).
    async fn finish_read_ahead(&mut self) {
        self.finishing = true;
        while !self.read_ahead.is_empty() {
            if let Err(err) = self.flush_once().await {
                tracing::warn!(
                    error = format!("{err:#}"),
                    read_ahead = self.read_ahead.len(),
                    "entries read ahead stay pending; a worker claims them"
                );
                break;
            }
        }
        // A drain may follow on this worker (`run`, then `drain`): it must take from
        // Redis again, or it would find nothing forever.
        self.finishing = false;
    }

    /// Parses a batch and writes it to MySQL in one transaction; when MySQL rejects the
    /// data, each entry alone, to set the guilty ones aside. On an outage the batch goes
    /// back in hand.
    async fn write(
        &mut self,
        batch: Vec<RawEntry>,
        span: tracing::Span,
    ) -> Result<WrittenBatch, (Sink, anyhow::Error)> {
        let mut out = WrittenBatch {
            span,
            started: Instant::now(),
            entries: batch.len(),
            duplicates: 0,
            written: Vec::with_capacity(batch.len()),
            failures: Vec::new(),
        };
        let started = Instant::now();
        let mut parsed: Vec<(RawEntry, Event)> = Vec::with_capacity(batch.len());
        for entry in batch {
            match Event::parse(&entry.fields) {
                Ok(event) => parsed.push((entry, event)),
                Err(reason) => out
                    .failures
                    .push((entry, format!("malformed entry: {reason}"))),
            }
        }
        self.stages.since(Stage::Parse, started);

        let events: Vec<&Event> = parsed.iter().map(|(_, e)| e).collect();
        let started = Instant::now();
        let write = self.mysql.write(&events).await;
        self.stages.since(Stage::Mysql, started);
        match write {
            Ok(w) => {
                out.duplicates += w.duplicates;
                count_duplicates(w.duplicates);
                out.written = parsed;
            }
            Err(SinkError::Unavailable(err)) => {
                self.keep(parsed.into_iter().map(|(e, _)| e), out.failures);
                return Err((Sink::Mysql, err.context("writing the batch to MySQL")));
            }
            Err(SinkError::Rejected(reason)) => {
                tracing::warn!(%reason, "MySQL rejected the batch; writing its entries one by one");
                let mut rest = parsed.into_iter();
                while let Some((entry, event)) = rest.next() {
                    match self.mysql.write(&[&event]).await {
                        Ok(w) => {
                            out.duplicates += w.duplicates;
                            count_duplicates(w.duplicates);
                            out.written.push((entry, event));
                        }
                        Err(SinkError::Rejected(reason)) => {
                            if reason.starts_with(super::mysql::SEAT_CONFLICT) {
                                tracing::error!(stream = %entry.stream, stream_id = %entry.stream_id, %reason, "a confirmed sale conflicts with another of the same seat");
                                metrics::counter!("outbox_seat_conflicts_total").increment(1);
                            }
                            out.failures.push((entry, reason))
                        }
                        Err(SinkError::Unavailable(err)) => {
                            let pending = out
                                .written
                                .into_iter()
                                .map(|(e, _)| e)
                                .chain(std::iter::once(entry))
                                .chain(rest.map(|(e, _)| e));
                            self.keep(pending, out.failures);
                            return Err((Sink::Mysql, err.context("writing an entry to MySQL")));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Hands every reservation and queue event MySQL has of `batch` (queue events have no
    /// rows: they pass MySQL as written) to the producer, new or replayed (a replay may be
    /// the redo of a worker that died before publishing).
    async fn start_publishing(&mut self, batch: WrittenBatch) -> Result<(), (Sink, anyhow::Error)> {
        if self.recheck_topic {
            if let Err(err) = self
                .kafka
                .ensure_topic()
                .instrument(batch.span.clone())
                .await
            {
                self.keep(batch.written.into_iter().map(|(e, _)| e), batch.failures);
                return Err((Sink::Kafka, err));
            }
            self.recheck_topic = false;
        }
        let started = Instant::now();
        let mut messages = Vec::new();
        let mut written = Vec::with_capacity(batch.written.len());
        for (entry, event) in batch.written {
            let message = Outgoing::of(&event);
            written.push((entry, message.is_some()));
            messages.extend(message);
        }
        let deliveries: Deliveries = self
            .kafka
            .enqueue(messages)
            .instrument(batch.span.clone())
            .await;
        self.stages.since(Stage::Kafka, started);
        let publishing = Publishing {
            span: batch.span,
            started: batch.started,
            written,
            failures: batch.failures,
        };
        self.publishing = Some((publishing, deliveries));
        Ok(())
    }

    /// Acknowledges what both sinks have of a published batch, given its delivery
    /// reports; sets failed entries aside; keeps the rest in hand when the broker failed.
    async fn finish(
        &mut self,
        batch: Publishing,
        reports: Vec<Result<(), PublishError>>,
    ) -> Result<BatchReport, (Sink, anyhow::Error)> {
        let mut report = BatchReport::default();
        let mut failures = batch.failures;
        let mut reports = reports.into_iter();
        let mut kafka_down: Option<String> = None;
        let mut retry: Vec<RawEntry> = Vec::new();
        let mut done: Vec<RawEntry> = Vec::with_capacity(batch.written.len());
        for (entry, published) in batch.written {
            let result = if published {
                reports
                    .next()
                    .unwrap_or_else(|| Err(PublishError::Unavailable("no delivery report".into())))
            } else {
                Ok(())
            };
            match result {
                Ok(()) => done.push(entry),
                Err(PublishError::Rejected(reason)) => failures.push((entry, reason)),
                Err(PublishError::Unavailable(reason)) => {
                    kafka_down.get_or_insert(reason);
                    retry.push(entry);
                }
            }
        }

        // Acknowledge what both sinks have, each on its stream.
        let refs: Vec<&RawEntry> = done.iter().collect();
        let started = Instant::now();
        let acked = self.outbox.ack(&refs).await;
        self.stages.since(Stage::Ack, started);
        if let Err(err) = acked {
            self.keep(done.into_iter().chain(retry), failures);
            return Err((Sink::Redis, err));
        }
        report.acked = done.len();
        self.acked_total += done.len();
        record_flushed(&done);

        report.dead_lettered = match self.fail(failures).await {
            Ok(dead) => dead,
            Err(err) => {
                self.keep(retry, Vec::new());
                return Err((Sink::Redis, err));
            }
        };
        metrics::histogram!("outbox_flush_batch_duration_seconds")
            .record(batch.started.elapsed().as_secs_f64());
        if let Some(reason) = kafka_down {
            self.keep(retry, Vec::new());
            self.recheck_topic = true;
            if let Err(err) = self.kafka.reset() {
                tracing::error!(
                    error = format!("{err:#}"),
                    "cannot replace the Kafka producer"
                );
            }
            return Err((
                Sink::Kafka,
                anyhow::anyhow!("publishing to Kafka: {reason}"),
            ));
        }
        tracing::info!(
            acked = report.acked,
            dead_lettered = report.dead_lettered,
            retrying = self.in_hand.len(),
            lag_entries = self.last_lag.entries,
            lag_seconds = self.last_lag.seconds(),
            "batch flushed"
        );
        Ok(report)
    }

    /// Keeps entries in hand for the next step after an outage; entries that failed on
    /// their own merit stay pending and are retried with them.
    fn keep(
        &mut self,
        entries: impl IntoIterator<Item = RawEntry>,
        failures: Vec<(RawEntry, String)>,
    ) {
        self.in_hand.extend(entries);
        self.in_hand.extend(failures.into_iter().map(|(e, _)| e));
        self.in_hand.sort_by(|a, b| {
            (StreamPos::parse(&a.stream_id), &a.stream)
                .cmp(&(StreamPos::parse(&b.stream_id), &b.stream))
        });
    }
}

/// A pause of between half and all of `backoff`, drawn at random, so that workers that
/// failed together (Redis refusing work, a sink down) do not all come back at once.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(rand::random_range(0.5..=1.0))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_pauses_are_jittered_between_half_and_all_of_the_backoff() {
        let backoff = Duration::from_secs(4);
        let pauses: Vec<Duration> = (0..200).map(|_| jittered(backoff)).collect();
        assert!(pauses.iter().all(|p| (backoff / 2..=backoff).contains(p)));
        let distinct: std::collections::BTreeSet<Duration> = pauses.iter().copied().collect();
        assert!(
            distinct.len() > 100,
            "pauses spread out: {}",
            distinct.len()
        );
    }
}
