//! The outbox split per slot owner (issue 14): each concert's stream, each wallet bucket's
//! and the global one of earlier releases, all drained with the same guarantees: flushed
//! and acknowledged on their own streams, claims per stream, dead letters beside their
//! stream, a busy stream not starving the others, and the lag summed over them all.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::flush::FlushEnv;
use concert_queue::flush::{Step, Worker, GROUP};
use concert_queue::store::Keys;

/// Adds concerts to the set the worker lists the streams from.
async fn add_concerts(env: &FlushEnv, ids: &[u64]) {
    let mut conn = env.redis().await;
    let _: () = redis::cmd("SADD")
        .arg(env.keys.concerts())
        .arg(ids)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// The `flush` group's lag on one stream only.
async fn lag_on(env: &FlushEnv, stream: &str) -> concert_queue::flush::Lag {
    concert_queue::flush::lag::lag_of(&env.store().await, &[stream])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concerts_and_a_wallet_bucket_are_flushed_and_acknowledged_on_their_own_streams() {
    let env = FlushEnv::new("streams-all").await;
    add_concerts(&env, &[3, 5]).await;
    let (three, five, bucket) = (
        env.keys.concert_outbox(3),
        env.keys.concert_outbox(5),
        env.keys.wallet_outbox(7),
    );
    env.append_reservations_to(&three, 0..50).await;
    env.append_reservations_to(&five, 50..100).await;
    env.append_charges_to(&bucket, 0..20).await;
    env.append_reservations(100..110).await;

    let mut worker = Worker::start(&env.config).await.unwrap();
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 130, "{report:?}");
    assert_eq!(report.dead_lettered, 0);
    assert_eq!(env.reservation_rows().await, (110, 110));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'CHARGE'")
            .await,
        20
    );
    let on_topic: HashSet<String> = env.topic_keys(110).await.into_iter().collect();
    assert_eq!(on_topic.len(), 110, "every reservation on the topic");
    for stream in [&three, &five, &bucket, &env.keys.outbox()] {
        assert_eq!(env.pending_on(stream).await, 0, "{stream}: nothing pending");
        assert_eq!(
            lag_on(&env, stream).await.entries,
            0,
            "{stream}: all acknowledged"
        );
        assert_eq!(
            env.xlen(stream).await,
            0,
            "{stream}: trimmed once acknowledged"
        );
    }

    // A concert added later: the next drain lists its stream and drains it too.
    add_concerts(&env, &[8]).await;
    let eight = env.keys.concert_outbox(8);
    env.append_reservations_to(&eight, 200..230).await;
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 30, "{report:?}");
    assert_eq!(env.reservation_rows().await, (140, 140));
    assert_eq!(lag_on(&env, &eight).await, Default::default());
    assert!(
        env.outbox().await.is_empty(),
        "every stream drained and trimmed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_pending_entries_on_a_concert_stream_are_claimed_by_another() {
    let mut env = FlushEnv::new("streams-claim").await;
    // A short claim idle time, still past a live worker's longest wait on its sinks (2 s
    // for a write, 2 s for the broker's reports); 2 s also leaves a loaded broker time to
    // create the topics.
    env.config.flush_sink_timeout = Duration::from_secs(2);
    env.config.flush_claim_idle = Duration::from_secs(5);
    add_concerts(&env, &[4]).await;
    let stream = env.keys.concert_outbox(4);
    let mut worker = Worker::start(&env.config).await.unwrap();
    env.append_reservations_to(&stream, 0..20).await;

    // A worker that reads the concert's entries and dies.
    let mut conn = env.redis().await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("dead-worker")
        .arg("COUNT")
        .arg(20)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(env.pending_on(&stream).await, 20);
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 0, "not idle long enough to be claimed");
    assert_eq!(env.pending_on(&stream).await, 20);

    tokio::time::sleep(env.config.flush_claim_idle + Duration::from_millis(100)).await;
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 20, "claimed from the dead worker: {report:?}");
    assert_eq!(env.pending_on(&stream).await, 0);
    assert_eq!(env.reservation_rows().await, (20, 20));
    assert_eq!(env.lag().await, Default::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_on_a_bucket_stream_is_dead_lettered_beside_that_stream() {
    let mut env = FlushEnv::new("streams-poison").await;
    env.config.flush_max_deliveries = 2;
    let bucket = env.keys.wallet_outbox(9);
    env.append_charges_to(&bucket, 0..5).await;
    let poison = env
        .append_raw_to(
            &bucket,
            &[
                ("type", "wallet.charged"),
                ("id", "c-bad"),
                ("data", "{not json"),
            ],
        )
        .await;
    env.append_charges_to(&bucket, 5..10).await;

    let mut worker = Worker::start(&env.config).await.unwrap();
    let report = worker.drain(5).await.unwrap();
    assert_eq!((report.acked, report.dead_lettered), (10, 1), "{report:?}");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'CHARGE'")
            .await,
        10
    );
    let dead = env.dead_letters_of(&bucket).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["sourceId"], poison);
    assert_eq!(dead[0]["deliveries"], "2");
    assert!(dead[0]["reason"].contains("malformed entry"), "{dead:?}");
    assert!(
        env.dead_letters().await.is_empty(),
        "nothing in the global dead letters"
    );
    assert_eq!(env.pending_on(&bucket).await, 0);

    // Replayed into its own stream.
    assert_eq!(worker.outbox().replay_dead().await.unwrap(), 1);
    assert!(env.dead_letters_of(&bucket).await.is_empty());
    assert_eq!(lag_on(&env, &bucket).await.entries, 1);
    let back: Vec<_> = env
        .outbox()
        .await
        .into_iter()
        .filter(|(stream, _)| *stream == bucket)
        .collect();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].1.get::<String>("data").unwrap(), "{not json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_stream_does_not_starve_the_others() {
    let mut env = FlushEnv::new("streams-fair").await;
    env.config.flush_batch_size = 10;
    add_concerts(&env, &[1, 2]).await;
    let (busy, quiet) = (env.keys.concert_outbox(1), env.keys.concert_outbox(2));
    env.append_reservations_to(&busy, 0..1000).await;
    env.append_reservations_to(&quiet, 1000..1005).await;

    let mut worker = Worker::start(&env.config).await.unwrap();
    // Three steps: two batches taken, the first acknowledged, the second at the broker.
    for _ in 0..4 {
        assert!(matches!(
            worker.flush_once().await.unwrap(),
            Step::Flushed(_)
        ));
    }
    assert_eq!(
        lag_on(&env, &quiet).await.entries,
        0,
        "the quiet concert's 5 entries went within the first batches"
    );
    assert!(lag_on(&env, &busy).await.entries > 950);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_sums_every_stream_and_ages_by_the_oldest() {
    let env = FlushEnv::new("streams-lag").await;
    add_concerts(&env, &[3]).await;
    let worker = Worker::start(&env.config).await.unwrap();
    assert_eq!(env.lag().await, Default::default(), "empty streams: no lag");
    let (concert, bucket) = (env.keys.concert_outbox(3), env.keys.wallet_outbox(2));
    env.append_reservations_to(&concert, 0..7).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.append_reservations(7..12).await;
    env.append_charges_to(&bucket, 0..4).await;
    let lag = env.lag().await;
    assert_eq!((lag.entries, lag.pending), (16, 0));
    assert!(lag.oldest_ms >= 300, "the concert's first entry: {lag:?}");

    // A worker that reads 3 of the bucket's and dies: pending, still lag.
    let mut conn = env.redis().await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("dead-worker")
        .arg("COUNT")
        .arg(3)
        .arg("STREAMS")
        .arg(&bucket)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let lag = env.lag().await;
    assert_eq!((lag.entries, lag.pending), (16, 3));
    drop(worker);

    // /health reports the same sum.
    let server = crate::helpers::TestServer::start_with(env.config.clone()).await;
    let body: serde_json::Value = server
        .http
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["outbox"]["lagEntries"], 16, "{body}");
    assert_eq!(body["outbox"]["pendingEntries"], 3, "{body}");
    server.stop().await.unwrap();
    assert_eq!(
        Keys::dead_letters(&bucket),
        format!("{bucket}:dead"),
        "dead letters beside their stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_lost_its_group_gets_it_again() {
    let env = FlushEnv::new("streams-regroup").await;
    add_concerts(&env, &[6]).await;
    let stream = env.keys.concert_outbox(6);
    let mut worker = Worker::start(&env.config).await.unwrap();
    env.append_reservations_to(&stream, 0..5).await;
    assert_eq!(worker.drain(5).await.unwrap().acked, 5);

    // Redis lost the stream (and its group); a writer appends to it anew.
    let mut conn = env.redis().await;
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
    env.append_reservations_to(&stream, 5..12).await;
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 7, "{report:?}");
    assert_eq!(env.reservation_rows().await, (12, 12));
    assert_eq!(lag_on(&env, &stream).await, Default::default());
}
