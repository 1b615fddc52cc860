//! Admission: FIFO order, the rate and the maximum honoured across server instances,
//! expiry of ACTIVE sessions and of idle waiters.

use std::time::{Duration, Instant};

use crate::helpers::{eventually, TestServer};

/// Users currently ACTIVE (live) for the concert, read from Redis.
async fn active_users(server: &TestServer, concert: u64) -> Vec<u64> {
    let mut conn = server.redis().await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    redis::cmd("ZRANGEBYSCORE")
        .arg(server.keys().queue(concert).active)
        .arg(format!("({now_ms}"))
        .arg("+inf")
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn admission_follows_join_order_and_honours_rate_and_maximum() {
    // Joins go through a server with admission paused; a sibling instance admits.
    let joiner = TestServer::start("admit", |c| c.queue_max_active = 0).await;
    joiner.add_concert(1).await;
    let users: Vec<u64> = (1..=40).collect();
    for &u in &users {
        joiner.join_token(u, 1).await;
    }
    let rate = 20u64;
    let max = 12u64;
    let started = Instant::now();
    let admitter = joiner
        .sibling(|c| {
            c.queue_max_active = max;
            c.queue_admit_per_sec = rate;
        })
        .await;
    let capacity = (rate / 4).max(1);
    let mut saw_full = false;
    while started.elapsed() < Duration::from_millis(1500) {
        let active = active_users(&admitter, 1).await;
        let elapsed = started.elapsed().as_secs_f64();
        let n = active.len() as u64;
        assert!(n <= max, "never more than the maximum: {n}");
        // The bucket starts full and refills at `rate`; allow one tick of measurement skew.
        let bound = capacity as f64 + rate as f64 * (elapsed + 0.05);
        assert!(
            (n as f64) <= bound,
            "{n} admitted after {elapsed:.3}s exceeds {bound:.1}"
        );
        let mut sorted = active.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            users[..active.len()].to_vec(),
            "admitted in FIFO order"
        );
        saw_full |= n == max;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(saw_full, "the maximum is reached at 20/s within 1.5 s");
    // Nobody expires (5 minute TTL), so nobody else gets in.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(active_users(&admitter, 1).await.len() as u64, max);
}

#[tokio::test]
async fn two_instances_ticking_admit_no_faster_than_one() {
    let joiner = TestServer::start("two-tickers", |c| c.queue_max_active = 0).await;
    joiner.add_concert(2).await;
    for u in 1..=200 {
        joiner.join_token(u, 2).await;
    }
    let open = |c: &mut concert_queue::Config| {
        c.queue_max_active = 1000;
        c.queue_admit_per_sec = 10;
        c.activation_tick = Duration::from_millis(5);
    };
    let started = Instant::now();
    let a = joiner.sibling(open).await;
    let b = joiner.sibling(open).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let n = active_users(&a, 2).await.len() as f64;
    let elapsed = started.elapsed().as_secs_f64();
    // capacity (2) + 10/s: at most ~12 after a second, however many instances tick.
    assert!(
        n <= 2.0 + 10.0 * (elapsed + 0.05),
        "{n} admitted in {elapsed:.2}s"
    );
    assert!(n >= 5.0, "admission progresses: {n}");
    drop(b);
}

#[tokio::test]
async fn an_expired_active_token_frees_its_slot_for_the_next_in_line() {
    let server = TestServer::start("active-expiry", |c| {
        c.queue_max_active = 1;
        c.active_ttl = Duration::from_millis(400);
    })
    .await;
    server.add_concert(1).await;
    let first = server.join_token(1, 1).await;
    let second = server.join_token(2, 1).await;
    assert_eq!(server.status(&first).await["status"], "ACTIVE");
    assert_eq!(server.status(&second).await["position"], 1);

    eventually(
        Duration::from_secs(5),
        "first expires, second admitted",
        || async {
            let a = server.status(&first).await;
            let b = server.status(&second).await;
            (a["status"] == "EXPIRED" && b["status"] == "ACTIVE").then_some(())
        },
    )
    .await;
    let expired = server.status(&first).await;
    assert_eq!(
        expired,
        serde_json::json!({"status": "EXPIRED", "concertId": 1})
    );
    // Re-entering after expiry is a new entry with a new token.
    let (status, again) = server.join(1, 1).await;
    assert_eq!(status, 201);
    assert_ne!(again["token"], first.as_str());
}

#[tokio::test]
async fn a_waiter_that_stops_polling_is_dropped_and_never_admitted() {
    let joiner = TestServer::start("idle", |c| {
        c.queue_max_active = 0;
        c.wait_idle_timeout = Duration::from_millis(300);
    })
    .await;
    joiner.add_concert(1).await;
    let absent = joiner.join_token(1, 1).await;
    let present = joiner.join_token(2, 1).await;
    let wait_key = joiner.keys().queue(1).line;
    let mut conn = joiner.redis().await;

    // User 2 keeps polling; user 1 does not. The ticker drops user 1.
    eventually(
        Duration::from_secs(5),
        "the absent waiter is dropped",
        || async {
            let body = joiner.status(&present).await;
            assert_eq!(body["status"], "WAITING");
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg(&wait_key)
                .arg(1)
                .query_async(&mut conn.clone())
                .await
                .unwrap();
            (score.is_none() && body["position"] == 1).then_some(())
        },
    )
    .await;
    assert_eq!(joiner.status(&absent).await["status"], "EXPIRED");
    let count: u64 = redis::cmd("ZCARD")
        .arg(&wait_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 1);

    // When admission opens, only the present buyer is admitted.
    let _admitter = joiner.sibling(|c| c.queue_max_active = 10).await;
    eventually(Duration::from_secs(5), "present buyer admitted", || async {
        (joiner.status(&present).await["status"] == "ACTIVE").then_some(())
    })
    .await;
    assert_eq!(joiner.status(&absent).await["status"], "EXPIRED");
}

#[tokio::test]
async fn an_idle_timeout_of_zero_never_drops_waiters() {
    let server = TestServer::start("never-idle", |c| {
        c.queue_max_active = 0;
        c.wait_idle_timeout = Duration::ZERO;
    })
    .await;
    server.add_concert(1).await;
    let token = server.join_token(1, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.status(&token).await["position"], 1);
}

#[tokio::test]
async fn the_estimate_follows_the_observed_admission_rate() {
    // The answering instance is configured for 50/s, but admission actually runs at 2/s
    // (another instance's setting): the estimate for position p becomes about p / 2, not
    // p / 50.
    let joiner = TestServer::start("estimate", |c| {
        c.queue_max_active = 0;
        c.queue_admit_per_sec = 50;
    })
    .await;
    joiner.add_concert(1).await;
    let mut tokens = Vec::new();
    for u in 1..=40 {
        tokens.push(joiner.join_token(u, 1).await);
    }
    let _admitter = joiner
        .sibling(|c| {
            c.queue_max_active = 1000;
            c.queue_admit_per_sec = 2;
        })
        .await;
    let last = tokens.last().unwrap();
    let read_rate = || async {
        let mut conn = joiner.redis().await;
        let rate: Option<f64> = redis::cmd("HGET")
            .arg(joiner.keys().queue(1).stats)
            .arg("rate")
            .query_async(&mut conn)
            .await
            .unwrap();
        rate
    };
    // Read the rate on both sides of the status call, so both saw the same one.
    let (rate, body) = eventually(Duration::from_secs(8), "a stable observed rate", || async {
        let before = read_rate().await?;
        let body = joiner.status(last).await;
        (read_rate().await? == before).then_some((before, body))
    })
    .await;
    assert!((1.0..=3.5).contains(&rate), "observed about 2/s: {rate}");
    let position = body["position"].as_u64().unwrap();
    let estimate = body["estimatedWaitSeconds"].as_u64().unwrap();
    let expected = (position as f64 / rate).ceil() as u64;
    assert_eq!(estimate, expected, "position {position}, rate {rate}");
    assert!(
        estimate > position.div_ceil(50),
        "slower than the configured rate suggests"
    );
    assert_eq!(estimate, expected, "position {position}, rate {rate}");
}

#[tokio::test]
async fn the_sweep_drops_idle_waiters_wherever_they_stand() {
    // Admission is paused, so no head walk runs: only the sweep can drop anyone. Of 40
    // waiters the even ones go silent; the odd ones keep polling.
    let server = TestServer::start("sweep", |c| {
        c.queue_max_active = 0;
        c.wait_idle_timeout = Duration::from_secs(1);
    })
    .await;
    server.add_concert(1).await;
    let mut present = Vec::new();
    for user in 1..=40u64 {
        let token = server.join_token(user, 1).await;
        if user % 2 == 1 {
            present.push(token);
        }
    }
    let line_key = server.keys().queue(1).line;
    let mut conn = server.redis().await;
    eventually(
        Duration::from_secs(15),
        "the silent half is swept",
        || async {
            for token in &present {
                assert_eq!(server.status(token).await["status"], "WAITING");
            }
            let waiting: Vec<u64> = redis::cmd("ZRANGE")
                .arg(&line_key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn.clone())
                .await
                .unwrap();
            (waiting.len() == 20).then_some(waiting)
        },
    )
    .await;
    let waiting: Vec<u64> = redis::cmd("ZRANGE")
        .arg(&line_key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let odd: Vec<u64> = (1..=40).filter(|u| u % 2 == 1).collect();
    assert_eq!(waiting, odd, "the present half stays, in arrival order");
    for (i, token) in present.iter().enumerate() {
        assert_eq!(server.status(token).await["position"], i as u64 + 1);
    }
}

#[tokio::test]
async fn idle_waiters_at_the_head_are_passed_over_at_admission() {
    // The joiner never drops anyone (idle timeout off, so its ticker does not sweep); the
    // admitter's tick walks the head before it sweeps, so that walk alone must pass over
    // the absent buyers in front. Users 1-5 go silent, 6 keeps polling.
    let joiner = TestServer::start("head-walk", |c| {
        c.queue_max_active = 0;
        c.wait_idle_timeout = Duration::ZERO;
    })
    .await;
    joiner.add_concert(1).await;
    let mut absent = Vec::new();
    for user in 1..=5 {
        absent.push(joiner.join_token(user, 1).await);
    }
    let present = joiner.join_token(6, 1).await;
    // Wait until the absent ones are idle (more than 2 s by the line's whole seconds).
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(3200) {
        assert_eq!(joiner.status(&present).await["status"], "WAITING");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _admitter = joiner
        .sibling(|c| {
            c.queue_max_active = 1;
            c.wait_idle_timeout = Duration::from_secs(1);
        })
        .await;
    eventually(
        Duration::from_secs(5),
        "the present buyer is admitted",
        || async { (joiner.status(&present).await["status"] == "ACTIVE").then_some(()) },
    )
    .await;
    for token in &absent {
        assert_eq!(joiner.status(token).await["status"], "EXPIRED");
    }
    let waiting: u64 = redis::cmd("ZCARD")
        .arg(joiner.keys().queue(1).line)
        .query_async(&mut joiner.redis().await)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "the absent buyers left the line");
}
