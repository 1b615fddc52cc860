//! A master of a Redis Cluster of the test's own (tests/helpers/redis_cluster.rs) killed
//! under a booking mix (joins, status polls, holds, payments in steps, over concerts and
//! wallets spread across the masters): answers are 503 while its slots fail over, never
//! 500; its concerts are served again once the replica takes over; and once the sweeper has
//! settled what the failover interrupted, no seat is sold twice, every payment answered 201
//! is CONFIRMED, and every wallet holds exactly its charge minus its confirmed seats. A flush
//! worker runs through it all: once drained, MySQL holds exactly the sales Redis confirmed,
//! each once (none it flushed was lost, none missing, none doubled).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concert_queue::booking::{Booking, BookingSettings};
use concert_queue::flush::Worker;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::helpers::booking::{catalog, concert};
use crate::helpers::flush::FlushEnv;
use crate::helpers::redis_cluster::RedisCluster;
use crate::helpers::{eventually, TestServer};

const CONCERTS: u64 = 6;
const SEATS: u32 = 60;
const PRICE: u64 = 1000;
const USERS: u64 = 24;
const CHARGE: u64 = 8 * PRICE;

/// What the buyers saw: every status, and the payments answered 201.
#[derive(Default)]
struct Seen {
    statuses: HashMap<u16, u64>,
    bad: Vec<String>,
    /// reservation id -> (user, schedule, seat)
    paid: HashMap<String, (u64, u64, u64)>,
}

impl Seen {
    fn note(&mut self, what: &str, status: u16, body: &Value) {
        *self.statuses.entry(status).or_default() += 1;
        let fine = match status {
            200 | 201 | 204 | 402 | 403 | 409 => true,
            503 => body["error"]["code"] == "UNAVAILABLE",
            _ => false,
        };
        if !fine {
            self.bad.push(format!("{what}: {status} {body}"));
        }
    }
}

