//! The binary's subcommands, one file each, each a `run(self, shutdown)` over the library:
//! `serve`, `seed`, `flush`, `restore`, `dev-jwt`. main.rs only parses arguments and picks
//! one.

mod dev_jwt;
mod flush;
mod restore;
mod seed;
mod serve;

pub use dev_jwt::DevJwt;
pub use flush::Flush;
pub use restore::Restore;
pub use seed::Seed;
pub use serve::Serve;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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
