//! One step of the flush pipeline: the next batch is taken and written to MySQL while the
//! broker acknowledges the previous batch's reservations; then what both sinks have of the
//! previous batch is acknowledged in Redis, and the next batch goes to the producer.

use std::time::Instant;

use tracing::Instrument;

use super::event::{Event, ReservationConfirmed};
use super::kafka::{Deliveries, PublishError};
use super::mysql::SinkError;
use super::outbox::{RawEntry, StreamPos};
use super::timing::Stage;
use super::{count_duplicates, record_flushed, BatchReport, Sink, Step, Worker};

/// A batch MySQL has (or rejected parts of), not yet with the producer.
pub(super) struct WrittenBatch {
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

/// A batch MySQL has whose reservations are with the producer; the delivery reports
/// travel beside it (see [`Worker::flush_once`]).
pub(super) struct Publishing {
    span: tracing::Span,
    started: Instant,
    /// Entries MySQL has, each marked when a delivery report belongs to it (a reservation).
    written: Vec<(RawEntry, bool)>,
    failures: Vec<(RawEntry, String)>,
}

impl Worker {
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
    pub(super) async fn settle(&mut self) -> anyhow::Result<()> {
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
        } else {
            let claimed = self.claim().await.map_err(|err| (Sink::Redis, err))?;
            if !claimed.is_empty() {
                (claimed, "claimed")
            } else {
                let started = Instant::now();
                let read = self.outbox.read_new(self.batch_size).await;
                self.stages.since(Stage::Read, started);
                (read.map_err(|err| (Sink::Redis, err))?, "new")
            }
        };
        if batch.is_empty() {
            return Ok(None);
        }
        let span = tracing::info_span!("flush_batch", source, size = batch.len());
        self.write(batch, span.clone())
            .instrument(span)
            .await
            .map(Some)
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
                        Err(SinkError::Rejected(reason)) => out.failures.push((entry, reason)),
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

    /// Hands every reservation MySQL has of `batch` to the producer (new or replayed: a
    /// replay may be the redo of a worker that died before publishing).
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
        let reservations: Vec<&ReservationConfirmed> = batch
            .written
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Reservation(r) => Some(r),
                Event::Charge(_) => None,
            })
            .collect();
        let deliveries: Deliveries = self
            .kafka
            .enqueue(&reservations)
            .instrument(batch.span.clone())
            .await;
        self.stages.since(Stage::Kafka, started);
        let publishing = Publishing {
            span: batch.span,
            started: batch.started,
            written: batch
                .written
                .into_iter()
                .map(|(entry, event)| (entry, matches!(event, Event::Reservation(_))))
                .collect(),
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

        // Acknowledge what both sinks have.
        let ids: Vec<&str> = done.iter().map(|e| e.stream_id.as_str()).collect();
        let started = Instant::now();
        let acked = self.outbox.ack(&ids).await;
        self.stages.since(Stage::Ack, started);
        if let Err(err) = acked {
            self.keep(done.into_iter().chain(retry), failures);
            return Err((Sink::Redis, err));
        }
        report.acked = done.len();
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
    pub(super) fn keep(
        &mut self,
        entries: impl IntoIterator<Item = RawEntry>,
        failures: Vec<(RawEntry, String)>,
    ) {
        self.in_hand.extend(entries);
        self.in_hand.extend(failures.into_iter().map(|(e, _)| e));
        self.in_hand
            .sort_by(|a, b| StreamPos::parse(&a.stream_id).cmp(&StreamPos::parse(&b.stream_id)));
    }
}
