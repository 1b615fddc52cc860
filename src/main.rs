//! The `concert-queue` binary: reads `./.env`, parses the command line and runs one of the
//! library's commands (src/commands/) on the runtime its settings ask for.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use concert_queue::commands::{self, Admin, DevJwt, Flush, Restore, Seed, Serve, VerifyFairness};
use concert_queue::Config;

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
    Serve(Serve),
    Seed(Seed),
    Flush(Flush),
    Restore(Restore),
    DevJwt(DevJwt),
    Admin(Admin),
    VerifyFairness(VerifyFairness),
}

impl Command {
    /// The settings the command runs with; `verify-fairness`, a client of the public API,
    /// has none (the runtime's defaults).
    fn config(&self) -> Option<&Config> {
        match self {
            Command::Serve(c) => Some(&c.config),
            Command::Seed(c) => Some(&c.config),
            Command::Flush(c) => Some(&c.config),
            Command::Restore(c) => Some(&c.config),
            Command::DevJwt(c) => Some(&c.config),
            Command::Admin(c) => Some(c.config()),
            Command::VerifyFairness(_) => None,
        }
    }
}

fn main() -> anyhow::Result<()> {
    // Settings from ./.env, when there is one; the environment wins.
    let _ = dotenvy::dotenv();
    concert_queue::config::forget_blank_settings();
    let matches = Cli::command()
        .mut_subcommands(|sub| {
            concert_queue::config::name_values_by_env(sub)
                .mut_subcommands(concert_queue::config::name_values_by_env)
        })
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let default_config;
    let config = match cli.command.config() {
        Some(config) => config,
        None => {
            default_config = Config::default();
            &default_config
        }
    };
    config.validate()?;
    if let Command::DevJwt(dev_jwt) = cli.command {
        return dev_jwt.run();
    }
    let runtime = concert_queue::runtime::build(config.tokio_runtime, config.tokio_worker_threads)?;
    let log_format = config.log_format;
    runtime.block_on(async {
        concert_queue::logging::init(log_format);
        let shutdown = commands::shutdown_signal();
        match cli.command {
            Command::Serve(serve) => serve.run(shutdown).await,
            Command::Seed(seed) => seed.run(shutdown).await,
            Command::Flush(flush) => flush.run(shutdown).await,
            Command::Restore(restore) => restore.run(shutdown).await,
            Command::DevJwt(_) => unreachable!("dev-jwt runs without a runtime"),
            Command::Admin(admin) => admin.run().await,
            Command::VerifyFairness(verify) => verify.run().await,
        }
    })
}
