//! `concert-queue serve`: the HTTP API with its activation ticker and hold sweeper, until
//! a shutdown signal; then it drains in-flight requests and exits.

use std::future::Future;

use anyhow::Context;

use crate::Config;

/// Serve the HTTP API and run the activation ticker.
#[derive(clap::Args, Debug)]
pub struct Serve {
    #[command(flatten)]
    pub config: Config,
}

impl Serve {
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let config = self.config;
        let mode = crate::auth::effective_mode(config.auth_mode, config.bind_addr)?;
        crate::auth::warn_about(config.auth_mode, config.bind_addr);
        if config.uses_dev_secret() {
            tracing::warn!(
                "TOKEN_SECRET is the published development value; set your own in production"
            );
        }
        let listener = tokio::net::TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("binding {}", config.bind_addr))?;
        tracing::info!(addr = %listener.local_addr()?, auth_mode = %mode, "concert-queue serving");
        crate::run(listener, config, shutdown).await
    }
}
