//! The real `concert-queue flush` process killed (SIGKILL) at random points while entries
//! keep arriving, then drained by `flush --once`: nothing missing, nothing doubled in
//! MySQL, every reservation on the topic; and SIGTERM finishing the batch in hand.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::flush::FlushEnv;
use rand::Rng;

fn flush_process(env: &FlushEnv, args: &[&str], extra: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_concert-queue"));
    cmd.arg("flush").args(args).envs(env.binary_env());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the concert-queue binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_at_random_points_loses_and_doubles_nothing() {
    let mut env = FlushEnv::new("flushcrash").await;
    env.config.flush_batch_size = 50;
    // Claims come quickly, yet never before a live worker's longest write wait (2 s sink
    // timeout plus 2 s for the broker's reports).
    env.config.flush_sink_timeout = Duration::from_secs(2);
    env.config.flush_claim_idle = Duration::from_secs(5);
    // Crashes are not failures of the entries: none may be dead-lettered, even though
    // the same entries are delivered far more often than this.
    env.config.flush_max_deliveries = 2;

    let total: u64 = 6_000;
    let writer = {
        let env_keys = env.keys.clone();
        let config = env.config.clone();
        tokio::spawn(async move {
            let mut conn = crate::helpers::TestRedis::of(&config).await;
            for start in (0..total).step_by(50) {
                crate::helpers::flush::append_reservations(&mut conn, &env_keys, start..start + 50)
                    .await;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    let mut kills = 0;
    let mut mid_batch = 0;
    let mut rng = rand::rng();
    let started = Instant::now();
    while kills < 25 || !writer.is_finished() {
        let mut child = flush_process(&env, &[], &[]);
        // From before the first batch (start-up takes ~1 s with a fresh producer) to
        // well into the stream of batches.
        let alive = Duration::from_millis(rng.random_range(100..1800));
        tokio::time::sleep(alive).await;
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let lag = env.lag().await;
        if lag.pending > 0 {
            mid_batch += 1;
        }
        eprintln!(
            "kill {kills} after {alive:?}: lag {} entries, {} pending",
            lag.entries, lag.pending
        );
    }
    writer.await.unwrap();
    eprintln!(
        "{kills} kills in {:?}, {mid_batch} of them with a batch in hand",
        started.elapsed()
    );
    assert!(
        mid_batch >= 3,
        "too few kills landed mid-batch to prove anything"
    );

    // The dead workers' pending entries become claimable after the idle time.
    tokio::time::sleep(env.config.flush_claim_idle + Duration::from_millis(200)).await;
    let mut drain = flush_process(&env, &["--once"], &[]);
    let status = tokio::task::spawn_blocking(move || drain.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "flush --once failed: {status}");

    let (rows, distinct) = env.reservation_rows().await;
    assert_eq!(rows, distinct, "0 duplicate rows");
    let ids: HashSet<String> = env.reservation_ids().await.into_iter().collect();
    let missing: Vec<u64> = (0..total)
        .filter(|n| !ids.contains(&format!("r-{n}")))
        .collect();
    assert!(missing.is_empty(), "missing rows: {missing:?}");
    assert_eq!(rows, total);
    assert_eq!(env.count("SELECT COUNT(*) FROM payments").await, total);
    assert_eq!(env.count("SELECT COUNT(*) FROM wallet_ledger").await, total);

    let keys = env.topic_keys(total as usize).await;
    let on_topic: HashSet<&String> = keys.iter().collect();
    assert_eq!(
        on_topic.len() as u64,
        total,
        "every reservation on the topic"
    );
    eprintln!(
        "topic: {} messages, {} distinct, {} duplicates after {kills} kills",
        keys.len(),
        on_topic.len(),
        keys.len() - on_topic.len()
    );
    assert_eq!(env.pending().await, 0);
    assert_eq!(env.lag().await.entries, 0);
    assert_eq!(
        env.xlen(&env.keys.outbox_dead()).await,
        0,
        "crashes dead-letter nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_batch_in_hand_and_metrics_are_served() {
    let mut env = FlushEnv::new("flushterm").await;
    env.config.flush_batch_size = 200;
    let total = 20_000;
    env.append_reservations(0..total).await;
    let port = crate::helpers::redis_process::free_port();
    let mut child = flush_process(
        &env,
        &[],
        &[("FLUSH_METRICS_ADDR", format!("127.0.0.1:{port}"))],
    );
    crate::helpers::eventually(
        Duration::from_secs(30),
        "the worker makes progress",
        || async { (env.lag().await.entries < total - 1000).then_some(()) },
    )
    .await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "outbox_flushed_total",
        "outbox_lag_entries",
        "outbox_lag_seconds",
        "outbox_flush_batch_duration_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "SIGTERM ends the worker cleanly: {exit}");
    assert_eq!(
        env.pending().await,
        0,
        "the batch in hand was finished and acknowledged"
    );
    let lag = env.lag().await;
    assert!(
        lag.entries > 0,
        "stopped before the end, as intended: {lag:?}"
    );
    let (rows, _) = env.reservation_rows().await;
    assert_eq!(
        rows,
        total - lag.entries,
        "every acknowledged entry is in MySQL"
    );
}
