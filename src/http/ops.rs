//! Operations endpoints: `GET /health` and `GET /metrics`.

use hyper::{Response, StatusCode};
use serde_json::json;

use super::response::{json, with_body, Body};
use crate::app::App;

/// 200 with each dependency's state and the outbox lag, or 503 when Redis does not answer.
pub async fn health(app: &App) -> Response<Body> {
    let redis_up = app.store.ping().await.is_ok();
    let outbox = match redis_up {
        true => crate::flush::lag(&app.store).await.ok(),
        false => None,
    }
    .map(|lag| json!({"lagEntries": lag.entries, "pendingEntries": lag.pending, "lagSeconds": lag.seconds()}));
    let (status, word) = if redis_up {
        (StatusCode::OK, "UP")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "DOWN")
    };
    json(
        status,
        &json!({
            "status": word,
            "redis": {"status": word},
            "outbox": outbox,
        }),
    )
}

/// Prometheus text format.
pub fn metrics(app: &App) -> Response<Body> {
    with_body(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        app.metrics.render(),
    )
}
