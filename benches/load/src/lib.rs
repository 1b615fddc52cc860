//! `concert-queue-load`: replays the seed report's JMeter scenario against a running
//! concert-queue server on this machine and reports throughput, mean, p50, p95, p99, max
//! and error rate, overall and per endpoint, as text, JSON and a self-contained HTML page
//! with charts. It talks to the server over HTTP only and links nothing of the engine.
//!
//! Models: `closed` (N virtual users, each sending as soon as answered, like JMeter) and
//! `open` (a fixed arrival rate, latency measured from the intended send time).
//! Scenarios: `mix` (the seed's six APIs, `--weights`), `token`, `status`, `flow`, and
//! `fairness` (one attacker against honest clients; its own report, src/fairness.rs) and
//! `flash` (a flash crowd joining one concert and polling until admitted, with its checks:
//! src/flash.rs, src/flash_check.rs), and `soak` (the mix played by buyers who join again
//! when their token lapses and book at a steady rate: src/soak.rs).
//! With `--jwt-secret` every request that names a user carries that user's JWT, for a
//! server in `AUTH_MODE=jwt`.

pub mod catalog;
pub mod charts;
pub mod client;
pub mod closed;
pub mod endpoint;
pub mod fairness;
pub mod flash;
pub mod flash_check;
pub mod flow;
pub mod html;
pub mod identity;
pub mod machine;
pub mod mix;
pub mod open;
pub mod plan;
pub mod record;
pub mod requests;
pub mod session;
pub mod soak;
pub mod summary;
pub mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::ValueEnum;

use client::Connection;
use endpoint::Endpoint;
use mix::Weights;
use plan::Plan;
use record::Recorder;
use summary::Summary;
use target::Target;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// N virtual users, each sending its next request when the last one answered.
    Closed,
    /// A fixed arrival rate (--rate), latency corrected for coordinated omission.
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The seed report's API mix, weighted by --weights.
    Mix,
    /// Token issuance only, each request a new buyer.
    Token,
    /// Queue status polls only.
    Status,
    /// The booking flow: charge, join, poll until ACTIVE, seats, hold, pay.
    Flow,
    /// One client at --attack-rate against --honest clients joining once each (the server
    /// needs TRUSTED_PROXY_HOPS=1, or --jwt-secret and AUTH_MODE=jwt).
    Fairness,
    /// --buyers buyers join the catalog's first concert over --join-seconds and poll as
    /// `pollAfterMs` advises until admitted, over --users connections; the run is checked
    /// (no 5xx, admission in join order, no position going up) and fails on a violation.
    Flash,
    /// The mix (--weights) played by buyers who live on: a buyer whose token is no longer
    /// ACTIVE joins again and polls until admitted; --bookings-per-sec bookings (hold, then
    /// pay from the wallet charged at set-up, or cancel for --cancel-share) over the run.
    Soak,
}

/// The soak's wallets at set-up (and each top-up): this many of the catalog's dearest seat,
/// unless --charge-amount says otherwise.
const WALLET_PRICES: u64 = 10;

