//! The waiting room: three browsers in one line with one turn at a time, the next one
//! moving on by itself when the turn before it ends; and the EXPIRED screen, reached from
//! a turn that ran out, with its way to join again.

use std::time::Duration;

use serde_json::Value;

use crate::chrome::{Browser, Chromedriver, Window};
use crate::helpers::TestServer;
use crate::stage::{server, CONCERT};

/// Opens the concert's waiting room and joins the line as `user_id` through its form.
pub async fn join(browser: &Browser, server: &TestServer, user_id: u64) {
    browser
        .goto(&server.url(&format!("/waiting-room/{CONCERT}")))
        .await;
    browser.wait_for("#join-heading", "Take your place").await;
    browser.type_into("#user-id", &user_id.to_string()).await;
    browser.click("#join").await;
}

/// Waits until the waiting room shows `position`.
pub async fn wait_for_position(browser: &Browser, position: u64) {
    let expected = position.to_string();
    browser
        .wait_for_text("#position", &format!("position {position}"), |t| {
            t == expected
        })
        .await;
}

/// What the waiting room's live region last said to screen readers.
pub async fn announced(browser: &Browser) -> serde_json::Value {
    browser
        .run(
            "return document.getElementById('announce').textContent;",
            vec![],
        )
        .await
}

/// The progress bar's `aria-valuenow`, as a number.
async fn progress(browser: &Browser) -> u64 {
    browser
        .attribute("#progress", "aria-valuenow")
        .await
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_browsers_share_one_turn_and_the_next_moves_on_by_itself() {
    // One ACTIVE buyer at a time, for a few seconds each.
    let (server, _db) = server("browser_three", |c| {
        c.queue_max_active = 1;
        c.active_ttl = Duration::from_secs(6);
    })
    .await;
    let driver = Chromedriver::start().await;
    let first = driver.open("three-first", Window::Desktop).await;
    let second = driver.open("three-second", Window::Desktop).await;
    let third = driver.open("three-third", Window::Phone).await;

    join(&first, &server, 101).await;
    first.wait_for_path(&format!("/book/{CONCERT}")).await;
    join(&second, &server, 102).await;
    wait_for_position(&second, 1).await;
    join(&third, &server, 103).await;
    wait_for_position(&third, 2).await;

    // The third's page: its place, a wait estimate, and a progress bar screen readers
    // hear about (role, value, and a live region saying the position).
    assert_eq!(
        third.attribute("#progress", "role").await.as_deref(),
        Some("progressbar")
    );
    assert_eq!(progress(&third).await, 0);
    let wait = third.shown_text("#wait").await.unwrap();
    assert!(
        wait.contains("min") || wait == "Not known yet",
        "estimated wait: {wait:?}"
    );
    assert_eq!(announced(&third).await, "You are number 2 in line.");
    assert_eq!(
        third.attribute("#announce", "aria-live").await.as_deref(),
        Some("polite")
    );
    third.screenshot("waiting-room-position-2-phone").await;
    second.screenshot("waiting-room-position-1").await;

    // The first turn ends; the second browser moves on to the seats by itself: its page
    // navigated from the waiting room (not a reload), and no one touched it.
    second.wait_for_path(&format!("/book/{CONCERT}")).await;
    let navigation = second
        .run(
            "return [performance.getEntriesByType('navigation')[0].type, document.referrer];",
            vec![],
        )
        .await;
    assert_eq!(navigation[0], "navigate");
    assert!(
        navigation[1]
            .as_str()
            .unwrap()
            .ends_with(&format!("/waiting-room/{CONCERT}")),
        "{navigation}"
    );
    second.wait_for("#seatmap-heading", "Seat map").await;
    second.wait_for("#turn", "Your turn ends in").await;
    second.screenshot("book-after-moving-on").await;

    // The third moves up to position 1 without a reload, and its progress shows it.
    wait_for_position(&third, 1).await;
    assert_eq!(progress(&third).await, 50);

    // The first buyer's page says the turn is over and leads back to the line.
    first.wait_for("#gone-heading", "Your turn has ended").await;

    for browser in [first, second, third] {
        browser.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_place_says_so_and_joins_again() {
    let (server, _db) = server("browser_expired", |c| {
        c.active_ttl = Duration::from_secs(3);
    })
    .await;
    let driver = Chromedriver::start().await;
    let browser = driver.open("expired", Window::Desktop).await;

    join(&browser, &server, 301).await;
    browser.wait_for_path(&format!("/book/{CONCERT}")).await;
    let first_token = browser
        .stored(&format!("cq:{CONCERT}:token"))
        .await
        .unwrap();

    // The turn runs out: the seats page says so and links back to the waiting room.
    browser
        .wait_for("#gone-heading", "Your turn has ended")
        .await;
    browser.screenshot("book-turn-ended").await;
    assert_eq!(
        server.status(&first_token).await["status"],
        Value::from("EXPIRED")
    );
    browser.click("#to-waiting-room").await;
    browser
        .wait_for_path(&format!("/waiting-room/{CONCERT}"))
        .await;

    // The waiting room shows EXPIRED, with a way to join again.
    browser
        .wait_for("#expired-heading", "Your place has expired")
        .await;
    browser.wait_for("#rejoin", "Join again").await;
    browser.screenshot("waiting-room-expired").await;

    // Joining again takes a new place (a new token) and, the line being empty, the turn.
    browser.click("#rejoin").await;
    browser.wait_for_path(&format!("/book/{CONCERT}")).await;
    let second_token = browser
        .stored(&format!("cq:{CONCERT}:token"))
        .await
        .unwrap();
    assert_ne!(first_token, second_token);
    let status = server.status(&second_token).await["status"].clone();
    assert!(
        status == "ACTIVE" || status == "EXPIRED",
        "the new place is a turn (over again by now if the machine is slow): {status}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_jwt_in_the_fragment_joins_without_asking_and_leaves_the_address() {
    let (server, _db) = server("browser_jwt", |_| {}).await;
    let driver = Chromedriver::start().await;
    let browser = driver.open("jwt", Window::Desktop).await;
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl";
    browser
        .goto(&server.url(&format!("/waiting-room/{CONCERT}#jwt={jwt}")))
        .await;
    // The page joins at once with the JWT (this server, not in jwt mode, refuses it), so
    // it never asks for a user id; the JWT leaves the address bar and stays in the tab.
    browser
        .wait_for("#problem-heading", "You cannot join")
        .await;
    assert_eq!(browser.shown_text("#view-join").await, None);
    let address = browser.run("return location.href;", vec![]).await;
    assert_eq!(
        address,
        Value::from(server.url(&format!("/waiting-room/{CONCERT}")))
    );
    assert_eq!(
        browser.stored("cq:platform:jwt").await.as_deref(),
        Some(jwt)
    );
    browser.close().await;
}
