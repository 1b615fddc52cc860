//! `concert-queue seed`: loads a catalog file into MySQL and Redis (idempotent).

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;

use crate::catalog::{seed, CatalogFile};
use crate::store::Store;
use crate::{db, Config};

/// Load the demo catalog into MySQL and Redis (idempotent).
#[derive(clap::Args, Debug)]
pub struct Seed {
    /// The catalog file.
    #[arg(long, default_value = "bench-data/catalog.json")]
    pub catalog: PathBuf,
    #[command(flatten)]
    pub config: Config,
}

impl Seed {
    /// Runs to the end; a shutdown signal stops it between its steps.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            seeded = self.seed() => seeded,
            _ = shutdown => anyhow::bail!("seeding interrupted"),
        }
    }

    async fn seed(&self) -> anyhow::Result<()> {
        let catalog = CatalogFile::read(&self.catalog)?;
        let pool = db::connect(&self.config.mysql_url).await?;
        db::migrate(&pool).await?;
        seed::seed_mysql(&pool, &catalog).await?;
        pool.disconnect().await.context("closing MySQL")?;
        let store = Store::from_config(&self.config).await?;
        seed::seed_redis(&store, &catalog).await?;
        tracing::info!(
            concerts = catalog.concerts.len(),
            seats = catalog.seat_count(),
            "catalog seeded into MySQL and Redis"
        );
        Ok(())
    }
}
