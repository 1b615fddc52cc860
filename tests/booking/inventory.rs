//! Inventory-aware admission: never more buyers ACTIVE than seats left to sell (times
//! ADMIT_PER_AVAILABLE_SEAT); admission pauses while every unsold seat is HELD; the payment
//! that sells the last seat closes the queue at once: WAITING and PRE_QUEUE tokens answer
//! SOLD_OUT and joining answers 409.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::booking::{catalog, concert};
use crate::helpers::onsale::{rfc3339, with_admin};
use crate::helpers::{eventually, TestServer};

/// Buys seat `seat` of schedule 10 of concert 1 as `user` (joins, waits to be ACTIVE,
/// holds, pays).
async fn buy(server: &TestServer, user: u64, seat: u64) {
    assert_eq!(server.charge(user, 10_000).await.0, 200);
    let token = server.active_token(user, 1).await;
    let id = server.hold_id(&token, 10, seat).await;
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn five_seats_left_admit_five_and_the_last_sale_closes_the_queue() {
    let catalog = catalog(vec![concert(1, &[(10, 10, 1000)])]);
    let server = TestServer::with_catalog("inventory", &catalog, with_admin).await;
    for seat in 1..=5 {
        buy(&server, 100 + seat, seat).await;
    }
    let figures = server.patch_queue(1, json!({"maxActive": 500})).await;
    assert_eq!(
        figures["seats"],
        json!({"total": 10, "available": 5, "held": 0, "sold": 5}),
        "{figures}"
    );

    let mut tokens = Vec::new();
    for user in 1..=40 {
        tokens.push((user, server.join_token(user, 1).await));
    }
    eventually(Duration::from_secs(5), "five admitted", || async {
        (server.active_users(1).await.len() == 5).then_some(())
    })
    .await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let active = server.active_users(1).await.len();
        assert!(active <= 5, "{active} ACTIVE with 5 seats left");
    }

    // The five hold the five seats left: none AVAILABLE, five HELD.
    let active = server.active_users(1).await;
    let token_of = |user: u64| tokens.iter().find(|(u, _)| *u == user).unwrap().1.clone();
    let mut holds = Vec::new();
    for (i, &user) in active.iter().enumerate() {
        let token = token_of(user);
        holds.push((
            user,
            token.clone(),
            server.hold_id(&token, 10, 6 + i as u64).await,
        ));
    }
    let figures = server.figures(1).await;
    assert_eq!(figures["seats"]["available"], 0, "{figures}");
    assert_eq!(figures["seats"]["held"], 5, "{figures}");
    // An ACTIVE buyer leaves (evicted) with their hold live: nobody takes the slot while
    // nothing is AVAILABLE.
    let (leaver, _, leaver_hold) = holds.pop().unwrap();
    let (status, _) = server
        .admin(
            Method::DELETE,
            &format!("/admin/concerts/1/queue/users/{leaver}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.active_users(1).await.len(), 4, "admission pauses");
    // Its hold lapses: one seat AVAILABLE, but four buyers are ACTIVE already, more than
    // the one seat left: still nobody.
    server.lapse_hold(1, 10, leaver, &leaver_hold).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.active_users(1).await.len(),
        4,
        "4 ACTIVE > 1 AVAILABLE"
    );
    let figures = server.figures(1).await;
    assert_eq!(
        figures["seats"],
        json!({"total": 10, "available": 1, "held": 4, "sold": 5}),
        "{figures}"
    );

    // The four pay (each payment ends its token): one seat left, one buyer admitted.
    for (user, token, id) in &holds {
        assert_eq!(server.charge(*user, 10_000).await.0, 200);
        let (status, body) = server.pay(token, id).await;
        assert_eq!(status, 201, "{body}");
    }
    eventually(
        Duration::from_secs(5),
        "one admitted for the last seat",
        || async { (server.active_users(1).await.len() == 1).then_some(()) },
    )
    .await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(server.active_users(1).await.len(), 1, "one seat, one buyer");
    }
    // The newcomer buys the last seat: the queue closes in that payment.
    let newcomer = server
        .active_users(1)
        .await
        .into_iter()
        .find(|u| !holds.iter().any(|(h, _, _)| h == u))
        .unwrap();
    let token = token_of(newcomer);
    let id = server.hold_id(&token, 10, 10).await;
    assert_eq!(server.charge(newcomer, 10_000).await.0, 200);
    let still_waiting = tokens
        .iter()
        .find(|(u, _)| *u != newcomer && !holds.iter().any(|(h, _, _)| h == u) && *u != leaver)
        .unwrap()
        .1
        .clone();
    assert_eq!(server.status(&still_waiting).await["status"], "WAITING");
    let (status, body) = server.pay(&token, &id).await;
    assert_eq!(status, 201, "{body}");

    // No tick needed: the payment's own step closed it.
    let status = server.status(&still_waiting).await;
    assert_eq!(status, json!({"status": "SOLD_OUT", "concertId": 1}));
    let (status, body) = server.join(999, 1).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("SOLD_OUT")),
        "{body}"
    );
    let figures = server.figures(1).await;
    assert_eq!(figures["state"], "SOLD_OUT", "{figures}");
    assert_eq!(figures["seats"]["sold"], 10);
}

#[tokio::test]
async fn the_last_sale_turns_pre_queue_tokens_into_sold_out() {
    // One seat, and a pre-queue waiting for its opening. The buyer of that seat is a
    // session admitted before (written into Redis as the activation script writes it).
    let catalog = catalog(vec![concert(1, &[(10, 1, 1000)])]);
    let server = TestServer::with_catalog("inventory-pre", &catalog, with_admin).await;
    let opens_at = server.redis_now_ms().await + 3_600_000;
    server
        .patch_queue(1, json!({"opensAt": rfc3339(opens_at)}))
        .await;
    let waiting = server.join_token(7, 1).await;
    assert_eq!(server.status(&waiting).await["status"], "PRE_QUEUE");

    let seq = 1_000_000u64;
    let keys = server.keys().queue(1);
    let mut conn = server.redis().await;
    let expires = server.redis_now_ms().await + 60_000;
    let _: () = redis::pipe()
        .zadd(&keys.active, 8, expires)
        .hset(&keys.active_seq, 8, seq)
        .query_async(&mut conn)
        .await
        .unwrap();
    let signer = concert_queue::queue::TokenSigner::new(server.config.token_secret.as_bytes());
    let buyer = signer.sign(&concert_queue::queue::Claims::new(1, 8, seq));
    assert_eq!(server.charge(8, 10_000).await.0, 200);
    let id = server.hold_id(&buyer, 10, 1).await;
    let (status, body) = server.pay(&buyer, &id).await;
    assert_eq!(status, 201, "{body}");

    assert_eq!(
        server.status(&waiting).await,
        json!({"status": "SOLD_OUT", "concertId": 1})
    );
    let (status, body) = server.join(9, 1).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("SOLD_OUT")),
        "{body}"
    );
    let (status, _) = server.join(7, 1).await;
    assert_eq!(status, 409, "re-joining too");
}
