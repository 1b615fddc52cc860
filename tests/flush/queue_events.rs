//! Queue events through the outbox: every kind reaches KAFKA_QUEUE_EVENTS_TOPIC on the real
//! broker, keyed by concert id, with no MySQL rows; and a long line shedding idle waiters
//! puts one entry per tick in the outbox, not one per waiter.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use concert_queue::flush::event::QUEUE_EVENT_KINDS;
use concert_queue::flush::Worker;
use concert_queue::store::line;
use serde_json::json;

use crate::helpers::booking::{catalog, concert};
use crate::helpers::flush::{read_topic, FlushEnv};
use crate::helpers::onsale::{rfc3339, with_admin};
use crate::helpers::{eventually, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_queue_event_reaches_its_topic_keyed_by_concert() {
    let env = FlushEnv::new("qevents").await;
    let mut config = env.config.clone();
    with_admin(&mut config);
    let server = TestServer::start_with(config).await;
    server
        .seed(&catalog(vec![concert(4, &[(40, 1, 1000)])]))
        .await;

    // opened, admitted, expired: a pre-queue of one, opened now, whose session lapses.
    let opens_at = server.redis_now_ms().await + 3_600_000;
    server
        .patch_queue(
            4,
            json!({"opensAt": rfc3339(opens_at), "activeTtlSecs": 1, "idleTimeoutSecs": 1}),
        )
        .await;
    let first = server.join_token(1, 4).await;
    server.queue_action(4, "open").await;
    eventually(
        Duration::from_secs(10),
        "admitted, then expired",
        || async {
            let status = server.status(&first).await;
            (status["status"] == "EXPIRED").then_some(())
        },
    )
    .await;

    // paused, idle-dropped, evicted, resumed.
    server.queue_action(4, "pause").await;
    server.join_token(2, 4).await; // never polls again
    server.join_token(3, 4).await;
    let (status, _) = server
        .admin(
            reqwest::Method::DELETE,
            "/admin/concerts/4/queue/users/3",
            None,
        )
        .await;
    assert_eq!(status, 200);
    eventually(
        Duration::from_secs(10),
        "user 2 dropped as idle",
        || async { (server.figures(4).await["waiting"] == 0).then_some(()) },
    )
    .await;
    server.queue_action(4, "resume").await;

    // sold-out: the only seat sold.
    server.patch_queue(4, json!({"activeTtlSecs": null})).await;
    assert_eq!(server.charge(5, 5000).await.0, 200);
    let token = server.active_token(5, 4).await;
    let id = server.hold_id(&token, 40, 1).await;
    assert_eq!(server.pay(&token, &id).await.0, 201);

    let kinds_in_outbox: BTreeSet<String> = server
        .outbox_with_queue_events()
        .await
        .into_iter()
        .map(|(kind, _, _)| kind)
        .filter_map(|kind| kind.strip_prefix("queue.").map(String::from))
        .collect();
    assert_eq!(
        kinds_in_outbox,
        QUEUE_EVENT_KINDS.iter().map(|k| k.to_string()).collect(),
        "every kind was written"
    );
    let mut worker = Worker::start(&env.config).await.unwrap();
    let report = worker.drain(5).await.unwrap();
    assert_eq!(
        env.lag().await.entries,
        0,
        "everything acknowledged: {report:?}"
    );
    let brokers = env.config.kafka_brokers.clone();
    let topic = env.config.kafka_queue_events_topic.clone();
    let messages = tokio::task::spawn_blocking(move || read_topic(&brokers, &topic, 1))
        .await
        .unwrap();
    let mut kinds = BTreeSet::new();
    let mut ids = HashSet::new();
    for (key, value) in &messages {
        assert_eq!(key, "4", "keyed by concert id: {value}");
        assert_eq!(value["concertId"], 4, "{value}");
        ids.insert(value["eventId"].as_str().unwrap().to_string());
        kinds.insert(value["type"].as_str().unwrap().to_string());
    }
    assert_eq!(
        kinds,
        QUEUE_EVENT_KINDS.iter().map(|k| k.to_string()).collect(),
        "{messages:?}"
    );
    let admitted: Vec<_> = messages
        .iter()
        .filter(|(_, v)| v["type"] == "admitted")
        .collect();
    assert!(
        admitted.iter().any(|(_, v)| v["users"] == json!([1])),
        "user 1's admission is listed: {admitted:?}"
    );
    let opened = messages
        .iter()
        .find(|(_, v)| v["type"] == "opened")
        .unwrap();
    assert_eq!(opened.1["preQueueSize"], 1);
    // Queue events have no MySQL rows: only the charge and the payment are there.
    assert_eq!(env.count("SELECT COUNT(*) FROM wallet_ledger").await, 2);
    assert_eq!(env.count("SELECT COUNT(*) FROM reservations").await, 1);
    assert!(ids.len() >= QUEUE_EVENT_KINDS.len());
}

#[tokio::test]
async fn five_thousand_idle_waiters_shed_in_a_few_entries_not_five_thousand() {
    let server = TestServer::start("qevents-shed", |c| {
        c.queue_max_active = 0;
        c.wait_idle_timeout = Duration::from_secs(1);
    })
    .await;
    server.add_concert(1).await;
    // A line of 5,000 whose last sign of life was 10 s ago, written as the scripts write it.
    let keys = server.keys().queue(1);
    let now = server.redis_now_ms().await;
    let slot = (line::presence_slot(now) + line::LINE_SLOTS - 10) % line::LINE_SLOTS;
    let mut conn = server.redis().await;
    let mut pipe = redis::pipe();
    pipe.hset_multiple(
        &keys.entries,
        &[("base", 1_000_000u64), ("last", 1_005_000)],
    );
    for offset in 0..5_000u64 {
        pipe.zadd(&keys.line, 10_000 + offset, line::score(offset, slot));
    }
    let _: () = pipe.query_async(&mut conn).await.unwrap();

    eventually(Duration::from_secs(20), "the line is shed", || async {
        (server.line_users(1).await.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dropped: Vec<_> = server
        .outbox_with_queue_events()
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "queue.idle-dropped")
        .collect();
    let count: u64 = dropped
        .iter()
        .map(|(_, _, d)| d["count"].as_u64().unwrap())
        .sum();
    let listed: usize = dropped
        .iter()
        .map(|(_, _, d)| d["users"].as_array().unwrap().len())
        .sum();
    assert_eq!(count, 5_000);
    assert_eq!(listed, 5_000, "a tick's drops are all listed");
    assert!(
        dropped.len() <= 5_000 / 16,
        "{} entries for 5,000 drops",
        dropped.len()
    );
}
