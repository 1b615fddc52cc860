//! Seat maps, holds and reservations: lua/seat_map.lua, lua/hold_seat.lua,
//! lua/cancel_reservation.lua, and a one-round-trip read of a reservation.

use std::collections::HashMap;

use super::{ms, reservation_id, unexpected, Booking, ENDED_RESERVATION_RETENTION};
use crate::error::ApiError;
use crate::token::Claims;

/// A seat's live state, serialized as the contract spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Held => "HELD",
            SeatStatus::Sold => "SOLD",
        }
    }
}

/// One seat of a seat map, serialized as the contract's seat object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    pub seat_no: u64,
    pub price: u64,
    pub status: SeatStatus,
}

/// A new hold.
#[derive(Clone, Debug)]
pub struct Hold {
    pub reservation_id: String,
    pub schedule_id: u64,
    pub seat_no: u64,
    pub price: u64,
    pub expires_at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "HELD",
            ReservationStatus::Confirmed => "CONFIRMED",
            ReservationStatus::Expired => "EXPIRED",
            ReservationStatus::Cancelled => "CANCELLED",
        }
    }
}

/// A reservation as its owner sees it; a lapsed hold reads EXPIRED.
#[derive(Clone, Debug)]
pub struct Reservation {
    pub id: String,
    pub concert_id: u64,
    pub user_id: u64,
    pub schedule_id: u64,
    pub seat_no: u64,
    pub price: u64,
    pub status: ReservationStatus,
    pub held_at_ms: u64,
    pub expires_at_ms: u64,
    pub payment_id: Option<String>,
    pub confirmed_at_ms: Option<u64>,
}

