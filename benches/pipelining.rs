//! Pipelining, settled by measurement: N independent script calls (the activation tick and
//! the hold sweep over N concerts) run three ways against the Redis at REDIS_URL, through
//! the engine's own `Store`, scripts and one multiplexed connection:
//!
//! - `sequential`: one await after another (N round trips);
//! - `concurrent`: all N futures at once (`join_all`), which the multiplexed connection
//!   pipelines implicitly (what the ticker does);
//! - `pipeline`: one explicit `redis::pipe()` of N EVALSHAs (`Store::invoke_pipelined`,
//!   NOSCRIPT answers loaded and retried).
//!
//! Without a Redis it prints SKIPPED and exits 0.
//!
//!   cargo bench --bench pipelining
//!   BENCH_FANOUT=10,100,1000 cargo bench --bench pipelining -- --noplot

#[path = "../tests/helpers/mod.rs"]
mod helpers;
mod support;

use std::future::Future;

use criterion::{BenchmarkId, Criterion, Throughput};
use futures::future::join_all;
use support::{bench_settings, print_skip, RedisFixture, CONCERT};

/// How many concerts each call fans out to; BENCH_FANOUT overrides (`10,100`).
fn fanouts() -> Vec<u64> {
    std::env::var("BENCH_FANOUT")
        .ok()
        .map(|raw| {
            raw.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![10, 100])
}

/// Benches one fan-out three ways; each closure runs all `n` calls once.
fn three_ways<S, C, P, FS, FC, FP>(
    c: &mut Criterion,
    fx: &RedisFixture,
    name: &str,
    n: u64,
    sequential: S,
    concurrent: C,
    pipeline: P,
) where
    S: Fn(Vec<u64>) -> FS,
    C: Fn(Vec<u64>) -> FC,
    P: Fn(Vec<u64>) -> FP,
    FS: Future<Output = ()>,
    FC: Future<Output = ()>,
    FP: Future<Output = ()>,
{
    let ids: Vec<u64> = (CONCERT..CONCERT + n).collect();
    let mut group = c.benchmark_group(format!("pipelining/{name}"));
    group.throughput(Throughput::Elements(n));
    group.bench_function(BenchmarkId::new("sequential", n), |b| {
        b.to_async(&fx.rt).iter(|| sequential(ids.clone()))
    });
    group.bench_function(BenchmarkId::new("concurrent", n), |b| {
        b.to_async(&fx.rt).iter(|| concurrent(ids.clone()))
    });
    group.bench_function(BenchmarkId::new("pipeline", n), |b| {
        b.to_async(&fx.rt).iter(|| pipeline(ids.clone()))
    });
    group.finish();
}

/// The activation tick over `n` concerts with empty queues (the ticker's usual case: the
/// script runs its expiry, idle and admission checks and admits nobody).
fn activate(c: &mut Criterion, fx: &RedisFixture, n: u64) {
    let q = &fx.queue;
    three_ways(
        c,
        fx,
        "activate",
        n,
        |ids| async move {
            for id in ids {
                q.activate(id).await.expect("activate");
            }
        },
        |ids| async move {
            for outcome in join_all(ids.into_iter().map(|id| q.activate(id))).await {
                outcome.expect("activate");
            }
        },
        |ids| async move {
            for outcome in q.activate_pipelined(&ids).await.expect("pipeline") {
                outcome.expect("activate");
            }
        },
    );
}

/// The hold sweep over `n` concerts of one schedule each, nothing lapsed (its usual case).
fn release_lapsed_holds(c: &mut Criterion, fx: &RedisFixture, n: u64) {
    let b = &fx.booking;
    three_ways(
        c,
        fx,
        "release_lapsed_holds",
        n,
        |ids| async move {
            for id in ids {
                b.release_lapsed_holds(id).await.expect("release");
            }
        },
        |ids| async move {
            for outcome in join_all(ids.into_iter().map(|id| b.release_lapsed_holds(id))).await {
                outcome.expect("release");
            }
        },
        |ids| async move {
            for outcome in b
                .release_lapsed_holds_pipelined(&ids)
                .await
                .expect("pipeline")
            {
                outcome.expect("release");
            }
        },
    );
}

fn main() {
    let fixture = match RedisFixture::connect("pipelining", bench_settings(1_000_000)) {
        Ok(fixture) => fixture,
        Err(why) => {
            print_skip("pipelining", &why);
            return;
        }
    };
    let fanouts = fanouts();
    fixture.seed_concerts(fanouts.iter().copied().max().unwrap_or(1));
    let mut criterion = Criterion::default().configure_from_args();
    for &n in &fanouts {
        activate(&mut criterion, &fixture, n);
        release_lapsed_holds(&mut criterion, &fixture, n);
    }
    criterion.final_summary();
}