/// Flags of `concert-queue-load`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "concert-queue-load",
    version,
    about = "Load a concert-queue server on this machine and report (see docs/performance.md)"
)]
pub struct LoadArgs {
    /// The server's base URL; loopback addresses only.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    #[arg(long, value_enum, default_value = "mix")]
    pub scenario: Scenario,
    #[arg(long, value_enum, default_value = "closed")]
    pub model: Model,
    /// Closed model: virtual users. Open model: connections the schedule is sent over.
    #[arg(long, default_value_t = 350)]
    pub users: usize,
    /// Open model: requests per second.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Requests after which the run stops even within the window.
    #[arg(long, default_value_t = 50_000_000)]
    pub max_requests: u64,
    /// The mix's endpoint weights (scenario mix); the default is the seed's six APIs, equally.
    #[arg(long, default_value = mix::SEED_MIX)]
    pub weights: String,
    /// The catalog the server was seeded with (concert and schedule ids).
    #[arg(long, default_value = "bench-data/catalog.json")]
    pub catalog: PathBuf,
    /// Pause after each answer, per virtual user (closed model).
    #[arg(long, default_value_t = 0)]
    pub think_ms: u64,
    /// Longest wait for one answer before it counts as an error.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    /// Longest set-up (joining and waiting for ACTIVE) before the window opens.
    #[arg(long, default_value_t = 60)]
    pub setup_secs: u64,
    /// Booking flow: won charged to each buyer (default: the catalog's dearest seat). Soak:
    /// each buyer's wallet at set-up and at each top-up (default: ten of the dearest seat).
    #[arg(long)]
    pub charge_amount: Option<u64>,
    /// First user id; the default derives one from the clock so runs do not collide.
    #[arg(long)]
    pub first_user: Option<u64>,
    /// Where to write the HTML report.
    #[arg(long, default_value = "target/load-report/report.html")]
    pub html: PathBuf,
    /// Where to write the figures as JSON (for scripts).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A directory to write the two charts into as standalone SVG files
    /// (`latency-by-percentile.svg`, `over-time.svg`), for documents that embed them.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// A title for the report.
    #[arg(long)]
    pub title: Option<String>,
    /// Sign users in: each request that names a user carries an HS256 JWT for it, signed
    /// with this secret (the server's AUTH_JWT_SECRET, AUTH_MODE=jwt).
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// With --jwt-secret: the `iss` the server requires.
    #[arg(long)]
    pub jwt_issuer: Option<String>,
    /// With --jwt-secret: the `aud` the server requires.
    #[arg(long)]
    pub jwt_audience: Option<String>,
    /// Fairness scenario: the attacker's token requests per second.
    #[arg(long, default_value_t = 1000)]
    pub attack_rate: u64,
    /// Fairness scenario: honest clients, each joining once, spread over the window.
    #[arg(long, default_value_t = 200)]
    pub honest: u64,
    /// Fairness scenario: tries an honest client makes, honouring Retry-After.
    #[arg(long, default_value_t = 3)]
    pub tries: u32,
    /// Soak scenario: bookings per second over all buyers (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub bookings_per_sec: f64,
    /// Soak scenario: the share of bookings that cancel the hold instead of paying.
    #[arg(long, default_value_t = 0.25)]
    pub cancel_share: f64,
    /// Flash scenario: buyers joining the one concert.
    #[arg(long, default_value_t = 200_000)]
    pub buyers: u64,
    /// Flash scenario: the seconds the joins are spread over.
    #[arg(long, default_value_t = 20)]
    pub join_seconds: u64,
    /// Flash scenario: the longest a buyer waits for admission before giving up.
    #[arg(long, default_value_t = 600)]
    pub patience_secs: u64,
}

impl LoadArgs {
    fn weights(&self) -> anyhow::Result<Weights> {
        match self.scenario {
            Scenario::Mix | Scenario::Soak => self.weights.parse(),
            Scenario::Token => "token=1".parse(),
            Scenario::Status | Scenario::Flow | Scenario::Fairness | Scenario::Flash => {
                "status=1".parse()
            }
        }
    }
}

/// Signs users in for the run when `--jwt-secret` is given.
fn sign_in(args: &LoadArgs) {
    if let Some(secret) = &args.jwt_secret {
        identity::sign_in_with(secret, args.jwt_issuer.clone(), args.jwt_audience.clone());
    }
}

