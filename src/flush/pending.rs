//! The scan of every outbox stream's pending list for entries that dead or stalled workers
//! left behind: XPENDING IDLE finds, on every stream at once, the first entry pending past
//! the claim idle time; XAUTOCLAIM takes them from there, each stream on its own, the
//! batch shared between the streams that have some. After a scan that found nothing the
//! next waits a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;

use super::outbox::{Outbox, RawEntry};
use super::timing::{Stage, StageTimes};

/// How long after a scan that found nothing the next one may run.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Where one worker's scan of the pending lists stands.
#[derive(Default)]
pub(super) struct PendingScan {
    /// When a scan last found nothing to claim.
    scanned: Option<Instant>,
    /// The last call skipped the scan (one ran less than `SCAN_EVERY` ago).
    skipped: bool,
}

impl PendingScan {
    /// Claims about `count` entries (at least one per stream that has some) other
    /// consumers left pending longer than `idle` on `streams`; after a scan that found
    /// nothing, calls within `SCAN_EVERY` claim nothing and say so through
    /// [`PendingScan::skipped`].
    pub(super) async fn claim(
        &mut self,
        outbox: &Outbox,
        streams: &[Arc<str>],
        idle: Duration,
        count: usize,
        stages: &mut StageTimes,
    ) -> anyhow::Result<Vec<RawEntry>> {
        self.skipped = self.scanned.is_some_and(|t| t.elapsed() < SCAN_EVERY);
        if self.skipped {
            return Ok(Vec::new());
        }
        let idle_ms = idle.as_millis() as u64;
        let started = Instant::now();
        let mut idle_streams = outbox.first_idle(streams, idle_ms).await?;
        // Entries idle on many streams: a batch's worth from each of the first ones, the
        // rest at the next scans (which run at once, since this one found some).
        idle_streams.truncate(count.max(1));
        let share = (count / idle_streams.len().max(1)).max(1);
        let claimed: Vec<RawEntry> = try_join_all(
            idle_streams
                .iter()
                .map(|(stream, first)| outbox.claim_idle(stream, idle_ms, first, share)),
        )
        .await?
        .into_iter()
        .flatten()
        .collect();
        stages.since(Stage::Claim, started);
        if claimed.is_empty() {
            self.scanned = Some(Instant::now());
        } else {
            tracing::info!(
                claimed = claimed.len(),
                streams = idle_streams.len(),
                "claimed outbox entries a dead or stalled worker left pending"
            );
            metrics::counter!("outbox_claimed_total").increment(claimed.len() as u64);
        }
        Ok(claimed)
    }

    /// Whether the last [`PendingScan::claim`] skipped the scan.
    pub(super) fn skipped(&self) -> bool {
        self.skipped
    }

    /// Lets the next [`PendingScan::claim`] scan whatever the time.
    pub(super) fn rescan_now(&mut self) {
        self.scanned = None;
    }
}
