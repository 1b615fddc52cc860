//! Seat and hold endpoints (token required): the live seat map, holding a seat, reading and
//! cancelling a reservation.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::request::{bearer_claims, json_body, positive_id};
use super::response::{json, no_content, Body};
use crate::app::App;
use crate::booking::{Reservation, ReservationStatus};
use crate::http::error::ApiError;
use crate::time::rfc3339_millis;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HoldRequest {
    schedule_id: u64,
    seat_no: u64,
}

/// `GET /api/schedules/{id}/seats`
pub async fn seat_map(
    app: &App,
    req: Request<Incoming>,
    schedule_id: u64,
) -> Result<Response<Body>, ApiError> {
    let claims = bearer_claims(&req, app.queue.signer())?;
    let seats = app.booking.seat_map(&claims, schedule_id).await?;
    let available = seats
        .iter()
        .filter(|s| s.status == crate::booking::SeatStatus::Available)
        .count();
    Ok(json(
        StatusCode::OK,
        &SeatMapView {
            schedule_id,
            available_seats: available,
            seats: &seats,
        },
    ))
}

/// The body of `GET /api/schedules/{id}/seats`, encoded straight from the seats.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapView<'a> {
    pub schedule_id: u64,
    pub available_seats: usize,
    pub seats: &'a [crate::booking::Seat],
}

/// `POST /api/reservations`: 201 with the new hold; 200 with the same hold when the seat is
/// already this buyer's (a retry after a lost answer).
pub async fn hold_seat(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let claims = bearer_claims(&req, app.queue.signer())?;
    let body: HoldRequest = json_body(req).await?;
    let schedule_id = positive_id("scheduleId", body.schedule_id)?;
    let seat_no = positive_id("seatNo", body.seat_no)?;
    let hold = app.booking.hold_seat(&claims, schedule_id, seat_no).await?;
    let status = if hold.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        &json!({
            "reservationId": hold.reservation_id,
            "concertId": claims.concert_id,
            "scheduleId": hold.schedule_id,
            "seatNo": hold.seat_no,
            "price": hold.price,
            "status": "HELD",
            "expiresAt": rfc3339_millis(hold.expires_at_ms),
        }),
    ))
}

/// `GET /api/reservations/{id}`
pub async fn reservation(
    app: &App,
    req: Request<Incoming>,
    reservation_id: &str,
) -> Result<Response<Body>, ApiError> {
    let claims = bearer_claims(&req, app.queue.signer())?;
    let reservation = app.booking.reservation(&claims, reservation_id).await?;
    Ok(json(StatusCode::OK, &reservation_view(&reservation)))
}

/// `DELETE /api/reservations/{id}`: 204; 409 ALREADY_CONFIRMED once paid.
pub async fn cancel(
    app: &App,
    req: Request<Incoming>,
    reservation_id: &str,
) -> Result<Response<Body>, ApiError> {
    let claims = bearer_claims(&req, app.queue.signer())?;
    app.booking.cancel(&claims, reservation_id).await?;
    Ok(no_content())
}

fn reservation_view(r: &Reservation) -> Value {
    let mut view = json!({
        "reservationId": r.id,
        "concertId": r.concert_id,
        "userId": r.user_id,
        "scheduleId": r.schedule_id,
        "seatNo": r.seat_no,
        "price": r.price,
        "status": r.status.as_str(),
        "heldAt": rfc3339_millis(r.held_at_ms),
        "expiresAt": rfc3339_millis(r.expires_at_ms),
    });
    if r.status == ReservationStatus::Confirmed {
        view["paymentId"] = json!(r.payment_id);
        view["confirmedAt"] = json!(r.confirmed_at_ms.map(rfc3339_millis));
    }
    view
}