/// Runs the fairness scenario (`--scenario fairness`) and writes its JSON when asked.
pub async fn run_fairness(args: LoadArgs) -> anyhow::Result<fairness::FairnessReport> {
    let target = Target::parse(&args.target)?;
    sign_in(&args);
    let window = Duration::from_secs(args.seconds.max(1));
    let first_user = args.first_user.unwrap_or_else(plan::default_first_user);
    let plan = Arc::new(Plan::new(
        &args.catalog,
        first_user,
        u64::MAX,
        Instant::now() + window,
        Duration::ZERO,
    )?);
    let settings = fairness::FairnessSettings {
        attack_rate: args.attack_rate.max(1),
        honest: args.honest.max(1),
        tries: args.tries.max(1),
        window,
        concert_id: plan.concerts[0].id,
        signed_in: args.jwt_secret.is_some(),
    };
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let report = fairness::run(&target, timeout, plan, settings).await;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// The flash crowd's figures: the route table and the checks.
#[derive(Debug, serde::Serialize)]
pub struct FlashReport {
    pub summary: Summary,
    pub verdict: flash_check::Verdict,
}

impl FlashReport {
    pub fn text(&self) -> String {
        format!("{}{}", self.summary.text(), self.verdict.text())
    }
}

/// Runs the flash crowd (`--scenario flash`), writes its reports (HTML of the routes, JSON
/// of routes and checks) and returns them; the caller fails the run on a violation.
pub async fn run_flash(args: LoadArgs) -> anyhow::Result<FlashReport> {
    let target = Target::parse(&args.target)?;
    sign_in(&args);
    let plan = Plan::new(&args.catalog, 0, 0, Instant::now(), Duration::ZERO)?;
    let settings = flash::FlashSettings {
        buyers: args.buyers,
        join_window: Duration::from_secs(args.join_seconds),
        connections: args.users,
        patience: Duration::from_secs(args.patience_secs),
        concert_id: plan.concerts[0].id,
        first_user: args.first_user.unwrap_or_else(plan::default_first_user),
    };
    eprintln!(
        "flash crowd: {} buyers joining concert {} over {} s, on {} connections",
        settings.buyers, settings.concert_id, args.join_seconds, settings.connections
    );
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let start = Instant::now();
    let recorder = Recorder::new(start);
    let machine = machine::Machine::before_run();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let timelines = flash::run(&target, timeout, recorder.clone(), start, settings).await;
    let record = recorder.snapshot();
    let run = summary::RunInfo {
        title: args.title.clone().unwrap_or_else(|| {
            format!(
                "concert-queue-load: flash crowd, {} buyers over {} s, {} connections",
                args.buyers, args.join_seconds, args.users
            )
        }),
        command: command_line(),
        started_at,
        window_secs: start.elapsed().as_secs_f64(),
        machine: machine.after_run(),
    };
    let report = FlashReport {
        summary: Summary::from_record(&record, run),
        verdict: flash_check::check(&timelines),
    };
    write_reports(
        &LoadArgs {
            json: None,
            ..args.clone()
        },
        &report.summary,
        &record,
    )?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// Runs one load test and writes its reports; returns the summary.
pub async fn run(args: LoadArgs) -> anyhow::Result<Summary> {
    let target = Target::parse(&args.target)?;
    if matches!(args.scenario, Scenario::Fairness | Scenario::Flash) {
        bail!("the fairness and flash scenarios have their own reports: run_fairness, run_flash");
    }
    sign_in(&args);
    if args.users == 0 {
        bail!("--users must be at least 1");
    }
    if args.scenario == Scenario::Flow && args.model == Model::Open {
        bail!("the booking flow is a closed-model scenario (one buyer after another per user)");
    }
    if args.scenario == Scenario::Soak && args.model == Model::Open {
        bail!("the soak's buyers are a closed-model scenario (each buyer's next step follows its last)");
    }
    if !(0.0..=1.0).contains(&args.cancel_share) || args.bookings_per_sec < 0.0 {
        bail!("--cancel-share must be within 0 and 1, --bookings-per-sec at least 0");
    }
    let weights = Arc::new(args.weights()?);
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let first_user = args.first_user.unwrap_or_else(plan::default_first_user);
    let setup_deadline = Instant::now() + Duration::from_secs(args.setup_secs);
    let setup_plan = Plan::new(&args.catalog, first_user, 0, setup_deadline, Duration::ZERO)?;

    let needs_token = args.scenario != Scenario::Flow
        && (weights.includes(Endpoint::QueueStatus) || weights.includes(Endpoint::Seats));
    let needs_active = args.scenario != Scenario::Flow && weights.includes(Endpoint::Seats);
    eprintln!(
        "setting up {} connections (tokens: {needs_token}, ACTIVE: {needs_active})",
        args.users
    );
    let mut users = set_up(
        &target,
        timeout,
        &setup_plan,
        args.users,
        needs_token,
        needs_active,
        setup_deadline,
    )
    .await;
    let wallet = args
        .charge_amount
        .unwrap_or(setup_plan.highest_price.saturating_mul(WALLET_PRICES));
    if args.scenario == Scenario::Soak && args.bookings_per_sec > 0.0 {
        let charged = soak::charge_wallets(&mut users, wallet).await;
        eprintln!(
            "charged {charged} of {} wallets with {wallet} won",
            users.len()
        );
    }
    if needs_active {
        let inactive = users.iter().filter(|(_, s)| !s.active).count();
        if inactive > 0 {
            eprintln!("warning: {inactive} of {} users are not ACTIVE after set-up; their seat views will fail (raise QUEUE_MAX_ACTIVE and QUEUE_ADMIT_PER_SEC on the server)", users.len());
        }
    }

    let window = Duration::from_secs(args.seconds.max(1));
    let start = Instant::now();
    let plan = Arc::new(Plan::new(
        &args.catalog,
        first_user + args.users as u64,
        args.max_requests,
        start + window,
        Duration::from_millis(args.think_ms),
    )?);
    let recorder = Recorder::new(start);
    let machine = machine::Machine::before_run();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    eprintln!(
        "running for {} s (Ctrl-C ends the window early; the reports are still written)",
        window.as_secs()
    );
    let stop_on_interrupt = {
        let plan = plan.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                plan.stop();
            }
        })
    };
    match (args.scenario, args.model) {
        (Scenario::Flow, _) => {
            let settings = flow::FlowSettings {
                charge_amount: args.charge_amount.unwrap_or(plan.highest_price),
                admission_limit: Duration::from_secs(args.setup_secs),
            };
            let make = || Connection::new(target.clone(), timeout);
            flow::run(args.users, make, plan, recorder.clone(), settings).await
        }
        (Scenario::Soak, _) => {
            let settings = soak::SoakSettings {
                bookings_per_sec: args.bookings_per_sec,
                cancel_share: args.cancel_share,
                wallet,
            };
            let pacer = Arc::new(soak::Pacer::new(start, args.bookings_per_sec));
            soak::run(users, plan, weights, recorder.clone(), settings, pacer).await
        }
        (_, Model::Closed) => closed::run_mix(users, plan, weights, recorder.clone()).await,
        (_, Model::Open) => {
            open::run_mix(users, plan, weights, recorder.clone(), args.rate, start).await
        }
    }
    stop_on_interrupt.abort();
    let window_secs = start.elapsed().as_secs_f64();
    let record = recorder.snapshot();
    let run = summary::RunInfo {
        title: title(&args),
        command: command_line(),
        started_at,
        window_secs,
        machine: machine.after_run(),
    };
    let summary = Summary::from_record(&record, run);
    write_reports(&args, &summary, &record)?;
    Ok(summary)
}

