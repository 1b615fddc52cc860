//! `seed` loads the demo catalog into MySQL and Redis, and running it twice changes nothing.

use concert_queue::catalog::{seed, CatalogFile};
use concert_queue::{db, store::Store};
use mysql_async::prelude::*;

#[tokio::test]
async fn seeding_twice_loads_the_demo_catalog_once() {
    let prefix = crate::helpers::unique_prefix("seed");
    let database = format!("cqt_seed_{}", std::process::id());
    let mysql_url = format!(
        "{}/{database}",
        crate::helpers::services::mysql_server_url().await
    );
    let redis_url = crate::helpers::services::redis_url().await;
    let catalog = CatalogFile::read(std::path::Path::new("bench-data/catalog.json")).unwrap();
    assert_eq!(catalog.concerts.len(), 10);
    assert_eq!(catalog.seat_count(), 5000);

    let pool = db::connect(&mysql_url).await.unwrap();
    let store = Store::connect(&redis_url, &prefix, std::time::Duration::from_secs(2), 0)
        .await
        .unwrap();
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        db::migrate(&pool).await.unwrap();
        seed::seed_mysql(&pool, &catalog).await.unwrap();
        seed::seed_redis(&store, &catalog).await.unwrap();
        let mut conn = pool.get_conn().await.unwrap();
        let counts: (u64, u64, u64, u64) = conn
            .query_first(
                "SELECT (SELECT COUNT(*) FROM concerts), (SELECT COUNT(*) FROM schedules),
                        (SELECT COUNT(*) FROM seats), (SELECT SUM(price) FROM seats)",
            )
            .await
            .unwrap()
            .unwrap();
        let schedule_ids: Vec<u64> = conn
            .query("SELECT id FROM schedules WHERE concert_id = 3 ORDER BY id")
            .await
            .unwrap();
        let concerts: Vec<u64> = store
            .query(redis::cmd("SMEMBERS").arg(store.keys.concerts()))
            .await
            .unwrap();
        let title: String = store
            .query(
                redis::cmd("HGET")
                    .arg(store.keys.concert_meta(1))
                    .arg("title"),
            )
            .await
            .unwrap();
        let seat_map: std::collections::BTreeMap<u32, u64> = store
            .query(redis::cmd("HGETALL").arg(store.keys.schedule(3, 21).seats))
            .await
            .unwrap();
        let concert_of_21: u64 = store
            .query(
                redis::cmd("HGET")
                    .arg(store.keys.schedule_concerts())
                    .arg(21),
            )
            .await
            .unwrap();
        let schedules_of_3: Vec<u64> = store
            .query(redis::cmd("SMEMBERS").arg(store.keys.concert_schedules(3)))
            .await
            .unwrap();
        snapshots.push((
            counts,
            schedule_ids,
            concerts.len(),
            title,
            (seat_map, concert_of_21, schedules_of_3.len()),
        ));
    }
    let (counts, schedule_ids, concerts, title, (seat_map, concert_of_21, schedules_of_3)) =
        &snapshots[0];
    assert_eq!(
        seat_map.len(),
        50,
        "each schedule's seat map has its 50 seats"
    );
    assert!(seat_map.values().all(|&price| price > 0));
    assert_eq!(*concert_of_21, 3);
    assert_eq!(*schedules_of_3, 10);
    assert_eq!((counts.0, counts.1, counts.2), (10, 100, 5000));
    assert!(counts.3 > 0);
    assert_eq!(
        schedule_ids,
        &(21..=30).collect::<Vec<u64>>(),
        "concert c has 10(c-1)+1..10c"
    );
    assert_eq!(*concerts, 10);
    assert_eq!(title, "Aurora Live in Seoul");
    assert_eq!(snapshots[0], snapshots[1], "the second run changed nothing");

    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(format!("DROP DATABASE `{database}`"))
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    crate::helpers::delete_prefix(&redis_url, &prefix);
}
