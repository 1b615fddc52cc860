//! MySQL down, and the broker down, each for a while under load: the worker acknowledges
//! nothing it has not written, backs off, and drains the backlog when they return. Both
//! services are private processes this test started (a mariadbd with its own data
//! directory, a tansu broker), never the machine's own.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::flush::FlushEnv;
use crate::helpers::processes::{BrokerProcess, MariadbProcess};
use concert_queue::flush::{Worker, GROUP};
use tokio::sync::{watch, Mutex as AsyncMutex};

/// Appends 40 reservations every 100 ms until stopped; returns the count appended so far
/// (locked while appending, so a reader sees the count and the stream agree).
fn keep_writing(
    env: &FlushEnv,
    stop: watch::Receiver<bool>,
) -> (Arc<AsyncMutex<u64>>, tokio::task::JoinHandle<()>) {
    let appended = Arc::new(AsyncMutex::new(0));
    let counter = appended.clone();
    let keys = env.keys.clone();
    let config = env.config.clone();
    let handle = tokio::spawn(async move {
        let mut conn = crate::helpers::TestRedis::of(&config).await;
        while !*stop.borrow() {
            let mut count = counter.lock().await;
            let start = *count;
            crate::helpers::flush::append_reservations(&mut conn, &keys, start..start + 40).await;
            *count = start + 40;
            drop(count);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (appended, handle)
}

/// Entries acknowledged so far: appended minus the group's lag.
async fn acked(env: &FlushEnv, appended: &AsyncMutex<u64>) -> u64 {
    let total = appended.lock().await;
    let lag = env.lag().await;
    total.saturating_sub(lag.entries)
}

/// Reservation ids of the entries the group has not acknowledged: pending or undelivered.
async fn unacked_ids(env: &FlushEnv) -> HashSet<String> {
    let mut conn = env.redis().await;
    let stream = env.keys.outbox();
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
    let group = groups.groups.iter().find(|g| g.name == GROUP).unwrap();
    let pending: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(&stream)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(100_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut entries = Vec::new();
    for p in pending.ids {
        let one: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg(&p.id)
            .arg(&p.id)
            .query_async(&mut conn)
            .await
            .unwrap();
        entries.extend(one.ids);
    }
    let undelivered: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg(format!("({}", group.last_delivered_id))
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    entries.extend(undelivered.ids);
    entries
        .iter()
        .map(|e| redis::from_redis_value_ref::<String>(&e.map["id"]).unwrap())
        .collect()
}

/// What an outage run saw.
struct Outage {
    /// Entries appended in all.
    total: u64,
    /// Entries appended before the service came back, and which of them were not
    /// acknowledged then.
    appended_before_up: u64,
    unacked_before_up: HashSet<String>,
}

/// Runs the outage scenario under load: `down` stops the service, `up` brings it back.
async fn survive_outage(env: &FlushEnv, down: impl FnOnce(), up: impl FnOnce()) -> Outage {
    let mut worker = Worker::start(&env.config).await.unwrap();
    let (stop_worker, worker_stopped) = watch::channel(false);
    let running = tokio::spawn(async move { worker.run(worker_stopped).await });
    let (stop_writer, writer_stopped) = watch::channel(false);
    let (appended, writer) = keep_writing(env, writer_stopped);

    crate::helpers::eventually(
        Duration::from_secs(30),
        "the worker flushes before the outage",
        || async { (acked(env, &appended).await >= 200).then_some(()) },
    )
    .await;
    down();
    // A batch committed just before the stop may still be acknowledged; after that, nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked_early = acked(env, &appended).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let acked_late = acked(env, &appended).await;
    let backlog = env.lag().await;
    eprintln!("outage: acked {acked_early} -> {acked_late}, backlog {backlog:?}");
    assert_eq!(
        acked_early, acked_late,
        "nothing acknowledged while a sink is down"
    );
    assert!(
        backlog.entries >= 300,
        "entries kept arriving during the outage: {backlog:?}"
    );
    assert!(
        backlog.pending > 0,
        "the batch in hand stays pending: {backlog:?}"
    );
    let (appended_before_up, unacked_before_up) = {
        let count = appended.lock().await;
        let lag = env.lag().await;
        let unacked = unacked_ids(env).await;
        assert_eq!(unacked.len() as u64, lag.entries);
        (*count, unacked)
    };
    up();

    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_writer.send(true).unwrap();
    writer.await.unwrap();
    let total = *appended.lock().await;
    crate::helpers::eventually(
        Duration::from_secs(90),
        "the backlog drains after the outage",
        || async { (env.lag().await.entries == 0).then_some(()) },
    )
    .await;
    stop_worker.send(true).unwrap();
    running.await.unwrap().unwrap();
    Outage {
        total,
        appended_before_up,
        unacked_before_up,
    }
}

fn assert_all_rows(ids: &HashSet<String>, total: u64) {
    let missing: Vec<u64> = (0..total)
        .filter(|n| !ids.contains(&format!("r-{n}")))
        .collect();
    assert!(missing.is_empty(), "missing rows: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_down_under_load_acknowledges_nothing_and_drains_after() {
    let mariadb = Mutex::new(MariadbProcess::start());
    let server = mariadb.lock().unwrap().url();
    let brokers = crate::helpers::services::kafka_brokers().await;
    let mut env = FlushEnv::on("flushmysqldown", &server, &brokers).await;
    env.config.flush_batch_size = 100;
    env.config.flush_sink_timeout = Duration::from_secs(3);
    let outage = survive_outage(
        &env,
        || mariadb.lock().unwrap().stop(),
        || mariadb.lock().unwrap().restart(),
    )
    .await;
    let total = outage.total;
    eprintln!(
        "{total} entries in all; {} unacknowledged when mariadbd came back",
        outage.unacked_before_up.len()
    );
    let (rows, distinct) = env.reservation_rows().await;
    assert_eq!(rows, distinct);
    assert_eq!(rows, total);
    assert_all_rows(&env.reservation_ids().await.into_iter().collect(), total);
    let keys = env.topic_keys(total as usize).await;
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(
        distinct.len() as u64,
        total,
        "every reservation on the topic"
    );
    eprintln!("topic duplicates: {}", keys.len() - distinct.len());
    drop(env);
    drop(mariadb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_under_load_acknowledges_nothing_and_drains_after() {
    let broker = Mutex::new(BrokerProcess::start());
    let brokers = broker.lock().unwrap().brokers();
    let server = crate::helpers::services::mysql_server_url().await;
    let mut env = FlushEnv::on("flushkafkadown", &server, &brokers).await;
    env.config.flush_batch_size = 100;
    env.config.flush_sink_timeout = Duration::from_secs(3);
    let outage = survive_outage(
        &env,
        || broker.lock().unwrap().stop(),
        // The broker keeps its data in memory: it comes back empty, topic included.
        || broker.lock().unwrap().restart(),
    )
    .await;
    let total = outage.total;
    let (rows, distinct) = env.reservation_rows().await;
    assert_eq!(rows, distinct);
    assert_eq!(rows, total);
    assert_all_rows(&env.reservation_ids().await.into_iter().collect(), total);
    // What the restarted broker must hold: every entry not acknowledged when it came back
    // (the worker recreated the topic), and everything appended after.
    let mut expected = outage.unacked_before_up.clone();
    expected.extend((outage.appended_before_up..total).map(|n| format!("r-{n}")));
    let keys = env.topic_keys(expected.len()).await;
    let on_topic: HashSet<String> = keys.iter().cloned().collect();
    let missing: Vec<&String> = expected.iter().filter(|k| !on_topic.contains(*k)).collect();
    assert!(missing.is_empty(), "missing from the topic: {missing:?}");
    eprintln!(
        "{total} entries; {} unacknowledged when the broker came back, all on the new topic; {} topic duplicates",
        outage.unacked_before_up.len(),
        keys.len() - on_topic.len()
    );
}
