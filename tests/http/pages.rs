//! The pages over plain HTTP: their language by Accept-Language, their cache headers (no-cache
//! pages, immutable hashed assets, 304 for a known ETag), and nothing loaded from elsewhere.
//! What they do in a browser is tested in tests/browser.

use reqwest::header::{
    CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    VARY,
};
use reqwest::StatusCode;

use crate::helpers::TestServer;

const PAGES: [&str; 3] = ["/", "/waiting-room/1", "/book/1"];

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.http.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The `/assets/...` paths a page's HTML refers to.
fn asset_paths(html: &str) -> Vec<String> {
    html.match_indices("\"/assets/")
        .map(|(i, _)| html[i + 1..].split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_come_in_the_language_the_browser_asks_for() {
    let server = TestServer::start("pages_lang", |_| {}).await;
    for path in PAGES {
        for (asked, tag, words) in [
            (None, "en", "Concerts"),
            (Some("ko-KR,ko;q=0.9,en;q=0.8"), "ko", "공연 목록"),
            (Some("fr, en;q=0.5"), "en", "Concerts"),
        ] {
            let headers: Vec<(&str, &str)> =
                asked.map(|a| ("accept-language", a)).into_iter().collect();
            let answer = get(&server, path, &headers).await;
            assert_eq!(answer.status(), StatusCode::OK, "{path}");
            assert_eq!(answer.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(answer.headers()[CONTENT_LANGUAGE], tag, "{path} {asked:?}");
            assert_eq!(answer.headers()[VARY], "Accept-Language");
            assert_eq!(answer.headers()[CACHE_CONTROL], "no-cache");
            let html = answer.text().await.unwrap();
            assert!(html.contains(&format!("<html lang=\"{tag}\">")), "{path}");
            assert!(html.contains(words), "{path} {asked:?}");
        }
    }
}

#[tokio::test]
async fn an_unchanged_page_or_asset_is_answered_304() {
    let server = TestServer::start("pages_304", |_| {}).await;
    let page = get(&server, "/waiting-room/1", &[]).await;
    let etag = page.headers()[ETAG].to_str().unwrap().to_string();
    let html = page.text().await.unwrap();
    let again = get(&server, "/waiting-room/1", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    // The Korean page is another entity.
    let korean = get(
        &server,
        "/waiting-room/1",
        &[("if-none-match", &etag), ("accept-language", "ko")],
    )
    .await;
    assert_eq!(korean.status(), StatusCode::OK);

    let assets = asset_paths(&html);
    assert_eq!(assets.len(), 3, "{assets:?}");
    for path in assets {
        let asset = get(&server, &path, &[]).await;
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        assert_eq!(
            asset.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let kind = asset.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        let expected = if path.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(kind.starts_with(expected), "{path}: {kind}");
        let etag = asset.headers()[ETAG].to_str().unwrap().to_string();
        let again = get(&server, &path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    // A name that is not a current hashed name is not found.
    let old = get(&server, "/assets/app.000000000000.css", &[]).await;
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_load_nothing_from_elsewhere() {
    let server = TestServer::start("pages_local", |_| {}).await;
    for path in PAGES {
        let page = get(&server, path, &[("accept-language", "ko")]).await;
        let policy = page.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
        ] {
            assert!(policy.contains(directive), "{policy}");
        }
        let html = page.text().await.unwrap();
        let mut bodies = vec![html.clone()];
        for asset in asset_paths(&html) {
            bodies.push(get(&server, &asset, &[]).await.text().await.unwrap());
        }
        for body in bodies {
            assert!(!body.contains("://"), "{path}: an absolute URL in {body}");
            assert!(!body.contains("src=\"//"), "{path}: a scheme-relative URL");
            assert!(!body.contains("@import"), "{path}: an imported style sheet");
        }
    }
}

#[tokio::test]
async fn page_paths_refuse_what_is_not_a_page() {
    let server = TestServer::start("pages_refuse", |_| {}).await;
    for path in [
        "/waiting-room/abc",
        "/book/0",
        "/waiting-room/1/x",
        "/assets/",
    ] {
        let answer = get(&server, path, &[]).await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.headers()[CONTENT_TYPE], "application/json");
    }
    let post = server.http.post(server.url("/")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let head = server
        .http
        .head(server.url("/book/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
}

#[tokio::test]
async fn if_none_match_star_matches_and_another_tag_does_not() {
    let server = TestServer::start("pages_star", |_| {}).await;
    let star = get(&server, "/", &[("if-none-match", "*")]).await;
    assert_eq!(star.status(), StatusCode::NOT_MODIFIED);
    let other = get(
        &server,
        "/",
        &[(IF_NONE_MATCH.as_str(), "\"something-else\"")],
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK);
}
