//! Wallets: balances, charges, their limits, Idempotency-Key and the outbox entry.

use crate::helpers::TestServer;
use reqwest::Method;
use serde_json::json;

async fn charge_with_key(
    server: &TestServer,
    user: u64,
    amount: u64,
    key: &str,
) -> (u16, serde_json::Value) {
    let resp = server
        .http
        .post(server.url(&format!("/api/users/{user}/balance/charge")))
        .header("Idempotency-Key", key)
        .json(&json!({"amount": amount}))
        .send()
        .await
        .unwrap();
    crate::helpers::split(resp).await
}

#[tokio::test]
async fn a_user_never_charged_has_balance_zero() {
    let server = TestServer::start("wallet-zero", |_| {}).await;
    let (status, body) = server
        .send(Method::GET, "/api/users/42/balance", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"userId": 42, "balance": 0}));
}

#[tokio::test]
async fn charges_add_up_and_answer_the_new_balance() {
    let server = TestServer::start("wallet-charge", |_| {}).await;
    let (status, body) = server.charge(42, 50_000).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"userId": 42, "balance": 50_000}));
    let (_, body) = server.charge(42, 1).await;
    assert_eq!(body["balance"], 50_001);
    assert_eq!(server.balance(42).await, 50_001);
    assert_eq!(server.balance(43).await, 0);
}

#[tokio::test]
async fn amounts_outside_one_to_the_maximum_are_400_invalid_amount() {
    let server = TestServer::start("wallet-invalid", |c| c.charge_max = 1000).await;
    for amount in [
        json!(0),
        json!(-5),
        json!(1001),
        json!(1.5),
        json!(1e30),
        json!(18446744073709551615u64),
    ] {
        let (status, body) = server
            .post("/api/users/7/balance/charge", json!({"amount": amount}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("INVALID_AMOUNT")),
            "{amount}"
        );
    }
    for body in [json!({}), json!({"amount": "100"}), json!({"amount": null})] {
        let (status, reply) = server
            .post("/api/users/7/balance/charge", body.clone())
            .await;
        assert_eq!(
            (status, reply["error"]["code"].as_str()),
            (400, Some("BAD_REQUEST")),
            "{body}"
        );
    }
    let (status, _) = server.charge(7, 1000).await;
    assert_eq!(status, 200);
    assert_eq!(server.balance(7).await, 1000);
    assert_eq!(
        server.outbox().await.len(),
        1,
        "refused charges leave no ledger entry"
    );
}

#[tokio::test]
async fn unknown_user_paths_are_404_and_wrong_methods_405() {
    let server = TestServer::start("wallet-routes", |_| {}).await;
    assert_eq!(
        server
            .send(Method::GET, "/api/users/0/balance", None, None)
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .send(Method::GET, "/api/users/x/balance", None, None)
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .send(Method::POST, "/api/users/1/balance", None, None)
            .await
            .0,
        405
    );
    assert_eq!(
        server
            .send(Method::GET, "/api/users/1/balance/charge", None, None)
            .await
            .0,
        405
    );
}

#[tokio::test]
async fn the_balance_never_passes_its_maximum() {
    let server = TestServer::start("wallet-max", |c| {
        c.charge_max = concert_queue::config::MAX_CHARGE_LIMIT
    })
    .await;
    let max = concert_queue::config::MAX_BALANCE;
    let step = concert_queue::config::MAX_CHARGE_LIMIT;
    for _ in 0..(max / step) {
        assert_eq!(server.charge(9, step).await.0, 200);
    }
    assert_eq!(server.balance(9).await, max);
    let (status, body) = server.charge(9, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("BALANCE_LIMIT"))
    );
    assert_eq!(server.balance(9).await, max);
}

