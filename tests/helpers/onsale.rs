//! On-sale helpers: servers with the admin API, its requests with the token, times from
//! the Redis clock at the test's start, the line and the ACTIVE set read from Redis, and the
//! draw's order recomputed from a seed.
#![allow(dead_code)]

use concert_queue::queue::draw;
use concert_queue::Config;
use reqwest::Method;
use serde_json::Value;

use super::{split, TestServer};

/// The admin token of the test servers.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Turns the admin API on (on a port of its own; see [`TestServer::start_with`]).
pub fn with_admin(config: &mut Config) {
    config.admin_token = Some(ADMIN_TOKEN.into());
}

/// `ms` since the epoch as RFC 3339.
pub fn rfc3339(ms: u64) -> String {
    concert_queue::time::rfc3339_millis(ms)
}

/// Users in the order the seed's HMACs put them.
pub fn draw_order(seed_hex: &str, users: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let seed = draw::parse_hex32(seed_hex).expect("a 32-byte hex seed");
    let mut users: Vec<(Vec<u8>, u64)> = users
        .into_iter()
        .map(|u| (draw::place(&seed, u).to_vec(), u))
        .collect();
    users.sort();
    users.into_iter().map(|(_, u)| u).collect()
}

impl TestServer {
    /// An admin request with the given `Authorization` value (None: no header).
    pub async fn admin_as(
        &self,
        authorization: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let base = self
            .admin_base
            .as_ref()
            .expect("a server with the admin API");
        let mut request = self.http.request(method, format!("{base}{path}"));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        split(request.send().await.unwrap()).await
    }

    /// An admin request with the right token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.admin_as(Some(&format!("Bearer {ADMIN_TOKEN}")), method, path, body)
            .await
    }

    /// An admin request with the right token, asserting 200; the answer.
    pub async fn admin_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.admin(method.clone(), path, body).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    /// `PATCH /admin/concerts/{id}/queue`, asserting 200; the answer.
    pub async fn patch_queue(&self, concert_id: u64, body: Value) -> Value {
        let path = format!("/admin/concerts/{concert_id}/queue");
        self.admin_ok(Method::PATCH, &path, Some(body)).await
    }

    /// `POST /admin/concerts/{id}/queue/{action}` (pause, resume, open), asserting 200.
    pub async fn queue_action(&self, concert_id: u64, action: &str) -> Value {
        let path = format!("/admin/concerts/{concert_id}/queue/{action}");
        self.admin_ok(Method::POST, &path, None).await
    }

    /// `GET /admin/concerts/{id}/queue`, asserting 200.
    pub async fn figures(&self, concert_id: u64) -> Value {
        let path = format!("/admin/concerts/{concert_id}/queue");
        self.admin_ok(Method::GET, &path, None).await
    }

    /// The Redis clock (ms): what every script compares times with.
    pub async fn redis_now_ms(&self) -> u64 {
        self.store().await.now_ms().await.unwrap()
    }

    /// The waiting line's users, first to last.
    pub async fn line_users(&self, concert_id: u64) -> Vec<u64> {
        let mut conn = self.redis().await;
        redis::cmd("ZRANGE")
            .arg(self.keys().queue(concert_id).line)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// Users ACTIVE now (by the Redis clock).
    pub async fn active_users(&self, concert_id: u64) -> Vec<u64> {
        let now = self.redis_now_ms().await;
        let mut conn = self.redis().await;
        redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys().queue(concert_id).active)
            .arg(format!("({now}"))
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// The public fairness answer of a concert, asserting 200.
    pub async fn fairness(&self, concert_id: u64) -> Value {
        let (status, body) = self
            .send(
                Method::GET,
                &format!("/api/concerts/{concert_id}/queue/fairness"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}
