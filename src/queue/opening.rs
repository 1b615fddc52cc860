//! A pre-queue's opening, driven from the activation ticker: once a tick reports that a
//! concert's pre-queue has entries still to move into the line, the server runs
//! lua/open_prequeue.lua back to back (each step moves at most OPEN_CHUNK entries, a few
//! milliseconds inside Redis) until none is left. Several servers may drive the same
//! opening: each step moves the next chunk, so they only share the work.

use std::time::{Duration, Instant};

use super::{Queue, QueueError};
use crate::store::StoreError;

/// Entries one step moves: a median of 2.8 ms of Redis time per step and at most 8 ms
/// (a million entries, 2-core machine), under the 10 ms bound that steps of 1,000 broke
/// (docs/performance.md, "Opening a pre-queue").
pub const OPEN_CHUNK: u64 = 500;

/// How long an opened pre-queue's order stays listed (GET .../fairness/order).
pub const ORDER_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What one opening step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpeningStep {
    pub moved: u64,
    pub left: u64,
}

/// What a whole opening (as driven by one server) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpeningReport {
    pub steps: u64,
    pub moved: u64,
    /// The longest single step, round trip included.
    pub longest_step: Duration,
    pub elapsed: Duration,
}

impl Queue {
    /// One step of the concert's opening (it begins the opening when due).
    pub async fn open_step(&self, concert_id: u64, chunk: u64) -> Result<OpeningStep, QueueError> {
        let keys = self.store.keys.queue(concert_id);
        let mut invocation = keys.invoke_with_outbox(&self.store.scripts.open_prequeue);
        self.settings.push_defaults(&mut invocation);
        invocation
            .arg(chunk)
            .arg(ORDER_RETENTION.as_millis() as u64);
        let reply: Vec<u64> = self.store.invoke(&invocation).await?;
        match reply[..] {
            [moved, left] => Ok(OpeningStep { moved, left }),
            _ => Err(StoreError::unexpected("open_prequeue", &reply).into()),
        }
    }

    /// Runs opening steps back to back until no entry is left to move.
    #[tracing::instrument(name = "open_pre_queue", skip(self))]
    pub async fn run_opening(
        &self,
        concert_id: u64,
        chunk: u64,
    ) -> Result<OpeningReport, QueueError> {
        let started = Instant::now();
        let mut report = OpeningReport::default();
        loop {
            let step_started = Instant::now();
            let step = self.open_step(concert_id, chunk).await?;
            report.longest_step = report.longest_step.max(step_started.elapsed());
            report.steps += 1;
            report.moved += step.moved;
            if step.left == 0 {
                break;
            }
        }
        report.elapsed = started.elapsed();
        tracing::info!(
            concert_id,
            steps = report.steps,
            moved = report.moved,
            longest_step_ms = report.longest_step.as_secs_f64() * 1000.0,
            elapsed_ms = report.elapsed.as_secs_f64() * 1000.0,
            "pre-queue opened"
        );
        Ok(report)
    }
}
