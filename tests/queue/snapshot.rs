//! Status polls answered from the server's snapshot (STATUS_SNAPSHOT=on): far back with no
//! Redis call, exact near the head, positions that never go up, and a buyer who stops
//! polling still dropped as idle. The queue runs without its ticker: each test takes the
//! ticks (activation, then the snapshot with its batched signs of life) itself.

use std::time::Duration;

use concert_queue::queue::{Claims, Queue, QueueSettings, QueueState, TokenSigner};
use concert_queue::store::Store;

use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{
    cluster_nodes, delete_keys_of, eventually, redis_connection, services, test_config,
    unique_prefix, TestRedis,
};

const CONCERT: u64 = 1;
/// Positions asked of Redis in these tests (STATUS_EXACT_POSITIONS).
const EXACT: u64 = 5;

struct Line {
    queue: Queue,
    /// The Redis and the prefix (of the tests' shared Redis, or cluster, or a private one).
    config: concert_queue::Config,
    claims: Vec<Claims>,
}

impl Drop for Line {
    fn drop(&mut self) {
        delete_keys_of(&self.config);
    }
}

/// The shared test Redis (the cluster of TEST_REDIS_CLUSTER_NODES, if set), or the private
/// one at `private`.
async fn redis_config(private: Option<&str>) -> concert_queue::Config {
    let mut config = match private {
        Some(url) => test_config(url, &unique_prefix("snapshot")),
        None => {
            let mut config = test_config(&services::redis_url().await, &unique_prefix("snapshot"));
            config.redis_cluster_nodes = cluster_nodes();
            config
        }
    };
    config.redis_timeout = Duration::from_secs(2);
    config
}

/// `buyers` users (1, 2, ...) joined in order, on a queue with the snapshot on, in the
/// shared test Redis or the private one at `private`.
async fn line(
    private: Option<&str>,
    buyers: u64,
    customize: impl FnOnce(&mut QueueSettings),
) -> Line {
    let config = redis_config(private).await;
    let store = Store::from_config(&config).await.unwrap();
    let mut conn = TestRedis::of(&config).await;
    let _: () = redis::Cmd::sadd(store.keys.concerts(), CONCERT)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::Cmd::hset(store.keys.concert_meta(CONCERT), "title", "snapshot")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut settings = QueueSettings {
        max_active: 0,
        admit_per_sec: 100,
        active_ttl: Duration::from_secs(300),
        idle_timeout: Duration::from_secs(120),
        admit_per_available_seat: 1.0,
        activation_tick: Duration::from_millis(100),
    };
    customize(&mut settings);
    let queue = Queue::new(
        store,
        TokenSigner::new(b"snapshot-test-secret-0123"),
        settings,
    )
    .with_status_snapshot(EXACT);
    let mut claims = Vec::new();
    for user in 1..=buyers {
        claims.push(queue.issue_token(user, CONCERT).await.unwrap().claims);
    }
    Line {
        queue,
        config,
        claims,
    }
}

impl Line {
    /// One tick: admission and the idle sweep, then the snapshot and the signs of life.
    async fn tick(&self) {
        self.queue.activate(CONCERT).await.unwrap();
        self.queue.refresh_snapshots(&[CONCERT]).await.unwrap();
    }

    async fn poll(&self, user: u64) -> QueueState {
        self.queue
            .status(&self.claims[user as usize - 1])
            .await
            .unwrap()
    }

    /// The exact position of `user` now (ZRANK + 1).
    async fn exact_position(&self, user: u64) -> u64 {
        let mut conn = TestRedis::of(&self.config).await;
        let rank: u64 = redis::cmd("ZRANK")
            .arg(self.queue.store().keys.queue(CONCERT).line)
            .arg(user)
            .query_async(&mut conn)
            .await
            .unwrap();
        rank + 1
    }
}

fn position(state: &QueueState) -> u64 {
    match state {
        QueueState::Waiting { position, .. } => *position,
        other => panic!("expected WAITING, got {other:?}"),
    }
}

