//! Token issuance and status: idempotent entry, signed tokens, FIFO positions, estimates.

use crate::helpers::TestServer;
use serde_json::json;

#[tokio::test]
async fn re_entering_returns_the_same_token_and_place() {
    let server = TestServer::start("idempotent", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    server.add_concert(2).await;

    let (s1, first) = server.join(7, 1).await;
    let (_, other) = server.join(8, 1).await;
    let (s2, again) = server.join(7, 1).await;
    assert_eq!(s1, 201, "{first}");
    assert_eq!(s2, 200, "{again}");
    assert_eq!(first["token"], again["token"]);
    assert_eq!(first["position"], 1);
    assert_eq!(again["position"], 1);
    assert_eq!(other["position"], 2);
    assert_eq!(again["status"], "WAITING");
    assert_eq!(again["userId"], 7);
    assert_eq!(again["concertId"], 1);

    // The same user may wait for several concerts at once.
    let (s3, elsewhere) = server.join(7, 2).await;
    assert_eq!(s3, 201);
    assert_ne!(elsewhere["token"], first["token"]);
    assert_eq!(elsewhere["position"], 1);
    let (_, still) = server.join(8, 1).await;
    assert_eq!(still["position"], 2, "re-entry never moves anyone");
}

#[tokio::test]
async fn an_empty_queue_with_free_capacity_admits_at_once() {
    let server = TestServer::start("instant", |c| c.queue_max_active = 1).await;
    server.add_concert(1).await;
    let (status, body) = server.join(1, 1).await;
    assert_eq!(status, 201);
    assert_eq!(body["status"], "ACTIVE");
    assert!(body["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("position").is_none());

    let (_, second) = server.join(2, 1).await;
    assert_eq!(second["status"], "WAITING", "the one slot is taken");
    assert_eq!(second["position"], 1);

    let st = server.status(body["token"].as_str().unwrap()).await;
    assert_eq!(
        st,
        json!({"status": "ACTIVE", "expiresAt": body["expiresAt"], "concertId": 1})
    );
}

#[tokio::test]
async fn an_unknown_concert_is_404_and_creates_nothing() {
    let server = TestServer::start("unknown-concert", |_| {}).await;
    let (status, body) = server.join(1, 999).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "CONCERT_NOT_FOUND");
    let keys = server.written_keys().await;
    assert!(keys.is_empty(), "no keys written: {keys:?}");
}

#[tokio::test]
async fn forged_tampered_and_missing_tokens_are_401_without_redis() {
    // A server whose Redis does not exist: a 401 proves no Redis round trip was needed.
    let dead = format!(
        "redis://127.0.0.1:{}",
        crate::helpers::redis_process::free_port()
    );
    let server = TestServer::start("forged", |c| c.redis_url = dead).await;
    let signer = concert_queue::queue::TokenSigner::new(server.config.token_secret.as_bytes());
    let genuine = signer.sign(&concert_queue::queue::Claims::new(1, 5, 1_000_000));
    let forged = concert_queue::queue::TokenSigner::new(b"someone-elses-secret-value")
        .sign(&concert_queue::queue::Claims::new(1, 5, 1_000_000));
    let tampered = genuine.replacen("v1.1.5.", "v1.1.6.", 1);
    let truncated = &genuine[..genuine.len() - 3];

    for bad in [forged.as_str(), tampered.as_str(), truncated, "garbage", ""] {
        let (status, body) = server.get_with_token("/api/queue/status", bad).await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_TOKEN");
    }
    let resp = server
        .http
        .get(server.url("/api/queue/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "missing header");
    let resp = server
        .http
        .get(server.url("/api/queue/status"))
        .header("Authorization", format!("Basic {genuine}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "wrong scheme");
    // The genuine token passes the signature check and only then needs Redis: 503.
    let (status, _) = server.get_with_token("/api/queue/status", &genuine).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn positions_are_strict_fifo_across_many_joins() {
    let server = TestServer::start("fifo", |c| {
        c.queue_max_active = 0;
        c.queue_admit_per_sec = 10;
    })
    .await;
    server.add_concert(3).await;
    let mut tokens = Vec::new();
    for user in 1..=60u64 {
        let (status, body) = server.join(1000 + user, 3).await;
        assert_eq!(status, 201);
        assert_eq!(body["position"], user, "join {user}");
        tokens.push(body["token"].as_str().unwrap().to_string());
    }
    for (i, token) in tokens.iter().enumerate() {
        let body = server.status(token).await;
        assert_eq!(body["status"], "WAITING");
        assert_eq!(body["position"], i as u64 + 1);
        assert_eq!(body["concertId"], 3);
        // No admission observed yet: the configured rate (10/s) gives ceil(position / 10).
        assert_eq!(body["estimatedWaitSeconds"], (i as u64 + 1).div_ceil(10));
    }
}

#[tokio::test]
async fn tokens_carry_concert_user_sequence_and_issue_time() {
    let server = TestServer::start("claims", |c| c.queue_max_active = 0).await;
    server.add_concert(4).await;
    let token = server.join_token(77, 4).await;
    let signer = concert_queue::queue::TokenSigner::new(server.config.token_secret.as_bytes());
    let claims = signer.verify(&token).expect("the server's token verifies");
    assert_eq!((claims.concert_id, claims.user_id), (4, 77));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        claims.issued_at.abs_diff(now) < 60,
        "issued_at is the Redis clock"
    );
    assert_eq!(claims.seq / 1_000_000, claims.issued_at);
}

/// The line's `base` and `last` sequences (`q:entries`).
async fn base_and_last(conn: &mut crate::helpers::TestRedis, entries: &str) -> (u64, u64) {
    redis::cmd("HMGET")
        .arg(entries)
        .arg("base")
        .arg("last")
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_entry_past_the_lines_25_days_is_refused_and_writes_nothing() {
    let server = TestServer::start("queue-full", |c| c.queue_max_active = 0).await;
    server.add_concert(1).await;
    server.join_token(1, 1).await;
    // Pretend the line has been non-empty since 25.5 days ago.
    let entries = server.keys().queue(1).entries;
    let mut conn = server.redis().await;
    let (base, last) = base_and_last(&mut conn, &entries).await;
    let long_ago = base - concert_queue::store::line::MAX_OFFSET;
    let _: () = redis::cmd("HSET")
        .arg(&entries)
        .arg("base")
        .arg(long_ago)
        .query_async(&mut conn)
        .await
        .unwrap();

    let (status, body) = server.join(2, 1).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "QUEUE_FULL");
    let after = base_and_last(&mut conn, &entries).await;
    assert_eq!(after, (long_ago, last), "no sequence was spent");
    let waiting: u64 = redis::cmd("ZCARD")
        .arg(server.keys().queue(1).line)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(waiting, 1);
}

#[tokio::test]
async fn a_token_from_before_the_line_emptied_stays_expired() {
    // Entries into an empty line move the base; the sequence still only grows, so an old
    // token never matches a new entry of the same user.
    let server = TestServer::start("rebase", |c| {
        c.queue_max_active = 0;
        c.wait_idle_timeout = std::time::Duration::ZERO;
    })
    .await;
    server.add_concert(1).await;
    let old = server.join_token(5, 1).await;
    let mut conn = server.redis().await;
    let _: () = redis::cmd("ZREM")
        .arg(server.keys().queue(1).line)
        .arg(5)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(server.status(&old).await["status"], "EXPIRED");
    let (status, again) = server.join(5, 1).await;
    assert_eq!(status, 201);
    assert_ne!(again["token"], old.as_str());
    assert_eq!(server.status(&old).await["status"], "EXPIRED");
    let fresh = server.status(again["token"].as_str().unwrap()).await;
    assert_eq!(
        (fresh["status"].as_str(), fresh["position"].as_u64()),
        (Some("WAITING"), Some(1))
    );
}

/// Attack (issue 10, "a waiter dropped as idle gets its old place back"): main's
/// issue_token.lua returned the place without the idle check queue_status.lua applies. A
/// waiter silent past the idle timeout now reads EXPIRED and, joining again, enters at the
/// back with 201 and a new token.
#[tokio::test]
async fn an_idle_waiter_joining_again_enters_at_the_back_with_a_new_token() {
    let server = TestServer::start("idle-rejoin", |c| {
        c.queue_max_active = 0;
        c.wait_idle_timeout = std::time::Duration::from_secs(5);
        // One activation tick at start-up and none during the test: no idle sweep races
        // the join below (the sweep would hide the bug by dropping the waiter first).
        c.activation_tick = std::time::Duration::from_secs(3600);
    })
    .await;
    server.add_concert(1).await;
    let (status, first) = server.join(5, 1).await;
    assert_eq!(status, 201);
    let old = first["token"].as_str().unwrap().to_string();
    assert_eq!(server.join(6, 1).await.1["position"], 2);

    // User 5's last sign of life moves a minute into the past (its presence slot, in Redis
    // seconds modulo 4096), as if it had stopped polling then.
    let line = server.keys().queue(1).line;
    let mut conn = server.redis().await;
    let (secs, _): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let score: u64 = redis::cmd("ZSCORE")
        .arg(&line)
        .arg(5)
        .query_async(&mut conn)
        .await
        .unwrap();
    let silent_since = (secs - 60) % 4096;
    let _: () = redis::cmd("ZADD")
        .arg(&line)
        .arg("XX")
        .arg(score / 4096 * 4096 + silent_since)
        .arg(5)
        .query_async(&mut conn)
        .await
        .unwrap();

    let (status, again) = server.join(5, 1).await;
    assert_eq!(status, 201, "a new entry: {again}");
    assert_ne!(again["token"], first["token"]);
    assert_eq!(again["position"], 2, "behind user 6, who kept its place");
    assert_eq!(server.status(&old).await["status"], "EXPIRED");
    let fresh = server.status(again["token"].as_str().unwrap()).await;
    assert_eq!(
        (fresh["status"].as_str(), fresh["position"].as_u64()),
        (Some("WAITING"), Some(2))
    );
    let waiting: u64 = redis::cmd("ZCARD")
        .arg(&line)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(waiting, 2, "one entry per user");
}
