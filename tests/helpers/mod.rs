//! Shared test support: service URLs, a server on port 0 under its own key prefix, and
//! private redis-server processes for tests that must break Redis. With
//! `TEST_REDIS_CLUSTER_NODES` set (scripts/test.sh's cluster pass), the servers, the direct
//! connections and the cleanup use that Redis Cluster instead of `REDIS_URL`.
#![allow(dead_code)]

pub mod booking;
pub mod flush;
pub mod jwt;
pub mod mysql;
pub mod onsale;
pub mod processes;
pub mod redis_cluster;
pub mod redis_process;
pub mod services;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use concert_queue::config::ClusterNodes;
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
    /// Starts a server against the shared test Redis under a fresh prefix: the cluster of
    /// `TEST_REDIS_CLUSTER_NODES` when set, unless `customize` points the server at a Redis
    /// of the test's own (another `redis_url`).
    pub async fn start(name: &str, customize: impl FnOnce(&mut Config)) -> TestServer {
        let redis_url = services::redis_url().await;
        let mut config = test_config(&redis_url, &unique_prefix(name));
        config.redis_cluster_nodes = cluster_nodes();
        customize(&mut config);
        if config.redis_url != redis_url {
            config.redis_cluster_nodes = None;
        }
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
    pub async fn redis(&self) -> TestRedis {
        TestRedis::of(&self.config).await
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
        // Two commands, not one pipeline: the keys are in two slots of a Redis Cluster.
        let _: () = redis::Cmd::sadd(keys.concerts(), concert_id)
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::Cmd::hset(
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
            delete_keys_of(&self.config);
        }
    }
}

/// The Redis Cluster to run against instead of `REDIS_URL` (`TEST_REDIS_CLUSTER_NODES`,
/// comma-separated host:port, set by scripts/test.sh's cluster pass), if any.
pub fn cluster_nodes() -> Option<ClusterNodes> {
    let raw = std::env::var("TEST_REDIS_CLUSTER_NODES").ok()?;
    if raw.trim().is_empty() {
        return None;
    }
    Some(
        raw.parse()
            .unwrap_or_else(|err| panic!("TEST_REDIS_CLUSTER_NODES={raw}: {err}")),
    )
}

/// A direct connection to the Redis of a configuration: its one node, or its cluster.
#[derive(Clone)]
pub enum TestRedis {
    Node(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl TestRedis {
    pub async fn of(config: &Config) -> TestRedis {
        match &config.redis_cluster_nodes {
            Some(nodes) => TestRedis::Cluster(
                redis::cluster::ClusterClient::new(nodes.urls())
                    .unwrap()
                    .get_async_connection()
                    .await
                    .unwrap(),
            ),
            None => TestRedis::Node(redis_connection(&config.redis_url).await),
        }
    }
}

impl redis::aio::ConnectionLike for TestRedis {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            TestRedis::Node(conn) => conn.req_packed_command(cmd),
            TestRedis::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            TestRedis::Node(conn) => conn.req_packed_commands(pipeline, offset, count),
            TestRedis::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            TestRedis::Node(conn) => conn.get_db(),
            TestRedis::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Deletes every key under the configuration's prefix: on its one Redis, or on every
/// master of its cluster.
pub fn delete_keys_of(config: &Config) {
    match &config.redis_cluster_nodes {
        Some(nodes) => delete_prefix_on_cluster(nodes, &config.key_prefix),
        None => delete_prefix(&config.redis_url, &config.key_prefix),
    }
}

/// [`delete_prefix`] on each master of a Redis Cluster (found by `CLUSTER SLOTS`), one
/// key per DEL (a DEL of keys in several slots is refused).
pub fn delete_prefix_on_cluster(nodes: &ClusterNodes, prefix: &str) {
    let connect = |url: &str| {
        redis::Client::open(url)
            .ok()?
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()
    };
    let Some(mut seed) = nodes.urls().iter().find_map(|url| connect(url)) else {
        return;
    };
    let Ok(slots) = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query::<Vec<redis::Value>>(&mut seed)
    else {
        return;
    };
    let mut masters: Vec<(String, u16)> = Vec::new();
    for range in slots {
        let redis::Value::Array(parts) = range else {
            continue;
        };
        let Some(redis::Value::Array(node)) = parts.get(2) else {
            continue;
        };
        let (Some(host), Some(port)) = (node.first(), node.get(1)) else {
            continue;
        };
        let (Ok(host), Ok(port)) = (
            redis::from_redis_value::<String>(host.clone()),
            redis::from_redis_value::<u16>(port.clone()),
        ) else {
            continue;
        };
        if !masters.contains(&(host.clone(), port)) {
            masters.push((host, port));
        }
    }
    for (host, port) in masters {
        let Some(mut conn) = connect(&format!("redis://{host}:{port}")) else {
            continue;
        };
        let Ok(keys) = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query::<Vec<String>>(&mut conn)
        else {
            continue;
        };
        for chunk in keys.chunks(500) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.del(key).ignore();
            }
            let _: redis::RedisResult<()> = pipe.query(&mut conn);
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
