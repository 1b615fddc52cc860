//! Booking on a Redis Cluster (issue 14): holds and cancellations stay in the concert's
//! slot and run as on one Redis; payments and wallet charges cross slots (the concert's,
//! the wallet's, the global outbox's), so until they become two single-slot steps a cluster
//! answers them 503 UNAVAILABLE and changes nothing, while one Redis books as ever. Checked
//! against whichever Redis the tests run on (scripts/test.sh runs this module on both).

use crate::helpers::booking::{catalog, concert};
use crate::helpers::{cluster_nodes, TestServer};

#[tokio::test]
async fn payments_and_charges_answer_503_on_a_cluster_and_book_on_one_node() {
    let server = TestServer::with_catalog(
        "cluster-pay",
        &catalog(vec![concert(1, &[(10, 3, 1000)])]),
        |_| {},
    )
    .await;
    let token = server.active_token(1, 1).await;
    // A second buyer's token reads the seat map: a payment may end the payer's token.
    let watcher = server.active_token(2, 1).await;
    let id = server.hold_id(&token, 10, 2).await;
    let (charged, charge) = server.charge(1, 5000).await;
    let (paid, payment) = server.pay(&token, &id).await;
    if cluster_nodes().is_some() {
        for (status, body) in [(charged, &charge), (paid, &payment)] {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (503, Some("UNAVAILABLE")),
                "{body}"
            );
        }
        assert_eq!(server.balance(1).await, 0, "the charge changed nothing");
        assert_eq!(server.seat_status(&watcher, 10, 2).await, "HELD");
    } else {
        assert_eq!(charged, 200, "{charge}");
        assert_eq!(paid, 201, "{payment}");
        assert_eq!(server.balance(1).await, 4000);
        assert_eq!(server.seat_status(&watcher, 10, 2).await, "SOLD");
    }
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