/// Commands the private Redis has run (INFO commandstats), leaving out INFO itself and the
/// commands a new connection sends (HELLO, CLIENT SETINFO).
async fn redis_calls(url: &str) -> u64 {
    let mut conn = redis_connection(url).await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_"))
        .filter(|l| {
            !["cmdstat_info:", "cmdstat_hello:", "cmdstat_client|"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[tokio::test]
async fn a_poll_far_back_is_answered_without_a_redis_call() {
    let redis = RedisProcess::start();
    let line = line(Some(&redis.url()), 300, |_| {}).await;
    let first = position(&line.poll(250).await);
    assert_eq!(first, 250, "the first poll asks Redis: exact");
    line.tick().await;
    let before = redis_calls(&redis.url()).await;
    for _ in 0..20 {
        let answer = position(&line.poll(250).await);
        assert!((250..=253).contains(&answer), "within 1%: {answer}");
    }
    let after = redis_calls(&redis.url()).await;
    assert_eq!(after - before, 0, "20 polls far back, no Redis call");
    // Their sign of life goes with the next tick, and the buyer stays where it was.
    line.tick().await;
    assert_eq!(line.exact_position(250).await, 250);
    assert!((250..=253).contains(&position(&line.poll(250).await)));
}

#[tokio::test]
async fn a_buyer_near_the_head_gets_an_exact_position_from_redis() {
    let redis = RedisProcess::start();
    let line = line(Some(&redis.url()), 40, |_| {}).await;
    line.poll(3).await;
    line.tick().await;
    let before = redis_calls(&redis.url()).await;
    assert_eq!(position(&line.poll(3).await), 3);
    assert!(
        redis_calls(&redis.url()).await > before,
        "near the head the poll asks Redis"
    );
    assert_eq!(position(&line.poll(3).await), line.exact_position(3).await);
}

#[tokio::test]
async fn positions_never_go_up_while_the_line_moves() {
    let line = line(None, 400, |s| {
        s.max_active = 1000;
        s.admit_per_sec = 400;
    })
    .await;
    let watched: Vec<u64> = (100..=400).step_by(7).collect();
    let mut last = vec![u64::MAX; watched.len()];
    for _ in 0..8 {
        for (i, &user) in watched.iter().enumerate() {
            if let QueueState::Waiting { position, .. } = line.poll(user).await {
                assert!(
                    position <= last[i],
                    "user {user}: {} then {position}",
                    last[i]
                );
                let exact = line.exact_position(user).await;
                assert!(
                    position >= exact && position <= exact + exact / 100 + 1,
                    "user {user}: {position} against exact {exact}"
                );
                last[i] = position;
            } else {
                last[i] = 0;
            }
        }
        line.tick().await;
    }
}

#[tokio::test]
async fn a_buyer_who_stops_polling_is_still_dropped_as_idle() {
    let line = line(None, 60, |s| s.idle_timeout = Duration::from_secs(1)).await;
    // Both far back: 50 keeps polling (from the snapshot), 40 polls once and stops.
    line.poll(50).await;
    line.poll(40).await;
    eventually(
        Duration::from_secs(20),
        "the silent buyer dropped as idle",
        || async {
            line.tick().await;
            let polling = line.poll(50).await;
            assert!(
                matches!(polling, QueueState::Waiting { .. }),
                "the buyer who polls stays: {polling:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
            let key = line.queue.store().keys.queue(CONCERT).line;
            let mut conn = TestRedis::of(&line.config).await;
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg(key)
                .arg(40)
                .query_async(&mut conn)
                .await
                .unwrap();
            score.is_none().then_some(())
        },
    )
    .await;
    assert_eq!(line.poll(40).await, QueueState::Expired);
    assert!(matches!(line.poll(50).await, QueueState::Waiting { .. }));
}

#[tokio::test]
async fn a_buyer_evicted_far_back_is_expired_after_the_next_tick() {
    // The default idle timeout (120 s): this server sends the buyer's sign of life at most
    // every 30 s, so only the eviction list can tell it within a tick.
    let line = line(None, 300, |_| {}).await;
    assert_eq!(position(&line.poll(250).await), 250, "asks Redis first");
    line.tick().await;
    assert!(
        (250..=253).contains(&position(&line.poll(250).await)),
        "then answered from the snapshot"
    );
    line.queue.evict(CONCERT, 250).await.unwrap();
    line.tick().await;
    assert_eq!(line.poll(250).await, QueueState::Expired);
    // The others far back are still answered, and the one behind moved up.
    line.poll(260).await;
    line.tick().await;
    assert!((259..=262).contains(&position(&line.poll(260).await)));
}
