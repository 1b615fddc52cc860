//! `seed`: loads a catalog file into MySQL and Redis. Running it twice changes nothing.

use anyhow::Context;
use mysql_async::prelude::*;

use super::CatalogFile;
use crate::store::Store;

/// Writes the catalog to MySQL (upserts, in one transaction).
pub async fn seed_mysql(pool: &mysql_async::Pool, catalog: &CatalogFile) -> anyhow::Result<()> {
    let mut conn = pool.get_conn().await.context("connecting to MySQL")?;
    let mut tx = conn
        .start_transaction(Default::default())
        .await
        .context("starting the seed transaction")?;
    for concert in &catalog.concerts {
        tx.exec_drop(
            "INSERT INTO concerts (id, title, artist, venue) VALUES (?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE title = VALUES(title), artist = VALUES(artist), venue = VALUES(venue)",
            (concert.id, &concert.title, &concert.artist, &concert.venue),
        )
        .await
        .with_context(|| format!("writing concert {}", concert.id))?;
        for schedule in &concert.schedules {
            tx.exec_drop(
                "INSERT INTO schedules (id, concert_id, starts_at) VALUES (?, ?, ?)
                 ON DUPLICATE KEY UPDATE concert_id = VALUES(concert_id), starts_at = VALUES(starts_at)",
                (
                    schedule.id,
                    concert.id,
                    schedule.starts_at.naive_utc(),
                ),
            )
            .await
            .with_context(|| format!("writing schedule {}", schedule.id))?;
            if schedule.seats.is_empty() {
                continue;
            }
            let placeholders = vec!["(?, ?, ?, ?)"; schedule.seats.len()].join(", ");
            let params: Vec<mysql_async::Value> = schedule
                .seats
                .iter()
                .flat_map(|seat| {
                    [
                        schedule.id.into(),
                        seat.seat_no.into(),
                        seat.grade.as_str().into(),
                        seat.price.into(),
                    ]
                })
                .collect();
            tx.exec_drop(
                format!(
                    "INSERT INTO seats (schedule_id, seat_no, grade, price) VALUES {placeholders}
                     ON DUPLICATE KEY UPDATE grade = VALUES(grade), price = VALUES(price)"
                ),
                params,
            )
            .await
            .with_context(|| format!("writing the seats of schedule {}", schedule.id))?;
        }
    }
    tx.commit().await.context("committing the seed")?;
    Ok(())
}

/// Writes what the hot path needs to Redis: the concert list, each concert's record, each
/// schedule's seat map (seat -> price) and the schedule -> concert mapping. Only sets
/// values, so running it again (even on a live system) changes nothing.
pub async fn seed_redis(store: &Store, catalog: &CatalogFile) -> anyhow::Result<()> {
    let mut cmds = Vec::new();
    for concert in &catalog.concerts {
        for schedule in &concert.schedules {
            cmds.push(redis::Cmd::hset(
                store.keys.schedule_concerts(),
                schedule.id,
                concert.id,
            ));
            cmds.push(redis::Cmd::sadd(
                store.keys.concert_schedules(concert.id),
                schedule.id,
            ));
            let prices: Vec<(u32, u64)> = schedule
                .seats
                .iter()
                .map(|seat| (seat.seat_no, seat.price))
                .collect();
            if !prices.is_empty() {
                cmds.push(redis::Cmd::hset_multiple(
                    store.keys.schedule(concert.id, schedule.id).seats,
                    &prices,
                ));
            }
        }
        cmds.push(redis::Cmd::sadd(store.keys.concerts(), concert.id));
        cmds.push(redis::Cmd::hset_multiple(
            store.keys.concert_meta(concert.id),
            &[
                ("id", concert.id.to_string()),
                ("title", concert.title.clone()),
                ("artist", concert.artist.clone()),
                ("venue", concert.venue.clone()),
            ],
        ));
    }
    // One pipeline on a single Redis; on a cluster, the keys of many slots one by one.
    store
        .write_all(cmds)
        .await
        .map_err(|err| anyhow::anyhow!("writing the catalog to Redis: {err}"))?;
    Ok(())
}
