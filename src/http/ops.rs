//! Operations endpoints: `GET /health`, `/health/live`, `/health/ready` and `/metrics`.

use hyper::{Response, StatusCode};
use serde_json::json;

use super::response::{json, with_body, Body};
use crate::app::App;

/// Each dependency's state and the outbox lag: 503 when Redis (the hot path) does not
/// answer; 200 otherwise, `DEGRADED` when MySQL (the catalog behind its cache) does not.
pub async fn health(app: &App) -> Response<Body> {
    let (redis_up, mysql_up) = tokio::join!(app.store.ping(), app.catalog.ping());
    let redis_up = redis_up.is_ok();
    let outbox = match redis_up {
        true => crate::flush::lag(&app.store).await.ok(),
        false => None,
    }
    .map(|lag| json!({"lagEntries": lag.entries, "pendingEntries": lag.pending, "lagSeconds": lag.seconds()}));
    let (status, word) = match (redis_up, mysql_up) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "DOWN"),
        (true, false) => (StatusCode::OK, "DEGRADED"),
        (true, true) => (StatusCode::OK, "UP"),
    };
    let up_or_down = |up: bool| if up { "UP" } else { "DOWN" };
    json(
        status,
        &json!({
            "status": word,
            "redis": {"status": up_or_down(redis_up)},
            "mysql": {"status": up_or_down(mysql_up)},
            "outbox": outbox,
        }),
    )
}

/// `GET /health/live`: 200 while the process runs.
pub fn live() -> Response<Body> {
    json(StatusCode::OK, &json!({"status": "UP"}))
}

/// `GET /health/ready`: 200 when Redis answers and the server is not draining; 503 with
/// the reason otherwise (a load balancer stops sending).
pub async fn ready(app: &App) -> Response<Body> {
    let reason = if app.is_draining() {
        Some("DRAINING")
    } else if app.store.ping().await.is_err() {
        Some("REDIS_DOWN")
    } else {
        None
    };
    match reason {
        None => json(StatusCode::OK, &json!({"status": "UP"})),
        Some(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "DOWN", "reason": reason}),
        ),
    }
}

/// Prometheus text format.
pub fn metrics(app: &App) -> Response<Body> {
    with_body(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        app.metrics.render(),
    )
}
