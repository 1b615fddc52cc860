//! The `concert-queue` binary: a thin command line over the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use concert_queue::{db, seed, store::Store, Config};

/// mimalloc rather than glibc malloc (feature `mimalloc`, on by default; measured in
/// docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "concert-queue",
    version,
    about = "A Redis-first ticketing engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the activation ticker.
    Serve,
    /// Load the demo catalog into MySQL and Redis (idempotent).
    Seed {
        /// The catalog file.
        #[arg(long, default_value = "bench-data/catalog.json")]
        catalog: PathBuf,
    },
    /// Drain the outbox into MySQL and Kafka.
    Flush {
        /// Drain what is there (entries dead workers left pending past
        /// FLUSH_CLAIM_IDLE_SECS included), then exit.
        #[arg(long)]
        once: bool,
        /// Move every dead-letter entry back into the outbox, then exit.
        #[arg(long, conflicts_with = "once")]
        replay_dead: bool,
    },
    /// Rebuild Redis (catalog, sold seats, reservations, rankings, wallets) from MySQL
    /// after Redis lost its data; refuses while Redis holds live state.
    Restore,
}

fn main() -> anyhow::Result<()> {
    concert_queue::runtime::from_env()?.block_on(run_cli())
}

async fn run_cli() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Seed { catalog } => run_seed(config, &catalog).await,
        Command::Flush { once, replay_dead } => run_flush(config, once, replay_dead).await,
        Command::Restore => run_restore(config).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.uses_dev_secret() {
        tracing::warn!(
            "TOKEN_SECRET is the published development value; set your own in production"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .with_context(|| format!("binding {}", config.bind_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "concert-queue serving");
    concert_queue::run(listener, config, shutdown_signal()).await
}

async fn run_seed(config: Config, catalog_path: &std::path::Path) -> anyhow::Result<()> {
    let catalog = seed::Catalog::read(catalog_path)?;
    let pool = db::connect(&config.mysql_url).await?;
    db::migrate(&pool).await?;
    seed::seed_mysql(&pool, &catalog).await?;
    pool.disconnect().await.context("closing MySQL")?;
    let store = Store::from_config(&config).await?;
    seed::seed_redis(&store, &catalog).await?;
    tracing::info!(
        concerts = catalog.concerts.len(),
        seats = catalog.seat_count(),
        "catalog seeded into MySQL and Redis"
    );
    Ok(())
}

async fn run_flush(config: Config, once: bool, replay_dead: bool) -> anyhow::Result<()> {
    use concert_queue::flush::{consumer_name, Outbox};
    if replay_dead {
        let store = Store::from_config(&config).await?;
        let moved = Outbox::new(store, consumer_name()).replay_dead().await?;
        tracing::info!(moved, "dead-letter entries moved back to the outbox");
        return Ok(());
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    if once {
        let report = concert_queue::flush::drain_with_workers(&config, 10).await?;
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
    if let Some(addr) = config.flush_metrics_addr {
        concert_queue::metrics::serve(addr)?;
        tracing::info!(%addr, "serving flush metrics");
    }
    concert_queue::flush::run_with_workers(&config, stopped).await
}

async fn run_restore(config: Config) -> anyhow::Result<()> {
    let store = Store::from_config(&config).await?;
    let pool = db::connect(&config.mysql_url).await?;
    db::migrate(&pool).await?;
    let restored = concert_queue::restore::restore(&store, &pool).await;
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

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
