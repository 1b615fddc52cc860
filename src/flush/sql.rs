//! The text of one batch's inserts: three multi-row `INSERT ... ON DUPLICATE KEY UPDATE`
//! statements (the wallet ledger first, then reservations and payments) sent in one round
//! trip, the values written as literals, so no statement is prepared per batch shape.
//! Strings other than plain ids go as hex literals, which read the same whatever the
//! server's `sql_mode` (backslash escapes or not). Runs on MySQL 8 and MariaDB 10.11.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Timelike};

use super::event::{Event, LEDGER_CHARGE, LEDGER_PAYMENT};

/// The largest DATETIME, 9999-12-31 23:59:59.999, plus a millisecond.
const DATETIME_END_MS: u64 = 253_402_300_800_000;

/// The statements writing `events` (those with rows: `Event::has_rows`). The first one
/// writes the ledger, where every such event has exactly one row: its affected-row count
/// is the number of events new to MySQL.
pub fn batch(events: &[&Event]) -> String {
    let mut sql = String::with_capacity(events.len() * 400);
    sql.push_str(
        "INSERT INTO wallet_ledger (ledger_id, user_id, kind, amount, balance_after, \
         idempotency_key, reservation_id, created_at) VALUES ",
    );
    let mut first = true;
    for event in events {
        if !event.has_rows() {
            continue;
        }
        if !std::mem::take(&mut first) {
            sql.push_str(", ");
        }
        match event {
            Event::Reservation(r) => row(
                &mut sql,
                &[
                    Lit::Str(&r.ledger_id),
                    Lit::Num(r.user_id),
                    Lit::Str(LEDGER_PAYMENT),
                    Lit::Num(r.amount),
                    Lit::Num(r.balance_after),
                    Lit::Null,
                    Lit::Str(&r.reservation_id),
                    Lit::Time(r.confirmed_at_ms),
                ],
            ),
            Event::Charge(c) => row(
                &mut sql,
                &[
                    Lit::Str(&c.ledger_id),
                    Lit::Num(c.user_id),
                    Lit::Str(LEDGER_CHARGE),
                    Lit::Num(c.amount),
                    Lit::Num(c.balance_after),
                    c.idempotency_key.as_deref().map_or(Lit::Null, Lit::Str),
                    Lit::Null,
                    Lit::Time(c.charged_at_ms),
                ],
            ),
            Event::Queue(_) => {}
        }
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE ledger_id = ledger_id");

    let reservations: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Reservation(r) => Some(r),
            Event::Charge(_) | Event::Queue(_) => None,
        })
        .collect();
    if reservations.is_empty() {
        return sql;
    }
    sql.push_str(
        "; INSERT INTO reservations (reservation_id, payment_id, user_id, concert_id, \
         schedule_id, seat_no, amount, confirmed_at) VALUES ",
    );
    for (i, r) in reservations.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        row(
            &mut sql,
            &[
                Lit::Str(&r.reservation_id),
                Lit::Str(&r.payment_id),
                Lit::Num(r.user_id),
                Lit::Num(r.concert_id),
                Lit::Num(r.schedule_id),
                Lit::Num(r.seat_no.into()),
                Lit::Num(r.amount),
                Lit::Time(r.confirmed_at_ms),
            ],
        );
    }
    // A replay (same id) changes nothing; another reservation of the same seat (the UNIQUE
    // (schedule_id, seat_no) key) sets the id to NULL, which strict mode refuses (error
    // 1048, SQLSTATE 23000): the entry is rejected, never dropped as a duplicate.
    sql.push_str(
        " ON DUPLICATE KEY UPDATE reservation_id = \
         IF(reservation_id = VALUES(reservation_id), reservation_id, NULL)",
    );
    sql.push_str(
        "; INSERT INTO payments (payment_id, reservation_id, user_id, amount, ledger_id, \
         paid_at) VALUES ",
    );
    for (i, r) in reservations.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        row(
            &mut sql,
            &[
                Lit::Str(&r.payment_id),
                Lit::Str(&r.reservation_id),
                Lit::Num(r.user_id),
                Lit::Num(r.amount),
                Lit::Str(&r.ledger_id),
                Lit::Time(r.confirmed_at_ms),
            ],
        );
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE payment_id = payment_id");
    sql
}

/// One value of a row.
#[derive(Clone, Copy)]
enum Lit<'a> {
    Null,
    Num(u64),
    Str(&'a str),
    /// Milliseconds since the epoch, as a UTC DATETIME(3).
    Time(u64),
}

fn row(sql: &mut String, values: &[Lit<'_>]) {
    sql.push('(');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        literal(sql, *value);
    }
    sql.push(')');
}

