//! The tokio runtime, chosen by environment so the flavour can be settled by measurement:
//! TOKIO_RUNTIME=current_thread runs everything on one thread; anything else (or unset)
//! is multi-threaded with TOKIO_WORKER_THREADS workers (tokio's own variable; default one
//! per core).

use anyhow::Context;

/// The runtime TOKIO_RUNTIME asks for.
pub fn from_env() -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match std::env::var("TOKIO_RUNTIME").as_deref() {
        Ok("current_thread") => tokio::runtime::Builder::new_current_thread(),
        Ok("multi_thread") | Ok("") | Err(_) => tokio::runtime::Builder::new_multi_thread(),
        Ok(other) => anyhow::bail!("TOKIO_RUNTIME={other:?}: use current_thread or multi_thread"),
    };
    builder
        .enable_all()
        .build()
        .context("building the tokio runtime")
}
