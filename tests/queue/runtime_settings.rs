//! A concert's own queue settings, changed at runtime through the admin API: every server
//! sharing the Redis applies them at its next tick, whatever its environment says; pause,
//! resume and evict.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::onsale::{rfc3339, with_admin};
use crate::helpers::{eventually, TestServer};

#[tokio::test]
async fn a_patch_of_admit_per_sec_applies_on_two_servers_whatever_their_environment() {
    // Two servers on one Redis prefix whose environments disagree: A admits nothing, B
    // 1,000 a second. The concert's own setting decides for both.
    let a = TestServer::start("settings-two", |c| {
        with_admin(c);
        c.queue_admit_per_sec = 0;
        c.queue_max_active = 1000;
    })
    .await;
    a.add_concert(1).await;
    a.patch_queue(1, json!({"admitPerSec": 0})).await;
    let b = a
        .sibling(|c| {
            c.admin_token = None;
            c.queue_admit_per_sec = 1000;
        })
        .await;
    for user in 1..=100 {
        a.join_token(user, 1).await;
    }
    // Both tick every 20 ms: with the concert at 0, B's 1,000/s admits nobody.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        a.active_users(1).await.is_empty(),
        "B applies the concert's 0"
    );

    let answer = a.patch_queue(1, json!({"admitPerSec": 10})).await;
    let patched = Instant::now();
    assert_eq!(answer["settings"]["admitPerSec"], 10, "{answer}");
    assert_eq!(answer["ownSettings"], json!(["admitPerSec"]));
    eventually(Duration::from_secs(5), "admission starts", || async {
        (!a.active_users(1).await.is_empty()).then_some(())
    })
    .await;
    // The bucket holds a quarter second (2 at 10/s) and refills at 10/s: at 1,000/s (B's
    // environment) all 100 would be in by now.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let admitted = a.active_users(1).await.len() as f64;
    let elapsed = patched.elapsed().as_secs_f64();
    assert!(
        admitted <= 2.0 + 10.0 * (elapsed + 0.1),
        "{admitted} admitted {elapsed:.2}s after the PATCH: faster than 10/s"
    );
    assert!(admitted >= 3.0, "admission goes on at 10/s: {admitted}");

    // Back to 0: both servers stop admitting.
    a.patch_queue(1, json!({"admitPerSec": 0})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped_at = a.active_users(1).await.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.active_users(1).await.len(), stopped_at, "nobody after 0");
    drop(b);
}