impl Booking {
    /// Every seat of a schedule with its live status, for an ACTIVE token of its concert.
    #[tracing::instrument(name = "view_seat_map", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn seat_map(&self, claims: &Claims, schedule_id: u64) -> Result<Vec<Seat>, ApiError> {
        let (_, invocation) = self
            .seat_script(&self.store.scripts.seat_map, claims, schedule_id)
            .await?;
        let reply: Vec<u64> = self.store.invoke(&invocation).await?;
        if reply.len() % 3 != 0 {
            return Err(unexpected("seat_map", &reply));
        }
        let mut seats: Vec<Seat> = reply
            .chunks_exact(3)
            .map(|c| Seat {
                seat_no: c[0],
                price: c[1],
                status: match c[2] {
                    0 => SeatStatus::Available,
                    1 => SeatStatus::Held,
                    _ => SeatStatus::Sold,
                },
            })
            .collect();
        seats.sort_by_key(|seat| seat.seat_no);
        Ok(seats)
    }

    /// Starts a call of a seat script: the schedule's concert must be the token's; the
    /// keys begin with the queue's `q:active`, `q:active_seq` and the schedule's `seats`,
    /// `held`, `holds`, `sold`, and the arguments with the token's user and sequence.
    async fn seat_script<'a>(
        &self,
        script: &'a redis::Script,
        claims: &Claims,
        schedule_id: u64,
    ) -> Result<(u64, redis::ScriptInvocation<'a>), ApiError> {
        let concert_id = self.concert_of_schedule(schedule_id).await?;
        if concert_id != claims.concert_id {
            return Err(ApiError::TokenNotActive);
        }
        let queue = self.store.keys.queue(concert_id);
        let schedule = self.store.keys.schedule(concert_id, schedule_id);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(queue.active)
            .key(queue.active_seq)
            .key(schedule.seats)
            .key(schedule.held)
            .key(schedule.holds)
            .key(schedule.sold)
            .arg(claims.user_id)
            .arg(claims.seq);
        Ok((concert_id, invocation))
    }

    /// `(totalSeats, availableSeats)` of each schedule of one concert, live.
    pub async fn available_seats(
        &self,
        concert_id: u64,
        schedule_ids: &[u64],
    ) -> Result<Vec<(u64, u64)>, ApiError> {
        if schedule_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.store.scripts.available_seats.prepare_invoke();
        for &schedule_id in schedule_ids {
            let keys = self.store.keys.schedule(concert_id, schedule_id);
            invocation.key(keys.seats).key(keys.holds).key(keys.sold);
        }
        let reply: Vec<u64> = self.store.invoke(&invocation).await?;
        if reply.len() != schedule_ids.len() * 2 {
            return Err(unexpected("available_seats", &reply));
        }
        Ok(reply.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    }

    /// Holds one seat for the token's user.
    #[tracing::instrument(name = "hold_seat", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn hold_seat(
        &self,
        claims: &Claims,
        schedule_id: u64,
        seat_no: u64,
    ) -> Result<Hold, ApiError> {
        let (concert_id, mut invocation) = self
            .seat_script(&self.store.scripts.hold_seat, claims, schedule_id)
            .await?;
        let keys = &self.store.keys;
        invocation
            .key(keys.user_holds(concert_id, claims.user_id))
            .key(keys.reservation_seq(concert_id))
            .arg(keys.concert_tag(concert_id))
            .arg(concert_id)
            .arg(schedule_id)
            .arg(seat_no)
            .arg(ms(self.settings.hold_ttl))
            .arg(self.settings.holds_per_user)
            .arg(ms(ENDED_RESERVATION_RETENTION));
        let (reservation_id, price, expires_at_ms): (String, u64, u64) =
            self.store.invoke(&invocation).await?;
        Ok(Hold {
            reservation_id,
            schedule_id,
            seat_no,
            price,
            expires_at_ms,
        })
    }

    /// The reservation, for its owner only (any genuine token of theirs).
    #[tracing::instrument(name = "view_reservation", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn reservation(
        &self,
        claims: &Claims,
        reservation_id: &str,
    ) -> Result<Reservation, ApiError> {
        let concert_id =
            reservation_id::concert_of(reservation_id).ok_or(ApiError::ReservationNotFound)?;
        let key = self.store.keys.reservation(concert_id, reservation_id);
        let ((secs, micros), fields): ((u64, u64), HashMap<String, String>) = self
            .store
            .pipeline(redis::pipe().atomic().cmd("TIME").hgetall(&key))
            .await?;
        if fields.is_empty() {
            return Err(ApiError::ReservationNotFound);
        }
        let now_ms = secs * 1000 + micros / 1000;
        let reservation = parse_reservation(reservation_id, concert_id, &fields, now_ms)
            .ok_or_else(|| unexpected("reservation hash", &fields))?;
        if reservation.user_id != claims.user_id {
            return Err(ApiError::Forbidden);
        }
        Ok(reservation)
    }

    /// Cancels a reservation of the token's user; a live hold frees its seat at once.
    #[tracing::instrument(name = "cancel_reservation", skip(self, claims), fields(user_id = claims.user_id))]
    pub async fn cancel(&self, claims: &Claims, reservation_id: &str) -> Result<(), ApiError> {
        let concert_id =
            reservation_id::concert_of(reservation_id).ok_or(ApiError::ReservationNotFound)?;
        let keys = &self.store.keys;
        let _released: i64 = self
            .store
            .invoke(
                self.store
                    .scripts
                    .cancel_reservation
                    .key(keys.reservation(concert_id, reservation_id))
                    .arg(claims.user_id)
                    .arg(keys.concert_tag(concert_id))
                    .arg(reservation_id)
                    .arg(ms(ENDED_RESERVATION_RETENTION)),
            )
            .await?;
        Ok(())
    }
}

fn parse_reservation(
    id: &str,
    concert_id: u64,
    fields: &HashMap<String, String>,
    now_ms: u64,
) -> Option<Reservation> {
    let number = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok());
    let expires_at_ms = number("expiresMs")?;
    let status = match fields.get("status")?.as_str() {
        "HELD" if expires_at_ms > now_ms => ReservationStatus::Held,
        "HELD" | "EXPIRED" => ReservationStatus::Expired,
        "CONFIRMED" => ReservationStatus::Confirmed,
        "CANCELLED" => ReservationStatus::Cancelled,
        _ => return None,
    };
    Some(Reservation {
        id: id.to_string(),
        concert_id,
        user_id: number("user")?,
        schedule_id: number("schedule")?,
        seat_no: number("seat")?,
        price: number("price")?,
        status,
        held_at_ms: number("heldAtMs")?,
        expires_at_ms,
        payment_id: fields.get("paymentId").cloned(),
        confirmed_at_ms: number("confirmedAtMs"),
    })
}
