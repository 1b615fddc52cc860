//! What the measuring examples share (`#[path = "support/mod.rs"] mod support;`): a queue
//! over a store with admission paused, and Redis's `used_memory`.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::Context;
use concert_queue::queue::{Queue, QueueSettings, TokenSigner};
use concert_queue::store::Store;

/// The queue operations over `store`, nobody admitted (`max_active` 0), the other
/// settings at their defaults.
pub fn probe_queue(store: Store) -> Queue {
    Queue::new(
        store,
        TokenSigner::new(b"probe-secret-of-some-length"),
        QueueSettings {
            max_active: 0,
            admit_per_sec: 100,
            active_ttl: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(120),
            admit_per_available_seat: 1.0,
            activation_tick: Duration::from_millis(100),
        },
    )
}

/// Redis's `used_memory` (INFO memory), in bytes.
pub async fn used_memory(store: &Store) -> anyhow::Result<u64> {
    let info: String = store
        .query(redis::cmd("INFO").arg("memory"))
        .await
        .map_err(|e| anyhow::anyhow!("INFO memory: {e}"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .context("used_memory in INFO")?
        .trim()
        .parse()
        .context("parsing used_memory")
}