#[tokio::test]
async fn pause_holds_admission_and_resume_lets_it_go_on() {
    let server = TestServer::start("settings-pause", with_admin).await;
    server.add_concert(1).await;
    let paused = server.queue_action(1, "pause").await;
    assert_eq!(paused["state"], "PAUSED", "{paused}");
    assert_eq!(paused["settings"]["paused"], true);

    let token = server.join_token(7, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = server.status(&token).await;
    assert_eq!(
        status["status"], "WAITING",
        "joins queue while paused: {status}"
    );
    assert_eq!(server.figures(1).await["waiting"], 1);

    let resumed = server.queue_action(1, "resume").await;
    assert_eq!(resumed["state"], "OPEN", "{resumed}");
    eventually(Duration::from_secs(5), "admitted after resume", || async {
        (server.status(&token).await["status"] == "ACTIVE").then_some(())
    })
    .await;
    let figures = server.figures(1).await;
    assert_eq!(figures["active"], 1, "{figures}");
    assert_eq!(figures["admittedLastMinute"], 1, "{figures}");
}

#[tokio::test]
async fn an_evicted_buyer_is_expired_wherever_they_were() {
    let server = TestServer::start("settings-evict", |c| {
        with_admin(c);
        c.queue_max_active = 1;
    })
    .await;
    server.add_concert(1).await;
    let active = server.active_token(1, 1).await;
    let waiting: Vec<String> = {
        let mut tokens = Vec::new();
        for user in 2..=4 {
            tokens.push(server.join_token(user, 1).await);
        }
        tokens
    };
    assert_eq!(server.status(&waiting[2]).await["position"], 3);

    let (status, body) = server
        .admin(Method::DELETE, "/admin/concerts/1/queue/users/3", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evictedFrom"], "WAITING");
    assert_eq!(server.status(&waiting[1]).await["status"], "EXPIRED");
    assert_eq!(
        server.status(&waiting[2]).await["position"],
        2,
        "the one behind moves up"
    );

    let (status, body) = server
        .admin(Method::DELETE, "/admin/concerts/1/queue/users/1", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evictedFrom"], "ACTIVE");
    assert_eq!(server.status(&active).await["status"], "EXPIRED");
    // Its slot is free: the head of the line gets it.
    eventually(Duration::from_secs(5), "user 2 admitted", || async {
        (server.status(&waiting[0]).await["status"] == "ACTIVE").then_some(())
    })
    .await;

    let (status, body) = server
        .admin(Method::DELETE, "/admin/concerts/1/queue/users/3", None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "NOT_IN_QUEUE");
}

#[tokio::test]
async fn the_cli_steers_the_same_queue_straight_on_redis() {
    let server = TestServer::start("settings-cli", |_| {}).await;
    server.add_concert(5).await;
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_concert-queue"))
            .arg("admin")
            .args(args)
            .env_clear()
            .env("REDIS_URL", &server.config.redis_url)
            .envs(
                (server.config.redis_cluster_nodes.as_ref())
                    .map(|nodes| ("REDIS_CLUSTER_NODES", nodes.to_string())),
            )
            .env("REDIS_KEY_PREFIX", &server.config.key_prefix)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for action in ["status", "set", "pause", "resume", "open", "evict"] {
        let (ok, help, _) = cli(&[action, "--help"]);
        assert!(ok && help.contains("--concert"), "{action} --help: {help}");
    }
    let (ok, out, err) = cli(&[
        "set",
        "--concert",
        "5",
        "--max-active",
        "7",
        "--admit-per-sec",
        "3",
    ]);
    assert!(ok, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["settings"]["maxActive"], 7, "{answer}");
    assert_eq!(answer["settings"]["admitPerSec"], 3);
    let (ok, out, _) = cli(&["pause", "--concert", "5"]);
    assert!(ok);
    assert!(out.contains("\"PAUSED\""), "{out}");
    let token = server.join_token(9, 5).await;
    let (ok, out, err) = cli(&["evict", "--concert", "5", "--user", "9"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"WAITING\""), "{out}");
    assert_eq!(server.status(&token).await["status"], "EXPIRED");

    // Refusals name the setting and exit non-zero; nothing changes.
    let (ok, _, err) = cli(&["set", "--concert", "5", "--admit-per-sec", "-5"]);
    assert!(!ok && err.contains("admitPerSec"), "{err}");
    let (ok, _, err) = cli(&["set", "--concert", "5", "--max-active", "100001"]);
    assert!(!ok && err.contains("maxActive"), "{err}");
    let (ok, _, err) = cli(&["status", "--concert", "6"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let (ok, out, _) = cli(&["set", "--concert", "5", "--max-active", "default"]);
    assert!(ok);
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        answer["settings"]["maxActive"], 500,
        "back to the default: {answer}"
    );
    assert_eq!(answer["settings"]["admitPerSec"], 3);
}

/// `pollAfterMs` follows the concert's own idle timeout (a client that follows it is never
/// dropped, however short the concert's timeout), and a PRE_QUEUE answer carries it too: a
/// quarter of the time left before `opensAt`, within 1 s and 30 s.
#[tokio::test]
async fn the_poll_advice_follows_the_concerts_idle_timeout_and_the_countdown() {
    let server = TestServer::start("advice-per-concert", |c| {
        with_admin(c);
        c.queue_admit_per_sec = 0; // nobody admitted: no estimate, the longest advice
        c.wait_idle_timeout = Duration::from_secs(120);
        c.poll_min_interval_factor = 0.0;
    })
    .await;
    for concert in 1..=4 {
        server.add_concert(concert).await;
    }
    server.patch_queue(1, json!({"idleTimeoutSecs": 8})).await;
    let advice = |body: &serde_json::Value| body["pollAfterMs"].as_u64().unwrap();

    let (_, own) = server.join(1, 1).await;
    assert_eq!(own["status"], "WAITING", "{own}");
    assert_eq!(advice(&own), 2_000, "a quarter of the concert's 8 s: {own}");
    let token = own["token"].as_str().unwrap();
    assert_eq!(advice(&server.status(token).await), 2_000);
    let (_, env) = server.join(1, 2).await;
    assert_eq!(
        advice(&env),
        30_000,
        "the environment's 120 s caps at 30 s: {env}"
    );

    let now = server.redis_now_ms().await;
    server
        .patch_queue(3, json!({"opensAt": rfc3339(now + 3_600_000)}))
        .await;
    server
        .patch_queue(4, json!({"opensAt": rfc3339(now + 20_000)}))
        .await;
    let (_, far) = server.join(1, 3).await;
    assert_eq!(far["status"], "PRE_QUEUE", "{far}");
    assert_eq!(advice(&far), 30_000, "an hour ahead: {far}");
    let (_, near) = server.join(1, 4).await;
    assert_eq!(near["status"], "PRE_QUEUE", "{near}");
    let near_advice = advice(&near);
    assert!(
        (1_000..=5_000).contains(&near_advice),
        "a quarter of at most 20 s: {near}"
    );
    let polled = server.status(near["token"].as_str().unwrap()).await;
    assert_eq!(polled["status"], "PRE_QUEUE");
    assert!(advice(&polled) <= near_advice, "{polled}");
}
