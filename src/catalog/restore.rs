//! `concert-queue restore`: rebuilds Redis from MySQL after Redis lost its data. It writes
//! the catalog (as `seed` does), every flushed confirmed reservation (its record and its
//! SOLD seat), each concert's reservation counter, each schedule's first sale and sell-out
//! (what the rankings are computed from), and every wallet (balance, ledger counter, the idempotency answers of the last 24 hours).
//! It refuses to run over a Redis that still holds live state under the prefix, or while
//! any server or flush worker is alive (their heartbeats); while it runs, its maintenance
//! marker makes servers and workers that start meanwhile refuse writes.
//! The key layout is the booking scripts' (docs/architecture.md, `Keys`).

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context};
use mysql_async::prelude::*;

use super::file::{CatalogFile, Concert, Schedule, Seat};
use crate::booking::record::{PaymentRecord, ReservationRecord};
use crate::store::{presence, Store};

/// How long a charge's idempotency answer is kept, as the booking scripts keep it.
const IDEMPOTENCY_TTL_MS: u64 = crate::booking::RETENTION.as_millis() as u64;
/// Commands per pipeline.
const CHUNK: usize = 1000;

/// What a restore wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub concerts: usize,
    pub reservations: usize,
    pub sold_out_schedules: usize,
    pub wallets: usize,
    pub idempotency_keys: usize,
}

/// One confirmed reservation as MySQL has it.
struct Confirmed {
    reservation_id: String,
    payment_id: String,
    user_id: u64,
    concert_id: u64,
    schedule_id: u64,
    seat_no: u32,
    amount: u64,
    confirmed_at_ms: u64,
    ledger_id: String,
    balance_after: u64,
}

/// One wallet ledger entry.
struct LedgerEntry {
    ledger_id: String,
    user_id: u64,
    kind: String,
    amount: u64,
    balance_after: u64,
    idempotency_key: Option<String>,
    created_at_ms: u64,
}

/// The `n` of an id `<letter><a>-<n>` (`R1-7`, `L42-3`).
fn sequence_of(id: &str) -> Option<u64> {
    id.rsplit_once('-')?.1.parse().ok()
}

/// Refuses when anything but empty outbox streams (a worker started before the restore
/// creates them) exists under the prefix (on every master of a Redis Cluster).
async fn ensure_empty(store: &Store) -> anyhow::Result<()> {
    let pattern = format!("{}:*", store.keys.prefix());
    let found = store
        .scan_keys(&pattern)
        .await
        .context("scanning Redis for live state")?;
    for key in found {
        if key == store.keys.maintenance() {
            continue;
        }
        if key.ends_with(":outbox") {
            let len: u64 = store
                .query(redis::cmd("XLEN").arg(&key))
                .await
                .context("reading an outbox's length")?;
            if len == 0 {
                continue;
            }
        }
        bail!(
            "Redis still holds live state under {pattern} (found {key}); restore only rebuilds a Redis that lost its data"
        );
    }
    Ok(())
}

/// The catalog as MySQL has it.
async fn catalog_from_mysql(conn: &mut mysql_async::Conn) -> anyhow::Result<CatalogFile> {
    let concerts: Vec<(u64, String, String, String)> = conn
        .query("SELECT id, title, artist, venue FROM concerts ORDER BY id")
        .await
        .context("reading concerts")?;
    let schedules: Vec<(u64, u64, chrono::NaiveDateTime)> = conn
        .query("SELECT id, concert_id, starts_at FROM schedules ORDER BY id")
        .await
        .context("reading schedules")?;
    let seats: Vec<(u64, u32, String, u64)> = conn
        .query("SELECT schedule_id, seat_no, grade, price FROM seats ORDER BY schedule_id, seat_no")
        .await
        .context("reading seats")?;
    let mut seats_of: HashMap<u64, Vec<Seat>> = HashMap::new();
    for (schedule_id, seat_no, grade, price) in seats {
        seats_of.entry(schedule_id).or_default().push(Seat {
            seat_no,
            grade,
            price,
        });
    }
    let mut schedules_of: HashMap<u64, Vec<Schedule>> = HashMap::new();
    for (id, concert_id, starts_at) in schedules {
        schedules_of.entry(concert_id).or_default().push(Schedule {
            id,
            starts_at: starts_at.and_utc(),
            seats: seats_of.remove(&id).unwrap_or_default(),
        });
    }
    Ok(CatalogFile {
        concerts: concerts
            .into_iter()
            .map(|(id, title, artist, venue)| Concert {
                id,
                title,
                artist,
                venue,
                schedules: schedules_of.remove(&id).unwrap_or_default(),
            })
            .collect(),
    })
}

