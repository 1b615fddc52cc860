//! The pre-queue's public proof (no token): `GET /api/concerts/{id}/queue/fairness` (the
//! commitment; after the opening also the seed and the size) and
//! `GET /api/concerts/{id}/queue/fairness/order?offset=&limit=` (the HMACs in queue order).

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::response::{json, Body};
use crate::app::App;
use crate::http::error::ApiError;
use crate::queue::fairness::MAX_ORDER_PAGE;

const DEFAULT_ORDER_PAGE: u64 = 100;

/// `GET /api/concerts/{id}/queue/fairness`
pub async fn fairness(app: &App, concert_id: u64) -> Result<Response<Body>, ApiError> {
    let fairness = app.queue.fairness(concert_id).await?;
    Ok(json(StatusCode::OK, &fairness))
}

/// `GET /api/concerts/{id}/queue/fairness/order?offset=0&limit=100`
pub async fn order(
    app: &App,
    req: Request<Incoming>,
    concert_id: u64,
) -> Result<Response<Body>, ApiError> {
    let (offset, limit) = order_query(req.uri().query().unwrap_or(""))?;
    let page = app.queue.fairness_order(concert_id, offset, limit).await?;
    Ok(json(StatusCode::OK, &page))
}

/// `offset` (0 or more, default 0) and `limit` (1 to MAX_ORDER_PAGE, default 100).
fn order_query(query: &str) -> Result<(u64, u64), ApiError> {
    let mut offset = 0;
    let mut limit = DEFAULT_ORDER_PAGE;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "offset" => {
                offset = value.parse().ok().filter(|&n| n < 1 << 53).ok_or_else(|| {
                    ApiError::BadRequest("offset must be a whole number, 0 or more".into())
                })?
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_ORDER_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be an integer from 1 to {MAX_ORDER_PAGE}"
                        ))
                    })?
            }
            _ => {}
        }
    }
    Ok((offset, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_queries_default_and_refuse_nonsense() {
        assert_eq!(order_query("").unwrap(), (0, 100));
        assert_eq!(order_query("offset=2000&limit=1000").unwrap(), (2000, 1000));
        assert!(order_query("offset=-1").is_err());
        assert!(order_query("limit=0").is_err());
        assert!(order_query("limit=1001").is_err());
        assert!(order_query("offset=x").is_err());
    }
}
