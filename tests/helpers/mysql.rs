//! A private MySQL database per test (`cqt_<unique>`), dropped when the guard goes.

use mysql_async::prelude::*;

use super::services;

pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates the database and applies the migrations.
    pub async fn create(tag: &str) -> TestDatabase {
        let db = Self::reserve(tag).await;
        let pool = concert_queue::db::connect(&db.url)
            .await
            .expect("MySQL answers");
        concert_queue::db::migrate(&pool)
            .await
            .expect("migrations apply");
        pool.disconnect().await.unwrap();
        db
    }

    /// A fresh database name and URL, not created yet (the server under test may create
    /// it); dropped all the same.
    pub async fn reserve(tag: &str) -> TestDatabase {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("cqt_{tag}_{}_{n}_{nanos}", std::process::id());
        let server_url = services::mysql_server_url().await;
        let url = format!("{server_url}/{name}");
        TestDatabase {
            name,
            url,
            server_url,
        }
    }

    pub fn pool(&self) -> mysql_async::Pool {
        mysql_async::Pool::new(self.url.as_str())
    }

    /// Runs one statement against this database.
    pub async fn exec(&self, sql: &str) {
        let pool = self.pool();
        let mut conn = pool.get_conn().await.unwrap();
        conn.query_drop(sql).await.unwrap();
        drop(conn);
        pool.disconnect().await.unwrap();
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        drop_database_blocking(&self.server_url, &self.name);
    }
}

/// Drops database `name` on `server_url`, from a destructor: the test's runtime may be
/// shutting down, so the async work runs on a thread and runtime of its own.
pub fn drop_database_blocking(server_url: &str, name: &str) {
    let (server_url, name) = (server_url.to_string(), name.to_string());
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = mysql_async::Pool::new(server_url.as_str());
            if let Ok(mut conn) = pool.get_conn().await {
                let _ = conn
                    .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await;
            }
            let _ = pool.disconnect().await;
        });
    })
    .join();
}