/// One buyer, over and over: join, wait until ACTIVE, hold a seat, pay.
async fn buyer(server: Arc<TestServer>, user: u64, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let concert_id = user % CONCERTS + 1;
    let schedule = concert_id * 10;
    let mut seat = (user * 7) % u64::from(SEATS);
    while !stop.load(Ordering::Relaxed) {
        let (status, body) = server
            .post(
                "/api/queue/token",
                json!({"userId": user, "concertId": concert_id}),
            )
            .await;
        seen.lock().unwrap().note("join", status, &body);
        let Some(token) = body["token"].as_str().map(str::to_string) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut active = false;
        for _ in 0..100 {
            let (status, body) = server
                .send(
                    reqwest::Method::GET,
                    "/api/queue/status",
                    Some(&token),
                    None,
                )
                .await;
            seen.lock().unwrap().note("status", status, &body);
            if body["status"] == "ACTIVE" {
                active = true;
                break;
            }
            if body["status"] == "EXPIRED" || stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        if !active {
            continue;
        }
        seat = seat % u64::from(SEATS) + 1;
        let (status, body) = server.hold(&token, schedule, seat).await;
        seen.lock().unwrap().note("hold", status, &body);
        let Some(id) = body["reservationId"].as_str().map(str::to_string) else {
            continue;
        };
        let (status, body) = server.pay(&token, &id).await;
        let mut seen = seen.lock().unwrap();
        seen.note("pay", status, &body);
        if status == 201 {
            seen.paid.insert(id, (user, schedule, seat));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_bookings_loses_no_sale_and_no_money() {
    let mut cluster = RedisCluster::start();
    let concerts: Vec<_> = (1..=CONCERTS)
        .map(|c| concert(c, &[(c * 10, SEATS, PRICE)]))
        .collect();
    let nodes = cluster.nodes();
    let server = Arc::new(
        TestServer::with_catalog("cluster-book-faults", &catalog(concerts), |c| {
            c.redis_cluster_nodes = Some(nodes.clone());
            c.holds_per_user = 100;
        })
        .await,
    );
    // The flush worker, on the same cluster and prefix, its own database and topic.
    let mut env = FlushEnv::new("cluster-book-faults").await;
    env.config.key_prefix = server.config.key_prefix.clone();
    env.config.redis_cluster_nodes = Some(nodes);
    let mut worker = Worker::start(&env.config).await.unwrap();
    let (stop_worker, worker_stopped) = watch::channel(false);
    let flushing = tokio::spawn(async move {
        worker.run(worker_stopped).await.unwrap();
        worker
    });
    for user in 1..=USERS {
        let (status, body) = server.charge(user, CHARGE).await;
        assert_eq!(status, 200, "{body}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let buyers: Vec<_> = (1..=USERS)
        .map(|user| tokio::spawn(buyer(server.clone(), user, stop.clone(), seen.clone())))
        .collect();
    // Bookings flow for a while, then the master of concert 1's slot dies.
    eventually(
        Duration::from_secs(30),
        "a few payments before the kill",
        || {
            let seen = seen.clone();
            async move { (seen.lock().unwrap().paid.len() >= 10).then_some(()) }
        },
    )
    .await;
    let lost = cluster.master_of(&server.keys().queue(1).meta);
    let paid_before = seen.lock().unwrap().paid.len();
    let killed_at = Instant::now();
    cluster.kill(lost);
    let mut user = 1000;
    eventually(
        Duration::from_secs(30),
        "concert 1 served again by the replica",
        || {
            user += 1;
            let (server, seen, user) = (server.clone(), seen.clone(), user);
            async move {
                let (status, body) = server.join(user, 1).await;
                seen.lock().unwrap().note("probe join", status, &body);
                (status == 201).then_some(())
            }
        },
    )
    .await;
    let back_after = killed_at.elapsed();
    // Bookings go on a little after the failover, then stop.
    let paid_at_failover = seen.lock().unwrap().paid.len();
    eventually(
        Duration::from_secs(30),
        "payments after the failover",
        || {
            let seen = seen.clone();
            async move { (seen.lock().unwrap().paid.len() >= paid_at_failover + 5).then_some(()) }
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for buyer in buyers {
        buyer.await.unwrap();
    }
    assert_ne!(cluster.master_of(&server.keys().queue(1).meta), lost);

    // The sweeper's part: settle whatever the failover left between steps.
    let booking = Booking::new(
        server.store().await,
        BookingSettings::from_config(&server.config),
    );
    for concert_id in 1..=CONCERTS {
        booking
            .settle_stuck_payments(concert_id, Duration::ZERO)
            .await
            .unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "failover: service back {:.1} s after the kill; answers {:?}; {} payments ({} before the kill)",
        back_after.as_secs_f64(),
        seen.statuses,
        seen.paid.len(),
        paid_before
    );
    assert!(
        seen.bad.is_empty(),
        "answers besides 2xx/4xx/503: {:?}",
        seen.bad
    );
    let mut seats = HashSet::new();
    for (id, (_, schedule, seat)) in &seen.paid {
        assert!(
            seats.insert((schedule, seat)),
            "seat {schedule}/{seat} paid twice ({id})"
        );
    }

    // Redis after the failover: every sold seat's reservation CONFIRMED, every 201 among
    // them, nothing PAYING, each wallet its charge minus its confirmed seats.
    let store = server.store().await;
    let mut confirmed_of: HashMap<u64, u64> = HashMap::new();
    let mut sold_ids = HashSet::new();
    for concert_id in 1..=CONCERTS {
        let sold: HashMap<u64, String> = store
            .query(redis::cmd("HGETALL").arg(store.keys.schedule(concert_id, concert_id * 10).sold))
            .await
            .unwrap();
        for id in sold.values() {
            let (status, user): (String, u64) = store
                .query(
                    redis::cmd("HMGET")
                        .arg(store.keys.reservation(concert_id, id))
                        .arg("status")
                        .arg("user"),
                )
                .await
                .unwrap();
            assert_eq!(status, "CONFIRMED", "{id}");
            *confirmed_of.entry(user).or_default() += 1;
            sold_ids.insert(id.clone());
        }
        let paying: u64 = store
            .query(redis::cmd("ZCARD").arg(store.keys.paying(concert_id)))
            .await
            .unwrap();
        assert_eq!(
            paying, 0,
            "concert {concert_id} has payments left between steps"
        );
    }
    for id in seen.paid.keys() {
        assert!(
            sold_ids.contains(id),
            "{id} was answered 201 but is not sold"
        );
    }
    for user in 1..=USERS {
        let paid = confirmed_of.get(&user).copied().unwrap_or(0);
        assert_eq!(
            server.balance(user).await,
            CHARGE - PRICE * paid,
            "user {user}: {paid} confirmed seats"
        );
    }

    // The worker ran through the failover; what it has not flushed yet, it drains now.
    stop_worker.send(true).unwrap();
    let mut worker = flushing.await.unwrap();
    let drained = tokio::time::timeout(Duration::from_secs(120), worker.drain(5))
        .await
        .expect("the drain ends")
        .unwrap();
    let in_mysql = env.reservation_ids().await;
    eprintln!(
        "flush: {} sales in MySQL, {} acknowledged by the last drain",
        in_mysql.len(),
        drained.acked
    );
    let flushed: HashSet<String> = in_mysql.iter().cloned().collect();
    assert_eq!(flushed.len(), in_mysql.len(), "a sale written twice");
    let lost: Vec<_> = flushed.difference(&sold_ids).collect();
    assert!(lost.is_empty(), "flushed, then lost by Redis: {lost:?}");
    let missing: Vec<_> = sold_ids.difference(&flushed).collect();
    assert!(missing.is_empty(), "confirmed, never flushed: {missing:?}");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE kind = 'CHARGE'")
            .await,
        USERS,
        "every charge flushed once"
    );
}