fn literal(sql: &mut String, value: Lit<'_>) {
    match value {
        Lit::Null => sql.push_str("NULL"),
        Lit::Num(n) => {
            let _ = write!(sql, "{n}");
        }
        Lit::Str(s) => string(sql, s),
        // A time no DATETIME can hold goes as text MySQL rejects (SQLSTATE 22007), so
        // the entry fails as data, not as an outage.
        Lit::Time(ms) => match datetime(ms) {
            Some(text) => {
                let _ = write!(sql, "'{text}'");
            }
            None => {
                let _ = write!(sql, "'invalid-time-{ms}'");
            }
        },
    }
}

/// Plain ids (letters, digits, `-`, `_`, `.`, `:`) quoted; anything else in hex.
fn string(sql: &mut String, s: &str) {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if plain {
        sql.push('\'');
        sql.push_str(s);
        sql.push('\'');
    } else {
        sql.push_str("X'");
        for b in s.bytes() {
            let _ = write!(sql, "{b:02X}");
        }
        sql.push('\'');
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, or `None` beyond what DATETIME holds.
fn datetime(ms: u64) -> Option<String> {
    if ms >= DATETIME_END_MS {
        return None;
    }
    let t = DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)?;
    // By hand: chrono's `format` parses its pattern on every call (4% of the worker's CPU).
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms % 1000
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flush::event::{ReservationConfirmed, WalletCharged};

    fn reservation(n: u64) -> Event {
        Event::Reservation(ReservationConfirmed {
            reservation_id: format!("r-{n}"),
            payment_id: format!("p-{n}"),
            user_id: 7,
            concert_id: 1,
            schedule_id: 2,
            seat_no: 3,
            amount: 50_000,
            balance_after: 150_000,
            ledger_id: format!("l-{n}"),
            confirmed_at_ms: 1_700_000_000_123,
        })
    }

    fn charge(key: Option<&str>) -> Event {
        Event::Charge(WalletCharged {
            ledger_id: "c-1".into(),
            user_id: 7,
            amount: 1000,
            balance_after: 1000,
            idempotency_key: key.map(str::to_string),
            charged_at_ms: 1,
        })
    }

    #[test]
    fn one_ledger_row_per_event_then_reservations_and_payments() {
        let (r, c) = (reservation(1), charge(None));
        assert_eq!(
            batch(&[&r, &c]),
            "INSERT INTO wallet_ledger (ledger_id, user_id, kind, amount, balance_after, \
             idempotency_key, reservation_id, created_at) VALUES \
             ('l-1', 7, 'PAYMENT', 50000, 150000, NULL, 'r-1', '2023-11-14 22:13:20.123'), \
             ('c-1', 7, 'CHARGE', 1000, 1000, NULL, NULL, '1970-01-01 00:00:00.001') \
             ON DUPLICATE KEY UPDATE ledger_id = ledger_id; \
             INSERT INTO reservations (reservation_id, payment_id, user_id, concert_id, \
             schedule_id, seat_no, amount, confirmed_at) VALUES \
             ('r-1', 'p-1', 7, 1, 2, 3, 50000, '2023-11-14 22:13:20.123') \
             ON DUPLICATE KEY UPDATE reservation_id = \
             IF(reservation_id = VALUES(reservation_id), reservation_id, NULL); \
             INSERT INTO payments (payment_id, reservation_id, user_id, amount, ledger_id, \
             paid_at) VALUES ('p-1', 'r-1', 7, 50000, 'l-1', '2023-11-14 22:13:20.123') \
             ON DUPLICATE KEY UPDATE payment_id = payment_id"
        );
    }

    #[test]
    fn charges_alone_write_the_ledger_only() {
        let c = charge(Some("k-1"));
        let sql = batch(&[&c]);
        assert!(sql.contains("'k-1'"), "{sql}");
        assert!(!sql.contains("reservations"), "{sql}");
        assert_eq!(sql.matches("INSERT").count(), 1);
    }

    #[test]
    fn strings_beyond_plain_ids_go_in_hex() {
        let c = charge(Some("a'b\\c;é"));
        let sql = batch(&[&c]);
        assert!(sql.contains("X'6127625C633BC3A9'"), "{sql}");
        assert!(!sql.contains("a'b"), "{sql}");
    }

    #[test]
    fn times_beyond_datetime_are_sent_as_rejectable_text() {
        assert_eq!(
            datetime(DATETIME_END_MS - 1).as_deref(),
            Some("9999-12-31 23:59:59.999")
        );
        assert_eq!(datetime(DATETIME_END_MS), None);
        let mut sql = String::new();
        literal(&mut sql, Lit::Time(u64::MAX));
        assert_eq!(sql, format!("'invalid-time-{}'", u64::MAX));
    }
}