fn millis(t: chrono::NaiveDateTime) -> u64 {
    t.and_utc().timestamp_millis().max(0) as u64
}

type ReservationRow = (
    String,
    String,
    u64,
    u64,
    u64,
    u32,
    u64,
    chrono::NaiveDateTime,
    String,
    u64,
);

async fn confirmed_reservations(conn: &mut mysql_async::Conn) -> anyhow::Result<Vec<Confirmed>> {
    let rows: Vec<ReservationRow> = conn
        .query(
            "SELECT r.reservation_id, r.payment_id, r.user_id, r.concert_id, r.schedule_id,
                    r.seat_no, r.amount, r.confirmed_at, p.ledger_id, l.balance_after
               FROM reservations r
               JOIN payments p ON p.reservation_id = r.reservation_id
               JOIN wallet_ledger l ON l.ledger_id = p.ledger_id
              ORDER BY r.confirmed_at, r.reservation_id",
        )
        .await
        .context("reading confirmed reservations")?;
    Ok(rows
        .into_iter()
        .map(|r| Confirmed {
            reservation_id: r.0,
            payment_id: r.1,
            user_id: r.2,
            concert_id: r.3,
            schedule_id: r.4,
            seat_no: r.5,
            amount: r.6,
            confirmed_at_ms: millis(r.7),
            ledger_id: r.8,
            balance_after: r.9,
        })
        .collect())
}

type LedgerRow = (
    String,
    u64,
    String,
    u64,
    u64,
    Option<String>,
    chrono::NaiveDateTime,
);

async fn ledger(conn: &mut mysql_async::Conn) -> anyhow::Result<Vec<LedgerEntry>> {
    let rows: Vec<LedgerRow> = conn
        .query(
            "SELECT ledger_id, user_id, kind, amount, balance_after, idempotency_key, created_at
               FROM wallet_ledger",
        )
        .await
        .context("reading the wallet ledger")?;
    Ok(rows
        .into_iter()
        .map(|r| LedgerEntry {
            ledger_id: r.0,
            user_id: r.1,
            kind: r.2,
            amount: r.3,
            balance_after: r.4,
            idempotency_key: r.5,
            created_at_ms: millis(r.6),
        })
        .collect())
}

/// Sends `pipe` and starts a new one once it holds `CHUNK` commands.
async fn send_if_full(store: &Store, pipe: &mut redis::Pipeline) -> anyhow::Result<()> {
    if pipe.len() >= CHUNK {
        send(store, pipe).await?;
    }
    Ok(())
}

async fn send(store: &Store, pipe: &mut redis::Pipeline) -> anyhow::Result<()> {
    if pipe.is_empty() {
        return Ok(());
    }
    // One pipeline on a single Redis; on a Redis Cluster each command to its slot's owner.
    store
        .write_all(pipe.cmd_iter().cloned().collect())
        .await
        .context("writing restored state to Redis")?;
    *pipe = redis::pipe();
    Ok(())
}

/// Rebuilds the Redis state of `store`'s prefix from MySQL; see the module docs.
pub async fn restore(store: &Store, pool: &mysql_async::Pool) -> anyhow::Result<Restored> {
    ensure_nobody_alive(store).await?;
    if !presence::begin_maintenance(store).await? {
        bail!(
            "another restore is running ({} is set); restore changed nothing",
            store.keys.maintenance()
        );
    }
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let marker = {
        let store = store.clone();
        tokio::spawn(async move {
            let every = presence::MAINTENANCE_TTL / 3;
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                if let Err(err) = presence::extend_maintenance(&store).await {
                    tracing::warn!(error = %err, "cannot extend the maintenance marker");
                }
            }
        })
    };
    // A server or worker that started just before the marker was set: refuse all the same.
    let restored = match ensure_nobody_alive(store).await {
        Ok(()) => rebuild(store, pool).await,
        Err(err) => Err(err),
    };
    let _ = stop.send(true);
    let _ = marker.await;
    presence::end_maintenance(store)
        .await
        .context("removing the maintenance marker")?;
    restored
}

/// Refuses while any server or flush worker has a live heartbeat: they would write
/// over what restore rebuilds (a seat sold before restore marks it SOLD, a reservation id
/// taken from a counter not restored yet).
async fn ensure_nobody_alive(store: &Store) -> anyhow::Result<()> {
    let alive = presence::alive(store)
        .await
        .context("looking for live servers and workers")?;
    if !alive.is_empty() {
        bail!(
            "{} server(s) or flush worker(s) are running against this Redis ({}); stop them \
             all first (a stopped one counts as alive for up to {} s). Restore changed nothing",
            alive.len(),
            alive.join(", "),
            presence::HEARTBEAT_TTL.as_secs()
        );
    }
    Ok(())
}

