//! A browser that asks for Korean (`Accept-Language: ko`) gets the pages in Korean, the
//! strings its scripts write included.

use crate::chrome::{Chromedriver, Window};
use crate::stage::{server, CONCERT};
use crate::waiting_room::{announced, wait_for_position};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_korean_browser_gets_korean_pages() {
    // One turn at a time, taken: the browser waits in line.
    let (server, _db) = server("browser_korean", |c| c.queue_max_active = 1).await;
    server.join_token(900, CONCERT).await;
    let driver = Chromedriver::start().await;
    let browser = driver
        .open_with("korean", Window::Phone, &["--accept-lang=ko", "--lang=ko"])
        .await;

    browser.goto(&server.url("/")).await;
    browser.wait_for("h1", "공연").await;
    browser.wait_for("#concerts", "대기실 입장").await;
    let lang = browser
        .run("return document.documentElement.lang;", vec![])
        .await;
    assert_eq!(lang, "ko");
    browser.screenshot("ko-concerts-phone").await;

    browser
        .click(&format!("#concerts a[href=\"/waiting-room/{CONCERT}\"]"))
        .await;
    browser.wait_for("#join-heading", "줄 서기").await;
    browser
        .wait_for("label[for=\"user-id\"]", "사용자 번호")
        .await;
    browser.type_into("#user-id", "0").await;
    browser.click("#join").await;
    browser
        .wait_for("#user-id-error", "1 이상의 정수를 입력하세요")
        .await;
    // Enter in the field joins, as the button does.
    browser.type_into("#user-id", "901\u{E007}").await;

    browser.wait_for("#waiting-heading", "대기 중입니다").await;
    wait_for_position(&browser, 1).await;
    browser.wait_for("#view-waiting", "내 대기 순번").await;
    assert_eq!(announced(&browser).await, "대기 순번 1번입니다.");
    browser.screenshot("ko-waiting-room-phone").await;
    browser.close().await;
}
