//! Loads one of the engine's Lua scripts into the Redis at REDIS_URL exactly as the server
//! composes it (src/store/scripts.rs) and prints its SHA1, for tools that call it by
//! EVALSHA on their own (scripts/perf/side-by-side.sh runs redis-benchmark with it).
//!
//!   REDIS_URL=redis://127.0.0.1:6379 cargo run --release --example load_script -- issue_token
//!
//! With `--list` it only prints `<sha1> <name>` for every script (no Redis needed), the
//! table scripts/perf/profile.sh maps EVALSHA calls back to scripts with.

use anyhow::{bail, Context};
use concert_queue::store::Scripts;

fn main() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .context("usage: load_script <script name, e.g. issue_token>")?;
    let scripts = Scripts::load();
    if name == "--list" {
        for (name, script) in scripts.named() {
            println!("{} {name}", script.get_hash());
        }
        return Ok(());
    }
    let Some((_, script)) = scripts.named().into_iter().find(|(n, _)| *n == name) else {
        bail!("no script named {name:?}");
    };
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).with_context(|| format!("parsing {url}"))?;
    let mut conn = client
        .get_connection()
        .with_context(|| format!("connecting to {url}"))?;
    let sha = script
        .prepare_invoke()
        .load(&mut conn)
        .with_context(|| format!("loading {name} into {url}"))?;
    anyhow::ensure!(sha == script.get_hash(), "Redis hashed {name} differently");
    println!("{sha}");
    Ok(())
}
