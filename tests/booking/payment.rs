//! Payments: the confirmed reservation, the seat SOLD, the debit, the token's end, the
//! rankings and the outbox, all in one step; replays, and every refusal.

use std::time::Duration;

use crate::helpers::booking::{catalog, concert};
use crate::helpers::TestServer;
use reqwest::Method;
use serde_json::json;

/// Concert 1: schedule 10 (3 seats at 1000), schedule 11 (2 seats at 3000);
/// concert 2: schedule 20 (1 seat at 700).
async fn server(name: &str, customize: impl FnOnce(&mut concert_queue::Config)) -> TestServer {
    let catalog = catalog(vec![
        concert(1, &[(10, 3, 1000), (11, 2, 3000)]),
        concert(2, &[(20, 1, 700)]),
    ]);
    TestServer::with_catalog(name, &catalog, customize).await
}

#[tokio::test]
async fn paying_confirms_sells_debits_ends_the_token_and_records_the_sale() {
    let server = server("pay", |_| {}).await;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    server.charge(42, 5000).await;
    let token = server.active_token(42, 1).await;
    let id = server.hold_id(&token, 10, 2).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(status, 201, "{body}");
    let payment_id = body["paymentId"].as_str().unwrap().to_string();
    assert_eq!(
        body,
        json!({"paymentId": payment_id, "reservationId": id, "amount": 1000, "balance": 4000,
               "status": "CONFIRMED"})
    );
    assert_eq!(server.balance(42).await, 4000);
    assert_eq!(server.status(&token).await["status"], "EXPIRED");
    let (_, reservation) = server.reservation(&token, &id).await;
    assert_eq!(reservation["status"], "CONFIRMED");
    let viewer = server.active_token(43, 1).await;
    assert_eq!(server.seat_status(&viewer, 10, 2).await, "SOLD");
    let (_, ranking) = server
        .send(Method::GET, "/api/concerts/ranking?by=sales", None, None)
        .await;
    assert_eq!(ranking["by"], "sales");
    assert_eq!(ranking["ranking"][0]["rank"], 1);
    assert_eq!(ranking["ranking"][0]["concertId"], 1);
    assert_eq!(ranking["ranking"][0]["title"], "Concert 1");
    assert_eq!(ranking["ranking"][0]["score"], 1);

    let entries = server.outbox().await;
    let confirmed: Vec<_> = entries
        .iter()
        .filter(|(kind, _, _)| kind == "reservation.confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1);
    let (_, event_id, data) = confirmed[0];
    assert_eq!(event_id, &id);
    assert_eq!(data["reservationId"], id.as_str());
    assert_eq!(data["paymentId"], payment_id.as_str());
    assert_eq!(data["userId"], 42);
    assert_eq!(data["concertId"], 1);
    assert_eq!(data["scheduleId"], 10);
    assert_eq!(data["seatNo"], 2);
    assert_eq!(data["amount"], 1000);
    assert_eq!(data["balanceAfter"], 4000);
    assert_eq!(data["ledgerId"], "L42-2", "the charge was L42-1");
    // Confirmed by Redis's clock during this test (a second's slack between the clocks).
    assert!(data["confirmedAtMs"].as_u64().unwrap() + 1_000 >= started_ms);
}

#[tokio::test]
async fn paying_again_returns_the_first_answer_with_no_second_charge() {
    let server = server("repay", |_| {}).await;
    server.charge(1, 5000).await;
    let token = server.active_token(1, 1).await;
    let id = server.hold_id(&token, 10, 1).await;
    let (status, first) = server.pay(&token, &id).await;
    assert_eq!(status, 201);
    // The first payment ended this token; a genuine token of the owner still replays,
    // even one of another concert.
    let (status, again) = server.pay(&token, &id).await;
    assert_eq!((status, &again), (200, &first));
    let other = server.active_token(1, 2).await;
    let (status, again) = server.pay(&other, &id).await;
    assert_eq!((status, &again), (200, &first));
    assert_eq!(server.balance(1).await, 4000);
    let confirmed = server
        .outbox()
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "reservation.confirmed")
        .count();
    assert_eq!(confirmed, 1);
}

#[tokio::test]
async fn insufficient_balance_is_402_and_the_hold_stays() {
    let server = server("broke", |_| {}).await;
    server.charge(3, 999).await;
    let token = server.active_token(3, 1).await;
    let id = server.hold_id(&token, 10, 3).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (402, Some("INSUFFICIENT_BALANCE"))
    );
    assert_eq!(server.balance(3).await, 999);
    assert_eq!(server.seat_status(&token, 10, 3).await, "HELD");
    assert_eq!(server.status(&token).await["status"], "ACTIVE");
    server.charge(3, 1).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!((status, body["balance"].as_u64()), (201, Some(0)));
}

#[tokio::test]
async fn a_lapsed_hold_is_409_hold_expired_and_charges_nothing() {
    let server = server("lapsed", |c| c.hold_ttl = Duration::from_millis(200)).await;
    server.charge(4, 5000).await;
    let token = server.active_token(4, 1).await;
    let id = server.hold_id(&token, 10, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("HOLD_EXPIRED"))
    );
    assert_eq!(server.balance(4).await, 5000);
    assert_eq!(server.seat_status(&token, 10, 1).await, "AVAILABLE");
}

