//! `restore` after this test's Redis state is wiped (its own key prefix) reproduces the
//! sold seats, reservations, rankings and balances exactly as they were, and refuses to
//! run over live state. The state before is written the way the booking scripts write it
//! (docs/architecture.md of the booking work), with the matching outbox entries flushed.

use std::collections::BTreeMap;

use crate::helpers::flush::charge_entry;
use crate::helpers::flush::FlushEnv;
use concert_queue::booking::record::{PaymentRecord, ReservationRecord};
use concert_queue::catalog::file::{CatalogFile as Catalog, Concert, Schedule, Seat};
use concert_queue::flush::event::{ReservationConfirmed, WalletCharged, RESERVATION_CONFIRMED};
use concert_queue::flush::Worker;

fn catalog() -> Catalog {
    let schedule = |id: u64, seats: u32| Schedule {
        id,
        starts_at: "2026-12-24T19:00:00Z".parse().unwrap(),
        seats: (1..=seats)
            .map(|seat_no| Seat {
                seat_no,
                grade: "R".into(),
                price: 100_000,
            })
            .collect(),
    };
    Catalog {
        concerts: vec![Concert {
            id: 1,
            title: "Winter".into(),
            artist: "Band".into(),
            venue: "Hall".into(),
            schedules: vec![schedule(11, 3), schedule(12, 5)],
        }],
    }
}

