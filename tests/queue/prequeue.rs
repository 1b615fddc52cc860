//! The pre-queue: joins before `opensAt` answer PRE_QUEUE; at the opening the whole
//! pre-queue gets places in the order of HMAC-SHA256(seed, user id); the commitment
//! published before equals SHA-256 of the seed revealed after; later joins queue behind,
//! first come first served; `verify-fairness` checks it all from the public API.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::onsale::{draw_order, rfc3339, with_admin};
use crate::helpers::redis_process::RedisProcess;
use crate::helpers::{eventually, test_config, unique_prefix, TestServer};

const PRE_QUEUE: u64 = 10_000;

/// Joins `users` with 32 requests in flight; each answer by user.
async fn join_all(
    server: &TestServer,
    concert: u64,
    users: std::ops::RangeInclusive<u64>,
) -> HashMap<u64, (u16, Value)> {
    futures::stream::iter(users)
        .map(|user| async move { (user, server.join(user, concert).await) })
        .buffer_unordered(32)
        .collect()
        .await
}

/// A server with the admin API on a redis-server of its own, with room for the Redis
/// timeout: these tests send thousands of joins, which would crowd the Redis the other
/// tests share.
async fn heavy_server(
    redis: &RedisProcess,
    name: &str,
    customize: impl FnOnce(&mut concert_queue::Config),
) -> TestServer {
    let mut config = test_config(&redis.url(), &unique_prefix(name));
    with_admin(&mut config);
    config.redis_timeout = Duration::from_secs(5);
    customize(&mut config);
    TestServer::start_with(config).await
}

fn verify_fairness(server: &TestServer, concert: u64, extra: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_concert-queue"))
        .args([
            "verify-fairness",
            "--concert",
            &concert.to_string(),
            "--target",
            &server.base,
        ])
        .args(extra)
        .env_clear()
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_queue_of_ten_thousand_opens_in_the_order_the_revealed_seed_gives() {
    let redis = RedisProcess::start();
    let server = heavy_server(&redis, "prequeue-10k", |c| {
        c.queue_max_active = 0; // the line keeps everyone, to read its order
    })
    .await;
    server.add_concert(1).await;
    let opens_at = server.redis_now_ms().await + 3_600_000;
    let answer = server
        .patch_queue(1, json!({"opensAt": rfc3339(opens_at)}))
        .await;
    assert_eq!(answer["state"], "PRE_QUEUE", "{answer}");

    // The commitment is public before anyone joins; the seed is not.
    let before = server.fairness(1).await;
    let commitment = before["commitment"].as_str().unwrap().to_string();
    assert_eq!(commitment.len(), 64);
    assert_eq!(before["opensAt"], rfc3339(opens_at));
    assert!(before.get("seed").is_none(), "{before}");
    let (status, body) = server
        .send(
            Method::GET,
            "/api/concerts/1/queue/fairness/order",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("NOT_OPENED")),
        "{body}"
    );

    let joined = join_all(&server, 1, 1..=PRE_QUEUE).await;
    let mut tokens = HashMap::new();
    for (user, (status, body)) in &joined {
        assert_eq!(*status, 201, "user {user}: {body}");
        assert_eq!(body["status"], "PRE_QUEUE", "{body}");
        assert_eq!(body["opensAt"], rfc3339(opens_at));
        assert!(
            body.get("position").is_none(),
            "no position before the opening: {body}"
        );
        tokens.insert(*user, body["token"].as_str().unwrap().to_string());
    }
    let polled = server.status(&tokens[&17]).await;
    assert_eq!(polled["status"], "PRE_QUEUE", "{polled}");
    assert!(polled.get("position").is_none(), "{polled}");
    let (status, again) = server.join(17, 1).await;
    assert_eq!(status, 200, "re-entry: {again}");
    assert_eq!(again["token"], tokens[&17].as_str(), "the same token");
    let figures = server.figures(1).await;
    assert_eq!(figures["preQueue"], PRE_QUEUE, "{figures}");

    // Open now: the opening begins in that call (the size is frozen, the seed revealed);
    // the ticker moves the pre-queue into the line in bounded steps.
    let opened = server.queue_action(1, "open").await;
    assert_eq!(opened["draw"]["preQueueSize"], PRE_QUEUE, "{opened}");
    assert!(opened["draw"]["seed"].is_string(), "{opened}");
    eventually(
        Duration::from_secs(60),
        "the pre-queue is in the line",
        || async { (server.figures(1).await["preQueue"] == 0).then_some(()) },
    )
    .await;

    let after = server.fairness(1).await;
    let seed = after["seed"].as_str().unwrap().to_string();
    assert_eq!(
        after["commitment"],
        commitment.as_str(),
        "the same commitment"
    );
    assert_eq!(after["preQueueSize"], PRE_QUEUE);
    let seed_bytes = concert_queue::queue::draw::parse_hex32(&seed).unwrap();
    assert_eq!(
        concert_queue::queue::draw::hex(&Sha256::digest(seed_bytes)),
        commitment,
        "the commitment published before is SHA-256 of the seed revealed after"
    );
    let expected = draw_order(&seed, 1..=PRE_QUEUE);
    assert_eq!(
        server.line_users(1).await,
        expected,
        "the line is the seed's order"
    );
    for (place, user) in expected.iter().enumerate().step_by(997) {
        let status = server.status(&tokens[user]).await;
        assert_eq!(status["status"], "WAITING", "{status}");
        assert_eq!(
            status["position"],
            place as u64 + 1,
            "user {user}: {status}"
        );
    }

    // The published order is the HMACs in that order.
    let (status, page) = server
        .send(
            Method::GET,
            "/api/concerts/1/queue/fairness/order?offset=9998&limit=10",
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let tail: Vec<String> = expected[9998..]
        .iter()
        .map(|&u| {
            concert_queue::queue::draw::hex(&concert_queue::queue::draw::place(&seed_bytes, u))
        })
        .collect();
    assert_eq!(page["hmacs"], json!(tail), "{page}");

    // Joins after the opening queue behind, first come first served.
    for (i, user) in (PRE_QUEUE + 1..=PRE_QUEUE + 5).enumerate() {
        let (status, body) = server.join(user, 1).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "WAITING");
        assert_eq!(body["position"], PRE_QUEUE + 1 + i as u64, "{body}");
    }
    let line = server.line_users(1).await;
    assert_eq!(line[..PRE_QUEUE as usize], expected[..]);
    assert_eq!(
        line[PRE_QUEUE as usize..],
        [10_001, 10_002, 10_003, 10_004, 10_005]
    );

    // Admission follows the line: the first three in the draw's order.
    server.patch_queue(1, json!({"maxActive": 3})).await;
    eventually(Duration::from_secs(10), "three admitted", || async {
        let mut active = server.active_users(1).await;
        active.sort();
        let mut first = expected[..3].to_vec();
        first.sort();
        (active == first).then_some(())
    })
    .await;
    assert_eq!(
        server.status(&tokens[&expected[0]]).await["status"],
        "ACTIVE"
    );

    // Anyone can check it all from the public API.
    let me = expected[4711];
    let (ok, text) = verify_fairness(
        &server,
        1,
        &["--user", &me.to_string(), "--commitment", &commitment],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("user {me}: place 4712 of 10000")),
        "{text}"
    );
    let wrong = "0".repeat(64);
    let (ok, text) = verify_fairness(&server, 1, &["--commitment", &wrong]);
    assert!(!ok, "a commitment that is not the seed's fails: {text}");
    assert!(text.contains("MISMATCH"), "{text}");
    let (ok, text) = verify_fairness(&server, 1, &["--user", "20000"]);
    assert!(!ok && text.contains("not in the published order"), "{text}");
}

