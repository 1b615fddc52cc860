//! The booking invariants under concurrency, each asserted: one holder per seat, no
//! overdraft, one debit per payment, and no confirmed lapsed hold.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::helpers::booking::{catalog, concert};
use crate::helpers::TestServer;
use concert_queue::Config;

/// Everyone who joins is admitted at once, and nobody's limit gets in the way. These tests
/// are about outcomes, not latency: on a shared CI box a burst of 2,000 requests can take
/// longer than the harness's 500 ms Redis bound, which would turn into clean 503s.
fn roomy(c: &mut Config) {
    c.redis_timeout = Duration::from_secs(5);
    // More buyers ACTIVE than seats, on purpose: these tests are about contention.
    c.admit_per_available_seat = 1_000_000.0;
    c.queue_max_active = 100_000;
    c.queue_admit_per_sec = 1_000_000;
    c.holds_per_user = 1_000;
}

/// Concert 1 with one schedule (10) of `seats` seats at 1000.
async fn server(name: &str, seats: u32, customize: impl FnOnce(&mut Config)) -> TestServer {
    let catalog = catalog(vec![concert(1, &[(10, seats, 1000)])]);
    TestServer::with_catalog(name, &catalog, |c| {
        roomy(c);
        customize(c);
    })
    .await
}