/// Every key under the prefix but the outbox streams, with its value, for comparison.
async fn snapshot(env: &FlushEnv) -> BTreeMap<String, String> {
    crate::helpers::flush::dump_keys(env)
        .await
        .into_iter()
        .filter(|(key, _)| !key.ends_with(":outbox") && !key.ends_with(":outbox:dead"))
        // MySQL does not keep a hold's times; restore puts the confirmation time.
        .map(|(key, value)| (key, value.text_without(&["heldAtMs", "expiresMs"])))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_rebuilds_seats_rankings_and_balances_exactly() {
    let (env, store, pool) = env_with_catalog_in_mysql("flushrestore").await;
    concert_queue::catalog::seed::seed_redis(&store, &catalog())
        .await
        .unwrap();

    // What the booking scripts leave behind: two charges, four payments (schedule 11 sold
    // out), each with its outbox entry.
    let p = &env.config.key_prefix;
    let mut conn = env.redis().await;
    // The charges happened just now, by Redis's clock: restore keeps idempotency answers
    // younger than 24 h, so a fixed instant would make this test fail a day later.
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let t0 = secs * 1000 + micros / 1000 - 60_000;
    let mut pipe = redis::pipe();
    let charges = [
        (42u64, "L42-1", 500_000u64, t0, Some("order-1")),
        (43, "L43-1", 300_000, t0 + 1, None),
    ];
    for (user, ledger, amount, at, idem) in charges {
        let (kind, id, data) = charge_entry(&WalletCharged {
            ledger_id: ledger.into(),
            user_id: user,
            amount,
            balance_after: amount,
            idempotency_key: idem.map(String::from),
            charged_at_ms: at,
        });
        pipe.cmd("XADD")
            .arg(format!("{p}:outbox"))
            .arg("*")
            .arg(&[("type", kind), ("id", &id), ("data", &data)])
            .ignore();
    }
    // user 42 has charged with an Idempotency-Key: its answer is remembered (24 h), and
    // the key is in the user's index of keys by first use.
    pipe.zadd(env.keys.charge_idempotency_index(42), "order-1", t0)
        .ignore();
    pipe.pexpire(env.keys.charge_idempotency_index(42), 86_400_000)
        .ignore();
    pipe.hset_multiple(
        env.keys.charge_idempotency(42, "order-1"),
        &[
            ("amount", "500000"),
            ("balance", "500000"),
            ("ledgerId", "L42-1"),
        ],
    )
    .ignore();
    pipe.pexpire(env.keys.charge_idempotency(42, "order-1"), 86_400_000)
        .ignore();
    // (reservation, user, schedule, seat, ledger, balance after, confirmed at)
    let payments = [
        ("R1-1", 42u64, 11u64, 1u32, "L42-2", 400_000u64, t0 + 10),
        ("R1-2", 43, 11, 2, "L43-2", 200_000, t0 + 20),
        ("R1-4", 43, 11, 3, "L43-3", 100_000, t0 + 30),
        ("R1-5", 42, 12, 4, "L42-3", 300_000, t0 + 40),
    ];
    for (id, user, schedule, seat, ledger, balance, at) in payments {
        let payment = format!("P{}", &id[1..]);
        let event = ReservationConfirmed {
            reservation_id: id.into(),
            payment_id: payment.clone(),
            user_id: user,
            concert_id: 1,
            schedule_id: schedule,
            seat_no: seat,
            amount: 100_000,
            balance_after: balance,
            ledger_id: ledger.into(),
            confirmed_at_ms: at,
        };
        pipe.cmd("XADD")
            .arg(format!("{p}:outbox"))
            .arg("*")
            .arg(&[
                ("type", RESERVATION_CONFIRMED),
                ("id", id),
                ("data", &serde_json::to_string(&event).unwrap()),
            ])
            .ignore();
        pipe.hset(format!("{p}:{{c:1}}:s:{schedule}:sold"), seat, id)
            .ignore();
        let record = ReservationRecord {
            id: id.into(),
            user_id: user,
            concert_id: 1,
            schedule_id: schedule,
            seat_no: seat.into(),
            price: 100_000,
            status: "CONFIRMED".into(),
            held_at_ms: at - 5,
            expires_ms: at + 300_000,
            payment: Some(PaymentRecord {
                payment_id: payment,
                ledger_id: ledger.into(),
                balance_after: balance,
                confirmed_at_ms: at,
            }),
        };
        pipe.hset_multiple(format!("{p}:{{c:1}}:res:{id}"), &record.to_fields())
            .ignore();
    }
    // R1-3 was held and cancelled: never paid, never in MySQL, and its record lapsed.
    pipe.set(format!("{p}:{{c:1}}:res:seq"), 5).ignore();
    pipe.hset(format!("{p}:{{c:1}}:s:11:info"), "firstSaleMs", t0 + 10)
        .ignore();
    pipe.hset(format!("{p}:{{c:1}}:s:11:info"), "soldOutMs", t0 + 30)
        .ignore();
    pipe.hset(format!("{p}:{{c:1}}:s:12:info"), "firstSaleMs", t0 + 40)
        .ignore();
    pipe.hset_multiple(
        env.keys.wallet(42),
        &[("balance", 300_000), ("ledgerSeq", 3)],
    )
    .ignore();
    pipe.hset_multiple(
        env.keys.wallet(43),
        &[("balance", 100_000), ("ledgerSeq", 3)],
    )
    .ignore();
    crate::helpers::flush::run_each(&mut conn, &pipe).await;

    let mut worker = Worker::start(&env.config).await.unwrap();
    assert_eq!(worker.drain(5).await.unwrap().acked, 6);
    let before = snapshot(&env).await;
    assert!(before.len() >= 12, "{before:#?}");

    // Redis loses everything under the prefix; a worker restarted first recreates an
    // empty outbox, which restore tolerates.
    crate::helpers::delete_keys_of(&env.config);
    worker.outbox().ensure_group().await.unwrap();
    let restored = concert_queue::catalog::restore::restore(&store, &pool)
        .await
        .unwrap();
    assert_eq!(restored.reservations, 4);
    assert_eq!(restored.sold_out_schedules, 1);
    assert_eq!(restored.wallets, 2);
    assert_eq!(restored.idempotency_keys, 1);
    let after = snapshot(&env).await;
    assert_eq!(before, after);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(env.keys.charge_idempotency(42, "order-1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0,
        "the idempotency answer expires like the original: {ttl}"
    );

    // Over live state it refuses, and changes nothing.
    let err = concert_queue::catalog::restore::restore(&store, &pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("live state"), "{err:#}");
    assert_eq!(snapshot(&env).await, after);
    pool.disconnect().await.unwrap();
}

/// A FlushEnv whose MySQL holds the catalog, so a restore would have something to write.
async fn env_with_catalog_in_mysql(
    name: &str,
) -> (FlushEnv, concert_queue::store::Store, mysql_async::Pool) {
    let env = FlushEnv::new(name).await;
    let store = env.store().await;
    let pool = concert_queue::db::connect(&env.config.mysql_url)
        .await
        .unwrap();
    concert_queue::db::migrate(&pool).await.unwrap();
    concert_queue::catalog::seed::seed_mysql(&pool, &catalog())
        .await
        .unwrap();
    (env, store, pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_while_a_server_is_alive_and_changes_nothing() {
    let (env, store, pool) = env_with_catalog_in_mysql("restorelive").await;
    let server = crate::helpers::TestServer::start_with(env.config.clone()).await;
    let before = crate::helpers::eventually(
        std::time::Duration::from_secs(30),
        "the server announces itself",
        || async {
            let keys = crate::helpers::flush::dump_keys(&env).await;
            keys.keys()
                .any(|k| k.contains(":alive:server:"))
                .then_some(keys)
        },
    )
    .await;
    let err = concert_queue::catalog::restore::restore(&store, &pool)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("running against this Redis"), "{err}");
    assert!(err.contains("changed nothing"), "{err}");
    assert_eq!(crate::helpers::flush::dump_keys(&env).await, before);

    // Once the server is stopped (its heartbeat removed), restore runs.
    server.stop().await.unwrap();
    let restored = concert_queue::catalog::restore::restore(&store, &pool)
        .await
        .unwrap();
    assert_eq!(restored.concerts, 1);
    let after = crate::helpers::flush::dump_keys(&env).await;
    assert!(!after.keys().any(|k| k.ends_with(":maintenance")));
    pool.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_while_restore_runs_refuses_writes_until_it_ends() {
    let env = FlushEnv::new("restoremaint").await;
    let store = env.store().await;
    assert!(concert_queue::store::presence::begin_maintenance(&store)
        .await
        .unwrap());
    let server = crate::helpers::TestServer::start_with(env.config.clone()).await;
    server.add_concert(1).await;
    let (status, body) = server.join(1, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("UNAVAILABLE")),
        "{body}"
    );
    let (status, _) = server
        .post(
            "/api/users/1/balance/charge",
            serde_json::json!({"amount": 5}),
        )
        .await;
    assert_eq!(status, 503);
    let outbox_len: u64 = redis::cmd("XLEN")
        .arg(env.keys.outbox())
        .query_async(&mut env.redis().await)
        .await
        .unwrap();
    assert_eq!(outbox_len, 0, "nothing was written");

    concert_queue::store::presence::end_maintenance(&store)
        .await
        .unwrap();
    crate::helpers::eventually(
        std::time::Duration::from_secs(30),
        "writes are accepted once restore ends",
        || async { (server.join(1, 1).await.0 == 201).then_some(()) },
    )
    .await;
}
