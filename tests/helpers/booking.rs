//! Booking helpers: a small catalog seeded into a test's Redis (and MySQL), ACTIVE tokens,
//! requests with a token, and a way to make a hold lapse now without waiting.

use std::time::Duration;

use concert_queue::catalog::file::{CatalogFile as Catalog, Concert, Schedule, Seat};
use concert_queue::store::Store;
use serde_json::Value;

use super::mysql::TestDatabase;
use super::{eventually, split, TestServer};

/// A catalog of one concert: `(schedule id, seat count, price)` per schedule.
pub fn concert(concert_id: u64, schedules: &[(u64, u32, u64)]) -> Concert {
    Concert {
        id: concert_id,
        title: format!("Concert {concert_id}"),
        artist: format!("Artist {concert_id}"),
        venue: "Hall".into(),
        schedules: schedules
            .iter()
            .map(|&(id, seats, price)| Schedule {
                id,
                starts_at: chrono::DateTime::from_timestamp(1_800_000_000 + id as i64 * 86_400, 0)
                    .unwrap(),
                seats: (1..=seats)
                    .map(|seat_no| Seat {
                        seat_no,
                        grade: "R".into(),
                        price,
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn catalog(concerts: Vec<Concert>) -> Catalog {
    Catalog { concerts }
}

impl TestServer {
    /// A server under its own prefix (see [`TestServer::start`]) with `catalog` seeded
    /// into its Redis.
    pub async fn with_catalog(
        name: &str,
        catalog: &Catalog,
        customize: impl FnOnce(&mut concert_queue::Config),
    ) -> TestServer {
        let server = TestServer::start(name, customize).await;
        server.seed(catalog).await;
        server
    }

    /// A server under its own prefix and over its own MySQL database, with `catalog` in
    /// both (the catalog's routes read MySQL; seats, holds and the queue live in Redis).
    pub async fn with_catalog_in_mysql(
        name: &str,
        catalog: &Catalog,
        customize: impl FnOnce(&mut concert_queue::Config),
    ) -> (TestServer, TestDatabase) {
        let db = TestDatabase::create(name).await;
        let pool = db.pool();
        concert_queue::catalog::seed::seed_mysql(&pool, catalog)
            .await
            .unwrap();
        pool.disconnect().await.unwrap();
        let url = db.url.clone();
        let server = TestServer::with_catalog(name, catalog, |c| {
            c.mysql_url = url;
            customize(c);
        })
        .await;
        (server, db)
    }

    pub async fn store(&self) -> Store {
        if let Some(nodes) = &self.config.redis_cluster_nodes {
            return Store::connect_cluster(nodes, &self.config.key_prefix, Duration::from_secs(2))
                .unwrap();
        }
        Store::connect(
            &self.config.redis_url,
            &self.config.key_prefix,
            Duration::from_secs(2),
            0,
        )
        .await
        .unwrap()
    }

    /// Seeds the catalog into this server's Redis prefix, as `seed` does.
    pub async fn seed(&self, catalog: &Catalog) {
        concert_queue::catalog::seed::seed_redis(&self.store().await, catalog)
            .await
            .unwrap();
    }

    /// Joins the queue and waits until the token is ACTIVE.
    pub async fn active_token(&self, user_id: u64, concert_id: u64) -> String {
        let token = self.join_token(user_id, concert_id).await;
        eventually(Duration::from_secs(10), "token becomes ACTIVE", || async {
            (self.status(&token).await["status"] == "ACTIVE").then_some(())
        })
        .await;
        token
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        split(request.send().await.unwrap()).await
    }

    pub async fn seats(&self, token: &str, schedule_id: u64) -> (u16, Value) {
        self.get_with_token(&format!("/api/schedules/{schedule_id}/seats"), token)
            .await
    }

    /// The status string of one seat, read from the seat map.
    pub async fn seat_status(&self, token: &str, schedule_id: u64, seat_no: u64) -> String {
        let (status, body) = self.seats(token, schedule_id).await;
        assert_eq!(status, 200, "{body}");
        body["seats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["seatNo"] == seat_no)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn hold(&self, token: &str, schedule_id: u64, seat_no: u64) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            "/api/reservations",
            Some(token),
            Some(serde_json::json!({"scheduleId": schedule_id, "seatNo": seat_no})),
        )
        .await
    }

    /// Holds a seat and returns the reservation id, asserting success.
    pub async fn hold_id(&self, token: &str, schedule_id: u64, seat_no: u64) -> String {
        let (status, body) = self.hold(token, schedule_id, seat_no).await;
        assert_eq!(status, 201, "hold failed: {body}");
        body["reservationId"].as_str().unwrap().to_string()
    }

    pub async fn reservation(&self, token: &str, id: &str) -> (u16, Value) {
        self.get_with_token(&format!("/api/reservations/{id}"), token)
            .await
    }

    pub async fn cancel(&self, token: &str, id: &str) -> (u16, Value) {
        self.send(
            reqwest::Method::DELETE,
            &format!("/api/reservations/{id}"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn pay(&self, token: &str, id: &str) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            "/api/payments",
            Some(token),
            Some(serde_json::json!({"reservationId": id})),
        )
        .await
    }

    pub async fn charge(&self, user_id: u64, amount: u64) -> (u16, Value) {
        self.post(
            &format!("/api/users/{user_id}/balance/charge"),
            serde_json::json!({"amount": amount}),
        )
        .await
    }

    pub async fn balance(&self, user_id: u64) -> u64 {
        let (status, body) = self
            .send(
                reqwest::Method::GET,
                &format!("/api/users/{user_id}/balance"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["balance"].as_u64().unwrap()
    }

    /// The sales and charges of every outbox stream as (type, id, data), in stream id
    /// order (entries of two streams in one millisecond in no set order); the queue events are
    /// left out, since the ticker appends them at its own pace (see
    /// [`Self::outbox_with_queue_events`]).
    pub async fn outbox(&self) -> Vec<(String, String, Value)> {
        let mut entries = self.outbox_with_queue_events().await;
        entries.retain(|(kind, _, _)| !kind.starts_with("queue."));
        entries
    }

    /// Every outbox entry as (type, id, data), the queue events included, of every outbox
    /// stream of the prefix (see [`super::flush::outbox_entries`]).
    pub async fn outbox_with_queue_events(&self) -> Vec<(String, String, Value)> {
        let mut conn = self.redis().await;
        super::flush::outbox_entries(&mut conn, &self.keys())
            .await
            .iter()
            .map(|(_, entry)| {
                let field = |name: &str| -> String { entry.get(name).unwrap() };
                (
                    field("type"),
                    field("id"),
                    serde_json::from_str(&field("data")).unwrap(),
                )
            })
            .collect()
    }

    /// Makes a live hold lapse now, as if its time had run out (its expiry moved to the past
    /// everywhere it is recorded), without waiting for it.
    pub async fn lapse_hold(&self, concert_id: u64, schedule_id: u64, user_id: u64, id: &str) {
        let keys = self.keys();
        let past = 1_000_i64;
        let mut conn = self.redis().await;
        let _: () = redis::pipe()
            .atomic()
            .hset(keys.reservation(concert_id, id), "expiresMs", past)
            .zadd(keys.schedule(concert_id, schedule_id).holds, id, past)
            .zadd(keys.user_holds(concert_id, user_id), id, past)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
