//! `POST /api/payments` (token required): pay a held reservation from the wallet.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::request::{bearer_claims, json_body};
use super::response::{json, Body};
use crate::app::App;
use crate::http::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayRequest {
    reservation_id: String,
}

/// 201 for a new payment, 200 with the same body when the reservation was already paid.
pub async fn pay(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let claims = bearer_claims(&req, app.queue.signer())?;
    let body: PayRequest = json_body(req).await?;
    let payment = app.booking.pay(&claims, &body.reservation_id).await?;
    let status = if payment.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        &json!({
            "paymentId": payment.payment_id,
            "reservationId": payment.reservation_id,
            "amount": payment.amount,
            "balance": payment.balance,
            "status": "CONFIRMED",
        }),
    ))
}
