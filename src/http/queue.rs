//! Queue endpoints: `POST /api/queue/token` and `GET /api/queue/status` (WAITING, ACTIVE,
//! EXPIRED, and with an on-sale PRE_QUEUE and SOLD_OUT).

use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::request::{bearer_claims, caller, client_key, json_body, positive_id};
use super::response::{json, Body};
use crate::app::App;
use crate::http::error::ApiError;
use crate::queue::QueueState;
use crate::time::rfc3339_millis;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    /// Required in `AUTH_MODE=none`; optional in `jwt`, where it must be the JWT's `sub`.
    user_id: Option<u64>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    opens_at: Option<String>,
    /// The advice for the next status poll, on every WAITING and PRE_QUEUE answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    poll_after_ms: Option<u64>,
}

impl StateView {
    fn bare(status: &'static str) -> Self {
        StateView {
            status,
            position: None,
            estimated_wait_seconds: None,
            expires_at: None,
            opens_at: None,
            poll_after_ms: None,
        }
    }

    fn advised(mut self, poll_after_ms: Option<u64>) -> Self {
        self.poll_after_ms = poll_after_ms;
        self
    }
}

impl From<&QueueState> for StateView {
    fn from(state: &QueueState) -> Self {
        match state {
            QueueState::Waiting {
                position,
                estimated_wait_secs,
                ..
            } => StateView {
                position: Some(*position),
                estimated_wait_seconds: *estimated_wait_secs,
                ..StateView::bare("WAITING")
            },
            QueueState::Active { expires_at_ms } => StateView {
                expires_at: Some(rfc3339_millis(*expires_at_ms)),
                ..StateView::bare("ACTIVE")
            },
            QueueState::Expired => StateView::bare("EXPIRED"),
            QueueState::PreQueue { opens_at_ms } => StateView {
                opens_at: Some(rfc3339_millis(*opens_at_ms)),
                ..StateView::bare("PRE_QUEUE")
            },
            QueueState::SoldOut => StateView::bare("SOLD_OUT"),
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

/// `POST /api/queue/token`: 201 on first entry, 200 with the same token on re-entry. The
/// caller's own budget is checked first (a client over it never draws on the server-wide
/// limiter), then the body, then the server-wide limiter.
pub async fn issue_token(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let verified = caller(app, &req)?;
    app.check_client_budget(&client_key(app, &req, verified))?;
    let body: TokenRequest = json_body(req).await?;
    let claimed = body
        .user_id
        .map(|id| positive_id("userId", id))
        .transpose()?;
    let user_id = match (verified, claimed) {
        (Some(verified), Some(claimed)) if claimed != verified => {
            return Err(ApiError::Forbidden);
        }
        (Some(verified), _) => verified,
        (None, Some(claimed)) => claimed,
        (None, None) => return Err(ApiError::BadRequest("userId is required".into())),
    };
    let concert_id = positive_id("concertId", body.concert_id)?;
    app.check_token_rate_limit()?;
    let issued = app.queue.issue_token(user_id, concert_id).await?;
    let poll_after_ms = app.advise_poll(&issued.claims, &issued.state, Instant::now());
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
            state: StateView::from(&issued.state).advised(poll_after_ms),
        },
    ))
}

/// `GET /api/queue/status`: WAITING with position and advice, ACTIVE with expiry, or
/// EXPIRED. A WAITING token polling much sooner than advised gets 429 without Redis.
pub async fn status(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let claims = bearer_claims(&req, app.queue.signer())?;
    let admitted_at = app.admit_poll(&claims)?;
    let state = app.queue.status(&claims).await?;
    let poll_after_ms = app.advise_poll(&claims, &state, admitted_at);
    Ok(json(
        StatusCode::OK,
        &StatusResponse {
            state: StateView::from(&state).advised(poll_after_ms),
            concert_id: claims.concert_id,
        },
    ))
}
