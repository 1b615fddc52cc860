//! The activation ticker: every server runs the activation script for each concert at a
//! fixed interval (all concerts in one round trip, as `SCRIPT_FANOUT` says). The budget
//! lives in Redis, so many tickers admit no faster than one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::app::App;

/// How often the concert list is re-read.
const CONCERT_LIST_REFRESH: Duration = Duration::from_secs(5);

/// Ticks until `stop` flips to true.
pub async fn run(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(app.config.activation_tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut concerts: Vec<u64> = Vec::new();
    let mut listed_at: Option<Instant> = None;
    let mut was_failing = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = interval.tick() => {}
        }
        if listed_at.is_none_or(|at| at.elapsed() >= CONCERT_LIST_REFRESH) {
            match app.queue.concert_ids().await {
                Ok(ids) => {
                    concerts = ids;
                    listed_at = Some(Instant::now());
                }
                Err(err) => {
                    if !was_failing {
                        tracing::warn!(error = %err, "activation ticker cannot list concerts");
                    }
                    was_failing = true;
                    continue;
                }
            }
        }
        let queue = &app.queue;
        let outcomes = app
            .config
            .script_fanout
            .run(
                &concerts,
                |id| queue.activate(id),
                queue.activate_pipelined(&concerts),
            )
            .await;
        let mut failed = false;
        match outcomes {
            Ok(outcomes) => {
                for (&concert_id, outcome) in concerts.iter().zip(outcomes) {
                    match outcome {
                        Ok(activation) => {
                            crate::metrics::record_activation(concert_id, &activation)
                        }
                        Err(err) => {
                            failed = true;
                            if !was_failing {
                                tracing::warn!(concert_id, error = %err, "activation tick failed");
                            }
                        }
                    }
                }
            }
            Err(err) => {
                failed = true;
                if !was_failing {
                    tracing::warn!(error = %err, "activation tick failed");
                }
            }
        }
        if was_failing && !failed {
            tracing::info!("activation ticker recovered");
        }
        was_failing = failed;
    }
}
