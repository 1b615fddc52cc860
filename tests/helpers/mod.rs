//! Shared test support: service URLs, a server on port 0 under its own key prefix, and
//! private redis-server processes for tests that must break Redis.
#![allow(dead_code)]

pub mod booking;
pub mod flush;
pub mod jwt;
pub mod mysql;
pub mod onsale;
pub mod processes;
pub mod redis_process;
pub mod services;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use concert_queue::Config;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A key prefix no other test (or test run) uses.
pub fn unique_prefix(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t:{name}:{}-{n}-{nanos}", std::process::id())
}

/// A MySQL URL nothing listens on: tests that do not use the catalog never touch MySQL.
pub const NO_MYSQL_URL: &str = "mysql://root@127.0.0.1:1/cq_unused";

/// A configuration for tests: the given Redis, the given prefix, fast ticks, no MySQL
/// (catalog tests set their own database), and every limit that would refuse a test's own
/// quick requests off (the server-wide and per-client token limiters, the pace of status
/// polls, the wallets' charge budget, the open connections per client IP): the tests of
/// those limits turn them on.
pub fn test_config(redis_url: &str, prefix: &str) -> Config {
    Config {
        bind_addr: "127.0.0.1:0".parse().unwrap(),
        redis_url: redis_url.to_string(),
        mysql_url: NO_MYSQL_URL.into(),
        key_prefix: prefix.to_string(),
        token_secret: "integration-test-secret-0123456789".into(),
        token_rate_limit_per_sec: 0,
        client_rate_limit_per_sec: 0,
        poll_min_interval_factor: 0.0,
        charges_per_user_per_min: 0,
        max_connections_per_ip: 0,
        activation_tick: Duration::from_millis(20),
        redis_timeout: Duration::from_millis(500),
        shutdown_grace: Duration::from_secs(2),
        shutdown_ready_delay: Duration::ZERO,
        ..Config::default()
    }
}

/// A running server on an ephemeral port; shut down (and its keys deleted) on drop.
pub struct TestServer {
    pub base: String,
    /// The admin API's base URL, when the configuration sets `ADMIN_TOKEN`.
    pub admin_base: Option<String>,
    pub config: Config,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    cleanup_keys: bool,
}

impl TestServer {
    /// Starts a server against the shared test Redis under a fresh prefix.
    pub async fn start(name: &str, customize: impl FnOnce(&mut Config)) -> TestServer {
        let redis_url = services::redis_url().await;
        let mut config = test_config(&redis_url, &unique_prefix(name));
        customize(&mut config);
        Self::start_with(config).await
    }

    /// Starts a server with exactly this configuration (the admin API on a port of its
    /// own when it sets `ADMIN_TOKEN`).
    pub async fn start_with(config: Config) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let admin = match config.admin_token {
            Some(_) => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            None => None,
        };
        let admin_base = admin
            .as_ref()
            .map(|admin| format!("http://{}", admin.local_addr().unwrap()));
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(concert_queue::run_with_admin(
            listener,
            admin,
            config.clone(),
            async {
                let _ = rx.await;
            },
        ));
        TestServer {
            base,
            admin_base,
            config,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            shutdown: Some(tx),
            handle: Some(handle),
            cleanup_keys: true,
        }
    }

    /// A second server over the same Redis prefix (another "instance"), configured apart.
    pub async fn sibling(&self, customize: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = self.config.clone();
        customize(&mut config);
        let mut server = Self::start_with(config).await;
        server.cleanup_keys = false;
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A direct Redis connection for setting up and inspecting state.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis_connection(&self.config.redis_url).await
    }

    /// Every key under this server's prefix but its own heartbeat (src/store/presence.rs):
    /// what requests have written.
    pub async fn written_keys(&self) -> Vec<String> {
        let mut conn = self.redis().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.config.key_prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.into_iter()
            .filter(|k| !k.contains(":alive:"))
            .collect()
    }

    pub fn keys(&self) -> concert_queue::store::Keys {
        concert_queue::store::Keys::new(self.config.key_prefix.clone())
    }

    /// Registers a concert in Redis the way `seed` does.
    pub async fn add_concert(&self, concert_id: u64) {
        let keys = self.keys();
        let mut conn = self.redis().await;
        let _: () = redis::pipe()
            .sadd(keys.concerts(), concert_id)
            .hset(
                keys.concert_meta(concert_id),
                "title",
                format!("Concert {concert_id}"),
            )
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        split(resp).await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> (u16, Value) {
        split(self.get_response(path, token).await).await
    }

    /// `GET path` with the token: the whole response, headers included.
    pub async fn get_response(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/queue/token`, returning status and body.
    pub async fn join(&self, user_id: u64, concert_id: u64) -> (u16, Value) {
        self.post(
            "/api/queue/token",
            serde_json::json!({"userId": user_id, "concertId": concert_id}),
        )
        .await
    }

    /// Joins and returns the token, asserting success.
    pub async fn join_token(&self, user_id: u64, concert_id: u64) -> String {
        let (status, body) = self.join(user_id, concert_id).await;
        assert!(
            status == 200 || status == 201,
            "join failed: {status} {body}"
        );
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn status(&self, token: &str) -> Value {
        let (status, body) = self.get_with_token("/api/queue/status", token).await;
        assert_eq!(status, 200, "status failed: {body}");
        body
    }

    /// Sends the shutdown signal (as SIGTERM does) without waiting for `run` to return.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server and waits for `run` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("server stops within 10 s")
            .expect("server task does not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if self.cleanup_keys {
            delete_prefix(&self.config.redis_url, &self.config.key_prefix);
        }
    }
}

/// A direct multiplexed connection to `url`, for setting up and inspecting state.
pub async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Deletes every key under `prefix` (never anything else).
pub fn delete_prefix(redis_url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url) else {
        return;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return;
    };
    let keys: Vec<String> = match redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut conn)
    {
        Ok(keys) => keys,
        Err(_) => return,
    };
    for chunk in keys.chunks(500) {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut conn);
    }
}

/// Status code and JSON body (Null when the body is not JSON).
pub async fn split(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
