//! The pages for browsers: `GET /` (the concerts), `GET /waiting-room/{concertId}` and
//! `GET /book/{concertId}` in the language `Accept-Language` asks for, and their assets
//! at `GET /assets/{name}`. Pages are `no-cache` (always checked, answered 304 when
//! unchanged); assets carry their content's hash in their names and are cached for good.
//! A Content-Security-Policy lets a page load nothing but its own scripts and styles.

use hyper::header::{
    HeaderValue, ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_SECURITY_POLICY, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Request, Response, StatusCode};

use super::language::negotiate;
use super::response::{with_body, Body};
use super::site::{Page, Rendered, Site};
use crate::http::error::ApiError;

/// Nothing from elsewhere: the page's own scripts, style sheet and API only.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";
const PAGE_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// A page, in the language the request asks for.
pub fn page<B>(req: &Request<B>, page: Page) -> Response<Body> {
    let language = negotiate(
        req.headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let mut response = answer(req, Site::get().page(page, language), PAGE_CACHE);
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Accept-Language"));
    headers.insert(CONTENT_LANGUAGE, HeaderValue::from_static(language.tag()));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// An asset by its hashed name; 404 for any other name (an old hash included).
pub fn asset<B>(req: &Request<B>, name: &str) -> Result<Response<Body>, ApiError> {
    let asset = Site::get().asset(name).ok_or(ApiError::NotFound)?;
    Ok(answer(req, asset, ASSET_CACHE))
}

/// 200 with the body, or 304 when `If-None-Match` names its entity tag.
fn answer<B>(req: &Request<B>, rendered: &Rendered, cache: &'static str) -> Response<Body> {
    let mut response = if matches_etag(req, &rendered.etag) {
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        with_body(StatusCode::OK, rendered.content_type, rendered.body.clone())
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&rendered.etag) {
        headers.insert(ETAG, etag);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Whether `If-None-Match` lists `etag` (weakly compared) or is `*`.
fn matches_etag<B>(req: &Request<B>, etag: &str) -> bool {
    req.headers()
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::language::Language;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn pages_are_checked_every_time_and_vary_by_language() {
        let response = page(&request(&[("accept-language", "ko-KR")]), Page::WaitingRoom);
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[CACHE_CONTROL], "no-cache");
        assert_eq!(headers[VARY], "Accept-Language");
        assert_eq!(headers[CONTENT_LANGUAGE], "ko");
        assert_eq!(
            headers[ETAG].to_str().unwrap(),
            Site::get().page(Page::WaitingRoom, Language::Korean).etag
        );
        assert!(headers[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
    }

    #[test]
    fn a_known_entity_tag_gets_304() {
        let etag = Site::get().page(Page::Book, Language::English).etag.clone();
        for sent in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
            let response = page(&request(&[("if-none-match", &sent)]), Page::Book);
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{sent}");
            assert_eq!(response.headers()[ETAG].to_str().unwrap(), etag);
        }
        // The Korean page is another entity: the English tag does not match it.
        let response = page(
            &request(&[("if-none-match", &etag), ("accept-language", "ko")]),
            Page::Book,
        );
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn assets_are_found_by_hashed_name_only() {
        assert!(matches!(
            asset(&request(&[]), "app.css"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            asset(&request(&[]), "app.000000000000.css"),
            Err(ApiError::NotFound)
        ));
    }
}
