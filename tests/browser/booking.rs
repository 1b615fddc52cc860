//! A buyer goes from the concerts page through the waiting room to the seat map, holds a
//! seat (with its countdown), charges the wallet, pays and sees it CONFIRMED, while
//! another browser's live seat map shows the seat HELD, then SOLD, without a reload.

use serde_json::json;

use crate::chrome::{Browser, Chromedriver, Window};
use crate::stage::{server, CONCERT, R_PRICE, SCHEDULE};
use crate::waiting_room::join;

const SEAT: u64 = 3;

fn seat(seat_no: u64) -> String {
    format!("#seats [data-seat=\"{seat_no}\"]")
}

/// Seconds left on a countdown shown as m:ss.
fn seconds(countdown: &str) -> u64 {
    let (minutes, seconds) = countdown
        .split_once(':')
        .unwrap_or_else(|| panic!("a countdown: {countdown:?}"));
    minutes.parse::<u64>().unwrap() * 60 + seconds.parse::<u64>().unwrap()
}

async fn wait_for_seat(browser: &Browser, seat_no: u64, status: &str) {
    browser
        .wait_for_attribute(&seat(seat_no), "data-status", status)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_holds_and_pays_while_another_map_shows_the_seat_sold() {
    let (server, _db) = server("browser_booking", |_| {}).await;
    let driver = Chromedriver::start().await;
    let buyer = driver.open("booking-buyer", Window::Desktop).await;
    let other = driver.open("booking-other", Window::Phone).await;

    // The concerts page lists both concerts, each with a link to its waiting room.
    buyer.goto(&server.url("/")).await;
    buyer.wait_for("#concerts", "Aurora Live in Seoul").await;
    buyer.wait_for("#concerts", "Neon Tides World Tour").await;
    buyer.screenshot("concerts").await;
    buyer
        .click(&format!("#concerts a[href=\"/waiting-room/{CONCERT}\"]"))
        .await;
    buyer
        .wait_for_path(&format!("/waiting-room/{CONCERT}"))
        .await;
    buyer
        .wait_for("#concert-title", "Aurora Live in Seoul")
        .await;
    buyer.screenshot("waiting-room-join").await;
    buyer.type_into("#user-id", "501").await;
    buyer.click("#join").await;

    // An empty line: straight to the seats, both browsers.
    buyer.wait_for_path(&format!("/book/{CONCERT}")).await;
    join(&other, &server, 502).await;
    other.wait_for_path(&format!("/book/{CONCERT}")).await;
    for browser in [&buyer, &other] {
        browser.wait_for("#schedules", "20 seats left").await;
        wait_for_seat(browser, SEAT, "AVAILABLE").await;
    }
    // The other browser's page stays the same page from here on (checked at the end).
    other
        .run("window.stillTheSamePage = true; return null;", vec![])
        .await;

    // Hold seat 3: the hold shows its expiry countdown, which runs.
    buyer.click(&seat(SEAT)).await;
    buyer.wait_for("#selected", "Seat 3 · ₩165,000").await;
    buyer.click("#hold").await;
    buyer
        .wait_for("#held-heading", "Seat 3 is held for you")
        .await;
    let left = seconds(
        &buyer
            .wait_for_text("#held-left", "a countdown", |t| t.contains(':'))
            .await,
    );
    assert!(
        (1..=300).contains(&left),
        "{left} s left on a 5-minute hold"
    );
    buyer
        .wait_for_text("#held-left", "the countdown runs", |t| {
            t.contains(':') && seconds(t) < left
        })
        .await;
    wait_for_seat(&buyer, SEAT, "MINE").await;
    assert_eq!(buyer.shown_text("#notice").await, None, "no complaint");
    wait_for_seat(&other, SEAT, "HELD").await;
    buyer.screenshot("book-held").await;

    // Paying with an empty wallet is refused and says why; the hold stays.
    buyer.wait_for("#pay", "Pay ₩165,000").await;
    buyer.click("#pay").await;
    buyer.wait_for("#notice", "Your balance is too low").await;
    buyer
        .wait_for("#held-heading", "Seat 3 is held for you")
        .await;

    // Charge the wallet (the demo's button), then pay.
    buyer.click("#charge").await;
    buyer.wait_for("#balance", "₩200,000").await;
    buyer.click("#pay").await;
    buyer.wait_for("#view-confirmed", "CONFIRMED").await;
    buyer.wait_for("#confirmed-heading", "Booked: seat 3").await;
    buyer
        .wait_for("#confirmed-lead", &format!("₩{}", group(200_000 - R_PRICE)))
        .await;
    buyer.screenshot("book-confirmed").await;
    assert_eq!(server.balance(501).await, 200_000 - R_PRICE);

    // The other browser's map shows the seat SOLD, without a reload.
    wait_for_seat(&other, SEAT, "SOLD").await;
    assert_eq!(
        other
            .run("return window.stillTheSamePage === true;", vec![])
            .await,
        json!(true)
    );
    let label = other.attribute(&seat(SEAT), "aria-label").await.unwrap();
    assert_eq!(label, "Seat 3, ₩165,000, Sold");
    assert_eq!(
        other.attribute(&seat(SEAT), "disabled").await.as_deref(),
        Some("true")
    );
    other.screenshot("book-seat-sold-phone").await;
    let token = other.stored(&format!("cq:{CONCERT}:token")).await.unwrap();
    assert_eq!(server.seat_status(&token, SCHEDULE, SEAT).await, "SOLD");

    for browser in [buyer, other] {
        browser.close().await;
    }
}

/// 35000 -> "35,000".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
