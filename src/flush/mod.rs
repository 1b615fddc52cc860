//! The flush worker: drains every Redis outbox stream (each concert's, each wallet
//! bucket's, the global one of earlier releases) into MySQL and Kafka, at least once,
//! losing nothing. [`Worker`] (worker.rs) is one consumer, its step and its loop; the functions
//! here run `FLUSH_WORKERS` of them side by side for `concert-queue flush`.

pub mod event;
pub mod kafka;
pub mod lag;
pub mod mysql;
pub mod outbox;
mod pending;
mod sql;
mod streams;
pub mod timing;
mod worker;

use anyhow::Context;
use tokio::sync::watch;

use crate::Config;
pub use lag::{lag, Lag};
pub use outbox::{Outbox, RawEntry, GROUP};
use timing::StageTimes;
pub use worker::{consumer_name, Worker};

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
    /// Entries moved to their streams' dead-letter streams.
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
    let store = crate::store::Store::from_config(config).await?;
    let presence = crate::store::presence::Presence::new(store, "worker");
    if let Err(err) = presence.beat().await {
        tracing::warn!(error = %err, "cannot announce the flush worker in Redis yet");
    }
    let beating = tokio::spawn(presence.clone().run(shutdown.clone()));
    let mut running = Vec::with_capacity(config.flush_workers);
    for _ in 0..config.flush_workers {
        let Some(mut worker) = Worker::start_when_ready(config, &mut shutdown).await? else {
            break;
        };
        worker.watch_maintenance(presence.clone());
        let stopped = shutdown.clone();
        running.push(tokio::spawn(async move { worker.run(stopped).await }));
    }
    for worker in running {
        worker.await.context("a flush worker panicked")??;
    }
    let _ = beating.await;
    Ok(())
}
