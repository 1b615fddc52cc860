//! concert-queue: a Redis-first ticketing engine. The hot path (queue tokens, status,
//! activation, holds, payments, charges) runs as atomic Lua scripts in Redis; hyper serves
//! the JSON API; MySQL holds the catalog.

pub mod app;
pub mod auth;
pub mod booking;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod db;
pub mod flush;
pub mod http;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod periodic;
pub mod queue;
pub mod runtime;
pub mod store;
pub mod time;

use std::future::Future;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

/// Runs the server on `listener` (its background ticker, hold sweeper, limits sweep
/// and catalog migrations included) until `shutdown` resolves, then drains in-flight requests and
/// returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let app = app::App::build(config).await?;
    let (stop, stopped) = watch::channel(false);
    let ticker = tokio::spawn(periodic::run_every(
        app.config.activation_tick,
        stopped.clone(),
        queue::ticker::ActivationTicker::new(app.clone()),
    ));
    let sweeper = tokio::spawn(periodic::run_every(
        app.config.hold_sweep_interval,
        stopped.clone(),
        booking::sweeper::HoldSweeper::new(app.clone()),
    ));
    let limits_sweep = tokio::spawn(periodic::run_every(
        limits::budget::SWEEP_EVERY,
        stopped.clone(),
        limits::LimitsSweep(app.clone()),
    ));
    let migrations = tokio::spawn(db::migrate_when_reachable(
        app.config.mysql_url.clone(),
        app.config.mysql_timeout,
        stopped,
    ));
    let served = http::serve(listener, app.clone(), shutdown).await;
    let _ = stop.send(true);
    let _ = tokio::join!(ticker, sweeper, limits_sweep, migrations);
    app.catalog.close().await;
    served
}
