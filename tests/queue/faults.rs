//! Faults: Redis down gives a fast 503 and recovery without a restart; a flushed script
//! cache costs one reload, never an error.

use std::time::Duration;

use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{eventually, TestServer};

#[tokio::test]
async fn redis_down_is_a_fast_503_and_the_server_recovers_when_it_returns() {
    let mut redis = RedisProcess::start();
    let server = TestServer::start("redis-down", |c| {
        c.redis_url = redis.url();
        c.queue_max_active = 0;
    })
    .await;
    server.add_concert(1).await;
    let token = server.join_token(1, 1).await;

    redis.stop();
    let (status, body) = server.join(2, 1).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    let (status, _) = server.get_with_token("/api/queue/status", &token).await;
    assert_eq!(status, 503);
    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);

    // Redis comes back empty (no persistence): the server serves again, same process.
    redis.restart();
    server.add_concert(1).await;
    eventually(
        Duration::from_secs(15),
        "requests succeed again",
        || async {
            let (status, _) = server.join(3, 1).await;
            (status == 201).then_some(())
        },
    )
    .await;
    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_flushed_script_cache_costs_one_reload_not_an_error() {
    let redis = RedisProcess::start();
    let server = TestServer::start("noscript", |c| {
        c.redis_url = redis.url();
        c.queue_max_active = 0;
    })
    .await;
    server.add_concert(1).await;
    let token = server.join_token(1, 1).await;
    let mut conn = server.redis().await;
    for round in 0..3 {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .unwrap();
        let (status, body) = server.join(10 + round, 1).await;
        assert_eq!(status, 201, "round {round}: {body}");
        let body = server.status(&token).await;
        assert_eq!(body["position"], 1);
    }
    // The pool variant recovers the same way.
    let pooled = server.sibling(|c| c.redis_pool_size = 4).await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (status, body) = pooled.join(50, 1).await;
    assert_eq!(status, 201, "{body}");
}

/// The explicit pipeline of the ticker and the sweeper (`SCRIPT_FANOUT=pipeline`): after a
/// flushed script cache it loads the script and answers every call, and one call's error
/// stays that call's.
#[tokio::test]
async fn a_pipeline_of_scripts_reloads_after_a_flush_and_keeps_errors_apart() {
    use concert_queue::booking::{Booking, BookingSettings};
    use concert_queue::queue::TokenSigner;
    use concert_queue::queue::{Queue, QueueSettings};
    use concert_queue::store::Store;

    let redis = RedisProcess::start();
    let config =
        crate::helpers::test_config(&redis.url(), &crate::helpers::unique_prefix("pipeline"));
    let store = Store::from_config(&config).await.unwrap();
    let queue = Queue::new(
        store.clone(),
        TokenSigner::new(config.token_secret.as_bytes()),
        QueueSettings::from_config(&config),
    );
    let booking = Booking::new(store.clone(), BookingSettings::from_config(&config));
    let mut conn = crate::helpers::redis_connection(&redis.url()).await;
    let concerts = [1, 2, 3];
    for round in 0..2 {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .unwrap();
        let ticks = queue.activate_pipelined(&concerts).await.unwrap();
        assert_eq!(ticks.len(), 3, "round {round}");
        for tick in ticks {
            let tick = tick.unwrap();
            assert_eq!((tick.admitted, tick.waiting), (0, 0), "round {round}");
        }
    }
    // Concert 2's schedule set is of the wrong type: its sweep fails, the others do not.
    let _: () = redis::cmd("SET")
        .arg(store.keys.concert_schedules(2))
        .arg("not a set")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let swept = booking
        .release_lapsed_holds_pipelined(&concerts)
        .await
        .unwrap();
    assert!(matches!(swept[0], Ok(0)), "{:?}", swept[0]);
    assert!(swept[1].is_err(), "{:?}", swept[1]);
    assert!(matches!(swept[2], Ok(0)), "{:?}", swept[2]);
    // No concerts yet (a server started before `seed`): nothing to send, no error (Redis
    // refuses an empty pipeline as "empty command").
    assert!(queue.activate_pipelined(&[]).await.unwrap().is_empty());
    assert!(booking
        .release_lapsed_holds_pipelined(&[])
        .await
        .unwrap()
        .is_empty());
}
