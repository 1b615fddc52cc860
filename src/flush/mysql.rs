//! The MySQL sink: one transaction per batch, its inserts sent in one round trip (see
//! `sql.rs`), every insert idempotent on the id the Lua scripts assigned (`ON DUPLICATE
//! KEY UPDATE` a no-op), so a replayed entry inserts nothing and is counted as a
//! duplicate. Statements run on MySQL 8 and MariaDB 10.11.

use std::time::Duration;

use anyhow::Context;
use mysql_async::prelude::*;
use mysql_async::{Pool, TxOpts};

use super::event::Event;
use super::sql;

/// How the reason of a rejected entry starts when its seat is sold to another confirmed
/// reservation already (counted by `outbox_seat_conflicts_total`).
pub const SEAT_CONFLICT: &str = "seat conflict:";

/// How a batch write failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// MySQL refused the data itself (SQLSTATE class 22 or 23): retrying the same entry
    /// cannot succeed; the reason is kept for the dead-letter stream.
    #[error("rejected: {0}")]
    Rejected(String),
    /// MySQL could not be reached, timed out or failed for a reason unrelated to the data.
    #[error(transparent)]
    Unavailable(anyhow::Error),
}

/// What one batch changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Entries whose rows were inserted now.
    pub inserted: u64,
    /// Entries whose rows were already there (replays).
    pub duplicates: u64,
}

/// The pool and the bound on one batch.
#[derive(Clone)]
pub struct MysqlSink {
    pool: Pool,
    timeout: Duration,
}

impl MysqlSink {
    pub fn new(pool: Pool, timeout: Duration) -> MysqlSink {
        MysqlSink { pool, timeout }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Writes the rows of `events` in one transaction, within the configured timeout
    /// (queue events have none: a batch of only those writes nothing).
    #[tracing::instrument(name = "write_batch_to_mysql", skip_all, fields(events = events.len()))]
    pub async fn write(&self, events: &[&Event]) -> Result<Written, SinkError> {
        let events: Vec<&Event> = events.iter().copied().filter(|e| e.has_rows()).collect();
        let events = &events[..];
        if events.is_empty() {
            return Ok(Written::default());
        }
        match tokio::time::timeout(self.timeout, self.write_in_transaction(events)).await {
            Ok(Ok(written)) => Ok(written),
            Ok(Err(err)) => Err(classify(err)),
            Err(_) => Err(SinkError::Unavailable(anyhow::anyhow!(
                "the MySQL batch took longer than {:?}",
                self.timeout
            ))),
        }
    }

    async fn write_in_transaction(&self, events: &[&Event]) -> anyhow::Result<Written> {
        let statements = sql::batch(events);
        let mut conn = self.pool.get_conn().await.context("connecting to MySQL")?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .context("starting the batch transaction")?;
        let result = tx
            .query_iter(statements)
            .await
            .context("inserting the batch")?;
        // The ledger statement comes first: one row per event, 0 affected when present.
        let inserted = result.affected_rows();
        result.drop_result().await.context("inserting the batch")?;
        tx.commit().await.context("committing the batch")?;
        Ok(Written {
            inserted,
            duplicates: (events.len() as u64).saturating_sub(inserted),
        })
    }
}

/// Data errors (SQLSTATE classes 22 "data exception" and 23 "integrity constraint") are
/// the entry's fault; everything else is MySQL's.
fn classify(err: anyhow::Error) -> SinkError {
    let server = err
        .chain()
        .find_map(|cause| match cause.downcast_ref::<mysql_async::Error>() {
            Some(mysql_async::Error::Server(server)) => Some(server),
            _ => None,
        });
    match server {
        Some(s) if s.code == 1048 && s.message.contains("reservation_id") => {
            SinkError::Rejected(format!(
                "{SEAT_CONFLICT} MySQL already has another confirmed reservation of this seat \
                 (UNIQUE schedule_id, seat_no): {} (error {})",
                s.message, s.code
            ))
        }
        Some(s) if s.state.starts_with("22") || s.state.starts_with("23") => {
            SinkError::Rejected(format!(
                "MySQL rejected it: {} (error {}, SQLSTATE {})",
                s.message, s.code, s.state
            ))
        }
        _ => SinkError::Unavailable(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_rejections_and_the_rest_outages() {
        let server = |state: &str| {
            anyhow::Error::new(mysql_async::Error::Server(mysql_async::ServerError {
                code: 1406,
                message: "Data too long".into(),
                state: state.into(),
            }))
            .context("inserting reservations")
        };
        assert!(matches!(classify(server("22001")), SinkError::Rejected(_)));
        assert!(matches!(
            classify(server("HY000")),
            SinkError::Unavailable(_)
        ));
        assert!(matches!(
            classify(anyhow::anyhow!("connection refused")),
            SinkError::Unavailable(_)
        ));
    }
}
