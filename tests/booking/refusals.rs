//! Redis refusing work (out of memory, a read-only replica, loading its dataset after a
//! restart): every route that writes to Redis answers 503 `UNAVAILABLE` with `Retry-After`
//! and changes nothing; no route answers a 500 (a read Redis still serves may succeed; a
//! loading Redis serves none); service comes back when Redis is healthy again, with no
//! restart of the server. Each test breaks a private redis-server of its own.

use crate::helpers::booking::{catalog, concert};
use crate::helpers::onsale::{with_admin, ADMIN_TOKEN};
use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{eventually, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// A bound on waits for Redis to change state, so a broken run fails instead of hanging.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A server over `redis` (with the admin API) with one concert (schedule 10, three seats),
/// user 1's wallet charged, an ACTIVE token of user 1 and its hold on seat 1.
async fn booked(redis: &RedisProcess, name: &str) -> (TestServer, String, String) {
    let server = TestServer::start(name, |c| {
        c.redis_url = redis.url();
        with_admin(c);
    })
    .await;
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
use Auth::{Admin, Anonymous, Token};
use Touch::{Reads, Writes};

/// Which credentials a request carries: the queue token, the admin token (on the admin
/// listener), or none.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Auth {
    Token,
    Admin,
    Anonymous,
}

/// One request: what it does to Redis, method, path, its credentials, body.
type Call = (Touch, Method, String, Auth, Option<Value>);

/// Every route that touches Redis, with the token and the hold of [`booked`], the admin
/// API's included.
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
            Anonymous,
            Some(token),
        ),
        (Reads, Method::GET, "/api/queue/status".into(), Token, None),
        (
            Reads,
            Method::GET,
            "/api/schedules/10/seats".into(),
            Token,
            None,
        ),
        (
            Writes,
            Method::POST,
            "/api/reservations".into(),
            Token,
            Some(hold),
        ),
        (Reads, Method::GET, reservation.clone(), Token, None),
        (Writes, Method::DELETE, reservation, Token, None),
        (
            Writes,
            Method::POST,
            "/api/payments".into(),
            Token,
            Some(pay),
        ),
        (
            Reads,
            Method::GET,
            "/api/users/1/balance".into(),
            Anonymous,
            None,
        ),
        (
            Writes,
            Method::POST,
            "/api/users/1/balance/charge".into(),
            Anonymous,
            Some(json!({"amount": 5})),
        ),
        (
            Reads,
            Method::GET,
            "/api/concerts/ranking".into(),
            Anonymous,
            None,
        ),
        (
            Reads,
            Method::GET,
            "/admin/concerts/1/queue".into(),
            Admin,
            None,
        ),
        (
            Writes,
            Method::PATCH,
            "/admin/concerts/1/queue".into(),
            Admin,
            Some(json!({"admitPerSec": 7})),
        ),
        (
            Writes,
            Method::POST,
            "/admin/concerts/1/queue/pause".into(),
            Admin,
            None,
        ),
    ]
}

