//! Seat maps, holds and reservations: every rule and error code of the contract.

use std::time::Duration;

use crate::helpers::booking::{catalog, concert};
use crate::helpers::{eventually, TestServer};
use reqwest::Method;
use serde_json::json;

/// Concert 1 (schedule 10: 5 seats at 1000; schedule 11: 3 seats at 2000) and concert 2
/// (schedule 20: 2 seats at 500).
async fn server(name: &str, customize: impl FnOnce(&mut concert_queue::Config)) -> TestServer {
    let catalog = catalog(vec![
        concert(1, &[(10, 5, 1000), (11, 3, 2000)]),
        concert(2, &[(20, 2, 500)]),
    ]);
    TestServer::with_catalog(name, &catalog, customize).await
}

#[tokio::test]
async fn the_seat_map_lists_every_seat_with_price_and_status() {
    let server = server("seatmap", |_| {}).await;
    let token = server.active_token(1, 1).await;
    let (status, body) = server.seats(&token, 10).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scheduleId"], 10);
    assert_eq!(body["availableSeats"], 5);
    let seats = body["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 5);
    for (i, seat) in seats.iter().enumerate() {
        assert_eq!(seat["seatNo"], i as u64 + 1);
        assert_eq!(seat["price"], 1000);
        assert_eq!(seat["status"], "AVAILABLE");
    }
}

#[tokio::test]
async fn a_hold_answers_201_and_shows_held_at_once() {
    let server = server("hold", |_| {}).await;
    let token = server.active_token(1, 1).await;
    let (status, body) = server.hold(&token, 10, 3).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["reservationId"].as_str().unwrap().starts_with("R1-"));
    assert_eq!(body["scheduleId"], 10);
    assert_eq!(body["seatNo"], 3);
    assert_eq!(body["price"], 1000);
    assert_eq!(body["status"], "HELD");
    let expires = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let in_five_minutes = chrono::Utc::now().timestamp_millis() + 300_000;
    assert!((expires - in_five_minutes).abs() < 5_000, "{expires}");
    assert_eq!(server.seat_status(&token, 10, 3).await, "HELD");
    let (_, map) = server.seats(&token, 10).await;
    assert_eq!(map["availableSeats"], 4);
}

#[tokio::test]
async fn a_held_or_sold_seat_is_409_seat_unavailable() {
    let server = server("unavailable", |_| {}).await;
    let first = server.active_token(1, 1).await;
    let second = server.active_token(2, 1).await;
    let id = server.hold_id(&first, 10, 1).await;
    let (status, body) = server.hold(&second, 10, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("SEAT_UNAVAILABLE"))
    );
    let (status, again) = server.hold(&first, 10, 1).await;
    assert_eq!(
        (status, again["reservationId"].as_str()),
        (200, Some(id.as_str())),
        "holding one's own held seat again answers that hold"
    );
    server.charge(1, 5000).await;
    let (status, _) = server.pay(&first, &id).await;
    assert_eq!(status, 201);
    let (status, body) = server.hold(&second, 10, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("SEAT_UNAVAILABLE"))
    );
}

/// Attack (issue 10, "a hold cannot be retried"): a client whose answer was lost re-holds
/// its own seat; main answered 409, so it never learnt its reservation id and the seat stayed
/// blocked for the hold's lifetime. Now the retry answers 200 with the same hold and writes
/// nothing, within the per-user limit too.
#[tokio::test]
async fn re_holding_ones_own_live_seat_answers_200_with_that_hold() {
    let server = server("hold-retry", |c| c.holds_per_user = 1).await;
    let token = server.active_token(1, 1).await;
    let (status, first) = server.hold(&token, 10, 2).await;
    assert_eq!(status, 201, "{first}");
    let outbox_before = server.outbox().await.len();
    let (status, again) = server.hold(&token, 10, 2).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first, "the same hold, field for field");
    let (_, map) = server.seats(&token, 10).await;
    assert_eq!(map["availableSeats"], 4, "one seat held, not two");
    let (status, body) = server.hold(&token, 10, 3).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("HOLD_LIMIT")),
        "the retry took no second place in the limit, and the first still counts"
    );
    assert_eq!(server.outbox().await.len(), outbox_before);
    // Someone else still finds the seat taken, and a lapsed hold is no longer one's own.
    let rival = server.active_token(2, 1).await;
    let (status, _) = server.hold(&rival, 10, 2).await;
    assert_eq!(status, 409);
    let id = first["reservationId"].as_str().unwrap();
    server.lapse_hold(1, 10, 1, id).await;
    let (status, fresh) = server.hold(&token, 10, 2).await;
    assert_eq!(status, 201, "{fresh}");
    assert_ne!(fresh["reservationId"], first["reservationId"]);
}

