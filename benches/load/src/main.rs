//! The `concert-queue-load` binary: the load tool's command line (flags in `LoadArgs`).

use anyhow::Context;
use clap::Parser;
use concert_queue_load::{LoadArgs, Scenario};

/// mimalloc, as the server uses: the generator shares the machine's cores with the server
/// it measures, so its own allocations should cost as little.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = LoadArgs::parse();
    if args.scenario == Scenario::Fairness {
        let report = runtime()?.block_on(concert_queue_load::run_fairness(args))?;
        print!("{}", report.text());
        return Ok(());
    }
    if args.scenario == Scenario::Flash {
        let report = runtime()?.block_on(concert_queue_load::run_flash(args))?;
        print!("{}", report.text());
        let failures = report.verdict.failures();
        anyhow::ensure!(
            failures.is_empty(),
            "the flash crowd broke {} check(s)",
            failures.len()
        );
        return Ok(());
    }
    let summary = runtime()?.block_on(concert_queue_load::run(args))?;
    print!("{}", summary.text());
    Ok(())
}

/// The tokio runtime TOKIO_RUNTIME asks for, as the server reads it: `current_thread`, or
/// multi-threaded (TOKIO_WORKER_THREADS workers, one per core by default).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
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
