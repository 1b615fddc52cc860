//! Measures Redis memory per WAITING buyer: fills one concert's queue with N tokens through
//! the real issue_token script and reads INFO memory before and after.
//!
//! Run against a Redis of its own (the delta is only clean when nothing else writes):
//!   redis-server --port 6399 --save '' --appendonly no --daemonize yes
//!   REDIS_URL=redis://127.0.0.1:6399 cargo run --release --example queue_memory -- 1000000

use std::time::{Duration, Instant};

use concert_queue::store::Store;
use futures::StreamExt;
use support::used_memory;

#[path = "support/mod.rs"]
mod support;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
    let prefix = format!("memprobe{}", std::process::id());
    let store = Store::connect(&url, &prefix, Duration::from_secs(10), 0).await?;
    let queue = support::probe_queue(store.clone());
    let meta = store.keys.concert_meta(1);
    let _: () = store
        .query(redis::cmd("HSET").arg(&meta).arg("title").arg("probe"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let before = used_memory(&store).await?;
    let started = Instant::now();
    let mut issued = futures::stream::iter(1..=n)
        .map(|user| {
            let queue = queue.clone();
            async move { queue.issue_token(user, 1).await }
        })
        .buffer_unordered(256);
    let mut count = 0u64;
    while let Some(result) = issued.next().await {
        result.map_err(|e| anyhow::anyhow!("issue_token: {e}"))?;
        count += 1;
    }
    let elapsed = started.elapsed();
    let after = used_memory(&store).await?;
    let per_token = (after.saturating_sub(before)) as f64 / count as f64;
    println!(
        "waiting tokens: {count}\nused_memory before: {before} B\nused_memory after: {after} B\nper waiting token: {per_token:.1} B\nfill rate: {:.0} tokens/s (one connection, 256 in flight)",
        count as f64 / elapsed.as_secs_f64()
    );
    let keys = store.keys.queue(1);
    let _: () = store
        .query(
            redis::cmd("DEL")
                .arg(&keys.meta)
                .arg(&keys.line)
                .arg(&keys.active)
                .arg(&keys.active_seq)
                .arg(&keys.entries)
                .arg(&keys.stats)
                .arg(&keys.bucket),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
