//! The on-sale in a browser: the pre-queue's countdown and the opening that lets the buyer
//! in by itself, the SOLD_OUT screen (reached while waiting and when joining too late), and
//! a platform JWT in the address's fragment joining a server in jwt mode.

use std::time::Duration;

use serde_json::{json, Value};

use crate::chrome::{Chromedriver, Window};
use crate::helpers::booking::{catalog, concert};
use crate::helpers::jwt::{claims, hs256, AUDIENCE, ISSUER, SECRET};
use crate::helpers::onsale::{rfc3339, with_admin};
use crate::helpers::TestServer;
use crate::stage::{server, CONCERT, R_PRICE, SCHEDULE};
use crate::waiting_room::{join, wait_for_position};

/// The countdown's text, e.g. `0:07`, as seconds.
fn countdown_secs(text: &str) -> u64 {
    text.split(':').fold(0, |secs, part| {
        secs * 60 + part.trim().parse::<u64>().unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_queue_counts_down_and_the_opening_lets_the_buyer_in() {
    let (server, _db) = server("browser_prequeue", with_admin).await;
    let opens_at = server.redis_now_ms().await + 12_000;
    server
        .patch_queue(CONCERT, json!({"opensAt": rfc3339(opens_at)}))
        .await;
    let driver = Chromedriver::start().await;
    let browser = driver.open("prequeue", Window::Desktop).await;

    join(&browser, &server, 501).await;
    browser
        .wait_for("#prequeue-heading", "The line opens soon")
        .await;
    let first = browser
        .wait_for_text("#opens-in", "a countdown", |t| t.contains(':'))
        .await;
    browser.screenshot("waiting-room-prequeue").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let later = browser.shown_text("#opens-in").await.unwrap();
    assert!(
        countdown_secs(&later) < countdown_secs(&first) && countdown_secs(&first) <= 12,
        "the countdown runs down: {first} then {later}"
    );
    let token = browser
        .stored(&format!("cq:{CONCERT}:token"))
        .await
        .unwrap();
    assert_eq!(server.status(&token).await["status"], "PRE_QUEUE");

    // At opensAt the pre-queue gets its places and, the line being short, the turn: the
    // page follows the advice and moves on to the seats by itself.
    browser.wait_for_path(&format!("/book/{CONCERT}")).await;
    browser.wait_for("#seatmap-heading", "Seat map").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sold_out_is_shown_to_those_waiting_and_to_those_who_come_too_late() {
    // A concert of one seat, and one buyer at a time, so the browser waits while the
    // other buys it.
    let one_seat = catalog(vec![concert(CONCERT, &[(SCHEDULE, 1, R_PRICE)])]);
    let (server, _db) = TestServer::with_catalog_in_mysql("browser_soldout", &one_seat, |c| {
        c.queue_max_active = 1;
    })
    .await;
    let buyer = server.active_token(601, CONCERT).await;
    let driver = Chromedriver::start().await;
    let waiting = driver.open("soldout-waiting", Window::Desktop).await;
    join(&waiting, &server, 602).await;
    wait_for_position(&waiting, 1).await;

    let id = server.hold_id(&buyer, SCHEDULE, 1).await;
    assert_eq!(server.charge(601, R_PRICE).await.0, 200);
    let (status, body) = server.pay(&buyer, &id).await;
    assert_eq!(status, 201, "{body}");
    waiting.wait_for("#soldout-heading", "Sold out").await;
    waiting.screenshot("waiting-room-sold-out").await;

    // A browser that comes afterwards is told the same when it joins, and keeps no token.
    let late = driver.open("soldout-late", Window::Phone).await;
    join(&late, &server, 603).await;
    late.wait_for("#soldout-heading", "Sold out").await;
    assert_eq!(late.stored(&format!("cq:{CONCERT}:token")).await, None);
    for browser in [waiting, late] {
        browser.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_jwt_in_the_fragment_joins_a_jwt_server_as_its_user() {
    let (server, _db) = server("browser_jwt_ok", |c| {
        c.auth_mode = Some(concert_queue::auth::AuthMode::Jwt);
        c.auth_jwt_secret = Some(SECRET.into());
        c.auth_jwt_issuer = Some(ISSUER.into());
        c.auth_jwt_audience = Some(AUDIENCE.into());
        c.queue_max_active = 0; // the line keeps the buyer, to read its place
    })
    .await;
    let driver = Chromedriver::start().await;
    let browser = driver.open("jwt-ok", Window::Desktop).await;
    let jwt = hs256(&claims("4242"));
    browser
        .goto(&server.url(&format!("/waiting-room/{CONCERT}#jwt={jwt}")))
        .await;
    // No form: the page joins with the JWT at once, as the JWT's user.
    wait_for_position(&browser, 1).await;
    assert_eq!(browser.shown_text("#view-join").await, None);
    let token = browser
        .stored(&format!("cq:{CONCERT}:token"))
        .await
        .unwrap();
    let status: Value = server.status(&token).await;
    assert_eq!(status["status"], "WAITING", "{status}");
    let user = token.split('.').nth(2).unwrap();
    assert_eq!(user, "4242", "the queue token is the JWT's user's: {token}");
    browser.close().await;
}
