//! The tokio runtime, its flavour chosen by a setting (`TOKIO_RUNTIME`) so it can be settled
//! by measurement: `current_thread` runs everything on one thread, `multi_thread` (the
//! default) runs `TOKIO_WORKER_THREADS` workers (one per core when unset). Any other value
//! is refused at start-up.

use anyhow::Context;

/// The runtime's flavour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Flavor {
    /// One thread for everything.
    CurrentThread,
    /// A worker thread per core (or `TOKIO_WORKER_THREADS`).
    #[default]
    MultiThread,
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread => "multi_thread",
        })
    }
}

/// Builds the runtime of `flavor`, with `worker_threads` workers when multi-threaded.
pub fn build(
    flavor: Flavor,
    worker_threads: Option<usize>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = worker_threads {
                builder.worker_threads(n);
            }
            builder
        }
    };
    builder
        .enable_all()
        .build()
        .context("building the tokio runtime")
}

/// The runtime `TOKIO_RUNTIME` asks for, for the tools that take no other setting
/// (examples/hello_server.rs); tokio reads `TOKIO_WORKER_THREADS` itself.
pub fn from_env() -> anyhow::Result<tokio::runtime::Runtime> {
    let flavor = match std::env::var("TOKIO_RUNTIME") {
        Ok(raw) if !raw.trim().is_empty() => {
            <Flavor as clap::ValueEnum>::from_str(raw.trim(), false).map_err(|_| {
                anyhow::anyhow!("TOKIO_RUNTIME={raw:?}: use current_thread or multi_thread")
            })?
        }
        _ => Flavor::default(),
    };
    build(flavor, None)
}