/// The rebuild itself, once nobody else is writing and the marker is set.
async fn rebuild(store: &Store, pool: &mysql_async::Pool) -> anyhow::Result<Restored> {
    ensure_empty(store).await?;
    let mut conn = pool.get_conn().await.context("connecting to MySQL")?;
    let catalog = catalog_from_mysql(&mut conn).await?;
    let reservations = confirmed_reservations(&mut conn).await?;
    let entries = ledger(&mut conn).await?;
    drop(conn);
    let now_ms = store.now_ms().await.context("reading the Redis clock")?;

    super::seed::seed_redis(store, &catalog).await?;
    let keys = &store.keys;
    let mut restored = Restored {
        concerts: catalog.concerts.len(),
        ..Restored::default()
    };

    // Reservations, sold seats, counters, sale times.
    let seat_count: HashMap<u64, usize> = catalog
        .concerts
        .iter()
        .flat_map(|c| &c.schedules)
        .map(|s| (s.id, s.seats.len()))
        .collect();
    let mut pipe = redis::pipe();
    let mut last_seq: HashMap<u64, u64> = HashMap::new();
    // schedule -> (concert, sold, first sale ms, last sale ms)
    let mut schedules: BTreeMap<u64, (u64, usize, u64, u64)> = BTreeMap::new();
    for r in &reservations {
        pipe.hset(
            keys.schedule(r.concert_id, r.schedule_id).sold,
            r.seat_no,
            &r.reservation_id,
        )
        .ignore();
        let record = ReservationRecord {
            id: r.reservation_id.clone(),
            user_id: r.user_id,
            concert_id: r.concert_id,
            schedule_id: r.schedule_id,
            seat_no: r.seat_no.into(),
            price: r.amount,
            status: "CONFIRMED".into(),
            // MySQL does not keep the hold's times: the confirmation time stands in.
            held_at_ms: r.confirmed_at_ms,
            expires_ms: r.confirmed_at_ms,
            payment: Some(PaymentRecord {
                payment_id: r.payment_id.clone(),
                ledger_id: r.ledger_id.clone(),
                balance_after: r.balance_after,
                confirmed_at_ms: r.confirmed_at_ms,
            }),
        };
        pipe.hset_multiple(
            keys.reservation(r.concert_id, &r.reservation_id),
            &record.to_fields(),
        )
        .ignore();
        send_if_full(store, &mut pipe).await?;
        if let Some(n) = sequence_of(&r.reservation_id) {
            let seq = last_seq.entry(r.concert_id).or_default();
            *seq = (*seq).max(n);
        }
        let s = schedules
            .entry(r.schedule_id)
            .or_insert((r.concert_id, 0, u64::MAX, 0));
        s.1 += 1;
        s.2 = s.2.min(r.confirmed_at_ms);
        s.3 = s.3.max(r.confirmed_at_ms);
    }
    for (concert, seq) in last_seq {
        pipe.set(keys.reservation_seq(concert), seq).ignore();
    }
    for (schedule, (concert, sold, first, last)) in schedules {
        pipe.hset(keys.schedule(concert, schedule).info, "firstSaleMs", first)
            .ignore();
        if seat_count
            .get(&schedule)
            .is_some_and(|&n| n > 0 && sold >= n)
        {
            pipe.hset(keys.schedule(concert, schedule).info, "soldOutMs", last)
                .ignore();
            restored.sold_out_schedules += 1;
        }
        send_if_full(store, &mut pipe).await?;
    }
    restored.reservations = reservations.len();

    // Wallets: the balance from the ledger rows MySQL has, in order (wallet_balance), the
    // ledger counter at its highest, and the idempotency answers still within their 24 hours.
    let mut rows: HashMap<u64, Vec<WalletRow>> = HashMap::new();
    for e in &entries {
        rows.entry(e.user_id).or_default().push(WalletRow {
            seq: sequence_of(&e.ledger_id).unwrap_or(0),
            is_charge: e.kind == crate::flush::event::LEDGER_CHARGE,
            amount: e.amount,
            balance_after: e.balance_after,
        });
        let age = now_ms.saturating_sub(e.created_at_ms);
        if let (Some(key), "CHARGE", true) = (
            &e.idempotency_key,
            e.kind.as_str(),
            age < IDEMPOTENCY_TTL_MS,
        ) {
            let idem = keys.charge_idempotency(e.user_id, key);
            pipe.hset_multiple(
                &idem,
                &[
                    ("amount", e.amount.to_string()),
                    ("balance", e.balance_after.to_string()),
                    ("ledgerId", e.ledger_id.clone()),
                ],
            )
            .ignore();
            pipe.pexpire(&idem, (IDEMPOTENCY_TTL_MS - age) as i64)
                .ignore();
            // The user's index of keys by age, which bounds them (lua/charge_wallet.lua).
            let index = keys.charge_idempotency_index(e.user_id);
            pipe.zadd(&index, key, e.created_at_ms).ignore();
            pipe.pexpire(&index, IDEMPOTENCY_TTL_MS as i64).ignore();
            restored.idempotency_keys += 1;
        }
        send_if_full(store, &mut pipe).await?;
    }
    let wallets: Vec<(u64, u64, u64)> = rows
        .into_iter()
        .map(|(user, mut rows)| {
            rows.sort_by_key(|r| r.seq);
            let seq = rows.last().map_or(0, |r| r.seq);
            (user, seq, wallet_balance(&rows))
        })
        .collect();
    for (user, seq, balance) in &wallets {
        pipe.hset_multiple(
            keys.wallet(*user),
            &[
                ("balance", balance.to_string()),
                ("ledgerSeq", seq.to_string()),
            ],
        )
        .ignore();
        send_if_full(store, &mut pipe).await?;
    }
    restored.wallets = wallets.len();
    send(store, &mut pipe).await?;
    Ok(restored)
}

