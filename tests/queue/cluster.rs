//! What a Redis Cluster changes under the queue (issue 14), checked against whichever Redis
//! the tests run on: one node, or the cluster of TEST_REDIS_CLUSTER_NODES (scripts/test.sh's
//! cluster pass). The ticker's one pipeline of scripts for every concert becomes concurrent
//! calls on a cluster (the concerts' slots differ); SCAN visits every master; PING and TIME
//! go to any node.

use std::collections::BTreeSet;
use std::time::Duration;

use concert_queue::store::Store;

use crate::helpers::{cluster_nodes, eventually, TestServer};

const CONCERTS: u64 = 12;

#[tokio::test]
async fn the_ticks_of_concerts_in_many_slots_admit_every_concerts_waiters() {
    // Nobody admitted at the join (max 0), then a setting that admits: only the ticker's
    // run over every concert at once can admit them.
    let server = TestServer::start("cluster-slots", |c| c.queue_max_active = 0).await;
    let store = Store::from_config(&server.config).await.unwrap();
    assert_eq!(store.is_cluster(), cluster_nodes().is_some());
    for concert in 1..=CONCERTS {
        server.add_concert(concert).await;
    }
    let mut tokens = Vec::new();
    for concert in 1..=CONCERTS {
        let token = server.join_token(100 + concert, concert).await;
        assert_eq!(server.status(&token).await["status"], "WAITING");
        tokens.push(token);
    }
    let admitting = server.sibling(|c| c.queue_max_active = 10).await;
    eventually(
        Duration::from_secs(10),
        "every concert admits its waiter",
        || async {
            for token in &tokens {
                if admitting.status(token).await["status"] != "ACTIVE" {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    // SCAN (of every master on a cluster) finds every concert's ACTIVE set.
    let actives: BTreeSet<String> = store
        .scan_keys(&format!("{}:*", server.config.key_prefix))
        .await
        .unwrap()
        .into_iter()
        .filter(|key| key.ends_with(":q:active"))
        .collect();
    let expected: BTreeSet<String> = (1..=CONCERTS)
        .map(|concert| store.keys.queue(concert).active)
        .collect();
    assert_eq!(actives, expected);

    store.ping().await.unwrap();
    // TIME of any node: this machine's clock, since the test Redis runs on loopback.
    let redis_now = store.now_ms().await.unwrap();
    let here = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        redis_now.abs_diff(here) < 60_000,
        "{redis_now} against {here}"
    );
}
