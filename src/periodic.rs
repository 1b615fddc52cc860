//! The shape every background loop shares (the activation ticker, the hold sweeper): one
//! step at a fixed interval until told to stop, a failure logged when it starts and a
//! recovery when it ends, never once per tick.

use std::fmt::Display;
use std::time::Duration;

use tokio::sync::watch;

/// One step of a background loop.
pub trait Periodic {
    /// What the loop does, for its logs ("activation ticker").
    fn name(&self) -> &'static str;

    /// One step; an error is logged (once per run of failures) and the loop goes on.
    fn step(&mut self) -> impl std::future::Future<Output = Result<(), impl Display>> + Send;
}

/// Runs `task` every `interval` until `stop` flips to true; a step that overruns delays the
/// next rather than bunching them up.
pub async fn run_every(
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut task: impl Periodic,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let name = task.name();
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match task.step().await {
            Err(err) if !failing => {
                tracing::warn!(task = name, error = %err, "background step failed");
                failing = true;
            }
            Ok(()) if failing => {
                tracing::info!(task = name, "background step recovered");
                failing = false;
            }
            _ => {}
        }
    }
}
