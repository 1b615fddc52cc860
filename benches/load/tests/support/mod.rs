//! A concert-queue server for the load tool's tests, started in-process (the engine is a
//! dev-dependency only) on an ephemeral loopback port, against the Redis at REDIS_URL
//! (default 127.0.0.1:6379) under a key prefix of its own, deleted when it is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use concert_queue::Config;
use tokio::sync::oneshot;

/// A concert-queue server on an ephemeral loopback port; stopped and its keys deleted on drop.
pub struct TestServer {
    pub base: String,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    #[allow(dead_code)] // not every test binary uses every helper
    pub async fn start(name: &str) -> TestServer {
        Self::start_with(name, |_| {}).await
    }

    /// A server whose settings `customize` changes from the tests' defaults.
    pub async fn start_with(name: &str, customize: impl FnOnce(&mut Config)) -> TestServer {
        let redis_url = std::env::var("REDIS_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        let mut config = Config {
            bind_addr: "127.0.0.1:0".parse().unwrap(),
            redis_url,
            // Nothing listens there: these scenarios never reach the catalog in MySQL.
            mysql_url: "mysql://root@127.0.0.1:1/cq_unused".into(),
            key_prefix: unique_prefix(name),
            token_secret: "load-tool-test-secret-0123456789".into(),
            // The scenarios send from one address as fast as they can: every limit on
            // that is off unless a test turns it on.
            token_rate_limit_per_sec: 0,
            client_rate_limit_per_sec: 0,
            poll_min_interval_factor: 0.0,
            charges_per_user_per_min: 0,
            activation_tick: Duration::from_millis(20),
            redis_timeout: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(2),
            ..Config::default()
        };
        customize(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(concert_queue::run(listener, config.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            base,
            config,
            shutdown: Some(tx),
        }
    }

    fn redis(&self) -> redis::Connection {
        redis::Client::open(self.config.redis_url.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    /// Registers a concert in Redis the way `seed` does (only what the queue reads).
    pub fn add_concert(&self, concert_id: u64) {
        let keys = concert_queue::store::Keys::new(self.config.key_prefix.clone());
        let _: () = redis::pipe()
            .sadd(keys.concerts(), concert_id)
            .hset(
                keys.concert_meta(concert_id),
                "title",
                format!("Concert {concert_id}"),
            )
            .query(&mut self.redis())
            .unwrap();
    }

    /// Registers a schedule of `concert_id` with seats 1 to `seats` at `price`, as `seed`
    /// writes them to Redis.
    #[allow(dead_code)]
    pub fn add_schedule(&self, concert_id: u64, schedule_id: u64, seats: u32, price: u64) {
        let keys = concert_queue::store::Keys::new(self.config.key_prefix.clone());
        let prices: Vec<(u32, u64)> = (1..=seats).map(|n| (n, price)).collect();
        let _: () = redis::pipe()
            .hset(keys.schedule_concerts(), schedule_id, concert_id)
            .sadd(keys.concert_schedules(concert_id), schedule_id)
            .hset_multiple(keys.schedule(concert_id, schedule_id).seats, &prices)
            .query(&mut self.redis())
            .unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Every key under this server's prefix, and nothing else.
        let Ok(client) = redis::Client::open(self.config.redis_url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.config.key_prefix))
            .query(&mut conn)
            .unwrap_or_default();
        for chunk in keys.chunks(500) {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut conn);
        }
    }
}

/// A key prefix (and directory name) no other test or test run uses.
pub fn unique_prefix(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t:{name}:{}-{n}-{nanos}", std::process::id())
}
