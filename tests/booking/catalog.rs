//! The catalog: concerts and schedules from MySQL through the in-process cache, with live
//! `availableSeats`; MySQL down is a 503, never a 500 or a hang.

use std::time::{Duration, Instant};

use crate::helpers::booking::{catalog, concert};
use crate::helpers::mysql::TestDatabase;
use crate::helpers::TestServer;
use reqwest::Method;
use serde_json::json;

/// A server over its own database holding concerts 1 (schedules 10, 11) and 2 (schedule 20).
async fn server(name: &str) -> (TestServer, TestDatabase) {
    let data = catalog(vec![
        concert(1, &[(10, 4, 1000), (11, 2, 2000)]),
        concert(2, &[(20, 3, 500)]),
    ]);
    TestServer::with_catalog_in_mysql(name, &data, |_| {}).await
}

async fn get(server: &TestServer, path: &str) -> (u16, serde_json::Value) {
    server.send(Method::GET, path, None, None).await
}

#[tokio::test]
async fn concerts_are_listed_and_described() {
    let (server, _db) = server("catalog_list").await;
    let (status, body) = get(&server, "/api/concerts").await;
    assert_eq!(status, 200, "{body}");
    let concerts = body["concerts"].as_array().unwrap();
    assert_eq!(concerts.len(), 2);
    assert_eq!(
        concerts[0],
        json!({"id": 1, "title": "Concert 1", "artist": "Artist 1", "venue": "Hall"})
    );
    let (status, body) = get(&server, "/api/concerts/2").await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 2);
    assert_eq!(body["title"], "Concert 2");
    let (status, body) = get(&server, "/api/concerts/3").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("CONCERT_NOT_FOUND"))
    );
    let (status, body) = get(&server, "/api/concerts/3/schedules").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("CONCERT_NOT_FOUND"))
    );
}

#[tokio::test]
async fn schedules_carry_live_available_seats() {
    let (server, _db) = server("catalog_sched").await;
    let (status, body) = get(&server, "/api/concerts/1/schedules").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["concertId"], 1);
    let schedules = body["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(schedules[0]["id"], 10);
    assert_eq!(schedules[0]["totalSeats"], 4);
    assert_eq!(schedules[0]["availableSeats"], 4);
    assert!(schedules[0]["startsAt"].as_str().unwrap().ends_with('Z'));
    let token = server.active_token(1, 1).await;
    let held = server.hold_id(&token, 10, 1).await;
    let (_, body) = get(&server, "/api/concerts/1/schedules").await;
    assert_eq!(
        body["schedules"][0]["availableSeats"], 3,
        "a hold counts at once"
    );
    server.cancel(&token, &held).await;
    let (_, body) = get(&server, "/api/concerts/1/schedules").await;
    assert_eq!(
        body["schedules"][0]["availableSeats"], 4,
        "a release counts at once"
    );
}

/// Concert 1's title and how many concerts are listed.
async fn seen(server: &TestServer) -> (serde_json::Value, usize) {
    let title = get(server, "/api/concerts/1").await.1["title"].clone();
    let listed = get(server, "/api/concerts").await.1["concerts"]
        .as_array()
        .map_or(0, Vec::len);
    (title, listed)
}

#[tokio::test]
async fn catalog_answers_come_from_the_cache_once_loaded() {
    let (server, db) = server("catalog_cache").await;
    assert_eq!(seen(&server).await, (json!("Concert 1"), 2));
    db.exec("UPDATE concerts SET title = 'Renamed' WHERE id = 1")
        .await;
    db.exec("INSERT INTO concerts (id, title, artist, venue) VALUES (9, 'New', 'A', 'V')")
        .await;
    assert_eq!(seen(&server).await, (json!("Concert 1"), 2), "still cached");
    // A server with a cold cache sees the change.
    let fresh = server.sibling(|_| {}).await;
    assert_eq!(seen(&fresh).await, (json!("Renamed"), 3));
}

#[tokio::test]
async fn mysql_down_is_a_fast_503_not_a_500() {
    let server = TestServer::start("catalog_down", |c| {
        c.mysql_url = format!(
            "mysql://root@127.0.0.1:{}/none",
            crate::helpers::redis_process::free_port()
        );
        c.mysql_timeout = Duration::from_millis(500);
    })
    .await;
    for path in [
        "/api/concerts",
        "/api/concerts/1",
        "/api/concerts/1/schedules",
    ] {
        let started = Instant::now();
        let (status, body) = get(&server, path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("UNAVAILABLE")),
            "{path}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{path}");
    }
    // Redis-backed routes still work.
    assert_eq!(get(&server, "/api/users/1/balance").await.0, 200);
}

#[tokio::test]
async fn the_server_migrates_an_empty_database_at_start() {
    let db = TestDatabase::reserve("catalog_migrate").await;
    let url = db.url.clone();
    let server = TestServer::start("catalog_migrate", |c| c.mysql_url = url).await;
    crate::helpers::eventually(Duration::from_secs(20), "the catalog answers", || async {
        (get(&server, "/api/concerts").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(
        get(&server, "/api/concerts").await.1,
        json!({"concerts": []})
    );
}

#[tokio::test]
async fn health_says_up_when_redis_and_mysql_answer() {
    let (server, _db) = server("catalog_health").await;
    let (status, body) = get(&server, "/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "UP");
    assert_eq!(body["mysql"]["status"], "UP");
    assert_eq!(body["redis"]["status"], "UP");
}

/// Servers and commands that start together migrate one at a time: eight migrators racing
/// on an empty database all succeed (before the lock, the second to reach migration 3 failed
/// on an index the first had already dropped), and every migration is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrators_starting_together_take_turns() {
    let db = TestDatabase::reserve("catalog_migrate_race").await;
    let pool = concert_queue::db::connect(&db.url).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { concert_queue::db::migrate(&pool).await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().expect("every migrator succeeds");
    }
    let mut conn = pool.get_conn().await.unwrap();
    let versions: Vec<(u32, u64)> = mysql_async::prelude::Queryable::query(
        &mut conn,
        "SELECT version, COUNT(*) FROM schema_migrations GROUP BY version ORDER BY version",
    )
    .await
    .unwrap();
    assert_eq!(versions, [(1, 1), (2, 1), (3, 1)]);
    drop(conn);
    pool.disconnect().await.unwrap();
}
