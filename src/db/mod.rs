//! MySQL: the pool (creating the database when missing) and the schema migrations.
//! Every statement is written for both MySQL 8 and MariaDB 10.11.

use anyhow::Context;
use mysql_async::prelude::*;
use mysql_async::{Opts, OptsBuilder, Pool};

/// Migrations in order: (version, name, SQL). Each is idempotent (`IF NOT EXISTS`), but
/// for 3's index change, which runs once (recorded in `schema_migrations`).
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "catalog", include_str!("migrations/0001_catalog.sql")),
    (
        2,
        "outbox_sinks",
        include_str!("migrations/0002_outbox_sinks.sql"),
    ),
    (
        3,
        "unique_seat_sales",
        include_str!("migrations/0003_unique_seat_sales.sql"),
    ),
];

/// Opens a pool on `url`, creating its database first if it does not exist.
pub async fn connect(url: &str) -> anyhow::Result<Pool> {
    let opts = Opts::from_url(url).with_context(|| format!("parsing MYSQL_URL {url}"))?;
    if let Some(db) = opts.db_name() {
        if !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            anyhow::bail!("database name {db:?} must be letters, digits and underscores");
        }
        let server = Pool::new(OptsBuilder::from_opts(opts.clone()).db_name(None::<String>));
        let mut conn = server.get_conn().await.context("connecting to MySQL")?;
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4"
        ))
        .await
        .context("creating the database")?;
        drop(conn);
        server
            .disconnect()
            .await
            .context("closing the bootstrap connection")?;
    }
    // Strict on every table whatever the server's default, so a value MySQL would otherwise
    // coerce (a NULL id: a seat sold twice, flush/sql.rs) is refused.
    let strict = OptsBuilder::from_opts(opts).init(vec![
        "SET SESSION sql_mode = TRIM(BOTH ',' FROM CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'))",
    ]);
    Ok(Pool::new(strict))
}

/// How long the server waits between attempts to migrate an unreachable MySQL.
const MIGRATION_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Creates the database and applies the migrations once MySQL answers, retrying until it
/// does or `stop` flips to true. The server serves meanwhile (catalog routes answer 503).
pub async fn migrate_when_reachable(
    url: String,
    timeout: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut warned = false;
    loop {
        let attempt = async {
            let pool = connect(&url).await?;
            let migrated = migrate(&pool).await;
            let _ = pool.disconnect().await;
            migrated
        };
        let outcome = tokio::select! {
            _ = stop.changed() => return,
            outcome = tokio::time::timeout(timeout * 5, attempt) => outcome,
        };
        match outcome {
            Ok(Ok(())) => return,
            Ok(Err(err)) if !warned => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "MySQL migrations not applied yet; retrying"
                )
            }
            Err(_) if !warned => tracing::warn!("MySQL did not answer; migrations will be retried"),
            _ => {}
        }
        warned = true;
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(MIGRATION_RETRY) => {}
        }
    }
}

/// How long a migrator waits for another one (a server or a command starting at the same
/// moment) to finish.
const MIGRATION_LOCK_WAIT_SECS: u32 = 60;

/// Applies every migration not yet recorded in `schema_migrations`, one migrator at a time
/// per database (a named lock, `GET_LOCK`, held by this connection): servers and commands
/// that start together never run the same migration twice.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get_conn().await.context("connecting to MySQL")?;
    let locked: Option<i64> = conn
        .query_first(format!(
            "SELECT GET_LOCK(CONCAT('cq_migrate_', SHA1(DATABASE())), {MIGRATION_LOCK_WAIT_SECS})"
        ))
        .await
        .context("taking the migration lock")?
        .flatten();
    anyhow::ensure!(
        locked == Some(1),
        "another migrator held the migration lock for {MIGRATION_LOCK_WAIT_SECS} s"
    );
    let migrated = apply_migrations(&mut conn).await;
    let _ = conn
        .query_drop("SELECT RELEASE_LOCK(CONCAT('cq_migrate_', SHA1(DATABASE())))")
        .await;
    migrated
}

/// [`migrate`]'s work, under its lock.
async fn apply_migrations(conn: &mut mysql_async::Conn) -> anyhow::Result<()> {
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
           version INT UNSIGNED NOT NULL PRIMARY KEY,
           name VARCHAR(100) NOT NULL,
           applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
         ) ENGINE=InnoDB",
    )
    .await
    .context("creating schema_migrations")?;
    let applied: Vec<u32> = conn
        .query("SELECT version FROM schema_migrations")
        .await
        .context("reading schema_migrations")?;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        for statement in statements(sql) {
            conn.query_drop(statement)
                .await
                .with_context(|| format!("migration {version} ({name})"))?;
        }
        conn.exec_drop(
            "INSERT IGNORE INTO schema_migrations (version, name) VALUES (?, ?)",
            (version, name),
        )
        .await
        .with_context(|| format!("recording migration {version}"))?;
        tracing::info!(version, name, "migration applied");
    }
    Ok(())
}

/// Splits a migration file into statements (`;` at the end of a line ends one).
fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    let body: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_split_into_statements() {
        let n = super::statements(super::MIGRATIONS[0].2).count();
        assert_eq!(n, 3);
        let n = super::statements(super::MIGRATIONS[1].2).count();
        assert_eq!(n, 3);
        let n = super::statements(super::MIGRATIONS[2].2).count();
        assert_eq!(n, 4);
    }
}
