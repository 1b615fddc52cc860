//! Building responses: JSON bodies and the contract's error envelope.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::http::error::ApiError;

pub type Body = Full<Bytes>;

/// The `Retry-After` of a 503 `UNAVAILABLE` (Redis or MySQL away or refusing work), in
/// seconds: soon enough for a blip, slow enough not to hammer a sick Redis.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// A JSON response with the given status.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_body(status, "application/json", bytes),
        Err(err) => error(&ApiError::Internal(
            anyhow::Error::new(err).context("encoding a response"),
        )),
    }
}

/// A body with an explicit content type.
pub fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The contract's error envelope: `{"error": {"code": ..., "message": ...}}`.
pub fn error(err: &ApiError) -> Response<Body> {
    match err {
        ApiError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        ApiError::QueueFull => {
            tracing::warn!("a concert's line refused an entry: non-empty for 25 days on end");
        }
        _ => {}
    }
    let body = json!({"error": {"code": err.code(), "message": err.message()}});
    let mut response = with_body(
        err.status(),
        "application/json",
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    if let ApiError::RateLimited { retry_after } = err {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if let ApiError::Unavailable = err {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS));
    }
    if let ApiError::MethodNotAllowed { allow } = err {
        if let Ok(value) = HeaderValue::from_str(allow) {
            response.headers_mut().insert(ALLOW, value);
        }
    }
    if let ApiError::RequestTimeout = err {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if let ApiError::Unauthenticated = err {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// An empty 204.
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
