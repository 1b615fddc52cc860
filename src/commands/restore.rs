//! `concert-queue restore`: rebuilds Redis from MySQL after Redis lost its data.

use std::future::Future;

use anyhow::Context;

use crate::store::Store;
use crate::{catalog, db, Config};

/// Rebuild Redis (catalog, sold seats, reservations, rankings, wallets) from MySQL after
/// Redis lost its data; refuses while Redis holds live state.
#[derive(clap::Args, Debug)]
pub struct Restore {
    #[command(flatten)]
    pub config: Config,
}

impl Restore {
    /// Runs to the end; a shutdown signal stops it between its writes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let store = Store::from_config(&self.config).await?;
        let pool = db::connect(&self.config.mysql_url).await?;
        db::migrate(&pool).await?;
        let restored = tokio::select! {
            restored = catalog::restore::restore(&store, &pool) => restored,
            _ = shutdown => Err(anyhow::anyhow!("restore interrupted: run it again on an emptied prefix")),
        };
        pool.disconnect().await.context("closing MySQL")?;
        let restored = restored?;
        tracing::info!(
            concerts = restored.concerts,
            reservations = restored.reservations,
            sold_out_schedules = restored.sold_out_schedules,
            wallets = restored.wallets,
            idempotency_keys = restored.idempotency_keys,
            "Redis rebuilt from MySQL"
        );
        Ok(())
    }
}
