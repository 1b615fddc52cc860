//! Whatever a client sends to the booking routes, the answer is a 2xx or a 4xx with the
//! error envelope, never a 5xx.

use crate::helpers::booking::{catalog, concert};
use crate::helpers::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn garbage_on_every_booking_route_is_never_5xx() {
    let catalog = catalog(vec![concert(1, &[(10, 3, 1000)])]);
    let server = TestServer::with_catalog("booking-garbage", &catalog, |_| {}).await;
    let token = server.active_token(1, 1).await;
    let long = "9".repeat(500);
    let paths = [
        format!("/api/reservations/{long}"),
        "/api/reservations/R1-1%00".into(),
        "/api/reservations/%F0%9F%98%80".into(),
        "/api/reservations/R18446744073709551616-1".into(),
        format!("/api/schedules/{long}/seats"),
        "/api/schedules/-1/seats".into(),
        "/api/users/1e3/balance".into(),
        format!("/api/users/{long}/balance/charge"),
        "/api/concerts/ranking?by=&limit=-1".into(),
        "/api/concerts/ranking?limit=99999999999999999999999".into(),
        "/api/concerts/ranking?by=%00".into(),
    ];
    let bodies = [
        json!(null),
        json!({"scheduleId": 1e300, "seatNo": 1}),
        json!({"scheduleId": 10, "seatNo": 9_007_199_254_740_993u64}),
        json!({"reservationId": long}),
        json!({"reservationId": "R1-1\u{0}"}),
        json!({"amount": -1e300}),
        json!({"amount": 9_007_199_254_740_993u64}),
    ];
    let mut answers = Vec::new();
    for path in &paths {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            answers.push((
                path.clone(),
                server.send(method, path, Some(&token), None).await,
            ));
        }
    }
    for route in [
        "/api/reservations",
        "/api/payments",
        "/api/users/1/balance/charge",
    ] {
        for body in &bodies {
            answers.push((
                route.to_string(),
                server
                    .send(Method::POST, route, Some(&token), Some(body.clone()))
                    .await,
            ));
        }
    }
    let odd_key = server
        .http
        .post(server.url("/api/users/1/balance/charge"))
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        )
        .json(&json!({"amount": 5}))
        .send()
        .await
        .unwrap();
    answers.push((
        "odd Idempotency-Key".into(),
        crate::helpers::split(odd_key).await,
    ));
    for (what, (status, body)) in &answers {
        assert!(*status < 500, "{what}: {status} {body}");
        if *status >= 400 {
            assert!(body["error"]["code"].is_string(), "{what}: {body}");
        }
    }
    assert_eq!(server.balance(1).await, 0, "nothing above charged anything");
}
