//! The flush worker against real Redis, MySQL and the broker: volume, idempotent replays,
//! poison entries, two workers at once, trimming and lag.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::helpers::flush::{charge_entry, entries_base_ms, mysql_datetime, FlushEnv};
use concert_queue::flush::event::WalletCharged;
use concert_queue::flush::{Step, Worker, GROUP};
use mysql_async::prelude::Queryable;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_reservations_reach_mysql_and_the_topic() {
    let env = FlushEnv::new("flush10k").await;
    env.append_reservations(0..10_000).await;
    let mut worker = Worker::start(&env.config).await.unwrap();
    let started = Instant::now();
    let report = worker.drain(5).await.unwrap();
    eprintln!(
        "10,000 entries drained in {:?}: {report:?}",
        started.elapsed()
    );
    assert_eq!(report.acked, 10_000);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.dead_lettered, 0);

    assert_eq!(env.reservation_rows().await, (10_000, 10_000));
    assert_eq!(env.count("SELECT COUNT(*) FROM payments").await, 10_000);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'PAYMENT'")
            .await,
        10_000
    );
    let keys = env.topic_keys(10_000).await;
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), 10_000, "distinct keys on the topic");
    assert_eq!(keys.len(), 10_000, "no duplicates without failures");
    let expected: HashSet<String> = (0..10_000).map(|n| format!("r-{n}")).collect();
    assert!(distinct.iter().all(|k| expected.contains(*k)));

    assert_eq!(env.pending().await, 0, "nothing pending");
    let lag = env.lag().await;
    assert_eq!((lag.entries, lag.oldest_ms), (0, 0));
    assert_eq!(
        env.xlen(&env.keys.outbox()).await,
        0,
        "every acknowledged entry was trimmed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_count_as_duplicates_and_charges_land_in_the_ledger() {
    let env = FlushEnv::new("flushdup").await;
    env.append_reservations(0..20).await;
    env.append_charges(0..5).await;
    let mut worker = Worker::start(&env.config).await.unwrap();
    let first = worker.drain(5).await.unwrap();
    assert_eq!((first.acked, first.duplicates), (25, 0));

    // The same events again (a writer retried, or a worker redid a batch).
    env.append_reservations(10..20).await;
    env.append_charges(0..5).await;
    env.append_reservations(20..22).await;
    let second = worker.drain(5).await.unwrap();
    assert_eq!(second.acked, 17);
    assert_eq!(
        second.duplicates, 15,
        "10 reservations and 5 charges replayed"
    );

    assert_eq!(env.reservation_rows().await, (22, 22));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'CHARGE'")
            .await,
        5
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'PAYMENT' AND reservation_id IS NOT NULL")
            .await,
        22
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM payments p JOIN reservations r USING (reservation_id) WHERE p.ledger_id = CONCAT('l-', SUBSTRING(r.reservation_id, 3))")
            .await,
        22
    );
    // A reservation's row carries the entry's fields; the topic carries the entry's JSON.
    assert_eq!(
        env.count(&format!("SELECT COUNT(*) FROM reservations WHERE reservation_id = 'r-7' AND payment_id = 'p-7' AND user_id = 1007 AND seat_no = 8 AND amount = 50000 AND confirmed_at = '{}'", mysql_datetime(entries_base_ms() + 7)))
            .await,
        1
    );
    let messages = env.topic_messages(22).await;
    let r7 = messages.iter().find(|(k, _)| k == "r-7").unwrap();
    assert_eq!(r7.1["paymentId"], "p-7");
    assert_eq!(r7.1["seatNo"], 8);
    assert_eq!(r7.1["ledgerId"], "l-7");
    // Replayed reservations are published again (the redo of a worker that died before
    // publishing looks the same): 22 distinct keys, 10 of them twice.
    assert_eq!(messages.len(), 32);
}

