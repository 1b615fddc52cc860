//! The MySQL sink: one transaction per batch, every insert idempotent on the id the Lua
//! scripts assigned (`ON DUPLICATE KEY UPDATE` a no-op), so a replayed entry inserts
//! nothing and is counted as a duplicate. Statements run on MySQL 8 and MariaDB 10.11.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime};
use mysql_async::prelude::*;
use mysql_async::{Pool, TxOpts, Value};

use super::event::{Event, ReservationConfirmed, WalletCharged, LEDGER_CHARGE, LEDGER_PAYMENT};

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

    /// Writes `events` in one transaction, within the configured timeout.
    #[tracing::instrument(name = "write_batch_to_mysql", skip_all, fields(events = events.len()))]
    pub async fn write(&self, events: &[&Event]) -> Result<Written, SinkError> {
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
        let reservations: Vec<&ReservationConfirmed> = events
            .iter()
            .filter_map(|e| match e {
                Event::Reservation(r) => Some(r),
                Event::Charge(_) => None,
            })
            .collect();
        let charges: Vec<&WalletCharged> = events
            .iter()
            .filter_map(|e| match e {
                Event::Charge(c) => Some(c),
                Event::Reservation(_) => None,
            })
            .collect();
        let mut conn = self.pool.get_conn().await.context("connecting to MySQL")?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .context("starting the batch transaction")?;
        let mut inserted = 0;
        if !reservations.is_empty() {
            let rows: Vec<Vec<Value>> = reservations
                .iter()
                .map(|r| {
                    vec![
                        r.reservation_id.clone().into(),
                        r.payment_id.clone().into(),
                        r.user_id.into(),
                        r.concert_id.into(),
                        r.schedule_id.into(),
                        r.seat_no.into(),
                        r.amount.into(),
                        datetime(r.confirmed_at_ms),
                    ]
                })
                .collect();
            tx.exec_drop(
                insert(
                    "reservations (reservation_id, payment_id, user_id, concert_id, schedule_id, seat_no, amount, confirmed_at)",
                    "reservation_id",
                    8,
                    rows.len(),
                ),
                rows.concat(),
            )
            .await
            .context("inserting reservations")?;
            inserted += tx.affected_rows();
            let rows: Vec<Vec<Value>> = reservations
                .iter()
                .map(|r| {
                    vec![
                        r.payment_id.clone().into(),
                        r.reservation_id.clone().into(),
                        r.user_id.into(),
                        r.amount.into(),
                        r.ledger_id.clone().into(),
                        datetime(r.confirmed_at_ms),
                    ]
                })
                .collect();
            tx.exec_drop(
                insert(
                    "payments (payment_id, reservation_id, user_id, amount, ledger_id, paid_at)",
                    "payment_id",
                    6,
                    rows.len(),
                ),
                rows.concat(),
            )
            .await
            .context("inserting payments")?;
            let rows: Vec<Vec<Value>> = reservations
                .iter()
                .map(|r| {
                    ledger_row(
                        &r.ledger_id,
                        r.user_id,
                        LEDGER_PAYMENT,
                        r.amount,
                        r.balance_after,
                        None,
                        Some(&r.reservation_id),
                        r.confirmed_at_ms,
                    )
                })
                .collect();
            insert_ledger(&mut tx, rows).await?;
        }
        if !charges.is_empty() {
            let rows: Vec<Vec<Value>> = charges
                .iter()
                .map(|c| {
                    ledger_row(
                        &c.ledger_id,
                        c.user_id,
                        LEDGER_CHARGE,
                        c.amount,
                        c.balance_after,
                        c.idempotency_key.as_deref(),
                        None,
                        c.charged_at_ms,
                    )
                })
                .collect();
            inserted += insert_ledger(&mut tx, rows).await?;
        }
        tx.commit().await.context("committing the batch")?;
        Ok(Written {
            inserted,
            duplicates: events.len() as u64 - inserted,
        })
    }
}

/// `INSERT INTO <table_and_columns> VALUES (?, ...), ... ON DUPLICATE KEY UPDATE key = key`:
/// a row already there is left as it was and counts 0 affected rows.
fn insert(table_and_columns: &str, key: &str, columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    format!(
        "INSERT INTO {table_and_columns} VALUES {} ON DUPLICATE KEY UPDATE {key} = {key}",
        vec![row; rows].join(", ")
    )
}

#[allow(clippy::too_many_arguments)]
fn ledger_row(
    ledger_id: &str,
    user_id: u64,
    kind: &str,
    amount: u64,
    balance_after: u64,
    idempotency_key: Option<&str>,
    reservation_id: Option<&str>,
    at_ms: u64,
) -> Vec<Value> {
    vec![
        ledger_id.into(),
        user_id.into(),
        kind.into(),
        amount.into(),
        balance_after.into(),
        idempotency_key.into(),
        reservation_id.into(),
        datetime(at_ms),
    ]
}

async fn insert_ledger(
    tx: &mut mysql_async::Transaction<'_>,
    rows: Vec<Vec<Value>>,
) -> anyhow::Result<u64> {
    tx.exec_drop(
        insert(
            "wallet_ledger (ledger_id, user_id, kind, amount, balance_after, idempotency_key, reservation_id, created_at)",
            "ledger_id",
            8,
            rows.len(),
        ),
        rows.concat(),
    )
    .await
    .context("inserting wallet ledger entries")?;
    Ok(tx.affected_rows())
}

/// Milliseconds since the epoch as a UTC DATETIME(3); a value no DATETIME can hold is
/// sent as text MySQL rejects, so the entry fails as data, not as an outage.
fn datetime(ms: u64) -> Value {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map(|t| t.naive_utc())
        .filter(|t: &NaiveDateTime| t.and_utc().timestamp_millis() < 253_402_300_800_000)
        .map(Value::from)
        .unwrap_or_else(|| Value::from(format!("invalid-time-{ms}")))
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
    fn inserts_are_idempotent_multi_row_statements() {
        let sql = insert("t (a, b)", "a", 2, 3);
        assert_eq!(
            sql,
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON DUPLICATE KEY UPDATE a = a"
        );
    }

    #[test]
    fn times_beyond_datetime_are_sent_as_rejectable_text() {
        assert!(matches!(datetime(1_700_000_000_000), Value::Date(..)));
        assert!(matches!(datetime(u64::MAX), Value::Bytes(_)));
    }

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