#[tokio::test]
async fn the_pre_queue_opens_by_itself_at_opens_at() {
    let server = TestServer::start("prequeue-at", with_admin).await;
    server.add_concert(2).await;
    let opens_at = server.redis_now_ms().await + 1_500;
    server
        .patch_queue(2, json!({"opensAt": rfc3339(opens_at)}))
        .await;
    let mut tokens = Vec::new();
    for user in 1..=5 {
        let (status, body) = server.join(user, 2).await;
        assert_eq!(
            (status, &body["status"]),
            (201, &json!("PRE_QUEUE")),
            "{body}"
        );
        tokens.push(body["token"].as_str().unwrap().to_string());
    }
    eventually(
        Duration::from_secs(10),
        "all admitted after opensAt",
        || async {
            for token in &tokens {
                if server.status(token).await["status"] != "ACTIVE" {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    assert!(server.redis_now_ms().await >= opens_at);
    let fairness = server.fairness(2).await;
    assert_eq!(fairness["preQueueSize"], 5, "{fairness}");
    let figures = server.figures(2).await;
    assert_eq!(figures["state"], "OPEN", "{figures}");

    // An opened queue cannot be given an opensAt again, in the past or the future.
    for at in [opens_at - 1_000, opens_at + 3_600_000] {
        let (status, body) = server
            .admin(
                Method::PATCH,
                "/admin/concerts/2/queue",
                Some(json!({"opensAt": rfc3339(at)})),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "INVALID_SETTING");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("opensAt"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_evicted_pre_queue_entry_is_not_drawn_and_a_concert_without_one_has_no_draw() {
    let server = TestServer::start("prequeue-evict", with_admin).await;
    server.add_concert(3).await;
    let (status, body) = server
        .send(Method::GET, "/api/concerts/3/queue/fairness", None, None)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("NO_PRE_QUEUE")),
        "{body}"
    );
    let (status, body) = server
        .send(Method::GET, "/api/concerts/99/queue/fairness", None, None)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("CONCERT_NOT_FOUND")),
        "{body}"
    );

    let opens_at = server.redis_now_ms().await + 3_600_000;
    server
        .patch_queue(3, json!({"opensAt": rfc3339(opens_at)}))
        .await;
    let kept = server.join_token(1, 3).await;
    let evicted = server.join_token(2, 3).await;
    let (status, body) = server
        .admin(Method::DELETE, "/admin/concerts/3/queue/users/2", None)
        .await;
    assert_eq!(
        (status, &body["evictedFrom"]),
        (200, &json!("PRE_QUEUE")),
        "{body}"
    );
    assert_eq!(server.status(&evicted).await["status"], "EXPIRED");
    assert_eq!(server.status(&kept).await["status"], "PRE_QUEUE");
    server.queue_action(3, "open").await;
    eventually(Duration::from_secs(10), "user 1 admitted", || async {
        (server.status(&kept).await["status"] == "ACTIVE").then_some(())
    })
    .await;
    assert_eq!(server.fairness(3).await["preQueueSize"], 1);
    assert_eq!(server.status(&evicted).await["status"], "EXPIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_and_setting_changes_racing_joins_lose_nobody_and_admit_nobody_twice() {
    const JOINERS: u64 = 2_000;
    let redis = RedisProcess::start();
    let server = heavy_server(&redis, "prequeue-race", |c| c.queue_max_active = 0).await;
    server.add_concert(4).await;
    let opens_at = server.redis_now_ms().await + 3_600_000;
    server
        .patch_queue(4, json!({"opensAt": rfc3339(opens_at)}))
        .await;

    // Joins in flight while the pre-queue opens (once half of them have their answer) and
    // the rate changes under them.
    let answered = std::sync::atomic::AtomicU64::new(0);
    let joins = futures::stream::iter(1..=JOINERS)
        .map(|user| {
            let (server, answered) = (&server, &answered);
            async move {
                let answer = server.join(user, 4).await;
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (user, answer)
            }
        })
        .buffer_unordered(32)
        .collect::<HashMap<u64, (u16, Value)>>();
    let steering = async {
        while answered.load(std::sync::atomic::Ordering::SeqCst) < JOINERS / 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.queue_action(4, "open").await;
        for rate in [5, 50, 0, 500] {
            server.patch_queue(4, json!({"admitPerSec": rate})).await;
        }
    };
    let (joined, ()) = tokio::join!(joins, steering);
    let pre: Vec<u64> = joined
        .iter()
        .filter(|(_, (_, body))| body["status"] == "PRE_QUEUE")
        .map(|(user, _)| *user)
        .collect();
    for (user, (status, body)) in &joined {
        assert_eq!(*status, 201, "user {user}: {body}");
    }
    assert!(
        !pre.is_empty() && pre.len() < JOINERS as usize,
        "the open fell among the joins: {}",
        pre.len()
    );
    eventually(
        Duration::from_secs(30),
        "the pre-queue is in the line",
        || async { (server.figures(4).await["preQueue"] == 0).then_some(()) },
    )
    .await;

    // Everyone is in the line once: the pre-queue first, in the seed's order, then the
    // later joins in the order of their tokens' sequence (first come, first served).
    let fairness = server.fairness(4).await;
    assert_eq!(fairness["preQueueSize"], pre.len() as u64);
    let line = server.line_users(4).await;
    assert_eq!(line.len() as u64, JOINERS, "nobody lost, nobody twice");
    let seed = fairness["seed"].as_str().unwrap();
    assert_eq!(line[..pre.len()], draw_order(seed, pre.iter().copied())[..]);
    let seq = |user: &u64| -> u64 {
        let token = joined[user].1["token"].as_str().unwrap();
        token.split('.').nth(3).unwrap().parse().unwrap()
    };
    let later = &line[pre.len()..];
    assert!(
        later.windows(2).all(|w| seq(&w[0]) < seq(&w[1])),
        "later joins in arrival order"
    );

    // Admit everyone: each exactly once.
    server
        .patch_queue(4, json!({"maxActive": 5000, "admitPerSec": 100_000}))
        .await;
    eventually(Duration::from_secs(30), "everyone admitted", || async {
        (server.active_users(4).await.len() as u64 == JOINERS).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut admitted: Vec<u64> = Vec::new();
    for (kind, _, data) in server.outbox_with_queue_events().await {
        if kind == "queue.admitted" {
            assert_eq!(
                data["count"].as_u64().unwrap() as usize,
                data["users"].as_array().unwrap().len()
            );
            admitted.extend(
                data["users"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u.as_u64().unwrap()),
            );
        }
    }
    let distinct: std::collections::HashSet<u64> = admitted.iter().copied().collect();
    assert_eq!(admitted.len() as u64, JOINERS, "one admission each");
    assert_eq!(distinct.len() as u64, JOINERS);
    for token in pre
        .iter()
        .take(5)
        .map(|u| joined[u].1["token"].as_str().unwrap())
    {
        assert_eq!(server.status(token).await["status"], "ACTIVE");
    }
}
