//! Where the tests find Redis, MySQL and Kafka: the environment (REDIS_URL, MYSQL_URL,
//! KAFKA_BROKERS) or the local defaults; with the `containers` feature, and when none is
//! given and a Docker engine answers, testcontainers starts them instead.

use tokio::sync::OnceCell;

pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306";
pub const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:9092";

fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The Redis every test shares (each under its own key prefix).
pub async fn redis_url() -> String {
    static URL: OnceCell<String> = OnceCell::const_new();
    URL.get_or_init(|| async {
        if let Some(url) = from_env("REDIS_URL") {
            return url;
        }
        #[cfg(feature = "containers")]
        if let Some(url) = containers::redis().await {
            return url;
        }
        DEFAULT_REDIS_URL.to_string()
    })
    .await
    .clone()
}

/// The MySQL server URL without a database (each test creates its own).
pub async fn mysql_server_url() -> String {
    static URL: OnceCell<String> = OnceCell::const_new();
    URL.get_or_init(|| async {
        if let Some(url) = from_env("MYSQL_URL") {
            return strip_database(&url);
        }
        #[cfg(feature = "containers")]
        if let Some(url) = containers::mysql().await {
            return url;
        }
        DEFAULT_MYSQL_URL.to_string()
    })
    .await
    .clone()
}

/// The Kafka bootstrap servers.
pub async fn kafka_brokers() -> String {
    static URL: OnceCell<String> = OnceCell::const_new();
    URL.get_or_init(|| async {
        if let Some(url) = from_env("KAFKA_BROKERS") {
            return url;
        }
        #[cfg(feature = "containers")]
        if let Some(url) = containers::kafka().await {
            return url;
        }
        DEFAULT_KAFKA_BROKERS.to_string()
    })
    .await
    .clone()
}

/// `mysql://u@h:p/db?x` -> `mysql://u@h:p`.
pub fn strip_database(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

#[cfg(feature = "containers")]
mod containers {
    //! testcontainers-backed services, started once per test binary and kept for its life.
    use std::sync::OnceLock;

    use testcontainers::runners::AsyncRunner;
    use testcontainers::ContainerAsync;
    use testcontainers_modules::{kafka::apache::Kafka, mysql::Mysql, redis::Redis};

    fn engine_answers() -> bool {
        std::process::Command::new("docker")
            .arg("info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    static REDIS: OnceLock<ContainerAsync<Redis>> = OnceLock::new();
    static MYSQL: OnceLock<ContainerAsync<Mysql>> = OnceLock::new();
    static KAFKA: OnceLock<ContainerAsync<Kafka>> = OnceLock::new();

    pub async fn redis() -> Option<String> {
        if !engine_answers() {
            return None;
        }
        let container = Redis::default().start().await.ok()?;
        let port = container.get_host_port_ipv4(6379).await.ok()?;
        let _ = REDIS.set(container);
        Some(format!("redis://127.0.0.1:{port}"))
    }

    pub async fn mysql() -> Option<String> {
        if !engine_answers() {
            return None;
        }
        let container = Mysql::default().start().await.ok()?;
        let port = container.get_host_port_ipv4(3306).await.ok()?;
        let _ = MYSQL.set(container);
        Some(format!("mysql://root@127.0.0.1:{port}"))
    }

    pub async fn kafka() -> Option<String> {
        if !engine_answers() {
            return None;
        }
        let container = Kafka::default().start().await.ok()?;
        let port = container
            .get_host_port_ipv4(testcontainers_modules::kafka::apache::KAFKA_PORT)
            .await
            .ok()?;
        let _ = KAFKA.set(container);
        Some(format!("127.0.0.1:{port}"))
    }
}
