//! End to end through the booking scripts: real charges and payments reach MySQL and the
//! topic through the flush worker; then this test's Redis state is wiped and `restore`
//! rebuilds the seats, reservations, rankings and balances exactly as they were.

use std::collections::{BTreeMap, HashSet};

use crate::helpers::booking::{catalog, concert};
use crate::helpers::flush::{Dumped, FlushEnv};
use crate::helpers::TestServer;
use concert_queue::flush::Worker;

/// The restorable part of the prefix (catalog, sales, wallets), with each value.
async fn restorable(env: &FlushEnv) -> BTreeMap<String, String> {
    let wanted = [
        ":sold",
        ":info",
        ":res:",
        ":ranking:",
        ":wallet",
        ":idem:",
        ":meta",
        ":concerts",
        ":seats",
        ":schedules",
    ];
    crate::helpers::flush::dump_keys(env)
        .await
        .into_iter()
        .filter(|(key, _)| !key.ends_with(":res:seq") && wanted.iter().any(|p| key.contains(p)))
        .filter(|(key, value)| match value {
            // Holds that were never paid are not in MySQL.
            Dumped::Hash(h) if key.contains(":res:") => {
                h.get("status").is_none_or(|s| s == "CONFIRMED")
            }
            _ => true,
        })
        // MySQL does not keep a hold's times; restore puts the confirmation time.
        .map(|(key, value)| (key, value.text_without(&["heldAtMs", "expiresMs"])))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_reach_mysql_and_the_topic_and_restore_rebuilds_redis() {
    let env = FlushEnv::new("flushe2e").await;
    let server = TestServer::start_with(env.config.clone()).await;
    let cat = catalog(vec![concert(1, &[(11, 3, 100_000), (12, 5, 100_000)])]);
    let pool = concert_queue::db::connect(&env.config.mysql_url)
        .await
        .unwrap();
    concert_queue::db::migrate(&pool).await.unwrap();
    concert_queue::catalog::seed::seed_mysql(&pool, &cat)
        .await
        .unwrap();
    server.seed(&cat).await;

    assert_eq!(server.charge(42, 500_000).await.0, 200);
    assert_eq!(server.charge(43, 300_000).await.0, 200);
    let mut paid = Vec::new();
    for (user, schedule, seat) in [(42, 11, 1), (43, 11, 2), (43, 11, 3), (42, 12, 4)] {
        // A payment ends the token once the buyer holds nothing else: join again.
        let token = server.active_token(user, 1).await;
        let id = server.hold_id(&token, schedule, seat).await;
        let (status, body) = server.pay(&token, &id).await;
        assert_eq!(status, 201, "{body}");
        paid.push(id);
    }
    // A cancelled hold: never in MySQL.
    let token = server.active_token(42, 1).await;
    let cancelled = server.hold_id(&token, 12, 5).await;
    server.cancel(&token, &cancelled).await;

    let mut worker = Worker::start(&env.config).await.unwrap();
    let report = worker.drain(5).await.unwrap();
    // 2 charges and 4 payments, and the queue events of the admissions that a tick has
    // moved to the outbox so far (their rows and messages are checked below).
    assert!(report.acked >= 6, "{report:?}");
    let ids: HashSet<String> = env.reservation_ids().await.into_iter().collect();
    assert_eq!(ids, paid.iter().cloned().collect());
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'CHARGE'")
            .await,
        2
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'PAYMENT'")
            .await,
        4
    );
    let keys: HashSet<String> = env.topic_keys(4).await.into_iter().collect();
    assert_eq!(keys, paid.iter().cloned().collect());

    let before = restorable(&env).await;
    let balance_42 = server.balance(42).await;
    // Restore refuses while a server is alive: stop it (its heartbeat goes with it), lose
    // Redis, restore, and ask a new server.
    server.stop().await.unwrap();
    crate::helpers::delete_keys_of(&env.config);
    let store = env.store().await;
    let restored = concert_queue::catalog::restore::restore(&store, &pool)
        .await
        .unwrap();
    assert_eq!(restored.reservations, 4);
    assert_eq!(restored.sold_out_schedules, 1);
    let after = restorable(&env).await;
    assert_eq!(before, after);
    // The counter is at the highest paid id, so no new id collides with a flushed one.
    let mut conn = env.redis().await;
    let seq: u64 = redis::cmd("GET")
        .arg(format!("{}:{{c:1}}:res:seq", env.config.key_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(seq, 4);
    let server = TestServer::start_with(env.config.clone()).await;
    assert_eq!(server.balance(42).await, balance_42);
    assert_eq!(balance_42, 300_000);
    pool.disconnect().await.unwrap();
    server.stop().await.unwrap();
}