#[tokio::test]
async fn an_idempotency_key_charges_once_and_repeats_the_first_answer() {
    let server = TestServer::start("wallet-idem", |_| {}).await;
    let (status, first) = charge_with_key(&server, 5, 700, "order-1").await;
    assert_eq!(status, 200);
    server.charge(5, 100).await;
    let (status, again) = charge_with_key(&server, 5, 700, "order-1").await;
    assert_eq!(status, 200);
    assert_eq!(again, first, "the first answer, not the current balance");
    assert_eq!(server.balance(5).await, 800);
    // The same key with another amount is a conflict and charges nothing.
    let (status, body) = charge_with_key(&server, 5, 900, "order-1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("IDEMPOTENCY_CONFLICT"))
    );
    // Keys belong to their user.
    let (status, body) = charge_with_key(&server, 6, 900, "order-1").await;
    assert_eq!((status, body["balance"].as_u64()), (200, Some(900)));
    assert_eq!(server.balance(5).await, 800);
    let (status, _) = charge_with_key(&server, 5, 1, "has space").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn parallel_retries_with_one_key_charge_once() {
    let server = TestServer::start("wallet-idem-race", |_| {}).await;
    let answers =
        futures::future::join_all((0..20).map(|_| charge_with_key(&server, 8, 300, "k"))).await;
    for answer in &answers {
        assert_eq!(answer, &(200, json!({"userId": 8, "balance": 300})));
    }
    assert_eq!(server.balance(8).await, 300);
    assert_eq!(server.outbox().await.len(), 1);
}

#[tokio::test]
async fn each_charge_appends_one_wallet_charged_entry_to_the_outbox() {
    let server = TestServer::start("wallet-outbox", |_| {}).await;
    charge_with_key(&server, 11, 2500, "abc").await;
    server.charge(11, 500).await;
    let entries = server.outbox().await;
    assert_eq!(entries.len(), 2);
    let (kind, id, data) = &entries[0];
    assert_eq!(kind, "wallet.charged");
    assert_eq!(id, "L11-1");
    assert_eq!(data["ledgerId"], "L11-1");
    assert_eq!(data["userId"], 11);
    assert_eq!(data["amount"], 2500);
    assert_eq!(data["balanceAfter"], 2500);
    assert_eq!(data["idempotencyKey"], "abc");
    let now = chrono::Utc::now().timestamp_millis();
    assert!((data["chargedAtMs"].as_i64().unwrap() - now).abs() < 10_000);
    let (_, id, data) = &entries[1];
    assert_eq!(id, "L11-2");
    assert_eq!(data["balanceAfter"], 3000);
    assert!(data["idempotencyKey"].is_null());
}

/// Attack (issue 10): "each new Idempotency-Key leaves a 24 h record in Redis plus outbox
/// entries and MySQL rows, so a loop fills Redis" — on main, without a limit. Now a wallet
/// takes CHARGES_PER_USER_PER_MIN charges a minute (across servers: the budget lives in the
/// wallet's hash); beyond, 429 with a Retry-After and nothing written. Replays spend none.
#[tokio::test]
async fn a_wallet_takes_its_charge_budget_and_then_429() {
    let server = TestServer::start("wallet-budget", |c| c.charges_per_user_per_min = 3).await;
    for n in 0..3 {
        let (status, _) = charge_with_key(&server, 21, 100, &format!("k{n}")).await;
        assert_eq!(status, 200, "charge {n}");
    }
    let resp = server
        .http
        .post(server.url("/api/users/21/balance/charge"))
        .header("Idempotency-Key", "k3")
        .json(&json!({"amount": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&retry_after),
        "a charge comes back every 20 s: {retry_after}"
    );
    let (_, body) = crate::helpers::split(resp).await;
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // A replay is no new charge: it is answered, budget or not.
    let (status, body) = charge_with_key(&server, 21, 100, "k1").await;
    assert_eq!((status, body["balance"].as_u64()), (200, Some(200)));
    let (status, _) = server.charge(21, 5).await;
    assert_eq!(status, 429, "without a key too");
    assert_eq!(server.balance(21).await, 300);
    assert_eq!(
        server.outbox().await.len(),
        3,
        "refused charges wrote nothing"
    );
    // Another wallet has its own budget.
    assert_eq!(server.charge(22, 5).await.0, 200);
}

/// The idempotency answers a user leaves are bounded: beyond IDEMPOTENCY_KEYS_PER_USER, a
/// new key evicts the oldest (its record is deleted; a retry with it would charge again).
#[tokio::test]
async fn a_users_idempotency_keys_are_bounded_with_the_oldest_evicted() {
    let server = TestServer::start("wallet-keys", |c| c.idempotency_keys_per_user = 3).await;
    for n in 1..=5 {
        let (status, _) = charge_with_key(&server, 31, 10, &format!("order-{n}")).await;
        assert_eq!(status, 200);
    }
    let keys = server.keys();
    let mut conn = server.redis().await;
    let kept: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.charge_idempotency_index(31))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, ["order-3", "order-4", "order-5"]);
    for (n, exists) in [(1, 0), (2, 0), (3, 1), (4, 1), (5, 1)] {
        let found: u64 = redis::cmd("EXISTS")
            .arg(keys.charge_idempotency(31, &format!("order-{n}")))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(found, exists, "order-{n}");
    }
    let ttl: i64 = redis::cmd("PTTL")
        .arg(keys.charge_idempotency_index(31))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "the index expires with its records");
    let (_, replay) = charge_with_key(&server, 31, 10, "order-5").await;
    assert_eq!(replay["balance"], 50, "a kept key still replays");
    assert_eq!(server.balance(31).await, 50);
    // Another user's keys are counted apart.
    let (status, _) = charge_with_key(&server, 32, 10, "order-1").await;
    assert_eq!(status, 200);
    let (_, again) = charge_with_key(&server, 31, 10, "order-3").await;
    assert_eq!(
        again["balance"], 30,
        "order-3 was kept: its first answer again"
    );
    assert_eq!(server.balance(31).await, 50);
}
