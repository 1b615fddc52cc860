//! Fairness under a hostile crowd: each client's own budget for joining (by client IP, or
//! by verified user in jwt mode) beside the server-wide limiter, `pollAfterMs` on every
//! WAITING answer, and 429 for tokens that poll much faster than advised.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::jwt::{claims, hs256, jwt_server};
use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{split, TestServer};

/// `POST /api/queue/token` as the client at `ip` behind one trusted proxy.
async fn join_from(server: &TestServer, ip: &str, body: Value) -> reqwest::Response {
    server
        .http
        .post(server.url("/api/queue/token"))
        .header("X-Forwarded-For", format!("198.51.100.250, {ip}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Attack (issue 10): "one client sending 150 requests a second, even with a body of {},
/// makes every real buyer on that server get 429": main checked its one server-wide bucket
/// first. Now the attacker's excess is refused by its own budget and never draws on the
/// shared one, so honest clients all get in.
#[tokio::test]
async fn one_greedy_client_cannot_starve_the_others() {
    // The server-wide budget (20) would be spent many times over by the attacker's 150
    // requests if refused ones drew on it, yet leaves room for what the attacker may take
    // (its burst of 3 plus 1/s while the loop runs) and the 8 honest clients.
    let server = TestServer::start("greedy-client", |c| {
        c.queue_max_active = 0;
        c.token_rate_limit_per_sec = 20;
        c.client_rate_limit_per_sec = 1;
        c.client_rate_limit_burst = 3;
        c.trusted_proxy_hops = 1;
    })
    .await;
    server.add_concert(1).await;
    let mut refused = 0;
    for n in 0..150u64 {
        let body = if n % 2 == 0 {
            json!({})
        } else {
            json!({"userId": 10_000 + n, "concertId": 1})
        };
        let resp = join_from(&server, "203.0.113.66", body).await;
        match resp.status().as_u16() {
            429 => {
                assert!(resp.headers().contains_key("retry-after"));
                let (_, body) = split(resp).await;
                assert_eq!(body["error"]["code"], "RATE_LIMITED");
                refused += 1;
            }
            200 | 201 | 400 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        refused >= 140,
        "the attacker got past its budget {} times",
        150 - refused
    );
    for honest in 1..=8u64 {
        let resp = join_from(
            &server,
            &format!("192.0.2.{honest}"),
            json!({"userId": honest, "concertId": 1}),
        )
        .await;
        assert_eq!(resp.status(), 201, "honest client {honest}");
    }
}

/// The same attack by a signed-in client in jwt mode: the budget is the verified user's,
/// whatever addresses its requests come from.
#[tokio::test]
async fn in_jwt_mode_the_budget_is_the_verified_users() {
    // The server-wide budget (20) is far below the attacker's 50 requests, so it would be
    // spent if refused requests drew on it, yet above what the attacker may take from it
    // (its burst of 3 plus 1/s while the loop runs) plus the 8 honest users.
    let (server, _jwks) = jwt_server("greedy-user", |c| {
        c.queue_max_active = 0;
        c.token_rate_limit_per_sec = 20;
        c.client_rate_limit_per_sec = 1;
        c.client_rate_limit_burst = 3;
    })
    .await;
    server.add_concert(1).await;
    let greedy = hs256(&claims("666"));
    let mut refused = 0;
    for _ in 0..50 {
        let (status, _) = server.join_as(&greedy, json!({"concertId": 1})).await;
        refused += usize::from(status == 429);
    }
    assert!(refused >= 45, "{refused}");
    for honest in 1..=8u64 {
        let token = hs256(&claims(honest.to_string()));
        let (status, body) = server.join_as(&token, json!({"concertId": 1})).await;
        assert_eq!(status, 201, "honest user {honest}: {body}");
    }
}

/// Without trusted proxies X-Forwarded-For is the client's own claim and is ignored: every
/// request from one peer shares one budget.
#[tokio::test]
async fn x_forwarded_for_counts_only_behind_trusted_proxies() {
    let server = TestServer::start("xff-ignored", |c| {
        c.queue_max_active = 0;
        c.client_rate_limit_per_sec = 1;
        c.client_rate_limit_burst = 2;
    })
    .await;
    server.add_concert(1).await;
    let mut statuses = Vec::new();
    for n in 1..=4u64 {
        let resp = join_from(
            &server,
            &format!("192.0.2.{n}"),
            json!({"userId": n, "concertId": 1}),
        )
        .await;
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 429, 429]);
}

/// The advice is longer further back in the line and always well inside the idle timeout.
#[tokio::test]
async fn every_waiting_answer_advises_when_to_poll_again() {
    let server = TestServer::start("poll-advice", |c| {
        c.queue_max_active = 0;
        c.queue_admit_per_sec = 1;
        c.wait_idle_timeout = Duration::from_secs(60);
    })
    .await;
    server.add_concert(1).await;
    let mut last = 0;
    let mut tokens = Vec::new();
    for user in 1..=80u64 {
        let (status, body) = server.join(user, 1).await;
        assert_eq!(status, 201);
        let advice = body["pollAfterMs"]
            .as_u64()
            .expect("pollAfterMs on WAITING");
        assert!(advice >= last, "never shorter further back");
        assert!(
            advice <= 15_000,
            "within a quarter of the 60 s idle timeout: {advice}"
        );
        last = advice;
        tokens.push(body["token"].as_str().unwrap().to_string());
    }
    assert_eq!(
        server.status(&tokens[0]).await["pollAfterMs"],
        1000,
        "at the head"
    );
    assert_eq!(
        server.status(&tokens[79]).await["pollAfterMs"],
        15_000,
        "far back"
    );

    let active = TestServer::start("poll-advice-active", |c| c.queue_max_active = 5).await;
    active.add_concert(1).await;
    let (status, body) = active.join(1, 1).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ACTIVE")));
    assert!(body.get("pollAfterMs").is_none(), "{body}");
    let st = active.status(body["token"].as_str().unwrap()).await;
    assert!(st.get("pollAfterMs").is_none(), "{st}");
}

/// A token polling sooner than POLL_MIN_INTERVAL_FACTOR x its advice gets 429 with a
/// Retry-After; one that follows the advice is answered.
#[tokio::test]
async fn polling_much_faster_than_advised_is_429() {
    let server = TestServer::start("poll-pace", |c| {
        c.queue_max_active = 0;
        c.poll_min_interval_factor = 0.5;
        c.wait_idle_timeout = Duration::from_secs(4);
    })
    .await;
    server.add_concert(1).await;
    let (_, joined) = server.join(1, 1).await;
    assert_eq!(
        joined["pollAfterMs"], 1000,
        "a quarter of the 4 s idle timeout"
    );
    let token = joined["token"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body) = server.get_with_token("/api/queue/status", &token).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("WAITING")),
        "after the advice"
    );

    let resp = server.get_response("/api/queue/status", &token).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (_, body) = split(resp).await;
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // Another token of the same client is paced on its own.
    let other = server.join_token(2, 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.status(&other).await["status"], "WAITING");
}

/// The pace is decided in process: with Redis gone, a poll that is too soon is still 429,
/// not 503.
#[tokio::test]
async fn a_poll_that_is_too_soon_is_refused_without_a_redis_round_trip() {
    let mut redis = RedisProcess::start();
    let server = TestServer::start("poll-pace-local", |c| {
        c.redis_url = redis.url();
        c.queue_max_active = 0;
        c.queue_admit_per_sec = 0;
        c.poll_min_interval_factor = 1.0;
        c.wait_idle_timeout = Duration::from_secs(40);
    })
    .await;
    server.add_concert(1).await;
    let (_, joined) = server.join(1, 1).await;
    assert_eq!(
        joined["pollAfterMs"], 10_000,
        "no estimate: a quarter of the idle timeout"
    );
    let token = joined["token"].as_str().unwrap().to_string();
    redis.stop();
    let resp = server.get_response("/api/queue/status", &token).await;
    assert_eq!(
        resp.status(),
        429,
        "no Redis round trip for a poll that is too soon"
    );
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    // A token this server never answered is not refused: it goes to Redis (503 here).
    let signer = concert_queue::queue::TokenSigner::new(server.config.token_secret.as_bytes());
    let stranger = signer.sign(&concert_queue::queue::Claims::new(1, 2, 1_000_000));
    let (status, _) = server.get_with_token("/api/queue/status", &stranger).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn poll_pacing_is_off_at_factor_zero() {
    let server = TestServer::start("poll-pace-off", |c| {
        c.queue_max_active = 0;
        c.poll_min_interval_factor = 0.0;
    })
    .await;
    server.add_concert(1).await;
    let token = server.join_token(1, 1).await;
    for _ in 0..5 {
        assert_eq!(server.status(&token).await["status"], "WAITING");
    }
}
