//! The hold sweeper: every `HOLD_SWEEP_MS` it ends lapsed holds as EXPIRED, every concert
//! in one round trip (as `SCRIPT_FANOUT` says). An optimisation only (it keeps the hold
//! sets short); every script already treats a lapsed hold as gone.

use std::sync::Arc;

use tokio::sync::watch;

use super::{ms, Booking, ENDED_RESERVATION_RETENTION};
use crate::app::App;
use crate::error::ApiError;

/// Most lapsed holds released per schedule per sweep.
const SWEEP_BATCH: u64 = 500;

impl Booking {
    /// Releases the lapsed holds of one concert; returns how many.
    #[tracing::instrument(name = "release_lapsed_holds", skip(self), level = "debug")]
    pub async fn release_lapsed_holds(&self, concert_id: u64) -> Result<u64, ApiError> {
        self.store
            .invoke(&self.release_invocation(concert_id))
            .await
    }

    /// Releases the lapsed holds of each of `concert_ids` in one explicit pipeline of
    /// EVALSHAs (one round trip for all); each concert gets its own outcome.
    pub async fn release_lapsed_holds_pipelined(
        &self,
        concert_ids: &[u64],
    ) -> Result<Vec<Result<u64, ApiError>>, ApiError> {
        let invocations: Vec<_> = concert_ids
            .iter()
            .map(|&id| self.release_invocation(id))
            .collect();
        self.store.invoke_pipelined(&invocations).await
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
            .arg(ms(ENDED_RESERVATION_RETENTION));
        invocation
    }
}

/// Sweeps every concert until `stop` flips to true.
pub async fn run(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(app.config.hold_sweep_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_failing = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = interval.tick() => {}
        }
        let outcome = sweep_once(&app).await;
        match (&outcome, was_failing) {
            (Err(err), false) => tracing::warn!(error = %err, "hold sweeper failed"),
            (Ok(_), true) => tracing::info!("hold sweeper recovered"),
            _ => {}
        }
        was_failing = outcome.is_err();
    }
}

async fn sweep_once(app: &App) -> Result<(), ApiError> {
    let concerts = app.queue.concert_ids().await?;
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
