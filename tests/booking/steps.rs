//! Payments in three steps (begin in the concert's slot, debit in the wallet's, confirm in
//! the concert's), as a Redis Cluster runs them, here forced on a single Redis with
//! `PAYMENT_STEPS=steps`: the same answers as one step; a crash after each step, settled
//! by the sweeper, never debits twice, never sells a seat without its debit, never keeps a
//! debit without its seat; a PAYING seat stays locked; and the real server process killed
//! mid-payments leaves the same invariants once settled.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use concert_queue::booking::{Booking, BookingError, BookingSettings, Settled};
use concert_queue::config::PaymentSteps;
use concert_queue::queue::{Claims, TokenSigner};

use crate::helpers::booking::{catalog, concert};
use crate::helpers::TestServer;

/// Concert 1: schedule 10 (100 seats at 1000), schedule 11 (2 seats at 3000).
async fn server(name: &str) -> TestServer {
    let catalog = catalog(vec![concert(1, &[(10, 100, 1000), (11, 2, 3000)])]);
    TestServer::with_catalog(name, &catalog, |c| {
        c.payment_steps = PaymentSteps::Steps;
        c.holds_per_user = 10;
    })
    .await
}

/// The server's booking operations, called as the payment code calls them.
async fn booking(server: &TestServer) -> Booking {
    Booking::new(
        server.store().await,
        BookingSettings::from_config(&server.config),
    )
}

fn claims(server: &TestServer, token: &str) -> Claims {
    TokenSigner::new(server.config.token_secret.as_bytes())
        .verify(token)
        .expect("a token the server issued")
}

/// The reservation's status as Redis keeps it (PAYING included).
async fn stored_status(server: &TestServer, id: &str) -> String {
    let store = server.store().await;
    let status: Option<String> = store
        .query(
            redis::cmd("HGET")
                .arg(store.keys.reservation(1, id))
                .arg("status"),
        )
        .await
        .unwrap();
    status.unwrap_or_default()
}

async fn confirmed_in_outbox(server: &TestServer, id: &str) -> usize {
    server
        .outbox()
        .await
        .iter()
        .filter(|(kind, event_id, _)| kind == "reservation.confirmed" && event_id == id)
        .count()
}

#[tokio::test]
async fn a_payment_in_steps_answers_like_one_step() {
    let server = server("steps-pay").await;
    server.charge(42, 5000).await;
    let token = server.active_token(42, 1).await;
    let id = server.hold_id(&token, 10, 2).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["amount"], 1000);
    assert_eq!(body["balance"], 4000);
    assert_eq!(body["status"], "CONFIRMED");
    let (status, again) = server.pay(&token, &id).await;
    assert_eq!(status, 200, "a replay: {again}");
    assert_eq!(again["paymentId"], body["paymentId"]);
    assert_eq!(server.balance(42).await, 4000, "one debit");
    assert_eq!(server.status(&token).await["status"], "EXPIRED");
    let viewer = server.active_token(43, 1).await;
    assert_eq!(server.seat_status(&viewer, 10, 2).await, "SOLD");
    assert_eq!(confirmed_in_outbox(&server, &id).await, 1);
    let store = server.store().await;
    let paying: u64 = store
        .query(redis::cmd("ZCARD").arg(store.keys.paying(1)))
        .await
        .unwrap();
    assert_eq!(paying, 0, "nothing left between steps");
}

#[tokio::test]
async fn a_refused_debit_leaves_the_hold_as_it_was() {
    let server = server("steps-402").await;
    server.charge(7, 500).await;
    let token = server.active_token(7, 1).await;
    let id = server.hold_id(&token, 10, 1).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (402, Some("INSUFFICIENT_BALANCE"))
    );
    assert_eq!(stored_status(&server, &id).await, "HELD");
    assert_eq!(server.balance(7).await, 500);
    let (_, reservation) = server.reservation(&token, &id).await;
    assert_eq!(reservation["status"], "HELD");
    server.charge(7, 500).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(status, 201, "paid once the wallet covers it: {body}");
    assert_eq!(server.balance(7).await, 0);
}

/// Where a crash stops a payment: after which of its steps.
#[derive(Clone, Copy, Debug)]
enum CrashAfter {
    Begin,
    Debit,
    Confirm,
}

