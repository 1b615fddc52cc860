//! Queue endpoints: `POST /api/queue/token` and `GET /api/queue/status`.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::request::{bearer_claims, json_body, positive_id};
use super::response::{json, Body};
use crate::app::App;
use crate::http::error::ApiError;
use crate::queue::QueueState;
use crate::time::rfc3339_millis;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    user_id: u64,
    concert_id: u64,
}

/// The queue-state fields shared by both answers.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateView {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_wait_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

impl From<&QueueState> for StateView {
    fn from(state: &QueueState) -> Self {
        match state {
            QueueState::Waiting {
                position,
                estimated_wait_secs,
            } => StateView {
                status: "WAITING",
                position: Some(*position),
                estimated_wait_seconds: *estimated_wait_secs,
                expires_at: None,
            },
            QueueState::Active { expires_at_ms } => StateView {
                status: "ACTIVE",
                position: None,
                estimated_wait_seconds: None,
                expires_at: Some(rfc3339_millis(*expires_at_ms)),
            },
            QueueState::Expired => StateView {
                status: "EXPIRED",
                position: None,
                estimated_wait_seconds: None,
                expires_at: None,
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    token: String,
    concert_id: u64,
    user_id: u64,
    #[serde(flatten)]
    state: StateView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusResponse {
    #[serde(flatten)]
    state: StateView,
    concert_id: u64,
}

/// `POST /api/queue/token`: 201 on first entry, 200 with the same token on re-entry.
pub async fn issue_token(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    app.check_token_rate_limit()?;
    let body: TokenRequest = json_body(req).await?;
    let user_id = positive_id("userId", body.user_id)?;
    let concert_id = positive_id("concertId", body.concert_id)?;
    let issued = app.queue.issue_token(user_id, concert_id).await?;
    let status = if issued.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        &TokenResponse {
            token: issued.token,
            concert_id,
            user_id,
            state: StateView::from(&issued.state),
        },
    ))
}

/// `GET /api/queue/status`: WAITING with position, ACTIVE with expiry, or EXPIRED.
pub async fn status(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let claims = bearer_claims(&req, app.queue.signer())?;
    let state = app.queue.status(&claims).await?;
    Ok(json(
        StatusCode::OK,
        &StatusResponse {
            state: StateView::from(&state),
            concert_id: claims.concert_id,
        },
    ))
}
