//! Maps a method and path to a route: 404 for unknown paths, 405 for known paths with
//! the wrong method.

use hyper::Method;

use crate::error::ApiError;

/// Every endpoint the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    IssueToken,
    QueueStatus,
    Health,
    Metrics,
}

impl Route {
    /// A fixed label for metrics (never the raw path, whose ids would explode cardinality).
    pub fn label(self) -> &'static str {
        match self {
            Route::IssueToken => "POST /api/queue/token",
            Route::QueueStatus => "GET /api/queue/status",
            Route::Health => "GET /health",
            Route::Metrics => "GET /metrics",
        }
    }
}

/// Resolves a request line to its route.
pub fn resolve(method: &Method, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (allowed, route) = match segments.as_slice() {
        ["api", "queue", "token"] => (Method::POST, Route::IssueToken),
        ["api", "queue", "status"] => (Method::GET, Route::QueueStatus),
        ["health"] => (Method::GET, Route::Health),
        ["metrics"] => (Method::GET, Route::Metrics),
        _ => return Err(ApiError::NotFound),
    };
    if *method == allowed || (allowed == Method::GET && *method == Method::HEAD) {
        Ok(route)
    } else {
        Err(ApiError::MethodNotAllowed)
    }
}

/// Parses a path id: a positive integer no larger than 2^53 - 1.
pub fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| (1..=crate::http::MAX_ID).contains(id))
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_resolve_and_wrong_methods_are_405() {
        assert_eq!(
            resolve(&Method::POST, "/api/queue/token").unwrap(),
            Route::IssueToken
        );
        assert_eq!(
            resolve(&Method::GET, "/api/queue/status/").unwrap(),
            Route::QueueStatus
        );
        assert!(matches!(
            resolve(&Method::GET, "/api/queue/token"),
            Err(ApiError::MethodNotAllowed)
        ));
        assert!(matches!(
            resolve(&Method::GET, "/nope"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            resolve(&Method::GET, "/"),
            Err(ApiError::NotFound)
        ));
    }
}
