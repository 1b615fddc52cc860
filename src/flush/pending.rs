//! The scan of the outbox group's pending list for entries that dead or stalled workers
//! left behind (XAUTOCLAIM past the claim idle time). A scan walks every pending entry, the
//! batches in flight included, so after one that found nothing the next waits a second.

use std::time::{Duration, Instant};

use super::outbox::{Outbox, RawEntry};
use super::timing::{Stage, StageTimes};

/// How long after a scan that found nothing the next one may run.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Where one worker's scan of the pending list stands.
pub(super) struct PendingScan {
    /// Where the next XAUTOCLAIM starts.
    cursor: String,
    /// When a scan last walked the whole list and found nothing to claim.
    scanned: Option<Instant>,
    /// The last call skipped the scan (one ran less than `SCAN_EVERY` ago).
    skipped: bool,
}

impl Default for PendingScan {
    fn default() -> Self {
        PendingScan {
            cursor: "0-0".into(),
            scanned: None,
            skipped: false,
        }
    }
}

impl PendingScan {
    /// Claims up to `count` entries other consumers left pending longer than `idle`,
    /// walking the whole pending list if need be; after a scan that found nothing, calls
    /// within `SCAN_EVERY` claim nothing and say so through [`PendingScan::skipped`].
    pub(super) async fn claim(
        &mut self,
        outbox: &Outbox,
        idle: Duration,
        count: usize,
        stages: &mut StageTimes,
    ) -> anyhow::Result<Vec<RawEntry>> {
        self.skipped = self.scanned.is_some_and(|t| t.elapsed() < SCAN_EVERY);
        if self.skipped {
            return Ok(Vec::new());
        }
        let idle_ms = idle.as_millis() as u64;
        loop {
            let started = Instant::now();
            let (claimed, next) = outbox.claim_idle(idle_ms, &self.cursor, count).await?;
            stages.since(Stage::Claim, started);
            let wrapped = next == "0-0";
            self.cursor = next;
            if !claimed.is_empty() {
                tracing::info!(
                    claimed = claimed.len(),
                    "claimed outbox entries a dead or stalled worker left pending"
                );
                metrics::counter!("outbox_claimed_total").increment(claimed.len() as u64);
                return Ok(claimed);
            }
            if wrapped {
                self.scanned = Some(Instant::now());
                return Ok(Vec::new());
            }
        }
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
