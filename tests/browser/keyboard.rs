//! The keyboard alone: the skip link comes first with a visible focus ring, the form
//! joins on Enter, the schedules are a radio group and the seat map one tab stop moved
//! in by the arrow keys, and the hold is the next stop after it.

use fantoccini::key::Key;
use serde_json::json;

use crate::chrome::{Browser, Chromedriver, Window};
use crate::stage::{server, CONCERT};

/// The focused element's outline, as `style width` ("solid 3px").
async fn focus_ring(browser: &Browser) -> String {
    browser
        .run(
            "const style = getComputedStyle(document.activeElement);
             return style.outlineStyle + ' ' + style.outlineWidth;",
            vec![],
        )
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// Presses Tab until what has the focus starts with `name` (see `Browser::focused`).
async fn tab_to(browser: &Browser, name: &str, at_most: usize) {
    for _ in 0..at_most {
        browser.press(Key::Tab).await;
        if browser.focused().await.starts_with(name) {
            return;
        }
    }
    let at = browser.focused().await;
    panic!("{name} is not within {at_most} tabs (the focus is on {at})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_joins_and_holds_a_seat() {
    let (server, _db) = server("browser_keyboard", |_| {}).await;
    let driver = Chromedriver::start().await;
    let browser = driver.open("keyboard", Window::Desktop).await;
    browser
        .goto(&server.url(&format!("/waiting-room/{CONCERT}")))
        .await;
    browser.wait_for("#join-heading", "Take your place").await;

    // The first stop is the skip link: on screen once focused, with the focus ring.
    browser.press(Key::Tab).await;
    let skip = browser
        .run(
            "const el = document.activeElement;
             return [el.className, el.getBoundingClientRect().top >= 0];",
            vec![],
        )
        .await;
    assert_eq!(skip, json!(["skip", true]));
    assert_eq!(focus_ring(&browser).await, "solid 3px");

    tab_to(&browser, "user-id", 4).await;
    assert_eq!(focus_ring(&browser).await, "solid 3px");
    browser.type_into("#user-id", "777\u{E007}").await;
    browser.wait_for_path(&format!("/book/{CONCERT}")).await;
    browser.wait_for("#schedules", "20 seats left").await;
    browser
        .wait_for_attribute("#seats [data-seat=\"1\"]", "data-status", "AVAILABLE")
        .await;

    // Schedules: one tab stop, the arrows choose.
    let first = browser
        .attribute("#schedules [aria-checked=\"true\"]", "data-schedule")
        .await
        .unwrap();
    tab_to(&browser, "schedule-", 6).await;
    browser.press(Key::Right).await;
    let second = browser
        .attribute("#schedules [aria-checked=\"true\"]", "data-schedule")
        .await
        .unwrap();
    assert_ne!(first, second, "the arrow chose the next performance");
    browser.press(Key::Left).await;
    browser
        .wait_for_attribute("#seats [data-seat=\"1\"]", "data-status", "AVAILABLE")
        .await;

    // The seat map is the next stop; the arrows move, Enter picks, Tab reaches the hold.
    tab_to(&browser, "seat-1", 2).await;
    browser.press(Key::Right).await;
    browser.press(Key::Right).await;
    assert_eq!(browser.focused().await, "seat-3");
    browser.press(Key::Enter).await;
    browser.wait_for("#selected", "Seat 3").await;
    browser.press(Key::Tab).await;
    assert_eq!(browser.focused().await, "hold");
    browser.press(Key::Enter).await;
    browser
        .wait_for("#held-heading", "Seat 3 is held for you")
        .await;
    assert_eq!(browser.focused().await, "held-heading");
    browser.close().await;
}
