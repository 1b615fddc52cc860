//! The hold sweeper: every `HOLD_SWEEP_MS` it ends lapsed holds as EXPIRED, every concert
//! in one round trip (as `SCRIPT_FANOUT` says). An optimisation only (it keeps the hold
//! sets short); every script already treats a lapsed hold as gone. It also settles the
//! payments in steps a crash left PAYING for longer than `PAYING_GRACE` (that part is no
//! optimisation: it is what finishes them).

use std::sync::Arc;

use super::{ms, Booking, BookingError, RETENTION};
use crate::app::App;
use crate::periodic::Periodic;

/// Most lapsed holds released per schedule per sweep.
const SWEEP_BATCH: u64 = 500;

impl Booking {
    /// Releases the lapsed holds of one concert; returns how many.
    #[tracing::instrument(name = "release_lapsed_holds", skip(self), level = "debug")]
    pub async fn release_lapsed_holds(&self, concert_id: u64) -> Result<u64, BookingError> {
        Ok(self
            .store
            .invoke(&self.release_invocation(concert_id))
            .await?)
    }

    /// Releases the lapsed holds of each of `concert_ids` in one explicit pipeline of
    /// EVALSHAs (one round trip for all); each concert gets its own outcome.
    pub async fn release_lapsed_holds_pipelined(
        &self,
        concert_ids: &[u64],
    ) -> Result<Vec<Result<u64, BookingError>>, BookingError> {
        let invocations: Vec<_> = concert_ids
            .iter()
            .map(|&id| self.release_invocation(id))
            .collect();
        let outcomes = self.store.invoke_pipelined(&invocations).await?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.map_err(BookingError::from))
            .collect())
    }

    fn release_invocation(&self, concert_id: u64) -> redis::ScriptInvocation<'_> {
        let keys = &self.store.keys;
        let mut invocation = self
            .store
            .scripts
            .release_lapsed_holds
            .key(keys.concert_schedules(concert_id));
        invocation
            .arg(keys.concert_tag(concert_id))
            .arg(SWEEP_BATCH)
            .arg(ms(RETENTION));
        invocation
    }
}

/// Ends the lapsed holds of every concert, one sweep at a time.
pub struct HoldSweeper {
    app: Arc<App>,
}

impl HoldSweeper {
    pub fn new(app: Arc<App>) -> Self {
        HoldSweeper { app }
    }

    async fn sweep(&self) -> Result<(), BookingError> {
        let app = &self.app;
        if app.presence.in_maintenance() {
            return Ok(()); // restore is rebuilding Redis: write nothing meanwhile
        }
        let concerts = app.store.concert_ids().await?;
        let booking = &app.booking;
        let outcomes = app
            .config
            .script_fanout
            .run(
                &concerts,
                |id| booking.release_lapsed_holds(id),
                booking.release_lapsed_holds_pipelined(&concerts),
            )
            .await?;
        let mut first_error = None;
        // Two round trips per concert, only where payments can be left between steps.
        let settling: &[u64] = if booking.pays_in_steps() {
            &concerts
        } else {
            &[]
        };
        for &concert_id in settling {
            match booking
                .settle_stuck_payments(concert_id, super::payment::PAYING_GRACE)
                .await
            {
                Ok(settled) => {
                    for (reservation_id, outcome) in settled {
                        tracing::warn!(%reservation_id, ?outcome, "settled a payment a crash left under way");
                        let label = match outcome {
                            super::payment::Settled::Confirmed => "confirmed",
                            super::payment::Settled::Abandoned => "abandoned",
                            super::payment::Settled::Nothing => "nothing",
                        };
                        metrics::counter!("payments_settled_total", "outcome" => label)
                            .increment(1);
                    }
                }
                Err(err) => first_error = first_error.or(Some(err)),
            }
        }
        for outcome in outcomes {
            match outcome {
                Ok(released) if released > 0 => {
                    metrics::counter!("holds_expired_total").increment(released)
                }
                Ok(_) => {}
                Err(err) => first_error = first_error.or(Some(err)),
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Periodic for HoldSweeper {
    fn name(&self) -> &'static str {
        "hold sweeper"
    }

    fn step(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), impl std::fmt::Display>> + Send {
        self.sweep()
    }
}