/// Opens every user's connection and session concurrently.
async fn set_up(
    target: &Target,
    timeout: Duration,
    plan: &Plan,
    users: usize,
    needs_token: bool,
    needs_active: bool,
    deadline: Instant,
) -> Vec<(Connection, session::Session)> {
    let opened = (0..users).map(|n| {
        let mut conn = Connection::new(target.clone(), timeout);
        let user_id = plan.fresh_user();
        let concert_id = plan.concerts[n % plan.concerts.len()].id;
        async move {
            let session = if needs_token {
                session::open(&mut conn, user_id, concert_id, needs_active, deadline).await
            } else {
                session::Session {
                    user_id,
                    concert_id,
                    token: None,
                    active: false,
                }
            };
            (conn, session)
        }
    });
    futures::future::join_all(opened).await
}

fn title(args: &LoadArgs) -> String {
    args.title.clone().unwrap_or_else(|| {
        let load = match args.model {
            Model::Closed => format!("{} virtual users", args.users),
            Model::Open => format!("{} req/s over {} connections", args.rate, args.users),
        };
        let scenario = format!("{:?}", args.scenario).to_lowercase();
        let model = format!("{:?}", args.model).to_lowercase();
        format!(
            "concert-queue-load: {scenario} scenario, {model} model, {load}, {} s",
            args.seconds
        )
    })
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn write_reports(
    args: &LoadArgs,
    summary: &Summary,
    record: &record::Record,
) -> anyhow::Result<()> {
    if let Some(dir) = args.html.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let page = html::report(summary, record)?;
    std::fs::write(&args.html, page).with_context(|| format!("writing {}", args.html.display()))?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(summary).context("encoding the summary")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(dir) = &args.svg {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let charts = html::charts(summary, record)?;
        for (name, svg) in [
            ("latency-by-percentile.svg", &charts.distribution),
            ("over-time.svg", &charts.timeline),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}
