//! The activation ticker: every server runs the activation script for each concert at a
//! fixed interval (all concerts in one round trip, as `SCRIPT_FANOUT` says), then, with
//! STATUS_SNAPSHOT=on, refreshes this server's status snapshots and records the signs of
//! life they answered (one more round trip, src/queue/snapshot.rs). The budget
//! lives in Redis, so many tickers admit no faster than one. A tick that finds a pre-queue
//! opening starts this server's driver of it (src/queue/opening.rs).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::App;
use crate::periodic::Periodic;
use crate::queue::opening::OPEN_CHUNK;
use crate::queue::QueueError;

/// How often the concert list is re-read.
const CONCERT_LIST_REFRESH: Duration = Duration::from_secs(5);

/// Admits waiting buyers of every concert, one tick at a time.
pub struct ActivationTicker {
    app: Arc<App>,
    concerts: Vec<u64>,
    listed_at: Option<Instant>,
    /// Concerts whose opening this server is driving.
    openings: Arc<Mutex<HashSet<u64>>>,
}

impl ActivationTicker {
    pub fn new(app: Arc<App>) -> Self {
        ActivationTicker {
            app,
            concerts: Vec::new(),
            listed_at: None,
            openings: Arc::default(),
        }
    }

    /// Runs the concert's opening steps in a task of their own, unless this server already
    /// does.
    fn drive_opening(&self, concert_id: u64) {
        if !self
            .openings
            .lock()
            .expect("the openings lock is never poisoned")
            .insert(concert_id)
        {
            return;
        }
        let queue = self.app.queue.clone();
        let openings = self.openings.clone();
        tokio::spawn(async move {
            if let Err(err) = queue.run_opening(concert_id, OPEN_CHUNK).await {
                tracing::warn!(concert_id, error = %err, "opening the pre-queue failed; the next tick resumes it");
            }
            openings
                .lock()
                .expect("the openings lock is never poisoned")
                .remove(&concert_id);
        });
    }

    async fn tick(&mut self) -> Result<(), QueueError> {
        if self.app.presence.in_maintenance() {
            return Ok(()); // restore is rebuilding Redis: admit nobody meanwhile
        }
        let queue = &self.app.queue;
        if self
            .listed_at
            .is_none_or(|at| at.elapsed() >= CONCERT_LIST_REFRESH)
        {
            self.concerts = self.app.store.concert_ids().await?;
            self.listed_at = Some(Instant::now());
        }
        let concerts = &self.concerts;
        let outcomes = self
            .app
            .config
            .script_fanout
            .run(
                concerts,
                |id| queue.activate(id),
                queue.activate_pipelined(concerts),
            )
            .await?;
        let mut first_error = None;
        for (&concert_id, outcome) in concerts.iter().zip(outcomes) {
            match outcome {
                Ok(activation) => {
                    crate::metrics::record_activation(concert_id, &activation);
                    if activation.opening {
                        self.drive_opening(concert_id);
                    }
                }
                Err(err) => first_error = first_error.or(Some(err)),
            }
        }
        let refreshed = queue.refresh_snapshots(concerts).await;
        match first_error {
            Some(err) => Err(err),
            None => refreshed,
        }
    }
}

impl Periodic for ActivationTicker {
    fn name(&self) -> &'static str {
        "activation ticker"
    }

    fn step(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), impl std::fmt::Display>> + Send {
        self.tick()
    }
}