#[tokio::test]
async fn unknown_schedules_and_seats_are_404() {
    let server = server("notfound", |_| {}).await;
    let token = server.active_token(1, 1).await;
    let (status, body) = server.hold(&token, 99, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("SCHEDULE_NOT_FOUND"))
    );
    let (status, body) = server.seats(&token, 99).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("SCHEDULE_NOT_FOUND"))
    );
    let (status, body) = server.hold(&token, 10, 6).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("SEAT_NOT_FOUND"))
    );
    assert_eq!(server.seat_status(&token, 10, 5).await, "AVAILABLE");
}

#[tokio::test]
async fn the_per_user_limit_counts_live_holds_per_schedule() {
    let server = server("limit", |c| c.holds_per_user = 2).await;
    let token = server.active_token(1, 1).await;
    server.hold_id(&token, 10, 1).await;
    let second = server.hold_id(&token, 10, 2).await;
    let (status, body) = server.hold(&token, 10, 3).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("HOLD_LIMIT"))
    );
    assert_eq!(server.seat_status(&token, 10, 3).await, "AVAILABLE");
    // Another schedule has its own limit.
    server.hold_id(&token, 11, 1).await;
    // A cancelled hold no longer counts.
    assert_eq!(server.cancel(&token, &second).await.0, 204);
    server.hold_id(&token, 10, 3).await;
}

#[tokio::test]
async fn tokens_must_be_genuine_active_and_of_the_schedules_concert() {
    let server = server("tokens", |c| c.queue_max_active = 1).await;
    let active = server.active_token(1, 1).await;
    let (status, body) = server.hold(&active, 20, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("TOKEN_NOT_ACTIVE"))
    );
    let (status, body) = server.seats(&active, 20).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("TOKEN_NOT_ACTIVE"))
    );
    let waiting = server.join_token(2, 1).await;
    assert_eq!(server.status(&waiting).await["status"], "WAITING");
    let (status, body) = server.hold(&waiting, 10, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("TOKEN_NOT_ACTIVE"))
    );
    let forged = format!("{}x", &active[..active.len() - 1]);
    let (status, body) = server.hold(&forged, 10, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );
    let (status, body) = server
        .send(
            Method::POST,
            "/api/reservations",
            None,
            Some(json!({"scheduleId": 10, "seatNo": 1})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );
    assert_eq!(server.seat_status(&active, 10, 1).await, "AVAILABLE");
}

#[tokio::test]
async fn an_expired_token_cannot_hold() {
    let server = server("expiredtoken", |c| c.active_ttl = Duration::from_secs(1)).await;
    let token = server.active_token(1, 1).await;
    eventually(Duration::from_secs(5), "token expires", || async {
        (server.status(&token).await["status"] == "EXPIRED").then_some(())
    })
    .await;
    let (status, body) = server.hold(&token, 10, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("TOKEN_NOT_ACTIVE"))
    );
}

#[tokio::test]
async fn bad_hold_bodies_are_400_and_change_nothing() {
    let server = server("badbody", |_| {}).await;
    let token = server.active_token(1, 1).await;
    for body in [
        json!({}),
        json!({"scheduleId": 10}),
        json!({"scheduleId": "10", "seatNo": 1}),
        json!({"scheduleId": 10, "seatNo": -1}),
        json!({"scheduleId": 10, "seatNo": 0}),
        json!({"scheduleId": 10, "seatNo": 1.5}),
        json!("10"),
        json!(null),
    ] {
        let (status, reply) = server
            .send(
                Method::POST,
                "/api/reservations",
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, reply["error"]["code"].as_str()),
            (400, Some("BAD_REQUEST")),
            "{body}"
        );
    }
    let resp = server
        .http
        .post(server.url("/api/reservations"))
        .bearer_auth(&token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (_, map) = server.seats(&token, 10).await;
    assert_eq!(map["availableSeats"], 5);
}