#[tokio::test]
async fn refusals_404_403_and_401() {
    let server = server("refusals", |_| {}).await;
    server.charge(5, 5000).await;
    server.charge(6, 5000).await;
    let owner = server.active_token(5, 1).await;
    let stranger = server.active_token(6, 1).await;
    let id = server.hold_id(&owner, 10, 1).await;
    let (status, body) = server.pay(&stranger, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let (status, body) = server.pay(&owner, "R1-999").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("RESERVATION_NOT_FOUND"))
    );
    let (status, body) = server.pay(&owner, "garbage").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("RESERVATION_NOT_FOUND"))
    );
    // The owner's token for another concert cannot pay a HELD reservation.
    let elsewhere = server.active_token(5, 2).await;
    let (status, body) = server.pay(&elsewhere, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("TOKEN_NOT_ACTIVE"))
    );
    let (status, body) = server
        .send(
            Method::POST,
            "/api/payments",
            None,
            Some(json!({"reservationId": id})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );
    for bad in [json!({}), json!({"reservationId": 5}), json!("R1-1")] {
        let (status, body) = server
            .send(
                Method::POST,
                "/api/payments",
                Some(&owner),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("BAD_REQUEST")),
            "{bad}"
        );
    }
    assert_eq!(server.balance(5).await, 5000);
    assert_eq!(server.balance(6).await, 5000);
    assert_eq!(server.seat_status(&owner, 10, 1).await, "HELD");
}

#[tokio::test]
async fn the_token_stays_active_while_another_hold_is_live() {
    let server = server("keeptoken", |_| {}).await;
    server.charge(7, 10_000).await;
    let token = server.active_token(7, 1).await;
    let first = server.hold_id(&token, 10, 1).await;
    let second = server.hold_id(&token, 11, 1).await;
    assert_eq!(server.pay(&token, &first).await.0, 201);
    assert_eq!(server.status(&token).await["status"], "ACTIVE");
    assert_eq!(server.pay(&token, &second).await.0, 201);
    assert_eq!(server.status(&token).await["status"], "EXPIRED");
    assert_eq!(server.balance(7).await, 6000);
}

#[tokio::test]
async fn a_schedule_that_sells_out_enters_the_soldout_ranking() {
    let server = server("soldout", |_| {}).await;
    server.charge(8, 10_000).await;
    let token = server.active_token(8, 1).await;
    let a = server.hold_id(&token, 11, 1).await;
    let b = server.hold_id(&token, 11, 2).await;
    let (_, empty) = server
        .send(Method::GET, "/api/concerts/ranking?by=soldout", None, None)
        .await;
    assert_eq!(empty, json!({"by": "soldout", "ranking": []}));
    assert_eq!(server.pay(&token, &a).await.0, 201);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.pay(&token, &b).await.0, 201);
    let (status, body) = server
        .send(
            Method::GET,
            "/api/concerts/ranking?by=soldout&limit=5",
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let ranking = body["ranking"].as_array().unwrap();
    assert_eq!(ranking.len(), 1);
    assert_eq!(ranking[0]["concertId"], 1);
    assert_eq!(ranking[0]["scheduleId"], 11);
    assert_eq!(ranking[0]["title"], "Concert 1");
    let seconds = ranking[0]["score"].as_f64().unwrap();
    assert!((0.04..5.0).contains(&seconds), "{seconds}");
    let (status, body) = server
        .send(Method::GET, "/api/concerts/ranking?by=fame", None, None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );
}

#[tokio::test]
async fn the_record_the_scripts_write_reads_back_field_for_field() {
    use concert_queue::booking::record::ReservationRecord;
    let server = server("record", |_| {}).await;
    server.charge(42, 5000).await;
    let token = server.active_token(42, 1).await;
    let id = server.hold_id(&token, 10, 3).await;
    let key = server.keys().reservation(1, &id);
    let read = |key: String| {
        let server = &server;
        async move {
            let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut server.redis().await)
                .await
                .unwrap();
            fields
        }
    };
    // The hold's record (lua/hold_seat.lua) is what the Rust side reads and writes.
    let held = read(key.clone()).await;
    let record = ReservationRecord::from_fields(&held).expect("a hold's record parses");
    assert_eq!(record.status, "HELD");
    assert!(record.payment.is_none());
    let names = |fields: Vec<(&str, String)>| {
        let mut names: Vec<String> = fields.into_iter().map(|(k, _)| k.to_string()).collect();
        names.sort();
        names
    };
    let mut written: Vec<String> = held.keys().cloned().collect();
    written.sort();
    assert_eq!(names(record.to_fields()), written);
    // And after the payment (lua/pay_reservation.lua), field for field again.
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(status, 201, "{body}");
    let paid = read(key).await;
    let record = ReservationRecord::from_fields(&paid).expect("a paid record parses");
    assert_eq!(record.status, "CONFIRMED");
    let payment = record.payment.clone().expect("the payment's fields");
    assert_eq!(payment.payment_id, body["paymentId"].as_str().unwrap());
    assert_eq!(payment.balance_after, 4000);
    let mut written: Vec<String> = paid.keys().cloned().collect();
    written.sort();
    assert_eq!(names(record.to_fields()), written);
}