/// Runs a payment's steps up to `crash`, then settles as the sweeper does, and checks the
/// outcome: no debit, the hold back (Begin); one debit and the seat sold (Debit, Confirm).
async fn crash_and_settle(crash: CrashAfter) {
    let server = server(&format!("steps-crash-{crash:?}").to_lowercase()).await;
    let booking = booking(&server).await;
    server.charge(5, 5000).await;
    let token = server.active_token(5, 1).await;
    let id = server.hold_id(&token, 11, 1).await;
    let claims = claims(&server, &token);

    let begun = booking.begin_payment(&claims, &id).await.unwrap();
    let concert_queue::booking::Begun::Paying { attempt, amount } = begun else {
        panic!("a held reservation begins paying: {begun:?}");
    };
    assert_eq!(amount, 3000);
    assert_eq!(stored_status(&server, &id).await, "PAYING");
    let mut debit = None;
    if matches!(crash, CrashAfter::Debit | CrashAfter::Confirm) {
        debit = Some(booking.debit_wallet(5, &id, attempt, amount).await.unwrap());
        assert_eq!(server.balance(5).await, 2000);
    }
    if matches!(crash, CrashAfter::Confirm) {
        let payment = booking
            .confirm_payment(5, &id, attempt, debit.as_ref().unwrap())
            .await
            .unwrap();
        assert!(payment.created);
    }

    // The process died here. The sweeper settles what it left.
    let settled = booking.settle_payment(1, &id).await.unwrap();
    let settled_again = booking.settle_payment(1, &id).await.unwrap();
    assert_eq!(settled_again, Settled::Nothing, "settling is done once");
    let viewer = server.active_token(6, 1).await;
    match crash {
        CrashAfter::Begin => {
            assert_eq!(settled, Settled::Abandoned);
            assert_eq!(stored_status(&server, &id).await, "HELD");
            assert_eq!(server.balance(5).await, 5000, "no debit");
            assert_eq!(server.seat_status(&viewer, 11, 1).await, "HELD");
            assert_eq!(confirmed_in_outbox(&server, &id).await, 0);
            // The crashed request's debit, arriving late, can no longer take the money.
            let late = booking.debit_wallet(5, &id, attempt, amount).await;
            assert!(
                matches!(late, Err(BookingError::PaymentAbandoned)),
                "{late:?}"
            );
            assert_eq!(server.balance(5).await, 5000);
            // The buyer pays again, once.
            let (status, body) = server.pay(&token, &id).await;
            assert_eq!(status, 201, "{body}");
            assert_eq!(server.balance(5).await, 2000);
        }
        CrashAfter::Debit | CrashAfter::Confirm => {
            let expected = match crash {
                CrashAfter::Debit => Settled::Confirmed,
                _ => Settled::Nothing,
            };
            assert_eq!(settled, expected);
            assert_eq!(stored_status(&server, &id).await, "CONFIRMED");
            assert_eq!(server.balance(5).await, 2000, "one debit");
            assert_eq!(server.seat_status(&viewer, 11, 1).await, "SOLD");
            assert_eq!(confirmed_in_outbox(&server, &id).await, 1);
            // The crashed request's confirmation, arriving late, repeats the sale.
            let late = booking
                .confirm_payment(5, &id, attempt, debit.as_ref().unwrap())
                .await
                .unwrap();
            assert!(!late.created);
            let (status, body) = server.pay(&token, &id).await;
            assert!(status == 200 || status == 403, "{status} {body}");
            assert_eq!(server.balance(5).await, 2000);
            assert_eq!(confirmed_in_outbox(&server, &id).await, 1);
        }
    }
}

#[tokio::test]
async fn a_crash_after_begin_is_settled_with_no_debit_and_the_hold_back() {
    crash_and_settle(CrashAfter::Begin).await;
}

#[tokio::test]
async fn a_crash_after_the_debit_is_settled_by_selling_the_seat() {
    crash_and_settle(CrashAfter::Debit).await;
}

#[tokio::test]
async fn a_crash_after_the_confirmation_needs_nothing_more() {
    crash_and_settle(CrashAfter::Confirm).await;
}

#[tokio::test]
async fn a_paying_seat_stays_locked_past_its_hold_and_cannot_be_cancelled() {
    let server = server("steps-lock").await;
    let booking = booking(&server).await;
    server.charge(8, 5000).await;
    let token = server.active_token(8, 1).await;
    let id = server.hold_id(&token, 10, 3).await;
    let begun = booking
        .begin_payment(&claims(&server, &token), &id)
        .await
        .unwrap();
    assert!(matches!(
        begun,
        concert_queue::booking::Begun::Paying { .. }
    ));
    let (status, body) = server.cancel(&token, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("PAYMENT_IN_PROGRESS"))
    );
    // Its time runs out everywhere it is recorded; the lapse sweeper runs.
    server.lapse_hold(1, 10, 8, &id).await;
    booking.release_lapsed_holds(1).await.unwrap();
    assert_eq!(stored_status(&server, &id).await, "PAYING");
    let other = server.active_token(9, 1).await;
    let (status, body) = server.hold(&other, 10, 3).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("SEAT_UNAVAILABLE")),
        "nobody else holds a seat being paid for"
    );
    // A second request for the same payment joins it: one debit.
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.balance(8).await, 4000);
}

