//! concert-queue: a Redis-first ticketing engine. The hot path (queue tokens, status,
//! activation) runs as atomic Lua scripts in Redis; hyper serves the JSON API.

pub mod app;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod load;
pub mod metrics;
pub mod queue;
pub mod runtime;
pub mod seed;
pub mod store;
pub mod ticker;
pub mod time;
pub mod token;

use std::future::Future;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

/// Runs the server on `listener` (its background ticker included) until `shutdown`
/// resolves, then drains in-flight requests and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let app = app::App::build(config).await?;
    let (stop, stopped) = watch::channel(false);
    let ticker = tokio::spawn(ticker::run(app.clone(), stopped));
    let served = http::serve(listener, app, shutdown).await;
    let _ = stop.send(true);
    let _ = ticker.await;
    served
}
