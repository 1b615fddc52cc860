//! The hold sweeper: every `HOLD_SWEEP_MS` it ends lapsed holds as EXPIRED. An optimisation
//! only (it keeps the hold sets short); every script already treats a lapsed hold as gone.

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
        let keys = &self.store.keys;
        self.store
            .invoke(
                self.store
                    .scripts
                    .release_lapsed_holds
                    .key(keys.concert_schedules(concert_id))
                    .arg(keys.concert_tag(concert_id))
                    .arg(SWEEP_BATCH)
                    .arg(ms(ENDED_RESERVATION_RETENTION)),
            )
            .await
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
    for concert_id in app.queue.concert_ids().await? {
        let released = app.booking.release_lapsed_holds(concert_id).await?;
        if released > 0 {
            metrics::counter!("holds_expired_total").increment(released);
        }
    }
    Ok(())
}
