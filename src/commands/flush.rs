//! `concert-queue flush`: drains the outbox into MySQL and Kafka with `FLUSH_WORKERS`
//! workers until a shutdown signal (each finishes its batch on the way out), or once
//! (`--once`), or moves dead-lettered entries back (`--replay-dead`).

use std::future::Future;

use crate::flush::{self, consumer_name, Outbox};
use crate::store::Store;
use crate::Config;

/// Drain the outbox into MySQL and Kafka.
#[derive(clap::Args, Debug)]
pub struct Flush {
    /// Drain what is there (entries dead workers left pending past
    /// FLUSH_CLAIM_IDLE_SECS included), then exit.
    #[arg(long)]
    pub once: bool,
    /// Move every dead-letter entry back into the outbox, then exit.
    #[arg(long, conflicts_with = "once")]
    pub replay_dead: bool,
    #[command(flatten)]
    pub config: Config,
}

/// Consecutive failed attempts after which `--once` gives up.
const ONCE_MAX_FAILURES: u32 = 10;

impl Flush {
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let config = self.config;
        if self.replay_dead {
            let store = Store::from_config(&config).await?;
            let moved = Outbox::new(store, consumer_name()).replay_dead().await?;
            tracing::info!(moved, "dead-letter entries moved back to the outbox");
            return Ok(());
        }
        if self.once {
            let report = flush::drain_with_workers(&config, ONCE_MAX_FAILURES).await?;
            tracing::info!(
                workers = config.flush_workers,
                batches = report.batches,
                acked = report.acked,
                duplicates = report.duplicates,
                dead_lettered = report.dead_lettered,
                stages = %report.stages.summary(),
                "outbox drained"
            );
            return Ok(());
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        if let Some(addr) = config.flush_metrics_addr {
            crate::metrics::serve(addr)?;
            tracing::info!(%addr, "serving flush metrics");
        }
        flush::run_with_workers(&config, stopped).await
    }
}
