//! Wallet endpoints (no queue token): the balance and charging it; in `AUTH_MODE=jwt` only
//! for the user the JWT names.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::request::{acting_as, json_body};
use super::response::{json, Body};
use crate::app::App;
use crate::http::error::ApiError;

#[derive(Deserialize)]
struct ChargeRequest {
    /// Any JSON number: a negative, fractional or huge one is an INVALID_AMOUNT.
    amount: serde_json::Number,
}

/// `GET /api/users/{id}/balance`
pub async fn balance(
    app: &App,
    req: Request<Incoming>,
    user_id: u64,
) -> Result<Response<Body>, ApiError> {
    let user_id = acting_as(app, &req, user_id)?;
    let balance = app.booking.balance(user_id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"userId": user_id, "balance": balance}),
    ))
}

/// `POST /api/users/{id}/balance/charge`, honouring `Idempotency-Key`.
pub async fn charge(
    app: &App,
    req: Request<Incoming>,
    user_id: u64,
) -> Result<Response<Body>, ApiError> {
    let user_id = acting_as(app, &req, user_id)?;
    let idempotency_key = match req.headers().get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be ASCII".into()))?
                .to_string(),
        ),
        None => None,
    };
    let body: ChargeRequest = json_body(req).await?;
    let amount = body.amount.as_u64().ok_or(ApiError::InvalidAmount {
        max: app.booking.settings().charge_max,
    })?;
    let charge = app
        .booking
        .charge(user_id, amount, idempotency_key.as_deref())
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({"userId": user_id, "balance": charge.balance}),
    ))
}
