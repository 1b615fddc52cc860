//! Faults on the booking routes: Redis down is a fast 503 on every one of them and changes
//! nothing; a flushed script cache costs a reload, never an error.

use std::time::{Duration, Instant};

use crate::helpers::booking::{catalog, concert};
use crate::helpers::redis_process::RedisProcess;
use crate::helpers::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn redis_down_is_a_fast_503_on_every_booking_route() {
    let mut redis = RedisProcess::start();
    let server = TestServer::start("booking-redis-down", |c| c.redis_url = redis.url()).await;
    server
        .seed(&catalog(vec![concert(1, &[(10, 3, 1000)])]))
        .await;
    server.charge(1, 5000).await;
    let token = server.active_token(1, 1).await;
    let id = server.hold_id(&token, 10, 1).await;

    redis.stop();
    let calls = [
        (Method::GET, "/api/schedules/10/seats".to_string(), None),
        (
            Method::POST,
            "/api/reservations".into(),
            Some(json!({"scheduleId": 10, "seatNo": 2})),
        ),
        (Method::GET, format!("/api/reservations/{id}"), None),
        (Method::DELETE, format!("/api/reservations/{id}"), None),
        (
            Method::POST,
            "/api/payments".into(),
            Some(json!({"reservationId": id})),
        ),
        (Method::GET, "/api/users/1/balance".into(), None),
        (
            Method::POST,
            "/api/users/1/balance/charge".into(),
            Some(json!({"amount": 5})),
        ),
        (Method::GET, "/api/concerts/ranking".into(), None),
    ];
    for (method, path, body) in calls {
        let started = Instant::now();
        let (status, reply) = server.send(method.clone(), &path, Some(&token), body).await;
        assert_eq!(
            (status, reply["error"]["code"].as_str()),
            (503, Some("UNAVAILABLE")),
            "{method} {path}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{method} {path} took too long"
        );
    }
}

#[tokio::test]
async fn a_flushed_script_cache_costs_a_reload_not_an_error() {
    let redis = RedisProcess::start();
    let server = TestServer::start("booking-noscript", |c| c.redis_url = redis.url()).await;
    server
        .seed(&catalog(vec![concert(1, &[(10, 3, 1000)])]))
        .await;
    server.charge(1, 5000).await;
    let token = server.active_token(1, 1).await;
    let conn = server.redis().await;
    let flush = || async {
        let mut conn = conn.clone();
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .unwrap();
    };
    flush().await;
    let id = server.hold_id(&token, 10, 1).await;
    flush().await;
    assert_eq!(server.seat_status(&token, 10, 1).await, "HELD");
    flush().await;
    assert_eq!(server.pay(&token, &id).await.0, 201);
    flush().await;
    assert_eq!(server.charge(1, 5).await.0, 200);
}