#[tokio::test]
async fn a_lapsed_hold_shows_available_at_once_and_can_be_taken() {
    let server = server("lapse", |c| {
        c.hold_ttl = Duration::from_millis(1000);
        c.hold_sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let first = server.active_token(1, 1).await;
    let second = server.active_token(2, 1).await;
    let id = server.hold_id(&first, 10, 2).await;
    assert_eq!(server.seat_status(&first, 10, 2).await, "HELD");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // No sweeper has run (its interval is an hour): the seat reads AVAILABLE anyway.
    assert_eq!(server.seat_status(&first, 10, 2).await, "AVAILABLE");
    let (_, reservation) = server.reservation(&first, &id).await;
    assert_eq!(reservation["status"], "EXPIRED");
    let taken = server.hold_id(&second, 10, 2).await;
    assert_ne!(taken, id);
    assert_eq!(server.seat_status(&first, 10, 2).await, "HELD");
    let (_, reservation) = server.reservation(&first, &id).await;
    assert_eq!(reservation["status"], "EXPIRED");
}

#[tokio::test]
async fn the_sweeper_ends_lapsed_holds() {
    let server = server("sweeper", |c| {
        c.hold_ttl = Duration::from_millis(200);
        c.hold_sweep_interval = Duration::from_millis(50);
    })
    .await;
    let token = server.active_token(1, 1).await;
    let id = server.hold_id(&token, 10, 4).await;
    let keys = server.keys();
    let mut conn = server.redis().await;
    eventually(
        Duration::from_secs(5),
        "the sweeper releases the hold",
        || {
            let mut conn = conn.clone();
            let keys = keys.clone();
            async move {
                let held: Option<String> = redis::cmd("HGET")
                    .arg(keys.schedule(1, 10).held)
                    .arg(4)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                held.is_none().then_some(())
            }
        },
    )
    .await;
    let status: String = redis::cmd("HGET")
        .arg(keys.reservation(1, &id))
        .arg("status")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(status, "EXPIRED");
    let live: u64 = redis::cmd("ZCARD")
        .arg(keys.schedule(1, 10).holds)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(live, 0);
}

#[tokio::test]
async fn a_reservation_is_readable_by_any_genuine_token_of_its_owner_only() {
    let server = server("getres", |_| {}).await;
    let token = server.active_token(1, 1).await;
    let id = server.hold_id(&token, 11, 2).await;
    let (status, body) = server.reservation(&token, &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reservationId"], id.as_str());
    assert_eq!(body["scheduleId"], 11);
    assert_eq!(body["seatNo"], 2);
    assert_eq!(body["price"], 2000);
    assert_eq!(body["status"], "HELD");
    // The owner's token for another concert will do.
    let other_concert = server.active_token(1, 2).await;
    assert_eq!(server.reservation(&other_concert, &id).await.0, 200);
    // Someone else's token will not.
    let stranger = server.active_token(2, 1).await;
    let (status, body) = server.reservation(&stranger, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let (status, body) = server.cancel(&stranger, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    assert_eq!(server.seat_status(&token, 11, 2).await, "HELD");
    for missing in ["R1-999", "R9-1", "nonsense", "R1-0"] {
        let (status, body) = server.reservation(&token, missing).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("RESERVATION_NOT_FOUND")),
            "{missing}"
        );
    }
    let (status, _) = server
        .send(Method::GET, &format!("/api/reservations/{id}"), None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn cancelling_frees_the_seat_at_once_and_is_idempotent() {
    let server = server("cancel", |_| {}).await;
    let token = server.active_token(1, 1).await;
    let id = server.hold_id(&token, 10, 5).await;
    assert_eq!(server.cancel(&token, &id).await.0, 204);
    assert_eq!(server.seat_status(&token, 10, 5).await, "AVAILABLE");
    let (_, body) = server.reservation(&token, &id).await;
    assert_eq!(body["status"], "CANCELLED");
    assert_eq!(server.cancel(&token, &id).await.0, 204);
    let (status, body) = server.cancel(&token, "R1-12345").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("RESERVATION_NOT_FOUND"))
    );
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("NOT_HELD"))
    );
}

#[tokio::test]
async fn a_confirmed_reservation_cannot_be_cancelled() {
    let server = server("cancelpaid", |_| {}).await;
    let token = server.active_token(1, 1).await;
    let id = server.hold_id(&token, 10, 1).await;
    server.charge(1, 1000).await;
    assert_eq!(server.pay(&token, &id).await.0, 201);
    // The payment ended the token; an EXPIRED token of the owner still reads and cancels.
    assert_eq!(server.status(&token).await["status"], "EXPIRED");
    let (status, body) = server.cancel(&token, &id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("ALREADY_CONFIRMED"))
    );
    let (status, body) = server.reservation(&token, &id).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "CONFIRMED");
    assert!(body["paymentId"].as_str().unwrap().starts_with('P'));
}
