//! Faults on a Redis Cluster of the test's own (tests/helpers/redis_cluster.rs): a flushed
//! script cache on every node costs a reload, not an error; a master killed under traffic
//! answers 503, never 500, until its replica takes over, and then serves again.

use std::time::Duration;

use crate::helpers::redis_cluster::RedisCluster;
use crate::helpers::{eventually, test_config, unique_prefix, TestServer};

const CONCERTS: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_master_answers_503_never_500_until_its_replica_takes_over() {
    let mut cluster = RedisCluster::start();
    let mut config = test_config("redis://127.0.0.1:1", &unique_prefix("cluster-faults"));
    config.redis_cluster_nodes = Some(cluster.nodes());
    let server = TestServer::start_with(config).await;
    for concert in 1..=CONCERTS {
        server.add_concert(concert).await;
    }
    for concert in 1..=CONCERTS {
        assert_eq!(server.join(1, concert).await.0, 201);
    }

    // Every node forgets the scripts: the next calls load them again and succeed.
    cluster.on_every_node(&["SCRIPT", "FLUSH"]);
    for concert in 1..=CONCERTS {
        assert_eq!(server.join(2, concert).await.0, 201);
    }

    // The master of concert 1's slot dies; joins to every concert go on meanwhile.
    let lost = cluster.master_of(&server.keys().queue(1).meta);
    cluster.kill(lost);
    let mut user = 100;
    eventually(
        Duration::from_secs(30),
        "concert 1 served again by the replica",
        || {
            user += 1;
            let user = user;
            let server = &server;
            async move {
                let mut concert_1 = 0;
                for concert in 1..=CONCERTS {
                    let (status, body) = server.join(user, concert).await;
                    assert!(
                        status == 201 || status == 503,
                        "concert {concert}: {status} {body}"
                    );
                    if status == 503 {
                        assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
                    }
                    if concert == 1 {
                        concert_1 = status;
                    }
                }
                (concert_1 == 201).then_some(())
            }
        },
    )
    .await;
    assert_ne!(cluster.master_of(&server.keys().queue(1).meta), lost);
}
