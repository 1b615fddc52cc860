//! Booking on a Redis Cluster (issue 14): holds and cancellations stay in the concert's
//! slot; a wallet charge stays in its bucket's slot (the wallet and its bucket's outbox);
//! a payment runs in three single-slot steps there (src/booking/payment.rs) and in one
//! script on one Redis, with the same answers. Checked against whichever Redis the tests
//! run on (scripts/test.sh runs this module on both).

use crate::helpers::booking::{catalog, concert};
use crate::helpers::TestServer;

#[tokio::test]
async fn payments_and_charges_book_wherever_the_wallets_and_the_concert_live() {
    let server = TestServer::with_catalog(
        "cluster-pay",
        &catalog(vec![concert(1, &[(10, 8, 1000)])]),
        |_| {},
    )
    .await;
    // A buyer who holds no seat reads the seat map: a payment may end the payer's token.
    let watcher = server.active_token(99, 1).await;
    // Users in different wallet buckets, so in different slots (and masters, on a cluster).
    for (seat, user) in [(1, 1), (2, 2), (3, 40), (4, 63), (5, 64)] {
        let (charged, charge) = server.charge(user, 5000).await;
        assert_eq!(charged, 200, "{charge}");
        let token = server.active_token(user, 1).await;
        let id = server.hold_id(&token, 10, seat).await;
        let (paid, payment) = server.pay(&token, &id).await;
        assert_eq!(paid, 201, "{payment}");
        assert_eq!(payment["balance"], 4000);
        assert_eq!(server.balance(user).await, 4000);
        assert_eq!(server.seat_status(&watcher, 10, seat).await, "SOLD");
    }
    let outbox = server.outbox().await;
    let count = |kind: &str| outbox.iter().filter(|(k, _, _)| k == kind).count();
    assert_eq!(count("wallet.charged"), 5, "{outbox:?}");
    assert_eq!(count("reservation.confirmed"), 5, "{outbox:?}");
}

#[tokio::test]
async fn a_cancelled_hold_frees_its_seat_at_once_wherever_the_concert_lives() {
    let server = TestServer::with_catalog(
        "cluster-cancel",
        &catalog(vec![
            concert(3, &[(30, 2, 700)]),
            concert(4, &[(40, 2, 800)]),
        ]),
        |_| {},
    )
    .await;
    for (concert, schedule) in [(3, 30), (4, 40)] {
        let token = server.active_token(1, concert).await;
        let id = server.hold_id(&token, schedule, 1).await;
        assert_eq!(server.seat_status(&token, schedule, 1).await, "HELD");
        assert_eq!(server.cancel(&token, &id).await.0, 204);
        assert_eq!(server.seat_status(&token, schedule, 1).await, "AVAILABLE");
        let (_, body) = server.reservation(&token, &id).await;
        assert_eq!(body["status"], "CANCELLED", "{body}");
        assert_eq!(server.cancel(&token, &id).await.0, 204, "idempotent");
    }
}
