//! Redis refusing work (out of memory, a read-only replica): every route that writes to
//! Redis answers 503 `UNAVAILABLE` with `Retry-After` and changes nothing; no route answers
//! a 500 (a read Redis still serves may succeed); service comes back when Redis is healthy
//! again. Each test breaks a private redis-server of its own. (LOADING is told from its
//! code like the others: src/store/error.rs's unit tests.)

use crate::helpers::booking::{catalog, concert};
use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{eventually, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// A bound on waits for Redis to change state, so a broken run fails instead of hanging.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A server over `redis` with one concert (schedule 10, three seats), user 1's wallet
/// charged, an ACTIVE token of user 1 and its hold on seat 1.
async fn booked(redis: &RedisProcess, name: &str) -> (TestServer, String, String) {
    let server = TestServer::start(name, |c| c.redis_url = redis.url()).await;
    server
        .seed(&catalog(vec![concert(1, &[(10, 3, 1000)])]))
        .await;
    assert_eq!(server.charge(1, 5000).await.0, 200);
    let token = server.active_token(1, 1).await;
    let id = server.hold_id(&token, 10, 1).await;
    (server, token, id)
}

/// Whether a route writes to Redis (so must be refused) or only reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Touch {
    Writes,
    Reads,
}
use Touch::{Reads, Writes};

/// One request: what it does to Redis, method, path, whether it carries the token, body.
type Call = (Touch, Method, String, bool, Option<Value>);

/// Every route that touches Redis, with the token and the hold of [`booked`].
fn every_redis_route(id: &str) -> Vec<Call> {
    let token = json!({"userId": 2, "concertId": 1});
    let hold = json!({"scheduleId": 10, "seatNo": 2});
    let pay = json!({"reservationId": id});
    let reservation = format!("/api/reservations/{id}");
    vec![
        (
            Writes,
            Method::POST,
            "/api/queue/token".into(),
            false,
            Some(token),
        ),
        (Reads, Method::GET, "/api/queue/status".into(), true, None),
        (
            Reads,
            Method::GET,
            "/api/schedules/10/seats".into(),
            true,
            None,
        ),
        (
            Writes,
            Method::POST,
            "/api/reservations".into(),
            true,
            Some(hold),
        ),
        (Reads, Method::GET, reservation.clone(), true, None),
        (Writes, Method::DELETE, reservation, true, None),
        (
            Writes,
            Method::POST,
            "/api/payments".into(),
            true,
            Some(pay),
        ),
        (
            Reads,
            Method::GET,
            "/api/users/1/balance".into(),
            false,
            None,
        ),
        (
            Writes,
            Method::POST,
            "/api/users/1/balance/charge".into(),
            false,
            Some(json!({"amount": 5})),
        ),
        (
            Reads,
            Method::GET,
            "/api/concerts/ranking".into(),
            false,
            None,
        ),
    ]
}

/// Asserts that every route that writes answers 503 UNAVAILABLE with a Retry-After of
/// whole seconds, and that a read answers either that or its usual 200.
async fn assert_every_route_refused(server: &TestServer, token: &str, id: &str, why: &str) {
    for (touch, method, path, auth, body) in every_redis_route(id) {
        let mut request = server.http.request(method.clone(), server.url(&path));
        if auth {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let reply: Value = resp.json().await.unwrap_or(Value::Null);
        if touch == Reads && status == 200 {
            continue;
        }
        assert_eq!(
            (status, reply["error"]["code"].as_str()),
            (503, Some("UNAVAILABLE")),
            "{why}: {method} {path}: {reply}"
        );
        assert!(
            retry_after.is_some_and(|s| s >= 1),
            "{why}: {method} {path} without Retry-After"
        );
    }
}

/// Service is back: the hold is still there and can be paid, seats and charges work.
async fn assert_service_back(server: &TestServer, token: &str, id: &str) {
    eventually(LIMIT, "charges work again", || async {
        (server.charge(1, 5).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(server.seat_status(token, 10, 1).await, "HELD");
    assert_eq!(server.seat_status(token, 10, 2).await, "AVAILABLE");
    assert_eq!(server.pay(token, id).await.0, 201);
    assert_eq!(server.balance(1).await, 5000 - 1000 + 5);
}

async fn config_set(redis: &RedisProcess, name: &str, value: &str) {
    let mut conn = crate::helpers::redis_connection(&redis.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn out_of_memory_is_503_with_retry_after_on_every_route() {
    let redis = RedisProcess::start();
    let (server, token, id) = booked(&redis, "refused-oom").await;
    config_set(&redis, "maxmemory", "1").await;
    assert_every_route_refused(&server, &token, &id, "OOM").await;
    config_set(&redis, "maxmemory", "0").await;
    assert_service_back(&server, &token, &id).await;
}

async fn replicaof(of: &RedisProcess, primary: Option<&RedisProcess>) {
    let mut conn = crate::helpers::redis_connection(&of.url()).await;
    let mut cmd = redis::cmd("REPLICAOF");
    match primary {
        Some(primary) => cmd.arg("127.0.0.1").arg(primary.port),
        None => cmd.arg("NO").arg("ONE"),
    };
    let _: () = cmd.query_async(&mut conn).await.unwrap();
}

async fn synced(replica: &RedisProcess) -> bool {
    let mut conn = crate::helpers::redis_connection(&replica.url()).await;
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.contains("master_link_status:up") && !info.contains("master_sync_in_progress:1")
}

#[tokio::test]
async fn a_read_only_replica_is_503_with_retry_after_on_every_route() {
    let redis = RedisProcess::start();
    let (server, token, id) = booked(&redis, "refused-readonly").await;
    // A second private server takes a copy of the data, then the server's own Redis
    // becomes its replica: the same data, read-only.
    let other = RedisProcess::start();
    replicaof(&other, Some(&redis)).await;
    eventually(LIMIT, "the copy is synced", || async {
        synced(&other).await.then_some(())
    })
    .await;
    replicaof(&other, None).await;
    replicaof(&redis, Some(&other)).await;
    eventually(LIMIT, "the demoted server is synced", || async {
        synced(&redis).await.then_some(())
    })
    .await;
    assert_every_route_refused(&server, &token, &id, "READONLY").await;
    replicaof(&redis, None).await;
    assert_service_back(&server, &token, &id).await;
}