async fn tokens(server: &TestServer, users: std::ops::Range<u64>) -> Vec<(u64, String)> {
    let joins = users.map(|user| async move { (user, server.active_token(user, 1).await) });
    futures::future::join_all(joins).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_buyers_on_one_seat_make_exactly_one_hold() {
    let server = server("race-one-seat", 1, |_| {}).await;
    let buyers = tokens(&server, 1..501).await;
    let attempts = buyers.iter().map(|(_, token)| server.hold(token, 10, 1));
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == 409 && b["error"]["code"] == "SEAT_UNAVAILABLE")
        .count();
    assert!(answers.iter().all(|(s, _)| *s < 500), "no 5xx");
    assert_eq!((created, refused), (1, 499));
    assert_eq!(server.seat_status(&buyers[0].1, 10, 1).await, "HELD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_seats_with_twenty_contenders_each_are_each_held_once() {
    let server = server("race-many-seats", 100, |_| {}).await;
    let buyers = tokens(&server, 1..21).await;
    let mut attempts = Vec::new();
    let server = &server;
    for seat in 1..=100u64 {
        for (user, token) in &buyers {
            attempts.push(async move { (seat, *user, server.hold(token, 10, seat).await) });
        }
    }
    // 200 requests in flight at a time, a seat's 20 contenders side by side: the race is
    // the same, and on a loaded machine no request waits out the client's timeout behind
    // 2,000 others.
    let answers: Vec<_> = futures::stream::iter(attempts)
        .buffer_unordered(200)
        .collect()
        .await;
    let odd: Vec<_> = answers
        .iter()
        .filter(|(_, _, (s, _))| *s != 201 && *s != 409)
        .map(|(_, _, answer)| answer)
        .collect();
    assert!(
        odd.is_empty(),
        "only 201 or 409: {:?}",
        &odd[..odd.len().min(3)]
    );
    let mut holders: HashMap<u64, Vec<(u64, String)>> = HashMap::new();
    for (seat, user, (status, body)) in &answers {
        if *status == 201 {
            let id = body["reservationId"].as_str().unwrap().to_string();
            holders.entry(*seat).or_default().push((*user, id));
        }
    }
    assert_eq!(holders.len(), 100, "every seat held");
    assert!(
        holders.values().all(|h| h.len() == 1),
        "no seat with two holders"
    );
    let (_, map) = server.seats(&buyers[0].1, 10).await;
    assert_eq!(map["availableSeats"], 0);
    for (seat, holder) in holders {
        let (user, id) = &holder[0];
        let token = &buyers.iter().find(|(u, _)| u == user).unwrap().1;
        let (_, reservation) = server.reservation(token, id).await;
        assert_eq!(
            (
                reservation["seatNo"].as_u64(),
                reservation["status"].as_str()
            ),
            (Some(seat), Some("HELD"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wallet_for_ten_tickets_pays_exactly_ten_of_two_hundred() {
    let server = server("race-wallet", 200, |_| {}).await;
    server.charge(1, 10 * 1000).await;
    let token = server.active_token(1, 1).await;
    let holds =
        futures::future::join_all((1..=200).map(|seat| server.hold_id(&token, 10, seat))).await;

    // Watch the raw balance the whole time: it must never go below zero.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let wallet = server.keys().wallet(1);
        let mut conn = server.redis().await;
        tokio::spawn(async move {
            let mut lowest = i64::MAX;
            while !stop.load(Ordering::Relaxed) {
                let balance: i64 = redis::cmd("HGET")
                    .arg(&wallet)
                    .arg("balance")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                lowest = lowest.min(balance);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            lowest
        })
    };
    let answers = futures::future::join_all(holds.iter().map(|id| server.pay(&token, id))).await;
    stop.store(true, Ordering::Relaxed);
    let lowest = watcher.await.unwrap();

    let paid: Vec<_> = answers.iter().filter(|(s, _)| *s == 201).collect();
    let broke = answers
        .iter()
        .filter(|(s, b)| *s == 402 && b["error"]["code"] == "INSUFFICIENT_BALANCE")
        .count();
    assert_eq!((paid.len(), broke), (10, 190));
    assert!(lowest >= 0, "balance went to {lowest}");
    let debits: u64 = paid
        .iter()
        .map(|(_, b)| b["amount"].as_u64().unwrap())
        .sum();
    assert_eq!(debits, 10_000 - server.balance(1).await);
    assert_eq!(server.balance(1).await, 0);
    let mut after: Vec<u64> = paid
        .iter()
        .map(|(_, b)| b["balance"].as_u64().unwrap())
        .collect();
    after.sort_unstable();
    assert_eq!(
        after,
        (0..10).map(|i| i * 1000).collect::<Vec<_>>(),
        "each debit saw the one before"
    );
    let confirmed = server
        .outbox()
        .await
        .into_iter()
        .filter(|(k, _, _)| k == "reservation.confirmed")
        .count();
    assert_eq!(confirmed, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_retried_five_times_in_parallel_debits_once() {
    let server = server("race-retry", 20, |_| {}).await;
    for trial in 1..=20u64 {
        server.charge(trial, 1000).await;
        let token = server.active_token(trial, 1).await;
        let id = server.hold_id(&token, 10, trial).await;
        let answers = futures::future::join_all((0..5).map(|_| server.pay(&token, &id))).await;
        let created = answers.iter().filter(|(s, _)| *s == 201).count();
        let replayed = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!((created, replayed), (1, 4), "{answers:?}");
        assert!(
            answers.iter().all(|(_, b)| *b == answers[0].1),
            "five identical answers"
        );
        assert_eq!(server.balance(trial).await, 0, "one debit");
    }
    let confirmed: Vec<String> = server
        .outbox()
        .await
        .into_iter()
        .filter(|(k, _, _)| k == "reservation.confirmed")
        .map(|(_, id, _)| id)
        .collect();
    assert_eq!(confirmed.len(), 20, "one outbox entry per payment");
    assert_eq!(confirmed.iter().collect::<HashSet<_>>().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paying_at_the_edge_of_expiry_never_confirms_a_lapsed_hold() {
    const TTL_MS: u64 = 60;
    const TRIALS: u64 = 120;
    let server = server("race-edge", TRIALS as u32, |c| {
        c.hold_ttl = Duration::from_millis(TTL_MS);
        c.hold_sweep_interval = Duration::from_millis(25);
    })
    .await;
    let viewer = server.active_token(1, 1).await;
    let mut payments = 0;
    let mut takeovers = 0;
    let mut rival_sales = 0;
    for trial in 0..TRIALS {
        let (payer, rival) = (1000 + trial, 5000 + trial);
        let seat = trial + 1;
        server.charge(payer, 1000).await;
        server.charge(rival, 1000).await;
        let payer_token = server.active_token(payer, 1).await;
        let rival_token = server.active_token(rival, 1).await;
        let id = server.hold_id(&payer_token, 10, seat).await;
        // Land around the expiry: from 15 ms before it to 15 ms after.
        tokio::time::sleep(Duration::from_millis(TTL_MS - 15 + trial % 31)).await;
        let (paid, taken) = tokio::join!(
            server.pay(&payer_token, &id),
            server.hold(&rival_token, 10, seat)
        );
        let (_, reservation) = server.reservation(&payer_token, &id).await;
        match (paid.0, taken.0) {
            (201, 409) => {
                payments += 1;
                assert_eq!(reservation["status"], "CONFIRMED");
                let at = |f: &str| {
                    chrono::DateTime::parse_from_rfc3339(reservation[f].as_str().unwrap()).unwrap()
                };
                assert!(
                    at("confirmedAt") < at("expiresAt"),
                    "confirmed after expiry: {reservation}"
                );
                assert_eq!(server.balance(payer).await, 0);
                assert_eq!(server.seat_status(&viewer, 10, seat).await, "SOLD");
            }
            (409, 201) => {
                takeovers += 1;
                assert_eq!(paid.1["error"]["code"], "HOLD_EXPIRED");
                assert_eq!(reservation["status"], "EXPIRED");
                assert_eq!(
                    server.balance(payer).await,
                    1000,
                    "no debit for a lapsed hold"
                );
                // The rival's own hold lasts only TTL_MS too: on a loaded machine its
                // payment may itself land after expiry, which must then be refused.
                let rival_id = taken.1["reservationId"].as_str().unwrap();
                let (status, body) = server.pay(&rival_token, rival_id).await;
                match status {
                    201 => {
                        rival_sales += 1;
                        assert_eq!(server.seat_status(&viewer, 10, seat).await, "SOLD");
                    }
                    409 => {
                        assert_eq!(body["error"]["code"], "HOLD_EXPIRED");
                        assert_eq!(server.balance(rival).await, 1000);
                    }
                    other => panic!("rival payment answered {other}: {body}"),
                }
            }
            (409, 409) => {
                // The hold lapsed and the rival came a moment too early: nobody has it.
                assert_eq!(paid.1["error"]["code"], "HOLD_EXPIRED");
                assert_eq!(server.balance(payer).await, 1000);
            }
            other => panic!("both or neither in an impossible way: {other:?} {paid:?} {taken:?}"),
        }
    }
    // Never a seat confirmed for two buyers: one sale per sold seat, in the outbox too.
    let sales: Vec<serde_json::Value> = server
        .outbox()
        .await
        .into_iter()
        .filter(|(k, _, _)| k == "reservation.confirmed")
        .map(|(_, _, data)| data)
        .collect();
    let seats: HashSet<u64> = sales
        .iter()
        .map(|d| d["seatNo"].as_u64().unwrap())
        .collect();
    assert_eq!(seats.len(), sales.len(), "a seat was sold twice");
    assert_eq!(sales.len(), payments + rival_sales);
    assert!(payments + takeovers > 0);
    eprintln!("edge trials: {payments} paid in time, {takeovers} taken over after expiry");
}
