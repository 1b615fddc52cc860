//! The binary's subcommands, one file each, each a `run` over the library: `serve`,
//! `seed`, `flush`, `restore`, `admin`, `verify-fairness` and `dev-jwt`. main.rs only
//! parses arguments and picks one.

pub mod admin;
mod dev_jwt;
mod flush;
mod restore;
mod seed;
mod serve;
pub mod verify_fairness;

pub use admin::Admin;
pub use dev_jwt::DevJwt;
pub use flush::Flush;
pub use restore::Restore;
pub use seed::Seed;
pub use serve::Serve;
pub use verify_fairness::VerifyFairness;

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