/// `concert-queue serve` as a process of its own on `port`, over the test server's prefix,
/// paying in steps.
fn serve_process(server: &TestServer, port: u16) -> Child {
    let c = &server.config;
    let mut command = Command::new(env!("CARGO_BIN_EXE_concert-queue"));
    command.env_clear();
    if c.redis_cluster_nodes.is_some() {
        command.env(
            "REDIS_CLUSTER_NODES",
            std::env::var("TEST_REDIS_CLUSTER_NODES").unwrap(),
        );
    }
    command
        .arg("serve")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", &c.redis_url)
        .env("REDIS_KEY_PREFIX", &c.key_prefix)
        .env("TOKEN_SECRET", &c.token_secret)
        .env("MYSQL_URL", &c.mysql_url)
        .env("PAYMENT_STEPS", "steps")
        .env("TOKEN_RATE_LIMIT_PER_SEC", "0")
        .env("CLIENT_RATE_LIMIT_PER_SEC", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_server_killed_mid_payments_leaves_no_double_debit_and_no_unpaid_seat() {
    let server = server("steps-kill").await;
    let booking = booking(&server).await;
    const USERS: u64 = 20;
    const BALANCE: u64 = 3000;
    for user in 100..100 + USERS {
        server.charge(user, BALANCE).await;
    }
    let mut settled_mid_payment = 0;
    let mut seat = 0u64;
    for round in 0..4 {
        // Each user holds one more seat (with a token ACTIVE again: a payment ends it); the
        // payments go to a server process, killed while they run.
        let mut holds = Vec::new();
        for user in 100..100 + USERS {
            let token = server.active_token(user, 1).await;
            seat += 1;
            let id = server.hold_id(&token, 10, seat).await;
            holds.push((user, token, id));
        }
        let port = free_port();
        let mut child = serve_process(&server, port);
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..200 {
            if http
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "the server process never became ready");
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let first_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(first_tx)));
        let mut requests = Vec::new();
        for (_, token, id) in holds.clone() {
            let http = http.clone();
            let url = format!("{base}/api/payments");
            let first_tx = first_tx.clone();
            requests.push(tokio::spawn(async move {
                let sent = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&serde_json::json!({"reservationId": id}))
                    .send()
                    .await;
                if sent.is_ok() {
                    if let Some(tx) = first_tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                }
            }));
        }
        // Kill it while the other payments are in flight: a moment after the first answer.
        let _ = tokio::time::timeout(Duration::from_secs(10), first_rx).await;
        tokio::time::sleep(Duration::from_millis(2 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for request in requests {
            let _ = request.await;
        }

        // What the sweeper does once the grace has passed.
        let settled = booking
            .settle_stuck_payments(1, Duration::ZERO)
            .await
            .unwrap();
        settled_mid_payment += settled
            .iter()
            .filter(|(_, outcome)| *outcome != Settled::Nothing)
            .count();
    }

    // Every user's balance is what their confirmed reservations cost, and every confirmed
    // reservation's seat is SOLD to it; nothing is left PAYING.
    let store = server.store().await;
    let sold: HashMap<String, String> = store
        .query(redis::cmd("HGETALL").arg(store.keys.schedule(1, 10).sold))
        .await
        .unwrap();
    let mut confirmed_of: HashMap<u64, u64> = HashMap::new();
    for reservation_id in sold.values() {
        let (status, user): (String, u64) = store
            .query(
                redis::cmd("HMGET")
                    .arg(store.keys.reservation(1, reservation_id))
                    .arg("status")
                    .arg("user"),
            )
            .await
            .unwrap();
        assert_eq!(status, "CONFIRMED", "{reservation_id}");
        *confirmed_of.entry(user).or_default() += 1;
    }
    for n in 1..=seat {
        let id: Option<String> = store
            .query(
                redis::cmd("HGET")
                    .arg(store.keys.schedule(1, 10).held)
                    .arg(n),
            )
            .await
            .unwrap();
        if let Some(id) = id {
            assert_ne!(stored_status(&server, &id).await, "PAYING", "{id}");
        }
    }
    for user in 100..100 + USERS {
        let paid = confirmed_of.get(&user).copied().unwrap_or(0);
        assert_eq!(
            server.balance(user).await,
            BALANCE - 1000 * paid,
            "user {user} has {paid} confirmed reservations"
        );
    }
    assert_eq!(
        sold.len(),
        server
            .outbox()
            .await
            .iter()
            .filter(|(kind, _, _)| kind == "reservation.confirmed")
            .count(),
        "one sale event per seat sold"
    );
    assert!(
        settled_mid_payment > 0,
        "no kill landed between a payment's steps: the test proved nothing"
    );
}