/// One wallet ledger row, as [`wallet_balance`] reads it.
#[derive(Clone, Copy, Debug)]
struct WalletRow {
    /// The `n` of its ledger id `L<user>-<n>`: the order the wallet script wrote them in.
    seq: u64,
    is_charge: bool,
    amount: u64,
    balance_after: u64,
}

/// A wallet's balance from the ledger rows MySQL has, in ledger order. While the rows run
/// on without a gap from the first, each row's `balance_after` is exact (every entry before
/// it is there). After a gap (entries that never reached MySQL: with several flush workers
/// batches commit out of order, and Redis may have lost some), a row's `balance_after`
/// counts the missing entries too, so from there on each row's own amount is added (a
/// charge) or taken (a payment) instead, never below zero. The result is the balance as if
/// the missing entries had never happened; what they did is unknowable from MySQL.
fn wallet_balance(rows: &[WalletRow]) -> u64 {
    let mut balance = 0u64;
    let mut expected = 1;
    let mut unbroken = true;
    for row in rows {
        unbroken &= row.seq == expected;
        expected = row.seq + 1;
        balance = match (unbroken, row.is_charge) {
            (true, _) => row.balance_after,
            (false, true) => balance.saturating_add(row.amount),
            (false, false) => balance.saturating_sub(row.amount),
        };
    }
    balance
}

#[cfg(test)]
mod tests {
    use super::{wallet_balance, WalletRow};

    fn row(seq: u64, is_charge: bool, amount: u64, balance_after: u64) -> WalletRow {
        WalletRow {
            seq,
            is_charge,
            amount,
            balance_after,
        }
    }

    #[test]
    fn a_wallet_balance_follows_its_ledger_rows_in_order() {
        // Every row there: the last balance_after.
        let all = [
            row(1, true, 500, 500),
            row(2, false, 200, 300),
            row(3, true, 50, 350),
        ];
        assert_eq!(wallet_balance(&all), 350);
        // Row 2 (a charge of 1000) never reached MySQL; row 3's balance_after counts it,
        // which the highest row's balance_after (the old rule) would have restored.
        let gap = [row(1, true, 500, 500), row(3, false, 200, 1300)];
        assert_eq!(wallet_balance(&gap), 300);
        // A payment whose charge is missing cannot take the balance below zero.
        let orphan = [row(2, false, 200, 300)];
        assert_eq!(wallet_balance(&orphan), 0);
        let orphan_then_charge = [row(2, false, 200, 300), row(3, true, 100, 400)];
        assert_eq!(wallet_balance(&orphan_then_charge), 100);
        assert_eq!(wallet_balance(&[]), 0);
    }

    #[test]
    fn ids_end_in_their_sequence() {
        assert_eq!(super::sequence_of("R1-7"), Some(7));
        assert_eq!(super::sequence_of("L42-13"), Some(13));
        assert_eq!(super::sequence_of("odd"), None);
    }
}