/// Asserts that every route that writes answers 503 UNAVAILABLE with a Retry-After of
/// whole seconds, and that a read answers either that or, when `reads_served`, its usual
/// 200.
async fn assert_every_route_refused(
    server: &TestServer,
    token: &str,
    id: &str,
    why: &str,
    reads_served: bool,
) {
    let admin_base = server.admin_base.as_ref().expect("the admin API is on");
    for (touch, method, path, auth, body) in every_redis_route(id) {
        let url = match auth {
            Admin => format!("{admin_base}{path}"),
            Token | Anonymous => server.url(&path),
        };
        let mut request = server.http.request(method.clone(), url);
        match auth {
            Token => request = request.bearer_auth(token),
            Admin => request = request.bearer_auth(ADMIN_TOKEN),
            Anonymous => {}
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
        if reads_served && touch == Reads && status == 200 {
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
    assert_eq!(server.status(token).await["status"], "ACTIVE");
    assert_eq!(server.pay(token, id).await.0, 201);
    assert_eq!(server.balance(1).await, 5000 - 1000 + 5);
    assert_eq!(server.join(3, 1).await.0, 201);
    let (status, figures) = server
        .admin(Method::GET, "/admin/concerts/1/queue", None)
        .await;
    assert_eq!(status, 200, "{figures}");
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
    assert_every_route_refused(&server, &token, &id, "OOM", true).await;
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
    assert_every_route_refused(&server, &token, &id, "READONLY", true).await;
    replicaof(&redis, None).await;
    assert_service_back(&server, &token, &id).await;
}

/// `INFO section` of `redis` as field/value pairs (INFO is served while Redis loads).
async fn info(
    conn: &mut redis::aio::MultiplexedConnection,
    section: &str,
) -> Vec<(String, String)> {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Whether Redis is loading its dataset (`INFO persistence`, `loading:1`).
async fn loading(conn: &mut redis::aio::MultiplexedConnection) -> bool {
    info(conn, "persistence")
        .await
        .iter()
        .any(|(k, v)| k == "loading" && v == "1")
}

/// How many connections Redis has accepted since it started (`INFO stats`).
async fn connections_received(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    info(conn, "stats")
        .await
        .iter()
        .find(|(k, _)| k == "total_connections_received")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// How many commands Redis refused with `LOADING` since it started (`INFO errorstats`).
async fn loading_refusals(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    info(conn, "errorstats")
        .await
        .iter()
        .find(|(k, _)| k == "errorstat_LOADING")
        .and_then(|(_, v)| v.strip_prefix("count=")?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// The status of a health probe.
async fn probe(server: &TestServer, path: &str) -> u16 {
    let resp = server.http.get(server.url(path)).send().await.unwrap();
    resp.status().as_u16()
}

/// Keys `DEBUG POPULATE` adds beside the booking's, so the restart has a dataset to load.
const FILLER_KEYS: u64 = 100_000;

#[tokio::test]
async fn a_redis_loading_its_dataset_is_503_with_retry_after_on_every_route() {
    let mut redis = RedisProcess::start_with(&["--enable-debug-command", "local"]);
    let (server, token, id) = booked(&redis, "refused-loading").await;
    // The same routes through a pool of connections (REDIS_POOL_SIZE), each of which the
    // restart breaks.
    let pooled = server.sibling(|c| c.redis_pool_size = 4).await;
    let mut conn = crate::helpers::redis_connection(&redis.url()).await;
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(FILLER_KEYS)
        .arg("filler")
        .arg(16)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SAVE").query_async(&mut conn).await.unwrap();
    drop(conn);

    // Killed and started again on the same port and directory, Redis reloads the RDB that
    // SAVE wrote. On the 2-core machine of docs/performance.md 2,000,000 small keys took
    // 1.8 s to populate, 1.8 s to save and 1.8 s to load (200 MB): a window that depends
    // on the dataset's size is short, costly and as long as the machine is fast. Instead,
    // `key-load-delay` (a setting Redis keeps for its own tests: microseconds of sleep per
    // key loaded) holds the load of 100,000 keys open until the test has sent every
    // request, and the test then lets it finish with `CONFIG SET key-load-delay 0` (CONFIG
    // is served while loading): the window is the test's to close, however fast or busy
    // the machine. Without the smaller event interval Redis would answer clients only every
    // 2 MB of the file read.
    redis.restart_without_waiting_for_load(&[
        "--key-load-delay",
        "1000",
        "--loading-process-events-interval-bytes",
        "1024",
    ]);
    let mut side = crate::helpers::redis_connection(&redis.url()).await;
    assert!(
        loading(&mut side).await,
        "the restarted Redis must still be loading its dataset, or this test asserts nothing"
    );
    // The servers reconnect by themselves (no restart) and meet the LOADING refusal: their
    // background loops (ticker, heartbeat) are refused too, so Redis's count of LOADING
    // errors grows once a server's connection is back.
    let before = loading_refusals(&mut side).await;
    eventually(
        LIMIT,
        "a server's commands are refused with LOADING",
        || async {
            let status = server.charge(1, 5).await.0;
            assert_ne!(status, 500);
            (loading_refusals(&mut side.clone()).await > before).then_some(())
        },
    )
    .await;
    // The pool replaces the connections the restart broke (at most its size) ...
    assert_eq!(pooled.charge(1, 5).await.0, 503);
    let dialled = connections_received(&mut side).await;
    for (name, server) in [("multiplexed", &server), ("pooled", &pooled)] {
        assert_every_route_refused(server, &token, &id, &format!("LOADING, {name}"), false).await;
        // A load balancer stops sending while Redis loads; the process is alive all along.
        assert_eq!(probe(server, "/health/ready").await, 503, "{name}");
        assert_eq!(probe(server, "/health/live").await, 200, "{name}");
    }
    // ... and keeps them while Redis refuses their PING with LOADING: a refusal is no
    // broken connection, so no request dials Redis anew (src/store/pool.rs).
    let dialled = connections_received(&mut side).await - dialled;
    assert!(
        dialled <= 4,
        "{dialled} connections dialled to a loading Redis during the round"
    );
    assert!(
        loading(&mut side).await,
        "Redis finished loading before every request was sent: the refusals above may not \
         all have been LOADING ones"
    );
    let refused = loading_refusals(&mut side).await - before;
    assert!(
        refused >= 2 * every_redis_route(&id).len() as u64,
        "only {refused} commands were refused with LOADING"
    );

    config_set(&redis, "key-load-delay", "0").await;
    eventually(LIMIT, "Redis has loaded its dataset", || async {
        (!loading(&mut side.clone()).await).then_some(())
    })
    .await;
    let keys: u64 = redis::cmd("DBSIZE").query_async(&mut side).await.unwrap();
    assert!(keys > FILLER_KEYS, "the dataset was reloaded: {keys} keys");
    assert_service_back(&server, &token, &id).await;
    assert_eq!(probe(&server, "/health/ready").await, 200);
    let (status, body) = pooled.get_with_token("/api/queue/status", &token).await;
    assert_eq!(status, 200, "the pooled server is back too: {body}");
}