/// Every column of the three tables, in a stable order, as one text per row.
async fn all_rows(env: &FlushEnv) -> Vec<String> {
    let pool = env.mysql().await;
    let mut conn = pool.get_conn().await.unwrap();
    let mut rows: Vec<String> = Vec::new();
    for sql in [
        "SELECT CONCAT_WS('|', reservation_id, payment_id, user_id, concert_id, schedule_id, seat_no, amount, confirmed_at, flushed_at) FROM reservations ORDER BY reservation_id",
        "SELECT CONCAT_WS('|', payment_id, reservation_id, user_id, amount, ledger_id, paid_at) FROM payments ORDER BY payment_id",
        "SELECT CONCAT_WS('|', ledger_id, user_id, kind, amount, balance_after, IFNULL(idempotency_key, '-'), IFNULL(reservation_id, '-'), created_at) FROM wallet_ledger ORDER BY ledger_id",
    ] {
        let part: Vec<String> = conn.query(sql).await.unwrap();
        rows.extend(part);
    }
    drop(conn);
    pool.disconnect().await.unwrap();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_inside_one_batch_and_across_replays_write_each_row_once() {
    let env = FlushEnv::new("flushdupbatch").await;
    // One batch (the default holds 2,000 entries) holding the same events twice.
    env.append_reservations(0..6).await;
    env.append_charges(0..4).await;
    env.append_reservations(2..6).await;
    env.append_charges(1..4).await;
    // An idempotency key no plain literal could carry: quotes, a backslash, a
    // semicolon, non-ASCII letters.
    let odd_key = "k'1\\\";\u{e9}\u{1f3ab} -- x";
    let (kind, id, data) = charge_entry(&WalletCharged {
        ledger_id: "c-odd".into(),
        user_id: 5,
        amount: 10,
        balance_after: 10,
        idempotency_key: Some(odd_key.into()),
        charged_at_ms: entries_base_ms(),
    });
    for _ in 0..2 {
        env.append_raw(&[("type", kind), ("id", &id), ("data", &data)])
            .await;
    }

    let mut worker = Worker::start(&env.config).await.unwrap();
    let first = worker.drain(5).await.unwrap();
    assert_eq!(first.batches, 1, "one batch: {first:?}");
    assert_eq!(first.acked, 6 + 4 + 4 + 3 + 2);
    assert_eq!(first.duplicates, 4 + 3 + 1, "the repeats inside the batch");
    assert_eq!(env.reservation_rows().await, (6, 6));
    assert_eq!(env.count("SELECT COUNT(*) FROM payments").await, 6);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'PAYMENT'")
            .await,
        6
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'CHARGE'")
            .await,
        5
    );
    let pool = env.mysql().await;
    let mut conn = pool.get_conn().await.unwrap();
    let key: Option<String> = conn
        .query_first("SELECT idempotency_key FROM wallet_ledger WHERE ledger_id = 'c-odd'")
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    assert_eq!(key.as_deref(), Some(odd_key), "the key arrives unchanged");
    let before = all_rows(&env).await;
    assert_eq!(before.len(), 6 + 6 + 11);

    // The same events once more, in a later batch: nothing changes, not even a time.
    env.append_reservations(0..6).await;
    env.append_charges(0..4).await;
    let second = worker.drain(5).await.unwrap();
    assert_eq!((second.acked, second.duplicates), (10, 10));
    assert_eq!(all_rows(&env).await, before);
    assert_eq!(env.pending().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_is_dead_lettered_while_the_rest_flows() {
    let mut env = FlushEnv::new("flushpoison").await;
    env.config.flush_max_deliveries = 3;
    env.config.flush_batch_size = 20;
    env.append_reservations(0..30).await;
    let malformed = env
        .append_raw(&[
            ("type", "reservation.confirmed"),
            ("id", "r-bad"),
            ("data", "{not json"),
        ])
        .await;
    // Parses, but MySQL refuses it: the id is longer than the column.
    let long_id = "r-".to_string() + &"x".repeat(80);
    let (_, _, data) = crate::helpers::flush::reservation_entry(999);
    let data = data.replace("\"r-999\"", &format!("\"{long_id}\""));
    let rejected = env
        .append_raw(&[
            ("type", "reservation.confirmed"),
            ("id", &long_id),
            ("data", &data),
        ])
        .await;
    env.append_reservations(30..60).await;

    let mut worker = Worker::start(&env.config).await.unwrap();
    let report = worker.drain(5).await.unwrap();
    assert_eq!(
        report.acked, 60,
        "every good entry, before and behind the poison"
    );
    assert_eq!(report.dead_lettered, 2);
    assert_eq!(env.reservation_rows().await, (60, 60));
    assert_eq!(env.pending().await, 0);
    assert_eq!(env.lag().await.entries, 0);

    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 2);
    let field = |i: usize, name: &str| -> String { dead[i][name].clone() };
    assert_eq!(field(0, "sourceId"), malformed);
    assert!(
        field(0, "reason").contains("malformed entry"),
        "{}",
        field(0, "reason")
    );
    assert_eq!(field(0, "deliveries"), "3");
    assert_eq!(field(0, "data"), "{not json");
    assert_eq!(field(1, "sourceId"), rejected);
    assert!(
        field(1, "reason").contains("MySQL rejected it"),
        "{}",
        field(1, "reason")
    );
    assert_eq!(field(1, "deliveries"), "3");

    // Replaying the dead letters puts them back in the outbox, unchanged.
    let moved = worker.outbox().replay_dead().await.unwrap();
    assert_eq!(moved, 2);
    assert_eq!(env.xlen(&env.keys.outbox_dead()).await, 0);
    assert_eq!(env.lag().await.entries, 2);
}

/// Steps `worker` until `stopped` turns true; returns (acked, duplicates).
async fn step_until_stopped(mut worker: Worker, stopped: watch::Receiver<bool>) -> (usize, u64) {
    let mut acked = 0;
    let mut duplicates = 0;
    while !*stopped.borrow() {
        match worker.flush_once().await.unwrap() {
            Step::Flushed(r) => {
                acked += r.acked;
                duplicates += r.duplicates;
            }
            Step::Empty => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    (acked, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_ran_and_stopped_still_drains_what_came_after() {
    let env = FlushEnv::new("flushrundrain").await;
    env.append_reservations(0..30).await;
    let mut worker = Worker::start(&env.config).await.unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move {
        worker.run(stopped).await.unwrap();
        worker
    });
    crate::helpers::eventually(
        Duration::from_secs(60),
        "the running worker flushes the first entries",
        || async { (env.lag().await.entries == 0).then_some(()) },
    )
    .await;
    stop.send(true).unwrap();
    let mut worker = running.await.unwrap();

    // What the servers appended after the worker stopped: `flush --once` on the same worker.
    env.append_reservations(30..50).await;
    let drained = tokio::time::timeout(Duration::from_secs(60), worker.drain(5))
        .await
        .expect("the drain ends")
        .unwrap();
    assert_eq!(drained.acked, 20);
    assert_eq!(env.reservation_rows().await, (50, 50));
}

/// A read whose answer `worker` never saw (it timed out, or the master died after
/// answering): `count` new entries of `stream` delivered to its consumer name, pending, not
/// in its hands.
async fn deliver_unseen(env: &FlushEnv, worker: &Worker, stream: &str, count: usize) {
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(worker.outbox().consumer())
        .arg("COUNT")
        .arg(count)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query_async(&mut env.redis().await)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_takes_again_what_was_delivered_to_it_unseen() {
    let env = FlushEnv::new("flushownpending").await;
    env.append_reservations(0..10).await;
    let mut worker = Worker::start(&env.config).await.unwrap();
    let stream = env.keys.outbox();
    deliver_unseen(&env, &worker, &stream, 4).await;
    assert_eq!(env.pending_on(&stream).await, 4);

    // The claim idle time (60 s) has not passed: no other worker would take them yet.
    let drained = tokio::time::timeout(Duration::from_secs(60), worker.drain(5))
        .await
        .expect("the drain ends")
        .unwrap();
    assert_eq!(drained.acked, 10);
    assert_eq!(env.pending_on(&stream).await, 0);
    assert_eq!(env.reservation_rows().await, (10, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_takes_again_what_was_delivered_to_it_unseen() {
    let env = FlushEnv::new("flushownrunning").await;
    env.append_reservations(0..10).await;
    let mut worker = Worker::start(&env.config).await.unwrap();
    let stream = env.keys.outbox();
    deliver_unseen(&env, &worker, &stream, 4).await;
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move { worker.run(stopped).await.unwrap() });
    // Well before the claim idle time (60 s), when another worker could first claim them.
    crate::helpers::eventually(
        Duration::from_secs(30),
        "the running worker writes the four it never saw delivered",
        || async { (env.reservation_rows().await == (10, 10)).then_some(()) },
    )
    .await;
    crate::helpers::eventually(Duration::from_secs(10), "and acknowledges them", || async {
        (env.pending_on(&stream).await == 0).then_some(())
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_at_once_write_every_entry_once() {
    let mut env = FlushEnv::new("flushtwo").await;
    env.config.flush_batch_size = 100;
    let a = Worker::start(&env.config).await.unwrap();
    let b = Worker::start(&env.config).await.unwrap();
    assert_ne!(a.outbox().consumer(), b.outbox().consumer());
    let (stop, stopped) = watch::channel(false);
    let run_a = tokio::spawn(step_until_stopped(a, stopped.clone()));
    let run_b = tokio::spawn(step_until_stopped(b, stopped));
    for start in (0..3000).step_by(300) {
        env.append_reservations(start..start + 300).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    crate::helpers::eventually(
        Duration::from_secs(60),
        "both workers drain the outbox",
        || async { (env.lag().await.entries == 0).then_some(()) },
    )
    .await;
    stop.send(true).unwrap();
    let (acked_a, dup_a) = run_a.await.unwrap();
    let (acked_b, dup_b) = run_b.await.unwrap();
    eprintln!("worker a acked {acked_a}, worker b acked {acked_b}");
    assert_eq!(
        acked_a + acked_b,
        3000,
        "each entry acknowledged by exactly one worker"
    );
    assert!(acked_a > 0 && acked_b > 0, "both workers took part");
    assert_eq!(dup_a + dup_b, 0, "no entry written twice");
    assert_eq!(env.reservation_rows().await, (3000, 3000));
    let keys = env.topic_keys(3000).await;
    assert_eq!(keys.len(), 3000);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_keeps_what_any_group_still_needs() {
    let env = FlushEnv::new("flushtrim").await;
    env.append_reservations(0..50).await;
    let mut conn = env.redis().await;
    // A second reader of the outbox, created before the worker, that reads slowly.
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(env.keys.outbox())
        .arg("audit")
        .arg("0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut worker = Worker::start(&env.config).await.unwrap();
    assert_eq!(worker.drain(5).await.unwrap().acked, 50);
    assert_eq!(
        env.xlen(&env.keys.outbox()).await,
        50,
        "the audit group has read nothing: nothing may go"
    );

    // audit reads 20 and acknowledges the first 10: entries 10.. are still needed.
    let read: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("audit")
        .arg("a1")
        .arg("COUNT")
        .arg(20)
        .arg("STREAMS")
        .arg(env.keys.outbox())
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let ids: Vec<String> = read.keys[0].ids.iter().map(|e| e.id.clone()).collect();
    let _: u64 = redis::cmd("XACK")
        .arg(env.keys.outbox())
        .arg("audit")
        .arg(&ids[..10])
        .query_async(&mut conn)
        .await
        .unwrap();
    let trimmed = worker.outbox().trim().await.unwrap();
    assert_eq!(trimmed, 10);
    let first: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(env.keys.outbox())
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        first.ids[0].id, ids[10],
        "the oldest entry audit has pending stays"
    );

    // audit acknowledges everything it read: the 30 it never read stay.
    let _: u64 = redis::cmd("XACK")
        .arg(env.keys.outbox())
        .arg("audit")
        .arg(&ids[10..])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(worker.outbox().trim().await.unwrap(), 10);
    assert_eq!(env.xlen(&env.keys.outbox()).await, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_counts_pending_and_undelivered_entries_and_their_age() {
    let mut env = FlushEnv::new("flushlag").await;
    env.config.flush_batch_size = 10;
    // 2 s per sink call leaves a loaded broker time to create the topics; the claim idle
    // time must pass a live worker's longest wait (2 s + 2 s).
    env.config.flush_sink_timeout = Duration::from_secs(2);
    env.config.flush_claim_idle = Duration::from_secs(5);
    let store = env.store().await;
    assert_eq!(env.lag().await, Default::default(), "no stream: no lag");
    env.append_reservations(0..25).await;
    let worker = Worker::start(&env.config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lag = concert_queue::flush::lag(&store).await.unwrap();
    assert_eq!((lag.entries, lag.pending), (25, 0));
    assert!(lag.oldest_ms >= 300, "{lag:?}");

    // A worker that reads a batch and dies: its 10 entries are pending, still lag.
    let mut conn = env.redis().await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("dead-worker")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(env.keys.outbox())
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let lag = concert_queue::flush::lag(&store).await.unwrap();
    assert_eq!((lag.entries, lag.pending), (25, 10));
    drop(worker);

    // --once drains the rest at once, and the dead worker's entries once idle.
    let mut worker = Worker::start(&env.config).await.unwrap();
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 15);
    assert_eq!(env.pending().await, 10);
    tokio::time::sleep(env.config.flush_claim_idle + Duration::from_millis(100)).await;
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 10, "claimed from the dead worker");
    assert_eq!(env.lag().await, Default::default());
    assert_eq!(env.reservation_rows().await, (25, 25));
}

async fn health(server: &crate::helpers::TestServer) -> serde_json::Value {
    let resp = server.http.get(server.url("/health")).send().await.unwrap();
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_outbox_lag() {
    let server = crate::helpers::TestServer::start("flushhealth", |_| {}).await;
    let body = health(&server).await;
    assert_eq!(body["outbox"]["lagEntries"], 0, "{body}");
    let mut conn = server.redis().await;
    for n in 0..7 {
        let (kind, id, data) = crate::helpers::flush::reservation_entry(n);
        let _: String = redis::cmd("XADD")
            .arg(server.keys().outbox())
            .arg("*")
            .arg(&[("type", kind), ("id", id.as_str()), ("data", data.as_str())])
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let body = health(&server).await;
    // This server has no MySQL (DEGRADED); Redis, and so the outbox, answers.
    assert_eq!(body["redis"]["status"], "UP", "{body}");
    assert_eq!(body["outbox"]["lagEntries"], 7, "{body}");
    assert_eq!(body["outbox"]["pendingEntries"], 0, "{body}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sale_of_a_seat_is_dead_lettered_never_dropped() {
    let mut env = FlushEnv::new("flushseatconflict").await;
    env.config.flush_max_deliveries = 2;
    env.append_reservations(0..5).await;
    // Another confirmed reservation of r-3's seat (schedule 1, seat 4): a double sale.
    let (_, _, data) = crate::helpers::flush::reservation_entry(3);
    let data = data
        .replace("\"r-3\"", "\"r-dup\"")
        .replace("\"p-3\"", "\"p-dup\"")
        .replace("\"l-3\"", "\"l-dup\"");
    let conflicting = env
        .append_raw(&[
            ("type", "reservation.confirmed"),
            ("id", "r-dup"),
            ("data", &data),
        ])
        .await;
    env.append_reservations(5..10).await;

    let mut worker = Worker::start(&env.config).await.unwrap();
    let report = worker.drain(5).await.unwrap();
    assert_eq!(report.acked, 10);
    assert_eq!(report.dead_lettered, 1);
    assert_eq!(
        env.reservation_rows().await,
        (10, 10),
        "the first sale stays, alone"
    );

    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 1);
    let field = |name: &str| -> String { dead[0][name].clone() };
    assert_eq!(field("sourceId"), conflicting);
    assert!(
        field("reason").starts_with("seat conflict:"),
        "{}",
        field("reason")
    );
}

#[tokio::test]
async fn the_migration_moves_existing_double_sales_aside_and_makes_seats_unique() {
    let env = FlushEnv::new("flushseatmigration").await;
    let pool = concert_queue::db::connect(&env.config.mysql_url)
        .await
        .unwrap();
    concert_queue::db::migrate(&pool).await.unwrap();
    let mut conn = pool.get_conn().await.unwrap();
    // The schema as it was before migration 3, with a seat sold twice and once more.
    conn.query_drop(
        "ALTER TABLE reservations DROP INDEX uq_reservations_seat, \
         ADD KEY idx_reservations_seat (schedule_id, seat_no)",
    )
    .await
    .unwrap();
    conn.query_drop("DROP TABLE reservation_seat_conflicts")
        .await
        .unwrap();
    conn.query_drop("DELETE FROM schema_migrations WHERE version = 3")
        .await
        .unwrap();
    conn.query_drop(
        "INSERT INTO reservations (reservation_id, payment_id, user_id, concert_id, schedule_id, \
         seat_no, amount, confirmed_at) VALUES \
         ('r-1', 'p-1', 1, 1, 1, 1, 10, '2026-01-01 00:00:00.001'), \
         ('r-2', 'p-2', 2, 1, 1, 1, 10, '2026-01-01 00:00:00.002'), \
         ('r-3', 'p-3', 3, 1, 1, 1, 10, '2026-01-01 00:00:00.003'), \
         ('r-4', 'p-4', 4, 1, 1, 2, 10, '2026-01-01 00:00:00.004')",
    )
    .await
    .unwrap();
    concert_queue::db::migrate(&pool).await.unwrap();
    let kept: Vec<String> = conn
        .query("SELECT reservation_id FROM reservations ORDER BY reservation_id")
        .await
        .unwrap();
    assert_eq!(kept, ["r-1", "r-4"]);
    let aside: Vec<String> = conn
        .query("SELECT reservation_id FROM reservation_seat_conflicts ORDER BY reservation_id")
        .await
        .unwrap();
    assert_eq!(aside, ["r-2", "r-3"]);
    let again = conn
        .query_drop(
            "INSERT INTO reservations (reservation_id, payment_id, user_id, concert_id, \
             schedule_id, seat_no, amount, confirmed_at) \
             VALUES ('r-5', 'p-5', 5, 1, 1, 2, 10, '2026-01-01 00:00:00.005')",
        )
        .await;
    assert!(again.is_err(), "a seat is sold at most once");
    drop(conn);
    pool.disconnect().await.unwrap();
}
