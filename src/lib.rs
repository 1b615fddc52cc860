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

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

/// Runs the server on `listener` (its background ticker, hold sweeper and catalog
/// migrations included, and the admin API on `ADMIN_BIND_ADDR` when `ADMIN_TOKEN` is set)
/// until `shutdown` resolves; then `/health/ready` answers 503 while the listener keeps
/// accepting for `SHUTDOWN_READY_DELAY_SECS`, and in-flight requests are drained.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let admin = match &config.admin_token {
        Some(_) => {
            let admin = TcpListener::bind(config.admin_bind_addr)
                .await
                .with_context(|| format!("binding ADMIN_BIND_ADDR {}", config.admin_bind_addr))?;
            tracing::info!(addr = %admin.local_addr()?, "admin API serving");
            Some(admin)
        }
        None => None,
    };
    run_with_admin(listener, admin, config, shutdown).await
}

/// [`run`] with the admin API on a listener of the caller's (`None`: no admin API), so
/// tests bind it on port 0.
pub async fn run_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let app = app::App::build(config).await?;
    if let Err(err) = app.presence.beat().await {
        tracing::warn!(error = %err, "cannot announce this server in Redis yet");
    }
    let (stop, stopped) = watch::channel(false);
    let presence = tokio::spawn(app.presence.clone().run(stopped.clone()));
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
        stopped.clone(),
    ));
    let admin = admin.map(|admin| {
        let mut stopped = stopped.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            http::serve_surface(admin, app, stop, http::Surface::Admin).await
        })
    });
    let drained = {
        let app = app.clone();
        async move {
            shutdown.await;
            app.start_draining();
            tracing::info!(
                delay_secs = app.config.shutdown_ready_delay.as_secs_f64(),
                "draining: not ready, still accepting"
            );
            tokio::time::sleep(app.config.shutdown_ready_delay).await;
        }
    };
    let served = http::serve(listener, app.clone(), drained).await;
    let _ = stop.send(true);
    let _ = tokio::join!(ticker, sweeper, limits_sweep, migrations, presence);
    if let Some(admin) = admin {
        admin.await.context("the admin listener panicked")??;
    }
    app.catalog.close().await;
    served
}
