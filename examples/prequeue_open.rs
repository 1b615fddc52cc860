//! Measures opening a pre-queue of N buyers (default 1,000,000): fills a concert's
//! pre-queue through the real issue_token script (every join computing its HMAC), opens it
//! and runs the opening's steps back to back as the ticker does, then reports the total
//! time and the longest step as the engine saw it (round trip included) next to Redis's own
//! SLOWLOG (every command of the opening logged, with its time inside Redis) and LATENCY
//! monitor; checks that the line is the seed's order; prints the pre-queue's memory.
//!
//! Run on a Redis of its own (scripts/perf/prequeue-open.sh does it all):
//!   REDIS_URL=redis://127.0.0.1:6399 cargo run --release --example prequeue_open -- 1000000

use std::time::{Duration, Instant};

use anyhow::Context;
use concert_queue::queue::admin::SettingsChange;
use concert_queue::queue::draw;
use concert_queue::queue::opening::OPEN_CHUNK;
use concert_queue::queue::QueueState;
use concert_queue::store::Store;
use futures::StreamExt;
use support::used_memory;

#[path = "support/mod.rs"]
mod support;

const CONCERT: u64 = 1;

fn fail(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

async fn config_set(store: &Store, name: &str, value: &str) -> anyhow::Result<()> {
    let _: () = store
        .query(redis::cmd("CONFIG").arg("SET").arg(name).arg(value))
        .await
        .map_err(fail)?;
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let chunk: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(OPEN_CHUNK);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
    let prefix = format!("prequeue{}", std::process::id());
    let store = Store::connect(&url, &prefix, Duration::from_secs(10), 0).await?;
    let queue = support::probe_queue(store.clone());
    let _: () = store
        .query(
            redis::cmd("HSET")
                .arg(store.keys.concert_meta(CONCERT))
                .arg("title")
                .arg("probe"),
        )
        .await
        .map_err(fail)?;
    let now = store.now_ms().await.map_err(fail)?;
    queue
        .configure(
            CONCERT,
            &SettingsChange {
                opens_at_ms: Some(Some(now + 24 * 3_600_000)),
                ..SettingsChange::default()
            },
        )
        .await
        .map_err(fail)?;

    println!("load average before: {}", loadavg());
    let before = used_memory(&store).await?;
    let started = Instant::now();
    let mut joins = futures::stream::iter(1..=n)
        .map(|user| {
            let queue = queue.clone();
            async move { queue.issue_token(user, CONCERT).await }
        })
        .buffer_unordered(128);
    while let Some(joined) = joins.next().await {
        let joined = joined.map_err(fail)?;
        anyhow::ensure!(
            matches!(joined.state, QueueState::PreQueue { .. }),
            "a join before opensAt answered {:?}",
            joined.state
        );
    }
    let filled = started.elapsed();
    let after = used_memory(&store).await?;
    println!(
        "pre-queue: {n} joins through issue_token in {:.1} s; used_memory +{} B ({:.0} B per entry)",
        filled.as_secs_f64(),
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / n as f64
    );

    // Redis's own view of the opening: every command logged with its time inside Redis.
    config_set(&store, "slowlog-log-slower-than", "0").await?;
    config_set(&store, "slowlog-max-len", "100000").await?;
    config_set(&store, "latency-monitor-threshold", "1").await?;
    let _: () = store
        .query(redis::cmd("SLOWLOG").arg("RESET"))
        .await
        .map_err(fail)?;
    let _: () = store
        .query(redis::cmd("LATENCY").arg("RESET"))
        .await
        .map_err(fail)?;

    queue.open_now(CONCERT).await.map_err(fail)?;
    let report = queue.run_opening(CONCERT, chunk).await.map_err(fail)?;

    // LATENCY first: reading the slow log is a slow command of its own.
    let latency: Vec<redis::Value> = store
        .query(redis::cmd("LATENCY").arg("LATEST"))
        .await
        .map_err(fail)?;
    let slowlog: Vec<redis::Value> = store
        .query(redis::cmd("SLOWLOG").arg("GET").arg(100_000))
        .await
        .map_err(fail)?;
    let mut steps = Vec::new();
    for entry in &slowlog {
        let redis::Value::Array(fields) = entry else {
            continue;
        };
        let micros = match fields.get(2) {
            Some(redis::Value::Int(us)) => *us as u64,
            _ => continue,
        };
        let is_evalsha = matches!(fields.get(3), Some(redis::Value::Array(args))
            if matches!(args.first(), Some(redis::Value::BulkString(cmd)) if cmd.eq_ignore_ascii_case(b"evalsha")));
        if is_evalsha {
            steps.push(micros);
        }
    }
    config_set(&store, "slowlog-log-slower-than", "10000").await?;
    steps.sort_unstable();
    let longest = steps.last().copied().unwrap_or(0);
    let total_in_redis: u64 = steps.iter().sum();
    let p50 = steps.get(steps.len() / 2).copied().unwrap_or(0);
    let p99 = steps
        .get((steps.len() * 99 / 100).min(steps.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    let over_10ms = steps.iter().filter(|&&us| us > 10_000).count();
    println!(
        "opening: {} entries in {} steps of {chunk}, {:.2} s in all (engine's clock)",
        report.moved,
        report.steps,
        report.elapsed.as_secs_f64()
    );
    println!(
        "longest step: {:.2} ms as the engine saw it (round trip included)",
        report.longest_step.as_secs_f64() * 1000.0
    );
    println!(
        "SLOWLOG: {} script calls (EVALSHA) logged; longest {:.2} ms, p99 {:.2} ms, median {:.2} ms, {} over 10 ms; {:.2} s inside Redis in all",
        steps.len(),
        longest as f64 / 1000.0,
        p99 as f64 / 1000.0,
        p50 as f64 / 1000.0,
        over_10ms,
        total_in_redis as f64 / 1e6
    );
    if let Ok(path) = std::env::var("STEPS_FILE") {
        let lines: Vec<String> = steps.iter().map(|us| us.to_string()).collect();
        std::fs::write(&path, lines.join("\n")).with_context(|| format!("writing {path}"))?;
    }
    println!("LATENCY LATEST (events over 1 ms: name, at, latest ms, max ms): {latency:?}");
    println!("load average after: {}", loadavg());

    // The line is the seed's order.
    let keys = store.keys.queue(CONCERT);
    let seed: String = store
        .query(redis::cmd("HGET").arg(&keys.life).arg("seed"))
        .await
        .map_err(fail)?;
    let seed = draw::parse_hex32(&seed).context("the seed")?;
    let mut expected: Vec<([u8; 32], u64)> = (1..=n).map(|u| (draw::place(&seed, u), u)).collect();
    expected.sort_unstable();
    let line: Vec<u64> = store
        .query(redis::cmd("ZRANGE").arg(&keys.line).arg(0).arg(-1))
        .await
        .map_err(fail)?;
    anyhow::ensure!(
        line.len() as u64 == n,
        "{} in the line, not {n}",
        line.len()
    );
    anyhow::ensure!(
        line.iter().zip(&expected).all(|(a, (_, b))| a == b),
        "the line is not the seed's order"
    );
    println!("the line holds all {n} in the seed's order");

    let mut cursor = 0u64;
    loop {
        let (next, found): (u64, Vec<String>) = store
            .query(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}:*"))
                    .arg("COUNT")
                    .arg(1000),
            )
            .await
            .map_err(fail)?;
        if !found.is_empty() {
            let _: () = store
                .query(redis::cmd("UNLINK").arg(found))
                .await
                .map_err(fail)?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(())
}
